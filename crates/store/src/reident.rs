//! Storage of the patient code index and of re-identification requests, written once for both
//! backends (GB/T 39725-2020 §10.2 f)–h)).
//!
//! The index maps a keyed lookup tag of a pseudonym (never the pseudonym itself) to the identity
//! it replaced, sealed by the service under a per-project key; rows are added when a
//! de-identified dataset is produced and removed only with that dataset. A request to resolve a
//! pseudonym moves `pending → approved | rejected` and `approved → resolved`, each step in one
//! transaction with its audit entry.

use chrono::{DateTime, Utc};

use crate::accounts::{corrupt, opt_ts, text, ts};
use crate::{AuditReceipt, Result};

/// One entry of the patient code index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeIndexRow {
    /// The de-identified dataset whose column holds the pseudonym.
    pub dataset_id: String,
    /// The pseudonymised column.
    pub column_name: String,
    /// Keyed tag of the pseudonym (hex), the lookup key.
    pub tag: String,
    /// The node's keyed pseudonym of the subject the value belongs to, for the subject's
    /// disclosure history.
    pub subject_key: String,
    /// The original value, AEAD ciphertext.
    pub sealed: Vec<u8>,
}

/// A request to resolve one pseudonym to the identity behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReidRequestRow {
    /// Id (`ri-…`).
    pub id: String,
    /// Dataset holding the pseudonym.
    pub dataset_id: String,
    /// Its column.
    pub column_name: String,
    /// Keyed tag of the pseudonym.
    pub tag: String,
    /// The re-identification officer asking.
    pub requester_id: String,
    /// Why (kept; shown to the approver).
    pub reason: String,
    /// `pending`, `approved`, `rejected` or `resolved`.
    pub status: String,
    /// The second person who decided.
    pub approver_id: Option<String>,
    /// The approver's reason.
    pub decision_reason: Option<String>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// When the identity was handed out.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Filed.
    pub created_at: DateTime<Utc>,
}

/// Index and requests (see the module documentation).
#[async_trait::async_trait]
pub trait ReidentificationStore {
    /// Adds the index entries of one dataset (all or none) under one audit entry.
    async fn insert_code_index(
        &self,
        rows: &[CodeIndexRow],
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// The entry of `tag` in `dataset_id`'s `column`.
    async fn code_index_entry(
        &self,
        dataset_id: &str,
        column: &str,
        tag: &str,
    ) -> Result<Option<CodeIndexRow>>;
    /// Entries per column of a dataset, by column name.
    async fn code_index_columns(&self, dataset_id: &str) -> Result<Vec<(String, i64)>>;
    /// Removes a dataset's entries (the dataset is destroyed, or was never published) under one
    /// audit entry; returns how many were removed.
    async fn delete_code_index(
        &self,
        dataset_id: &str,
        audit: &medspace_core::AuditEvent,
    ) -> Result<u64>;
    /// Files a request.
    async fn insert_reid_request(
        &self,
        row: &ReidRequestRow,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// One request.
    async fn reid_request(&self, id: &str) -> Result<Option<ReidRequestRow>>;
    /// All requests, oldest first.
    async fn reid_requests(&self) -> Result<Vec<ReidRequestRow>>;
    /// Decides a pending request (`approved` or `rejected`); `NotFound` / `Conflict`.
    async fn decide_reid_request(
        &self,
        id: &str,
        status: &str,
        approver_id: &str,
        reason: &str,
        at: DateTime<Utc>,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Marks an approved request resolved (the identity is handed out once).
    async fn resolve_reid_request(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &medspace_core::AuditEvent,
    ) -> Result<AuditReceipt>;
}

pub(crate) const INSERT_INDEX: &str = "INSERT INTO patient_code_index (dataset_id, column_name, \
     tag, subject_key, sealed) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const INDEX_ENTRY: &str = "SELECT dataset_id, column_name, tag, subject_key, sealed \
     FROM patient_code_index WHERE dataset_id = $1 AND column_name = $2 AND tag = $3";
pub(crate) const INDEX_COLUMNS: &str = "SELECT column_name, COUNT(*) AS n FROM \
     patient_code_index WHERE dataset_id = $1 GROUP BY column_name ORDER BY column_name";
pub(crate) const DELETE_INDEX: &str = "DELETE FROM patient_code_index WHERE dataset_id = $1";
const REQUEST_COLS: &str = "SELECT id, dataset_id, column_name, tag, requester_id, reason, \
     status, approver_id, decision_reason, decided_at, resolved_at, created_at \
     FROM reidentification_requests";
pub(crate) fn request_sql() -> String {
    format!("{REQUEST_COLS} WHERE id = $1")
}
pub(crate) fn requests_sql() -> String {
    format!("{REQUEST_COLS} ORDER BY created_at, id")
}
pub(crate) const INSERT_REQUEST: &str = "INSERT INTO reidentification_requests (id, dataset_id, \
     column_name, tag, requester_id, reason, status, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)";
pub(crate) const DECIDE_REQUEST: &str = "UPDATE reidentification_requests SET status = $1, \
     approver_id = $2, decision_reason = $3, decided_at = $4 WHERE id = $5 AND status = 'pending'";
pub(crate) const RESOLVE_REQUEST: &str = "UPDATE reidentification_requests SET \
     status = 'resolved', resolved_at = $1 WHERE id = $2 AND status = 'approved'";
pub(crate) const REQUEST_STATUS: &str =
    "SELECT status FROM reidentification_requests WHERE id = $1";

/// Decodes a `patient_code_index` row.
pub(crate) fn index_row<R: crate::sql::Cols>(row: &R) -> Result<CodeIndexRow> {
    const T: &str = "patient_code_index";
    Ok(CodeIndexRow {
        dataset_id: text(T, row, "dataset_id")?,
        column_name: text(T, row, "column_name")?,
        tag: text(T, row, "tag")?,
        subject_key: text(T, row, "subject_key")?,
        sealed: row.bytes("sealed").map_err(|e| corrupt(T, "sealed", e))?,
    })
}

/// Decodes a `(column_name, n)` count.
pub(crate) fn column_count<R: crate::sql::Cols>(row: &R) -> Result<(String, i64)> {
    const T: &str = "patient_code_index";
    Ok((
        text(T, row, "column_name")?,
        row.int("n").map_err(|e| corrupt(T, "n", e))?,
    ))
}

/// Decodes a `reidentification_requests` row.
pub(crate) fn request<R: crate::sql::Cols>(row: &R) -> Result<ReidRequestRow> {
    const T: &str = "reidentification_requests";
    let opt = |col: &str| row.opt_text(col).map_err(|e| corrupt(T, col, e));
    Ok(ReidRequestRow {
        id: text(T, row, "id")?,
        dataset_id: text(T, row, "dataset_id")?,
        column_name: text(T, row, "column_name")?,
        tag: text(T, row, "tag")?,
        requester_id: text(T, row, "requester_id")?,
        reason: text(T, row, "reason")?,
        status: text(T, row, "status")?,
        approver_id: opt("approver_id")?,
        decision_reason: opt("decision_reason")?,
        decided_at: opt_ts(T, row, "decided_at")?,
        resolved_at: opt_ts(T, row, "resolved_at")?,
        created_at: ts(T, row, "created_at")?,
    })
}

/// The [`ReidentificationStore`] implementation over one backend.
macro_rules! reident_store_impl {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::ReidentificationStore for $store {
            async fn insert_code_index(
                &self,
                rows: &[$crate::CodeIndexRow],
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let (mut w, receipt) = self.begin_audited(audit).await?;
                for r in rows {
                    let change = $crate::sql::Change::Insert {
                        table: "patient_code_index",
                        unique: None,
                        duplicate: format!(
                            "a code index entry of column `{}` in dataset `{}`",
                            r.column_name, r.dataset_id
                        ),
                        missing: "referenced row".into(),
                    };
                    sqlx::query($crate::reident::INSERT_INDEX)
                        .bind(&r.dataset_id)
                        .bind(&r.column_name)
                        .bind(&r.tag)
                        .bind(&r.subject_key)
                        .bind(&r.sealed)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(|e| change.error(e))?;
                }
                w.commit().await?;
                Ok(receipt)
            }

            async fn code_index_entry(
                &self,
                dataset_id: &str,
                column: &str,
                tag: &str,
            ) -> $crate::Result<Option<$crate::CodeIndexRow>> {
                let row = sqlx::query($crate::reident::INDEX_ENTRY)
                    .bind(dataset_id)
                    .bind(column)
                    .bind(tag)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.as_ref().map($crate::reident::index_row).transpose()
            }

            async fn code_index_columns(
                &self,
                dataset_id: &str,
            ) -> $crate::Result<Vec<(String, i64)>> {
                self.fetch_list(
                    $crate::reident::INDEX_COLUMNS,
                    Some(dataset_id),
                    $crate::reident::column_count,
                )
                .await
            }

            async fn delete_code_index(
                &self,
                dataset_id: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<u64> {
                let (mut w, _receipt) = self.begin_audited(audit).await?;
                let done = sqlx::query($crate::reident::DELETE_INDEX)
                    .bind(dataset_id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                w.commit().await?;
                Ok(done.rows_affected())
            }

            async fn insert_reid_request(
                &self,
                r: &$crate::ReidRequestRow,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::reident::INSERT_REQUEST)
                    .bind(&r.id)
                    .bind(&r.dataset_id)
                    .bind(&r.column_name)
                    .bind(&r.tag)
                    .bind(&r.requester_id)
                    .bind(&r.reason)
                    .bind($crate::sql::ts(&r.created_at));
                let change = $crate::sql::Change::Insert {
                    table: "reidentification_requests",
                    unique: None,
                    duplicate: format!("request `{}`", r.id),
                    missing: format!("account `{}`", r.requester_id),
                };
                self.audited(audit, change, q).await
            }

            async fn reid_request(
                &self,
                id: &str,
            ) -> $crate::Result<Option<$crate::ReidRequestRow>> {
                self.fetch_one_opt(
                    &$crate::reident::request_sql(),
                    id,
                    $crate::reident::request,
                )
                .await
            }

            async fn reid_requests(&self) -> $crate::Result<Vec<$crate::ReidRequestRow>> {
                self.fetch_list(
                    &$crate::reident::requests_sql(),
                    None,
                    $crate::reident::request,
                )
                .await
            }

            async fn decide_reid_request(
                &self,
                id: &str,
                status: &str,
                approver_id: &str,
                reason: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::reident::DECIDE_REQUEST)
                    .bind(status)
                    .bind(approver_id)
                    .bind(reason)
                    .bind($crate::sql::ts(&at))
                    .bind(id);
                self.audited_transition(
                    audit,
                    q,
                    $crate::reident::REQUEST_STATUS,
                    id,
                    format!("re-identification request `{id}`"),
                    "pending",
                )
                .await
            }

            async fn resolve_reid_request(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::reident::RESOLVE_REQUEST)
                    .bind($crate::sql::ts(&at))
                    .bind(id);
                self.audited_transition(
                    audit,
                    q,
                    $crate::reident::REQUEST_STATUS,
                    id,
                    format!("re-identification request `{id}`"),
                    "approved",
                )
                .await
            }
        }
    };
}
pub(crate) use reident_store_impl;
