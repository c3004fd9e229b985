//! A small hospital used by the matrix and policy tests: cardiology with two treatment groups,
//! oncology, data users, officer, committee, auditor, system administrator, a patient.
#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(clippy::expect_used, clippy::too_many_arguments)]

use std::str::FromStr;

use medspace_authz::cedar_policy::EntityUid;
use medspace_authz::{AccessContext, Authorizer, ConsentState, DecisionWithReasons, Network};
use serde_json::{json, Value};

fn u(t: &str, id: &str) -> Value {
    json!({"type": t, "id": id})
}

fn user(
    id: &str,
    dept: &str,
    title: &str,
    groups: &[&str],
    supervises: &[&str],
    roles: &[&str],
) -> Value {
    json!({"uid": u("User", id), "attrs": {
        "organisation": "hospital-a", "department": dept, "title": title,
        "treatment_groups": groups,
        "supervises": supervises.iter().map(|s| u("User", s)).collect::<Vec<_>>(),
        "roles": roles, "employment_status": "active"}, "parents": []})
}

fn record(
    id: &str,
    patient: &str,
    dept: &str,
    group: &str,
    attending: &str,
    special: &[&str],
    gran: &str,
    level: i64,
) -> Value {
    json!({"uid": u("PatientRecord", id), "attrs": {
        "patient": u("Patient", patient), "organisation": "hospital-a", "department": dept,
        "treatment_group": group, "attending": u("User", attending), "special_diseases": special,
        "granularity": gran, "level": level}, "parents": [u("Patient", patient)]})
}

/// Entities of the small hospital, in Cedar's JSON entity format.
pub fn hospital() -> Value {
    let mut v = vec![
        user(
            "card_res",
            "cardiology",
            "resident",
            &["card-g1"],
            &[],
            &["doctor"],
        ),
        user(
            "card_att",
            "cardiology",
            "attending",
            &["card-g1"],
            &[],
            &["doctor"],
        ),
        user(
            "card_att2",
            "cardiology",
            "attending",
            &["card-g2"],
            &[],
            &["doctor"],
        ),
        user(
            "card_chief",
            "cardiology",
            "chief",
            &["card-g1"],
            &["card_res", "card_att", "card_att2"],
            &["doctor"],
        ),
        user(
            "card_nurse",
            "cardiology",
            "none",
            &["card-g1"],
            &[],
            &["nurse"],
        ),
        user(
            "onc_att",
            "oncology",
            "attending",
            &["onc-g1"],
            &[],
            &["doctor"],
        ),
        user(
            "onc_chief",
            "oncology",
            "chief",
            &["onc-g1"],
            &["onc_att"],
            &["doctor"],
        ),
        user(
            "res_doc",
            "cardiology",
            "resident",
            &["card-g1"],
            &[],
            &["doctor", "researcher"],
        ),
        user("researcher", "research", "none", &[], &[], &["researcher"]),
        user("researcher2", "research", "none", &[], &[], &["researcher"]),
        user("officer", "security", "none", &[], &[], &["officer"]),
        user("committee1", "committee", "none", &[], &[], &["committee"]),
        user("auditor", "audit", "none", &[], &[], &["auditor"]),
        user("sysadmin", "it", "none", &[], &[], &["sysadmin"]),
        json!({"uid": u("User", "left_doc"), "attrs": {
            "organisation": "hospital-a", "department": "cardiology", "title": "chief",
            "treatment_groups": ["card-g1"], "supervises": [], "roles": ["doctor"],
            "employment_status": "left"}, "parents": []}),
        json!({"uid": u("User", "patient_zhang"), "attrs": {
            "organisation": "hospital-a", "department": "", "title": "none",
            "treatment_groups": [], "supervises": [], "roles": ["patient"],
            "employment_status": "active", "patient": u("Patient", "p1")}, "parents": []}),
    ];
    for (id, dept, group, att) in [
        ("p1", "cardiology", "card-g1", "card_att"),
        ("p2", "cardiology", "card-g2", "card_att2"),
        ("p3", "oncology", "onc-g1", "onc_att"),
    ] {
        v.push(json!({"uid": u("Patient", id), "attrs": {"organisation": "hospital-a",
            "department": dept, "treatment_group": group, "attending": u("User", att)}, "parents": []}));
    }
    v.extend([
        record(
            "r1_common",
            "p1",
            "cardiology",
            "card-g1",
            "card_att",
            &[],
            "detail",
            4,
        ),
        record(
            "r1_cancer_summary",
            "p1",
            "cardiology",
            "card-g1",
            "card_att",
            &["malignant_tumour"],
            "summary",
            3,
        ),
        record(
            "r1_cancer_abstract",
            "p1",
            "cardiology",
            "card-g1",
            "card_att",
            &["malignant_tumour"],
            "abstract",
            4,
        ),
        record(
            "r1_cancer_detail",
            "p1",
            "cardiology",
            "card-g1",
            "card_att",
            &["malignant_tumour"],
            "detail",
            5,
        ),
        record(
            "r1_infectious_abstract",
            "p1",
            "cardiology",
            "card-g1",
            "card_att",
            &["infectious"],
            "abstract",
            4,
        ),
        record(
            "r2_common",
            "p2",
            "cardiology",
            "card-g2",
            "card_att2",
            &[],
            "summary",
            3,
        ),
        record(
            "r2_cancer_summary",
            "p2",
            "cardiology",
            "card-g2",
            "card_att2",
            &["malignant_tumour"],
            "summary",
            3,
        ),
        record(
            "r3_common",
            "p3",
            "oncology",
            "onc-g1",
            "onc_att",
            &[],
            "summary",
            3,
        ),
        record(
            "r3_cancer_detail",
            "p3",
            "oncology",
            "onc-g1",
            "onc_att",
            &["malignant_tumour"],
            "detail",
            5,
        ),
    ]);
    v.push(
        json!({"uid": u("Dataset", "ds1"), "attrs": {"owner": u("User", "officer"),
        "category": "clinical", "level": 2, "dms_class": "C1",
        "authorised_users": [u("User", "researcher")]}, "parents": []}),
    );
    v.push(
        json!({"uid": u("Dataset", "ds2"), "attrs": {"owner": u("User", "officer"),
        "category": "clinical", "level": 3, "dms_class": "C2",
        "authorised_users": [u("User", "researcher")]}, "parents": []}),
    );
    for (id, ds, level, class) in [
        ("ds1_l1", "ds1", 1, "C1"),
        ("ds1_l2", "ds1", 2, "C1"),
        ("ds1_l3", "ds1", 3, "C1"),
        ("ds1_l4", "ds1", 4, "C1"),
        ("ds2_l2", "ds2", 2, "C2"),
    ] {
        v.push(
            json!({"uid": u("Column", id), "attrs": {"dataset": u("Dataset", ds),
            "category": "clinical", "level": level, "dms_class": class},
            "parents": [u("Dataset", ds)]}),
        );
    }
    // Row groups of ds1 for the sandbox's row filter.
    for (id, classes, level) in [
        ("ds1_row_plain", vec![], 2),
        ("ds1_row_cancer", vec!["malignant_tumour"], 5),
        (
            "ds1_row_cancer_hiv",
            vec!["infectious", "malignant_tumour"],
            5,
        ),
    ] {
        v.push(
            json!({"uid": u("Row", id), "attrs": {"dataset": u("Dataset", "ds1"),
            "special_diseases": classes, "department": "cardiology", "level": level},
            "parents": [u("Dataset", "ds1")]}),
        );
    }
    v.push(json!({"uid": u("Application", "app_researcher"), "attrs": {
        "applicant": u("User", "researcher"), "dataset": u("Dataset", "ds1"),
        "status": "submitted"}, "parents": []}));
    v.push(
        json!({"uid": u("Application", "app_researcher2"), "attrs": {
        "applicant": u("User", "researcher2"), "dataset": u("Dataset", "ds1"),
        "status": "approved"}, "parents": []}),
    );
    v.push(json!({"uid": u("AuditLog", "log"), "attrs": {}, "parents": []}));
    Value::Array(v)
}

/// The default authorizer over the small hospital.
pub fn authorizer() -> Authorizer {
    let schema = medspace_authz::builtin_schema().expect("schema");
    let entities =
        medspace_authz::cedar_policy::Entities::from_json_value(hospital(), Some(&schema))
            .expect("entities");
    Authorizer::with_defaults(entities).expect("authorizer")
}

/// Treatment inside the hospital network during the day.
pub fn treatment() -> AccessContext {
    AccessContext {
        purpose: Some("treatment".into()),
        hour: 10,
        network: Network {
            internal: true,
            address: "10.0.0.5".into(),
        },
        consent: ConsentState::NotRequired,
        emergency: false,
        legal_basis: Some("treatment".into()),
        approval_id: None,
        approved_special_diseases: None,
    }
}

pub fn uid(t: &str, id: &str) -> EntityUid {
    EntityUid::from_str(&format!("{t}::\"{id}\"")).expect("uid")
}

/// Decides with the fast engine and checks plain Cedar agrees.
pub fn decide(
    a: &Authorizer,
    user: &str,
    action: &str,
    rtype: &str,
    rid: &str,
    ctx: &AccessContext,
) -> DecisionWithReasons {
    let req = a
        .request(
            uid("User", user),
            uid("Action", action),
            uid(rtype, rid),
            ctx,
        )
        .expect("request");
    let d = a.decide(&req);
    assert_eq!(
        d,
        a.decide_reference(&req),
        "{user} {action} {rtype}::{rid}"
    );
    d
}
