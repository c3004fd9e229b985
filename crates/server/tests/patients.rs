//! Issue 7 "must show" through the API: doctors read patient records as GB/T 39725-2020 Table 7
//! allows (a cardiology resident reads the summary but not the detail of a cardiology patient's
//! cancer record, nothing of another department's or treatment group's patient; the chief reads
//! all of it); a revoked marketing consent blocks the next marketing use (§7 c)); policy and
//! attribute changes take effect on the next request and are audited with before and after
//! (T/CI 857-2024 7.2.4 b), c)); every read is in the audit log and in the subject's disclosure
//! history (§7 g)).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

mod common;

use axum::http::StatusCode;
use std::sync::Arc;

use common::api::{Api, Outbox};
use serde_json::{json, Value};

struct Ward {
    admin: String,
    officer: String,
    auditor: String,
    resident: String,
    resident_id: String,
    chief: String,
    insurer: String,
}

async fn account(api: &Api, admin: &str, name: &str, role: &str) -> (String, String) {
    let otp = api.create(admin, name, role).await;
    let (token, id, _) = api.activate(name, &otp).await;
    (token, id)
}

async fn put_attributes(api: &Api, officer: &str, id: &str, attrs: Value) {
    let (s, v) = api
        .call(
            "PUT",
            &format!("/api/v1/users/{id}/attributes"),
            Some(officer),
            Some(attrs),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn register(api: &Api, officer: &str, patient: &str, record: Value) -> String {
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/v1/patients/{patient}/records"),
            Some(officer),
            Some(record),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn record(
    dept: &str,
    group: &str,
    attending: &str,
    special: &[&str],
    gran: &str,
    level: u8,
) -> Value {
    json!({
        "organisation": "H-0001",
        "department": dept,
        "treatment_group": group,
        "attending": attending,
        "special_diseases": special,
        "granularity": gran,
        "level": level,
        "title": format!("{gran} record"),
        "content": {
            "diagnosis": if special.is_empty() { "I10 essential hypertension" } else { "C34.1 lung cancer" },
            "phone": "13812345678",
            "id_number": "110101199003071234",
            "note": format!("{gran} text"),
        },
    })
}

async fn ward(api: &Api, otp: &str) -> Ward {
    let (admin, _, _) = api.activate("admin", otp).await;
    let (officer, _) = account(api, &admin, "officer", "security_officer").await;
    let (auditor, _) = account(api, &admin, "auditor", "auditor").await;
    let (resident, resident_id) = account(api, &admin, "card_res", "clinician").await;
    let (chief, chief_id) = account(api, &admin, "card_chief", "clinician").await;
    let (_, attending2_id) = account(api, &admin, "card_att2", "clinician").await;
    let (insurer, insurer_id) = account(api, &admin, "insurer", "data_user").await;
    let doctor = |title: &str, groups: &[&str], supervises: &[&str]| {
        json!({
            "organisation": "H-0001",
            "department": "cardiology",
            "title": title,
            "treatment_groups": groups,
            "supervises": supervises,
            "roles": ["doctor"],
        })
    };
    put_attributes(
        api,
        &officer,
        &resident_id,
        doctor("resident", &["g1"], &[]),
    )
    .await;
    put_attributes(
        api,
        &officer,
        &attending2_id,
        doctor("attending", &["g2"], &[]),
    )
    .await;
    put_attributes(
        api,
        &officer,
        &chief_id,
        doctor("chief", &["g1"], &[attending2_id.as_str()]),
    )
    .await;
    put_attributes(
        api,
        &officer,
        &insurer_id,
        json!({"organisation": "INS-01", "department": "sales", "title": "none", "roles": ["insurer"]}),
    )
    .await;

    // P-CARD-1: cardiology group g1, a cancer record at summary and at detail, a common record.
    register(
        api,
        &officer,
        "P-CARD-1",
        record(
            "cardiology",
            "g1",
            &chief_id,
            &["malignant_tumour"],
            "summary",
            4,
        ),
    )
    .await;
    register(
        api,
        &officer,
        "P-CARD-1",
        record(
            "cardiology",
            "g1",
            &chief_id,
            &["malignant_tumour"],
            "detail",
            5,
        ),
    )
    .await;
    register(
        api,
        &officer,
        "P-CARD-1",
        record("cardiology", "g1", &chief_id, &[], "summary", 3),
    )
    .await;
    // P-CARD-2: cardiology, the other treatment group (attending supervised by the chief).
    register(
        api,
        &officer,
        "P-CARD-2",
        record(
            "cardiology",
            "g2",
            &attending2_id,
            &["malignant_tumour"],
            "summary",
            4,
        ),
    )
    .await;
    // P-ONC-1: another department.
    register(
        api,
        &officer,
        "P-ONC-1",
        record("oncology", "g1", &chief_id, &[], "summary", 3),
    )
    .await;
    Ward {
        admin,
        officer,
        auditor,
        resident,
        resident_id,
        chief,
        insurer,
    }
}

async fn read(api: &Api, token: &str, patient: &str, query: &str) -> (StatusCode, Value) {
    api.call(
        "GET",
        &format!("/api/v1/patients/{patient}/records?{query}"),
        Some(token),
        None,
    )
    .await
}

fn grans(v: &Value) -> Vec<(String, Vec<String>)> {
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["granularity"].as_str().unwrap().to_string(),
                r["special_diseases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctors_read_by_department_group_and_title_and_revoked_marketing_consent_blocks_the_next_use(
) {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let w = ward(&api, &otp).await;

    // The resident: the cancer summary and the common record, not the cancer detail.
    let (s, v) = read(&api, &w.resident, "P-CARD-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let got = grans(&v);
    assert_eq!(got.len(), 2, "{v}");
    assert!(got.contains(&("summary".into(), vec!["malignant_tumour".into()])));
    assert!(got.contains(&("summary".into(), vec![])));
    assert!(!got.iter().any(|(g, _)| g == "detail"), "{v}");
    assert_eq!(v["withheld"], 1);
    assert_eq!(v["consent"], "not_required");
    let cancer = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["special_diseases"][0] == "malignant_tumour")
        .unwrap();
    assert_eq!(cancer["content"]["diagnosis"], "C34.1 lung cancer");
    assert_eq!(cancer["allowed_by"], json!(["t7-resident-summary"]));

    // Another treatment group, another department: refused, and the refusal names no data.
    for p in ["P-CARD-2", "P-ONC-1"] {
        let (s, v) = read(&api, &w.resident, p, "purpose=treatment").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}: {v}");
        assert!(!v.to_string().contains("lung cancer"));
    }
    // No stated purpose: minimum necessary.
    let (s, v) = read(&api, &w.resident, "P-CARD-1", "").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v.to_string().contains("minimum-necessary-purpose"), "{v}");
    // Break-glass needs a reason.
    let (s, _) = read(
        &api,
        &w.resident,
        "P-CARD-1",
        "purpose=emergency_treatment&emergency=true",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The chief: all three records of P-CARD-1, and the supervised attending's patient.
    let (s, v) = read(&api, &w.chief, "P-CARD-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(grans(&v).len(), 3, "{v}");
    assert!(grans(&v).iter().any(|(g, _)| g == "detail"));
    let (s, v) = read(&api, &w.chief, "P-CARD-2", "purpose=treatment").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = read(&api, &w.chief, "P-ONC-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Marketing: refused without the separate consent.
    let (s, v) = read(&api, &w.insurer, "P-CARD-1", "purpose=marketing").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v.to_string().contains("consent-marketing"), "{v}");
    // A general consent does not cover marketing, and cannot list it.
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/patients/P-CARD-1/consents",
            Some(&w.officer),
            Some(json!({"kind": "general", "grantee": "INS-01", "purposes": ["marketing"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, consent) = api
        .call(
            "POST",
            "/api/v1/patients/P-CARD-1/consents",
            Some(&w.officer),
            Some(json!({
                "kind": "marketing", "grantee": "INS-01", "purposes": ["marketing"],
                "scope": "contact details and common-disease summaries", "manner": "use",
                "period_start": null, "period_end": null,
                "rights": ["withdraw at any time"], "safeguards": ["no onward transfer"],
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{consent}");
    let (s, v) = read(&api, &w.insurer, "P-CARD-1", "purpose=marketing").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["consent"], "granted");
    // Only the common-disease summary, with identifiers masked for display (§11.7.4.2 b) 2)).
    assert_eq!(grans(&v), vec![("summary".to_string(), vec![])], "{v}");
    let r = &v["records"][0];
    assert_eq!(r["content"]["phone"], "138****5678");
    assert_eq!(r["content"]["id_number"], "110***********1234");
    assert_eq!(r["content"]["diagnosis"], "I10 essential hypertension");
    assert_eq!(r["allowed_by"], json!(["insurer-marketing-consented"]));

    // The subject revokes: the very next marketing use is refused.
    let consent_id = consent["id"].as_str().unwrap();
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/v1/consents/{consent_id}/revoke"),
            Some(&w.officer),
            Some(json!({"reason": "patient withdrew by phone"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "revoked");
    let (s, v) = read(&api, &w.insurer, "P-CARD-1", "purpose=marketing").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let msg = v.to_string();
    assert!(
        msg.contains("consent-marketing") && msg.contains("consent-revoked"),
        "{v}"
    );
    // Revoking twice is a conflict; treatment is unaffected by a marketing revocation.
    let (s, _) = api
        .call(
            "POST",
            &format!("/api/v1/consents/{consent_id}/revoke"),
            Some(&w.officer),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = read(&api, &w.resident, "P-CARD-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::OK);
    // The registry exports as FHIR R4 Consent.
    let (s, b) = api
        .call(
            "GET",
            "/api/v1/patients/P-CARD-1/consents/fhir",
            Some(&w.officer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["entry"][0]["resource"]["resourceType"], "Consent");
    assert_eq!(b["entry"][0]["resource"]["status"], "inactive");
    assert_eq!(
        b["entry"][0]["resource"]["provision"]["purpose"][0]["code"],
        "HMARKT"
    );

    // The audit log: reads allowed and denied, the consent's recording and revocation, each
    // naming the subject by pseudonym only.
    let all = api.audit().await;
    let reads: Vec<&Value> = all
        .iter()
        .filter(|e| e["action"] == "patient.records.read")
        .collect();
    assert!(
        reads.iter().any(|e| e["outcome"] == "denied"),
        "denials are audited"
    );
    assert!(reads.iter().any(|e| e["outcome"] == "success"));
    for action in [
        "consent.create",
        "consent.revoke",
        "access.attributes.update",
    ] {
        assert!(
            all.iter().any(|e| e["action"] == action),
            "{action} audited"
        );
    }
    let log = serde_json::to_string(&all).unwrap();
    for plain in [
        "P-CARD-1",
        "13812345678",
        "110101199003071234",
        "lung cancer",
    ] {
        assert!(
            !log.contains(plain),
            "`{plain}` must not appear in the audit log"
        );
    }
    // The subject's disclosure history (§7 g)) lists the reads of their records.
    let (s, h) = api
        .call(
            "POST",
            "/api/v1/audit/subject-history",
            Some(&w.auditor),
            Some(json!({"identifiers": ["P-CARD-1"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let actions: Vec<&str> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"patient.records.read"), "{actions:?}");
    assert!(actions.contains(&"consent.revoke"), "{actions:?}");
    let (s, v) = api
        .call("GET", "/api/v1/audit/verify", Some(&w.auditor), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_and_attribute_changes_apply_to_the_next_request_and_are_audited_with_before_and_after(
) {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let w = ward(&api, &otp).await;
    let (s, _) = read(&api, &w.resident, "P-CARD-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::OK);

    // A policy that does not validate against the schema is refused; nothing changes.
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/access/policies",
            Some(&w.officer),
            Some(json!({
                "policies": "@id(\"bad\") forbid (principal, action, resource is PatientRecord) when { resource.ward == \"3\" };",
                "reason": "typo",
            })),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Only the security officer changes policies; the resident may not even list them.
    let (s, _) = api
        .call("GET", "/api/v1/access/policies", Some(&w.resident), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let freeze = "@id(\"card-resident-freeze\")\n@clause(\"incident response: cardiology residents suspended\")\nforbid (principal, action == Action::\"read\", resource is PatientRecord)\nwhen { principal.title == \"resident\" && resource.department == \"cardiology\" };";
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/access/policies",
            Some(&w.officer),
            Some(json!({"policies": freeze, "reason": "incident 2026-11"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 1);
    let (s, v) = read(&api, &w.resident, "P-CARD-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v.to_string().contains("card-resident-freeze"), "{v}");
    // Built-in policies cannot be removed; the added one can, and the next request is allowed.
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/access/policies/t7-chief-detail/remove",
            Some(&w.officer),
            Some(json!({"reason": "no"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/access/policies/card-resident-freeze/remove",
            Some(&w.officer),
            Some(json!({"reason": "incident closed"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 2);
    let (s, _) = read(&api, &w.resident, "P-CARD-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::OK);

    // The resident moves to oncology: the next request to a cardiology patient is refused.
    put_attributes(
        &api,
        &w.officer,
        &w.resident_id,
        json!({"organisation": "H-0001", "department": "oncology", "title": "resident",
               "treatment_groups": ["g1"], "roles": ["doctor"]}),
    )
    .await;
    let (s, _) = read(&api, &w.resident, "P-CARD-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = read(&api, &w.resident, "P-ONC-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A value outside its vocabulary is refused with the field named.
    let (s, v) = api
        .call(
            "PUT",
            &format!("/api/v1/users/{}/attributes", w.resident_id),
            Some(&w.officer),
            Some(json!({"organisation": "H-0001", "department": "oncology", "title": "professor"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("title"), "{v}");

    // Each change is audited with before and after.
    let all = api.audit().await;
    let updates: Vec<&Value> = all
        .iter()
        .filter(|e| e["action"] == "access.policies.update" && e["outcome"] == "success")
        .collect();
    assert_eq!(updates.len(), 2);
    let after: Vec<&str> = updates[0]["detail"]["policies"]["after"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(after.contains(&"card-resident-freeze"));
    assert_eq!(updates[0]["detail"]["policies"]["before"], json!([]));
    assert_eq!(updates[1]["detail"]["policies"]["after"], json!([]));
    assert!(all
        .iter()
        .any(|e| e["action"] == "access.policies.update" && e["outcome"] == "error"));
    let moved = all
        .iter()
        .rfind(|e| {
            e["action"] == "access.attributes.update" && e["target"] == w.resident_id.as_str()
        })
        .unwrap();
    assert_eq!(moved["detail"]["before"]["department"], "cardiology");
    assert_eq!(moved["detail"]["after"]["department"], "oncology");
    let _ = &w.chief;
    let _ = &w.insurer;
    let _ = &w.auditor;
}

/// Reopens the node of `api` with extra configuration appended to its medspace.toml; text
/// messages go to `outbox`.
async fn reconfigure(tmp: &std::path::Path, api: Api, extra: &str, outbox: Arc<Outbox>) -> Api {
    api.node.close().await;
    drop(api);
    let config = tmp.join("node").join("medspace.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(extra);
    std::fs::write(&config, text).unwrap();
    let mut node = medspace_service::Node::open(&tmp.join("node"), &Default::default())
        .await
        .unwrap();
    node.set_sms_gateway(outbox);
    Api::from_node(Arc::new(node))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_frequency_reads_raise_alerts_to_the_webhook_and_lock_the_account_until_unlocked() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let w = ward(&api, &otp).await;
    // A webhook receiver on loopback that keeps every body it gets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read headers and the announced body.
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        tx.send(text[end + 4..end + 4 + len].to_string()).unwrap();
                        break;
                    }
                }
            }
            sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
        }
    });
    let (smtp_port, mut mail) = smtp_sink().await;
    let outbox = Arc::new(Outbox::default());
    let api = reconfigure(
        tmp.path(),
        api,
        &format!(
            "\n[anomaly]\nwork_hours_start = 0\nwork_hours_end = 24\nmax_reads_per_minute = 3\n\
             lock_at = \"high\"\n\n[[anomaly.channels]]\nkind = \"log\"\n\n\
             [[anomaly.channels]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\n\
             [[anomaly.channels]]\nkind = \"sms\"\nto = [\"13700000001\"]\n\n\
             [[anomaly.channels]]\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\nport = {smtp_port}\n\
             security = \"none\"\nfrom = \"medspace@hospital.example\"\n\
             to = [\"secops@hospital.example\"]\n"
        ),
        outbox.clone(),
    )
    .await;
    // Sessions survive the restart (they are stored); three reads are normal.
    for _ in 0..3 {
        let (s, v) = read(&api, &w.resident, "P-CARD-1", "purpose=treatment").await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // The fourth within a minute is high-frequency: alert, lock, refused.
    let (s, v) = read(&api, &w.resident, "P-CARD-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v.to_string().contains("high_frequency"), "{v}");
    let hook: Value = serde_json::from_str(
        &tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(hook["rule"], "high_frequency");
    assert_eq!(hook["user_id"], w.resident_id.as_str());
    assert_eq!(hook["severity"], "high");
    assert!(hook["raised_at"].is_string());
    assert!(hook["detail"]["patient"]
        .as_str()
        .unwrap()
        .starts_with("sp:"));
    assert!(!hook.to_string().contains("P-CARD-1"));
    // The on-call phone got a text naming the rule and the account, nothing about the patient.
    let texts = outbox.0.lock().unwrap().clone();
    let (to, text) = texts
        .iter()
        .find(|(_, t)| t.contains("high_frequency"))
        .unwrap();
    assert_eq!(to, "13700000001");
    assert!(
        text.contains(&w.resident_id) && !text.contains("sp:"),
        "{text}"
    );
    // The security team's mailbox got the alert: rule, account, address, time; no patient id.
    let (rcpt, message) = tokio::time::timeout(std::time::Duration::from_secs(10), mail.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rcpt, "<secops@hospital.example>");
    assert!(
        message.contains("Subject: [medspace] abnormal access: high high_frequency"),
        "{message}"
    );
    assert!(message.contains(&w.resident_id), "{message}");
    assert!(!message.contains("P-CARD-1"), "{message}");
    // Locked: the session no longer works and the password is refused.
    let (s, _) = read(&api, &w.resident, "P-CARD-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = api.login("card_res", common::api::PASSWORD).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    // The officer sees the alert in the review queue, reviews it and unlocks the account.
    let (s, alerts) = api
        .call("GET", "/api/v1/alerts?open=true", Some(&w.officer), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{alerts}");
    let alert = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "high_frequency")
        .unwrap();
    let (s, _) = api
        .call("GET", "/api/v1/alerts", Some(&w.resident), None)
        .await;
    assert_ne!(s, StatusCode::OK);
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/v1/alerts/{}/review", alert["id"].as_str().unwrap()),
            Some(&w.officer),
            Some(json!({"note": "ward round with many readings; confirmed with the doctor"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/v1/users/{}/unlock", w.resident_id),
            Some(&w.officer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = api.login("card_res", common::api::PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let all = api.audit().await;
    for action in ["alert.raise", "account.lock", "alert.review"] {
        assert!(
            all.iter().any(|e| e["action"] == action),
            "{action} audited"
        );
    }
    let _ = (&w.chief, &w.insurer, &w.auditor);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_reads_outside_scope_with_a_reason_and_queues_an_alert_for_review() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let w = ward(&api, &otp).await;
    // The resident has no normal access to the oncology patient …
    let (s, _) = read(&api, &w.resident, "P-ONC-1", "purpose=treatment").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // … but in an emergency, with a reason, may read; the access raises a review alert.
    let (s, v) = read(
        &api,
        &w.resident,
        "P-ONC-1",
        "purpose=emergency_treatment&emergency=true&reason=cardiac%20arrest%20in%20ward%203",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["records"][0]["allowed_by"],
        json!(["emergency-break-glass"])
    );
    let (s, alerts) = api
        .call("GET", "/api/v1/alerts?open=true", Some(&w.auditor), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{alerts}");
    assert!(alerts
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["rule"] == "break_glass" && a["user_id"] == w.resident_id.as_str()));
    let _ = (&w.chief, &w.insurer, &w.officer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_scope_access_needs_two_distinct_approvers_then_reads_for_the_approved_purpose_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let w = ward(&api, &otp).await;
    let admin = w.admin.clone();
    let (committee, _) = account(&api, &admin, "committee", "committee_member").await;
    let (s, _) = read(&api, &w.resident, "P-ONC-1", "purpose=consultation").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, req) = api
        .call(
            "POST",
            "/api/v1/access-requests",
            Some(&w.resident),
            Some(json!({"patient_id": "P-ONC-1", "purpose": "consultation",
                        "reason": "cardiology consult requested by oncology", "days": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{req}");
    assert_eq!(req["status"], "pending");
    let decision = format!(
        "/api/v1/access-requests/{}/decision",
        req["id"].as_str().unwrap()
    );
    let approve = json!({"approve": true, "reason": "consult confirmed with oncology"});
    // The requester cannot approve; a data user or clinician is not an approver.
    let (s, _) = api
        .call("POST", &decision, Some(&w.resident), Some(approve.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // One approval is not enough; the same person twice is refused.
    let (s, v) = api
        .call("POST", &decision, Some(&w.officer), Some(approve.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "pending");
    let (s, _) = read(&api, &w.resident, "P-ONC-1", "purpose=consultation").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = api
        .call("POST", &decision, Some(&w.officer), Some(approve.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // A second, distinct approver: approved.
    let (s, v) = api
        .call("POST", &decision, Some(&committee), Some(approve.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "approved");
    assert!(v["valid_until"].is_string());
    let (s, v) = read(&api, &w.resident, "P-ONC-1", "purpose=consultation").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["records"][0]["allowed_by"],
        json!(["approved-over-scope"])
    );
    // Only for the approved purpose and patient.
    let (s, _) = read(&api, &w.resident, "P-ONC-1", "purpose=research").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = read(&api, &w.resident, "P-CARD-2", "purpose=consultation").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Decided requests take no more decisions.
    let (s, _) = api
        .call("POST", &decision, Some(&admin), Some(approve))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the administrator is no approver");
    // The read carries the approval in its audit entry.
    let all = api.audit().await;
    assert!(all.iter().any(|e| e["action"] == "patient.records.read"
        && e["outcome"] == "success"
        && e["context"]["approval"] == req["id"]));
    let _ = (&w.chief, &w.insurer, &w.auditor);
}

/// A minimal SMTP receiver on loopback (RFC 5321 commands only, no extensions) that hands each
/// message's recipient and text to the test.
async fn smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<(String, String)>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = sock.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut rcpt = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt = line["RCPT TO:".len()..].trim().to_string();
                        b"250 OK\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut message = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            message.push_str(&l);
                            message.push('\n');
                        }
                        let _ = tx.send((rcpt.clone(), message));
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

/// GB/T 39725-2020 §10.2 h) over the API: the re-identification routes exist, answer only the
/// roles they are for, and are described in the OpenAPI document. (The whole flow — index,
/// approval, one resolution, audit — is tested in the service crate's `reidentification` tests.)
#[tokio::test]
async fn reidentification_routes_are_role_gated_and_documented() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let (admin, _, _) = api.activate("admin", &otp).await;
    let (reid, _) = account(&api, &admin, "reid", "reidentification_officer").await;
    let (reviewer, _) = account(&api, &admin, "reviewer", "committee_member").await;
    let (auditor, _) = account(&api, &admin, "auditor", "auditor").await;
    let body = json!({
        "dataset_id": "ds-none", "column": "id_number", "pseudonym": "P", "reason": "adverse event",
    });
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/reidentifications",
            Some(&auditor),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = api
        .call("POST", "/api/v1/reidentifications", Some(&reid), Some(body))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/reidentifications",
            Some(&reid),
            Some(
                json!({"dataset_id": "d", "column": "c", "pseudonym": "p", "reason": "r", "x": 1}),
            ),
        )
        .await;
    assert!(s.is_client_error(), "unknown fields are refused: {s} {v}");
    let decision = json!({"approve": true, "reason": "ok"});
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/reidentifications/ri-none/decision",
            Some(&reid),
            Some(decision.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/reidentifications/ri-none/decision",
            Some(&reviewer),
            Some(decision),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/reidentifications/ri-none/resolve",
            Some(&reviewer),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = api
        .call("GET", "/api/v1/reidentifications", Some(&auditor), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!([]));
    let (s, doc) = api.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/api/v1/reidentifications",
        "/api/v1/reidentifications/{id}/decision",
        "/api/v1/reidentifications/{id}/resolve",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} not documented");
    }
    assert!(doc["paths"]["/api/v1/datasets/{id}/deidentify"]["post"].is_object());
}
