//! The audit event model and the subject disclosure history, on SQLite and (with
//! MEDSPACE_TEST_PG_URL) PostgreSQL: T/CI 857-2024 7.2.6 (who, what, which data, why, outcome;
//! searchable; FHIR R4 AuditEvent) and GB/T 39725-2020 §7 g) (every use or disclosure of a
//! subject's data over six years, each proven in the Merkle log, the identifier never stored).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use medspace_core::{ActionKind, EntityKind, Outcome};
use medspace_service::audit_query::{DisclosureCategory, EventFilter};
use medspace_service::datasets::IngestRequest;
use medspace_service::reexports::audit::AuditEntry;
use medspace_service::workflow::ApplicationRequest;
use medspace_service::{Node, ServiceError};
use medspace_tlog::checkpoint::Checkpoint;
use medspace_tlog::merkle::verify_inclusion;
use medspace_tlog::note::{Note, Verifiers};
use medspace_tlog::HashAlg;
use sha2::Digest as _;

mod common;
use common::*;

fn unb64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

/// The `id_number` (4th column) of data row `row` of the generated settlements.
fn id_number(csv: &[u8], row: usize) -> String {
    let mut r = csv::Reader::from_reader(csv);
    assert_eq!(&r.headers().unwrap()[3], "id_number");
    r.records().nth(row).unwrap().unwrap()[3].to_string()
}

async fn all_entries(node: &Node) -> Vec<(i64, String)> {
    node.store()
        .audit_entries(1, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.entry))
        .collect()
}

#[tokio::test]
async fn a_subjects_history_lists_collection_use_and_disclosure_with_proofs() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db).await;
        let [officer, reviewer, researcher, auditor] = accounts(&node, &otp).await;
        let data = settlements(2000);
        let subject = id_number(&data, 7);

        let raw = node
            .ingest(
                &officer,
                IngestRequest {
                    name: "claims".into(),
                    source_name: "claims.csv".into(),
                    owner: None,
                    update_frequency: "monthly".into(),
                },
                Box::new(std::io::Cursor::new(data.clone())),
                Box::new(|_| {}),
            )
            .await
            .unwrap();
        let (deid, _) = node
            .deidentify_dataset(&officer, &raw.id, POLICY, "p1", "claims_deid")
            .await
            .unwrap();
        approve_grading(&node, &officer, &reviewer, &deid.id).await;
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
        node.decide_application(&reviewer, &app.id, true, "minimum necessary")
            .await
            .unwrap();
        let q = node
            .query(
                &researcher,
                "SELECT visit_type, count(*) AS n FROM claims_deid GROUP BY visit_type",
            )
            .await
            .unwrap();
        let export = node
            .request_export(&researcher, &q.query_id, "tables for the study report")
            .await
            .unwrap();
        node.decide_export(&reviewer, &export.id, true, "aggregates")
            .await
            .unwrap();
        node.download_export(&researcher, &export.id).await.unwrap();

        // Only auditors ask.
        assert!(matches!(
            node.subject_history(&researcher, std::slice::from_ref(&subject))
                .await,
            Err(ServiceError::Forbidden(_))
        ));

        // Lower-case check character and spaces name the same subject.
        let asked = format!(" {} ", subject.to_lowercase());
        let history = node.subject_history(&auditor, &[asked]).await.unwrap();
        assert_eq!(history.pseudonyms.len(), 1, "{label}");
        assert!(history.datasets.contains(&raw.id), "{label}");
        assert!(
            history.datasets.contains(&deid.id),
            "derivatives count: {label}"
        );
        let by_action = |a: &str| history.entries.iter().find(|e| e.action == a);
        let ingest = by_action("dataset.ingest").expect("collection");
        assert_eq!(ingest.category, DisclosureCategory::Collection);
        let query = by_action("sandbox.query").expect("use");
        assert_eq!(query.category, DisclosureCategory::Use);
        assert_eq!(query.kind, ActionKind::E);
        assert_eq!(query.approval.as_deref(), Some(app.id.as_str()));
        assert_eq!(query.role.as_deref(), Some("data_user"));
        let download = history
            .entries
            .iter()
            .find(|e| e.action == "export.download" && e.outcome == Outcome::Success)
            .expect("disclosure");
        assert_eq!(download.category, DisclosureCategory::Disclosure);
        assert_eq!(
            download.purpose.as_deref(),
            Some("cost burden by visit type")
        );
        assert!(download.datasets.contains(&deid.id));

        // Every entry is proven in the signed checkpoint returned with it.
        let vkey = node.audit_vkey().await.unwrap();
        let verifier = medspace_tlog::note::verifier_from_vkey(&vkey).unwrap();
        let note = Note::parse(&history.checkpoint).unwrap();
        note.verify(&Verifiers::new().with(verifier).unwrap())
            .unwrap();
        let cp = Checkpoint::from_note(&note).unwrap();
        assert_eq!(cp.size, history.tree_size);
        assert_eq!(STANDARD.encode(cp.root), history.root);
        let entries = all_entries(&node).await;
        for e in &history.entries {
            let text = &entries.iter().find(|(s, _)| *s == e.seq).unwrap().1;
            let mut input = vec![0u8];
            input.extend_from_slice(text.as_bytes());
            assert_eq!(
                unb64(&e.proof.leaf_hash),
                sha2::Sha256::digest(&input).to_vec()
            );
            let proof: Vec<Vec<u8>> = e.proof.proof.iter().map(|p| unb64(p)).collect();
            verify_inclusion(
                HashAlg::Sha256,
                e.proof.leaf_idx,
                history.tree_size,
                &unb64(&e.proof.leaf_hash),
                &proof,
                &cp.root,
            )
            .unwrap();
        }

        // The request itself is in the log, by pseudonym; the identifier is nowhere in it.
        let asked = node
            .audit_events(
                &auditor,
                &EventFilter {
                    action: Some("audit.subject_history".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let ctx = asked.last().unwrap().context.clone().unwrap();
        assert_eq!(
            ctx.ids(EntityKind::Subject).collect::<Vec<_>>(),
            vec![history.pseudonyms[0].as_str()]
        );
        for (seq, text) in all_entries(&node).await {
            assert!(
                !text.contains(&subject),
                "{label}: entry {seq} holds the identifier"
            );
        }

        // Someone not in any dataset: no dataset, only the request for the history itself.
        let stranger = node
            .subject_history(&auditor, &["11010519491231002X".into()])
            .await
            .unwrap();
        assert!(stranger.datasets.is_empty(), "{label}");
        assert!(stranger
            .entries
            .iter()
            .all(|e| e.action == "audit.subject_history"));
        assert!(matches!(
            node.subject_history(&auditor, &["  ".into()]).await,
            Err(ServiceError::BadRequest(_))
        ));
        node.close().await;
    }
}

#[tokio::test]
async fn events_carry_who_what_which_why_and_filter_by_every_field() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db).await;
        let [officer, _reviewer, researcher, auditor] = accounts(&node, &otp).await;
        let raw = node
            .ingest(
                &officer,
                IngestRequest {
                    name: "claims".into(),
                    source_name: "claims.csv".into(),
                    owner: None,
                    update_frequency: "monthly".into(),
                },
                Box::new(std::io::Cursor::new(settlements(50))),
                Box::new(|_| {}),
            )
            .await
            .unwrap();
        // A refused query by the researcher.
        assert!(node.query(&researcher, "SELECT 1").await.is_err());

        let by_dataset = node
            .audit_events(
                &auditor,
                &EventFilter {
                    dataset: Some(raw.id.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(!by_dataset.is_empty(), "{label}");
        for e in &by_dataset {
            let ctx = e.context.as_ref().unwrap();
            assert!(ctx.ids(EntityKind::Dataset).any(|d| d == raw.id));
        }
        let ingest = by_dataset
            .iter()
            .find(|e| e.action == "dataset.ingest")
            .unwrap();
        let ctx = ingest.context.as_ref().unwrap();
        assert_eq!(ctx.role.as_deref(), Some("security_officer"));
        assert_eq!(ctx.kind, Some(ActionKind::C));

        let denied = node
            .audit_events(
                &auditor,
                &EventFilter {
                    actor: Some(researcher.id().to_string()),
                    outcome: Some(Outcome::Denied),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(!denied.is_empty(), "{label}");
        assert!(denied
            .iter()
            .all(|e| e.actor == researcher.id() && e.outcome == Outcome::Denied));
        let none = node
            .audit_events(
                &auditor,
                &EventFilter {
                    actor: Some(researcher.id().to_string()),
                    until: Some(chrono::Utc::now() - chrono::Duration::days(1)),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(none.is_empty(), "{label}: time filter");

        // Paging: `after` continues where a page ended, without overlap.
        let page1 = node
            .audit_events(
                &auditor,
                &EventFilter {
                    limit: Some(3),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page1.len(), 3);
        let page2 = node
            .audit_events(
                &auditor,
                &EventFilter {
                    limit: Some(3),
                    after: Some(page1[2].seq),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page2[0].seq, page1[2].seq + 1, "{label}");

        // Only auditors search; the refusal is audited.
        assert!(matches!(
            node.audit_events(&researcher, &EventFilter::default())
                .await,
            Err(ServiceError::Forbidden(_))
        ));

        // FHIR R4 AuditEvent: the required elements (type, recorded, agent with requestor,
        // source with observer) and the mapped ones.
        let fhir = node.fhir_audit_event(ingest);
        assert_eq!(fhir["resourceType"], "AuditEvent");
        assert_eq!(fhir["action"], "C");
        assert_eq!(fhir["outcome"], "0");
        assert_eq!(fhir["subtype"][0]["code"], "dataset.ingest");
        assert!(fhir["recorded"].as_str().unwrap().ends_with('Z'));
        assert_eq!(fhir["agent"][0]["requestor"], true);
        assert_eq!(fhir["agent"][0]["who"]["identifier"]["value"], officer.id());
        assert_eq!(
            fhir["agent"][0]["role"][0]["coding"][0]["code"],
            "security_officer"
        );
        assert!(fhir["source"]["observer"]["display"].is_string());
        assert_eq!(fhir["entity"][0]["what"]["identifier"]["value"], raw.id);
        let denied_fhir = node.fhir_audit_event(&denied[0]);
        assert_eq!(denied_fhir["outcome"], "4");
        node.close().await;
    }
}

#[test]
fn entries_written_before_the_event_model_keep_their_text() {
    // An entry without `context` parses and re-serialises to the same text, so old logs verify.
    let old = r#"{"seq":1,"timestamp":"2026-01-01T00:00:00Z","actor":"system","action":"node.init","target":"n-1","outcome":"success","detail":{},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#;
    let e: AuditEntry = serde_json::from_str(old).unwrap();
    assert!(e.context.is_none());
    assert_eq!(e.canonical_text().unwrap(), old);
}
