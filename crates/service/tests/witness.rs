//! The witness key and settings (T/CI 857-2024 7.2.1 a), 7.2.6; C2SP tlog-cosignature): the
//! `cosignature/v1` key is created once, stored wrapped by the master key like the identity key,
//! follows master-key rotation and retirement, and the `[audit]` witness settings are checked.
//! The HTTP exchange between two nodes is tested in `crates/server/tests/witness.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_service::config::AuditSettings;
use medspace_service::reexports::store::KeyOwner;
use medspace_service::witness::{WitnessLogSettings, WitnessSettings};
use medspace_service::{ConfigOverrides, Node};
use medspace_tlog::witness::CosignatureV1Verifier;

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_key_is_wrapped_by_the_master_key_and_survives_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut node, _) = new_node(tmp.path(), None).await;
    // Concurrent first uses agree on one key.
    let (v1, v2) = tokio::join!(node.witness_vkey(), node.witness_vkey());
    let vkey = v1.unwrap();
    assert_eq!(v2.unwrap(), vkey);
    let verifier = CosignatureV1Verifier::from_vkey(&vkey).unwrap();
    assert_eq!(verifier.vkey(), vkey);
    assert!(vkey.starts_with(&format!("{}+", node.witness_name())));
    assert!(node.witness_name().ends_with("/witness"));
    // Stored sealed, its data key wrapped by the master key (listed for rotation and backup).
    let keys = node.store().wrapped_keys().await.unwrap();
    assert!(keys
        .iter()
        .any(|k| k.owner == KeyOwner::Setting("wrapped_key.witness".into())));
    let sealed = node.store().setting("witness_key").await.unwrap().unwrap();
    assert!(sealed.len() > 64, "sealed seed and tag");
    // Rotation rewraps it; after retiring the old master key it still opens, same key.
    let report = node.rotate_master_key().await.unwrap();
    node.retire_master_key(&report.previous).await.unwrap();
    assert_eq!(node.witness_vkey().await.unwrap(), vkey);
    let dir = node.dir().to_path_buf();
    node.store().close().await;
    drop(node);
    let reopened = Node::open(&dir, &ConfigOverrides::default()).await.unwrap();
    assert_eq!(reopened.witness_vkey().await.unwrap(), vkey);
    // The cosigner signs what the verifier accepts.
    let body = "medspace.local/a/audit\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let sig = reopened
        .witness_cosigner()
        .await
        .unwrap()
        .cosign(body, 1_700_000_000)
        .unwrap();
    assert_eq!(
        verifier.verify_cosignature(body.as_bytes(), &sig.signature),
        Some(1_700_000_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_settings_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node(tmp.path(), None).await;
    let log = WitnessLogSettings {
        origin: node.audit_origin(),
        vkey: node.audit_vkey().await.unwrap(),
        tree_hash: None,
    };
    let witness = WitnessSettings {
        url: "https://127.0.0.1:8444".into(),
        vkey: node.witness_vkey().await.unwrap(),
        ca: None,
        client_cert: None,
        client_key: None,
    };
    let ok = AuditSettings {
        witness_logs: vec![log.clone()],
        witnesses: vec![witness.clone()],
        ..AuditSettings::default()
    };
    ok.validate_witnesses().unwrap();
    assert_eq!(ok.effective_witness_quorum(), 1);
    let bad = |f: &dyn Fn(&mut AuditSettings)| {
        let mut s = ok.clone();
        f(&mut s);
        s.validate_witnesses().unwrap_err().to_string()
    };
    assert!(bad(&|s| s.witness_quorum = Some(2)).contains("witness_quorum"));
    assert!(bad(&|s| s.witnesses[0].url = "http://x".into()).contains("https"));
    // A log key is not a cosignature key, and the other way round.
    assert!(bad(&|s| s.witnesses[0].vkey = log.vkey.clone()).contains("cosignature/v1"));
    assert!(bad(&|s| s.witness_logs[0].vkey = witness.vkey.clone()).contains("witness_logs"));
    assert!(bad(&|s| s.witness_logs[0].origin = "other/log".into()).contains("not the origin"));
    assert!(bad(&|s| s.witness_logs.push(log.clone())).contains("twice"));
    assert!(bad(&|s| s.witnesses.push(witness.clone())).contains("twice"));
    assert!(bad(&|s| s.witness_logs[0].tree_hash = Some("md5".into())).contains("tree_hash"));
    // The TOML form round-trips.
    let text = toml::to_string(&ok).unwrap();
    let back: AuditSettings = toml::from_str(&text).unwrap();
    assert_eq!(back, ok);
}
