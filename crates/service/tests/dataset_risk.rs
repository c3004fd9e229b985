//! The re-identification test on a stored dataset (GB/T 39725-2020 §11.4.2.4), inside the
//! node: the figures equal those of `medspace risk` (`medspace_deid::file_risk`) on the CSV
//! that was ingested, only security officers may ask, unknown columns are named, and every
//! request is audited with its figures but no value.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_service::reexports::deid::{file_risk, NoProgress, DEFAULT_RISK_THRESHOLD};
use medspace_service::ServiceError;

mod common;
use common::*;

#[tokio::test]
async fn a_stored_dataset_has_the_risk_of_the_file_it_came_from() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db).await;
        let [officer, _reviewer, researcher, _] = accounts(&node, &otp).await;
        let input = settlements(3000);
        let raw = ingest_claims(&node, &officer, input.clone()).await;
        let qis = vec!["sex".to_string(), "birth_date".to_string()];
        let risk = node
            .dataset_risk(&officer, &raw.id, &qis, Some("diagnosis_code"), Some(1e6))
            .await
            .unwrap();
        let expected = file_risk(
            input.as_slice(),
            &qis,
            Some("diagnosis_code"),
            None,
            DEFAULT_RISK_THRESHOLD,
            Some(1e6),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(risk, expected, "{label}");
        assert_eq!(risk.records, 3000, "{label}");

        // Least privilege: a data user may not run it; unknown columns are named.
        let denied = node
            .dataset_risk(&researcher, &raw.id, &qis, None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(denied, ServiceError::Forbidden(_)),
            "{label}: {denied}"
        );
        let unknown = node
            .dataset_risk(&officer, &raw.id, &["postcode".to_string()], None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&unknown, ServiceError::BadRequest(m) if m.contains("`postcode`") && m.contains("birth_date")),
            "{label}: {unknown}"
        );
        let none = node.dataset_risk(&officer, &raw.id, &[], None, None).await;
        assert!(matches!(none, Err(ServiceError::BadRequest(_))), "{label}");

        // Audited, with the figures and no value.
        let entries: Vec<serde_json::Value> = node
            .store()
            .audit_entries(1, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| serde_json::from_str(&e.entry).unwrap())
            .filter(|v: &serde_json::Value| v["action"] == "dataset.risk")
            .collect();
        assert_eq!(entries.len(), 1, "{label}: {entries:?}");
        let text = entries[0].to_string();
        assert!(text.contains("\"records\":3000"), "{label}: {text}");
        let mut reader = csv::Reader::from_reader(input.as_slice());
        let at = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "birth_date")
            .unwrap();
        let first_birth_date = reader
            .records()
            .next()
            .unwrap()
            .unwrap()
            .get(at)
            .unwrap()
            .to_string();
        assert!(!text.contains(&first_birth_date), "{label}: {text}");
        node.verify_audit().await.unwrap().unwrap();
    }
}
