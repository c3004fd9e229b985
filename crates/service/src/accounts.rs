//! Accounts, passwords and sessions.
//!
//! GB/T 39725-2020 §11.1.2.4 (unique accounts, session idle timeout of 10 minutes), §11.6.2.2 and
//! Appendix F identity rows (password complexity, lockout after repeated failures); DMS 5.2.1.
//! Passwords are stored only as argon2id hashes; session tokens only as SHA-256.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{Duration, Utc};
use medspace_core::{new_id, AuditEvent, Outcome, Role, Session, User};
use rand::Rng;
use serde::Serialize;
use serde_json::json;

use crate::access::{permits, Action, Caller};
use crate::error::{Result, ServiceError};
use crate::node::Node;

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("password hashing failed: {e}")))
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks the complexity rule: at least 12 characters from at least three of lower case, upper
/// case, digits and symbols.
pub fn check_password_policy(password: &str) -> Result<()> {
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if password.chars().count() < 12 || classes < 3 {
        return Err(ServiceError::BadRequest(
            "password must have at least 12 characters from at least three of: lower case, upper case, digits, symbols".into(),
        ));
    }
    Ok(())
}

/// A random password that meets the policy, shown once.
pub fn generate_one_time_password() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const SYMBOL: &[u8] = b"-_.+=@#";
    let mut rng = rand::rngs::OsRng;
    let pick = |rng: &mut rand::rngs::OsRng, set: &[u8]| set[rng.gen_range(0..set.len())] as char;
    let mut out = String::new();
    for i in 0..20 {
        let set = match i % 5 {
            0 | 3 => LOWER,
            1 | 4 => UPPER,
            2 => DIGIT,
            _ => SYMBOL,
        };
        out.push(pick(&mut rng, set));
        if i == 9 {
            out.push(pick(&mut rng, SYMBOL));
        }
    }
    out
}

fn token_hash(token: &str) -> String {
    medspace_crypto::sha256_hex(token.as_bytes())
}

/// Result of a successful login.
#[derive(Debug, Clone, Serialize)]
pub struct LoginOutcome {
    /// Bearer token for `Authorization: Bearer …`; shown once.
    pub token: String,
    /// The account.
    pub user: User,
    /// The one-time password must be changed before anything else is allowed.
    pub must_change_password: bool,
    /// Idle timeout of the session in minutes.
    pub idle_timeout_minutes: i64,
}

fn valid_username(name: &str) -> bool {
    (3..=32).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

impl Node {
    /// Logs in with a password; counts failures and locks the account at the threshold.
    pub async fn login(&self, username: &str, password: &str) -> Result<LoginOutcome> {
        let invalid = || ServiceError::Unauthenticated("invalid username or password".into());
        let Some(user) = self.store.user_by_name(username).await? else {
            self.audit(
                AuditEvent::new(
                    "anonymous",
                    "account.login",
                    "unknown-account",
                    Outcome::Denied,
                )
                .with_detail(json!({"reason": "unknown account"})),
            )
            .await?;
            return Err(invalid());
        };
        if user.locked || user.disabled {
            self.audit(
                AuditEvent::new(&user.id, "account.login", &user.id, Outcome::Denied).with_detail(
                    json!({"reason": if user.locked { "locked" } else { "disabled" }}),
                ),
            )
            .await?;
            return Err(ServiceError::Unauthenticated(
                "account is locked or disabled; a security administrator must unlock it".into(),
            ));
        }
        let phc = user.password_hash.clone();
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &phc)).await?;
        if !ok {
            let failed = user.failed_logins + 1;
            let lock = failed >= self.config.lockout_threshold;
            self.store
                .set_login_state(
                    &user.id,
                    failed,
                    lock,
                    &AuditEvent::new(&user.id, "account.login", &user.id, Outcome::Denied)
                        .with_detail(json!({"reason": "wrong password", "failed_logins": failed, "locked": lock})),
                )
                .await?;
            return Err(invalid());
        }
        if user.failed_logins > 0 {
            self.store
                .set_login_state(
                    &user.id,
                    0,
                    false,
                    &AuditEvent::new(
                        &user.id,
                        "account.failures.reset",
                        &user.id,
                        Outcome::Success,
                    ),
                )
                .await?;
        }
        let token = medspace_crypto::random_token();
        let now = Utc::now();
        let session = Session {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            created_at: now,
            last_seen: now,
        };
        self.store
            .insert_session(
                &session,
                &AuditEvent::new(&user.id, "account.login", &user.id, Outcome::Success),
            )
            .await?;
        Ok(LoginOutcome {
            token,
            must_change_password: user.must_change_password,
            user,
            idle_timeout_minutes: self.config.session_idle_minutes,
        })
    }

    /// Resolves a bearer token to a caller; sessions idle longer than the timeout end.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        let hash = token_hash(token);
        let Some(session) = self.store.session(&hash).await? else {
            return Err(ServiceError::Unauthenticated(
                "no valid session; log in".into(),
            ));
        };
        let now = Utc::now();
        if now - session.last_seen > Duration::minutes(self.config.session_idle_minutes) {
            self.store
                .delete_session(
                    &hash,
                    &AuditEvent::new(
                        &session.user_id,
                        "session.expire",
                        &session.user_id,
                        Outcome::Success,
                    ),
                )
                .await?;
            return Err(ServiceError::Unauthenticated(format!(
                "session ended after {} minutes without activity; log in again",
                self.config.session_idle_minutes
            )));
        }
        let user = self
            .store
            .user_by_id(&session.user_id)
            .await?
            .ok_or_else(|| ServiceError::Unauthenticated("account no longer exists".into()))?;
        if user.locked || user.disabled {
            return Err(ServiceError::Unauthenticated(
                "account is locked or disabled".into(),
            ));
        }
        self.store.touch_session(&hash, now).await?;
        Ok(Caller {
            user,
            token_hash: hash,
        })
    }

    /// Ends the caller's session.
    pub async fn logout(&self, caller: &Caller) -> Result<()> {
        self.store
            .delete_session(
                &caller.token_hash,
                &AuditEvent::new(caller.id(), "account.logout", caller.id(), Outcome::Success),
            )
            .await?;
        Ok(())
    }

    /// Checks the caller may do `action`; a refusal is audited, and an audit failure is an error.
    pub async fn require(&self, caller: &Caller, action: Action) -> Result<()> {
        if caller.user.must_change_password {
            self.audit(
                AuditEvent::new(
                    caller.id(),
                    "access.denied",
                    action.as_str(),
                    Outcome::Denied,
                )
                .with_detail(json!({"reason": "one-time password not changed"})),
            )
            .await?;
            return Err(ServiceError::Forbidden(
                "change the one-time password first (POST /api/v1/auth/password)".into(),
            ));
        }
        if !permits(caller.role(), action) {
            self.audit(
                AuditEvent::new(
                    caller.id(),
                    "access.denied",
                    action.as_str(),
                    Outcome::Denied,
                )
                .with_detail(json!({"role": caller.role().as_str()})),
            )
            .await?;
            return Err(ServiceError::Forbidden(format!(
                "role {} may not {}",
                caller.role(),
                action.as_str().replace('_', " ")
            )));
        }
        Ok(())
    }

    /// Creates an account with a one-time password (administrators only).
    pub async fn create_user(
        &self,
        caller: &Caller,
        username: &str,
        role: Role,
    ) -> Result<(User, String)> {
        self.require(caller, Action::ManageAccounts).await?;
        if !valid_username(username) {
            return Err(ServiceError::BadRequest(
                "username: expected 3–32 characters of a–z, 0–9, `.`, `_`, `-`".into(),
            ));
        }
        let password = generate_one_time_password();
        let pw = password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&pw)).await??;
        let user = User {
            id: new_id("u"),
            username: username.to_string(),
            role,
            password_hash: hash,
            must_change_password: true,
            failed_logins: 0,
            locked: false,
            disabled: false,
            created_at: Utc::now(),
        };
        self.store
            .insert_user(
                &user,
                &AuditEvent::new(caller.id(), "account.create", &user.id, Outcome::Success)
                    .with_detail(json!({"role": role.as_str(), "username": username})),
            )
            .await?;
        Ok((user, password))
    }

    /// Lists accounts (administrators only).
    pub async fn list_users(&self, caller: &Caller) -> Result<Vec<User>> {
        self.require(caller, Action::ManageAccounts).await?;
        self.audit(AuditEvent::new(
            caller.id(),
            "account.list",
            "accounts",
            Outcome::Success,
        ))
        .await?;
        Ok(self.store.list_users().await?)
    }

    /// Changes the caller's own password.
    pub async fn change_password(&self, caller: &Caller, old: &str, new: &str) -> Result<()> {
        let phc = caller.user.password_hash.clone();
        let o = old.to_string();
        if !tokio::task::spawn_blocking(move || verify_password(&o, &phc)).await? {
            self.audit(
                AuditEvent::new(
                    caller.id(),
                    "account.password.change",
                    caller.id(),
                    Outcome::Denied,
                )
                .with_detail(json!({"reason": "wrong current password"})),
            )
            .await?;
            return Err(ServiceError::Forbidden("current password is wrong".into()));
        }
        check_password_policy(new)?;
        if old == new {
            return Err(ServiceError::BadRequest(
                "the new password must differ from the current one".into(),
            ));
        }
        let n = new.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&n)).await??;
        self.store
            .set_password(
                caller.id(),
                &hash,
                false,
                &AuditEvent::new(
                    caller.id(),
                    "account.password.change",
                    caller.id(),
                    Outcome::Success,
                ),
            )
            .await?;
        Ok(())
    }

    /// Looks up an account by login name for in-process tools (the demo); no session involved.
    pub async fn user_named(&self, username: &str) -> Result<Option<User>> {
        Ok(self.store.user_by_name(username).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_passwords_meet_the_policy_and_differ() {
        let a = generate_one_time_password();
        let b = generate_one_time_password();
        check_password_policy(&a).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn weak_passwords_are_refused() {
        for weak in ["short1A!", "alllowercaseletters", "ALLUPPER12345678"] {
            assert!(check_password_policy(weak).is_err(), "{weak}");
        }
        check_password_policy("Correct-Horse-7").unwrap();
    }

    #[test]
    fn argon2id_hash_verifies_only_the_right_password() {
        let h = hash_password("Correct-Horse-7").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Correct-Horse-7", &h));
        assert!(!verify_password("Correct-Horse-8", &h));
    }

    #[test]
    fn usernames_are_restricted() {
        assert!(valid_username("researcher.li"));
        assert!(!valid_username("张三"));
        assert!(!valid_username("ab"));
    }
}
