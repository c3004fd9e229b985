//! Helpers shared by the CLI integration tests: the binary with a clean environment, accounts with a
//! second factor (each TOTP code is accepted once, so every CLI login takes a fresh time step), and
//! `audit verify --format json`.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use medspace_service::identity::{totp_code, totp_step, TOTP_STEP_SECONDS};
use medspace_service::{Caller, Node};

/// The `medspace` binary, without node settings inherited from the environment.
pub fn medspace() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medspace"));
    c.env_remove("MEDSPACE_MASTER_KEY_FILE")
        .env_remove("MEDSPACE_DATABASE_URL")
        .env_remove("MEDSPACE_LISTEN");
    c
}

/// Runs `medspace audit verify --format json --dir DIR`: whether it succeeded, and its report.
pub fn verify_json(dir: &Path) -> (bool, serde_json::Value) {
    let out = medspace()
        .args(["audit", "verify", "--format", "json", "--dir"])
        .arg(dir)
        .output()
        .expect("run medspace audit verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify output not JSON ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), v)
}

pub const PASSWORD: &str = "New-Passw0rd-2026";

/// TOTP secrets of the enrolled accounts and the time steps already used: each code is accepted
/// once, so every CLI login needs a step not used before.
#[derive(Default)]
pub struct Totp {
    accounts: HashMap<String, (String, Vec<i64>)>,
}

impl Totp {
    /// A fresh code of `user`, or `None` if the account has no second factor enrolled.
    pub fn code(&mut self, user: &str) -> Option<String> {
        loop {
            let now = chrono::Utc::now().timestamp();
            let (secret, used) = self.accounts.get_mut(user)?;
            let step = totp_step(now);
            if let Some(s) = [step, step + 1, step - 1]
                .into_iter()
                .find(|s| !used.contains(s))
            {
                used.push(s);
                return Some(totp_code(secret, s * TOTP_STEP_SECONDS).unwrap());
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
    }
}

/// First login with the one-time password: the final password, then the second factor.
pub async fn activate(node: &Node, user: &str, otp: &str, totp: &mut Totp) -> Caller {
    let token = node.login(user, otp).await.unwrap().token;
    let c = node.authenticate(&token).await.unwrap();
    node.change_password(&c, otp, PASSWORD).await.unwrap();
    let c = node.authenticate(&token).await.unwrap();
    if c.must_enrol_second_factor {
        let e = node.begin_totp_enrolment(&c).await.unwrap();
        totp.accounts
            .insert(user.to_string(), (e.secret.clone(), Vec::new()));
        let code = totp.code(user).expect("just enrolled");
        node.confirm_totp_enrolment(&c, &code).await.unwrap();
    }
    node.authenticate(&token).await.unwrap()
}
