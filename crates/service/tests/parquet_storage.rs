//! Datasets are stored as encrypted Parquet (T/CI 857-2024 6.3 and 7.2.5 c); DMS 4.3.1 / 7.2.4):
//! per crypto profile, ingest and de-identification write `datasets/{id}/v1.parquet` objects —
//! Parquet modular encryption (international) or Parquet in the SM4-GCM envelope (national) —
//! no identifier from the input is readable anywhere under the node directory, the sandbox and
//! de-identification read them back, and content in an unknown format is refused clearly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_core::{DatasetKind, DatasetMeta};
use medspace_service::datasets::IngestRequest;
use medspace_service::ServiceError;

mod common;
use common::*;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first record's values of the given columns.
fn first_values(csv: &[u8], columns: &[&str]) -> Vec<String> {
    let mut r = csv::Reader::from_reader(csv);
    let header = r.headers().unwrap().clone();
    let record = r.records().next().unwrap().unwrap();
    columns
        .iter()
        .map(|c| {
            let i = header.iter().position(|h| h == *c).unwrap();
            record.get(i).unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn datasets_are_encrypted_parquet_in_both_profiles() {
    for profile in ["international", "national"] {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node_with_profile(tmp.path(), None, Some(profile)).await;
        let [officer, reviewer, researcher, _] = accounts(&node, &otp).await;
        let input = settlements(2000);
        let raw = node
            .ingest(
                &officer,
                IngestRequest {
                    name: "claims".into(),
                    source_name: "claims.csv".into(),
                    owner: None,
                    update_frequency: "once".into(),
                },
                Box::new(std::io::Cursor::new(input.clone())),
                Box::new(|_| {}),
            )
            .await
            .unwrap();
        assert_eq!(raw.format, "parquet", "{profile}");
        assert!(
            raw.object_key.ends_with("/v1.parquet"),
            "{}",
            raw.object_key
        );
        let (deid, report) = node
            .deidentify_dataset(&officer, &raw.id, POLICY, "p1", "claims_deid")
            .await
            .unwrap();
        assert_eq!(deid.format, "parquet");
        // Pseudonyms and date shifts are keyed with the profile's MAC.
        let mac = if profile == "national" {
            medspace_service::reexports::deid::MacAlgorithm::HmacSm3
        } else {
            medspace_service::reexports::deid::MacAlgorithm::HmacSha256
        };
        assert_eq!(report.mac, mac, "{profile}");
        // The de-identification log (T/CI 857-2024 6.5.3) carries the parameter fingerprint.
        let logged: Vec<serde_json::Value> = node
            .store()
            .audit_entries(1, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| serde_json::from_str::<serde_json::Value>(&e.entry).unwrap())
            .filter(|v| v["action"] == "dataset.deidentify" && v["outcome"] == "success")
            .collect();
        assert_eq!(logged.len(), 1, "{profile}: {logged:?}");
        let detail = logged[0].to_string();
        assert!(
            report.parameter_fingerprint.len() == 64
                && detail.contains(&report.parameter_fingerprint),
            "{profile}: {detail}"
        );
        assert_eq!(deid.row_count, raw.row_count);
        approve_grading(&node, &officer, &reviewer, &deid.id).await;

        // The stored objects: encrypted Parquet, nothing readable.
        let node_dir = tmp.path().join("node");
        let objects = object_files(&node_dir);
        assert_eq!(objects.len(), 2, "{profile}: {objects:?}");
        let magic: &[u8] = if profile == "national" {
            b"MSE1"
        } else {
            b"PARE"
        };
        for o in &objects {
            let bytes = std::fs::read(o).unwrap();
            assert_eq!(&bytes[..4], magic, "{profile}: {}", o.display());
        }
        let identifiers = first_values(&input, &["id_number", "person_name", "mobile", "address"]);
        for path in files_under(&node_dir) {
            let bytes = std::fs::read(&path).unwrap();
            for v in &identifiers {
                assert!(
                    !contains(&bytes, v.as_bytes()),
                    "{profile}: {} holds the identifier {v:?} in plaintext",
                    path.display()
                );
            }
        }

        // The sandbox reads the granted columns back.
        approved_application(
            &node,
            &researcher,
            &reviewer,
            &deid.id,
            &["sex", "total_fee"],
            "fees by sex",
            "aggregates only",
        )
        .await;
        let out = node
            .query(
                &researcher,
                "SELECT sex, count(*) AS n, sum(total_fee) AS fees FROM claims_deid GROUP BY sex",
            )
            .await
            .unwrap();
        let n: i64 = out.rows.iter().map(|r| r[1].as_i64().unwrap()).sum();
        assert_eq!(n, 2000, "{profile}");
        node.verify_audit().await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn content_in_an_unknown_format_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path(), None).await;
    let [officer, ..] = accounts(&node, &otp).await;
    let raw = node
        .ingest(
            &officer,
            IngestRequest {
                name: "claims".into(),
                source_name: "claims.csv".into(),
                owner: None,
                update_frequency: "once".into(),
            },
            Box::new(std::io::Cursor::new(settlements(50))),
            Box::new(|_| {}),
        )
        .await
        .unwrap();
    // A catalog entry from an earlier version, whose content is a CSV envelope.
    let old = DatasetMeta {
        id: "ds-legacy".into(),
        name: "legacy".into(),
        kind: DatasetKind::Raw,
        format: "csv".into(),
        object_key: "datasets/ds-legacy/v1.enc".into(),
        ..raw.clone()
    };
    let event = medspace_core::AuditEvent::new(
        officer.id(),
        "dataset.ingest",
        &old.id,
        medspace_core::Outcome::Success,
    );
    node.store().insert_dataset(&old, &event).await.unwrap();
    let err = node
        .deidentify_dataset(&officer, &old.id, POLICY, "p1", "legacy_deid")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Conflict(ref m) if m.contains("stored as `csv`") && m.contains("Parquet")),
        "{err}"
    );
}
