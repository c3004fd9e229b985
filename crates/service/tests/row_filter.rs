//! The sandbox's row filter (issue 7 item 4): rows of a granted table are decided by the Cedar
//! policies in one batch per query; rows of special diseases (GB/T 39725-2020 §6.2 e), §11.1.2.3)
//! are withheld unless the approved application names their class, and a policy the security
//! officer adds at run time filters rows on the next query.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_service::workflow::ApplicationRequest;

mod common;
use common::*;

/// Rows of the generated settlements whose diagnosis code is a special disease, counted here
/// from the CSV with the classifier's code table.
fn special_disease_rows(csv: &[u8]) -> (u64, u64) {
    let mut reader = csv::Reader::from_reader(csv);
    let headers = reader.headers().unwrap().clone();
    let code = headers.iter().position(|h| h == "diagnosis_code").unwrap();
    let dept = headers.iter().position(|h| h == "department").unwrap();
    let (mut special, mut cardiology_plain) = (0, 0);
    for r in reader.records() {
        let r = r.unwrap();
        if medspace_classify::special_disease_of_code(&r[code]).is_some() {
            special += 1;
        } else if &r[dept] == "心血管内科" {
            cardiology_plain += 1;
        }
    }
    (special, cardiology_plain)
}

#[tokio::test]
async fn special_disease_rows_need_an_application_naming_them_and_added_policies_filter_rows() {
    for (label, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db).await;
        let [officer, reviewer, researcher, auditor] = accounts(&node, &otp).await;
        let csv = settlements(2000);
        let (special, cardiology_plain) = special_disease_rows(&csv);
        assert!(special > 0, "the generated data holds special diseases");

        let raw = ingest_claims(&node, &officer, csv).await;
        let policy = format!("{POLICY}[columns.department]\naction = \"keep\"\n");
        let (deid, _) = node
            .deidentify_dataset(&officer, &raw.id, &policy, "p1", "claims_deid")
            .await
            .unwrap();
        approve_grading(&node, &officer, &reviewer, &deid.id).await;
        assert_eq!(deid.row_count, 2000, "{label}: no row suppressed");

        let apply = |special_diseases: Vec<String>| ApplicationRequest {
            dataset_id: deid.id.clone(),
            columns: vec!["sex".into(), "visit_type".into()],
            purpose: "visit volume by type".into(),
            period_days: 30,
            special_diseases,
        };
        assert!(node
            .apply(&researcher, apply(vec!["cancer".into()]))
            .await
            .is_err());
        let app = node.apply(&researcher, apply(Vec::new())).await.unwrap();
        node.decide_application(&reviewer, &app.id, true, "minimum necessary")
            .await
            .unwrap();
        let count = "SELECT visit_type, count(*) AS n FROM claims_deid GROUP BY visit_type";
        let total = |r: &medspace_service::sandbox::QueryResult| -> u64 {
            r.rows.iter().map(|row| row[1].as_u64().unwrap()).sum()
        };

        // No special disease named: those rows are withheld, by the special-disease forbid.
        let r = node.query(&researcher, count).await.unwrap();
        let f = &r.row_filter[0];
        assert_eq!(f.rows_withheld, special, "{label}");
        assert_eq!(f.rows_visible, 2000 - special, "{label}");
        assert_eq!(total(&r), 2000 - special, "{label}");
        assert!(
            f.withheld_by.contains("sandbox-row-special-disease"),
            "{label}: {f:?}"
        );
        assert!(
            f.groups > 1 && f.groups < 200,
            "{label}: one decision per label group"
        );

        // The security officer adds a row filter at run time: the next query applies it.
        node.add_access_policies(
            &officer,
            "@id(\"no-cardiology-rows\")\nforbid (principal, action == Action::\"query\", resource is Row)\nwhen { resource.department == \"心血管内科\" };",
            "cardiology withholds its rows from this study",
        )
        .await
        .unwrap();
        let r = node.query(&researcher, count).await.unwrap();
        let f = &r.row_filter[0];
        assert_eq!(f.rows_visible, 2000 - special - cardiology_plain, "{label}");
        assert!(f.withheld_by.contains("no-cardiology-rows"), "{label}");
        node.remove_access_policy(&officer, "no-cardiology-rows", "study agreement signed")
            .await
            .unwrap();

        // An application naming every special-disease class opens those rows too.
        let all = medspace_service::patients::SPECIAL_DISEASES
            .iter()
            .map(|d| d.to_string())
            .collect();
        let wide = node.apply(&researcher, apply(all)).await.unwrap();
        assert_eq!(wide.special_diseases.len(), 8);
        node.decide_application(
            &reviewer,
            &wide.id,
            true,
            "oncology and hepatitis arms approved",
        )
        .await
        .unwrap();
        let r = node.query(&researcher, count).await.unwrap();
        assert_eq!(r.row_filter[0].rows_withheld, 0, "{label}");
        assert_eq!(total(&r), 2000, "{label}");

        // Each query's audit entry says how many rows were withheld and by which policies.
        let entries = node.audit_entries(&auditor, 1, 1000).await.unwrap();
        let withheld: Vec<u64> = entries
            .iter()
            .filter(|e| e.action == "sandbox.query")
            .map(|e| e.detail["row_filter"][0]["rows_withheld"].as_u64().unwrap())
            .collect();
        assert_eq!(
            withheld,
            vec![special, special + cardiology_plain, 0],
            "{label}"
        );
    }
}
