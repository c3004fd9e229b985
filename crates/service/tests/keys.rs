//! Key lifecycle through the service layer, on SQLite and PostgreSQL: the national profile
//! encrypts with SM4-GCM and wraps with SM4; the profile cannot change after init; master-key
//! rotation rewraps every data key without touching data objects, keeps pseudonyms stable, and
//! lets the old version be retired; a version still in use cannot be retired.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::path::Path;

use medspace_service::datasets::IngestRequest;
use medspace_service::reexports::crypto::{object_algorithm, wrapped_key_id, AeadAlgorithm};
use medspace_service::{ConfigOverrides, Node, ServiceError};

mod common;
use common::*;

async fn ingest(node: &Node, officer: &medspace_service::Caller, name: &str) -> String {
    node.ingest(
        officer,
        IngestRequest {
            name: name.into(),
            source_name: format!("{name}.csv"),
            owner: None,
            update_frequency: "monthly".into(),
        },
        Box::new(std::io::Cursor::new(settlements(2000))),
        Box::new(|_| {}),
    )
    .await
    .unwrap()
    .id
}

fn file_bytes(files: &[std::path::PathBuf]) -> Vec<Vec<u8>> {
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[tokio::test]
async fn national_profile_uses_sm4_and_cannot_be_switched() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node_with_profile(tmp.path(), db, Some("national")).await;
        let [officer, ..] = accounts(&node, &otp).await;
        ingest(&node, &officer, "claims").await;
        let objects = object_files(node.dir());
        assert!(!objects.is_empty());
        for f in &objects {
            assert_eq!(
                object_algorithm(&std::fs::read(f).unwrap()).unwrap(),
                AeadAlgorithm::Sm4Gcm,
                "{label}: {}",
                f.display()
            );
        }
        let status = node.key_status().await.unwrap();
        assert_eq!(status.profile, "national");
        node.close().await;

        // Editing medspace.toml to another profile is refused on open, naming both profiles.
        let config = node.dir().join("medspace.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replace("profile = \"national\"", "profile = \"international\""),
        )
        .unwrap();
        let err = Node::open(node.dir(), &ConfigOverrides::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("national") && err.contains("cannot change"),
            "{label}: {err}"
        );
    }
}

#[tokio::test]
async fn rotation_rewraps_keys_without_touching_data_and_old_versions_retire() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (mut node, otp) = new_node(tmp.path(), db).await;
        let [officer, ..] = accounts(&node, &otp).await;
        let raw = ingest(&node, &officer, "claims").await;
        let (deid, _) = node
            .deidentify_dataset(&officer, &raw, POLICY, "p1", "claims_deid")
            .await
            .unwrap();
        let objects_before = file_bytes(&object_files(node.dir()));

        let v1 = node.key_status().await.unwrap().active;
        let report = node.rotate_master_key().await.unwrap();
        assert_eq!(report.previous, v1);
        assert_ne!(report.active, v1);
        // Datasets (2), project keys (2) and the master-key check (1) at least.
        assert!(report.rewrapped >= 5, "{label}: {report:?}");

        // Data objects are byte-for-byte unchanged; every wrapped key names the new version.
        assert_eq!(file_bytes(&object_files(node.dir())), objects_before);
        let status = node.key_status().await.unwrap();
        assert_eq!(status.active, report.active);
        let uses: Vec<(String, usize)> = status
            .versions
            .iter()
            .map(|v| (v.key_id.clone(), v.wrapped_keys))
            .collect();
        assert_eq!(uses[0], (v1.clone(), 0), "{label}");
        assert_eq!(uses[1].0, report.active);

        // Reopened from disk, everything still reads and pseudonyms of a new run are unchanged.
        node.close().await;
        let mut node = Node::open(node.dir(), &ConfigOverrides::default())
            .await
            .unwrap();
        let officer = node
            .authenticate(&login_token(&node, "officer", "New-Passw0rd-2026").await)
            .await
            .unwrap();
        let (again, _) = node
            .deidentify_dataset(&officer, &raw, POLICY, "p1", "claims_deid2")
            .await
            .unwrap();
        // Same source, policy and project after rotation: the same pseudonyms and date shifts,
        // so the same plaintext digest.
        assert_eq!(
            again.content_sha256, deid.content_sha256,
            "{label}: pseudonyms must survive rotation"
        );

        // The active version cannot be retired; the unused old one can, and then is gone.
        assert!(matches!(
            node.retire_master_key(&report.active).await,
            Err(ServiceError::Conflict(_)) | Err(ServiceError::Crypto(_))
        ));
        node.retire_master_key(&v1).await.unwrap();
        let status = node.key_status().await.unwrap();
        assert_eq!(status.versions.len(), 1);
        assert_eq!(status.orphaned, 0);
        node.verify_audit().await.unwrap().unwrap();
        node.close().await;
    }
}

#[tokio::test]
async fn a_version_still_in_use_cannot_be_retired() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut node, otp) = new_node(tmp.path(), None).await;
    let [officer, ..] = accounts(&node, &otp).await;
    ingest(&node, &officer, "claims").await;
    let v1 = node.key_status().await.unwrap().active;
    // Add a version by hand without rewrapping: v1 still protects everything.
    let mut ring = medspace_service::reexports::crypto::Keyring::open(
        Path::new(&node.config().master_key_file),
        node.profile(),
    )
    .unwrap();
    ring.rotate().unwrap();
    let err = node.retire_master_key(&v1).await.unwrap_err();
    assert!(
        matches!(&err, ServiceError::Conflict(m) if m.contains("still protects")),
        "{err}"
    );
    let status = node.key_status().await.unwrap();
    assert!(status
        .versions
        .iter()
        .any(|v| v.key_id == v1 && v.wrapped_keys >= 2));
    for k in node.store().wrapped_keys().await.unwrap() {
        assert_eq!(wrapped_key_id(&k.wrapped).unwrap(), v1);
    }
    node.close().await;
}

#[tokio::test]
async fn destruction_shreds_the_key_and_issues_a_signed_certificate() {
    use medspace_service::reexports::crypto::decrypt_bytes;
    for profile in ["international", "national"] {
        for (label, db) in backends().await {
            let tmp = tempfile::tempdir().unwrap();
            let (node, otp) = new_node_with_profile(tmp.path(), db, Some(profile)).await;
            let [officer, reviewer, researcher, auditor] = accounts(&node, &otp).await;
            let raw = ingest(&node, &officer, "claims").await;
            // An "earlier backup": a copy of every object as it was before destruction.
            let backup: Vec<(std::path::PathBuf, Vec<u8>)> = object_files(node.dir())
                .into_iter()
                .map(|f| {
                    let bytes = std::fs::read(&f).unwrap();
                    (f, bytes)
                })
                .collect();
            let meta = node.store().dataset(&raw).await.unwrap().unwrap();

            for who in [&reviewer, &researcher, &auditor] {
                assert!(matches!(
                    node.destroy_dataset(who, &raw, "end of agreement A-1")
                        .await,
                    Err(ServiceError::Forbidden(_))
                ));
            }
            // T/CI 857-2024 6.4.3: the committee approves first; the officer cannot.
            assert!(matches!(
                node.destroy_dataset(&officer, &raw, "data-use agreement A-1 ended")
                    .await,
                Err(ServiceError::Forbidden(_))
            ));
            assert!(matches!(
                node.approve_destruction(&officer, &raw, "agreement A-1 ended")
                    .await,
                Err(ServiceError::Forbidden(_))
            ));
            // The raw settlements hold C2 columns: two distinct committee members.
            assert_eq!(
                node.approve_destruction(&reviewer, &raw, "agreement A-1 ended")
                    .await
                    .unwrap(),
                (1, 2)
            );
            let reviewer2 = second_reviewer(&node).await;
            assert_eq!(
                node.approve_destruction(&reviewer2, &raw, "agreement A-1 ended")
                    .await
                    .unwrap(),
                (2, 2)
            );
            let cert = node
                .destroy_dataset(&officer, &raw, "data-use agreement A-1 ended")
                .await
                .unwrap();
            cert.verify().unwrap();
            assert_eq!(
                Some(cert.public_key.clone()),
                node.store().setting("identity_public").await.unwrap(),
                "{profile}/{label}"
            );
            let expected_scheme = if profile == "national" {
                "sm2-sm3"
            } else {
                "ed25519"
            };
            assert_eq!(cert.signature_scheme, expected_scheme);
            assert_eq!(cert.dataset_id, raw);
            assert_eq!(cert.destroyed_by, "officer");
            let mut forged = cert.clone();
            forged.agreement = "something else".into();
            assert!(forged.verify().is_err());

            // The key is gone from the store; the object is deleted; the earlier copy cannot be
            // decrypted with any key the node still holds.
            let after = node.store().dataset(&raw).await.unwrap().unwrap();
            assert!(after.is_destroyed());
            assert!(after.wrapped_key.is_empty());
            assert!(!object_files(node.dir())
                .iter()
                .any(|f| f.to_string_lossy().contains(&raw)));
            let old_object = backup
                .iter()
                .find(|(f, _)| f.to_string_lossy().contains(&raw))
                .map(|(_, b)| b.clone())
                .unwrap();
            assert!(!meta.wrapped_key.is_empty());
            let remaining = node.store().wrapped_keys().await.unwrap();
            assert!(remaining.iter().all(|k| k.wrapped != meta.wrapped_key));
            for k in &remaining {
                for context in [raw.as_bytes(), b"medspace/key-check/v1".as_slice()] {
                    if let Ok(key) = node_keys_unwrap(&node, &k.wrapped, context) {
                        assert!(decrypt_bytes(&key, raw.as_bytes(), &old_object).is_err());
                    }
                }
            }

            // Destroyed means gone for every later use, and the destruction is in the audit log.
            assert!(matches!(
                node.destroy_dataset(&officer, &raw, "again please").await,
                Err(ServiceError::Conflict(_))
            ));
            let entries = node.audit_entries(&auditor, 1, 1000).await.unwrap();
            let destroy = entries
                .iter()
                .find(|e| {
                    e.action == "dataset.destroy" && e.outcome == medspace_core::Outcome::Success
                })
                .expect("destruction audited");
            // The refusal before the committee approved is on record too.
            assert!(entries
                .iter()
                .any(|e| e.action == "dataset.destroy"
                    && e.outcome == medspace_core::Outcome::Denied));
            assert!(serde_json::to_string(destroy)
                .unwrap()
                .contains(&cert.signature));
            node.verify_audit().await.unwrap().unwrap();
            node.close().await;
        }
    }
}

/// Unwraps with the node's master key through a keyring opened from its file (tests only).
fn node_keys_unwrap(
    node: &Node,
    wrapped: &[u8],
    context: &[u8],
) -> Result<medspace_service::reexports::crypto::SecretKey, ()> {
    use medspace_service::reexports::crypto::KeyProvider;
    let ring = medspace_service::reexports::crypto::Keyring::open(
        Path::new(&node.config().master_key_file),
        node.profile(),
    )
    .map_err(|_| ())?;
    ring.unwrap(wrapped, context).map_err(|_| ())
}
