//! Patient self-service through the API (GB/T 39725-2020 §7 d)–h), §11.2): login by mobile number
//! and a one-time SMS code; own records with HIV/hepatitis/syphilis results withheld; a download
//! with the security notice; the six-year disclosure history listing a doctor's read; a correction
//! request worked by the officer; a guardian acting for a linked ward only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::api::{Api, Outbox};
use serde_json::{json, Value};

/// Asks for a code by SMS and logs in with it; the login's status and body.
async fn sms_login(api: &Api, outbox: &Outbox, mobile: &str) -> (StatusCode, Value) {
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/patient/login/code",
            None,
            Some(json!({"mobile": mobile})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let code = outbox.last_code(mobile);
    api.call(
        "POST",
        "/api/v1/patient/login",
        None,
        Some(json!({"mobile": mobile, "code": code})),
    )
    .await
}

async fn patient_login(api: &Api, outbox: &Outbox, mobile: &str) -> String {
    let (s, v) = sms_login(api, outbox, mobile).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["role"], "patient");
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patients_log_in_by_sms_read_their_records_without_hidden_results_and_see_every_disclosure()
{
    let tmp = tempfile::tempdir().unwrap();
    let (mut node, outcome) = common::init_node(tmp.path()).await;
    let outbox = Arc::new(Outbox::default());
    node.set_sms_gateway(outbox.clone());
    let api = Api::from_node(Arc::new(node));
    let (admin, _, _) = api.activate("admin", &outcome.admin_password).await;
    let otp = api.create(&admin, "officer", "security_officer").await;
    let (officer, _, _) = api.activate("officer", &otp).await;
    let otp = api.create(&admin, "auditor", "auditor").await;
    let (auditor, _, _) = api.activate("auditor", &otp).await;
    let otp = api.create(&admin, "doc", "clinician").await;
    let (doc, doc_id, _) = api.activate("doc", &otp).await;
    let (s, v) = api
        .call(
            "PUT",
            &format!("/api/v1/users/{doc_id}/attributes"),
            Some(&officer),
            Some(
                json!({"organisation": "H-0001", "department": "internal", "title": "chief",
                        "treatment_groups": ["g1"], "roles": ["doctor"]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let record = |title: &str, diagnosis: &str, special: &[&str], gran: &str, level: u8| {
        json!({"organisation": "H-0001", "department": "internal", "treatment_group": "g1",
               "attending": doc_id, "special_diseases": special, "granularity": gran,
               "level": level, "title": title, "content": {"diagnosis": diagnosis}})
    };
    for r in [
        record(
            "outpatient visit",
            "I10 essential hypertension",
            &[],
            "summary",
            3,
        ),
        record(
            "lab report",
            "HIV antibody test: reactive",
            &["infectious"],
            "detail",
            5,
        ),
        record(
            "discharge record",
            "C34.1 lung cancer",
            &["malignant_tumour"],
            "detail",
            5,
        ),
    ] {
        let (s, v) = api
            .call(
                "POST",
                "/api/v1/patients/P-SELF-1/records",
                Some(&officer),
                Some(r),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/patients/P-SELF-1/account",
            Some(&officer),
            Some(json!({"mobile": "13812345678"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // One account per number.
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/patients/P-OTHER/account",
            Some(&officer),
            Some(json!({"mobile": "138 1234 5678"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // A wrong code is refused; an unregistered number gets the same answer and no message.
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/patient/login/code",
            None,
            Some(json!({"mobile": "13812345678"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/patient/login",
            None,
            Some(json!({"mobile": "13812345678", "code": "000000x"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let sent = outbox.count();
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/patient/login/code",
            None,
            Some(json!({"mobile": "13700000000"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(outbox.count(), sent, "no message to an unregistered number");
    let patient = patient_login(&api, &outbox, "13812345678").await;
    // A used code does not work twice.
    let code = outbox.last_code("13812345678");
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/patient/login",
            None,
            Some(json!({"mobile": "13812345678", "code": code})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Own records: the HIV result is withheld online (§11.2.2.2), the cancer detail is shown.
    let (s, v) = api
        .call("GET", "/api/v1/me/records", Some(&patient), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let titles: Vec<&str> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "{v}");
    assert!(titles.contains(&"outpatient visit") && titles.contains(&"discharge record"));
    assert_eq!(v["withheld"], 1);
    assert!(!v.to_string().contains("HIV"));
    // A window after the records holds nothing.
    let (s, v) = api
        .call(
            "GET",
            "/api/v1/me/records?since=2999-01-01T00:00:00Z",
            Some(&patient),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["records"], json!([]));
    // Another patient's records: refused; the clinicians' API: refused.
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/me/records?for=P-OTHER",
            Some(&patient),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/patients/P-SELF-1/records?purpose=treatment",
            Some(&patient),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The download carries the security notice.
    let (s, v) = api
        .call("GET", "/api/v1/me/records/download", Some(&patient), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["notice"].as_str().unwrap().contains("妥善保管"));
    assert_eq!(v["records"]["records"].as_array().unwrap().len(), 2);

    // A doctor reads the patient's records: the patient sees it in the disclosure history.
    let (s, v) = api
        .call(
            "GET",
            "/api/v1/patients/P-SELF-1/records?purpose=treatment",
            Some(&doc),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, h) = api
        .call("GET", "/api/v1/me/disclosures", Some(&patient), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let entries = h["entries"].as_array().unwrap();
    assert!(entries
        .iter()
        .any(|e| e["action"] == "patient.records.read" && e["actor"] == doc_id.as_str()));
    assert!(
        entries.iter().all(|e| e["proof"].is_array()),
        "each entry has its proof"
    );

    // The patient chooses an account name and a password, then may log in with them too.
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/me/credentials",
            Some(&patient),
            Some(json!({"username": "zs-1990", "password": "short"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/me/credentials",
            Some(&patient),
            Some(json!({"username": "officer", "password": "Patient-Passw0rd-1"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/me/credentials",
            Some(&patient),
            Some(json!({"username": "zs-1990", "password": "Patient-Passw0rd-1"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = api.login("zs-1990", "Patient-Passw0rd-1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["role"], "patient");
    let (s, _) = api
        .call("GET", "/api/v1/me/records", v["token"].as_str(), None)
        .await;
    assert_eq!(s, StatusCode::OK);

    // A correction request, worked by the officer.
    let (s, r) = api
        .call(
            "POST",
            "/api/v1/me/requests",
            Some(&patient),
            Some(json!({"kind": "correction", "text": "my blood type is A, not B"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, q) = api
        .call(
            "GET",
            "/api/v1/subject-requests?open=true",
            Some(&officer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    assert_eq!(q[0]["text"], "my blood type is A, not B");
    let resolve = format!(
        "/api/v1/subject-requests/{}/resolve",
        r["id"].as_str().unwrap()
    );
    let body = json!({"accept": true, "resolution": "blood type corrected in the EMR"});
    let (s, _) = api
        .call("POST", &resolve, Some(&officer), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api.call("POST", &resolve, Some(&officer), Some(body)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = api
        .call("GET", "/api/v1/subject-requests", Some(&patient), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A guardian acts for the linked ward only.
    let (s, g) = api
        .call(
            "POST",
            "/api/v1/patients/P-PARENT/account",
            Some(&officer),
            Some(json!({"mobile": "13912345678"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/v1/users/{}/wards", g["id"].as_str().unwrap()),
            Some(&officer),
            Some(json!({"patient_id": "P-SELF-1"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let guardian = patient_login(&api, &outbox, "13912345678").await;
    let (s, v) = api
        .call(
            "GET",
            "/api/v1/me/records?for=P-SELF-1",
            Some(&guardian),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["records"].as_array().unwrap().len(), 2);
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/me/records?for=P-OTHER",
            Some(&guardian),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Nothing personal in the audit log: no number, no code, no identifier, no diagnosis.
    let log = serde_json::to_string(&api.audit().await).unwrap();
    for plain in [
        "13812345678",
        "13912345678",
        "P-SELF-1",
        "blood type",
        "HIV",
        "验证码",
    ] {
        assert!(
            !log.contains(plain),
            "`{plain}` must not appear in the audit log"
        );
    }
    // A locked account (say, by the abnormal-access rules) is refused even with the right code,
    // and the refusal is on record.
    let patient_id = api
        .node
        .authenticate(&patient)
        .await
        .unwrap()
        .id()
        .to_string();
    api.node
        .store()
        .lock_account(
            &patient_id,
            chrono::Utc::now(),
            &medspace_core::AuditEvent::new(
                "system",
                "account.lock",
                &patient_id,
                medspace_core::Outcome::Success,
            ),
        )
        .await
        .unwrap();
    let (s, _) = sms_login(&api, &outbox, "13812345678").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let all: Vec<Value> = api.audit().await;
    assert!(
        all.iter().any(|e| e["action"] == "patient.login"
            && e["outcome"] == "denied"
            && e["detail"]["reason"] == "locked"),
        "the refused login of a locked account is audited"
    );
    for action in [
        "patient.account.create",
        "patient.login.code",
        "patient.records.download",
        "patient.request.create",
        "patient.request.resolve",
        "patient.guardian.link",
    ] {
        assert!(
            all.iter().any(|e| e["action"] == action),
            "{action} audited"
        );
    }
    let (s, v) = api
        .call("GET", "/api/v1/audit/verify", Some(&auditor), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
