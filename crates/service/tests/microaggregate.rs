//! `microaggregate` inside the node (GB/T 37964-2019 statistical techniques, GB/T 39725-2020
//! §10.2): the node de-identifies a stored dataset whose policy aggregates a numeric column in
//! groups of at least five — the source object is opened again for the second pass instead of
//! being refused — and a researcher's sandbox sees only the group values, with the total kept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::collections::HashSet;

mod common;
use common::*;

#[tokio::test]
async fn a_stored_dataset_is_microaggregated_inside_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path(), None).await;
    let [officer, reviewer, researcher, _] = accounts(&node, &otp).await;
    let input = settlements(2000);
    let raw = ingest_claims(&node, &officer, input.clone()).await;

    let policy = POLICY.replace(
        "[columns.total_fee]\naction = \"keep\"",
        "[columns.total_fee]\naction = \"microaggregate\"\ndecimals = 2",
    );
    assert_ne!(policy, POLICY, "the shared policy still keeps total_fee");
    let (deid, report) = node
        .deidentify_dataset(&officer, &raw.id, &policy, "p1", "claims_micro")
        .await
        .unwrap();
    assert_eq!((report.rows_in, report.rows_out), (2000, 2000));
    assert!(report
        .actions
        .iter()
        .any(|a| a.column == "total_fee" && a.action == "microaggregate"));
    approve_grading(&node, &officer, &reviewer, &deid.id).await;

    // The input's fees: almost all distinct, and their sum.
    let mut reader = csv::Reader::from_reader(input.as_slice());
    let at = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "total_fee")
        .unwrap();
    let fees: Vec<f64> = reader
        .records()
        .filter_map(|r| r.unwrap()[at].parse().ok())
        .collect();
    let raw_distinct: HashSet<u64> = fees.iter().map(|f| f.to_bits()).collect();
    assert!(raw_distinct.len() > 1000, "{}", raw_distinct.len());
    let raw_total: f64 = fees.iter().sum();

    approved_application(
        &node,
        &researcher,
        &reviewer,
        &deid.id,
        &["total_fee"],
        "fee distribution",
        "aggregates only",
    )
    .await;
    let out = node
        .query(
            &researcher,
            "SELECT count(DISTINCT total_fee) AS values, sum(total_fee) AS total FROM claims_micro",
        )
        .await
        .unwrap();
    let distinct = out.rows[0][0].as_i64().unwrap();
    let total = out.rows[0][1].as_f64().unwrap();
    // Groups of at least five share one value: at most 2,000 / 5 of them.
    assert!(
        distinct <= 400,
        "{distinct} distinct fees after microaggregation"
    );
    // Group means keep the total, up to rounding each value to cents.
    assert!(
        (total - raw_total).abs() <= 2000.0 * 0.005 + 1e-6,
        "{total} vs {raw_total}"
    );
    node.verify_audit().await.unwrap().unwrap();
}
