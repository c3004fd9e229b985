//! The trusted flow through the service layer, on SQLite and (with MEDSPACE_TEST_PG_URL) PostgreSQL:
//! default deny, grants limited to approved columns, sandbox refusals, export review, fail-closed
//! audit, and bad input that leaves nothing behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_core::Outcome;
use medspace_service::datasets::IngestRequest;
use medspace_service::workflow::ApplicationRequest;
use medspace_service::ServiceError;

mod common;
use common::*;

#[tokio::test]
async fn the_trusted_flow_enforces_grants_and_refusals() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db).await;
        let [officer, reviewer, researcher, auditor] = accounts(&node, &otp).await;

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
        assert_eq!(raw.row_count, 2000, "{label}");
        assert!(
            raw.level.get() >= 4,
            "raw settlement data holds direct identifiers ({label})"
        );

        let (deid, report) = node
            .deidentify_dataset(&officer, &raw.id, POLICY, "p1", "claims_deid")
            .await
            .unwrap();
        assert!(report.k_anonymity.passed);
        assert_eq!(deid.lineage.as_ref().unwrap().source_id, raw.id);
        approve_grading(&node, &officer, &reviewer, &deid.id).await;

        // Default deny before approval: the catalog entry and queries are refused (403).
        assert!(
            matches!(
                node.get_dataset(&researcher, &deid.id).await,
                Err(ServiceError::Forbidden(_))
            ),
            "{label}"
        );
        assert!(matches!(
            node.query(&researcher, "SELECT count(*) FROM claims_deid")
                .await,
            Err(ServiceError::Forbidden(_))
        ));
        // Raw data is never released: no application for it.
        let raw_app = node
            .apply(
                &researcher,
                ApplicationRequest {
                    dataset_id: raw.id.clone(),
                    columns: vec!["sex".into()],
                    purpose: "wants the raw data please".into(),
                    period_days: 30,
                    ..Default::default()
                },
            )
            .await;
        assert!(matches!(raw_app, Err(ServiceError::Forbidden(_))));

        let app = node
            .apply(
                &researcher,
                ApplicationRequest {
                    dataset_id: deid.id.clone(),
                    columns: vec!["sex".into(), "visit_type".into(), "total_fee".into()],
                    purpose: "cost burden by visit type".into(),
                    period_days: 30,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        // Applicants cannot approve; reviewers can.
        assert!(matches!(
            node.decide_application(&researcher, &app.id, true, "self")
                .await,
            Err(ServiceError::Forbidden(_))
        ));
        node.decide_application(&reviewer, &app.id, true, "minimum necessary")
            .await
            .unwrap();
        node.get_dataset(&researcher, &deid.id).await.unwrap();

        let ok = node
            .query(&researcher, "SELECT visit_type, count(*) AS n, sum(total_fee) AS fees FROM claims_deid GROUP BY visit_type")
            .await
            .unwrap();
        // Rows of special diseases are withheld: the application named none (§6.2 e)).
        let total: i64 = ok.rows.iter().map(|r| r[1].as_i64().unwrap()).sum();
        let filter = &ok.row_filter[0];
        assert_eq!(total as u64, filter.rows_visible, "{label}");
        assert_eq!(filter.rows_visible + filter.rows_withheld, 2000, "{label}");
        for sql in [
            "SELECT diagnosis_code, count(*) FROM claims_deid GROUP BY diagnosis_code",
            "SELECT * FROM claims_deid",
            "SELECT total_fee, count(*) FROM claims_deid GROUP BY total_fee",
            "DELETE FROM claims_deid",
            "SELECT count(*) FROM claims_deid WHERE no_such_column = '110101199003077777'",
        ] {
            assert!(
                matches!(
                    node.query(&researcher, sql).await,
                    Err(ServiceError::Query(_))
                ),
                "{label}: {sql}"
            );
        }

        let export = node
            .request_export(&researcher, &ok.query_id, "tables for the study report")
            .await
            .unwrap();
        assert!(matches!(
            node.download_export(&researcher, &export.id).await,
            Err(ServiceError::Forbidden(_))
        ));
        node.decide_export(&reviewer, &export.id, true, "aggregates")
            .await
            .unwrap();
        let csv = node.download_export(&researcher, &export.id).await.unwrap();
        assert!(String::from_utf8(csv)
            .unwrap()
            .starts_with("visit_type,n,fees"));

        let entries = node.audit_entries(&auditor, 1, 1000).await.unwrap();
        assert!(entries
            .iter()
            .any(|e| e.action == "sandbox.query" && e.outcome == Outcome::Denied));
        assert!(entries
            .iter()
            .any(|e| e.action == "export.download" && e.outcome == Outcome::Success));
        // Refusals are audited by code, never by a message that could quote what the user typed.
        let refusals: Vec<String> = entries
            .iter()
            .filter(|e| e.action == "sandbox.query" && e.outcome == Outcome::Denied)
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        assert!(
            refusals.iter().any(|r| r.contains("column_not_granted")),
            "{label}"
        );
        assert!(
            refusals.iter().any(|r| r.contains("small_group")),
            "{label}"
        );
        assert!(
            refusals.iter().all(|r| !r.contains("110101199003077777")),
            "{label}"
        );
        assert!(matches!(
            node.audit_entries(&researcher, 1, 10).await,
            Err(ServiceError::Forbidden(_))
        ));
        node.verify_audit().await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn malformed_csv_names_line_and_column_and_stores_nothing() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db).await;
        let [officer, ..] = accounts(&node, &otp).await;
        let err = node
            .ingest(
                &officer,
                IngestRequest {
                    name: "bad".into(),
                    source_name: "bad.csv".into(),
                    owner: None,
                    update_frequency: "once".into(),
                },
                Box::new(std::io::Cursor::new(b"a,b,c\n1,2,3\n4,5\n".to_vec())),
                Box::new(|_| {}),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad.csv:3:3: expected 3 fields as in the header row, found 2",
            "{label}"
        );
        assert!(node.list_datasets(&officer).await.unwrap().is_empty());
        assert!(
            object_files(&tmp.path().join("node")).is_empty(),
            "{label}: staged object left behind"
        );
    }
}

#[tokio::test]
async fn an_audit_failure_fails_the_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path(), None).await;
    let [officer, ..] = accounts(&node, &otp).await;
    // Make every audit append fail, directly in the database.
    let url = format!("sqlite://{}", tmp.path().join("node/medspace.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TRIGGER no_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END;")
        .execute(&pool)
        .await
        .unwrap();
    let result = node
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
        .await;
    assert!(result.is_err(), "ingest succeeded without its audit entry");
    assert!(
        node.list_datasets(&officer).await.is_err(),
        "a read succeeded without its audit entry"
    );
    sqlx::query("DROP TRIGGER no_audit")
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        node.list_datasets(&officer).await.unwrap().is_empty(),
        "the failed ingest left a catalog entry"
    );
    assert!(
        object_files(&tmp.path().join("node")).is_empty(),
        "the failed ingest left an object"
    );
}

#[tokio::test]
async fn idle_sessions_end_and_repeated_failures_lock_the_account() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path(), None).await;
    let [officer, ..] = accounts(&node, &otp).await;
    // GB/T 39725-2020 §11.1.2.4: a session idle for longer than 10 minutes ends.
    let token = login_token(&node, "officer", "New-Passw0rd-2026").await;
    let caller = node.authenticate(&token).await.unwrap();
    node.store()
        .touch_session(
            &caller.token_hash,
            chrono::Utc::now() - chrono::Duration::minutes(11),
        )
        .await
        .unwrap();
    let err = node.authenticate(&token).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::Unauthenticated(ref m) if m.contains("10 minutes")),
        "{err}"
    );
    // A session in use stays valid.
    let fresh = login_token(&node, "officer", "New-Passw0rd-2026").await;
    assert_eq!(
        node.authenticate(&fresh).await.unwrap().user.id,
        officer.user.id
    );
    // Five wrong passwords lock the account; the right one no longer works.
    for _ in 0..5 {
        assert!(node.login("officer", "Wrong-Passw0rd-1").await.is_err());
    }
    let err = node
        .login("officer", "New-Passw0rd-2026")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
}
