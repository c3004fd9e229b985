//! Role × action × resource matrix over the default policies (issue 7 item 11): horizontal
//! escalation (another department's or treatment group's patient, another user's application)
//! and vertical escalation (a higher granularity or level, an auditor writing, an administrator
//! reading data) are denied; every allowed cell is allowed. Each cell also checks that plain Cedar
//! over the full set agrees, and, where a forbid decides, names it.
//!
//! Clauses: GB/T 39725-2020 §11.1.2.3 c), Table 7, Table 3, §7 a) c) h) j);
//! T/CI 857-2024 6.4.1–6.4.3; DMS 4.3.2, 6.2.2; separation of duties (issue 7 item 2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{authorizer, decide, treatment};
use medspace_authz::{AccessContext, ConsentState};

#[derive(Debug, Clone, Copy)]
enum Ctx {
    Treatment,
    Approved,
    ApprovedExternal,
    Revoked,
    RevokedEmergency,
    Restricted,
    RestrictedByLaw,
    Marketing,
    MarketingConsented,
    NoPurpose,
    Emergency,
    ApprovedCancer,
}

fn ctx(c: Ctx) -> AccessContext {
    let mut x = treatment();
    match c {
        Ctx::Treatment => {}
        Ctx::Approved => x.approval_id = Some("APR-7".into()),
        Ctx::ApprovedExternal => {
            x.approval_id = Some("APR-7".into());
            x.network.internal = false;
            x.network.address = "203.0.113.9".into();
        }
        Ctx::Revoked => x.consent = ConsentState::Revoked,
        Ctx::RevokedEmergency => {
            x.consent = ConsentState::Revoked;
            x.emergency = true;
        }
        Ctx::Restricted => x.consent = ConsentState::Restricted,
        Ctx::RestrictedByLaw => {
            x.consent = ConsentState::Restricted;
            x.legal_basis = Some("law".into());
        }
        Ctx::Marketing => {
            x.purpose = Some("marketing".into());
            x.consent = ConsentState::None;
        }
        Ctx::MarketingConsented => {
            x.purpose = Some("marketing".into());
            x.consent = ConsentState::Granted;
        }
        Ctx::NoPurpose => x.purpose = None,
        Ctx::ApprovedCancer => {
            x.approval_id = Some("APR-7".into());
            x.approved_special_diseases = Some(vec!["malignant_tumour".into()]);
        }
        Ctx::Emergency => {
            x.emergency = true;
            x.purpose = Some("emergency_treatment".into());
        }
    }
    x
}

use Ctx::*;

/// (user, action, resource type, resource id, context, allowed, deciding forbid if any).
type Cell = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Ctx,
    bool,
    Option<&'static str>,
);

#[rustfmt::skip]
const MATRIX: &[Cell] = &[
    // --- Must show: cardiology resident, cancer record of a cardiology patient. ---
    ("card_res", "read", "PatientRecord", "r1_cancer_summary", Treatment, true, None),
    ("card_res", "read", "PatientRecord", "r1_cancer_abstract", Treatment, false, None),
    ("card_res", "read", "PatientRecord", "r1_cancer_detail", Treatment, false, Some("t3-level5-restricted")),
    ("card_res", "read", "PatientRecord", "r1_common", Treatment, true, None),
    ("card_res", "read", "PatientRecord", "r2_common", Treatment, false, None),          // other treatment group
    ("card_res", "read", "PatientRecord", "r2_cancer_summary", Treatment, false, None),  // other treatment group
    ("card_res", "read", "PatientRecord", "r3_common", Treatment, false, None),          // other department
    ("card_res", "read", "Patient", "p2", Treatment, false, None),
    ("card_res", "read", "Patient", "p3", Treatment, false, None),
    ("card_res", "read", "Patient", "p1", Treatment, true, None),
    ("card_chief", "read", "PatientRecord", "r1_cancer_detail", Treatment, true, None),
    ("card_chief", "read", "PatientRecord", "r2_cancer_summary", Treatment, true, None), // supervises card_att2
    ("card_chief", "read", "PatientRecord", "r2_common", Treatment, true, None),
    ("card_chief", "read", "Patient", "p2", Treatment, true, None),
    ("card_chief", "read", "PatientRecord", "r3_cancer_detail", Treatment, false, None), // other department
    ("card_chief", "read", "PatientRecord", "r3_common", Treatment, false, None),
    // --- Titles and granularity (Table 7). ---
    ("card_att", "read", "PatientRecord", "r1_cancer_summary", Treatment, true, None),
    ("card_att", "read", "PatientRecord", "r1_cancer_abstract", Treatment, true, None),
    ("card_att", "read", "PatientRecord", "r1_cancer_detail", Treatment, false, None),
    ("card_att2", "read", "PatientRecord", "r1_cancer_summary", Treatment, false, None), // other group
    ("card_att2", "read", "PatientRecord", "r2_cancer_summary", Treatment, true, None),
    ("onc_att", "read", "PatientRecord", "r1_common", Treatment, false, None),           // other department
    ("onc_chief", "read", "PatientRecord", "r3_cancer_detail", Treatment, true, None),
    ("onc_chief", "read", "PatientRecord", "r1_cancer_summary", Treatment, false, None),
    // A junior never sees the supervisor's patients (supervision is one-way).
    ("card_res", "read", "PatientRecord", "r1_infectious_abstract", Treatment, true, None), // infectious → treating staff
    ("card_nurse", "read", "PatientRecord", "r1_infectious_abstract", Treatment, true, None),
    ("card_nurse", "read", "PatientRecord", "r1_cancer_summary", Treatment, false, None),
    ("card_nurse", "read", "PatientRecord", "r2_common", Treatment, false, None),
    ("card_nurse", "read", "PatientRecord", "r1_common", Treatment, false, None),        // detail granularity
    // Union of roles: a resident who is also a researcher.
    ("res_doc", "read", "PatientRecord", "r1_cancer_summary", Treatment, true, None),
    ("res_doc", "query", "Column", "ds1_l2", Approved, true, None),
    ("res_doc", "read", "PatientRecord", "r1_cancer_abstract", Approved, false, None),
    // Personnel status.
    ("left_doc", "read", "PatientRecord", "r1_common", Treatment, false, Some("inactive-account")),
    // --- Consent and minimum necessary (§7). ---
    ("card_att", "read", "PatientRecord", "r1_common", Revoked, false, Some("consent-revoked")),
    ("card_att", "read", "PatientRecord", "r1_common", RevokedEmergency, true, None),
    ("card_att", "read", "PatientRecord", "r1_common", Restricted, false, Some("consent-revoked")),
    ("card_att", "read", "PatientRecord", "r1_common", RestrictedByLaw, true, None),
    ("card_att", "read", "PatientRecord", "r1_common", Marketing, false, Some("consent-marketing")),
    ("card_att", "read", "PatientRecord", "r1_common", MarketingConsented, true, None),
    ("card_att", "read", "PatientRecord", "r1_common", NoPurpose, false, Some("minimum-necessary-purpose")),
    ("onc_att", "read", "PatientRecord", "r1_common", Emergency, true, None),            // break-glass
    ("onc_att", "read", "PatientRecord", "r1_cancer_detail", Emergency, true, None),
    // --- Data users: Table 3 levels, approvals, DMS. ---
    ("researcher", "read", "PatientRecord", "r1_common", Approved, false, None),
    ("researcher", "query", "Column", "ds1_l1", Treatment, true, None),
    ("researcher", "query", "Column", "ds1_l2", Approved, true, None),
    ("researcher", "query", "Column", "ds1_l2", Treatment, false, None),                // no approval
    ("researcher", "query", "Column", "ds1_l3", Approved, true, None),                  // project team
    ("researcher2", "query", "Column", "ds1_l3", Approved, false, None),                // not in the team
    ("researcher", "query", "Column", "ds1_l4", Approved, false, Some("t3-level4-not-for-data-users")),
    ("researcher", "export", "Column", "ds2_l2", Approved, true, None),
    ("researcher", "export", "Column", "ds2_l2", Treatment, false, Some("dms-c2-approval-column")),
    ("researcher", "export", "Column", "ds1_l2", ApprovedExternal, false, Some("net-internal-transfer")),
    ("researcher2", "export", "Column", "ds1_l2", Approved, false, None),
    // Sandbox rows: the project team with an approval; special-disease rows only when the
    // approval names every class the rows hold.
    ("researcher", "query", "Row", "ds1_row_plain", Approved, true, None),
    ("researcher", "query", "Row", "ds1_row_plain", Treatment, false, None),            // no approval
    ("researcher2", "query", "Row", "ds1_row_plain", Approved, false, None),            // not in the team
    ("researcher", "query", "Row", "ds1_row_cancer", Approved, false, Some("sandbox-row-special-disease")),
    ("researcher", "query", "Row", "ds1_row_cancer", ApprovedCancer, true, None),
    ("researcher", "query", "Row", "ds1_row_cancer_hiv", ApprovedCancer, false, Some("sandbox-row-special-disease")),
    ("researcher", "query", "Row", "ds1_row_plain", NoPurpose, false, Some("minimum-necessary-purpose")),
    ("sysadmin", "query", "Row", "ds1_row_plain", Approved, false, Some("sod-sysadmin-no-data")),
    ("researcher", "reidentify", "Dataset", "ds1", Approved, false, None),
    ("researcher", "grant", "Dataset", "ds1", Approved, false, None),
    // --- Applications: another user's application, self-approval. ---
    ("researcher", "read", "Application", "app_researcher", Treatment, true, None),
    ("researcher", "read", "Application", "app_researcher2", Treatment, false, None),
    ("researcher", "approve", "Application", "app_researcher2", Treatment, false, None),
    ("committee1", "approve", "Application", "app_researcher", Treatment, true, None),
    ("committee1", "read", "Application", "app_researcher2", Treatment, true, None),
    ("officer", "grant", "Application", "app_researcher2", Treatment, true, None),
    ("officer", "grant", "Application", "app_researcher", Treatment, false, None),      // not approved yet
    // --- Officer. ---
    ("officer", "grant", "Dataset", "ds1", Treatment, true, None),
    ("officer", "reidentify", "Dataset", "ds1", Approved, true, None),
    ("officer", "reidentify", "Dataset", "ds1", Treatment, false, None),
    ("officer", "modify_bulk", "Dataset", "ds2", Approved, true, None),
    ("officer", "modify_bulk", "Dataset", "ds2", Treatment, false, Some("dms-c2-approval")),
    ("officer", "read", "PatientRecord", "r1_common", Treatment, false, None),
    ("officer", "read", "AuditLog", "log", Treatment, false, None),
    // --- Auditor: reads the log, writes nothing. ---
    ("auditor", "read", "AuditLog", "log", Treatment, true, None),
    ("auditor", "modify_bulk", "AuditLog", "log", Approved, false, Some("sod-auditor-read-only")),
    ("auditor", "approve", "Application", "app_researcher", Treatment, false, Some("sod-auditor-read-only")),
    ("auditor", "grant", "Dataset", "ds1", Treatment, false, Some("sod-auditor-read-only")),
    ("auditor", "export", "Column", "ds1_l1", Approved, false, Some("sod-auditor-read-only")),
    ("auditor", "read", "PatientRecord", "r1_common", Treatment, false, None),
    // --- System administrator: no data at all. ---
    ("sysadmin", "read", "PatientRecord", "r1_common", Treatment, false, Some("sod-sysadmin-no-data")),
    ("sysadmin", "query", "Column", "ds1_l1", Treatment, false, Some("sod-sysadmin-no-data")),
    ("sysadmin", "read", "Dataset", "ds1", Treatment, false, None),
    ("sysadmin", "read", "AuditLog", "log", Treatment, false, Some("sod-sysadmin-no-data")),
    ("sysadmin", "modify_bulk", "Dataset", "ds1", Approved, false, Some("sod-sysadmin-no-data")),
    // --- The data subject. ---
    ("patient_zhang", "read", "PatientRecord", "r1_cancer_detail", Treatment, true, None),
    ("patient_zhang", "download", "PatientRecord", "r1_common", Treatment, true, None),
    ("patient_zhang", "read", "PatientRecord", "r2_common", Treatment, false, None),
    ("patient_zhang", "read", "Patient", "p1", Treatment, true, None),
    ("patient_zhang", "read", "Patient", "p2", Treatment, false, None),
];

#[test]
fn role_action_resource_matrix() {
    let a = authorizer();
    let mut failures = Vec::new();
    for &(user, action, rtype, rid, c, allowed, forbid) in MATRIX {
        let d = decide(&a, user, action, rtype, rid, &ctx(c));
        if d.allowed != allowed {
            failures.push(format!(
                "{user} {action} {rtype}::{rid} {c:?}: expected {allowed}, got {} ({:?})",
                d.allowed, d.determining_policies
            ));
        }
        if allowed && d.determining_policies.is_empty() {
            failures.push(format!("{user} {action} {rid}: allowed without a reason"));
        }
        if let Some(f) = forbid {
            if !d.determining_policies.iter().any(|p| p == f) {
                failures.push(format!(
                    "{user} {action} {rid} {c:?}: expected forbid {f}, got {:?}",
                    d.determining_policies
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Must show (issue 7): a cardiology resident reads the summary but not the detail of a
/// cardiology patient's cancer record, cannot read another department's or treatment group's
/// patient, and the chief can.
#[test]
fn must_show_resident_summary_not_detail_chief_can() {
    let a = authorizer();
    let t = treatment();
    let summary = decide(
        &a,
        "card_res",
        "read",
        "PatientRecord",
        "r1_cancer_summary",
        &t,
    );
    assert!(summary.allowed);
    assert!(summary
        .determining_policies
        .contains(&"t7-resident-summary".to_string()));
    assert!(
        !decide(
            &a,
            "card_res",
            "read",
            "PatientRecord",
            "r1_cancer_detail",
            &t
        )
        .allowed
    );
    assert!(!decide(&a, "card_res", "read", "PatientRecord", "r3_common", &t).allowed);
    assert!(
        !decide(
            &a,
            "card_res",
            "read",
            "PatientRecord",
            "r2_cancer_summary",
            &t
        )
        .allowed
    );
    let chief = decide(
        &a,
        "card_chief",
        "read",
        "PatientRecord",
        "r1_cancer_detail",
        &t,
    );
    assert!(chief.allowed);
    assert_eq!(
        chief.determining_policies,
        vec!["t7-chief-detail".to_string()]
    );
    assert!(
        decide(
            &a,
            "card_chief",
            "read",
            "PatientRecord",
            "r2_cancer_summary",
            &t
        )
        .allowed
    );
}

/// Row filtering: one batch call returns exactly the single decisions.
#[test]
fn batch_filters_rows() {
    let a = authorizer();
    let rows = [
        "r1_common",
        "r1_cancer_summary",
        "r1_cancer_abstract",
        "r1_cancer_detail",
        "r2_common",
        "r3_common",
    ];
    let resources: Vec<_> = rows
        .iter()
        .map(|r| common::uid("PatientRecord", r))
        .collect();
    let got = a
        .decide_batch(
            &common::uid("User", "card_res"),
            &common::uid("Action", "read"),
            &resources,
            &treatment(),
        )
        .expect("batch");
    let visible: Vec<&str> = rows
        .iter()
        .zip(&got)
        .filter(|(_, d)| d.allowed)
        .map(|(r, _)| *r)
        .collect();
    assert_eq!(visible, ["r1_common", "r1_cancer_summary"]);
}
