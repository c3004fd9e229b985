//! Storage of witnessing, written once for both backends (C2SP tlog-witness; T/CI 857-2024
//! 7.2.1 a) decentralised trust, 7.2.6 audit management, 7.2.9 e) cross-space audit that cannot be
//! altered unnoticed).
//!
//! - Witness side: `witness_heads` keeps, per followed log, the size and root of the last
//!   checkpoint this node cosigned. [`advance_witness_head`](crate::Store::advance_witness_head)
//!   moves it compare-and-set, appends the new head to `witness_history` and appends the audit
//!   entry recording the cosignature, all in one transaction: no cosignature is given out unless
//!   its record is durable, and two concurrent requests never both advance from the same head.
//!   The schema refuses to move a head back, to change its root at the same size and to delete it.
//! - Client side: `audit_cosignatures` keeps the verified cosignatures witnesses returned for this
//!   node's checkpoints, append-only.

use chrono::{DateTime, Utc};

use crate::{Result, StoreError, StoredCosignature, WitnessHead};

pub(crate) const SELECT_HEAD: &str =
    "SELECT origin, size, root, updated_at FROM witness_heads WHERE origin = $1";
pub(crate) const INSERT_HEAD: &str = "INSERT INTO witness_heads (origin, size, root, updated_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (origin) DO NOTHING";
pub(crate) const ADVANCE_HEAD: &str = "UPDATE witness_heads SET size = $1, root = $2, \
     updated_at = $3 WHERE origin = $4 AND size = $5 AND root = $6";
pub(crate) const INSERT_HISTORY: &str = "INSERT INTO witness_history (origin, size, root, \
     cosigned_at) VALUES ($1, $2, $3, $4) ON CONFLICT (origin, size) DO NOTHING";
pub(crate) const SELECT_HISTORY: &str = "SELECT origin, size, root, cosigned_at AS updated_at \
     FROM witness_history WHERE origin = $1 ORDER BY size";
pub(crate) const INSERT_COSIGNATURE: &str = "INSERT INTO audit_cosignatures (size, witness, \
     signature, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size, witness) DO NOTHING";
pub(crate) const SELECT_COSIGNATURES: &str = "SELECT size, witness, signature, received_at FROM \
     audit_cosignatures WHERE size >= $1 ORDER BY size, witness LIMIT $2";
pub(crate) const LATEST_COSIGNED: &str =
    "SELECT MAX(size) AS size FROM audit_cosignatures WHERE witness = $1";

fn time(table: &str, col: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            what: format!("{table} row (column `{col}`)"),
            reason: format!("expected RFC 3339: {e}"),
        })
}

/// Decodes a `witness_heads` or `witness_history` row.
pub(crate) fn head<R: crate::sql::Cols>(table: &str, row: &R) -> Result<WitnessHead> {
    let corrupt = |col: &str, e: sqlx::Error| StoreError::Corrupt {
        what: format!("{table} row (column `{col}`)"),
        reason: e.to_string(),
    };
    let updated = row
        .text("updated_at")
        .map_err(|e| corrupt("updated_at", e))?;
    Ok(WitnessHead {
        origin: row.text("origin").map_err(|e| corrupt("origin", e))?,
        size: row.int("size").map_err(|e| corrupt("size", e))?,
        root: row.bytes("root").map_err(|e| corrupt("root", e))?,
        updated_at: time(table, "updated_at", &updated)?,
    })
}

/// Decodes an `audit_cosignatures` row.
pub(crate) fn cosignature<R: crate::sql::Cols>(row: &R) -> Result<StoredCosignature> {
    let corrupt = |col: &str, e: sqlx::Error| StoreError::Corrupt {
        what: format!("audit_cosignatures row (column `{col}`)"),
        reason: e.to_string(),
    };
    let received = row
        .text("received_at")
        .map_err(|e| corrupt("received_at", e))?;
    Ok(StoredCosignature {
        size: row.int("size").map_err(|e| corrupt("size", e))?,
        witness: row.text("witness").map_err(|e| corrupt("witness", e))?,
        signature: row.text("signature").map_err(|e| corrupt("signature", e))?,
        received_at: time("audit_cosignatures", "received_at", &received)?,
    })
}

/// Inherent methods behind the witness `Store` methods; [`sql_store!`](crate::sql::sql_store)'s
/// `impl Store` delegates to them.
macro_rules! witness_methods {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(crate) async fn witness_head_of(
                &self,
                origin: &str,
            ) -> $crate::Result<Option<$crate::WitnessHead>> {
                let row = sqlx::query($crate::witness::SELECT_HEAD)
                    .bind(origin)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.as_ref()
                    .map(|r| $crate::witness::head("witness_heads", r))
                    .transpose()
            }

            pub(crate) async fn witness_advance_head(
                &self,
                expected: Option<(i64, &[u8])>,
                head: &$crate::WitnessHead,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::sql::db_err;
                let at = $crate::sql::ts(&head.updated_at);
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let moved = match expected {
                    None => sqlx::query($crate::witness::INSERT_HEAD)
                        .bind(&head.origin)
                        .bind(head.size)
                        .bind(head.root.as_slice())
                        .bind(&at)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(db_err)?,
                    Some((size, root)) => {
                        if head.size < size {
                            return Err($crate::StoreError::Conflict(format!(
                                "the witnessed head of `{}` cannot move back from {size} to {}",
                                head.origin, head.size
                            )));
                        }
                        sqlx::query($crate::witness::ADVANCE_HEAD)
                            .bind(head.size)
                            .bind(head.root.as_slice())
                            .bind(&at)
                            .bind(&head.origin)
                            .bind(size)
                            .bind(root)
                            .execute(&mut *w.tx)
                            .await
                            .map_err(db_err)?
                    }
                };
                if moved.rows_affected() != 1 {
                    return Err($crate::StoreError::Conflict(format!(
                        "the witnessed head of `{}` is no longer the one the request was checked \
                         against",
                        head.origin
                    )));
                }
                sqlx::query($crate::witness::INSERT_HISTORY)
                    .bind(&head.origin)
                    .bind(head.size)
                    .bind(head.root.as_slice())
                    .bind(&at)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                w.commit().await?;
                Ok(receipt)
            }

            pub(crate) async fn witness_history_of(
                &self,
                origin: &str,
            ) -> $crate::Result<Vec<$crate::WitnessHead>> {
                let rows = sqlx::query($crate::witness::SELECT_HISTORY)
                    .bind(origin)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                rows.iter()
                    .map(|r| $crate::witness::head("witness_history", r))
                    .collect()
            }

            pub(crate) async fn witness_put_cosignature(
                &self,
                c: &$crate::StoredCosignature,
            ) -> $crate::Result<bool> {
                let done = sqlx::query($crate::witness::INSERT_COSIGNATURE)
                    .bind(c.size)
                    .bind(&c.witness)
                    .bind(&c.signature)
                    .bind($crate::sql::ts(&c.received_at))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn witness_cosignatures(
                &self,
                from_size: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::StoredCosignature>> {
                if limit <= 0 {
                    return Ok(Vec::new());
                }
                let rows = sqlx::query($crate::witness::SELECT_COSIGNATURES)
                    .bind(from_size)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                rows.iter().map($crate::witness::cosignature).collect()
            }

            pub(crate) async fn witness_latest_cosigned(
                &self,
                witness: &str,
            ) -> $crate::Result<Option<i64>> {
                use sqlx::Row;
                let row = sqlx::query($crate::witness::LATEST_COSIGNED)
                    .bind(witness)
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.try_get::<Option<i64>, _>("size")
                    .map_err(|e| $crate::StoreError::Corrupt {
                        what: "audit_cosignatures (largest size)".into(),
                        reason: e.to_string(),
                    })
            }
        }
    };
}
pub(crate) use witness_methods;
