//! Audit log at scale (issue 4 benchmarks): builds a node whose log holds N entries spread over
//! 1,000 dataset ids, one entry in 1,000 naming a known subject (by its keyed pseudonym), then measures the
//! subject disclosure history (GB/T 39725-2020 §7 g)) and the full verification.
//!
//! `cargo run --release -p medspace-service --example audit_scale -- [ENTRIES] [DIR] [PROFILE]`
//! (default 1,000,000 entries in a temporary directory, `international` crypto profile; `national`
//! hashes the tree with SM3 and signs with SM2). The caller is built in-process as an
//! auditor account: this measures the query, not the login.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark program")]

use std::time::Instant;

use medspace_core::{AuditEvent, EntityKind, EntityRef, Outcome, Role, User};
use medspace_service::{Caller, InitOptions, Node};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let entries: u64 = args.next().map(|a| a.parse().unwrap()).unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let profile = args.next();
    let (node, _) = Node::init(InitOptions {
        dir: dir.join("node"),
        database_url: None,
        profile,
        master_key_file: Some(dir.join("node.masterkey")),
        hsm: None,
        admin_username: "admin".into(),
        listen: None,
    })
    .await
    .unwrap();
    let user = |role: Role, name: &str| Caller {
        user: User {
            id: format!("u-bench-{name}"),
            username: name.into(),
            role,
            ..node_user_template()
        },
        token_hash: String::new(),
        address: None,
        must_enrol_second_factor: false,
    };
    let auditor = user(Role::Auditor, "auditor");

    // One known subject, referenced (by the node's keyed pseudonym, as every service operation
    // does) from one entry in 1,000.
    let subject = "11010519491231002X".to_string();
    let subject_key = node
        .subject_pseudonymizer()
        .await
        .unwrap()
        .pseudonym(&subject)
        .unwrap();
    // N entries over 1,000 dataset ids, the real one among them, in batches of 5,000.
    let started = Instant::now();
    let mut n = 0u64;
    while n < entries {
        let batch: Vec<AuditEvent> = (n..(n + 5000).min(entries))
            .map(|i| {
                let mut event = AuditEvent::new(
                    "u-bench-user",
                    "sandbox.query",
                    format!("ds-bench{:04}", i % 1000),
                    Outcome::Success,
                );
                if i % 1000 == 0 {
                    event
                        .context_mut()
                        .entities
                        .push(EntityRef::new(EntityKind::Subject, subject_key.clone()));
                }
                event
            })
            .collect();
        n += batch.len() as u64;
        node.store().append_audit_batch(&batch).await.unwrap();
    }
    let appended = started.elapsed();
    let started = Instant::now();
    node.issue_audit_checkpoint().await.unwrap();
    let integrated = started.elapsed();
    println!(
        "log: {n} entries appended in {:.1} s, integrated and signed in {:.1} s",
        appended.as_secs_f64(),
        integrated.as_secs_f64()
    );

    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..21 {
        let t = Instant::now();
        let h = node
            .subject_history(&auditor, std::slice::from_ref(&subject))
            .await
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        found = h.entries.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "subject history on a {n}-entry log: {found} entries with proofs, p50 {:.1} ms, max {:.1} ms (21 runs)",
        times[times.len() / 2],
        times[times.len() - 1]
    );

    let t = Instant::now();
    let report = node.verify_audit_log(None, None).await.unwrap();
    let verify = t.elapsed();
    assert!(report.is_ok(), "{report:?}");
    println!(
        "full verify of {} entries: {:.2} s",
        n,
        verify.as_secs_f64()
    );
    node.close().await;
}

fn node_user_template() -> User {
    User {
        id: String::new(),
        username: String::new(),
        role: Role::Auditor,
        password_hash: String::new(),
        must_change_password: false,
        failed_logins: 0,
        locked: false,
        disabled: false,
        created_at: chrono::Utc::now(),
    }
}
