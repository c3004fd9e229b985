//! Accounts that resist attack (GB/T 39725-2020 §11.1.2.4, §11.6.2.2, Appendix F identity rows;
//! DMS 5.2.1): password complexity, maximum age and history; lockout within a window with an
//! audited unlock by the security administrator (or configured auto-unlock); idle and absolute
//! session limits; TOTP second factor (mandatory for privileged roles and outside the internal
//! networks, ±1 step, no replay); API tokens; client-certificate mapping; the sweep of expired and
//! unused accounts; no default passwords. On SQLite, and on PostgreSQL when MEDSPACE_TEST_PG_URL
//! is set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

mod common;
use common::*;

use chrono::{Duration, Utc};
use medspace_core::Role;
use medspace_service::accounts::LoginStep;
use medspace_service::identity::{totp_code, totp_step, TOTP_STEP_SECONDS};
use medspace_service::reexports::store::AccountState;
use medspace_service::{Caller, InitOptions, Node, ServiceError};
use serde_json::Value;

/// Audit entries (as JSON) with this action, in order.
async fn audit_of(node: &Node, action: &str) -> Vec<Value> {
    node.store()
        .audit_entries(1, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str::<Value>(&e.entry).unwrap())
        .filter(|v| v["action"] == action)
        .collect()
}

/// A node with an activated administrator, security officer and one data user.
async fn setup(tmp: &std::path::Path, db: Option<String>) -> (Node, Caller, Caller, Caller) {
    let (node, otp) = new_node(tmp, db).await;
    let admin = activate(&node, "admin", &otp).await;
    let (_, o) = node
        .create_user(&admin, "officer", Role::SecurityOfficer)
        .await
        .unwrap();
    let officer = activate(&node, "officer", &o).await;
    let (_, o) = node
        .create_user(&admin, "analyst", Role::DataUser)
        .await
        .unwrap();
    let analyst = activate(&node, "analyst", &o).await;
    (node, admin, officer, analyst)
}

#[tokio::test]
async fn password_rules_are_named_and_earlier_passwords_are_not_reused() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, _, _, analyst) = setup(tmp.path(), db).await;
        for (weak, rule) in [
            ("Short-1a", "min_length"),
            ("lowercaseonlyletters", "character_classes"),
            ("My-analyst-Pass-1", "no_username"),
            ("New-Passw0rd-2026", "history"),
        ] {
            let err = node
                .change_password(&analyst, "New-Passw0rd-2026", weak)
                .await
                .unwrap_err();
            assert!(
                matches!(err, ServiceError::BadRequest(ref m) if m.contains(rule)),
                "{name}: {weak}: {err}"
            );
        }
        // Change twice, then the first new one is still in the history.
        let mut current = "New-Passw0rd-2026".to_string();
        for next in ["Second-Passw0rd-1", "Third-Passw0rd-22"] {
            let c = node
                .authenticate(&login_token(&node, "analyst", &current).await)
                .await
                .unwrap();
            node.change_password(&c, &current, next).await.unwrap();
            current = next.to_string();
        }
        let c = node
            .authenticate(&login_token(&node, "analyst", &current).await)
            .await
            .unwrap();
        let err = node
            .change_password(&c, &current, "Second-Passw0rd-1")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("history"), "{name}: {err}");
        // Refusals are audited without the password.
        let denied = audit_of(&node, "account.password.change").await;
        assert!(denied.iter().any(|e| e["outcome"] == "denied"), "{name}");
        assert!(!serde_json::to_string(&denied)
            .unwrap()
            .contains("Second-Passw0rd-1"));
    }
}

#[tokio::test]
async fn a_password_older_than_the_maximum_age_must_be_changed() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, admin, _, analyst) = setup(tmp.path(), db).await;
        let old = Utc::now() - Duration::days(91);
        node.store()
            .put_account_state(
                &AccountState {
                    user_id: analyst.id().to_string(),
                    password_changed_at: old,
                    valid_until: None,
                    last_login_at: Some(Utc::now()),
                    locked_at: None,
                },
                &medspace_core::AuditEvent::new(
                    "test",
                    "test.age",
                    analyst.id(),
                    medspace_core::Outcome::Success,
                ),
            )
            .await
            .unwrap();
        let token = login_token(&node, "analyst", "New-Passw0rd-2026").await;
        let c = node.authenticate(&token).await.unwrap();
        assert!(c.user.must_change_password, "{name}");
        let err = node.list_datasets(&c).await.unwrap_err();
        assert!(
            err.to_string().contains("expired password"),
            "{name}: {err}"
        );
        node.change_password(&c, "New-Passw0rd-2026", "Fresh-Passw0rd-91")
            .await
            .unwrap();
        assert!(
            !node
                .authenticate(&token)
                .await
                .unwrap()
                .user
                .must_change_password
        );
        let _ = admin;
    }
}

#[tokio::test]
async fn five_failures_lock_until_the_security_officer_unlocks_each_step_audited() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, admin, officer, analyst) = setup(tmp.path(), db).await;
        // Failures older than the 15-minute window do not count.
        for _ in 0..4 {
            node.store()
                .record_login_failure(
                    analyst.id(),
                    Utc::now() - Duration::minutes(20),
                    Utc::now() - Duration::minutes(35),
                    &medspace_core::AuditEvent::new(
                        "test",
                        "test.failure",
                        analyst.id(),
                        medspace_core::Outcome::Denied,
                    ),
                )
                .await
                .unwrap();
        }
        assert!(node.login("analyst", "Wrong-Passw0rd-1").await.is_err());
        let u = node.user_named("analyst").await.unwrap().unwrap();
        assert!(!u.locked, "{name}: old failures counted");
        for _ in 0..4 {
            assert!(node.login("analyst", "Wrong-Passw0rd-1").await.is_err());
        }
        let u = node.user_named("analyst").await.unwrap().unwrap();
        assert!(u.locked, "{name}");
        // The right password no longer works, however often.
        for _ in 0..2 {
            let err = node
                .login("analyst", "New-Passw0rd-2026")
                .await
                .unwrap_err();
            assert!(err.to_string().contains("locked"), "{name}: {err}");
        }
        // The administrator cannot unlock (separation of duties); the officer can.
        let err = node.unlock_account(&admin, analyst.id()).await.unwrap_err();
        assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
        node.unlock_account(&officer, analyst.id()).await.unwrap();
        node.login("analyst", "New-Passw0rd-2026").await.unwrap();

        let failures: Vec<_> = audit_of(&node, "account.login")
            .await
            .into_iter()
            .filter(|e| e["actor"] == analyst.id() && e["outcome"] == "denied")
            .collect();
        assert_eq!(failures.len(), 5 + 2, "{name}: five failures, two refusals");
        let locks = audit_of(&node, "account.lock").await;
        assert_eq!(locks.len(), 1, "{name}");
        assert_eq!(locks[0]["target"], analyst.id());
        let unlocks = audit_of(&node, "account.unlock").await;
        assert_eq!(unlocks.len(), 1, "{name}");
        assert_eq!(unlocks[0]["actor"], officer.id());
        assert!(audit_of(&node, "access.denied")
            .await
            .iter()
            .any(|e| e["actor"] == admin.id() && e["target"] == "unlock_account"));
    }
}

async fn reopen_with(node: Node, extra: &str) -> Node {
    let dir = node.dir().to_path_buf();
    node.close().await;
    let cfg = dir.join("medspace.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(extra);
    std::fs::write(&cfg, text).unwrap();
    Node::open(&dir, &Default::default()).await.unwrap()
}

#[tokio::test]
async fn auto_unlock_applies_only_when_configured() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _, _, analyst) = setup(tmp.path(), None).await;
    let node = reopen_with(
        node,
        "\n[accounts]\nauto_unlock_minutes = 30\nlockout_window_minutes = 15\n",
    )
    .await;
    for _ in 0..5 {
        assert!(node.login("analyst", "Wrong-Passw0rd-1").await.is_err());
    }
    assert!(node.login("analyst", "New-Passw0rd-2026").await.is_err());
    let mut state = node
        .store()
        .account_state(analyst.id())
        .await
        .unwrap()
        .unwrap();
    state.locked_at = Some(Utc::now() - Duration::minutes(31));
    node.store()
        .put_account_state(
            &state,
            &medspace_core::AuditEvent::new(
                "test",
                "test.age",
                analyst.id(),
                medspace_core::Outcome::Success,
            ),
        )
        .await
        .unwrap();
    node.login("analyst", "New-Passw0rd-2026").await.unwrap();
    let unlocks = audit_of(&node, "account.unlock").await;
    assert_eq!(unlocks[0]["actor"], "system");
    assert_eq!(unlocks[0]["detail"]["reason"], "auto-unlock");
}

#[tokio::test]
async fn totp_is_mandatory_for_privileged_roles_with_a_one_step_window_and_no_replay() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, otp) = new_node(tmp.path(), db).await;
        // First login: password changed, but nothing else until a factor is enrolled.
        let token = node.login("admin", &otp).await.unwrap().token;
        let c = node.authenticate(&token).await.unwrap();
        node.change_password(&c, &otp, "New-Passw0rd-2026")
            .await
            .unwrap();
        let c = node.authenticate(&token).await.unwrap();
        assert!(c.must_enrol_second_factor, "{name}");
        let err = node.list_users(&c).await.unwrap_err();
        assert!(err.to_string().contains("second factor"), "{name}: {err}");
        let e = node.begin_totp_enrolment(&c).await.unwrap();
        assert!(e.otpauth_uri.starts_with("otpauth://totp/medspace:admin?"));
        // The secret is stored wrapped, not in clear.
        let f = node.store().totp_factor(c.id()).await.unwrap().unwrap();
        let raw = base32_decode(&e.secret);
        assert!(!f
            .wrapped_secret
            .windows(raw.len())
            .any(|w| w == raw.as_slice()));
        // The checks below name steps relative to the current one and take a few seconds; they
        // start early in a step so that the step cannot change under them (a step boundary in the
        // middle made `step - 1` two steps old and the test fail now and then).
        let into_step = Utc::now().timestamp().rem_euclid(TOTP_STEP_SECONDS);
        if into_step > TOTP_STEP_SECONDS - 15 {
            let wait = u64::try_from(TOTP_STEP_SECONDS - into_step + 1).unwrap();
            std::thread::sleep(std::time::Duration::from_secs(wait));
        }
        let step = totp_step(Utc::now().timestamp());
        let code = |s: i64| totp_code(&e.secret, s * TOTP_STEP_SECONDS).unwrap();
        assert!(node
            .confirm_totp_enrolment(&c, &code(step + 5))
            .await
            .is_err());
        node.confirm_totp_enrolment(&c, &code(step)).await.unwrap();
        let c = node.authenticate(&token).await.unwrap();
        assert!(!c.must_enrol_second_factor);
        node.list_users(&c).await.unwrap();

        // Now a password alone is not enough.
        let err = node.login("admin", "New-Passw0rd-2026").await.unwrap_err();
        assert!(err.to_string().contains("second factor"), "{name}: {err}");
        // The confirming code is spent; replaying it is refused.
        let err = node
            .login_second_factor(&challenge(&node, "admin").await, &code(step), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already used"), "{name}: {err}");
        // Two steps away is outside the window.
        assert!(node
            .login_second_factor(&challenge(&node, "admin").await, &code(step + 3), None)
            .await
            .is_err());
        // One step either side is accepted, once each.
        let out = node
            .login_second_factor(&challenge(&node, "admin").await, &code(step + 1), None)
            .await
            .unwrap();
        node.authenticate(&out.token).await.unwrap();
        // A challenge is single use.
        let ch = challenge(&node, "admin").await;
        node.login_second_factor(&ch, &code(step - 1), None)
            .await
            .unwrap();
        assert!(node
            .login_second_factor(&ch, &code(step), None)
            .await
            .is_err());
        // Every refusal is audited and counted toward the lockout.
        let refused: Vec<_> = audit_of(&node, "account.login.totp")
            .await
            .into_iter()
            .filter(|e| e["outcome"] == "denied")
            .collect();
        assert!(refused.len() >= 3, "{name}: {refused:?}");
        let u = node.user_named("admin").await.unwrap().unwrap();
        assert!(u.failed_logins == 0, "a success resets the count");
    }
}

async fn challenge(node: &Node, user: &str) -> String {
    match node
        .login_from(user, "New-Passw0rd-2026", None)
        .await
        .unwrap()
    {
        LoginStep::SecondFactor(ch) => ch.challenge,
        LoginStep::Session(_) => panic!("no second factor asked"),
    }
}

fn base32_decode(s: &str) -> Vec<u8> {
    // The authenticator side decodes the same way the node encodes (RFC 4648, no padding).
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = alphabet.iter().position(|a| *a == c).unwrap() as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            out.push((bits >> (n - 8)) as u8);
            n -= 8;
        }
    }
    out
}

#[tokio::test]
async fn outside_the_internal_networks_every_role_needs_a_second_factor() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _, _, analyst) = setup(tmp.path(), None).await;
    let outside = Some("203.0.113.7".parse().unwrap());
    let inside = Some("127.0.0.1".parse().unwrap());
    let err = node
        .login_from("analyst", "New-Passw0rd-2026", outside)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
    assert!(matches!(
        node.login_from("analyst", "New-Passw0rd-2026", inside)
            .await
            .unwrap(),
        LoginStep::Session(_)
    ));
    enrol_totp(&node, &analyst).await;
    let LoginStep::SecondFactor(ch) = node
        .login_from("analyst", "New-Passw0rd-2026", outside)
        .await
        .unwrap()
    else {
        panic!("no second factor asked outside");
    };
    let out = node
        .login_second_factor(&ch.challenge, &totp_code_of(analyst.id()).await, outside)
        .await
        .unwrap();
    node.authenticate(&out.token).await.unwrap();
    // Inside, the data user still logs in with the password alone.
    assert!(matches!(
        node.login_from("analyst", "New-Passw0rd-2026", inside)
            .await
            .unwrap(),
        LoginStep::Session(_)
    ));
    let denied = audit_of(&node, "account.login").await;
    assert!(denied
        .iter()
        .any(|e| e["outcome"] == "denied" && e["context"]["address"] == "203.0.113.7"));
}

async fn totp_code_of(id: &str) -> String {
    common::totp_code(id).await
}

#[tokio::test]
async fn api_tokens_are_hashed_scoped_expiring_and_revocable() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, admin, officer, analyst) = setup(tmp.path(), db).await;
        let (info, token) = node
            .create_api_token(&admin, analyst.id(), "hospital-etl", 30)
            .await
            .unwrap();
        assert!(token.starts_with("mst_"));
        assert_eq!(info.role, "data_user");
        let c = node.authenticate(&token).await.unwrap();
        assert_eq!((c.id(), c.role()), (analyst.id(), Role::DataUser));
        node.list_datasets(&c).await.unwrap();
        // Stored as a hash only.
        let listed = serde_json::to_string(&node.list_api_tokens(&admin).await.unwrap()).unwrap();
        assert!(!listed.contains(&token[4..]), "{name}");
        let stored = node.store().list_api_tokens().await.unwrap();
        assert_ne!(stored[0].token_hash, token);
        // Not for roles that need a second factor; not longer than allowed; not by others.
        assert!(node
            .create_api_token(&admin, officer.id(), "x", 30)
            .await
            .is_err());
        assert!(node
            .create_api_token(&admin, analyst.id(), "x", 10_000)
            .await
            .is_err());
        assert!(matches!(
            node.create_api_token(&officer, analyst.id(), "x", 30)
                .await
                .unwrap_err(),
            ServiceError::Forbidden(_)
        ));
        node.revoke_api_token(&admin, &info.id).await.unwrap();
        let err = node.authenticate(&token).await.unwrap_err();
        assert!(err.to_string().contains("revoked"), "{name}: {err}");
        assert_eq!(audit_of(&node, "account.token.create").await.len(), 1);
        assert_eq!(audit_of(&node, "account.token.revoke").await.len(), 1);
    }
}

#[tokio::test]
async fn client_certificates_map_to_accounts() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, admin, officer, analyst) = setup(tmp.path(), db).await;
        let fp = "AB:CD:".repeat(16);
        let fp = fp.trim_end_matches(':');
        assert!(node.authenticate_certificate(fp, None).await.is_err());
        assert!(node
            .map_certificate(&admin, fp, "CN=hospital-b", officer.id())
            .await
            .is_err());
        node.map_certificate(&admin, fp, "CN=hospital-b", analyst.id())
            .await
            .unwrap();
        let c = node
            .authenticate_certificate(&fp.replace(':', "").to_lowercase(), None)
            .await
            .unwrap();
        assert_eq!(c.id(), analyst.id(), "{name}");
        let logins = audit_of(&node, "account.login.certificate").await;
        assert_eq!(
            logins
                .iter()
                .map(|e| e["outcome"].clone())
                .collect::<Vec<_>>(),
            vec!["denied", "success"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn expired_and_unused_accounts_are_disabled_by_the_sweep() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let (node, admin, _, analyst) = setup(tmp.path(), db).await;
        let (_, o) = node
            .create_user(&admin, "dormant", Role::DataUser)
            .await
            .unwrap();
        let dormant = activate(&node, "dormant", &o).await;
        node.set_account_validity(&admin, analyst.id(), Some(Utc::now() - Duration::hours(1)))
            .await
            .unwrap();
        let mut state = node
            .store()
            .account_state(dormant.id())
            .await
            .unwrap()
            .unwrap();
        state.last_login_at = Some(Utc::now() - Duration::days(91));
        node.store()
            .put_account_state(
                &state,
                &medspace_core::AuditEvent::new(
                    "test",
                    "test.age",
                    dormant.id(),
                    medspace_core::Outcome::Success,
                ),
            )
            .await
            .unwrap();
        let report = node.sweep_accounts().await.unwrap();
        assert_eq!(report.expired, vec![analyst.id().to_string()], "{name}");
        assert_eq!(report.unused, vec![dormant.id().to_string()], "{name}");
        for user in ["analyst", "dormant"] {
            assert!(node.login(user, "New-Passw0rd-2026").await.is_err());
        }
        let disabled = audit_of(&node, "account.disable").await;
        assert_eq!(disabled.len(), 2, "{name}");
        // A second sweep finds nothing new.
        assert_eq!(node.sweep_accounts().await.unwrap(), Default::default());
    }
}

#[tokio::test]
async fn sessions_end_after_idle_time_and_after_their_absolute_lifetime() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _, _, _) = setup(tmp.path(), None).await;
    let token = login_token(&node, "analyst", "New-Passw0rd-2026").await;
    let c = node.authenticate(&token).await.unwrap();
    // Active (just touched) but created nine hours ago: past the default 8-hour lifetime.
    let db = node.dir().join("medspace.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let old = (Utc::now() - Duration::hours(9)).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    sqlx::query("UPDATE sessions SET created_at = $1 WHERE token_hash = $2")
        .bind(&old)
        .bind(&c.token_hash)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = node.authenticate(&token).await.unwrap_err();
    assert!(err.to_string().contains("lifetime of 480 minutes"), "{err}");
    // Idle: 11 minutes without a request (GB/T 39725-2020 §11.1.2.4: 10 minutes).
    let token = login_token(&node, "analyst", "New-Passw0rd-2026").await;
    let c = node.authenticate(&token).await.unwrap();
    node.store()
        .touch_session(&c.token_hash, Utc::now() - Duration::minutes(11))
        .await
        .unwrap();
    let err = node.authenticate(&token).await.unwrap_err();
    assert!(err.to_string().contains("10 minutes"), "{err}");
    let expired = audit_of(&node, "session.expire").await;
    assert_eq!(expired.len(), 2);
    assert_eq!(expired[0]["detail"]["reason"], "absolute lifetime");
}

#[tokio::test]
async fn there_are_no_default_passwords() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for i in 0..2 {
        let (node, outcome) = Node::init(InitOptions {
            dir: tmp.path().join(format!("n{i}")),
            database_url: None,
            profile: None,
            master_key_file: Some(tmp.path().join(format!("n{i}.masterkey"))),
            hsm: None,
            admin_username: "admin".into(),
            listen: None,
        })
        .await
        .unwrap();
        let admin = node.user_named("admin").await.unwrap().unwrap();
        assert!(admin.must_change_password);
        assert!(admin.password_hash.starts_with("$argon2id$"));
        medspace_service::identity::check_password(
            &Default::default(),
            "admin",
            &outcome.admin_password,
        )
        .unwrap();
        seen.push(outcome.admin_password);
    }
    assert_ne!(seen[0], seen[1]);
}
