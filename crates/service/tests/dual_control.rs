//! DMS 4.3.2 "双人双锁" through the service layer: an application or export that covers important
//! (C2) data needs two distinct committee members; one approval only records the first lock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_core::classification::DmsClass;
use medspace_core::Decision;
use medspace_service::workflow::ApplicationRequest;
use medspace_service::ServiceError;

mod common;
use common::*;

#[tokio::test]
async fn important_data_needs_two_distinct_approvers_for_each_lock() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db).await;
        let [officer, reviewer, researcher, auditor] = accounts(&node, &otp).await;
        let reviewer2 = second_reviewer(&node).await;

        let raw = ingest_claims(&node, &officer, settlements(2000)).await;
        // Keep the designated-institution code: health-resource data, important (C2).
        let policy = format!("{POLICY}[columns.institution_code]\naction = \"keep\"\n");
        let (deid, _) = node
            .deidentify_dataset(&officer, &raw.id, &policy, "p1", "claims_deid")
            .await
            .unwrap();
        approve_grading(&node, &officer, &reviewer, &deid.id).await;
        let meta = node.get_dataset(&officer, &deid.id).await.unwrap();
        let class = |c: &str| {
            meta.classification
                .iter()
                .find(|k| k.name == c)
                .map(|k| k.dms_class)
        };
        assert_eq!(class("institution_code"), Some(DmsClass::C2), "{label}");
        assert_eq!(class("visit_type"), Some(DmsClass::C1), "{label}");

        let apply = |columns: &[&str]| ApplicationRequest {
            dataset_id: deid.id.clone(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            purpose: "service volume by institution".into(),
            period_days: 30,
            ..Default::default()
        };
        // C1 columns only: one approver, as before.
        let plain = node
            .apply(&researcher, apply(&["visit_type", "total_fee"]))
            .await
            .unwrap();
        let decided = node
            .decide_application(&reviewer, &plain.id, true, "minimum necessary")
            .await
            .unwrap();
        assert_eq!(decided.status, Decision::Approved, "{label}");

        // A C2 column: the first approval is only the first lock.
        let app = node
            .apply(&researcher, apply(&["institution_code", "visit_type"]))
            .await
            .unwrap();
        let first = node
            .decide_application(&reviewer, &app.id, true, "needed for the volume study")
            .await
            .unwrap();
        assert_eq!(first.status, Decision::Pending, "{label}");
        // The same person again does not count as the second.
        assert!(
            matches!(
                node.decide_application(&reviewer, &app.id, true, "again")
                    .await,
                Err(ServiceError::Conflict(_))
            ),
            "{label}"
        );
        // Until the second lock opens, the C2 column is not queryable.
        assert!(node
            .query(
                &researcher,
                "SELECT institution_code, count(*) FROM claims_deid GROUP BY institution_code"
            )
            .await
            .is_err());
        let second = node
            .decide_application(&reviewer2, &app.id, true, "agreed, aggregated only")
            .await
            .unwrap();
        assert_eq!(second.status, Decision::Approved, "{label}");
        assert_eq!(second.decided_by.as_deref(), Some(reviewer2.id()));

        // The export of a result from a caller holding C2 data: two approvers again.
        let result = node
            .query(
                &researcher,
                "SELECT visit_type, count(*) AS n FROM claims_deid GROUP BY visit_type",
            )
            .await
            .unwrap();
        let export = node
            .request_export(
                &researcher,
                &result.query_id,
                "tables for the volume report",
            )
            .await
            .unwrap();
        let first = node
            .decide_export(&reviewer2, &export.id, true, "aggregates only")
            .await
            .unwrap();
        assert_eq!(first.status, Decision::Pending, "{label}");
        assert!(matches!(
            node.download_export(&researcher, &export.id).await,
            Err(ServiceError::Forbidden(_))
        ));
        // Either person may still reject: the export ends there.
        let rejected = node
            .decide_export(&reviewer, &export.id, false, "institution counts too small")
            .await
            .unwrap();
        assert_eq!(rejected.status, Decision::Rejected, "{label}");
        let again = node
            .request_export(
                &researcher,
                &result.query_id,
                "tables for the volume report, v2",
            )
            .await
            .unwrap();
        node.decide_export(&reviewer, &again.id, true, "aggregates only")
            .await
            .unwrap();
        let done = node
            .decide_export(&reviewer2, &again.id, true, "agreed")
            .await
            .unwrap();
        assert_eq!(done.status, Decision::Approved, "{label}");
        node.download_export(&researcher, &again.id).await.unwrap();

        // Every lock is in the audit log, the final decision naming the first approver.
        let entries = node.audit_entries(&auditor, 1, 1000).await.unwrap();
        let firsts: Vec<_> = entries
            .iter()
            .filter(|e| e.action.ends_with(".approve_first"))
            .map(|e| (e.action.as_str(), e.actor.as_str()))
            .collect();
        assert_eq!(
            firsts,
            vec![
                ("application.approve_first", reviewer.id()),
                ("export.approve_first", reviewer2.id()),
                ("export.approve_first", reviewer.id()),
            ],
            "{label}"
        );
        let decide = entries
            .iter()
            .find(|e| e.action == "application.decide" && e.target == app.id)
            .unwrap();
        assert_eq!(
            decide.detail["first_approver"].as_str(),
            Some(reviewer.id()),
            "{label}"
        );

        // Destroying the dataset (a bulk modification, T/CI 857-2024 6.4.3) needs two distinct
        // committee members too, because it holds C2 columns.
        assert_eq!(
            node.approve_destruction(&reviewer, &deid.id, "study ended")
                .await
                .unwrap(),
            (1, 2)
        );
        assert!(matches!(
            node.destroy_dataset(&officer, &deid.id, "study agreement S-1 ended")
                .await,
            Err(ServiceError::Forbidden(_))
        ));
        assert_eq!(
            node.approve_destruction(&reviewer2, &deid.id, "agreed")
                .await
                .unwrap(),
            (2, 2)
        );
        node.destroy_dataset(&officer, &deid.id, "study agreement S-1 ended")
            .await
            .unwrap();
        node.verify_audit().await.unwrap().unwrap();
    }
}
