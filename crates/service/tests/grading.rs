//! Approved gradings (GB/T 39725-2020 §6, §9.2 a) 8); T/CI 857-2024 6.2, 7.2.6), on SQLite and
//! (with MEDSPACE_TEST_PG_URL) PostgreSQL: ingest proposes the scan report, the officer edits and
//! confirms, the committee approves or rejects, every step is audited with before and after and
//! kept in an append-only history, and the sandbox refuses datasets whose grading is not approved.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_core::Outcome;
use medspace_service::datasets::IngestRequest;
use medspace_service::grading::{ColumnOverride, GradingStatus};
use medspace_service::reexports::classify::{self, report::SpecialDiseaseClass, ScanConfig};
use medspace_service::workflow::ApplicationRequest;
use medspace_service::ServiceError;

mod common;
use common::*;

const ROWS: u64 = 3000;

#[tokio::test]
async fn gradings_are_proposed_confirmed_approved_audited_and_gate_the_sandbox() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db.clone()).await;
        let [officer, reviewer, researcher, auditor] = accounts(&node, &otp).await;
        // Step 1 is the scanner's proposal: exactly the columns `medspace scan` prints for the
        // same file (same seeded reservoir sample of 2,000 of the 3,000 rows).
        let big = settlements(ROWS);
        let sampled = node
            .ingest(
                &officer,
                IngestRequest {
                    name: "claims_big".into(),
                    source_name: "claims_big.csv".into(),
                    owner: None,
                    update_frequency: "monthly".into(),
                },
                Box::new(std::io::Cursor::new(big.clone())),
                Box::new(|_| {}),
            )
            .await
            .unwrap();
        let proposed = node.grading(&officer, &sampled.id).await.unwrap();
        assert_eq!(
            (proposed.seq, proposed.action.as_str(), proposed.status),
            (1, "propose", GradingStatus::Proposed),
            "{label}"
        );
        let scanned = classify::scan_report(&big[..], &ScanConfig::default()).unwrap();
        assert_eq!((scanned.rows_scanned, scanned.rows_total), (2000, ROWS));
        assert_eq!(
            serde_json::to_value(&proposed.columns).unwrap(),
            serde_json::to_value(&scanned.columns).unwrap(),
            "{label}: the proposal is the scan report"
        );

        let raw = node
            .ingest(
                &officer,
                IngestRequest {
                    name: "claims".into(),
                    source_name: "claims.csv".into(),
                    owner: None,
                    update_frequency: "monthly".into(),
                },
                Box::new(std::io::Cursor::new(settlements(2000))),
                Box::new(|_| {}),
            )
            .await
            .unwrap();
        let (deid, _) = node
            .deidentify_dataset(&officer, &raw.id, POLICY, "p1", "claims_deid")
            .await
            .unwrap();
        assert_eq!(
            node.grading(&officer, &deid.id).await.unwrap().status,
            GradingStatus::Proposed
        );
        let app = node
            .apply(
                &researcher,
                ApplicationRequest {
                    dataset_id: deid.id.clone(),
                    columns: vec!["visit_type".into(), "total_fee".into()],
                    purpose: "cost burden by visit type (grading test)".into(),
                    period_days: 30,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        node.decide_application(&reviewer, &app.id, true, "minimum necessary")
            .await
            .unwrap();
        let sql = "SELECT visit_type, count(*) AS n FROM claims_deid GROUP BY visit_type";

        // An approved application is not enough: the grading is only proposed (fail closed).
        let refused = node.query(&researcher, sql).await;
        assert!(
            matches!(&refused, Err(ServiceError::Forbidden(m)) if m.contains("not approved")),
            "{label}: {refused:?}"
        );

        // Roles: only officers edit and confirm, only the committee decides.
        let edit = ColumnOverride {
            level: Some(3),
            ..ColumnOverride::default()
        };
        for who in [&researcher, &reviewer, &auditor] {
            assert!(matches!(
                node.override_grading(who, &deid.id, "total_fee", &edit, "raise it")
                    .await,
                Err(ServiceError::Forbidden(_))
            ));
        }
        assert!(matches!(
            node.decide_grading(&officer, &deid.id, true, "self-approval")
                .await,
            Err(ServiceError::Forbidden(_))
        ));
        // The committee decides confirmed gradings only.
        assert!(matches!(
            node.decide_grading(&reviewer, &deid.id, true, "too early")
                .await,
            Err(ServiceError::Conflict(_))
        ));

        // Overrides that contradict the standard are refused and leave nothing behind.
        let special_below_5 = ColumnOverride {
            special_disease: Some(vec![SpecialDiseaseClass::Infectious]),
            ..ColumnOverride::default()
        };
        let err = node
            .override_grading(&officer, &deid.id, "total_fee", &special_below_5, "test")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("level 5"), "{err}");
        assert!(matches!(
            node.override_grading(&officer, &deid.id, "no_such_column", &edit, "test")
                .await,
            Err(ServiceError::NotFound(_))
        ));
        assert!(matches!(
            node.override_grading(&officer, &deid.id, "total_fee", &edit, "")
                .await,
            Err(ServiceError::BadRequest(_))
        ));
        assert_eq!(
            node.grading_history(&officer, &deid.id)
                .await
                .unwrap()
                .len(),
            1
        );

        // The officer raises a column's level, with before and after recorded.
        let before = proposed_level(&node, &officer, &deid.id, "total_fee").await;
        assert_eq!(before, 2, "{label}: amounts are proposed at level 2");
        let step = node
            .override_grading(
                &officer,
                &deid.id,
                "total_fee",
                &edit,
                "fees of single visits can single out rare treatments",
            )
            .await
            .unwrap();
        assert_eq!((step.seq, step.status), (2, GradingStatus::Proposed));
        assert_eq!(step.changes.len(), 1);
        assert_eq!(step.changes[0].field, "level");
        assert_eq!(step.changes[0].before, serde_json::json!(2));
        assert_eq!(step.changes[0].after, serde_json::json!(3));

        // Confirm, reject, confirm again, approve.
        let c = node
            .confirm_grading(&officer, &deid.id, "all columns reviewed")
            .await
            .unwrap();
        assert_eq!(c.status, GradingStatus::Confirmed);
        assert!(matches!(
            node.confirm_grading(&officer, &deid.id, "again").await,
            Err(ServiceError::Conflict(_))
        ));
        let r = node
            .decide_grading(
                &reviewer,
                &deid.id,
                false,
                "diagnosis level to be justified",
            )
            .await
            .unwrap();
        assert_eq!(r.status, GradingStatus::Rejected);
        assert!(matches!(
            node.query(&researcher, sql).await,
            Err(ServiceError::Forbidden(_))
        ));
        node.confirm_grading(&officer, &deid.id, "justification attached")
            .await
            .unwrap();
        let a = node
            .decide_grading(
                &reviewer,
                &deid.id,
                true,
                "grading follows Table 1 and §6.2",
            )
            .await
            .unwrap();
        assert_eq!((a.seq, a.status), (6, GradingStatus::Approved));

        // The catalog shows the approved grading, and the sandbox now answers.
        let entry = node.get_dataset(&officer, &deid.id).await.unwrap();
        let fee = entry
            .classification
            .iter()
            .find(|c| c.name == "total_fee")
            .unwrap();
        assert_eq!(fee.level.get(), 3, "{label}");
        let result = node.query(&researcher, sql).await.unwrap();
        assert!(!result.rows.is_empty());

        // Any later edit withdraws the approval until the committee approves again.
        let lower = ColumnOverride {
            level: Some(2),
            ..ColumnOverride::default()
        };
        node.override_grading(&officer, &deid.id, "total_fee", &lower, "back to level 2")
            .await
            .unwrap();
        assert!(matches!(
            node.query(&researcher, sql).await,
            Err(ServiceError::Forbidden(_))
        ));

        // The whole history, in order.
        let history = node.grading_history(&auditor, &deid.id).await.unwrap();
        let actions: Vec<&str> = history.iter().map(|s| s.action.as_str()).collect();
        assert_eq!(
            actions,
            ["propose", "override", "confirm", "reject", "confirm", "approve", "override"],
            "{label}"
        );
        assert!(history.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        let statuses = node.grading_statuses(&reviewer).await.unwrap();
        assert!(statuses
            .iter()
            .any(|(id, seq, st)| id == &deid.id && *seq == 7 && *st == GradingStatus::Proposed));
        assert!(statuses
            .iter()
            .any(|(id, _, st)| id == &raw.id && *st == GradingStatus::Proposed));

        // Every step is in the audit log, overrides with before and after; the refused query too.
        let entries = node.audit_entries(&auditor, 1, 1000).await.unwrap();
        let overrides: Vec<_> = entries
            .iter()
            .filter(|e| e.action == "grading.override" && e.target == deid.id)
            .collect();
        assert_eq!(overrides.len(), 2, "{label}");
        assert_eq!(overrides[0].detail["changes"][0]["before"], 2);
        assert_eq!(overrides[0].detail["changes"][0]["after"], 3);
        assert_eq!(overrides[1].detail["status_before"], "approved");
        assert_eq!(overrides[1].detail["status_after"], "proposed");
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.action == "grading.decide" && e.target == deid.id)
                .count(),
            2
        );
        assert!(entries.iter().any(|e| e.action == "sandbox.query"
            && e.outcome == Outcome::Denied
            && e.detail["reason"] == "grading not approved"));

        // The history table is append-only in the database itself.
        append_only_in_the_database(tmp.path(), db.as_deref()).await;
        node.close().await;
    }
}

async fn proposed_level(
    node: &medspace_service::Node,
    who: &medspace_service::Caller,
    dataset: &str,
    column: &str,
) -> u8 {
    node.grading(who, dataset)
        .await
        .unwrap()
        .columns
        .iter()
        .find(|c| c.name == column)
        .unwrap()
        .level
}

async fn append_only_in_the_database(tmp: &std::path::Path, db: Option<&str>) {
    let statements = [
        "UPDATE dataset_gradings SET status = 'approved'",
        "DELETE FROM dataset_gradings",
    ];
    match db {
        None => {
            let url = format!(
                "sqlite://{}",
                tmp.join("node").join("medspace.db").display()
            );
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            for s in statements {
                let err = sqlx::query(s).execute(&pool).await.unwrap_err();
                assert!(err.to_string().contains("append-only"), "{err}");
            }
            pool.close().await;
        }
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            for s in statements {
                let err = sqlx::query(s).execute(&pool).await.unwrap_err();
                assert!(err.to_string().contains("append-only"), "{err}");
            }
            pool.close().await;
        }
    }
}
