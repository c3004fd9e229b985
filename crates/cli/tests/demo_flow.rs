//! End-to-end: the demo walks the whole flow on a fresh node; the audit log verifies; a one-byte edit
//! of a stored audit entry in the SQLite file is detected and named; no citizen ID, mobile number or
//! person name from the generated input is stored in plaintext anywhere under the node directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::path::{Path, PathBuf};

mod common;
use common::{medspace, verify_json};

const SEED: u64 = 77;
const ROWS: u64 = 3000;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn demo_walks_the_flow_and_the_audit_log_detects_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let out = medspace()
        .args([
            "demo",
            "--exit",
            "--rows",
            &ROWS.to_string(),
            "--seed",
            &SEED.to_string(),
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for expected in [
        "ingest them",
        "Classify and grade",
        "De-identify",
        "applies",
        "approves",
        "refused",
        "Export review",
        "chain intact",
    ] {
        assert!(
            stdout.contains(expected),
            "demo output lacks `{expected}`:\n{stdout}"
        );
    }
    assert!(
        tmp.path().join("node.masterkey").exists(),
        "master key beside the node directory"
    );

    // No generated identifier appears in plaintext under the node directory or in the output.
    let mut csv = Vec::new();
    medspace_gen::generate(
        &medspace_gen::GenOptions {
            rows: ROWS,
            seed: SEED,
            table: medspace_gen::Table::Settlements,
            persons: None,
        },
        &mut csv,
        &mut |_| {},
    )
    .unwrap();
    let mut reader = csv::Reader::from_reader(&csv[..]);
    let headers = reader.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let (name_i, id_i, mobile_i) = (col("person_name"), col("id_number"), col("mobile"));
    let mut secrets: Vec<String> = Vec::new();
    for r in reader.records() {
        let r = r.unwrap();
        secrets.push(r[id_i].to_string());
        secrets.push(r[mobile_i].to_string());
        if r[name_i].chars().count() >= 3 {
            secrets.push(r[name_i].to_string());
        }
    }
    // One automaton over all identifiers, one pass over each file.
    let matcher = aho_corasick::AhoCorasick::new(&secrets).unwrap();
    assert!(
        matcher.find(&csv[..]).is_some(),
        "the matcher finds identifiers in the plaintext input"
    );
    let mut files = Vec::new();
    files_under(&dir, &mut files);
    assert!(files.iter().any(|f| f.ends_with("medspace.db")));
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            matcher.find(&bytes[..]).is_none(),
            "plaintext personal data in {}",
            f.display()
        );
    }
    assert!(
        matcher.find(stdout.as_bytes()).is_none() && matcher.find(stderr.as_bytes()).is_none(),
        "personal data in the output"
    );

    let (ok, v) = verify_json(&dir);
    assert!(ok, "{v}");
    assert!(v["entries"].as_i64().unwrap() > 20);

    // Flip one byte of the stored audit entry that records the ingest, directly in the SQLite file.
    // The write-ahead log is folded into the database file first: whether a process leaves it
    // behind depends on which connection closes last (a read-only one cannot checkpoint), and
    // a page in the log may be there in several versions, of which only the newest is read.
    let db = dir.join("medspace.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 0, "the checkpoint completed");
    }
    let wal = dir.join("medspace.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "the write-ahead log is empty"
    );
    let target = db;
    let mut bytes = std::fs::read(&target).unwrap();
    // Every copy of the entry is changed: SQLite leaves stale copies of moved rows in free
    // space, and only the live one is read.
    let needle = b"\"action\":\"dataset.ingest\"";
    let mut seqs = Vec::new();
    let mut from = 0;
    while let Some(found) = find(&bytes[from..], needle) {
        let pos = from + found;
        let start = bytes[..pos]
            .windows(7)
            .rposition(|w| w == b"{\"seq\":")
            .expect("entry start");
        let digits: String = bytes[start + 7..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|b| *b as char)
            .collect();
        seqs.push(digits.parse::<i64>().unwrap());
        bytes[pos + "\"action\":\"dataset.inges".len()] = b'u';
        from = pos + needle.len();
    }
    let seq = *seqs
        .iter()
        .min()
        .expect("ingest audit entry in the database file");
    std::fs::write(&target, &bytes).unwrap();

    let (ok, v) = verify_json(&dir);
    assert!(!ok, "tampering was not detected: {v}");
    assert_eq!(v["first_bad_entry"].as_i64(), Some(seq), "{v}");
}

#[test]
fn administrator_cannot_ingest_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("n");
    let key = tmp.path().join("k.masterkey");
    let out = medspace()
        .env("MEDSPACE_MASTER_KEY_FILE", &key)
        .args(["init", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let otp = stdout
        .lines()
        .skip_while(|l| !l.contains("one-time password"))
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    // The administrator may not ingest (and must change the one-time password first): refused.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "a,b,c\n1,2,3\n4,5\n").unwrap();
    let out = medspace()
        .env("MEDSPACE_MASTER_KEY_FILE", &key)
        .env("MEDSPACE_PASSWORD", &otp)
        .args(["ingest", "--user", "admin", "--name", "bad", "--dir"])
        .arg(&dir)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"));
    let objects: Vec<_> = std::fs::read_dir(dir.join("objects"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != ".staging")
        .collect();
    assert!(objects.is_empty());
}

#[test]
fn keys_rotate_rewraps_everything_and_the_old_version_retires() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let out = medspace()
        .args(["demo", "--exit", "--rows", "3000", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = |dir: &Path| -> serde_json::Value {
        let out = medspace()
            .args(["keys", "status", "--format", "json", "--dir"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let before = status(&dir);
    let v1 = before["active"].as_str().unwrap().to_string();
    let in_use = before["versions"][0]["wrapped_keys"].as_u64().unwrap();
    assert!(in_use >= 5, "{before}");

    let out = medspace()
        .args(["keys", "rotate", "--format", "json", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["previous"], v1.as_str());
    assert_eq!(report["rewrapped"].as_u64().unwrap(), in_use);

    let after = status(&dir);
    assert_eq!(after["versions"][0]["wrapped_keys"], 0, "{after}");
    assert_eq!(
        after["versions"][1]["wrapped_keys"].as_u64().unwrap(),
        in_use
    );
    let out = medspace()
        .args(["keys", "retire", "--dir"])
        .arg(&dir)
        .arg(&v1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status(&dir)["versions"].as_array().unwrap().len(), 1);
    // Still a working node: the audit log (now with the rotation and retirement) verifies.
    let (ok, v) = verify_json(&dir);
    assert!(ok, "{v}");
}

#[test]
fn backup_then_restore_into_a_fresh_directory_and_a_tampered_backup_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let out = medspace()
        .args(["demo", "--exit", "--rows", "3000", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backups = tmp.path().join("backups");
    let out = medspace()
        .args(["backup", "--format", "json", "--dir"])
        .arg(&dir)
        .arg("--to")
        .arg(&backups)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["kind"], "full");
    let file = PathBuf::from(report["path"].as_str().unwrap());
    let vault = tmp.path().join("node.keyvault");
    assert!(vault.exists());

    let restore = |from: &Path, target: &Path| {
        medspace()
            .args(["restore", "--format", "json", "--dir"])
            .arg(target)
            .arg("--key-vault")
            .arg(&vault)
            .arg("--master-key-file")
            .arg(tmp.path().join("node.masterkey"))
            .arg(from)
            .output()
            .unwrap()
    };

    // One flipped byte inside a stored object: refused, nothing restored.
    let bytes = std::fs::read(&file).unwrap();
    let mut bad = bytes.clone();
    let at = find(&bytes, b"objects/datasets").unwrap() + 512 + 200;
    bad[at] ^= 0x40;
    let bad_file = tmp.path().join("tampered.msbk");
    std::fs::write(&bad_file, &bad).unwrap();
    let target = tmp.path().join("from-tampered");
    let out = restore(&bad_file, &target);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("modified"), "{stderr}");
    assert!(!target.exists());

    // The intact backup restores, and `audit verify` passes on the restored node.
    let target = tmp.path().join("restored");
    let out = restore(&file, &target);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["backup_id"], report["backup_id"]);
    let (ok, v) = verify_json(&target);
    assert!(ok, "{v}");
}
