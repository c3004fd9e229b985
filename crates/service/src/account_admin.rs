//! Account security administration: TOTP enrolment, audited unlock by a security administrator,
//! API tokens for systems, client-certificate (mutual TLS) login, account validity and the sweep
//! that disables expired and unused accounts.
//!
//! GB/T 39725-2020 §11.1.2.4 (unique accounts, idle sessions), §11.6.2.2 and Appendix F identity
//! rows (two authentication factors for administrators and remote access, lockout with unlock by
//! the security administrator, expired and unused accounts disabled, certificates for
//! institution-to-institution calls); T/CI 857-2024 7.2 (node identity by certificate); DMS 5.2.1.
//! Every change is audited in the same transaction as the change.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use medspace_core::{new_id, AuditEvent, Outcome, Role, User};
use medspace_store::{AccountState, ApiToken, CertificateAccount, TotpFactor};
use serde::Serialize;
use serde_json::json;

use crate::access::{Action, Caller};
use crate::accounts::{login_event, totp_context, API_TOKEN_PREFIX};
use crate::error::{Result, ServiceError};
use crate::identity::{totp_uri, TOTP_SECRET_BYTES};
use crate::node::Node;

/// What enrolment shows once: the secret for the authenticator app.
#[derive(Debug, Clone, Serialize)]
pub struct TotpEnrolment {
    /// `otpauth://totp/medspace:<user>?secret=…&issuer=medspace` (for a QR code).
    pub otpauth_uri: String,
    /// The secret in base32, for typing in.
    pub secret: String,
}

/// An API token as listed (never the token itself).
#[derive(Debug, Clone, Serialize)]
pub struct ApiTokenView {
    /// Token id (for revocation).
    pub id: String,
    /// Account it acts as.
    pub user_id: String,
    /// Role it is scoped to.
    pub role: String,
    /// Label naming the system.
    pub label: String,
    /// Created by.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for ApiTokenView {
    fn from(t: ApiToken) -> Self {
        let ApiToken {
            id,
            token_hash: _,
            user_id,
            role,
            label,
            created_by,
            created_at,
            expires_at,
            revoked_at,
        } = t;
        ApiTokenView {
            id,
            user_id,
            role,
            label,
            created_by,
            created_at,
            expires_at,
            revoked_at,
        }
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    /// Accounts disabled because `valid_until` passed.
    pub expired: Vec<String>,
    /// Accounts disabled because they were not used for `unused_account_days`.
    pub unused: Vec<String>,
}

fn token_hash(token: &str) -> String {
    medspace_crypto::sha256_hex(token.as_bytes())
}

/// Normalises a SHA-256 fingerprint: hex with or without colons, any case.
pub fn normalise_fingerprint(fingerprint: &str) -> Result<String> {
    let hex: String = fingerprint
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ServiceError::BadRequest(
            "fingerprint: expected the SHA-256 of the certificate as 64 hex digits".into(),
        ));
    }
    Ok(hex)
}

impl Node {
    async fn target_user(&self, user_id: &str) -> Result<User> {
        self.store
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("account `{user_id}`")))
    }

    /// Starts (or restarts, while unconfirmed) TOTP enrolment of the caller's own account. The
    /// secret is wrapped by the master key before it is stored and shown only in this answer.
    pub async fn begin_totp_enrolment(&self, caller: &Caller) -> Result<TotpEnrolment> {
        let secret = medspace_crypto::SecretKey::generate();
        let wrapped = self
            .keys
            .wrap(&secret, &totp_context(caller.id()))
            .map_err(|e| ServiceError::Crypto(format!("second-factor secret: {e}")))?;
        let (otpauth_uri, b32) =
            totp_uri(&secret.expose()[..TOTP_SECRET_BYTES], &caller.user.username)?;
        self.store
            .put_totp_factor(
                &TotpFactor {
                    user_id: caller.id().to_string(),
                    wrapped_secret: wrapped,
                    confirmed: false,
                    created_at: Utc::now(),
                },
                &caller.event("account.totp.enrol", caller.id(), Outcome::Success),
            )
            .await?;
        Ok(TotpEnrolment {
            otpauth_uri,
            secret: b32,
        })
    }

    /// Confirms enrolment with a first code; from now on logins need a code.
    pub async fn confirm_totp_enrolment(&self, caller: &Caller, code: &str) -> Result<()> {
        let factor = self.store.totp_factor(caller.id()).await?.ok_or_else(|| {
            ServiceError::BadRequest("start enrolment first (POST /api/v1/auth/totp/enrol)".into())
        })?;
        if factor.confirmed {
            return Err(ServiceError::Conflict(
                "the second factor is already confirmed".into(),
            ));
        }
        self.verify_totp(
            &caller.user,
            code,
            true,
            caller.address,
            "account.totp.confirm",
        )
        .await
    }

    /// Removes an account's second factor so that it enrols again (security administrator).
    pub async fn reset_totp(&self, caller: &Caller, user_id: &str) -> Result<()> {
        self.require(caller, Action::UnlockAccount).await?;
        self.target_user(user_id).await?;
        self.store
            .delete_totp_factor(
                user_id,
                &caller.event("account.totp.reset", user_id, Outcome::Success),
            )
            .await?;
        Ok(())
    }

    /// Unlocks a locked account and forgets its failures (security administrator), audited.
    pub async fn unlock_account(&self, caller: &Caller, user_id: &str) -> Result<User> {
        self.require(caller, Action::UnlockAccount).await?;
        let user = self.target_user(user_id).await?;
        if !user.locked {
            return Err(ServiceError::Conflict(format!(
                "account `{user_id}` is not locked"
            )));
        }
        self.store
            .unlock_account(
                user_id,
                &caller.event("account.unlock", user_id, Outcome::Success),
            )
            .await?;
        self.target_user(user_id).await
    }

    /// Sets (or clears) the date after which an account is disabled by the sweep.
    pub async fn set_account_validity(
        &self,
        caller: &Caller,
        user_id: &str,
        valid_until: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.require(caller, Action::ManageCredentials).await?;
        let user = self.target_user(user_id).await?;
        let mut state = self
            .store
            .account_state(user_id)
            .await?
            .unwrap_or(AccountState {
                user_id: user_id.to_string(),
                password_changed_at: user.created_at,
                valid_until: None,
                last_login_at: None,
                locked_at: None,
            });
        state.valid_until = valid_until;
        self.store
            .put_account_state(
                &state,
                &caller
                    .event("account.validity", user_id, Outcome::Success)
                    .with_detail(json!({"valid_until": valid_until})),
            )
            .await?;
        Ok(())
    }

    /// Creates an API token acting as `user_id` and scoped to its role, expiring after `days`
    /// (at most `[accounts] api_token_max_days`). Roles that need a second factor get none. The
    /// token is returned once and stored as SHA-256 only.
    pub async fn create_api_token(
        &self,
        caller: &Caller,
        user_id: &str,
        label: &str,
        days: i64,
    ) -> Result<(ApiTokenView, String)> {
        self.require(caller, Action::ManageCredentials).await?;
        let user = self.target_user(user_id).await?;
        let max = self.config.accounts.api_token_max_days;
        if !(1..=max).contains(&days) {
            return Err(ServiceError::BadRequest(format!(
                "expires_in_days: expected 1 to {max}"
            )));
        }
        if label.trim().is_empty() || label.len() > 100 {
            return Err(ServiceError::BadRequest(
                "label: expected 1–100 characters naming the system".into(),
            ));
        }
        if self
            .config
            .accounts
            .totp_required_roles
            .contains(&user.role)
        {
            return Err(ServiceError::BadRequest(format!(
                "role {} needs a second factor at every login; API tokens are for system accounts",
                user.role
            )));
        }
        let token = format!("{API_TOKEN_PREFIX}{}", medspace_crypto::random_token());
        let now = Utc::now();
        let row = ApiToken {
            id: new_id("t"),
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            role: user.role.as_str().to_string(),
            label: label.trim().to_string(),
            created_by: caller.id().to_string(),
            created_at: now,
            expires_at: now + Duration::days(days),
            revoked_at: None,
        };
        self.store
            .insert_api_token(
                &row,
                &caller
                    .event("account.token.create", &row.id, Outcome::Success)
                    .with_detail(json!({"user": user.id, "role": row.role, "days": days})),
            )
            .await?;
        Ok((row.into(), token))
    }

    /// Lists API tokens (never the tokens themselves).
    pub async fn list_api_tokens(&self, caller: &Caller) -> Result<Vec<ApiTokenView>> {
        self.require(caller, Action::ManageCredentials).await?;
        self.audit(caller.event("account.token.list", "api_tokens", Outcome::Success))
            .await?;
        Ok(self
            .store
            .list_api_tokens()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Revokes an API token.
    pub async fn revoke_api_token(&self, caller: &Caller, id: &str) -> Result<()> {
        self.require(caller, Action::ManageCredentials).await?;
        self.store
            .revoke_api_token(
                id,
                Utc::now(),
                &caller.event("account.token.revoke", id, Outcome::Success),
            )
            .await?;
        Ok(())
    }

    /// Resolves an API token.
    pub(crate) async fn authenticate_api_token(&self, token: &str) -> Result<Caller> {
        let hash = token_hash(token);
        let refused = |m: &str| ServiceError::Unauthenticated(format!("API token {m}"));
        let Some(t) = self.store.api_token_by_hash(&hash).await? else {
            return Err(refused("unknown"));
        };
        if t.revoked_at.is_some() {
            return Err(refused("revoked"));
        }
        if t.expires_at < Utc::now() {
            return Err(refused("expired"));
        }
        let user = self
            .store
            .user_by_id(&t.user_id)
            .await?
            .ok_or_else(|| refused("of a removed account"))?;
        if user.locked || user.disabled {
            return Err(refused("of a locked or disabled account"));
        }
        if user.role.as_str() != t.role
            || self
                .config
                .accounts
                .totp_required_roles
                .contains(&user.role)
        {
            return Err(refused("no longer matches the account's role"));
        }
        Ok(Caller {
            user,
            token_hash: hash,
            address: None,
            must_enrol_second_factor: false,
        })
    }

    /// Maps a client certificate (SHA-256 fingerprint) to an account for mutual-TLS login.
    pub async fn map_certificate(
        &self,
        caller: &Caller,
        fingerprint: &str,
        subject: &str,
        user_id: &str,
    ) -> Result<CertificateAccount> {
        self.require(caller, Action::ManageCredentials).await?;
        let user = self.target_user(user_id).await?;
        if self
            .config
            .accounts
            .totp_required_roles
            .contains(&user.role)
        {
            return Err(ServiceError::BadRequest(format!(
                "role {} needs a second factor at every login; certificates are for institution accounts",
                user.role
            )));
        }
        let mapping = CertificateAccount {
            fingerprint: normalise_fingerprint(fingerprint)?,
            subject: subject.to_string(),
            user_id: user.id.clone(),
            created_by: caller.id().to_string(),
            created_at: Utc::now(),
        };
        self.store
            .insert_certificate_account(
                &mapping,
                &caller
                    .event("account.certificate.map", &user.id, Outcome::Success)
                    .with_detail(json!({"fingerprint": mapping.fingerprint, "subject": subject})),
            )
            .await?;
        Ok(mapping)
    }

    /// The caller behind a verified mutual-TLS client certificate (the TLS layer has checked the
    /// chain and validity); audited. Unmapped certificates are refused.
    pub async fn authenticate_certificate(
        &self,
        fingerprint: &str,
        address: Option<IpAddr>,
    ) -> Result<Caller> {
        let fp = normalise_fingerprint(fingerprint)?;
        let Some(mapping) = self.store.certificate_account(&fp).await? else {
            self.audit(
                login_event(
                    "anonymous",
                    "account.login.certificate",
                    Outcome::Denied,
                    address,
                )
                .with_detail(json!({"reason": "unmapped certificate", "fingerprint": fp})),
            )
            .await?;
            return Err(ServiceError::Unauthenticated(
                "this client certificate is not mapped to an account".into(),
            ));
        };
        let user = self.target_user(&mapping.user_id).await?;
        if user.locked || user.disabled {
            self.audit(
                login_event(
                    &user.id,
                    "account.login.certificate",
                    Outcome::Denied,
                    address,
                )
                .with_detail(json!({"reason": "locked or disabled"})),
            )
            .await?;
            return Err(ServiceError::Unauthenticated(
                "account is locked or disabled".into(),
            ));
        }
        self.audit(
            login_event(
                &user.id,
                "account.login.certificate",
                Outcome::Success,
                address,
            )
            .with_detail(json!({"fingerprint": fp})),
        )
        .await?;
        Ok(Caller {
            user,
            token_hash: String::new(),
            address,
            must_enrol_second_factor: false,
        })
    }

    /// Disables accounts whose `valid_until` passed and accounts unused for
    /// `[accounts] unused_account_days` (counted from the last login, or creation), each audited.
    /// Run at start and periodically while serving.
    pub async fn sweep_accounts(&self) -> Result<SweepReport> {
        let now = Utc::now();
        let unused_days = self.config.accounts.unused_account_days;
        let states: std::collections::HashMap<String, AccountState> = self
            .store
            .account_states()
            .await?
            .into_iter()
            .map(|s| (s.user_id.clone(), s))
            .collect();
        let mut report = SweepReport::default();
        for user in self.store.list_users().await? {
            if user.disabled {
                continue;
            }
            let state = states.get(&user.id);
            let expired = state.and_then(|s| s.valid_until).is_some_and(|t| t < now);
            let last_use = state
                .and_then(|s| s.last_login_at)
                .unwrap_or(user.created_at);
            // A patient's self-service account may rightly go unused for long (§11.2).
            let unused = unused_days > 0
                && user.role != Role::Patient
                && now - last_use > Duration::days(unused_days);
            if !(expired || unused) {
                continue;
            }
            let reason = if expired { "expired" } else { "unused" };
            self.store
                .disable_account(
                    &user.id,
                    &AuditEvent::new("system", "account.disable", &user.id, Outcome::Success)
                        .with_detail(json!({
                            "reason": reason,
                            "last_use": last_use,
                            "unused_account_days": unused_days,
                        })),
                )
                .await?;
            if expired {
                report.expired.push(user.id);
            } else {
                report.unused.push(user.id);
            }
        }
        Ok(report)
    }

    /// Sweeps accounts now and then every `[accounts] sweep_interval_minutes` (0: only now) while
    /// serving. A failed sweep is logged and audited and retried at the next tick.
    pub fn spawn_account_sweep(&self) -> tokio::task::JoinHandle<()> {
        let node = self.clone();
        let minutes = self.config.accounts.sweep_interval_minutes;
        tokio::spawn(async move {
            let mut ticker =
                tokio::time::interval(std::time::Duration::from_secs(minutes.max(1) * 60));
            loop {
                ticker.tick().await;
                match node.sweep_accounts().await {
                    Ok(r) => tracing::info!(
                        expired = r.expired.len(),
                        unused = r.unused.len(),
                        "account sweep"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "account sweep failed");
                        let _ = node
                            .audit(
                                AuditEvent::new(
                                    "system",
                                    "account.sweep",
                                    "accounts",
                                    Outcome::Error,
                                )
                                .with_detail(json!({"error": e.to_string()})),
                            )
                            .await;
                    }
                }
                if minutes == 0 {
                    break;
                }
            }
        })
    }

    /// Whether `role` must present a second factor at every login on this node.
    pub fn role_needs_second_factor(&self, role: Role) -> bool {
        self.config.accounts.totp_required_roles.contains(&role)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn fingerprints_are_normalised() {
        let fp = "AB:".repeat(31) + "AB";
        assert_eq!(normalise_fingerprint(&fp).unwrap(), "ab".repeat(32));
        assert!(normalise_fingerprint("abc").is_err());
    }
}
