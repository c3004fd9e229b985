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

use std::net::IpAddr;

use medspace_store::LoginChallenge;

use crate::access::{permits, Action, Caller};
use crate::error::{Result, ServiceError};
use crate::identity::TOTP_SECRET_BYTES;
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
    /// The role needs a second factor and none is enrolled: only enrolment is allowed.
    pub must_enrol_second_factor: bool,
}

/// A password step that needs a TOTP code to finish.
#[derive(Debug, Clone, Serialize)]
pub struct SecondFactorChallenge {
    /// Hand back with the code (single use).
    pub challenge: String,
    /// Seconds the challenge stays valid.
    pub expires_in_seconds: i64,
}

/// Result of the password step.
#[derive(Debug, Clone)]
pub enum LoginStep {
    /// Logged in.
    Session(LoginOutcome),
    /// Second factor required.
    SecondFactor(SecondFactorChallenge),
}

/// Prefix of API tokens (sessions tokens are plain hex).
pub const API_TOKEN_PREFIX: &str = "mst_";

/// Key-wrap context of an account's TOTP secret.
pub(crate) fn totp_context(user_id: &str) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

/// A login-related audit event carrying the network address.
pub(crate) fn login_event(
    actor: &str,
    action: &str,
    outcome: Outcome,
    address: Option<IpAddr>,
) -> AuditEvent {
    let target = if actor == "anonymous" {
        "unknown-account"
    } else {
        actor
    };
    AuditEvent::new(actor, action, target, outcome).with_context(medspace_core::AuditContext {
        address: address.map(|a| a.to_string()),
        ..medspace_core::AuditContext::default()
    })
}

fn valid_username(name: &str) -> bool {
    (3..=32).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

impl Node {
    /// Logs in with a password from inside the process (command line, demo: an internal caller).
    /// An account that needs a second factor and has one enrolled is refused here: use
    /// [`Node::login_with_code`] or the two-step [`Node::login_from`].
    pub async fn login(&self, username: &str, password: &str) -> Result<LoginOutcome> {
        match self.login_from(username, password, None).await? {
            LoginStep::Session(out) => Ok(out),
            LoginStep::SecondFactor(_) => Err(ServiceError::Unauthenticated(
                "second factor required: give the one-time code of your authenticator".into(),
            )),
        }
    }

    /// Logs in with a password and, when the account has one, a TOTP code, in one call (command
    /// line and in-process tools).
    pub async fn login_with_code(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<LoginOutcome> {
        match (self.login_from(username, password, None).await?, code) {
            (LoginStep::Session(out), _) => Ok(out),
            (LoginStep::SecondFactor(ch), Some(code)) => {
                self.login_second_factor(&ch.challenge, code, None).await
            }
            (LoginStep::SecondFactor(_), None) => Err(ServiceError::Unauthenticated(
                "second factor required: give the one-time code of your authenticator".into(),
            )),
        }
    }

    /// First login step: checks the password (counting failures and locking the account at the
    /// threshold within the window) and either opens a session or, when a second factor is
    /// required (role, or an address outside the internal networks), returns a challenge for
    /// [`Node::login_second_factor`].
    pub async fn login_from(
        &self,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<LoginStep> {
        let user = self.password_step(username, password, address).await?;
        let settings = &self.config.accounts;
        if !settings.second_factor_required(user.role, address)? {
            return Ok(LoginStep::Session(
                self.start_session(user, address, false, false).await?,
            ));
        }
        let confirmed = self
            .store
            .totp_factor(&user.id)
            .await?
            .is_some_and(|f| f.confirmed);
        if confirmed {
            let challenge = medspace_crypto::random_token();
            let expires_at = Utc::now() + Duration::seconds(settings.second_factor_seconds);
            self.store
                .insert_login_challenge(
                    &LoginChallenge {
                        challenge_hash: token_hash(&challenge),
                        user_id: user.id.clone(),
                        address: address.map(|a| a.to_string()),
                        expires_at,
                    },
                    &login_event(
                        &user.id,
                        "account.login.password",
                        Outcome::Success,
                        address,
                    )
                    .with_detail(json!({"second_factor": "required"})),
                )
                .await?;
            return Ok(LoginStep::SecondFactor(SecondFactorChallenge {
                challenge,
                expires_in_seconds: settings.second_factor_seconds,
            }));
        }
        if settings.totp_required_roles.contains(&user.role) && settings.is_internal(address)? {
            // First login of a privileged account: a session that can only enrol the factor.
            return Ok(LoginStep::Session(
                self.start_session(user, address, false, true).await?,
            ));
        }
        self.audit(
            login_event(&user.id, "account.login", Outcome::Denied, address)
                .with_detail(json!({"reason": "second factor required from outside the internal networks, none enrolled"})),
        )
        .await?;
        Err(ServiceError::Unauthenticated(
            "a second factor is required from outside the internal networks and this account has none; enrol one from inside".into(),
        ))
    }

    /// Second login step: the challenge of [`Node::login_from`] and a TOTP code (one step of
    /// clock drift either side; a code is accepted once). A wrong code counts as a failed login.
    pub async fn login_second_factor(
        &self,
        challenge: &str,
        code: &str,
        address: Option<IpAddr>,
    ) -> Result<LoginOutcome> {
        let expired = || {
            ServiceError::Unauthenticated("login challenge unknown or expired; log in again".into())
        };
        let Some(ch) = self
            .store
            .take_login_challenge(&token_hash(challenge))
            .await?
        else {
            self.audit(
                login_event("anonymous", "account.login.totp", Outcome::Denied, address)
                    .with_detail(json!({"reason": "unknown challenge"})),
            )
            .await?;
            return Err(expired());
        };
        let user = self
            .store
            .user_by_id(&ch.user_id)
            .await?
            .ok_or_else(expired)?;
        if ch.expires_at < Utc::now() || user.locked || user.disabled {
            self.audit(
                login_event(&user.id, "account.login.totp", Outcome::Denied, address).with_detail(
                    json!({"reason": if user.locked { "locked" } else if user.disabled { "disabled" } else { "challenge expired" }}),
                ),
            )
            .await?;
            return Err(expired());
        }
        self.verify_totp(&user, code, false, address, "account.login.totp")
            .await?;
        self.start_session(user, address, true, false).await
    }

    /// Checks a TOTP code of `user` and consumes its time step. A wrong or replayed code is
    /// audited and counted as a failed login.
    pub(crate) async fn verify_totp(
        &self,
        user: &User,
        code: &str,
        confirm: bool,
        address: Option<IpAddr>,
        action: &str,
    ) -> Result<()> {
        let factor = self.store.totp_factor(&user.id).await?.ok_or_else(|| {
            ServiceError::BadRequest("no second factor is enrolled for this account".into())
        })?;
        let secret = self.totp_secret(&user.id, &factor.wrapped_secret)?;
        let now = Utc::now().timestamp();
        let step = crate::identity::totp_match(&secret.expose()[..TOTP_SECRET_BYTES], code, now)?;
        let refused = match step {
            None => Some("wrong code"),
            Some(step) => match self
                .store
                .use_totp_step(
                    &user.id,
                    step,
                    confirm,
                    &login_event(&user.id, action, Outcome::Success, address),
                )
                .await
            {
                Ok(_) => None,
                Err(medspace_store::StoreError::Conflict(_)) => Some("code already used"),
                Err(e) => return Err(e.into()),
            },
        };
        if let Some(reason) = refused {
            self.record_failure(user, address, action, reason).await?;
            return Err(ServiceError::Unauthenticated(format!(
                "second factor refused: {reason}"
            )));
        }
        Ok(())
    }

    /// The unwrapped TOTP secret of an account.
    pub(crate) fn totp_secret(
        &self,
        user_id: &str,
        wrapped: &[u8],
    ) -> Result<medspace_crypto::SecretKey> {
        self.keys
            .unwrap(wrapped, &totp_context(user_id))
            .map_err(|e| ServiceError::Crypto(format!("second-factor secret: {e}")))
    }

    /// Checks the password; failures are counted within the window and lock the account at the
    /// threshold. Locked accounts stay locked until unlocked (or until the configured auto-unlock
    /// time has passed).
    async fn password_step(
        &self,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<User> {
        let invalid = || ServiceError::Unauthenticated("invalid username or password".into());
        let Some(mut user) = self.store.user_by_name(username).await? else {
            self.audit(
                login_event("anonymous", "account.login", Outcome::Denied, address)
                    .with_detail(json!({"reason": "unknown account"})),
            )
            .await?;
            return Err(invalid());
        };
        if user.locked && !user.disabled {
            if let Some(minutes) = self.config.accounts.auto_unlock_minutes {
                let locked_at = self
                    .store
                    .account_state(&user.id)
                    .await?
                    .and_then(|s| s.locked_at);
                if locked_at.is_some_and(|t| Utc::now() - t >= Duration::minutes(minutes)) {
                    self.store
                        .unlock_account(
                            &user.id,
                            &AuditEvent::new(
                                "system",
                                "account.unlock",
                                &user.id,
                                Outcome::Success,
                            )
                            .with_detail(
                                json!({"reason": "auto-unlock", "after_minutes": minutes}),
                            ),
                        )
                        .await?;
                    user.locked = false;
                    user.failed_logins = 0;
                }
            }
        }
        if user.locked || user.disabled {
            self.audit(
                login_event(&user.id, "account.login", Outcome::Denied, address).with_detail(
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
            self.record_failure(&user, address, "account.login", "wrong password")
                .await?;
            return Err(invalid());
        }
        Ok(user)
    }

    /// Records a failed login (audited) and locks the account (audited separately) when the
    /// failures within the window reach the threshold.
    async fn record_failure(
        &self,
        user: &User,
        address: Option<IpAddr>,
        action: &str,
        reason: &str,
    ) -> Result<()> {
        let now = Utc::now();
        let window = self.config.accounts.lockout_window_minutes;
        let (failures, _) = self
            .store
            .record_login_failure(
                &user.id,
                now,
                now - Duration::minutes(window),
                &login_event(&user.id, action, Outcome::Denied, address)
                    .with_detail(json!({"reason": reason})),
            )
            .await?;
        if failures >= self.config.lockout_threshold {
            self.store
                .lock_account(
                    &user.id,
                    now,
                    &AuditEvent::new("system", "account.lock", &user.id, Outcome::Success)
                        .with_detail(json!({
                            "failures": failures,
                            "window_minutes": window,
                            "threshold": self.config.lockout_threshold,
                        })),
                )
                .await?;
        }
        Ok(())
    }

    /// Opens a session (audited) and records the login time.
    pub(crate) async fn start_session(
        &self,
        user: User,
        address: Option<IpAddr>,
        second_factor: bool,
        must_enrol: bool,
    ) -> Result<LoginOutcome> {
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
                &login_event(&user.id, "account.login", Outcome::Success, address)
                    .with_detail(json!({"second_factor": second_factor})),
            )
            .await?;
        self.store.note_login(&user.id, now).await?;
        let password_expired = self.password_expired(&user).await?;
        Ok(LoginOutcome {
            token,
            must_change_password: user.must_change_password || password_expired,
            user,
            idle_timeout_minutes: self.config.session_idle_minutes,
            must_enrol_second_factor: must_enrol,
        })
    }

    /// Whether the password is older than the configured maximum age.
    async fn password_expired(&self, user: &User) -> Result<bool> {
        let days = self.config.accounts.password_max_age_days;
        // A patient who never chose a password logs in with one-time SMS codes only.
        let sms_only = user.role == Role::Patient
            && self.store.password_history(&user.id, 1).await?.is_empty();
        if days == 0 || sms_only {
            return Ok(false);
        }
        let changed = self
            .store
            .account_state(&user.id)
            .await?
            .map(|s| s.password_changed_at)
            .unwrap_or(user.created_at);
        Ok(Utc::now() - changed > Duration::days(days))
    }

    /// Resolves a bearer token to a caller: a session (ended after the idle timeout or the
    /// absolute lifetime) or an API token (`mst_…`: unrevoked, unexpired, still the account's
    /// role). An expired password restricts the caller to changing it; a privileged account
    /// without an enrolled second factor to enrolling one.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        if token.starts_with(API_TOKEN_PREFIX) {
            return self.authenticate_api_token(token).await;
        }
        let hash = token_hash(token);
        let Some(session) = self.store.session(&hash).await? else {
            return Err(ServiceError::Unauthenticated(
                "no valid session; log in".into(),
            ));
        };
        let now = Utc::now();
        let idle = now - session.last_seen > Duration::minutes(self.config.session_idle_minutes);
        let absolute = self.config.accounts.session_absolute_minutes;
        let too_old = now - session.created_at > Duration::minutes(absolute);
        if idle || too_old {
            self.store
                .delete_session(
                    &hash,
                    &AuditEvent::new(
                        &session.user_id,
                        "session.expire",
                        &session.user_id,
                        Outcome::Success,
                    )
                    .with_detail(
                        json!({"reason": if idle { "idle" } else { "absolute lifetime" }}),
                    ),
                )
                .await?;
            return Err(ServiceError::Unauthenticated(if idle {
                format!(
                    "session ended after {} minutes without activity; log in again",
                    self.config.session_idle_minutes
                )
            } else {
                format!("session ended after its lifetime of {absolute} minutes; log in again")
            }));
        }
        let mut user = self
            .store
            .user_by_id(&session.user_id)
            .await?
            .ok_or_else(|| ServiceError::Unauthenticated("account no longer exists".into()))?;
        if user.locked || user.disabled {
            return Err(ServiceError::Unauthenticated(
                "account is locked or disabled".into(),
            ));
        }
        if !user.must_change_password && self.password_expired(&user).await? {
            user.must_change_password = true;
        }
        let must_enrol_second_factor = self
            .config
            .accounts
            .totp_required_roles
            .contains(&user.role)
            && !self
                .store
                .totp_factor(&user.id)
                .await?
                .is_some_and(|f| f.confirmed);
        self.store.touch_session(&hash, now).await?;
        Ok(Caller {
            user,
            token_hash: hash,
            address: None,
            must_enrol_second_factor,
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
        if caller.must_enrol_second_factor {
            self.audit(
                AuditEvent::new(
                    caller.id(),
                    "access.denied",
                    action.as_str(),
                    Outcome::Denied,
                )
                .with_detail(json!({"reason": "second factor not enrolled"})),
            )
            .await?;
            return Err(ServiceError::Forbidden(
                "enrol a second factor first (POST /api/v1/auth/totp/enrol, then /api/v1/auth/totp/confirm)".into(),
            ));
        }
        if caller.user.must_change_password {
            self.audit(
                AuditEvent::new(
                    caller.id(),
                    "access.denied",
                    action.as_str(),
                    Outcome::Denied,
                )
                .with_detail(json!({"reason": "one-time or expired password not changed"})),
            )
            .await?;
            return Err(ServiceError::Forbidden(
                "change the one-time or expired password first (POST /api/v1/auth/password)".into(),
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
        if let Err(e) = self.check_new_password(caller, new).await {
            self.audit(
                AuditEvent::new(
                    caller.id(),
                    "account.password.change",
                    caller.id(),
                    Outcome::Denied,
                )
                .with_detail(json!({"reason": e.to_string()})),
            )
            .await?;
            return Err(e);
        }
        let n = new.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&n)).await??;
        self.store
            .change_password_hash(
                caller.id(),
                &hash,
                false,
                Utc::now(),
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

    /// Complexity (`[accounts] password_min_length`, three character classes, no username) and
    /// history (not the current password, nor one of the last `password_history`).
    pub(crate) async fn check_new_password(&self, caller: &Caller, new: &str) -> Result<()> {
        let settings = &self.config.accounts;
        crate::identity::check_password(settings, &caller.user.username, new)?;
        let mut earlier = vec![caller.user.password_hash.clone()];
        if settings.password_history > 0 {
            earlier.extend(
                self.store
                    .password_history(caller.id(), settings.password_history)
                    .await?,
            );
        }
        let n = new.to_string();
        let reused =
            tokio::task::spawn_blocking(move || earlier.iter().any(|phc| verify_password(&n, phc)))
                .await?;
        if reused {
            return Err(ServiceError::BadRequest(format!(
                "password rule `history`: the new password must differ from the current one and the last {} passwords",
                settings.password_history
            )));
        }
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
