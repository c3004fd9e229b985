//! Storage of dataset gradings, written once for both backends (GB/T 39725-2020 §6 classification
//! and grading, §9.2 a) 8) the committee reviews gradings; T/CI 857-2024 6.2 classification and
//! grading confirmed before use; T/CI 7.2.6 every change audited).
//!
//! `dataset_gradings` is append-only (the schema refuses updates and deletes): each row is one
//! step of a dataset's grading — the scanner's proposal at ingest, an officer's override, the
//! officer's confirmation, the committee's approval or rejection — holding the whole grading after
//! the step and what the step changed (before and after). Rows count from `seq` 1 per dataset
//! without gaps; [`append_grading`](crate::Store::append_grading) inserts `seq` and fails with
//! `Conflict` if that number is taken (another change got there first), so decisions are always
//! taken on the state the caller saw. Each row is written in the same transaction as its audit
//! entry; an approval also writes the approved classification and level into the catalog row.

use chrono::{DateTime, Utc};

use crate::{Result, StoreError};

/// One step of a dataset's grading, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradingRecord {
    /// Dataset id.
    pub dataset_id: String,
    /// Step number, from 1 per dataset.
    pub seq: i64,
    /// `propose`, `override`, `confirm`, `approve` or `reject`.
    pub action: String,
    /// State after the step: `proposed`, `confirmed`, `approved` or `rejected`.
    pub status: String,
    /// Account that took the step.
    pub actor_id: String,
    /// Why (free text from the officer or committee member; never data values).
    pub reason: String,
    /// The whole grading after the step: a JSON array of per-column reports.
    pub columns_json: String,
    /// What the step changed: a JSON array of `{column, field, before, after}`.
    pub changes_json: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

const COLS: &str = "SELECT dataset_id, seq, action, status, actor_id, reason, columns_json, \
     changes_json, created_at FROM dataset_gradings";
pub(crate) const INSERT: &str = "INSERT INTO dataset_gradings (dataset_id, seq, action, status, \
     actor_id, reason, columns_json, changes_json, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(crate) const LAST_SEQ: &str =
    "SELECT MAX(seq) AS seq FROM dataset_gradings WHERE dataset_id = $1";
pub(crate) const SET_CATALOG: &str =
    "UPDATE datasets SET classification_json = $1, level = $2 WHERE id = $3";

/// Statements reading gradings.
pub(crate) fn history_sql() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| format!("{COLS} WHERE dataset_id = $1 ORDER BY seq"))
}

/// The latest row of one dataset.
pub(crate) fn current_sql() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| format!("{COLS} WHERE dataset_id = $1 ORDER BY seq DESC LIMIT 1"))
}

/// The latest row of every dataset.
pub(crate) fn all_current_sql() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        format!(
            "{COLS} g WHERE g.seq = (SELECT MAX(h.seq) FROM dataset_gradings h \
             WHERE h.dataset_id = g.dataset_id) ORDER BY g.dataset_id"
        )
    })
}

/// Decodes a `dataset_gradings` row.
pub(crate) fn record<R: crate::sql::Cols>(row: &R) -> Result<GradingRecord> {
    let corrupt = |col: &str, e: String| StoreError::Corrupt {
        what: format!("dataset_gradings row (column `{col}`)"),
        reason: e,
    };
    let text = |col: &str| row.text(col).map_err(|e| corrupt(col, e.to_string()));
    let created = text("created_at")?;
    Ok(GradingRecord {
        dataset_id: text("dataset_id")?,
        seq: row.int("seq").map_err(|e| corrupt("seq", e.to_string()))?,
        action: text("action")?,
        status: text("status")?,
        actor_id: text("actor_id")?,
        reason: text("reason")?,
        columns_json: text("columns_json")?,
        changes_json: text("changes_json")?,
        created_at: DateTime::parse_from_rfc3339(&created)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt("created_at", format!("expected RFC 3339: {e}")))?,
    })
}

/// Inherent methods behind the grading `Store` methods; [`sql_store!`](crate::sql::sql_store)'s
/// `impl Store` delegates to them.
macro_rules! grading_methods {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Binds a grading row to the insert statement.
            fn grading_insert<'q>(
                r: &'q $crate::GradingRecord,
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                sqlx::query($crate::grading::INSERT)
                    .bind(&r.dataset_id)
                    .bind(r.seq)
                    .bind(&r.action)
                    .bind(&r.status)
                    .bind(&r.actor_id)
                    .bind(&r.reason)
                    .bind(&r.columns_json)
                    .bind(&r.changes_json)
                    .bind($crate::sql::ts(&r.created_at))
            }

            pub(crate) async fn grading_insert_dataset(
                &self,
                meta: &medspace_core::DatasetMeta,
                proposal: &$crate::GradingRecord,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                if proposal.dataset_id != meta.id || proposal.seq != 1 {
                    return Err($crate::StoreError::Conflict(format!(
                        "the first grading of dataset `{}` must be its step 1",
                        meta.id
                    )));
                }
                let lineage = meta
                    .lineage
                    .as_ref()
                    .map(|l| $crate::sql::json("dataset lineage", l))
                    .transpose()?;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let change = $crate::sql::Change::Insert {
                    table: "datasets",
                    unique: Some(("name", format!("dataset name `{}`", meta.name))),
                    duplicate: format!("dataset `{}`", meta.id),
                    missing: "referenced row".into(),
                };
                sqlx::query($crate::sql::INSERT_DATASET)
                    .bind(&meta.id)
                    .bind(&meta.name)
                    .bind($crate::sql::kind_str(meta.kind))
                    .bind(&meta.format)
                    .bind(&meta.owner)
                    .bind(&meta.update_frequency)
                    .bind($crate::sql::json("dataset schema", &meta.schema)?)
                    .bind($crate::sql::json(
                        "dataset classification",
                        &meta.classification,
                    )?)
                    .bind(i64::from(meta.level.get()))
                    .bind(meta.row_count)
                    .bind(meta.version)
                    .bind(&meta.object_key)
                    .bind(&meta.wrapped_key)
                    .bind(&meta.content_sha256)
                    .bind(lineage)
                    .bind($crate::sql::ts(&meta.created_at))
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| change.error(e))?;
                Self::grading_insert(proposal)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                w.commit().await?;
                Ok(receipt)
            }

            pub(crate) async fn grading_append(
                &self,
                r: &$crate::GradingRecord,
                catalog: Option<(&[medspace_core::ColumnClassification], medspace_core::Level)>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let last: Option<i64> = sqlx::query_scalar($crate::grading::LAST_SEQ)
                    .bind(&r.dataset_id)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                let expected = last.unwrap_or(0) + 1;
                if r.seq != expected {
                    return Err($crate::StoreError::Conflict(format!(
                        "the grading of dataset `{}` changed meanwhile (step {} is next, not {}); \
                         reload it and decide again",
                        r.dataset_id, expected, r.seq
                    )));
                }
                let change = $crate::sql::Change::Insert {
                    table: "dataset_gradings",
                    unique: None,
                    duplicate: format!(
                        "step {} of the grading of dataset `{}` (a concurrent change)",
                        r.seq, r.dataset_id
                    ),
                    missing: format!("dataset `{}` or account `{}`", r.dataset_id, r.actor_id),
                };
                Self::grading_insert(r)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| change.error(e))?;
                if let Some((classification, level)) = catalog {
                    let done = sqlx::query($crate::grading::SET_CATALOG)
                        .bind($crate::sql::json(
                            "dataset classification",
                            &classification,
                        )?)
                        .bind(i64::from(level.get()))
                        .bind(&r.dataset_id)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_err)?;
                    if done.rows_affected() != 1 {
                        return Err($crate::StoreError::NotFound {
                            what: format!("dataset `{}`", r.dataset_id),
                        });
                    }
                }
                w.commit().await?;
                Ok(receipt)
            }

            pub(crate) async fn grading_rows(
                &self,
                sql: &str,
                dataset_id: Option<&str>,
            ) -> $crate::Result<Vec<$crate::GradingRecord>> {
                let mut q = sqlx::query(sql);
                if let Some(id) = dataset_id {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(&self.pool).await.map_err($crate::sql::db_err)?;
                rows.iter().map($crate::grading::record).collect()
            }
        }
    };
}
pub(crate) use grading_methods;
