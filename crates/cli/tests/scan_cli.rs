//! `medspace scan` end to end: the JSON shape of issue 5 item 4 (GB/T 39725-2020 §6, §11.1.2.3,
//! §11.2.2.2, Appendix G; DMS 4.2.1), the table format, and `--emit-policy` producing a policy
//! that `medspace_deid` parses and `medspace deid` runs with (§10.2, Table 6; T/CI 857-2024
//! 6.5.2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use medspace_gen::{generate, GenOptions, Table};

mod common;
use common::medspace;

fn settlements(dir: &Path, rows: u64) -> std::path::PathBuf {
    let path = dir.join("settlements.csv");
    let file = std::fs::File::create(&path).unwrap();
    generate(
        &GenOptions {
            rows,
            seed: 11,
            table: Table::Settlements,
            persons: None,
        },
        file,
        &mut |_| {},
    )
    .unwrap();
    path
}

const KEYS: [&str; 11] = [
    "name",
    "semantic_type",
    "identifier_kind",
    "category",
    "level",
    "dms_class",
    "special_disease",
    "hidden_from_self_query",
    "confidence",
    "findings",
    "suggested_action",
];

#[test]
fn json_has_exactly_the_issue_keys_and_vocabularies() {
    let dir = tempfile::tempdir().unwrap();
    let csv = settlements(dir.path(), 300);
    let out = medspace()
        .args(["scan", csv.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let columns = v["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 21);
    let categories = [
        "personal_attribute",
        "health_status",
        "medical_application",
        "medical_payment",
        "health_resource",
        "public_health",
    ];
    for c in columns {
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = KEYS.to_vec();
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        let t = c["semantic_type"].as_str().unwrap();
        assert!(
            medspace_service::reexports::classify::SEMANTIC_TYPES.contains(&t),
            "{t}"
        );
        assert!(["direct", "quasi", "sensitive", "other"]
            .contains(&c["identifier_kind"].as_str().unwrap()));
        assert!(categories.contains(&c["category"].as_str().unwrap()));
        assert!((1..=5).contains(&c["level"].as_u64().unwrap()));
        assert!(["C1", "C2", "C3"].contains(&c["dms_class"].as_str().unwrap()));
        let conf = c["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&conf));
    }
    let by_name = |n: &str| columns.iter().find(|c| c["name"] == n).unwrap();
    assert_eq!(by_name("id_number")["semantic_type"], "id_number");
    assert_eq!(by_name("id_number")["suggested_action"], "pseudonymize");
    let dx = by_name("diagnosis_code");
    assert_eq!(dx["level"], 5);
    assert_eq!(dx["hidden_from_self_query"], true);
    assert!(dx["special_disease"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "infectious"));
    assert_eq!(by_name("total_fee")["hidden_from_self_query"], false);

    let table = medspace()
        .args(["scan", csv.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    for word in [
        "suggested action",
        "special disease",
        "hidden",
        "pseudonymize",
        "date_shift",
    ] {
        assert!(text.contains(word), "{word}: {text}");
    }
}

#[test]
fn emitted_policy_parses_and_deid_runs_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = settlements(dir.path(), 2000);
    let policy = dir.path().join("draft.toml");
    let out = medspace()
        .args([
            "scan",
            csv.to_str().unwrap(),
            "--format",
            "json",
            "--emit-policy",
            policy.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&policy).unwrap();
    let parsed = medspace_service::reexports::deid::DeidPolicy::parse(&text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed.action_for("person_name").name(), "drop");
    assert_eq!(parsed.action_for("id_number").name(), "pseudonymize");
    assert_eq!(parsed.action_for("birth_date").name(), "age_band");
    assert_eq!(parsed.action_for("admission_time").name(), "date_shift");
    assert_eq!(parsed.action_for("county_code").name(), "truncate");
    assert_eq!(parsed.subject_column(), Some("id_number"));
    assert!(parsed.quasi_identifiers().contains(&"sex".to_string()));

    let deid_out = dir.path().join("deid.csv");
    let run = medspace()
        .args([
            "deid",
            csv.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "-o",
            deid_out.to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    let report: serde_json::Value =
        serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(report["rows_in"], 2000, "{report}");
    let output = std::fs::read_to_string(&deid_out).unwrap();
    let header = output.lines().next().unwrap();
    assert!(
        !header.contains("person_name") && !header.contains("mobile"),
        "{header}"
    );
    assert!(
        header.contains("id_number") && header.contains("diagnosis_code"),
        "{header}"
    );
}
