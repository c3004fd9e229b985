//! Certificate reload as operators trigger it: by replacing the files (the periodic check) and
//! by SIGHUP. A test binary of its own, because SIGHUP goes to the whole process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

mod common;

use std::time::Duration;

use common::*;
use medspace_server::NodeTls;
use medspace_service::config::TlsSettings;

async fn wait_for_certificate(trust: &[String], port: u16, sha256: &str, poke: impl Fn()) -> bool {
    for _ in 0..40 {
        poke();
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Ok(seen) = served_certificate(client(trust, None), port).await {
            if seen.sha256 == sha256 {
                return true;
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_files_and_sighup_reload_the_certificate_without_a_restart() {
    // A SIGHUP handler for this process before any signal is sent, so a signal that arrives
    // before the server's watcher listens cannot end the test process.
    let mut own_hup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let node = new_node(tmp.path()).await;
    let (cert_path, key_path) = node.tls_paths();
    let first_pem = std::fs::read_to_string(&cert_path).unwrap();
    let second = leaf("node-second", None, false);
    let third = leaf("node-third", None, false);
    let trust = [first_pem, second.cert_pem(), third.cert_pem()];

    // 1. The periodic check (every second here) picks up replaced files.
    let tls = NodeTls::with_settings(
        node.clone(),
        &TlsSettings {
            reload_check_seconds: 1,
            ..TlsSettings::default()
        },
    )
    .unwrap();
    let run = start(node.clone(), tls.clone(), false).await;
    std::fs::write(&cert_path, second.cert_pem()).unwrap();
    std::fs::write(&key_path, second.key_pem()).unwrap();
    assert!(
        wait_for_certificate(&trust, run.api_port, &second.info().sha256, || {}).await,
        "the file change was not picked up"
    );
    assert_eq!(tls.api_certificate().sha256, second.info().sha256);
    let audit = reload_audit(&node).await;
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["detail"]["trigger"], "file_change");

    // A broken replacement is refused once (not retried every second) and the old one stays.
    std::fs::write(&key_path, third.key_pem()).unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(tls.api_certificate().sha256, second.info().sha256);
    let audit = reload_audit(&node).await;
    assert_eq!(audit.len(), 2, "{audit:#?}");
    assert_eq!(audit[1]["outcome"], "error");
    assert!(audit[1]["detail"]["error"]
        .as_str()
        .unwrap()
        .contains("does not belong"));
    let _ = run.stop.send(());
    let _ = run.server.await;

    // 2. With the check off, SIGHUP reloads.
    std::fs::write(&cert_path, third.cert_pem()).unwrap();
    std::fs::write(&key_path, third.key_pem()).unwrap();
    let tls = NodeTls::with_settings(
        node.clone(),
        &TlsSettings {
            reload_check_seconds: 0,
            ..TlsSettings::default()
        },
    )
    .unwrap();
    assert_eq!(tls.api_certificate().sha256, third.info().sha256);
    std::fs::write(&cert_path, second.cert_pem()).unwrap();
    std::fs::write(&key_path, second.key_pem()).unwrap();
    let run = start(node.clone(), tls.clone(), false).await;
    // Nothing reloads without the signal.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(tls.api_certificate().sha256, third.info().sha256);
    let pid = std::process::id().to_string();
    let sent = wait_for_certificate(&trust, run.api_port, &second.info().sha256, || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    })
    .await;
    assert!(sent, "SIGHUP did not reload the certificate");
    assert!(own_hup.recv().await.is_some());
    let audit = reload_audit(&node).await;
    let last = audit.last().unwrap();
    assert_eq!(last["detail"]["trigger"], "sighup");
    assert_eq!(last["outcome"], "success");
    let _ = run.stop.send(());
}
