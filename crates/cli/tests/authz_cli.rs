//! `medspace authz check` end to end (issue 7 item 4): decision and determining policies as
//! text and JSON, Cedar JSON entities, custom policies from `DIR/policies/` validated against
//! the schema (GB/T 39725-2020 Table 7; T/CI 857-2024 7.2.4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::json;

mod common;
use common::{activate, medspace, Totp};

fn entities() -> serde_json::Value {
    let user = |id: &str, title: &str| {
        json!({"uid": {"type": "User", "id": id}, "attrs": {
            "organisation": "hospital-a", "department": "cardiology", "title": title,
            "treatment_groups": ["card-g1"], "supervises": [], "roles": ["doctor"],
            "employment_status": "active"}, "parents": []})
    };
    let record = |id: &str, gran: &str, level: i64| {
        json!({"uid": {"type": "PatientRecord", "id": id}, "attrs": {
            "patient": {"type": "Patient", "id": "p1"}, "organisation": "hospital-a",
            "department": "cardiology", "treatment_group": "card-g1",
            "attending": {"type": "User", "id": "card_att"},
            "special_diseases": ["malignant_tumour"], "granularity": gran, "level": level},
            "parents": [{"type": "Patient", "id": "p1"}]})
    };
    json!([
        user("card_res", "resident"),
        user("card_att", "attending"),
        {"uid": {"type": "Patient", "id": "p1"}, "attrs": {"organisation": "hospital-a",
            "department": "cardiology", "treatment_group": "card-g1",
            "attending": {"type": "User", "id": "card_att"}}, "parents": []},
        record("cancer_summary", "summary", 3),
        record("cancer_detail", "detail", 5),
    ])
}

fn request(resource: &str) -> serde_json::Value {
    json!({
        "principal": "User::\"card_res\"",
        "action": {"type": "Action", "id": "read"},
        "resource": format!("PatientRecord::\"{resource}\""),
        "context": {"purpose": "treatment", "hour": 10,
                    "network": {"internal": true, "address": "10.0.0.8"},
                    "consent": "not_required", "emergency": false}
    })
}

fn write(dir: &Path, name: &str, v: &serde_json::Value) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

fn check(dir: &Path, req: &Path, ents: &Path, json: bool) -> std::process::Output {
    let mut c = medspace();
    c.args(["authz", "check", "--dir"])
        .arg(dir)
        .arg("--request")
        .arg(req)
        .arg("--entities")
        .arg(ents);
    if json {
        c.args(["--format", "json"]);
    }
    c.output().unwrap()
}

#[test]
fn authz_check_prints_decision_and_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let ents = write(tmp.path(), "entities.json", &entities());
    let summary = write(tmp.path(), "summary.json", &request("cancer_summary"));
    let detail = write(tmp.path(), "detail.json", &request("cancer_detail"));

    let out = check(tmp.path(), &summary, &ents, true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["determining_policies"], json!(["t7-resident-summary"]));
    assert!(v["reasons"][0]["clause"]
        .as_str()
        .unwrap()
        .contains("Table 7"));

    let out = check(tmp.path(), &detail, &ents, true);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["determining_policies"], json!(["t3-level5-restricted"]));

    let out = check(tmp.path(), &summary, &ents, false);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("decision: ALLOW") && text.contains("t7-resident-summary"),
        "{text}"
    );
}

#[test]
fn authz_check_uses_custom_policies_and_rejects_invalid_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let ents = write(tmp.path(), "entities.json", &entities());
    let summary = write(tmp.path(), "summary.json", &request("cancer_summary"));
    std::fs::create_dir(tmp.path().join("policies")).unwrap();
    std::fs::write(
        tmp.path().join("policies/oncology-freeze.cedar"),
        r#"@id("tumour-freeze") @clause("local rule")
           forbid(principal, action == Action::"read", resource is PatientRecord)
           when { resource.special_diseases.contains("malignant_tumour") && principal.title == "resident" };"#,
    )
    .unwrap();
    let out = check(tmp.path(), &summary, &ents, true);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["determining_policies"], json!(["tumour-freeze"]));

    std::fs::write(
        tmp.path().join("policies/zz-bad.cedar"),
        r#"@id("bad") permit(principal, action, resource) when { principal.shoe_size == 1 };"#,
    )
    .unwrap();
    let out = check(tmp.path(), &summary, &ents, true);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad") && err.contains("shoe_size"), "{err}");
}

/// On a node directory the check uses the policies in force: the ones the security officer added
/// through the API (T/CI 857-2024 7.2.4 b)), not only the built-in set.
#[test]
fn authz_check_on_a_node_uses_the_policies_added_through_the_api() {
    use medspace_service::reexports::core::Role;
    use medspace_service::{InitOptions, Node};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let mut totp = Totp::default();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let (node, outcome) = Node::init(InitOptions {
            dir: dir.clone(),
            database_url: None,
            profile: None,
            master_key_file: Some(tmp.path().join("node.masterkey")),
            hsm: None,
            admin_username: "admin".into(),
            listen: None,
        })
        .await
        .unwrap();
        let admin = activate(&node, "admin", &outcome.admin_password, &mut totp).await;
        let (_, otp) = node
            .create_user(&admin, "officer", Role::SecurityOfficer)
            .await
            .unwrap();
        let officer = activate(&node, "officer", &otp, &mut totp).await;
        node.add_access_policies(
            &officer,
            "@id(\"blocked-terminal\")\nforbid (principal, action, resource)\n\
             when { context.network.address == \"10.0.0.8\" };",
            "terminal 10.0.0.8 reported stolen",
        )
        .await
        .unwrap();
        node.close().await;
    });
    let ents = write(tmp.path(), "entities.json", &entities());
    let summary = write(tmp.path(), "summary.json", &request("cancer_summary"));
    let out = check(&dir, &summary, &ents, true);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["determining_policies"], json!(["blocked-terminal"]));
    assert_eq!(v["node_policy_version"], 1);
}
