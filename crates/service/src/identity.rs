//! Identity rules: the `[accounts]` settings, password complexity, TOTP codes and internal
//! networks.
//!
//! GB/T 39725-2020 §11.1.2.4 (session idle timeout, unique accounts), §11.6.2.2 and Appendix F
//! identity rows (password complexity and periodic change, lockout after repeated failures, two
//! or more authentication factors for administrators and remote access, expired and unused
//! accounts removed); DMS 5.2.1. TOTP is RFC 6238 (HMAC-SHA-1, 6 digits, 30-second steps) through
//! the maintained `totp-rs` crate; addresses are matched with `ipnet`.

use std::net::IpAddr;

use ipnet::IpNet;
use medspace_core::Role;
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, TOTP};

use crate::error::{Result, ServiceError};

/// Length of a TOTP time step in seconds (RFC 6238 §5.2 recommends 30).
pub const TOTP_STEP_SECONDS: i64 = 30;
/// Bytes of a TOTP secret (160 bits, RFC 4226 §4 R6).
pub const TOTP_SECRET_BYTES: usize = 20;
/// Issuer shown by authenticator apps.
pub const TOTP_ISSUER: &str = "medspace";

/// `[accounts]` in medspace.toml. The lockout threshold and the idle timeout are the top-level
/// `lockout_threshold` and `session_idle_minutes` (kept where earlier releases put them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountSettings {
    /// Shortest password (characters).
    pub password_min_length: usize,
    /// Days after which a password must be changed (0: never).
    pub password_max_age_days: i64,
    /// Number of earlier passwords that may not be reused.
    pub password_history: i64,
    /// Failures counted for the lockout within this many minutes.
    pub lockout_window_minutes: i64,
    /// Minutes after which a locked account unlocks by itself; absent: only a security
    /// administrator unlocks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_unlock_minutes: Option<i64>,
    /// A session ends this many minutes after login however active it is.
    pub session_absolute_minutes: i64,
    /// Accounts without a login for this many days are disabled (0: never).
    pub unused_account_days: i64,
    /// Minutes between sweeps of expired and unused accounts while serving (0: at start only).
    pub sweep_interval_minutes: u64,
    /// Roles that must log in with a second factor wherever they come from.
    pub totp_required_roles: Vec<Role>,
    /// Networks (CIDR) counted as internal; a login from any other address needs a second
    /// factor whatever the role. In-process calls (command line, demo) are internal.
    pub internal_networks: Vec<String>,
    /// Seconds a "second factor required" challenge stays valid.
    pub second_factor_seconds: i64,
    /// Longest lifetime of an API token, in days.
    pub api_token_max_days: i64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            password_min_length: 12,
            password_max_age_days: 90,
            password_history: 5,
            lockout_window_minutes: 15,
            auto_unlock_minutes: None,
            session_absolute_minutes: 8 * 60,
            unused_account_days: 90,
            sweep_interval_minutes: 60,
            totp_required_roles: vec![
                Role::Administrator,
                Role::SecurityOfficer,
                Role::Auditor,
                Role::ReidentificationOfficer,
            ],
            internal_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            second_factor_seconds: 300,
            api_token_max_days: 365,
        }
    }
}

impl AccountSettings {
    /// Whether these are the defaults (the section is then left out of a written config).
    pub fn is_default(&self) -> bool {
        *self == AccountSettings::default()
    }

    /// Checks ranges and parses the networks.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ServiceError::Config(format!("[accounts] {m}")));
        if self.password_min_length < 8 {
            return bad("password_min_length must be at least 8".into());
        }
        if self.lockout_window_minutes < 1 {
            return bad("lockout_window_minutes must be at least 1".into());
        }
        if self.session_absolute_minutes < 1 {
            return bad("session_absolute_minutes must be at least 1".into());
        }
        if self.password_history < 0 || self.password_max_age_days < 0 {
            return bad("password_history and password_max_age_days must not be negative".into());
        }
        if matches!(self.auto_unlock_minutes, Some(m) if m < 1) {
            return bad("auto_unlock_minutes must be at least 1 when set".into());
        }
        if self.second_factor_seconds < 30 || self.api_token_max_days < 1 {
            return bad(
                "second_factor_seconds must be at least 30 and api_token_max_days at least 1"
                    .into(),
            );
        }
        self.networks().map(|_| ())
    }

    /// The parsed internal networks.
    pub fn networks(&self) -> Result<Vec<IpNet>> {
        self.internal_networks
            .iter()
            .map(|n| {
                n.parse::<IpNet>().map_err(|e| {
                    ServiceError::Config(format!(
                        "[accounts] internal_networks: `{n}` is not a CIDR network ({e})"
                    ))
                })
            })
            .collect()
    }

    /// Whether `address` is internal; `None` (an in-process call) is.
    pub fn is_internal(&self, address: Option<IpAddr>) -> Result<bool> {
        let Some(ip) = address else {
            return Ok(true);
        };
        // An IPv4 address seen as IPv4-mapped IPv6 (dual-stack listener) is matched as IPv4.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        Ok(self.networks()?.iter().any(|n| n.contains(&ip)))
    }

    /// Whether a login by `role` from `address` needs a second factor.
    pub fn second_factor_required(&self, role: Role, address: Option<IpAddr>) -> Result<bool> {
        Ok(self.totp_required_roles.contains(&role) || !self.is_internal(address)?)
    }
}

/// Checks a new password against the complexity rules; the error names the rule broken.
pub fn check_password(settings: &AccountSettings, username: &str, password: &str) -> Result<()> {
    let len = password.chars().count();
    if len < settings.password_min_length {
        return Err(ServiceError::BadRequest(format!(
            "password rule `min_length`: at least {} characters are required, this one has {len}",
            settings.password_min_length
        )));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if classes < 3 {
        return Err(ServiceError::BadRequest(format!(
            "password rule `character_classes`: at least three of lower case, upper case, digits \
             and symbols are required, this one has {classes}"
        )));
    }
    let lower = password.to_lowercase();
    if username.len() >= 3 && lower.contains(&username.to_lowercase()) {
        return Err(ServiceError::BadRequest(
            "password rule `no_username`: the password must not contain the username".into(),
        ));
    }
    Ok(())
}

fn totp(secret: &[u8], account: &str) -> Result<TOTP> {
    // Skew 0: the ±1 step window is walked by the caller, which needs to know the matching step
    // for replay protection.
    TOTP::new(
        Algorithm::SHA1,
        6,
        0,
        TOTP_STEP_SECONDS as u64,
        secret.to_vec(),
        Some(TOTP_ISSUER.into()),
        account.to_string(),
    )
    .map_err(|e| ServiceError::Internal(format!("TOTP setup: {e}")))
}

/// The `otpauth://` URI of a secret (shown once, at enrolment) and its base32 form.
pub fn totp_uri(secret: &[u8], account: &str) -> Result<(String, String)> {
    let t = totp(secret, account)?;
    Ok((t.get_url(), t.get_secret_base32()))
}

/// The time step of a Unix time.
pub fn totp_step(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(TOTP_STEP_SECONDS)
}

/// The step among `now - 1 ..= now + 1` whose code is `code` (RFC 6238 §5.2 window of one step
/// either side for clock drift), compared in constant time.
pub fn totp_match(secret: &[u8], code: &str, unix_seconds: i64) -> Result<Option<i64>> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let t = totp(secret, "x")?;
    let now = totp_step(unix_seconds);
    for step in [now, now - 1, now + 1] {
        let Ok(at) = u64::try_from(step * TOTP_STEP_SECONDS) else {
            continue;
        };
        if t.check(code, at) {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

/// The code of a base32 secret at a Unix time — the authenticator's side, for the demo and tests
/// (the node itself never needs it).
pub fn totp_code(secret_base32: &str, unix_seconds: i64) -> Result<String> {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_string())
        .to_bytes()
        .map_err(|e| ServiceError::BadRequest(format!("TOTP secret is not base32: {e:?}")))?;
    let at = u64::try_from(unix_seconds)
        .map_err(|_| ServiceError::BadRequest("time before 1970".into()))?;
    Ok(totp(&secret, "x")?.generate(at))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 Appendix B, SHA-1 seed "12345678901234567890", T = 59 → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = b"12345678901234567890";
        let b32 = base32_of(secret);
        assert_eq!(totp_code(&b32, 59).unwrap(), "287082");
        assert_eq!(totp_code(&b32, 1111111109).unwrap(), "081804");
        assert_eq!(totp_match(secret, "287082", 59).unwrap(), Some(1));
        // One step either side is accepted, two are not.
        assert_eq!(totp_match(secret, "287082", 59 + 30).unwrap(), Some(1));
        assert_eq!(totp_match(secret, "287082", 59 + 60).unwrap(), None);
        assert_eq!(totp_match(secret, "28708x", 59).unwrap(), None);
    }

    fn base32_of(secret: &[u8]) -> String {
        totp_uri(secret, "alice").unwrap().1
    }

    #[test]
    fn otpauth_uri_names_issuer_and_account() {
        let (uri, b32) = totp_uri(&[7u8; 20], "alice").unwrap();
        assert!(uri.starts_with("otpauth://totp/medspace:alice?"), "{uri}");
        assert!(uri.contains(&format!("secret={b32}")));
    }

    #[test]
    fn password_rules_are_named_in_errors() {
        let s = AccountSettings::default();
        let msg = |p: &str| check_password(&s, "zhang.wei", p).unwrap_err().to_string();
        assert!(msg("Short-1a").contains("min_length"));
        assert!(msg("alllowercaseletters").contains("character_classes"));
        assert!(msg("Xx-zhang.wei-2026").contains("no_username"));
        check_password(&s, "zhang.wei", "Correct-Horse-7").unwrap();
        let long = AccountSettings {
            password_min_length: 16,
            ..AccountSettings::default()
        };
        assert!(check_password(&long, "u", "Correct-Horse-7")
            .unwrap_err()
            .to_string()
            .contains("16"));
    }

    #[test]
    fn internal_networks_and_second_factor() {
        let s = AccountSettings {
            internal_networks: vec!["10.0.0.0/8".into(), "::1/128".into()],
            ..AccountSettings::default()
        };
        s.validate().unwrap();
        let ip = |t: &str| Some(t.parse::<IpAddr>().unwrap());
        assert!(s.is_internal(ip("10.2.3.4")).unwrap());
        assert!(s.is_internal(ip("::ffff:10.2.3.4")).unwrap());
        assert!(!s.is_internal(ip("192.168.1.1")).unwrap());
        assert!(s.is_internal(None).unwrap());
        assert!(s
            .second_factor_required(Role::Auditor, ip("10.0.0.1"))
            .unwrap());
        assert!(!s
            .second_factor_required(Role::DataUser, ip("10.0.0.1"))
            .unwrap());
        assert!(s
            .second_factor_required(Role::DataUser, ip("8.8.8.8"))
            .unwrap());
        let bad = AccountSettings {
            internal_networks: vec!["10.0.0.0/33".into()],
            ..AccountSettings::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("10.0.0.0/33"));
    }
}
