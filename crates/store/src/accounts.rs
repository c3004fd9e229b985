//! Storage of account security state, written once for both backends (GB/T 39725-2020 §11.1.2.4
//! unique accounts, session limits; §11.6.2.2 and Appendix F identity rows: password complexity,
//! maximum age and history, lockout, second factor, certificates; DMS 5.2.1).
//!
//! Like every other write of the store, each state change here is committed in one transaction
//! with the audit entry describing it (fail closed). The tables are in migration 0007.

use chrono::{DateTime, Utc};

use crate::{AuditReceipt, Result, StoreError};

/// Per-account security state beside the `users` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// Account id.
    pub user_id: String,
    /// When the current password was set (maximum-age rule).
    pub password_changed_at: DateTime<Utc>,
    /// After this instant the account is disabled by the sweep.
    pub valid_until: Option<DateTime<Utc>>,
    /// Last successful login (unused-account rule).
    pub last_login_at: Option<DateTime<Utc>>,
    /// When the account was locked (optional auto-unlock).
    pub locked_at: Option<DateTime<Utc>>,
}

/// A TOTP factor: the secret wrapped by the master key, never stored in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    /// Account id.
    pub user_id: String,
    /// The RFC 6238 secret, wrapped (`KeyProvider::wrap`) with the account id as context.
    pub wrapped_secret: Vec<u8>,
    /// The holder proved possession with one valid code.
    pub confirmed: bool,
    /// When it was enrolled.
    pub created_at: DateTime<Utc>,
}

/// A pending "second factor required" login step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginChallenge {
    /// SHA-256 (hex) of the challenge handed to the client.
    pub challenge_hash: String,
    /// Account that passed the password step.
    pub user_id: String,
    /// Address the password step came from.
    pub address: Option<String>,
    /// The challenge is void after this instant.
    pub expires_at: DateTime<Utc>,
}

/// An API token for a system (stored as SHA-256 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Token id (`t-…`), used to revoke it.
    pub id: String,
    /// SHA-256 (hex) of the token.
    pub token_hash: String,
    /// Account the token acts as.
    pub user_id: String,
    /// Role the token is scoped to (must still be the account's role when used).
    pub role: String,
    /// Free label naming the system.
    pub label: String,
    /// Account that created it.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A client certificate mapped to an account (mutual-TLS login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateAccount {
    /// SHA-256 fingerprint of the DER certificate, lower-case hex.
    pub fingerprint: String,
    /// Subject distinguished name as shown when mapped.
    pub subject: String,
    /// Account.
    pub user_id: String,
    /// Who mapped it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Account security storage; every [`Store`](crate::Store) implements it.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// The state row of an account, if one was written.
    async fn account_state(&self, user_id: &str) -> Result<Option<AccountState>>;
    /// Every state row.
    async fn account_states(&self) -> Result<Vec<AccountState>>;
    /// Writes (inserts or replaces) a state row.
    async fn put_account_state(
        &self,
        state: &AccountState,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Replaces the password hash, records it in the history and sets `password_changed_at`, in
    /// one transaction.
    async fn change_password_hash(
        &self,
        user_id: &str,
        password_hash: &str,
        must_change: bool,
        at: DateTime<Utc>,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// The last `limit` password hashes of an account, newest first.
    async fn password_history(&self, user_id: &str, limit: i64) -> Result<Vec<String>>;
    /// Records a failed login at `at` and returns the number of failures at or after `since`
    /// (this one included); `users.failed_logins` is set to that number.
    async fn record_login_failure(
        &self,
        user_id: &str,
        at: DateTime<Utc>,
        since: DateTime<Utc>,
        audit: &medspace_core::AuditEvent,
    ) -> Result<(i64, AuditReceipt)>;
    /// Locks an account (`users.locked`, `account_state.locked_at`).
    async fn lock_account(
        &self,
        user_id: &str,
        at: DateTime<Utc>,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Unlocks an account and forgets its failures.
    async fn unlock_account(
        &self,
        user_id: &str,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Disables an account (`users.disabled`); its sessions end.
    async fn disable_account(
        &self,
        user_id: &str,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// After a successful login: forgets failures, sets `last_login_at`. Not audited on its own:
    /// the login's audit entry records it.
    async fn note_login(&self, user_id: &str, at: DateTime<Utc>) -> Result<()>;

    /// The TOTP factor of an account.
    async fn totp_factor(&self, user_id: &str) -> Result<Option<TotpFactor>>;
    /// Stores an unconfirmed factor, replacing an unconfirmed one; `Conflict` if a confirmed
    /// factor exists (it must be reset first).
    async fn put_totp_factor(
        &self,
        factor: &TotpFactor,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Removes a factor (reset by a security administrator).
    async fn delete_totp_factor(
        &self,
        user_id: &str,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Consumes time step `step` of the account's code and, when `confirm`, confirms the factor;
    /// `Conflict` (nothing written) if the step was already used (replay).
    async fn use_totp_step(
        &self,
        user_id: &str,
        step: i64,
        confirm: bool,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;

    /// Stores a login challenge.
    async fn insert_login_challenge(
        &self,
        challenge: &LoginChallenge,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Removes and returns a login challenge (each is usable once).
    async fn take_login_challenge(&self, challenge_hash: &str) -> Result<Option<LoginChallenge>>;

    /// Stores an API token.
    async fn insert_api_token(
        &self,
        token: &ApiToken,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// API token by hash.
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;
    /// Every API token (without secrets: only hashes are stored), oldest first.
    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>>;
    /// Revokes a token; `NotFound` if no unrevoked token has this id.
    async fn revoke_api_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;

    /// Maps a client certificate to an account; `AlreadyExists` if the fingerprint is mapped.
    async fn insert_certificate_account(
        &self,
        mapping: &CertificateAccount,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// The account mapped to a certificate fingerprint.
    async fn certificate_account(&self, fingerprint: &str) -> Result<Option<CertificateAccount>>;
}

const STATE_COLS: &str =
    "SELECT user_id, password_changed_at, valid_until, last_login_at, locked_at FROM account_state";
pub(crate) fn state_by_user() -> String {
    format!("{STATE_COLS} WHERE user_id = $1")
}
pub(crate) fn state_all() -> String {
    format!("{STATE_COLS} ORDER BY user_id")
}
pub(crate) const PUT_STATE: &str = "INSERT INTO account_state (user_id, password_changed_at, \
     valid_until, last_login_at, locked_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (user_id) DO UPDATE SET password_changed_at = excluded.password_changed_at, \
     valid_until = excluded.valid_until, last_login_at = excluded.last_login_at, \
     locked_at = excluded.locked_at";
pub(crate) const ENSURE_STATE: &str = "INSERT INTO account_state (user_id, password_changed_at) \
     SELECT id, created_at FROM users WHERE id = $1 ON CONFLICT (user_id) DO NOTHING";
pub(crate) const SET_PASSWORD_CHANGED: &str =
    "UPDATE account_state SET password_changed_at = $1 WHERE user_id = $2";
pub(crate) const INSERT_HISTORY: &str =
    "INSERT INTO password_history (user_id, password_hash, created_at) VALUES ($1, $2, $3)";
pub(crate) const HISTORY: &str = "SELECT password_hash FROM password_history WHERE user_id = $1 \
     ORDER BY created_at DESC LIMIT $2";
pub(crate) const INSERT_FAILURE: &str = "INSERT INTO login_failures (user_id, at) VALUES ($1, $2)";
pub(crate) const COUNT_FAILURES: &str =
    "SELECT COUNT(*) AS n FROM login_failures WHERE user_id = $1 AND at >= $2";
pub(crate) const SET_FAILED: &str = "UPDATE users SET failed_logins = $1 WHERE id = $2";
pub(crate) const LOCK_USER: &str = "UPDATE users SET locked = TRUE WHERE id = $1";
pub(crate) const SET_LOCKED_AT: &str = "UPDATE account_state SET locked_at = $1 WHERE user_id = $2";
pub(crate) const UNLOCK_USER: &str =
    "UPDATE users SET locked = FALSE, failed_logins = 0 WHERE id = $1";
pub(crate) const CLEAR_FAILURES: &str = "DELETE FROM login_failures WHERE user_id = $1";
pub(crate) const CLEAR_LOCKED_AT: &str =
    "UPDATE account_state SET locked_at = NULL WHERE user_id = $1";
pub(crate) const DISABLE_USER: &str = "UPDATE users SET disabled = TRUE WHERE id = $1";
pub(crate) const END_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1";
pub(crate) const NOTE_LOGIN: &str =
    "UPDATE account_state SET last_login_at = $1 WHERE user_id = $2";
pub(crate) const RESET_FAILED: &str = "UPDATE users SET failed_logins = 0 WHERE id = $1";

pub(crate) const TOTP: &str = "SELECT user_id, wrapped_secret, confirmed, created_at \
     FROM totp_factors WHERE user_id = $1";
pub(crate) const TOTP_CONFIRMED: &str = "SELECT confirmed FROM totp_factors WHERE user_id = $1";
pub(crate) const PUT_TOTP: &str = "INSERT INTO totp_factors (user_id, wrapped_secret, confirmed, \
     created_at) VALUES ($1, $2, FALSE, $3) ON CONFLICT (user_id) DO UPDATE SET \
     wrapped_secret = excluded.wrapped_secret, confirmed = FALSE, created_at = excluded.created_at";
pub(crate) const DELETE_TOTP: &str = "DELETE FROM totp_factors WHERE user_id = $1";
pub(crate) const USE_STEP: &str = "INSERT INTO totp_used_steps (user_id, step) VALUES ($1, $2) \
     ON CONFLICT (user_id, step) DO NOTHING";
pub(crate) const PRUNE_STEPS: &str = "DELETE FROM totp_used_steps WHERE user_id = $1 AND step < $2";
pub(crate) const CONFIRM_TOTP: &str = "UPDATE totp_factors SET confirmed = TRUE WHERE user_id = $1";

pub(crate) const INSERT_CHALLENGE: &str = "INSERT INTO login_challenges (challenge_hash, user_id, \
     address, expires_at) VALUES ($1, $2, $3, $4)";
pub(crate) const CHALLENGE: &str = "SELECT challenge_hash, user_id, address, expires_at \
     FROM login_challenges WHERE challenge_hash = $1";
pub(crate) const DELETE_CHALLENGE: &str = "DELETE FROM login_challenges WHERE challenge_hash = $1";
pub(crate) const PRUNE_CHALLENGES: &str = "DELETE FROM login_challenges WHERE expires_at < $1";

const TOKEN_COLS: &str = "SELECT id, token_hash, user_id, role, label, created_by, created_at, \
     expires_at, revoked_at FROM api_tokens";
pub(crate) fn token_by_hash() -> String {
    format!("{TOKEN_COLS} WHERE token_hash = $1")
}
pub(crate) fn tokens_all() -> String {
    format!("{TOKEN_COLS} ORDER BY created_at, id")
}
pub(crate) const INSERT_TOKEN: &str = "INSERT INTO api_tokens (id, token_hash, user_id, role, \
     label, created_by, created_at, expires_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(crate) const REVOKE_TOKEN: &str =
    "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";

pub(crate) const INSERT_CERT: &str = "INSERT INTO certificate_accounts (fingerprint, subject, \
     user_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const CERT: &str = "SELECT fingerprint, subject, user_id, created_by, created_at \
     FROM certificate_accounts WHERE fingerprint = $1";

pub(crate) fn corrupt(table: &str, col: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: format!("{table} row (column `{col}`)"),
        reason: reason.to_string(),
    }
}

pub(crate) fn time(table: &str, col: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(table, col, format!("expected RFC 3339: {e}")))
}

pub(crate) fn text<R: crate::sql::Cols>(table: &str, row: &R, col: &str) -> Result<String> {
    row.text(col).map_err(|e| corrupt(table, col, e))
}

pub(crate) fn ts<R: crate::sql::Cols>(table: &str, row: &R, col: &str) -> Result<DateTime<Utc>> {
    time(table, col, &text(table, row, col)?)
}

pub(crate) fn opt_ts<R: crate::sql::Cols>(
    table: &str,
    row: &R,
    col: &str,
) -> Result<Option<DateTime<Utc>>> {
    row.opt_text(col)
        .map_err(|e| corrupt(table, col, e))?
        .map(|t| time(table, col, &t))
        .transpose()
}

/// Decodes an `account_state` row.
pub(crate) fn state<R: crate::sql::Cols>(row: &R) -> Result<AccountState> {
    const T: &str = "account_state";
    Ok(AccountState {
        user_id: text(T, row, "user_id")?,
        password_changed_at: ts(T, row, "password_changed_at")?,
        valid_until: opt_ts(T, row, "valid_until")?,
        last_login_at: opt_ts(T, row, "last_login_at")?,
        locked_at: opt_ts(T, row, "locked_at")?,
    })
}

/// Decodes a `totp_factors` row.
pub(crate) fn totp<R: crate::sql::Cols>(row: &R) -> Result<TotpFactor> {
    const T: &str = "totp_factors";
    Ok(TotpFactor {
        user_id: text(T, row, "user_id")?,
        wrapped_secret: row
            .bytes("wrapped_secret")
            .map_err(|e| corrupt(T, "wrapped_secret", e))?,
        confirmed: row
            .flag("confirmed")
            .map_err(|e| corrupt(T, "confirmed", e))?,
        created_at: ts(T, row, "created_at")?,
    })
}

/// Decodes a `login_challenges` row.
pub(crate) fn challenge<R: crate::sql::Cols>(row: &R) -> Result<LoginChallenge> {
    const T: &str = "login_challenges";
    Ok(LoginChallenge {
        challenge_hash: text(T, row, "challenge_hash")?,
        user_id: text(T, row, "user_id")?,
        address: row
            .opt_text("address")
            .map_err(|e| corrupt(T, "address", e))?,
        expires_at: ts(T, row, "expires_at")?,
    })
}

/// Decodes an `api_tokens` row.
pub(crate) fn token<R: crate::sql::Cols>(row: &R) -> Result<ApiToken> {
    const T: &str = "api_tokens";
    Ok(ApiToken {
        id: text(T, row, "id")?,
        token_hash: text(T, row, "token_hash")?,
        user_id: text(T, row, "user_id")?,
        role: text(T, row, "role")?,
        label: text(T, row, "label")?,
        created_by: text(T, row, "created_by")?,
        created_at: ts(T, row, "created_at")?,
        expires_at: ts(T, row, "expires_at")?,
        revoked_at: opt_ts(T, row, "revoked_at")?,
    })
}

/// Decodes a `certificate_accounts` row.
pub(crate) fn certificate<R: crate::sql::Cols>(row: &R) -> Result<CertificateAccount> {
    const T: &str = "certificate_accounts";
    Ok(CertificateAccount {
        fingerprint: text(T, row, "fingerprint")?,
        subject: text(T, row, "subject")?,
        user_id: text(T, row, "user_id")?,
        created_by: text(T, row, "created_by")?,
        created_at: ts(T, row, "created_at")?,
    })
}

/// `impl AccountStore` for a backend; expanded inside [`sql_store!`](crate::sql::sql_store) so it
/// can use the backend's audited-transaction helpers.
macro_rules! account_store_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::AccountStore for $store {
            async fn account_state(
                &self,
                user_id: &str,
            ) -> $crate::Result<Option<$crate::AccountState>> {
                self.fetch_one_opt(
                    &$crate::accounts::state_by_user(),
                    user_id,
                    $crate::accounts::state,
                )
                .await
            }

            async fn account_states(&self) -> $crate::Result<Vec<$crate::AccountState>> {
                self.fetch_list(&$crate::accounts::state_all(), None, $crate::accounts::state)
                    .await
            }

            async fn put_account_state(
                &self,
                state: &$crate::AccountState,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let opt = |t: &Option<chrono::DateTime<chrono::Utc>>| {
                    t.as_ref().map($crate::sql::ts)
                };
                let q = sqlx::query($crate::accounts::PUT_STATE)
                    .bind(&state.user_id)
                    .bind($crate::sql::ts(&state.password_changed_at))
                    .bind(opt(&state.valid_until))
                    .bind(opt(&state.last_login_at))
                    .bind(opt(&state.locked_at));
                let change = $crate::sql::Change::Insert {
                    table: "account_state",
                    unique: None,
                    duplicate: format!("account state of `{}`", state.user_id),
                    missing: format!("user `{}`", state.user_id),
                };
                self.audited(audit, change, q).await
            }

            async fn change_password_hash(
                &self,
                user_id: &str,
                password_hash: &str,
                must_change: bool,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let done = sqlx::query($crate::sql::SET_PASSWORD)
                    .bind(password_hash)
                    .bind(must_change)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound {
                        what: format!("user `{user_id}`"),
                    });
                }
                let at = $crate::sql::ts(&at);
                for (sql, a, b) in [
                    ($crate::accounts::ENSURE_STATE, user_id, None),
                    (
                        $crate::accounts::SET_PASSWORD_CHANGED,
                        at.as_str(),
                        Some(user_id),
                    ),
                ] {
                    let mut q = sqlx::query(sql).bind(a);
                    if let Some(b) = b {
                        q = q.bind(b);
                    }
                    q.execute(&mut *w.tx).await.map_err(db_err)?;
                }
                sqlx::query($crate::accounts::INSERT_HISTORY)
                    .bind(user_id)
                    .bind(password_hash)
                    .bind(&at)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                w.commit().await?;
                Ok(receipt)
            }

            async fn password_history(
                &self,
                user_id: &str,
                limit: i64,
            ) -> $crate::Result<Vec<String>> {
                let rows = sqlx::query($crate::accounts::HISTORY)
                    .bind(user_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                rows.iter()
                    .map(|r| $crate::sql::text_col(r, "password_history", "password_hash"))
                    .collect()
            }

            async fn record_login_failure(
                &self,
                user_id: &str,
                at: chrono::DateTime<chrono::Utc>,
                since: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<(i64, $crate::AuditReceipt)> {
                use $crate::sql::{db_err, Cols};
                let (mut w, receipt) = self.begin_audited(audit).await?;
                sqlx::query($crate::accounts::INSERT_FAILURE)
                    .bind(user_id)
                    .bind($crate::sql::ts(&at))
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| {
                        $crate::sql::Change::Insert {
                            table: "login_failures",
                            unique: None,
                            duplicate: "login failure".into(),
                            missing: format!("user `{user_id}`"),
                        }
                        .error(e)
                    })?;
                let row = sqlx::query($crate::accounts::COUNT_FAILURES)
                    .bind(user_id)
                    .bind($crate::sql::ts(&since))
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                let n = row.int("n").map_err(db_err)?;
                sqlx::query($crate::accounts::SET_FAILED)
                    .bind(n)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                w.commit().await?;
                Ok((n, receipt))
            }

            async fn lock_account(
                &self,
                user_id: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let done = sqlx::query($crate::accounts::LOCK_USER)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound {
                        what: format!("user `{user_id}`"),
                    });
                }
                sqlx::query($crate::accounts::ENSURE_STATE)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query($crate::accounts::SET_LOCKED_AT)
                    .bind($crate::sql::ts(&at))
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query($crate::accounts::END_SESSIONS)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                w.commit().await?;
                Ok(receipt)
            }

            async fn unlock_account(
                &self,
                user_id: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let done = sqlx::query($crate::accounts::UNLOCK_USER)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound {
                        what: format!("user `{user_id}`"),
                    });
                }
                for sql in [
                    $crate::accounts::CLEAR_FAILURES,
                    $crate::accounts::CLEAR_LOCKED_AT,
                ] {
                    sqlx::query(sql)
                        .bind(user_id)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_err)?;
                }
                w.commit().await?;
                Ok(receipt)
            }

            async fn disable_account(
                &self,
                user_id: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let done = sqlx::query($crate::accounts::DISABLE_USER)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound {
                        what: format!("user `{user_id}`"),
                    });
                }
                sqlx::query($crate::accounts::END_SESSIONS)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                w.commit().await?;
                Ok(receipt)
            }

            async fn note_login(
                &self,
                user_id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<()> {
                use $crate::sql::db_err;
                let mut w = self.begin_write().await?;
                sqlx::query($crate::accounts::ENSURE_STATE)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query($crate::accounts::NOTE_LOGIN)
                    .bind($crate::sql::ts(&at))
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                for sql in [$crate::accounts::CLEAR_FAILURES, $crate::accounts::RESET_FAILED] {
                    sqlx::query(sql)
                        .bind(user_id)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_err)?;
                }
                sqlx::query($crate::accounts::PRUNE_CHALLENGES)
                    .bind($crate::sql::ts(&at))
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                w.commit().await
            }

            async fn totp_factor(
                &self,
                user_id: &str,
            ) -> $crate::Result<Option<$crate::TotpFactor>> {
                self.fetch_one_opt($crate::accounts::TOTP, user_id, $crate::accounts::totp)
                    .await
            }

            async fn put_totp_factor(
                &self,
                factor: &$crate::TotpFactor,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let confirmed: Option<bool> = sqlx::query_scalar($crate::accounts::TOTP_CONFIRMED)
                    .bind(&factor.user_id)
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                if confirmed == Some(true) {
                    return Err($crate::StoreError::Conflict(
                        "a confirmed second factor exists; a security administrator must reset it first"
                            .into(),
                    ));
                }
                sqlx::query($crate::accounts::PUT_TOTP)
                    .bind(&factor.user_id)
                    .bind(&factor.wrapped_secret)
                    .bind($crate::sql::ts(&factor.created_at))
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| {
                        $crate::sql::Change::Insert {
                            table: "totp_factors",
                            unique: None,
                            duplicate: "second factor".into(),
                            missing: format!("user `{}`", factor.user_id),
                        }
                        .error(e)
                    })?;
                w.commit().await?;
                Ok(receipt)
            }

            async fn delete_totp_factor(
                &self,
                user_id: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::accounts::DELETE_TOTP).bind(user_id);
                self.audited(
                    audit,
                    $crate::sql::Change::One {
                        what: format!("second factor of `{user_id}`"),
                    },
                    q,
                )
                .await
            }

            async fn use_totp_step(
                &self,
                user_id: &str,
                step: i64,
                confirm: bool,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let done = sqlx::query($crate::accounts::USE_STEP)
                    .bind(user_id)
                    .bind(step)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::Conflict(
                        "this one-time code was already used".into(),
                    ));
                }
                // Steps far behind the window can never be presented again.
                sqlx::query($crate::accounts::PRUNE_STEPS)
                    .bind(user_id)
                    .bind(step - 10)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                if confirm {
                    sqlx::query($crate::accounts::CONFIRM_TOTP)
                        .bind(user_id)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_err)?;
                }
                w.commit().await?;
                Ok(receipt)
            }

            async fn insert_login_challenge(
                &self,
                challenge: &$crate::LoginChallenge,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::accounts::INSERT_CHALLENGE)
                    .bind(&challenge.challenge_hash)
                    .bind(&challenge.user_id)
                    .bind(&challenge.address)
                    .bind($crate::sql::ts(&challenge.expires_at));
                let change = $crate::sql::Change::Insert {
                    table: "login_challenges",
                    unique: None,
                    duplicate: "login challenge".into(),
                    missing: format!("user `{}`", challenge.user_id),
                };
                self.audited(audit, change, q).await
            }

            async fn take_login_challenge(
                &self,
                challenge_hash: &str,
            ) -> $crate::Result<Option<$crate::LoginChallenge>> {
                use $crate::sql::db_err;
                let mut w = self.begin_write().await?;
                let row = sqlx::query($crate::accounts::CHALLENGE)
                    .bind(challenge_hash)
                    .fetch_optional(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                let out = row.as_ref().map($crate::accounts::challenge).transpose()?;
                sqlx::query($crate::accounts::DELETE_CHALLENGE)
                    .bind(challenge_hash)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                w.commit().await?;
                Ok(out)
            }

            async fn insert_api_token(
                &self,
                token: &$crate::ApiToken,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::accounts::INSERT_TOKEN)
                    .bind(&token.id)
                    .bind(&token.token_hash)
                    .bind(&token.user_id)
                    .bind(&token.role)
                    .bind(&token.label)
                    .bind(&token.created_by)
                    .bind($crate::sql::ts(&token.created_at))
                    .bind($crate::sql::ts(&token.expires_at))
                    .bind(token.revoked_at.as_ref().map($crate::sql::ts));
                let change = $crate::sql::Change::Insert {
                    table: "api_tokens",
                    unique: None,
                    duplicate: format!("API token `{}`", token.id),
                    missing: format!("user `{}`", token.user_id),
                };
                self.audited(audit, change, q).await
            }

            async fn api_token_by_hash(
                &self,
                token_hash: &str,
            ) -> $crate::Result<Option<$crate::ApiToken>> {
                self.fetch_one_opt(
                    &$crate::accounts::token_by_hash(),
                    token_hash,
                    $crate::accounts::token,
                )
                .await
            }

            async fn list_api_tokens(&self) -> $crate::Result<Vec<$crate::ApiToken>> {
                self.fetch_list(&$crate::accounts::tokens_all(), None, $crate::accounts::token)
                    .await
            }

            async fn revoke_api_token(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::accounts::REVOKE_TOKEN)
                    .bind($crate::sql::ts(&at))
                    .bind(id);
                self.audited(
                    audit,
                    $crate::sql::Change::One {
                        what: format!("unrevoked API token `{id}`"),
                    },
                    q,
                )
                .await
            }

            async fn insert_certificate_account(
                &self,
                mapping: &$crate::CertificateAccount,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::accounts::INSERT_CERT)
                    .bind(&mapping.fingerprint)
                    .bind(&mapping.subject)
                    .bind(&mapping.user_id)
                    .bind(&mapping.created_by)
                    .bind($crate::sql::ts(&mapping.created_at));
                let change = $crate::sql::Change::Insert {
                    table: "certificate_accounts",
                    unique: None,
                    duplicate: "a mapping of this certificate".into(),
                    missing: format!("user `{}`", mapping.user_id),
                };
                self.audited(audit, change, q).await
            }

            async fn certificate_account(
                &self,
                fingerprint: &str,
            ) -> $crate::Result<Option<$crate::CertificateAccount>> {
                self.fetch_one_opt(
                    $crate::accounts::CERT,
                    fingerprint,
                    $crate::accounts::certificate,
                )
                .await
            }
        }
    };
}
pub(crate) use account_store_impl;
