//! A node whose master key lives in a PKCS#11 token (SoftHSM2, a real PKCS#11 module): init creates
//! the non-extractable key in the token, data is ingested and de-identified through it, the node
//! reopens from disk, key status names the HSM key, and rotation points the operator to the HSM.
//! Skips with a visible notice when SoftHSM2 is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::path::Path;
use std::process::Command;

use medspace_service::config::HsmSettings;
use medspace_service::datasets::IngestRequest;
use medspace_service::{ConfigOverrides, InitOptions, Node, ServiceError};

mod common;
use common::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A private SoftHSM2 token directory with one initialised token; `None` when SoftHSM2 is absent.
fn softhsm_token(tmp: &Path) -> Option<()> {
    if !Path::new(MODULE).exists() {
        eprintln!("NOTICE: skipping the HSM node test: {MODULE} not found (install softhsm2)");
        return None;
    }
    let tokens = tmp.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = tmp.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    // One test in this binary: setting the process environment cannot race another test.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    std::env::set_var("MEDSPACE_TEST_HSM_PIN", "5678");
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "medspace-node"])
        .args(["--so-pin", "1234", "--pin", "5678"])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(()),
        Ok(o) => panic!(
            "softhsm2-util failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            eprintln!("NOTICE: skipping the HSM node test: softhsm2-util not runnable ({e})");
            None
        }
    }
}

fn hsm_settings() -> HsmSettings {
    HsmSettings {
        module: MODULE.into(),
        token_label: "medspace-node".into(),
        key_label: "master".into(),
        pin_env: Some("MEDSPACE_TEST_HSM_PIN".into()),
        pin_file: None,
    }
}

#[tokio::test]
async fn a_node_keeps_its_master_key_in_the_hsm() {
    let tmp = tempfile::tempdir().unwrap();
    if softhsm_token(tmp.path()).is_none() {
        return;
    }
    // The national profile needs SM4 wrapping, which the token does not offer: refused.
    let err = Node::init(InitOptions {
        dir: tmp.path().join("national"),
        database_url: None,
        profile: Some("national".into()),
        master_key_file: None,
        admin_username: "admin".into(),
        listen: None,
        hsm: Some(hsm_settings()),
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ServiceError::Config(_)), "{err}");

    let (node, outcome) = Node::init(InitOptions {
        dir: tmp.path().join("node"),
        database_url: None,
        profile: None,
        master_key_file: None,
        admin_username: "admin".into(),
        listen: None,
        hsm: Some(hsm_settings()),
    })
    .await
    .unwrap();
    assert!(!outcome.master_key_created, "no key file for an HSM node");
    assert!(!node.config().master_key_file.exists());
    let [officer, ..] = accounts(&node, &outcome.admin_password).await;
    let raw = node
        .ingest(
            &officer,
            IngestRequest {
                name: "claims".into(),
                source_name: "claims.csv".into(),
                owner: None,
                update_frequency: "once".into(),
            },
            Box::new(std::io::Cursor::new(settlements(2000))),
            Box::new(|_| {}),
        )
        .await
        .unwrap();
    node.close().await;

    // Reopened from medspace.toml ([hsm] section), everything still decrypts through the token.
    let node = Node::open(node.dir(), &ConfigOverrides::default())
        .await
        .unwrap();
    let officer = node
        .authenticate(&login_token(&node, "officer", "New-Passw0rd-2026").await)
        .await
        .unwrap();
    let (deid, _) = node
        .deidentify_dataset(&officer, &raw.id, POLICY, "p1", "claims_deid")
        .await
        .unwrap();
    assert_eq!(deid.row_count, 2000);
    let status = node.key_status().await.unwrap();
    assert!(
        status.active.starts_with("hsm:medspace-node:master:"),
        "{status:?}"
    );
    assert_eq!(status.versions.len(), 1);
    assert!(status.versions[0].wrapped_keys >= 5, "{status:?}");
    let mut node = node;
    assert!(matches!(
        node.rotate_master_key().await,
        Err(ServiceError::Conflict(m)) if m.contains("HSM")
    ));
    node.verify_audit().await.unwrap().unwrap();

    // Without the PIN the node does not open.
    node.close().await;
    std::env::remove_var("MEDSPACE_TEST_HSM_PIN");
    assert!(Node::open(node.dir(), &ConfigOverrides::default())
        .await
        .is_err());
}
