//! GB/T 39725-2020 §10.2 f)–h) through the service layer: a de-identified dataset produced with
//! a patient code index can be traced back to a patient only by the re-identification officer,
//! only after a committee member's approval, once, and every step is audited with the subject's
//! node pseudonym (never the identity).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_core::{Outcome, Role};
use medspace_service::audit_query::EventFilter;
use medspace_service::reidentification::DeidentifyOptions;
use medspace_service::{Caller, Node, ServiceError};

mod common;
use common::*;

async fn user(node: &Node, name: &str, role: Role) -> Caller {
    let admin = node
        .authenticate(&login_token(node, "admin", "New-Passw0rd-2026").await)
        .await
        .unwrap();
    let (_, otp) = node.create_user(&admin, name, role).await.unwrap();
    activate(node, name, &otp).await
}

/// The source's id numbers, with how many rows each has.
fn id_counts(csv: &[u8]) -> std::collections::HashMap<String, i64> {
    let mut r = csv::Reader::from_reader(csv);
    let pos = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "id_number")
        .unwrap();
    let mut counts = std::collections::HashMap::new();
    for rec in r.records() {
        *counts.entry(rec.unwrap()[pos].to_string()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn a_pseudonym_is_resolved_only_by_the_officer_after_a_second_persons_approval() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db).await;
        let [officer, reviewer, researcher, auditor] = accounts(&node, &otp).await;
        let reid = user(&node, "reid", Role::ReidentificationOfficer).await;
        let reid2 = user(&node, "reid2", Role::ReidentificationOfficer).await;
        let source = settlements(2000);
        let counts = id_counts(&source);
        let raw = ingest_claims(&node, &officer, source.clone()).await;

        // Without an index nothing can be resolved.
        let (plain, _) = node
            .deidentify_dataset(&officer, &raw.id, POLICY, "p1", "claims_plain")
            .await
            .unwrap();
        let none = node
            .request_reidentification(&reid, &plain.id, "id_number", "x", "adverse event")
            .await;
        assert!(
            matches!(none, Err(ServiceError::NotFound(_))),
            "{label}: {none:?}"
        );

        let (deid, _) = node
            .deidentify_dataset_with(
                &officer,
                &raw.id,
                POLICY,
                "p1",
                "claims_deid",
                DeidentifyOptions { code_index: true },
            )
            .await
            .unwrap();
        approve_grading(&node, &officer, &reviewer, &deid.id).await;

        // A researcher sees only pseudonyms; one of them is the subject of a safety signal.
        approved_application(
            &node,
            &researcher,
            &reviewer,
            &deid.id,
            &["id_number", "total_fee"],
            "drug safety signal follow-up",
            "pharmacovigilance",
        )
        .await;
        let out = node
            .query(&researcher, "SELECT min(id_number) AS p FROM claims_deid")
            .await
            .unwrap();
        let pseudonym = out.rows[0][0].as_str().unwrap().to_string();
        assert!(!counts.contains_key(&pseudonym), "{label}: not a pseudonym");

        // Only the designated officer may ask, with a reason.
        for other in [&officer, &researcher, &reviewer, &auditor] {
            let r = node
                .request_reidentification(other, &deid.id, "id_number", &pseudonym, "why")
                .await;
            assert!(matches!(r, Err(ServiceError::Forbidden(_))), "{label}");
        }
        let empty = node
            .request_reidentification(&reid, &deid.id, "id_number", &pseudonym, "  ")
            .await;
        assert!(matches!(empty, Err(ServiceError::BadRequest(_))), "{label}");
        // A pseudonym that is not in the index: refused, and the probe is audited.
        let miss = node
            .request_reidentification(&reid, &deid.id, "id_number", "0000", "adverse event")
            .await;
        assert!(matches!(miss, Err(ServiceError::NotFound(_))), "{label}");

        let req = node
            .request_reidentification(
                &reid,
                &deid.id,
                "id_number",
                &pseudonym,
                "serious adverse drug reaction: the treating hospital must contact the patient",
            )
            .await
            .unwrap();
        assert_eq!(req.status, "pending");
        // Not yet approved: nothing is handed out.
        let early = node.resolve_reidentification(&reid, &req.id).await;
        assert!(
            matches!(early, Err(ServiceError::Conflict(_))),
            "{label}: {early:?}"
        );
        // The officer is not the second person; a committee member is.
        let self_approval = node
            .decide_reidentification(&reid, &req.id, true, "urgent")
            .await;
        assert!(
            matches!(self_approval, Err(ServiceError::Forbidden(_))),
            "{label}"
        );
        let decided = node
            .decide_reidentification(&reviewer, &req.id, true, "patient safety outweighs")
            .await
            .unwrap();
        assert_eq!(decided.status, "approved");
        let twice = node
            .decide_reidentification(&reviewer, &req.id, false, "changed my mind")
            .await;
        assert!(matches!(twice, Err(ServiceError::Conflict(_))), "{label}");

        // Another officer cannot use someone else's approval.
        let stolen = node.resolve_reidentification(&reid2, &req.id).await;
        assert!(matches!(stolen, Err(ServiceError::Forbidden(_))), "{label}");
        let resolved = node.resolve_reidentification(&reid, &req.id).await.unwrap();
        let identity = resolved.identity.to_string();
        // The identity is one of the source's id numbers (that it is the right one is checked
        // with known keys in the unit tests of `reidentification`, and below through the
        // subject's disclosure history).
        assert!(counts.contains_key(&identity), "{label}");
        // Once.
        let again = node.resolve_reidentification(&reid, &req.id).await;
        assert!(matches!(again, Err(ServiceError::Conflict(_))), "{label}");

        // A rejected request is never resolved.
        let req2 = node
            .request_reidentification(&reid, &deid.id, "id_number", &pseudonym, "curiosity")
            .await
            .unwrap();
        node.decide_reidentification(&reviewer, &req2.id, false, "no need")
            .await
            .unwrap();
        let rejected = node.resolve_reidentification(&reid, &req2.id).await;
        assert!(
            matches!(rejected, Err(ServiceError::Conflict(_))),
            "{label}"
        );

        let listed = node.reidentification_requests(&auditor).await.unwrap();
        assert_eq!(
            listed.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
            ["resolved", "rejected"],
            "{label}"
        );
        assert!(node.reidentification_requests(&researcher).await.is_err());

        // The resolution is in the patient's disclosure history (found by the identity) …
        let history = node
            .subject_history(&auditor, std::slice::from_ref(&identity))
            .await
            .unwrap();
        let actions: Vec<&str> = history.entries.iter().map(|e| e.action.as_str()).collect();
        for a in [
            "reidentification.request",
            "reidentification.approve",
            "reidentification.resolve",
        ] {
            assert!(
                actions.contains(&a),
                "{label}: {a} missing from {actions:?}"
            );
        }
        // … and nowhere in the log is the identity or the pseudonym written out.
        let entries = node.audit_entries(&auditor, 1, 1000).await.unwrap();
        let text = serde_json::to_string(&entries).unwrap();
        assert!(
            !text.contains(&identity),
            "{label}: identity in the audit log"
        );
        assert!(
            !text.contains(&pseudonym),
            "{label}: pseudonym in the audit log"
        );
        let probes = node
            .audit_events(
                &auditor,
                &EventFilter {
                    action: Some("reidentification.request".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            probes.iter().any(|e| e.outcome == Outcome::Error),
            "{label}: the miss was not audited"
        );
        let created = node
            .audit_events(
                &auditor,
                &EventFilter {
                    action: Some("reidentification.index.create".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(created.len(), 1, "{label}");
        assert_eq!(
            created[0].detail["entries"]["id_number"].as_u64(),
            Some(counts.len() as u64),
            "{label}"
        );
        node.verify_audit().await.unwrap().unwrap();

        // The index leaves with its dataset.
        node.approve_destruction(&reviewer, &deid.id, "study closed, agreement A-7")
            .await
            .unwrap();
        node.destroy_dataset(&officer, &deid.id, "agreement A-7 ends")
            .await
            .unwrap();
        let gone = node
            .request_reidentification(&reid, &deid.id, "id_number", &pseudonym, "follow-up")
            .await;
        assert!(matches!(gone, Err(ServiceError::NotFound(_))), "{label}");
        assert!(node
            .store()
            .code_index_columns(&deid.id)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn an_index_needs_a_pseudonymised_column_and_nothing_is_published_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path(), None).await;
    let [officer, ..] = accounts(&node, &otp).await;
    let raw = ingest_claims(&node, &officer, settlements(300)).await;
    let policy = POLICY.replace(
        "[columns.id_number]\naction = \"pseudonymize\"",
        "[columns.id_number]\naction = \"drop\"",
    );
    let r = node
        .deidentify_dataset_with(
            &officer,
            &raw.id,
            &policy,
            "p1",
            "claims_deid",
            DeidentifyOptions { code_index: true },
        )
        .await;
    assert!(
        matches!(&r, Err(ServiceError::BadRequest(m)) if m.contains("pseudonymises no column")),
        "{r:?}"
    );
    // Nothing was published under the name.
    assert!(node
        .dataset_id_by_name(&officer, "claims_deid")
        .await
        .is_err());
}
