//! The object store is chosen in medspace.toml (`object_store`) or by MEDSPACE_OBJECT_STORE:
//! encrypted objects go where it says, and a location that cannot work is refused at open,
//! naming the setting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_service::datasets::IngestRequest;
use medspace_service::{ConfigOverrides, Node};

mod common;
use common::*;

#[tokio::test]
async fn objects_go_to_the_configured_store_and_bad_locations_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path(), None).await;
    let dir = node.dir().to_path_buf();
    let [officer, ..] = accounts(&node, &otp).await;
    node.close().await;

    let elsewhere = tmp.path().join("vault-objects");
    let config = dir.join("medspace.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("object_store = \"objects\""), "{text}");
    std::fs::write(
        &config,
        text.replace(
            "object_store = \"objects\"",
            &format!("object_store = \"file://{}\"", elsewhere.display()),
        ),
    )
    .unwrap();
    let node = Node::open(&dir, &ConfigOverrides::default()).await.unwrap();
    let officer = node
        .authenticate(&login_token(&node, "officer", "New-Passw0rd-2026").await)
        .await
        .unwrap_or(officer);
    node.ingest(
        &officer,
        IngestRequest {
            name: "claims".into(),
            source_name: "claims.csv".into(),
            owner: None,
            update_frequency: "once".into(),
        },
        Box::new(std::io::Cursor::new(settlements(200))),
        Box::new(|_| {}),
    )
    .await
    .unwrap();
    assert_eq!(files_under(&elsewhere).len(), 1);
    assert_eq!(files_under(&dir.join("objects")).len(), 0);
    node.close().await;

    for (bad, needle) in [
        ("ftp://example/x", "object_store"),
        (
            "s3://bucket/p?endpoint=http://10.1.2.3:9000",
            "object_store",
        ),
    ] {
        let overrides = ConfigOverrides {
            object_store: Some(bad.into()),
            ..Default::default()
        };
        let err = Node::open(&dir, &overrides).await.unwrap_err().to_string();
        assert!(err.contains(needle), "{bad}: {err}");
    }
}
