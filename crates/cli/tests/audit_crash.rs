//! Durability of acknowledged audit entries (DMS 7.2.3.4; T/CI 857-2024 7.2.6): the node runs as
//! a child process under a sustained concurrent append load (`medspace audit bench`, 32 writers,
//! group commit) and is killed with SIGKILL at arbitrary moments, again and again, with signed
//! checkpoints issued between crashes. Every entry whose sequence number was acknowledged must
//! survive with its content, and `audit verify` must pass after each restart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

mod common;
use common::{medspace, verify_json};

fn verify(dir: &Path) -> serde_json::Value {
    let (ok, v) = verify_json(dir);
    assert!(ok, "audit verify failed: {v}");
    v
}

/// Entry targets by sequence number, read from the SQLite file.
fn stored_targets(dir: &Path) -> BTreeMap<i64, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join("medspace.db"))
            .read_only(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT seq, entry FROM audit_log")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.into_iter()
            .map(|(seq, entry)| {
                let v: serde_json::Value = serde_json::from_str(&entry).unwrap();
                (seq, v["target"].as_str().unwrap().to_string())
            })
            .collect()
    })
}

#[test]
fn kill_9_under_concurrent_load_loses_no_acknowledged_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let init = medspace()
        .args(["init", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );

    let mut acked: BTreeMap<i64, String> = BTreeMap::new();
    // Kill points spread over start-up, steady load and a checkpoint in flight.
    let kill_after_ms = [150u64, 700, 1100, 400, 900, 1500, 250, 1200];
    for (round, wait) in kill_after_ms.iter().enumerate() {
        let mut child = medspace()
            .args([
                "audit",
                "bench",
                "--writers",
                "32",
                "--entries",
                "0",
                "--print-acks",
                "--dir",
            ])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.push(line);
            }
            lines
        });
        std::thread::sleep(Duration::from_millis(*wait));
        if round % 2 == 1 {
            // A checkpoint signed by another process while the load runs.
            let cp = medspace()
                .args(["audit", "checkpoint", "--dir"])
                .arg(&dir)
                .output()
                .unwrap();
            assert!(
                cp.status.success(),
                "{}",
                String::from_utf8_lossy(&cp.stderr)
            );
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let mut this_round = 0;
        for line in lines {
            let mut parts = line.split(' ');
            if let (Some("ack"), Some(seq), Some(tag)) = (parts.next(), parts.next(), parts.next())
            {
                assert!(acked
                    .insert(seq.parse().unwrap(), tag.to_string())
                    .is_none());
                this_round += 1;
            }
        }
        let stored = stored_targets(&dir);
        let lost: Vec<_> = acked
            .iter()
            .filter(|(seq, tag)| stored.get(seq) != Some(tag))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged entries lost or changed, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(3)]
        );
        let v = verify(&dir);
        assert_eq!(v["ok"], true);
        eprintln!(
            "round {round}: killed after {wait} ms, {this_round} acknowledged, {} stored",
            stored.len()
        );
    }
    assert!(
        acked.len() > 100,
        "the load produced only {} acknowledged entries",
        acked.len()
    );
    let v = verify(&dir);
    assert!(v["checkpoints_verified"].as_u64().unwrap() >= 1, "{v}");
}
