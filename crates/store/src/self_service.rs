//! Storage of patient self-service, written once for both backends (GB/T 39725-2020 §7 d)–h),
//! §11.2): patient accounts mapped to keyed pseudonyms of the mobile number and the patient,
//! guardian links, one-time SMS codes (hashes only) and the correction/restriction work queue
//! (request text sealed by the service). Every state change is in one transaction with its audit
//! entry, except the attempt counter of a code, whose failed login the service audits itself.

use chrono::{DateTime, Utc};

use crate::accounts::{corrupt, opt_ts, text, ts};
use crate::{AuditReceipt, Result};

/// A patient account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientAccountRow {
    /// The account (`users.id`, role `patient`).
    pub user_id: String,
    /// Keyed pseudonym of the mobile number.
    pub mobile_key: String,
    /// Keyed pseudonym of the patient.
    pub patient_key: String,
    /// Officer who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A one-time login code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCodeRow {
    /// Keyed pseudonym of the mobile number.
    pub mobile_key: String,
    /// Hash of the code.
    pub code_hash: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Wrong codes tried so far.
    pub attempts: i64,
}

/// A correction or restriction request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRequestRow {
    /// Id (`sr-…`).
    pub id: String,
    /// Filing account.
    pub user_id: String,
    /// Patient pseudonym.
    pub patient_key: String,
    /// `correction` or `restriction`.
    pub kind: String,
    /// The request text, AEAD ciphertext.
    pub sealed: Vec<u8>,
    /// `open`, `accepted` or `declined`.
    pub status: String,
    /// Filed.
    pub created_at: DateTime<Utc>,
    /// Resolving officer.
    pub resolved_by: Option<String>,
    /// Resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// What was done.
    pub resolution: Option<String>,
}

/// Self-service storage; every [`Store`](crate::Store) implements it.
#[async_trait::async_trait]
pub trait SelfServiceStore: Send + Sync {
    /// Creates a patient account: the `users` row and its mapping, in one transaction.
    async fn insert_patient_account(
        &self,
        user: &medspace_core::User,
        row: &PatientAccountRow,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// The patient account of a mobile-number pseudonym.
    async fn patient_account_by_mobile(
        &self,
        mobile_key: &str,
    ) -> Result<Option<PatientAccountRow>>;
    /// The patient account of a user id.
    async fn patient_account(&self, user_id: &str) -> Result<Option<PatientAccountRow>>;
    /// Links a guardian account to a patient.
    async fn insert_guardian(
        &self,
        guardian_id: &str,
        patient_key: &str,
        created_by: &str,
        at: DateTime<Utc>,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Renames a patient account (the patient chooses an account name, §11.2.2.1); the name must
    /// be unused (`AlreadyExists`).
    async fn set_username(
        &self,
        user_id: &str,
        username: &str,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Patients a guardian acts for.
    async fn wards_of(&self, guardian_id: &str) -> Result<Vec<String>>;
    /// Stores (replaces) the pending code of a mobile number.
    async fn put_sms_code(
        &self,
        row: &SmsCodeRow,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// The pending code of a mobile number.
    async fn sms_code(&self, mobile_key: &str) -> Result<Option<SmsCodeRow>>;
    /// Counts one wrong code.
    async fn bump_sms_attempts(&self, mobile_key: &str) -> Result<()>;
    /// Removes the pending code (used, expired or exhausted).
    async fn delete_sms_code(&self, mobile_key: &str) -> Result<()>;
    /// Files a correction or restriction request.
    async fn insert_subject_request(
        &self,
        row: &SubjectRequestRow,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Requests, oldest first; only open ones if `open_only`.
    async fn subject_requests(&self, open_only: bool) -> Result<Vec<SubjectRequestRow>>;
    /// Resolves an open request; `NotFound` / `Conflict` (already resolved).
    async fn resolve_subject_request(
        &self,
        id: &str,
        status: &str,
        resolved_by: &str,
        at: DateTime<Utc>,
        resolution: &str,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
}

const ACCOUNT_COLS: &str =
    "SELECT user_id, mobile_key, patient_key, created_by, created_at FROM patient_accounts";
pub(crate) fn account_by_mobile_sql() -> String {
    format!("{ACCOUNT_COLS} WHERE mobile_key = $1")
}
pub(crate) fn account_by_user_sql() -> String {
    format!("{ACCOUNT_COLS} WHERE user_id = $1")
}
pub(crate) const INSERT_ACCOUNT: &str = "INSERT INTO patient_accounts (user_id, mobile_key, \
     patient_key, created_by, created_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const INSERT_GUARDIAN: &str = "INSERT INTO patient_guardians (guardian_id, \
     patient_key, created_by, created_at) VALUES ($1, $2, $3, $4)";
pub(crate) const SET_USERNAME: &str = "UPDATE users SET username = $1 WHERE id = $2";
pub(crate) const WARDS: &str =
    "SELECT patient_key FROM patient_guardians WHERE guardian_id = $1 ORDER BY patient_key";
pub(crate) const PUT_CODE: &str = "INSERT INTO sms_codes (mobile_key, code_hash, expires_at, \
     attempts) VALUES ($1, $2, $3, 0) ON CONFLICT (mobile_key) DO UPDATE SET \
     code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0";
pub(crate) const CODE: &str =
    "SELECT mobile_key, code_hash, expires_at, attempts FROM sms_codes WHERE mobile_key = $1";
pub(crate) const BUMP_CODE: &str =
    "UPDATE sms_codes SET attempts = attempts + 1 WHERE mobile_key = $1";
pub(crate) const DELETE_CODE: &str = "DELETE FROM sms_codes WHERE mobile_key = $1";
const REQUEST_COLS: &str = "SELECT id, user_id, patient_key, kind, sealed, status, created_at, \
     resolved_by, resolved_at, resolution FROM subject_requests";
pub(crate) fn requests_sql(open_only: bool) -> String {
    if open_only {
        format!("{REQUEST_COLS} WHERE status = 'open' ORDER BY created_at, id")
    } else {
        format!("{REQUEST_COLS} ORDER BY created_at, id")
    }
}
pub(crate) const INSERT_REQUEST: &str = "INSERT INTO subject_requests (id, user_id, patient_key, \
     kind, sealed, status, created_at) VALUES ($1, $2, $3, $4, $5, 'open', $6)";
pub(crate) const RESOLVE_REQUEST: &str = "UPDATE subject_requests SET status = $1, \
     resolved_by = $2, resolved_at = $3, resolution = $4 WHERE id = $5 AND status = 'open'";
pub(crate) const REQUEST_STATUS: &str = "SELECT status FROM subject_requests WHERE id = $1";

/// Decodes a `patient_accounts` row.
pub(crate) fn account<R: crate::sql::Cols>(row: &R) -> Result<PatientAccountRow> {
    const T: &str = "patient_accounts";
    Ok(PatientAccountRow {
        user_id: text(T, row, "user_id")?,
        mobile_key: text(T, row, "mobile_key")?,
        patient_key: text(T, row, "patient_key")?,
        created_by: text(T, row, "created_by")?,
        created_at: ts(T, row, "created_at")?,
    })
}

/// Decodes an `sms_codes` row.
pub(crate) fn code<R: crate::sql::Cols>(row: &R) -> Result<SmsCodeRow> {
    const T: &str = "sms_codes";
    Ok(SmsCodeRow {
        mobile_key: text(T, row, "mobile_key")?,
        code_hash: text(T, row, "code_hash")?,
        expires_at: ts(T, row, "expires_at")?,
        attempts: row.int("attempts").map_err(|e| corrupt(T, "attempts", e))?,
    })
}

/// Decodes a `patient_guardians` key.
pub(crate) fn ward<R: crate::sql::Cols>(row: &R) -> Result<String> {
    text("patient_guardians", row, "patient_key")
}

/// Decodes a `subject_requests` row.
pub(crate) fn request<R: crate::sql::Cols>(row: &R) -> Result<SubjectRequestRow> {
    const T: &str = "subject_requests";
    let opt = |col: &str| row.opt_text(col).map_err(|e| corrupt(T, col, e));
    Ok(SubjectRequestRow {
        id: text(T, row, "id")?,
        user_id: text(T, row, "user_id")?,
        patient_key: text(T, row, "patient_key")?,
        kind: text(T, row, "kind")?,
        sealed: row.bytes("sealed").map_err(|e| corrupt(T, "sealed", e))?,
        status: text(T, row, "status")?,
        created_at: ts(T, row, "created_at")?,
        resolved_by: opt("resolved_by")?,
        resolved_at: opt_ts(T, row, "resolved_at")?,
        resolution: opt("resolution")?,
    })
}

/// The [`SelfServiceStore`] implementation over one backend.
macro_rules! self_service_store_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::SelfServiceStore for $store {
            async fn insert_patient_account(
                &self,
                user: &medspace_core::User,
                row: &$crate::PatientAccountRow,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let account = $crate::sql::Change::Insert {
                    table: "users",
                    unique: Some(("username", "an account with this username".into())),
                    duplicate: format!("account `{}`", user.id),
                    missing: "referenced row".into(),
                };
                Self::user_insert(user)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| account.error(e))?;
                let change = $crate::sql::Change::Insert {
                    table: "patient_accounts",
                    unique: Some(("mobile_key", "an account for this mobile number".into())),
                    duplicate: format!("patient account `{}`", row.user_id),
                    missing: format!("account `{}`", row.created_by),
                };
                sqlx::query($crate::self_service::INSERT_ACCOUNT)
                    .bind(&row.user_id)
                    .bind(&row.mobile_key)
                    .bind(&row.patient_key)
                    .bind(&row.created_by)
                    .bind($crate::sql::ts(&row.created_at))
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| change.error(e))?;
                w.commit().await?;
                Ok(receipt)
            }

            async fn patient_account_by_mobile(
                &self,
                mobile_key: &str,
            ) -> $crate::Result<Option<$crate::PatientAccountRow>> {
                self.fetch_one_opt(
                    &$crate::self_service::account_by_mobile_sql(),
                    mobile_key,
                    $crate::self_service::account,
                )
                .await
            }

            async fn patient_account(
                &self,
                user_id: &str,
            ) -> $crate::Result<Option<$crate::PatientAccountRow>> {
                self.fetch_one_opt(
                    &$crate::self_service::account_by_user_sql(),
                    user_id,
                    $crate::self_service::account,
                )
                .await
            }

            async fn insert_guardian(
                &self,
                guardian_id: &str,
                patient_key: &str,
                created_by: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::self_service::INSERT_GUARDIAN)
                    .bind(guardian_id)
                    .bind(patient_key)
                    .bind(created_by)
                    .bind($crate::sql::ts(&at));
                let change = $crate::sql::Change::Insert {
                    table: "patient_guardians",
                    unique: None,
                    duplicate: "this guardian link".into(),
                    missing: format!("account `{guardian_id}`"),
                };
                self.audited(audit, change, q).await
            }

            async fn set_username(
                &self,
                user_id: &str,
                username: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let (mut w, receipt) = self.begin_audited(audit).await?;
                // An update, but a duplicate name is reported like a duplicate insert.
                let change = $crate::sql::Change::Insert {
                    table: "users",
                    unique: Some(("username", "an account with this username".into())),
                    duplicate: "an account with this username".into(),
                    missing: format!("account `{user_id}`"),
                };
                let done = sqlx::query($crate::self_service::SET_USERNAME)
                    .bind(username)
                    .bind(user_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| change.error(e))?;
                if done.rows_affected() != 1 {
                    return Err($crate::StoreError::NotFound {
                        what: format!("account `{user_id}`"),
                    });
                }
                w.commit().await?;
                Ok(receipt)
            }

            async fn wards_of(&self, guardian_id: &str) -> $crate::Result<Vec<String>> {
                self.fetch_list(
                    $crate::self_service::WARDS,
                    Some(guardian_id),
                    $crate::self_service::ward,
                )
                .await
            }

            async fn put_sms_code(
                &self,
                row: &$crate::SmsCodeRow,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::self_service::PUT_CODE)
                    .bind(&row.mobile_key)
                    .bind(&row.code_hash)
                    .bind($crate::sql::ts(&row.expires_at));
                self.audited(audit, $crate::sql::Change::Any, q).await
            }

            async fn sms_code(
                &self,
                mobile_key: &str,
            ) -> $crate::Result<Option<$crate::SmsCodeRow>> {
                self.fetch_one_opt(
                    $crate::self_service::CODE,
                    mobile_key,
                    $crate::self_service::code,
                )
                .await
            }

            async fn bump_sms_attempts(&self, mobile_key: &str) -> $crate::Result<()> {
                sqlx::query($crate::self_service::BUMP_CODE)
                    .bind(mobile_key)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(())
            }

            async fn delete_sms_code(&self, mobile_key: &str) -> $crate::Result<()> {
                sqlx::query($crate::self_service::DELETE_CODE)
                    .bind(mobile_key)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(())
            }

            async fn insert_subject_request(
                &self,
                r: &$crate::SubjectRequestRow,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::self_service::INSERT_REQUEST)
                    .bind(&r.id)
                    .bind(&r.user_id)
                    .bind(&r.patient_key)
                    .bind(&r.kind)
                    .bind(&r.sealed)
                    .bind($crate::sql::ts(&r.created_at));
                let change = $crate::sql::Change::Insert {
                    table: "subject_requests",
                    unique: None,
                    duplicate: format!("request `{}`", r.id),
                    missing: format!("account `{}`", r.user_id),
                };
                self.audited(audit, change, q).await
            }

            async fn subject_requests(
                &self,
                open_only: bool,
            ) -> $crate::Result<Vec<$crate::SubjectRequestRow>> {
                self.fetch_list(
                    &$crate::self_service::requests_sql(open_only),
                    None,
                    $crate::self_service::request,
                )
                .await
            }

            async fn resolve_subject_request(
                &self,
                id: &str,
                status: &str,
                resolved_by: &str,
                at: chrono::DateTime<chrono::Utc>,
                resolution: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::self_service::RESOLVE_REQUEST)
                    .bind(status)
                    .bind(resolved_by)
                    .bind($crate::sql::ts(&at))
                    .bind(resolution)
                    .bind(id);
                self.audited_transition(
                    audit,
                    q,
                    $crate::self_service::REQUEST_STATUS,
                    id,
                    format!("request `{id}`"),
                    "open",
                )
                .await
            }
        }
    };
}
pub(crate) use self_service_store_impl;
