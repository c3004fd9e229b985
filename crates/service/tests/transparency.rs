//! The audit log as a transparency log (T/CI 857-2024 7.2.6, 7.2.9 e)): signed checkpoints checked
//! with an independent signed-note implementation, every inclusion proof and the consistency proof
//! checked with the RFC 9162 verifier, and `verify_audit_log` naming the place after a one-byte
//! edit, a rewrite that re-chains every later entry, truncation, and a rollback to an older copy
//! that a kept checkpoint reveals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use medspace_service::reexports::core::{AuditEvent, Outcome};
use medspace_service::transparency::{AuditLogFailure, NodeNoteVerifier};
use medspace_service::{ConfigOverrides, Node};
use medspace_tlog::checkpoint::Checkpoint;
use medspace_tlog::merkle::{verify_consistency, verify_inclusion};
use medspace_tlog::note::{Note, Verifiers};
use medspace_tlog::HashAlg;
use sha2::Digest as _;

mod common;
use common::*;

async fn append(node: &Node, n: usize, tag: &str) {
    for i in 0..n {
        node.append_audit_event(AuditEvent::new(
            "system",
            "test.event",
            format!("{tag}-{i}"),
            Outcome::Success,
        ))
        .await
        .unwrap();
    }
}

/// RFC 9162 leaf hash computed here, not by the code under test.
fn leaf_hash(alg: HashAlg, entry: &str) -> Vec<u8> {
    let mut input = vec![0u8];
    input.extend_from_slice(entry.as_bytes());
    match alg {
        HashAlg::Sha256 => sha2::Sha256::digest(&input).to_vec(),
        HashAlg::Sm3 => sm3::Sm3::digest(&input).to_vec(),
    }
}

fn unb64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

/// Checks a checkpoint note against the vkey: Ed25519 with medspace-tlog's own verifier (no node
/// code involved), SM2 with the node's note verifier.
fn checked_checkpoint(note_text: &str, vkey: &str) -> Checkpoint {
    let note = Note::parse(note_text).unwrap();
    let verifier: Box<dyn medspace_tlog::note::NoteVerifier> =
        match medspace_tlog::note::verifier_from_vkey(vkey) {
            Ok(v) => v,
            Err(_) => Box::new(NodeNoteVerifier::from_vkey(vkey).unwrap()),
        };
    note.verify(&Verifiers::new().with(verifier).unwrap())
        .unwrap();
    Checkpoint::from_note(&note).unwrap()
}

async fn checkpoints_and_proofs(node: &Node, alg: HashAlg) {
    append(node, 37, "a").await;
    let cp1 = node.issue_audit_checkpoint().await.unwrap();
    append(node, 29, "b").await;
    let cp2 = node.issue_audit_checkpoint().await.unwrap();
    assert!(cp2.tree_size > cp1.tree_size);
    // Nothing new: the same checkpoint comes back.
    assert_eq!(node.issue_audit_checkpoint().await.unwrap(), cp2);

    let vkey = node.audit_vkey().await.unwrap();
    let c1 = checked_checkpoint(&cp1.note, &vkey);
    let c2 = checked_checkpoint(&cp2.note, &vkey);
    assert_eq!(c2.origin, node.audit_origin());
    assert_eq!(c2.size, cp2.tree_size);

    let entries = node
        .store()
        .audit_entries(1, cp2.tree_size as i64)
        .await
        .unwrap();
    assert_eq!(entries.len() as u64, cp2.tree_size);
    for stored in &entries {
        let p = node.audit_inclusion_proof(stored.seq, None).await.unwrap();
        assert_eq!(
            p.tree_size, c2.size,
            "default size is the latest checkpoint"
        );
        assert_eq!(p.leaf_idx, stored.seq as u64 - 1);
        assert_eq!(unb64(&p.leaf_hash), leaf_hash(alg, &stored.entry));
        assert_eq!(unb64(&p.root), c2.root.to_vec());
        let proof: Vec<Vec<u8>> = p.proof.iter().map(|h| unb64(h)).collect();
        verify_inclusion(
            alg,
            p.leaf_idx,
            p.tree_size,
            &unb64(&p.leaf_hash),
            &proof,
            &c2.root,
        )
        .unwrap();
        // The proof does not prove another entry.
        let other = leaf_hash(alg, &format!("{} ", stored.entry));
        assert!(verify_inclusion(alg, p.leaf_idx, p.tree_size, &other, &proof, &c2.root).is_err());
    }
    // Against the older checkpoint too.
    let p = node.audit_inclusion_proof(5, Some(c1.size)).await.unwrap();
    let proof: Vec<Vec<u8>> = p.proof.iter().map(|h| unb64(h)).collect();
    verify_inclusion(alg, 4, c1.size, &unb64(&p.leaf_hash), &proof, &c1.root).unwrap();

    let cons = node.audit_consistency_proof(c1.size, None).await.unwrap();
    assert_eq!((cons.size1, cons.size2), (c1.size, c2.size));
    let proof: Vec<Vec<u8>> = cons.proof.iter().map(|h| unb64(h)).collect();
    verify_consistency(alg, c1.size, c2.size, &proof, &c1.root, &c2.root).unwrap();
    assert!(node
        .audit_inclusion_proof(cp2.tree_size as i64 + 1000, None)
        .await
        .is_err());

    let report = node.verify_audit_log(None, None).await.unwrap().unwrap();
    assert_eq!(report.checkpoints_verified, 2);
    assert_eq!(report.latest_checkpoint, Some(c2.size));
    assert_eq!(report.vkey, vkey);
    // A kept checkpoint that the log still contains passes.
    let report = node
        .verify_audit_log(Some(&cp1.note), Some(&vkey))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.outside_checkpoint, Some(c1.size));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_and_every_proof_verify_independently_in_both_profiles() {
    for (backend, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, _) = new_node(tmp.path(), db).await;
        checkpoints_and_proofs(&node, HashAlg::Sha256).await;
        assert!(node.audit_vkey().await.unwrap().contains("+"), "{backend}");
        node.close().await;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node_with_profile(tmp.path(), None, Some("national")).await;
    checkpoints_and_proofs(&node, HashAlg::Sm3).await;
    // The national vkey carries the SM2-with-SM3 signature type.
    let vkey = node.audit_vkey().await.unwrap();
    let material = unb64(vkey.splitn(3, '+').nth(2).unwrap());
    assert!(material.starts_with(medspace_service::transparency::SM2_SM3_TYPE));
    assert_eq!(
        material.len(),
        medspace_service::transparency::SM2_SM3_TYPE.len() + 65
    );
    node.close().await;
}

// ---------------------------------------------------------------- tampering (SQLite file)

async fn raw(dir: &Path, statements: &[(&str, Vec<String>)]) {
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join("medspace.db"));
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    for (sql, binds) in statements {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(b.clone());
        }
        q.execute(&pool).await.unwrap();
    }
    pool.close().await;
}

const UNGUARD: [&str; 2] = [
    "DROP TRIGGER IF EXISTS audit_log_no_update",
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
];

async fn unguard(dir: &Path) {
    raw(dir, &UNGUARD.map(|s| (s, Vec::new()))).await;
}

async fn verify(node: &Node, outside: Option<&str>) -> Result<(), AuditLogFailure> {
    node.verify_audit_log(outside, None)
        .await
        .unwrap()
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_byte_edit_is_named_at_its_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node(tmp.path(), None).await;
    append(&node, 12, "e").await;
    node.issue_audit_checkpoint().await.unwrap();
    let dir = node.dir().to_path_buf();
    unguard(&dir).await;
    let entries = node.store().audit_entries(1, 1000).await.unwrap();
    assert!(entries.len() > 12);
    for stored in &entries {
        // Every byte position of a few entries, a spread of positions of the others.
        let positions: Vec<usize> = if stored.seq % 5 == 0 {
            (0..stored.entry.len()).collect()
        } else {
            (0..stored.entry.len()).step_by(17).collect()
        };
        for pos in positions {
            let mut bytes = stored.entry.clone().into_bytes();
            bytes[pos] ^= 0x01;
            let Ok(changed) = String::from_utf8(bytes) else {
                continue;
            };
            let set = "UPDATE audit_log SET entry = $1 WHERE seq = $2";
            raw(&dir, &[(set, vec![changed, stored.seq.to_string()])]).await;
            let err = verify(&node, None).await.unwrap_err();
            assert_eq!(
                err.seq(),
                Some(stored.seq),
                "byte {pos} of entry {}: {err}",
                stored.seq
            );
            raw(
                &dir,
                &[(set, vec![stored.entry.clone(), stored.seq.to_string()])],
            )
            .await;
        }
    }
    verify(&node, None).await.unwrap();
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewriting_history_truncation_and_rollback_are_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node(tmp.path(), None).await;
    let dir = node.dir().to_path_buf();
    append(&node, 20, "r").await;
    let cp1 = node.issue_audit_checkpoint().await.unwrap();

    // An older copy of the whole database, taken now.
    node.close().await;
    let db = dir.join("medspace.db");
    let old_copy = tmp.path().join("old.db");
    raw(&dir, &[("PRAGMA wal_checkpoint(TRUNCATE)", vec![])]).await;
    std::fs::copy(&db, &old_copy).unwrap();
    let node = Node::open(&dir, &ConfigOverrides::default()).await.unwrap();

    append(&node, 15, "s").await;
    let cp2 = node.issue_audit_checkpoint().await.unwrap();
    append(&node, 3, "t").await;
    verify(&node, Some(&cp2.note)).await.unwrap();

    // 1. Someone with database access rewrites entry 10 and re-chains every later entry and the
    //    head: the hash chain verifies, the signed checkpoints do not.
    unguard(&dir).await;
    let entries = node.store().audit_entries(1, 1000).await.unwrap();
    let mut prev = entries[8].hash.clone();
    let mut updates = Vec::new();
    for stored in &entries[9..] {
        let mut e: medspace_service::reexports::audit::AuditEntry =
            serde_json::from_str(&stored.entry).unwrap();
        if stored.seq == 10 {
            e.target = "rewritten".into();
        }
        e.prev_hash = prev.clone();
        let sealed = medspace_service::reexports::audit::seal(&e).unwrap();
        prev = sealed.hash.clone();
        updates.push((
            "UPDATE audit_log SET entry = $1, hash = $2 WHERE seq = $3",
            vec![sealed.entry, sealed.hash, stored.seq.to_string()],
        ));
    }
    let last = entries.last().unwrap().seq;
    updates.push((
        "UPDATE audit_head SET hash = $1 WHERE seq = $2",
        vec![prev, last.to_string()],
    ));
    let originals: Vec<(&str, Vec<String>)> = entries[9..]
        .iter()
        .map(|s| {
            (
                "UPDATE audit_log SET entry = $1, hash = $2 WHERE seq = $3",
                vec![s.entry.clone(), s.hash.clone(), s.seq.to_string()],
            )
        })
        .chain([(
            "UPDATE audit_head SET hash = $1 WHERE seq = $2",
            vec![entries.last().unwrap().hash.clone(), last.to_string()],
        )])
        .collect();
    raw(&dir, &updates).await;
    let err = verify(&node, None).await.unwrap_err();
    assert_eq!(
        err,
        AuditLogFailure::Checkpoint {
            size: cp1.tree_size,
            reason: "its root does not match the entries (an entry at or before it was changed)"
                .into()
        },
        "{err}"
    );
    raw(&dir, &originals).await;
    verify(&node, None).await.unwrap();

    // 2. The newest entries are removed and the head moved back: the checkpoint covering them
    //    says so.
    let keep = cp2.tree_size as i64 - 4;
    let head_hash = entries[keep as usize - 1].hash.clone();
    raw(
        &dir,
        &[
            (
                "DELETE FROM audit_log WHERE seq > $1",
                vec![keep.to_string()],
            ),
            (
                "UPDATE audit_head SET seq = $1, hash = $2",
                vec![keep.to_string(), head_hash],
            ),
        ],
    )
    .await;
    let err = verify(&node, None).await.unwrap_err();
    assert!(
        matches!(&err, AuditLogFailure::Checkpoint { size, .. } if *size == cp2.tree_size),
        "{err}"
    );
    assert!(err.to_string().contains("entries were removed"), "{err}");
    node.close().await;

    // 3. The whole database is replaced by the older copy: on its own it is consistent, but the
    //    checkpoint a client kept proves the log was rolled back.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("medspace.db{suffix}")));
    }
    std::fs::copy(&old_copy, &db).unwrap();
    let node = Node::open(&dir, &ConfigOverrides::default()).await.unwrap();
    verify(&node, None).await.unwrap();
    verify(&node, Some(&cp1.note)).await.unwrap();
    let err = verify(&node, Some(&cp2.note)).await.unwrap_err();
    assert_eq!(
        err,
        AuditLogFailure::RolledBack {
            seen: cp2.tree_size,
            found: cp1.tree_size
        },
        "{err}"
    );
    node.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_checkpoints_must_be_signed_by_this_node() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node(tmp.path(), None).await;
    append(&node, 5, "x").await;
    let cp = node.issue_audit_checkpoint().await.unwrap();
    let other_tmp = tempfile::tempdir().unwrap();
    let (other, _) = new_node(other_tmp.path(), None).await;
    let foreign = other.issue_audit_checkpoint().await.unwrap();
    let err = verify(&node, Some(&foreign.note)).await.unwrap_err();
    assert!(
        matches!(err, AuditLogFailure::OutsideCheckpoint(_)),
        "{err}"
    );
    // A verifier that pinned another key refuses the node's own checkpoints.
    let other_vkey = other.audit_vkey().await.unwrap();
    let err = node
        .verify_audit_log(None, Some(&other_vkey))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, AuditLogFailure::Checkpoint { .. }), "{err}");
    // A checkpoint with its size changed no longer verifies.
    let forged = cp.note.replacen(
        &format!("\n{}\n", cp.tree_size),
        &format!("\n{}\n", cp.tree_size + 1),
        1,
    );
    let err = verify(&node, Some(&forged)).await.unwrap_err();
    assert!(
        matches!(err, AuditLogFailure::OutsideCheckpoint(_)),
        "{err}"
    );
    node.close().await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_integrators_build_one_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node(tmp.path(), None).await;
    let second = Node::open(node.dir(), &ConfigOverrides::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (i, n) in [node.clone(), second.clone()].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for round in 0..10 {
                append(&n, 7, &format!("n{i}-{round}")).await;
                n.issue_audit_checkpoint().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let a = node.issue_audit_checkpoint().await.unwrap();
    let b = second.latest_audit_checkpoint().await.unwrap();
    assert_eq!(a, b);
    let report = node.verify_audit_log(None, None).await.unwrap().unwrap();
    assert_eq!(report.integrated, report.entries);
    assert!(report.checkpoints_verified >= 2);
    second.close().await;
    node.close().await;
}

/// Runs `statements` in one transaction on one connection: thousands of rewrites in one commit.
async fn raw_in_one_transaction(dir: &Path, statements: &[(&str, Vec<String>)]) {
    use sqlx::Connection as _;
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join("medspace.db"));
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    for (sql, binds) in statements {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(b.clone());
        }
        q.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    conn.close().await.unwrap();
}

/// Appends plain events until the log holds `size` entries.
async fn fill_to(node: &Node, size: i64) {
    let have = node
        .store()
        .audit_head()
        .await
        .unwrap()
        .map_or(0, |h| h.seq);
    let events: Vec<AuditEvent> = (have..size)
        .map(|i| AuditEvent::new("system", "test.event", format!("f-{i}"), Outcome::Success))
        .collect();
    for batch in events.chunks(1000) {
        node.store().append_audit_batch(batch).await.unwrap();
    }
}

/// Rewrites entry `seq` and re-chains every later entry and the head, all in one transaction;
/// returns the statements that put the originals back.
async fn rewrite_and_rechain(
    dir: &Path,
    node: &Node,
    seq: i64,
) -> Vec<(&'static str, Vec<String>)> {
    use medspace_service::reexports::audit::{seal, AuditEntry};
    let entries = node.store().audit_entries(1, i64::MAX).await.unwrap();
    let from = usize::try_from(seq - 1).unwrap();
    let mut prev = entries[from - 1].hash.clone();
    let set = "UPDATE audit_log SET entry = $1, hash = $2 WHERE seq = $3";
    let set_head = "UPDATE audit_head SET hash = $1 WHERE seq = $2";
    let mut updates = Vec::new();
    let mut originals = Vec::new();
    for stored in &entries[from..] {
        let mut e: AuditEntry = serde_json::from_str(&stored.entry).unwrap();
        if stored.seq == seq {
            e.target = "rewritten".into();
        }
        e.prev_hash = prev.clone();
        let sealed = seal(&e).unwrap();
        prev = sealed.hash.clone();
        updates.push((set, vec![sealed.entry, sealed.hash, stored.seq.to_string()]));
        originals.push((
            set,
            vec![
                stored.entry.clone(),
                stored.hash.clone(),
                stored.seq.to_string(),
            ],
        ));
    }
    let last = entries.last().unwrap();
    updates.push((set_head, vec![prev, last.seq.to_string()]));
    originals.push((set_head, vec![last.hash.clone(), last.seq.to_string()]));
    raw_in_one_transaction(dir, &updates).await;
    originals
}

/// Verification reads the log in pages of 4,096 entries and adds a whole page to the tree by its
/// root unless a checkpoint falls inside it: the root it reports must equal RFC 9162's MTH over
/// every leaf (computed here, independently), and a rewrite must still be named at the first
/// checkpoint after it — one that ends a page added by its root (4,096), one inside a page
/// (5,000) and one in the last, partial page (9,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_of_whole_pages_verifies_by_page_roots_and_still_names_a_rewrite() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node(tmp.path(), None).await;
    let dir = node.dir().to_path_buf();
    for size in [4_096, 5_000, 9_000] {
        fill_to(&node, size).await;
        assert_eq!(
            node.issue_audit_checkpoint().await.unwrap().tree_size,
            size as u64
        );
    }
    fill_to(&node, 9_050).await;
    let report = node.verify_audit_log(None, None).await.unwrap().unwrap();
    assert_eq!(
        (
            report.entries,
            report.integrated,
            report.checkpoints_verified
        ),
        (9_050, 9_000, 3)
    );
    let entries = node.store().audit_entries(1, i64::MAX).await.unwrap();
    let leaves: Vec<medspace_tlog::Hash> = entries
        .iter()
        .map(|e| leaf_hash(HashAlg::Sha256, &e.entry).try_into().unwrap())
        .collect();
    assert_eq!(
        unb64(&report.root),
        medspace_tlog::merkle::mth(HashAlg::Sha256, &leaves).to_vec()
    );

    unguard(&dir).await;
    for (seq, named) in [(10, 4_096), (4_500, 5_000), (8_500, 9_000)] {
        let originals = rewrite_and_rechain(&dir, &node, seq).await;
        let err = verify(&node, None).await.unwrap_err();
        assert!(
            matches!(&err, AuditLogFailure::Checkpoint { size, .. } if *size == named),
            "entry {seq} rewritten: {err}"
        );
        raw_in_one_transaction(&dir, &originals).await;
        verify(&node, None).await.unwrap();
    }
    node.close().await;
}
