//! Schema and default policies validate (strict); runtime policy changes are validated before
//! acceptance and take effect on the next request (T/CI 857-2024 7.2.4 b); issue 7 item 3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::str::FromStr;

use common::{authorizer, decide, treatment};
use medspace_authz::cedar_policy::{PolicySet, Schema, SchemaFragment, ValidationMode, Validator};
use medspace_authz::{parse_policies, AuthzError, CONTEXT_KEYS, DEFAULT_POLICIES, SCHEMA};

#[test]
fn schema_and_default_policies_validate_strictly() {
    let schema = Schema::from_str(SCHEMA).expect("schema parses");
    let set = PolicySet::from_policies(parse_policies(DEFAULT_POLICIES).expect("policies parse"))
        .expect("unique ids");
    let result = Validator::new(schema).validate(&set, ValidationMode::Strict);
    let errors: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
    assert!(result.validation_passed(), "{errors:#?}");
    assert!(set.policies().count() >= 30);
    // Every policy carries an @id and a @clause.
    for p in set.policies() {
        assert!(p.annotation("clause").is_some(), "{} lacks @clause", p.id());
    }
}

#[test]
fn schema_declares_the_required_types_and_context() {
    let (frag, _) = SchemaFragment::from_cedarschema_str(SCHEMA).expect("schema");
    let json = frag.to_json_value().expect("json");
    let ns = &json[""];
    for t in [
        "User",
        "Patient",
        "PatientRecord",
        "Dataset",
        "Column",
        "Application",
        "AuditLog",
    ] {
        assert!(
            ns["entityTypes"].get(t).is_some(),
            "missing entity type {t}"
        );
    }
    for a in [
        "read",
        "query",
        "export",
        "download",
        "approve",
        "reidentify",
        "grant",
        "modify_bulk",
    ] {
        assert!(ns["actions"].get(a).is_some(), "missing action {a}");
    }
    let user = &ns["entityTypes"]["User"]["shape"]["attributes"];
    for attr in [
        "organisation",
        "department",
        "title",
        "treatment_groups",
        "supervises",
        "roles",
        "employment_status",
    ] {
        assert!(user.get(attr).is_some(), "User lacks {attr}");
    }
    let rec = &ns["entityTypes"]["PatientRecord"]["shape"]["attributes"];
    for attr in [
        "department",
        "treatment_group",
        "attending",
        "special_diseases",
        "granularity",
        "level",
    ] {
        assert!(rec.get(attr).is_some(), "PatientRecord lacks {attr}");
    }
    let ctx = ns["commonTypes"]["RequestContext"]["attributes"]
        .as_object()
        .expect("RequestContext");
    let mut declared: Vec<&str> = ctx.keys().map(String::as_str).collect();
    let mut keys = CONTEXT_KEYS.to_vec();
    declared.sort_unstable();
    keys.sort_unstable();
    assert_eq!(
        declared, keys,
        "CONTEXT_KEYS must list the schema's context attributes"
    );
}

#[test]
fn add_policy_rejects_invalid_policies_naming_the_problem() {
    let a = authorizer();
    let before = a.policy_count();
    // Unknown attribute: strict validation names it.
    let err = a
        .add_policy(
            r#"@id("bad-attr") permit(principal, action == Action::"read", resource is PatientRecord)
               when { principal.shoe_size == 42 };"#,
        )
        .expect_err("unknown attribute");
    assert!(matches!(err, AuthzError::Validation(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("bad-attr") && msg.contains("shoe_size"),
        "{msg}"
    );
    // Type error: a level is a Long, not a String.
    let err = a
        .add_policy(
            r#"@id("bad-type") permit(principal, action == Action::"read", resource is PatientRecord)
               when { resource.level == "high" && resource.level > "3" };"#,
        )
        .expect_err("type error");
    assert!(matches!(err, AuthzError::Validation(_)), "{err}");
    assert!(err.to_string().contains("bad-type"), "{err}");
    // Syntax, missing id, duplicate id, template.
    assert!(matches!(
        a.add_policy("permit(principal"),
        Err(AuthzError::Parse(_))
    ));
    assert!(matches!(
        a.add_policy("permit(principal, action, resource);"),
        Err(AuthzError::MissingId(_))
    ));
    assert!(matches!(
        a.add_policy(r#"@id("t7-chief-detail") permit(principal, action, resource);"#),
        Err(AuthzError::DuplicateId(_))
    ));
    assert!(matches!(
        a.add_policy(r#"@id("tpl") permit(principal == ?principal, action, resource);"#),
        Err(AuthzError::Template(_))
    ));
    assert_eq!(a.policy_count(), before, "nothing was accepted");
}

#[test]
fn policy_changes_take_effect_on_the_next_request() {
    let a = authorizer();
    let clone = a.clone(); // e.g. held by another request handler
    let t = treatment();
    assert!(
        decide(
            &a,
            "card_res",
            "read",
            "PatientRecord",
            "r1_cancer_summary",
            &t
        )
        .allowed
    );
    let ids = a
        .add_policy(
            r#"@id("night-freeze") @clause("test")
               forbid(principal, action == Action::"read", resource is PatientRecord)
               when { resource.special_diseases.contains("malignant_tumour") && principal.title == "resident" };"#,
        )
        .expect("valid policy");
    assert_eq!(ids, ["night-freeze"]);
    let d = decide(
        &clone,
        "card_res",
        "read",
        "PatientRecord",
        "r1_cancer_summary",
        &t,
    );
    assert!(!d.allowed);
    assert_eq!(d.determining_policies, ["night-freeze"]);
    assert!(a
        .policies()
        .iter()
        .any(|(id, text)| id == "night-freeze" && text.contains("forbid")));

    // Replacing the whole set: only the new policy remains.
    a.replace_policies(
        r#"@id("only-auditor") permit(principal, action == Action::"read", resource is AuditLog)
           when { principal.roles.contains("auditor") };"#,
    )
    .expect("valid set");
    assert_eq!(clone.policy_count(), 1);
    assert!(
        !decide(
            &clone,
            "card_chief",
            "read",
            "PatientRecord",
            "r1_cancer_detail",
            &t
        )
        .allowed
    );
    assert!(decide(&clone, "auditor", "read", "AuditLog", "log", &t).allowed);
    // A rejected replacement leaves the set in force untouched.
    assert!(a
        .replace_policies(r#"@id("x") permit(principal, action, resource) when { resource.nope };"#)
        .is_err());
    assert_eq!(clone.policy_count(), 1);
}

#[test]
fn entity_changes_take_effect_on_the_next_request() {
    let a = authorizer();
    let t = treatment();
    assert!(decide(&a, "card_res", "read", "PatientRecord", "r1_common", &t).allowed);
    // The resident is transferred to another treatment group (§11.1.2.2: roles follow status).
    let mut json = common::hospital();
    for e in json.as_array_mut().expect("array") {
        if e["uid"]["id"] == "card_res" {
            e["attrs"]["treatment_groups"] = serde_json::json!(["card-g2"]);
        }
    }
    a.replace_entities(a.parse_entities(json).expect("entities"));
    assert!(!decide(&a, "card_res", "read", "PatientRecord", "r1_common", &t).allowed);
    assert!(decide(&a, "card_res", "read", "PatientRecord", "r2_common", &t).allowed);
}

#[test]
fn requests_are_checked_against_the_schema() {
    let a = authorizer();
    let err = a
        .request_from_json(&serde_json::json!({
            "principal": "User::\"card_res\"", "action": "Action::\"approve\"",
            "resource": "PatientRecord::\"r1_common\"",
            "context": {"hour": 10, "network": {"internal": true, "address": "x"},
                        "consent": "granted", "emergency": false}
        }))
        .expect_err("approve does not apply to records");
    assert!(matches!(err, AuthzError::Request(_)), "{err}");
    let req = a
        .request_from_json(&serde_json::json!({
            "principal": {"type": "User", "id": "card_res"}, "action": "Action::\"read\"",
            "resource": "PatientRecord::\"r1_cancer_summary\"",
            "context": {"purpose": "treatment", "hour": 10,
                        "network": {"internal": true, "address": "10.0.0.1"},
                        "consent": "not_required", "emergency": false}
        }))
        .expect("valid request");
    assert!(a.decide(&req).allowed);
}
