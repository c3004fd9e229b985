//! Accounts through the API (GB/T 39725-2020 §11.1.2.4, §11.6.2.2, Appendix F identity rows;
//! T/CI 857-2024 7.2): lockout after five bad passwords that lasts until the security officer's
//! audited unlock, two-step login with a TOTP code, separation of duties (every forbidden call
//! answered 403 and audited as denied), API tokens, and client-certificate login on the mutual-TLS
//! peer listener.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

mod common;

use common::api::Api;

use axum::http::StatusCode;
use medspace_server::{peer_client_config_from_files, NodeTls, PeerClient};
use medspace_service::config::TlsSettings;
use serde_json::{json, Value};

struct Team {
    admin: String,
    officer: String,
    officer_id: String,
    auditor: String,
    analyst_id: String,
}

async fn team(api: &Api, otp: &str) -> Team {
    let (admin, _, _) = api.activate("admin", otp).await;
    let o = api.create(&admin, "officer", "security_officer").await;
    let (officer, officer_id, _) = api.activate("officer", &o).await;
    let o = api.create(&admin, "auditor", "auditor").await;
    let (auditor, _, _) = api.activate("auditor", &o).await;
    let o = api.create(&admin, "analyst", "data_user").await;
    let (_, analyst_id, totp) = api.activate("analyst", &o).await;
    assert!(totp.is_none(), "a data user inside needs no second factor");
    Team {
        admin,
        officer,
        officer_id,
        auditor,
        analyst_id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_after_five_bad_passwords_until_the_officer_unlocks_each_step_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let t = team(&api, &otp).await;
    for _ in 0..5 {
        let (s, v) = api.login("analyst", "Wrong-Passw0rd-1").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
    // Locked: the right password is refused, now and later.
    for _ in 0..2 {
        let (s, v) = api.login("analyst", "Api-Passw0rd-2026").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(v["message"].as_str().unwrap().contains("locked"), "{v}");
    }
    let (_, users) = api.call("GET", "/api/v1/users", Some(&t.admin), None).await;
    let analyst = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "analyst")
        .unwrap();
    assert_eq!(analyst["locked"], true);
    let unlock = format!("/api/v1/users/{}/unlock", t.analyst_id);
    // Neither the administrator nor the auditor may unlock.
    for who in [&t.admin, &t.auditor] {
        let (s, v) = api.call("POST", &unlock, Some(who), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    }
    let (s, v) = api.call("POST", &unlock, Some(&t.officer), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["locked"], false);
    let (s, v) = api.login("analyst", "Api-Passw0rd-2026").await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // The auditor reads every step in the audit log through the API.
    let (s, entries) = api
        .call(
            "GET",
            "/api/v1/audit/entries?limit=1000",
            Some(&t.auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{entries}");
    let text = entries.to_string();
    let all = api.audit().await;
    let of = |action: &str, outcome: &str| {
        all.iter()
            .filter(|e| {
                e["action"] == action
                    && e["outcome"] == outcome
                    && e["target"] == t.analyst_id.as_str()
            })
            .count()
    };
    assert_eq!(
        of("account.login", "denied"),
        5 + 2,
        "5 failures, 2 refusals"
    );
    assert_eq!(of("account.lock", "success"), 1);
    assert_eq!(of("account.unlock", "success"), 1);
    assert!(of("account.login", "success") >= 2);
    let unlock_entry = all
        .iter()
        .find(|e| e["action"] == "account.unlock")
        .unwrap();
    assert_eq!(unlock_entry["actor"], t.officer_id.as_str());
    assert!(text.contains("account.lock") && text.contains("account.unlock"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_logins_need_a_totp_code_that_works_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let (admin, _, totp) = api.activate("admin", &otp).await;
    let mut totp = totp.expect("administrators enrol a second factor");
    // The restricted first session became a full one after enrolment.
    assert_eq!(
        api.call("GET", "/api/v1/users", Some(&admin), None).await.0,
        StatusCode::OK
    );
    let (s, v) = api.login("admin", "Api-Passw0rd-2026").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["second_factor_required"], true);
    assert!(v.get("token").is_none(), "{v}");
    let challenge = v["challenge"].as_str().unwrap().to_string();
    let code = totp.code();
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/auth/login/totp",
            None,
            Some(json!({"challenge": challenge, "code": code})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(
        api.call("GET", "/api/v1/users", Some(&token), None).await.0,
        StatusCode::OK
    );
    // The same code again, with a new challenge: refused.
    let (_, v) = api.login("admin", "Api-Passw0rd-2026").await;
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/auth/login/totp",
            None,
            Some(json!({"challenge": v["challenge"], "code": code})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("already used"),
        "{v}"
    );
    // An unprivileged first session cannot enrol someone else or skip enrolment.
    let o = api.create(&admin, "officer", "security_officer").await;
    let (s, v) = api.login("officer", &o).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["must_enrol_second_factor"], true);
    let first = v["token"].as_str().unwrap().to_string();
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/auth/password",
            Some(&first),
            Some(json!({"old_password": o, "new_password": "Api-Passw0rd-2026"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = api
        .call("GET", "/api/v1/datasets", Some(&first), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        v["message"].as_str().unwrap().contains("second factor"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separation_of_duties_every_forbidden_call_is_403_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let t = team(&api, &otp).await;
    let analyst_unlock = format!("/api/v1/users/{}/unlock", t.analyst_id);
    let cases: Vec<(&str, &str, &str, Option<Value>, &str)> = vec![
        // The system administrator reads no data and no audit log, and unlocks nothing.
        (
            &t.admin,
            "GET",
            "/api/v1/datasets",
            None,
            "view_published_catalog",
        ),
        (
            &t.admin,
            "POST",
            "/api/v1/sandbox/query",
            Some(json!({"sql": "SELECT 1"})),
            "query",
        ),
        (&t.admin, "GET", "/api/v1/audit/entries", None, "read_audit"),
        (&t.admin, "POST", &analyst_unlock, None, "unlock_account"),
        // The auditor reads the audit log and changes nothing.
        (
            &t.auditor,
            "POST",
            "/api/v1/users",
            Some(json!({"username": "mole", "role": "administrator"})),
            "manage_accounts",
        ),
        (&t.auditor, "POST", &analyst_unlock, None, "unlock_account"),
        (
            &t.auditor,
            "POST",
            "/api/v1/tokens",
            Some(json!({"user_id": t.analyst_id, "label": "x", "expires_in_days": 1})),
            "manage_credentials",
        ),
        (
            &t.auditor,
            "POST",
            "/api/v1/applications/a-1/decision",
            Some(json!({"approve": true, "reason": "x"})),
            "decide_application",
        ),
        // The security administrator manages no accounts.
        (
            &t.officer,
            "POST",
            "/api/v1/users",
            Some(json!({"username": "mole", "role": "administrator"})),
            "manage_accounts",
        ),
        (
            &t.officer,
            "GET",
            "/api/v1/tokens",
            None,
            "manage_credentials",
        ),
    ];
    for (token, method, uri, body, action) in cases {
        let before = api.audit().await.len();
        let (s, v) = api.call(method, uri, Some(token), body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {uri}: {v}");
        let after = api.audit().await;
        assert!(
            after[before..]
                .iter()
                .any(|e| e["action"] == "access.denied"
                    && e["outcome"] == "denied"
                    && e["target"] == action),
            "{method} {uri}: no denied audit entry for {action}: {:?}",
            &after[before..]
        );
    }
    // The auditor does read the audit log.
    let (s, _) = api
        .call("GET", "/api/v1/audit/entries", Some(&t.auditor), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    // One role per account: a list of roles is not accepted.
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/users",
            Some(&t.admin),
            Some(json!({"username": "combo", "role": ["administrator", "auditor"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_for_systems_work_until_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let (api, otp) = Api::new(tmp.path()).await;
    let t = team(&api, &otp).await;
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&t.admin),
            Some(json!({"user_id": t.analyst_id, "label": "his-etl", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let id = v["info"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["info"]["role"], "data_user");
    assert_eq!(
        api.call("GET", "/api/v1/datasets", Some(&token), None)
            .await
            .0,
        StatusCode::OK
    );
    // Tokens for privileged roles are refused.
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&t.admin),
            Some(json!({"user_id": t.officer_id, "label": "x", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, list) = api
        .call("GET", "/api/v1/tokens", Some(&t.admin), None)
        .await;
    assert!(!list.to_string().contains(&token[4..]));
    let (s, _) = api
        .call(
            "POST",
            &format!("/api/v1/tokens/{id}/revoke"),
            Some(&t.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api.call("GET", "/api/v1/datasets", Some(&token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_client_certificate_logs_in_on_the_mutual_tls_listener() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = common::new_ca("medspace test federation CA");
    let node_a = common::leaf("node-a", Some(&ca), false);
    let hospital = common::leaf("hospital-b", Some(&ca), false);
    let stranger = common::leaf("hospital-c", Some(&ca), false);
    std::fs::write(dir.join("peer-ca.pem"), ca.cert_pem()).unwrap();
    let ca_path = dir.join("peer-ca.pem");
    let (a_cert, a_key) = node_a.write(dir, "node-a");
    let (h_cert, h_key) = hospital.write(dir, "hospital");
    let (s_cert, s_key) = stranger.write(dir, "stranger");

    let (api, otp) = Api::new(dir).await;
    let t = team(&api, &otp).await;
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/certificates",
            Some(&t.admin),
            Some(json!({
                "fingerprint": hospital.info().sha256,
                "subject": hospital.info().subject,
                "user_id": t.analyst_id,
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let settings = TlsSettings {
        reload_check_seconds: 0,
        peer_ca: Some(ca_path.clone()),
        peer_cert: Some(a_cert),
        peer_key: Some(a_key),
        ..TlsSettings::default()
    };
    let tls = NodeTls::with_settings(api.node.clone(), &settings).unwrap();
    let run = common::start(api.node.clone(), tls, true).await;
    let url = format!(
        "https://127.0.0.1:{}/api/v1/peer/account",
        run.peer_port.unwrap()
    );
    let client = PeerClient::new(peer_client_config_from_files(&ca_path, &h_cert, &h_key).unwrap());
    let resp = client.get(&url).await.unwrap();
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["id"], t.analyst_id.as_str());
    assert_eq!(v["role"], "data_user");
    // A valid certificate of the same CA that is not mapped: 401.
    let client = PeerClient::new(peer_client_config_from_files(&ca_path, &s_cert, &s_key).unwrap());
    assert_eq!(client.get(&url).await.unwrap().status, 401);
    let logins: Vec<_> = api
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "account.login.certificate")
        .map(|e| e["outcome"].clone())
        .collect();
    assert_eq!(logins, vec!["success", "denied"]);
    let _ = run.stop.send(());
}
