//! Backup and restore (DMS 7.2.4.3; T/CI 857-2024 7.2.5 c); GB/T 39725-2020 §11.4.2.6): a restore
//! drill into a fresh directory with the audit log verified, tampered backups refused with nothing
//! left behind, destruction defeating earlier backups, incremental chains, the schedule, and no
//! plaintext identifier in a backup or the key vault. SQLite nodes (PostgreSQL nodes back up with
//! PostgreSQL's own recovery, which the last test checks is said clearly).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::path::{Path, PathBuf};

use medspace_service::backup::{restore, BackupKind, RestoreOptions};
use medspace_service::datasets::IngestRequest;
use medspace_service::reexports::crypto::{decrypt_reader, KeyProvider, Keyring};
use medspace_service::reexports::store::KeyOwner;
use medspace_service::{Caller, Node, ServiceError};

mod common;
use common::*;

async fn ingest(node: &Node, officer: &Caller, name: &str, rows: u64) -> String {
    node.ingest(
        officer,
        IngestRequest {
            name: name.into(),
            source_name: format!("{name}.csv"),
            owner: None,
            update_frequency: "monthly".into(),
        },
        Box::new(std::io::Cursor::new(settlements(rows))),
        Box::new(|_| {}),
    )
    .await
    .unwrap()
    .id
}

fn restore_opts(tmp: &Path, node: &Node, sources: Vec<PathBuf>, target: &str) -> RestoreOptions {
    RestoreOptions {
        sources,
        target: tmp.join(target),
        master_key_file: Some(tmp.join("node.masterkey")),
        key_vault: node.key_vault_path(),
        expect_public_key: None,
    }
}

/// The security officer of a restored node, logged in with the password set before the backup.
async fn officer_of(node: &Node) -> Caller {
    node.authenticate(&login_token(node, "officer", "New-Passw0rd-2026").await)
        .await
        .unwrap()
}

/// Identifiers (ID numbers, mobiles, names) of the generated input, as one matcher.
fn identifiers(rows: u64) -> aho_corasick::AhoCorasick {
    let csv = settlements(rows);
    let mut reader = csv::Reader::from_reader(&csv[..]);
    let headers = reader.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let (name_i, id_i, mobile_i) = (col("person_name"), col("id_number"), col("mobile"));
    let mut secrets = Vec::new();
    for r in reader.records() {
        let r = r.unwrap();
        secrets.push(r[id_i].to_string());
        secrets.push(r[mobile_i].to_string());
        if r[name_i].chars().count() >= 3 {
            secrets.push(r[name_i].to_string());
        }
    }
    let matcher = aho_corasick::AhoCorasick::new(&secrets).unwrap();
    assert!(matcher.find(&csv[..]).is_some());
    matcher
}

/// The bytes of an object as archived in a backup file.
fn archived_object(backup: &Path, object_key: &str) -> Vec<u8> {
    use std::io::Read;
    let mut archive = tar::Archive::new(std::fs::File::open(backup).unwrap());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(&format!("objects/{object_key}")) {
            let mut out = Vec::new();
            e.read_to_end(&mut out).unwrap();
            return out;
        }
    }
    panic!("{object_key} is not in {}", backup.display());
}

#[tokio::test]
async fn restore_drill_into_a_fresh_directory_reads_everything_and_verifies_the_audit_log() {
    for profile in ["international", "national"] {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node_with_profile(tmp.path(), None, Some(profile)).await;
        let [officer, ..] = accounts(&node, &otp).await;
        let raw = ingest(&node, &officer, "claims", 2000).await;
        let (deid, _) = node
            .deidentify_dataset(&officer, &raw, POLICY, "p1", "claims_deid")
            .await
            .unwrap();
        let file = tmp.path().join("b1.msbk");
        let report = node.backup(&file, None, "test").await.unwrap();
        assert_eq!(report.kind, BackupKind::Full);
        assert_eq!(report.objects_written, 2, "{profile}");
        assert!(node.key_vault_path().exists());

        // Nothing personal in the backup file or the key vault.
        let matcher = identifiers(2000);
        for f in [&file, &node.key_vault_path()] {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                matcher.find(&bytes[..]).is_none(),
                "{profile}: plaintext personal data in {}",
                f.display()
            );
        }

        // The node keeps serving; then it is lost. Restore into a new directory.
        let opts = restore_opts(tmp.path(), &node, vec![file.clone()], "restored");
        let (restored, r) = restore(&opts).await.unwrap();
        assert_eq!(r.backup_id, report.backup_id);
        assert_eq!(r.objects, 2);
        assert!(r.destroyed_since_backup.is_empty());
        assert!(restored.verify_audit().await.unwrap().is_ok(), "{profile}");
        assert_eq!(restored.profile().to_string(), profile);
        assert_eq!(
            restored.store().setting("identity_public").await.unwrap(),
            node.store().setting("identity_public").await.unwrap()
        );

        // Accounts, catalog, data keys and project keys all came back: the officer logs in with
        // the same password and re-running the same de-identification gives identical content.
        let officer2 = officer_of(&restored).await;
        let (again, _) = restored
            .deidentify_dataset(&officer2, &raw, POLICY, "p1", "claims_deid_again")
            .await
            .unwrap();
        assert_eq!(again.content_sha256, deid.content_sha256, "{profile}");
        let entries = restored.store().audit_entries(1, 100_000).await.unwrap();
        assert!(entries
            .iter()
            .any(|e| e.entry.contains("\"backup.restore\"")));
        // The restored node's own files hold no plaintext identifier either.
        for f in files_under(&opts.target) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(matcher.find(&bytes[..]).is_none(), "{}", f.display());
        }
        restored.close().await;
        node.close().await;
    }
}

#[tokio::test]
async fn a_tampered_backup_is_refused_and_nothing_is_left_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path(), None).await;
    let [officer, ..] = accounts(&node, &otp).await;
    ingest(&node, &officer, "claims", 800).await;
    let file = tmp.path().join("b.msbk");
    node.backup(&file, None, "test").await.unwrap();
    let good = std::fs::read(&file).unwrap();

    let manifest_at = good
        .windows(b"\"backup_id\"".len())
        .position(|w| w == b"\"backup_id\"")
        .unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a byte of the encrypted metadata", {
            let mut b = good.clone();
            b[4096] ^= 1;
            b
        }),
        ("a byte of an object", {
            let at = good
                .windows(b"objects/datasets".len())
                .position(|w| w == b"objects/datasets")
                .unwrap();
            let mut b = good.clone();
            b[at + 512 + 100] ^= 1;
            b
        }),
        ("a byte of the manifest", {
            let mut b = good.clone();
            b[manifest_at + 14] ^= 1;
            b
        }),
        ("the last half cut off", good[..good.len() / 2].to_vec()),
        ("not an archive", b"hello".to_vec()),
    ];
    for (i, (what, bytes)) in cases.into_iter().enumerate() {
        let bad = tmp.path().join(format!("bad{i}.msbk"));
        std::fs::write(&bad, bytes).unwrap();
        let opts = restore_opts(tmp.path(), &node, vec![bad], &format!("r{i}"));
        let err = restore(&opts).await.expect_err(what);
        assert!(
            matches!(err, ServiceError::BadRequest(_)),
            "{what}: {err:?}"
        );
        assert!(!opts.target.exists(), "{what}: a half restore was left");
    }

    // The wrong master key, and a key vault from another node, are refused too.
    let other_key = tmp.path().join("other.masterkey");
    Keyring::create(&other_key, node.profile()).unwrap();
    let mut opts = restore_opts(tmp.path(), &node, vec![file.clone()], "wrong-key");
    opts.master_key_file = Some(other_key);
    let err = restore(&opts).await.expect_err("wrong master key");
    assert!(err.to_string().contains("cannot open backup"), "{err}");
    assert!(!opts.target.exists());

    let tmp2 = tempfile::tempdir().unwrap();
    let (other, _) = new_node(tmp2.path(), None).await;
    other
        .backup(&tmp2.path().join("x.msbk"), None, "test")
        .await
        .unwrap();
    let mut opts = restore_opts(tmp.path(), &node, vec![file.clone()], "wrong-vault");
    opts.key_vault = other.key_vault_path();
    let err = restore(&opts).await.expect_err("another node's vault");
    assert!(err.to_string().contains("another node"), "{err}");
    assert!(!opts.target.exists());

    // A modified key vault is refused.
    let vault = std::fs::read_to_string(node.key_vault_path()).unwrap();
    let forged_vault = tmp.path().join("forged.keyvault");
    std::fs::write(&forged_vault, vault.replacen("\"destroyed\": []", "\"destroyed\": [{\"dataset_id\": \"ds-x\", \"destroyed_at\": \"2026-01-01T00:00:00Z\"}]", 1)).unwrap();
    let mut opts = restore_opts(tmp.path(), &node, vec![file.clone()], "forged-vault");
    opts.key_vault = forged_vault;
    let err = restore(&opts).await.expect_err("forged vault");
    assert!(err.to_string().contains("signature"), "{err}");

    // An expected identity key that does not match.
    let mut opts = restore_opts(tmp.path(), &node, vec![file.clone()], "wrong-identity");
    opts.expect_public_key = Some("00".repeat(32));
    assert!(restore(&opts).await.is_err());

    // The intact file still restores.
    let opts = restore_opts(tmp.path(), &node, vec![file], "ok");
    let (restored, _) = restore(&opts).await.unwrap();
    assert!(restored.verify_audit().await.unwrap().is_ok());
    restored.close().await;
    other.close().await;
    node.close().await;
}

#[tokio::test]
async fn destruction_defeats_earlier_backups() {
    for profile in ["international", "national"] {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node_with_profile(tmp.path(), None, Some(profile)).await;
        let [officer, reviewer, ..] = accounts(&node, &otp).await;
        let doomed = ingest(&node, &officer, "doomed", 600).await;
        let kept = ingest(&node, &officer, "kept", 600).await;
        let doomed_meta = node.store().dataset(&doomed).await.unwrap().unwrap();
        let file = tmp.path().join("before.msbk");
        node.backup(&file, None, "test").await.unwrap();

        // The raw settlements hold C2 columns: two distinct committee members approve.
        let reviewer2 = second_reviewer(&node).await;
        for r in [&reviewer, &reviewer2] {
            node.approve_destruction(r, &doomed, "agreement A-7 ended")
                .await
                .unwrap();
        }
        node.destroy_dataset(&officer, &doomed, "agreement A-7 ended")
            .await
            .unwrap();

        // The vault no longer holds the key; restoring the earlier backup brings the dataset back
        // as destroyed, without its content, and the other dataset intact.
        let vault = std::fs::read_to_string(node.key_vault_path()).unwrap();
        assert!(!vault.contains(&format!("dataset:{doomed}")));
        let opts = restore_opts(tmp.path(), &node, vec![file.clone()], "restored");
        let (restored, r) = restore(&opts).await.unwrap();
        assert_eq!(r.destroyed_since_backup, vec![doomed.clone()], "{profile}");
        let m = restored.store().dataset(&doomed).await.unwrap().unwrap();
        assert!(m.is_destroyed() && m.wrapped_key.is_empty());
        let k = restored.store().dataset(&kept).await.unwrap().unwrap();
        assert!(!k.is_destroyed());
        assert!(restored.verify_audit().await.unwrap().is_ok());

        // The doomed dataset's bytes in the earlier backup: no key that exists anywhere — the
        // live node's store, the vault, the restored node — opens them.
        let old_bytes = archived_object(&file, &doomed_meta.object_key);
        let ring = Keyring::open(&tmp.path().join("node.masterkey"), node.profile()).unwrap();
        let mut candidates = Vec::new();
        for store in [node.store(), restored.store()] {
            candidates.extend(store.wrapped_keys().await.unwrap());
        }
        assert!(!candidates.is_empty());
        let mut tried = 0;
        let mut opened_keys = 0;
        for k in &candidates {
            if ring.unwrap(&k.wrapped, doomed.as_bytes()).is_ok() {
                tried += 1;
            }
            // Every key that exists, under its own binding, tried on the destroyed bytes.
            let context = match &k.owner {
                KeyOwner::Dataset(id) | KeyOwner::QueryResult(id) => id.as_bytes().to_vec(),
                KeyOwner::ProjectKey { project, purpose } => {
                    format!("medspace/project-key/{purpose}/{project}").into_bytes()
                }
                KeyOwner::Setting(key) if key == "master_key_check" => {
                    b"medspace/key-check/v1".to_vec()
                }
                KeyOwner::Setting(key) => format!("medspace/setting/{key}").into_bytes(),
            };
            if let Ok(key) = ring.unwrap(&k.wrapped, &context) {
                opened_keys += 1;
                let mut sink = Vec::new();
                let opened =
                    decrypt_reader(&key, doomed.as_bytes(), &old_bytes[..]).and_then(|mut r| {
                        std::io::Read::read_to_end(&mut r, &mut sink).map_err(Into::into)
                    });
                assert!(
                    opened.is_err(),
                    "{profile}: a surviving key opens the destroyed data"
                );
            }
        }
        assert!(
            opened_keys >= 3,
            "{profile}: the surviving keys were all tried"
        );
        assert_eq!(
            tried, 0,
            "{profile}: no stored key is bound to the destroyed dataset"
        );
        restored.close().await;
        node.close().await;
    }
}

#[tokio::test]
async fn incremental_backups_carry_only_new_objects_and_restore_as_a_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path(), None).await;
    let [officer, ..] = accounts(&node, &otp).await;
    let first = ingest(&node, &officer, "first", 2000).await;
    let dir = tmp.path().join("backups");
    let full = node
        .backup_into(&dir, chrono::Duration::hours(24), "test")
        .await
        .unwrap();
    assert_eq!(full.kind, BackupKind::Full);
    let second = ingest(&node, &officer, "second", 2000).await;
    let inc = node
        .backup_into(&dir, chrono::Duration::hours(24), "test")
        .await
        .unwrap();
    assert_eq!(inc.kind, BackupKind::Incremental);
    assert_eq!(inc.base.as_deref(), Some(full.backup_id.as_str()));
    assert_eq!((inc.objects_written, inc.objects_total), (1, 2));
    assert!(inc.bytes < full.bytes * 2);

    // A zero "full every" makes the next one full again.
    let next_full = node
        .backup_into(&dir, chrono::Duration::zero(), "test")
        .await
        .unwrap();
    assert_eq!(next_full.kind, BackupKind::Full);

    // Restoring the increment needs its base: without it, refused by name.
    let (restored, r) = restore(&restore_opts(
        tmp.path(),
        &node,
        vec![full.path.clone(), inc.path.clone()],
        "chain",
    ))
    .await
    .unwrap();
    assert_eq!(r.chain, vec![full.backup_id.clone(), inc.backup_id.clone()]);
    for id in [&first, &second] {
        assert!(restored.store().dataset(id).await.unwrap().is_some());
    }
    let officer2 = officer_of(&restored).await;
    restored
        .deidentify_dataset(&officer2, &first, POLICY, "p1", "first_deid")
        .await
        .unwrap();
    restored
        .deidentify_dataset(&officer2, &second, POLICY, "p1", "second_deid")
        .await
        .unwrap();
    restored.close().await;

    let err = restore(&restore_opts(
        tmp.path(),
        &node,
        vec![inc.path.clone()],
        "missing-base",
    ))
    .await
    .expect_err("base missing");
    assert!(err.to_string().contains(&full.backup_id), "{err}");
    node.close().await;
}

#[tokio::test]
async fn the_schedule_writes_backups_while_the_node_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path(), None).await;
    let [officer, ..] = accounts(&node, &otp).await;
    ingest(&node, &officer, "claims", 300).await;
    let dir = tmp.path().join("scheduled");
    let text = std::fs::read_to_string(node.dir().join("medspace.toml")).unwrap();
    std::fs::write(
        node.dir().join("medspace.toml"),
        format!(
            "{text}\n[backup]\ndir = \"{}\"\ninterval_minutes = 15\n",
            dir.display()
        ),
    )
    .unwrap();
    node.close().await;
    let node = Node::open(&tmp.path().join("node"), &Default::default())
        .await
        .unwrap();
    let handle = node
        .spawn_backup_schedule()
        .expect("a schedule is configured");
    let mut found = Vec::new();
    for _ in 0..300 {
        found = files_under(&dir)
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "msbk"))
            .collect();
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    handle.abort();
    assert_eq!(found.len(), 1, "the first tick backs up at once");
    let b = medspace_service::backup::read_backup_manifest(&found[0]).unwrap();
    assert_eq!(b.manifest.kind, BackupKind::Full);

    // An interval above 15 minutes is refused: the recovery point objective.
    let text = std::fs::read_to_string(node.dir().join("medspace.toml")).unwrap();
    std::fs::write(
        node.dir().join("medspace.toml"),
        text.replace("interval_minutes = 15", "interval_minutes = 60"),
    )
    .unwrap();
    let err = Node::open(&tmp.path().join("node"), &Default::default())
        .await
        .expect_err("60 minutes");
    assert!(err.to_string().contains("15"), "{err}");
    node.close().await;
}

#[tokio::test]
async fn postgresql_nodes_are_told_to_use_postgresql_recovery() {
    for (label, db) in backends().await {
        if db.is_none() {
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (node, _) = new_node(tmp.path(), db).await;
        let err = node
            .backup(&tmp.path().join("pg.msbk"), None, "test")
            .await
            .expect_err(label);
        assert!(err.to_string().contains("point-in-time recovery"), "{err}");
        assert!(!tmp.path().join("pg.msbk").exists());
        node.close().await;
    }
}
