//! The API driven in-process (`tower::ServiceExt::oneshot`), with accounts activated the way
//! a person would: one-time password, new password, TOTP enrolment where the role needs it.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use medspace_service::identity::{totp_code, totp_step, TOTP_STEP_SECONDS};
use medspace_service::self_service::SmsGateway;
use medspace_service::Node;
use serde_json::{json, Value};
use tower::ServiceExt;

/// The password every activated test account gets.
pub const PASSWORD: &str = "Api-Passw0rd-2026";

pub struct Api {
    pub app: axum::Router,
    pub node: Arc<Node>,
}

/// An enrolled secret and the steps used so far (each code is accepted once).
pub struct Totp {
    pub secret: String,
    pub used: Vec<i64>,
}

impl Totp {
    pub fn code(&mut self) -> String {
        let now = totp_step(chrono::Utc::now().timestamp());
        let step = [now, now + 1, now - 1]
            .into_iter()
            .find(|s| !self.used.contains(s))
            .expect("at most three logins per 30 s in these tests");
        self.used.push(step);
        totp_code(&self.secret, step * TOTP_STEP_SECONDS).unwrap()
    }
}

impl Api {
    pub async fn new(tmp: &std::path::Path) -> (Api, String) {
        let (node, outcome) = super::init_node(tmp).await;
        (Api::from_node(Arc::new(node)), outcome.admin_password)
    }

    /// The API of an opened node.
    pub fn from_node(node: Arc<Node>) -> Api {
        Api {
            app: medspace_server::router(node.clone()),
            node,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, v)
    }

    pub async fn login(&self, user: &str, password: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": user, "password": password})),
        )
        .await
    }

    /// First login: new password, and a second factor when the role needs one. Returns the
    /// session token, the account id and the enrolled factor.
    pub async fn activate(&self, user: &str, otp: &str) -> (String, String, Option<Totp>) {
        let (s, v) = self.login(user, otp).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["must_change_password"], true);
        let t = v["token"].as_str().unwrap().to_string();
        let id = v["user"]["id"].as_str().unwrap().to_string();
        let (s, v2) = self
            .call(
                "POST",
                "/api/v1/auth/password",
                Some(&t),
                Some(json!({"old_password": otp, "new_password": PASSWORD})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v2}");
        let mut totp = None;
        if v["must_enrol_second_factor"] == true {
            let (s, e) = self
                .call("POST", "/api/v1/auth/totp/enrol", Some(&t), None)
                .await;
            assert_eq!(s, StatusCode::OK, "{e}");
            assert!(e["otpauth_uri"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/"));
            let mut f = Totp {
                secret: e["secret"].as_str().unwrap().to_string(),
                used: Vec::new(),
            };
            let (s, v) = self
                .call(
                    "POST",
                    "/api/v1/auth/totp/confirm",
                    Some(&t),
                    Some(json!({"code": f.code()})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            totp = Some(f);
        }
        (t, id, totp)
    }

    pub async fn create(&self, admin: &str, user: &str, role: &str) -> String {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/users",
                Some(admin),
                Some(json!({"username": user, "role": role})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["one_time_password"].as_str().unwrap().to_string()
    }

    pub async fn audit(&self) -> Vec<Value> {
        self.node
            .store()
            .audit_entries(1, 100_000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| serde_json::from_str::<Value>(&e.entry).unwrap())
            .collect()
    }
}

/// Keeps every message instead of sending it.
#[derive(Debug, Default)]
pub struct Outbox(pub Mutex<Vec<(String, String)>>);

impl SmsGateway for Outbox {
    fn send(&self, mobile: &str, message: &str) -> Result<(), String> {
        self.0
            .lock()
            .unwrap()
            .push((mobile.to_string(), message.to_string()));
        Ok(())
    }
}

impl Outbox {
    pub fn last_code(&self, mobile: &str) -> String {
        let all = self.0.lock().unwrap();
        let (_, msg) = all.iter().rev().find(|(m, _)| m == mobile).unwrap();
        msg.chars()
            .collect::<Vec<_>>()
            .windows(6)
            .map(|w| w.iter().collect::<String>())
            .find(|w| w.chars().all(|c| c.is_ascii_digit()))
            .unwrap()
    }
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}
