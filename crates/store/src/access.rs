//! Storage of the access layer, written once for both backends: administrator-added Cedar policies
//! (versioned, append-only), account attributes, patient records and the consent registry
//! (GB/T 39725-2020 §7 a), c), h), §11.1, §11.2; T/CI 857-2024 6.4, 7.2.4 b), c)).
//!
//! Nothing stored here is personal data in plaintext: patients and consent subjects are keyed
//! pseudonyms computed by the service, record bodies are AEAD ciphertext sealed by the service,
//! and labels and consent terms carry categories, not values. Every write is in one transaction
//! with its audit entry.

use chrono::{DateTime, Utc};

use crate::accounts::{corrupt, opt_ts, text, ts};
use crate::{AuditReceipt, Result};

/// One version of the administrator-added policy text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// From 1, without gaps.
    pub version: i64,
    /// The whole added Cedar text after this change.
    pub policies: String,
    /// Who made the change.
    pub actor_id: String,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A stored patient record: pseudonymous patient key, access labels, sealed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRecordRow {
    /// Record id (`rec-…`).
    pub id: String,
    /// Keyed pseudonym of the patient.
    pub patient_key: String,
    /// Access labels as JSON (no personal data).
    pub labels: String,
    /// The record body, AEAD ciphertext.
    pub sealed: Vec<u8>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// A stored consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    /// Consent id (`cns-…`).
    pub id: String,
    /// Keyed pseudonym of the data subject.
    pub subject_key: String,
    /// `general`, `marketing`, `research` or `restriction`.
    pub kind: String,
    /// The terms as JSON.
    pub terms: String,
    /// `active` or `revoked`.
    pub status: String,
    /// Account that recorded it.
    pub recorded_by: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoke_reason: Option<String>,
}

/// A stored abnormal-access alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// Alert id (`alr-…`).
    pub id: String,
    /// Account whose access raised it.
    pub user_id: String,
    /// Rule name (`off_hours`, `outside_network`, `high_frequency`, `bulk`, `break_glass`).
    pub rule: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// Network address of the access.
    pub address: Option<String>,
    /// What was accessed, as JSON (pseudonyms and counts only).
    pub detail: String,
    /// When.
    pub raised_at: DateTime<Utc>,
    /// `open` or `reviewed`.
    pub status: String,
    /// Reviewer.
    pub reviewed_by: Option<String>,
    /// When reviewed.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Reviewer's note.
    pub review_note: Option<String>,
}

/// A stored request for access beyond the normal scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequestRow {
    /// Id (`acr-…`).
    pub id: String,
    /// Requesting account.
    pub requester_id: String,
    /// Patient pseudonym.
    pub patient_key: String,
    /// Purpose the access is for.
    pub purpose: String,
    /// Why.
    pub reason: String,
    /// Days of validity once approved.
    pub days: i64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// JSON list of `{by, at, approve, reason}`.
    pub approvals: String,
    /// When filed.
    pub created_at: DateTime<Utc>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Valid until (approved requests).
    pub valid_until: Option<DateTime<Utc>>,
}

/// The first of the two approvals an operation on important (C2) data needs (DMS 4.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DualApprovalRow {
    /// What is approved: `application:<id>` or `export:<id>`.
    pub subject: String,
    /// Who approved.
    pub approver_id: String,
    /// Their reason.
    pub reason: String,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// Access-layer storage; every [`Store`](crate::Store) implements it.
#[async_trait::async_trait]
pub trait AccessStore: Send + Sync {
    /// The latest version of the added policies, if any.
    async fn latest_policy_version(&self) -> Result<Option<PolicyVersion>>;
    /// Every version, oldest first.
    async fn policy_versions(&self) -> Result<Vec<PolicyVersion>>;
    /// Appends a version; `Conflict` unless `version.version` is the next one (another change got
    /// there first, so the caller decided on an old state).
    async fn append_policy_version(
        &self,
        version: &PolicyVersion,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;

    /// The attributes (JSON) of an account, if set.
    async fn user_attributes(&self, user_id: &str) -> Result<Option<String>>;
    /// Sets (inserts or replaces) the attributes of an account.
    async fn put_user_attributes(
        &self,
        user_id: &str,
        attributes: &str,
        at: DateTime<Utc>,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;

    /// Registers a patient record.
    async fn insert_patient_record(
        &self,
        row: &PatientRecordRow,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// The records of one patient, oldest first.
    async fn patient_records(&self, patient_key: &str) -> Result<Vec<PatientRecordRow>>;

    /// Records a consent.
    async fn insert_consent(
        &self,
        row: &ConsentRow,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// A consent by id.
    async fn consent(&self, id: &str) -> Result<Option<ConsentRow>>;
    /// Every consent of a subject, oldest first.
    async fn consents_of(&self, subject_key: &str) -> Result<Vec<ConsentRow>>;
    /// Revokes an active consent; `NotFound` for an unknown id, `Conflict` if already revoked.
    async fn revoke_consent(
        &self,
        id: &str,
        at: DateTime<Utc>,
        reason: &str,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;

    /// Records an alert.
    async fn insert_alert(
        &self,
        row: &AlertRow,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Alerts, newest first, only open ones if `open_only`, at most `limit`.
    async fn alerts(&self, open_only: bool, limit: i64) -> Result<Vec<AlertRow>>;
    /// Closes an open alert with a review; `NotFound` / `Conflict` (already reviewed).
    async fn review_alert(
        &self,
        id: &str,
        reviewer: &str,
        at: DateTime<Utc>,
        note: &str,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;

    /// Files an access request.
    async fn insert_access_request(
        &self,
        row: &AccessRequestRow,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// An access request by id.
    async fn access_request(&self, id: &str) -> Result<Option<AccessRequestRow>>;
    /// Access requests, newest first; only one requester's if given.
    async fn access_requests(&self, requester_id: Option<&str>) -> Result<Vec<AccessRequestRow>>;
    /// Replaces status, approvals, decision time and validity of a pending request whose
    /// approvals are still `expected_approvals` (what the decider saw); `Conflict` otherwise.
    async fn decide_access_request(
        &self,
        row: &AccessRequestRow,
        expected_approvals: &str,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// The first approvals recorded for `subject`, oldest first.
    async fn dual_approvals(&self, subject: &str) -> Result<Vec<DualApprovalRow>>;
    /// Records one person's approval of `subject`; the same person twice is `AlreadyExists`.
    async fn insert_dual_approval(
        &self,
        row: &DualApprovalRow,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
}

pub(crate) const DUAL_APPROVALS: &str = "SELECT subject, approver_id, reason, decided_at FROM \
     dual_approvals WHERE subject = $1 ORDER BY decided_at, approver_id";
pub(crate) const INSERT_DUAL_APPROVAL: &str = "INSERT INTO dual_approvals (subject, approver_id, \
     reason, decided_at) VALUES ($1, $2, $3, $4)";

/// Decodes a `dual_approvals` row.
pub(crate) fn dual_approval<R: crate::sql::Cols>(row: &R) -> Result<DualApprovalRow> {
    const T: &str = "dual_approvals";
    Ok(DualApprovalRow {
        subject: text(T, row, "subject")?,
        approver_id: text(T, row, "approver_id")?,
        reason: text(T, row, "reason")?,
        decided_at: ts(T, row, "decided_at")?,
    })
}

const REQUEST_COLS: &str = "SELECT id, requester_id, patient_key, purpose, reason, days, status, \
     approvals, created_at, decided_at, valid_until FROM access_requests";
pub(crate) fn request_by_id_sql() -> String {
    format!("{REQUEST_COLS} WHERE id = $1")
}
pub(crate) fn requests_sql(by_requester: bool) -> String {
    if by_requester {
        format!("{REQUEST_COLS} WHERE requester_id = $1 ORDER BY created_at DESC, id")
    } else {
        format!("{REQUEST_COLS} ORDER BY created_at DESC, id")
    }
}
pub(crate) const INSERT_REQUEST: &str = "INSERT INTO access_requests (id, requester_id, \
     patient_key, purpose, reason, days, status, approvals, created_at, decided_at, valid_until) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
pub(crate) const DECIDE_REQUEST: &str = "UPDATE access_requests SET status = $1, approvals = $2, \
     decided_at = $3, valid_until = $4 WHERE id = $5 AND status = 'pending' AND approvals = $6";

/// Decodes an `access_requests` row.
pub(crate) fn access_request<R: crate::sql::Cols>(row: &R) -> Result<AccessRequestRow> {
    const T: &str = "access_requests";
    Ok(AccessRequestRow {
        id: text(T, row, "id")?,
        requester_id: text(T, row, "requester_id")?,
        patient_key: text(T, row, "patient_key")?,
        purpose: text(T, row, "purpose")?,
        reason: text(T, row, "reason")?,
        days: row.int("days").map_err(|e| corrupt(T, "days", e))?,
        status: text(T, row, "status")?,
        approvals: text(T, row, "approvals")?,
        created_at: ts(T, row, "created_at")?,
        decided_at: opt_ts(T, row, "decided_at")?,
        valid_until: opt_ts(T, row, "valid_until")?,
    })
}

const ALERT_COLS: &str = "SELECT id, user_id, rule, severity, address, detail, raised_at, status, \
     reviewed_by, reviewed_at, review_note FROM access_alerts";
pub(crate) fn alerts_sql(open_only: bool) -> String {
    if open_only {
        format!("{ALERT_COLS} WHERE status = 'open' ORDER BY raised_at DESC, id LIMIT $1")
    } else {
        format!("{ALERT_COLS} ORDER BY raised_at DESC, id LIMIT $1")
    }
}
pub(crate) const INSERT_ALERT: &str = "INSERT INTO access_alerts (id, user_id, rule, severity, \
     address, detail, raised_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open')";
pub(crate) const REVIEW_ALERT: &str = "UPDATE access_alerts SET status = 'reviewed', \
     reviewed_by = $1, reviewed_at = $2, review_note = $3 WHERE id = $4 AND status = 'open'";
pub(crate) const ALERT_STATUS: &str = "SELECT status FROM access_alerts WHERE id = $1";

/// Decodes an `access_alerts` row.
pub(crate) fn alert<R: crate::sql::Cols>(row: &R) -> Result<AlertRow> {
    const T: &str = "access_alerts";
    let opt = |col: &str| row.opt_text(col).map_err(|e| corrupt(T, col, e));
    Ok(AlertRow {
        id: text(T, row, "id")?,
        user_id: text(T, row, "user_id")?,
        rule: text(T, row, "rule")?,
        severity: text(T, row, "severity")?,
        address: opt("address")?,
        detail: text(T, row, "detail")?,
        raised_at: ts(T, row, "raised_at")?,
        status: text(T, row, "status")?,
        reviewed_by: opt("reviewed_by")?,
        reviewed_at: opt_ts(T, row, "reviewed_at")?,
        review_note: opt("review_note")?,
    })
}

const POLICY_COLS: &str =
    "SELECT version, policies, actor_id, reason, created_at FROM access_policy_versions";
pub(crate) fn latest_policy_sql() -> String {
    format!("{POLICY_COLS} ORDER BY version DESC LIMIT 1")
}
pub(crate) fn all_policies_sql() -> String {
    format!("{POLICY_COLS} ORDER BY version")
}
pub(crate) const LAST_POLICY_VERSION: &str =
    "SELECT MAX(version) AS version FROM access_policy_versions";
pub(crate) const INSERT_POLICY: &str = "INSERT INTO access_policy_versions (version, policies, \
     actor_id, reason, created_at) VALUES ($1, $2, $3, $4, $5)";

pub(crate) const USER_ATTRIBUTES: &str =
    "SELECT attributes FROM user_attributes WHERE user_id = $1";
pub(crate) const PUT_USER_ATTRIBUTES: &str = "INSERT INTO user_attributes (user_id, attributes, \
     updated_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET \
     attributes = excluded.attributes, updated_at = excluded.updated_at";

pub(crate) const INSERT_RECORD: &str = "INSERT INTO patient_records (id, patient_key, labels, \
     sealed, created_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const RECORDS_OF: &str = "SELECT id, patient_key, labels, sealed, created_at \
     FROM patient_records WHERE patient_key = $1 ORDER BY created_at, id";

const CONSENT_COLS: &str = "SELECT id, subject_key, kind, terms, status, recorded_by, created_at, \
     revoked_at, revoke_reason FROM consents";
pub(crate) fn consent_by_id_sql() -> String {
    format!("{CONSENT_COLS} WHERE id = $1")
}
pub(crate) fn consents_of_sql() -> String {
    format!("{CONSENT_COLS} WHERE subject_key = $1 ORDER BY created_at, id")
}
pub(crate) const INSERT_CONSENT: &str = "INSERT INTO consents (id, subject_key, kind, terms, \
     status, recorded_by, created_at, revoked_at, revoke_reason) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(crate) const REVOKE_CONSENT: &str = "UPDATE consents SET status = 'revoked', revoked_at = $1, \
     revoke_reason = $2 WHERE id = $3 AND status = 'active'";
pub(crate) const CONSENT_STATUS: &str = "SELECT status FROM consents WHERE id = $1";

/// Decodes an `access_policy_versions` row.
pub(crate) fn policy_version<R: crate::sql::Cols>(row: &R) -> Result<PolicyVersion> {
    const T: &str = "access_policy_versions";
    Ok(PolicyVersion {
        version: row.int("version").map_err(|e| corrupt(T, "version", e))?,
        policies: text(T, row, "policies")?,
        actor_id: text(T, row, "actor_id")?,
        reason: text(T, row, "reason")?,
        created_at: ts(T, row, "created_at")?,
    })
}

/// Decodes a `user_attributes` row.
pub(crate) fn attributes<R: crate::sql::Cols>(row: &R) -> Result<String> {
    text("user_attributes", row, "attributes")
}

/// Decodes a `patient_records` row.
pub(crate) fn record<R: crate::sql::Cols>(row: &R) -> Result<PatientRecordRow> {
    const T: &str = "patient_records";
    Ok(PatientRecordRow {
        id: text(T, row, "id")?,
        patient_key: text(T, row, "patient_key")?,
        labels: text(T, row, "labels")?,
        sealed: row.bytes("sealed").map_err(|e| corrupt(T, "sealed", e))?,
        created_at: ts(T, row, "created_at")?,
    })
}

/// Decodes a `consents` row.
pub(crate) fn consent<R: crate::sql::Cols>(row: &R) -> Result<ConsentRow> {
    const T: &str = "consents";
    Ok(ConsentRow {
        id: text(T, row, "id")?,
        subject_key: text(T, row, "subject_key")?,
        kind: text(T, row, "kind")?,
        terms: text(T, row, "terms")?,
        status: text(T, row, "status")?,
        recorded_by: text(T, row, "recorded_by")?,
        created_at: ts(T, row, "created_at")?,
        revoked_at: opt_ts(T, row, "revoked_at")?,
        revoke_reason: row
            .opt_text("revoke_reason")
            .map_err(|e| corrupt(T, "revoke_reason", e))?,
    })
}

/// The [`AccessStore`] implementation over one backend (see [`sql_store!`](crate::sql)).
macro_rules! access_store_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::AccessStore for $store {
            async fn latest_policy_version(&self) -> $crate::Result<Option<$crate::PolicyVersion>> {
                let row = sqlx::query(&$crate::access::latest_policy_sql())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.as_ref().map($crate::access::policy_version).transpose()
            }

            async fn policy_versions(&self) -> $crate::Result<Vec<$crate::PolicyVersion>> {
                self.fetch_list(
                    &$crate::access::all_policies_sql(),
                    None,
                    $crate::access::policy_version,
                )
                .await
            }

            async fn append_policy_version(
                &self,
                v: &$crate::PolicyVersion,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let last: Option<i64> = sqlx::query_scalar($crate::access::LAST_POLICY_VERSION)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                let expected = last.unwrap_or(0) + 1;
                if v.version != expected {
                    return Err($crate::StoreError::Conflict(format!(
                        "the access policies changed meanwhile (version {expected} is next, not \
                         {}); reload them and change again",
                        v.version
                    )));
                }
                let change = $crate::sql::Change::Insert {
                    table: "access_policy_versions",
                    unique: None,
                    duplicate: format!("access policy version {} (a concurrent change)", v.version),
                    missing: format!("account `{}`", v.actor_id),
                };
                sqlx::query($crate::access::INSERT_POLICY)
                    .bind(v.version)
                    .bind(&v.policies)
                    .bind(&v.actor_id)
                    .bind(&v.reason)
                    .bind($crate::sql::ts(&v.created_at))
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| change.error(e))?;
                w.commit().await?;
                Ok(receipt)
            }

            async fn user_attributes(&self, user_id: &str) -> $crate::Result<Option<String>> {
                self.fetch_one_opt(
                    $crate::access::USER_ATTRIBUTES,
                    user_id,
                    $crate::access::attributes,
                )
                .await
            }

            async fn put_user_attributes(
                &self,
                user_id: &str,
                attributes: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::access::PUT_USER_ATTRIBUTES)
                    .bind(user_id)
                    .bind(attributes)
                    .bind($crate::sql::ts(&at));
                let change = $crate::sql::Change::Insert {
                    table: "user_attributes",
                    unique: None,
                    duplicate: format!("attributes of `{user_id}`"),
                    missing: format!("account `{user_id}`"),
                };
                self.audited(audit, change, q).await
            }

            async fn insert_patient_record(
                &self,
                r: &$crate::PatientRecordRow,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::access::INSERT_RECORD)
                    .bind(&r.id)
                    .bind(&r.patient_key)
                    .bind(&r.labels)
                    .bind(&r.sealed)
                    .bind($crate::sql::ts(&r.created_at));
                let change = $crate::sql::Change::Insert {
                    table: "patient_records",
                    unique: None,
                    duplicate: format!("patient record `{}`", r.id),
                    missing: "referenced row".into(),
                };
                self.audited(audit, change, q).await
            }

            async fn patient_records(
                &self,
                patient_key: &str,
            ) -> $crate::Result<Vec<$crate::PatientRecordRow>> {
                self.fetch_list(
                    $crate::access::RECORDS_OF,
                    Some(patient_key),
                    $crate::access::record,
                )
                .await
            }

            async fn insert_consent(
                &self,
                c: &$crate::ConsentRow,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let opt =
                    |t: &Option<chrono::DateTime<chrono::Utc>>| t.as_ref().map($crate::sql::ts);
                let q = sqlx::query($crate::access::INSERT_CONSENT)
                    .bind(&c.id)
                    .bind(&c.subject_key)
                    .bind(&c.kind)
                    .bind(&c.terms)
                    .bind(&c.status)
                    .bind(&c.recorded_by)
                    .bind($crate::sql::ts(&c.created_at))
                    .bind(opt(&c.revoked_at))
                    .bind(&c.revoke_reason);
                let change = $crate::sql::Change::Insert {
                    table: "consents",
                    unique: None,
                    duplicate: format!("consent `{}`", c.id),
                    missing: format!("account `{}`", c.recorded_by),
                };
                self.audited(audit, change, q).await
            }

            async fn consent(&self, id: &str) -> $crate::Result<Option<$crate::ConsentRow>> {
                self.fetch_one_opt(
                    &$crate::access::consent_by_id_sql(),
                    id,
                    $crate::access::consent,
                )
                .await
            }

            async fn consents_of(
                &self,
                subject_key: &str,
            ) -> $crate::Result<Vec<$crate::ConsentRow>> {
                self.fetch_list(
                    &$crate::access::consents_of_sql(),
                    Some(subject_key),
                    $crate::access::consent,
                )
                .await
            }

            async fn revoke_consent(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
                reason: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::access::REVOKE_CONSENT)
                    .bind($crate::sql::ts(&at))
                    .bind(reason)
                    .bind(id);
                self.audited_transition(
                    audit,
                    q,
                    $crate::access::CONSENT_STATUS,
                    id,
                    format!("consent `{id}`"),
                    "active",
                )
                .await
            }

            async fn insert_alert(
                &self,
                a: &$crate::AlertRow,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::access::INSERT_ALERT)
                    .bind(&a.id)
                    .bind(&a.user_id)
                    .bind(&a.rule)
                    .bind(&a.severity)
                    .bind(&a.address)
                    .bind(&a.detail)
                    .bind($crate::sql::ts(&a.raised_at));
                let change = $crate::sql::Change::Insert {
                    table: "access_alerts",
                    unique: None,
                    duplicate: format!("alert `{}`", a.id),
                    missing: format!("account `{}`", a.user_id),
                };
                self.audited(audit, change, q).await
            }

            async fn alerts(
                &self,
                open_only: bool,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::AlertRow>> {
                let rows = sqlx::query(&$crate::access::alerts_sql(open_only))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                rows.iter().map($crate::access::alert).collect()
            }

            async fn review_alert(
                &self,
                id: &str,
                reviewer: &str,
                at: chrono::DateTime<chrono::Utc>,
                note: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::access::REVIEW_ALERT)
                    .bind(reviewer)
                    .bind($crate::sql::ts(&at))
                    .bind(note)
                    .bind(id);
                self.audited_transition(
                    audit,
                    q,
                    $crate::access::ALERT_STATUS,
                    id,
                    format!("alert `{id}`"),
                    "open",
                )
                .await
            }

            async fn insert_access_request(
                &self,
                r: &$crate::AccessRequestRow,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let opt = |t: &Option<chrono::DateTime<chrono::Utc>>| t.as_ref().map($crate::sql::ts);
                let q = sqlx::query($crate::access::INSERT_REQUEST)
                    .bind(&r.id)
                    .bind(&r.requester_id)
                    .bind(&r.patient_key)
                    .bind(&r.purpose)
                    .bind(&r.reason)
                    .bind(r.days)
                    .bind(&r.status)
                    .bind(&r.approvals)
                    .bind($crate::sql::ts(&r.created_at))
                    .bind(opt(&r.decided_at))
                    .bind(opt(&r.valid_until));
                let change = $crate::sql::Change::Insert {
                    table: "access_requests",
                    unique: None,
                    duplicate: format!("access request `{}`", r.id),
                    missing: format!("account `{}`", r.requester_id),
                };
                self.audited(audit, change, q).await
            }

            async fn access_request(
                &self,
                id: &str,
            ) -> $crate::Result<Option<$crate::AccessRequestRow>> {
                self.fetch_one_opt(
                    &$crate::access::request_by_id_sql(),
                    id,
                    $crate::access::access_request,
                )
                .await
            }

            async fn access_requests(
                &self,
                requester_id: Option<&str>,
            ) -> $crate::Result<Vec<$crate::AccessRequestRow>> {
                self.fetch_list(
                    &$crate::access::requests_sql(requester_id.is_some()),
                    requester_id,
                    $crate::access::access_request,
                )
                .await
            }

            async fn decide_access_request(
                &self,
                r: &$crate::AccessRequestRow,
                expected_approvals: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let opt = |t: &Option<chrono::DateTime<chrono::Utc>>| t.as_ref().map($crate::sql::ts);
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let done = sqlx::query($crate::access::DECIDE_REQUEST)
                    .bind(&r.status)
                    .bind(&r.approvals)
                    .bind(opt(&r.decided_at))
                    .bind(opt(&r.valid_until))
                    .bind(&r.id)
                    .bind(expected_approvals)
                    .execute(&mut *w.tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                if done.rows_affected() != 1 {
                    return Err($crate::StoreError::Conflict(format!(
                        "access request `{}` was decided meanwhile or is no longer pending; reload it",
                        r.id
                    )));
                }
                w.commit().await?;
                Ok(receipt)
            }

            async fn dual_approvals(
                &self,
                subject: &str,
            ) -> $crate::Result<Vec<$crate::DualApprovalRow>> {
                self.fetch_list(
                    $crate::access::DUAL_APPROVALS,
                    Some(subject),
                    $crate::access::dual_approval,
                )
                .await
            }

            async fn insert_dual_approval(
                &self,
                a: &$crate::DualApprovalRow,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::access::INSERT_DUAL_APPROVAL)
                    .bind(&a.subject)
                    .bind(&a.approver_id)
                    .bind(&a.reason)
                    .bind($crate::sql::ts(&a.decided_at));
                let change = $crate::sql::Change::Insert {
                    table: "dual_approvals",
                    unique: None,
                    duplicate: format!("your approval of `{}`", a.subject),
                    missing: format!("account `{}`", a.approver_id),
                };
                self.audited(audit, change, q).await
            }
        }
    };
}
pub(crate) use access_store_impl;
