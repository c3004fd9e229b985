//! Group-committed audit appends and the stored Merkle tree of the audit log, written once for both
//! backends (T/CI 857-2024 7.2.6 audit management, 7.2.9 e) traceable cross-space audit; DMS
//! 7.2.3.4 logs protected against loss).
//!
//! - `append_audit_batch` appends many events in one write transaction: one fsync for the batch,
//!   and every caller is told "done" only after that commit (the group committer in
//!   [`crate::group`] feeds it).
//! - The tree is stored as every complete-subtree hash (`audit_tree_nodes`) plus the integrated size
//!   and right border (`audit_tree_state`). The hashing itself lives with the caller
//!   (`medspace-tlog`); the store only keeps bytes, append-only, and moves the state forward
//!   compare-and-set so two integrators never both extend the tree.

use chrono::{DateTime, Utc};

use crate::{AuditTreeState, Result, StoreError, StoredCheckpoint};

/// Rows per multi-row INSERT: well below SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
pub(crate) const ROWS_PER_INSERT: usize = 500;

pub(crate) const SELECT_TREE_STATE: &str =
    "SELECT size, alg, border FROM audit_tree_state WHERE id = 1";
pub(crate) const ADVANCE_TREE_STATE: &str = "UPDATE audit_tree_state SET size = $1, alg = $2, \
     border = $3 WHERE id = 1 AND size = $4 AND (alg IS NULL OR alg = $5)";
pub(crate) const INSERT_CHECKPOINT: &str = "INSERT INTO audit_checkpoints (size, root, note, \
     created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING";
pub(crate) const SELECT_CHECKPOINTS: &str = "SELECT size, root, note, created_at FROM \
     audit_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2";
pub(crate) const LATEST_CHECKPOINT: &str = "SELECT size, root, note, created_at FROM \
     audit_checkpoints ORDER BY size DESC LIMIT 1";

/// `INSERT INTO audit_log … VALUES ($1, $2, $3), ($4, $5, $6) …` for `rows` rows.
pub(crate) fn insert_entries_sql(rows: usize) -> String {
    multi_row_insert("INSERT INTO audit_log (seq, entry, hash) VALUES ", rows, 3)
}

/// `INSERT INTO audit_index (k, seq, ts) VALUES …` for `rows` rows.
pub(crate) fn insert_index_sql(rows: usize) -> String {
    let mut sql = multi_row_insert("INSERT INTO audit_index (k, seq, ts) VALUES ", rows, 3);
    sql.push_str(" ON CONFLICT (k, seq) DO NOTHING");
    sql
}

/// The index rows of an entry (its keys, sequence number and time).
pub fn audit_index_rows(entry: &medspace_audit::AuditEntry) -> Vec<crate::AuditIndexRow> {
    let ts = medspace_audit::index_time(&entry.timestamp);
    medspace_audit::index_keys(entry)
        .into_iter()
        .map(|key| crate::AuditIndexRow {
            key,
            seq: entry.seq,
            ts: ts.clone(),
        })
        .collect()
}

/// `INSERT INTO audit_tree_nodes … VALUES …` for `rows` rows.
pub(crate) fn insert_nodes_sql(rows: usize) -> String {
    multi_row_insert(
        "INSERT INTO audit_tree_nodes (level, idx, hash) VALUES ",
        rows,
        3,
    )
}

fn multi_row_insert(head: &str, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * cols * 6);
    sql.push_str(head);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql
}

/// `SELECT level, idx, hash FROM audit_tree_nodes WHERE (level = $1 AND idx = $2) OR …`.
pub(crate) fn select_nodes_sql(count: usize) -> String {
    let mut sql = String::from("SELECT level, idx, hash FROM audit_tree_nodes WHERE ");
    for i in 0..count {
        if i > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str(&format!(
            "(level = ${} AND idx = ${})",
            2 * i + 1,
            2 * i + 2
        ));
    }
    sql
}

/// Splits a stored border into its hashes, checking the shape against `size`.
pub(crate) fn split_border(size: i64, border: &[u8]) -> Result<Vec<Vec<u8>>> {
    let want = u64::try_from(size).map(u64::count_ones).unwrap_or(0) as usize;
    let corrupt = |reason: String| StoreError::Corrupt {
        what: "audit_tree_state row (column `border`)".into(),
        reason,
    };
    if want == 0 {
        if border.is_empty() {
            return Ok(Vec::new());
        }
        return Err(corrupt(format!("expected no hash for size {size}")));
    }
    if !border.len().is_multiple_of(want) {
        return Err(corrupt(format!(
            "expected {want} hashes of equal length, got {} bytes",
            border.len()
        )));
    }
    Ok(border
        .chunks(border.len() / want)
        .map(<[u8]>::to_vec)
        .collect())
}

/// Decodes the tree-state row.
pub(crate) fn tree_state<R: crate::sql::Cols>(row: &R) -> Result<AuditTreeState> {
    let corrupt = |col: &str, e: sqlx::Error| StoreError::Corrupt {
        what: format!("audit_tree_state row (column `{col}`)"),
        reason: e.to_string(),
    };
    let size = row.int("size").map_err(|e| corrupt("size", e))?;
    let alg = row.opt_text("alg").map_err(|e| corrupt("alg", e))?;
    let border = row.bytes("border").map_err(|e| corrupt("border", e))?;
    Ok(AuditTreeState {
        size,
        border: split_border(size, &border)?,
        alg,
    })
}

/// Decodes a checkpoint row.
pub(crate) fn checkpoint<R: crate::sql::Cols>(row: &R) -> Result<StoredCheckpoint> {
    let corrupt = |col: &str, reason: String| StoreError::Corrupt {
        what: format!("audit_checkpoints row (column `{col}`)"),
        reason,
    };
    let created = row
        .text("created_at")
        .map_err(|e| corrupt("created_at", e.to_string()))?;
    Ok(StoredCheckpoint {
        size: row
            .int("size")
            .map_err(|e| corrupt("size", e.to_string()))?,
        root: row
            .bytes("root")
            .map_err(|e| corrupt("root", e.to_string()))?,
        note: row
            .text("note")
            .map_err(|e| corrupt("note", e.to_string()))?,
        created_at: DateTime::parse_from_rfc3339(&created)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt("created_at", format!("expected RFC 3339: {e}")))?,
    })
}

/// Inherent methods behind the `Store` methods for the group-committed appends, the audit tree
/// and its checkpoints; [`sql_store!`](crate::sql::sql_store)'s `impl Store` delegates to them
/// (`async_trait` cannot see methods that a macro adds inside its block).
macro_rules! audit_tree_methods {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(crate) async fn tree_append_audit_batch(
                &self,
                events: &[medspace_core::AuditEvent],
            ) -> $crate::Result<Vec<$crate::AuditReceipt>> {
                use $crate::sql::audit_err;
                if events.is_empty() {
                    return Ok(Vec::new());
                }
                let mut w = self.begin_write().await?;
                let row = sqlx::query(Self::HEAD_FOR_WRITE)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(audit_err)?;
                let head = $crate::sql::head(&row).map_err(audit_err)?;
                let mut prev: Option<(i64, String)> = head.map(|h| (h.seq, h.hash));
                let now = chrono::Utc::now();
                let mut sealed = Vec::with_capacity(events.len());
                for event in events {
                    let entry = medspace_audit::AuditEntry::next(
                        prev.as_ref().map(|(s, h)| (*s, h.as_str())),
                        event,
                        now,
                    );
                    let s = medspace_audit::seal(&entry).map_err(audit_err)?;
                    prev = Some((s.seq, s.hash.clone()));
                    sealed.push(s);
                }
                for chunk in sealed.chunks($crate::tree::ROWS_PER_INSERT) {
                    let sql = $crate::tree::insert_entries_sql(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for s in chunk {
                        q = q.bind(s.seq).bind(&s.entry).bind(&s.hash);
                    }
                    q.execute(&mut *w.tx).await.map_err(audit_err)?;
                }
                if let Some(last) = sealed.last() {
                    sqlx::query($crate::sql::ADVANCE_HEAD)
                        .bind(last.seq)
                        .bind(&last.hash)
                        .execute(&mut *w.tx)
                        .await
                        .map_err(audit_err)?;
                }
                w.commit().await?;
                Ok(sealed
                    .into_iter()
                    .map(|s| $crate::AuditReceipt {
                        seq: s.seq,
                        hash: s.hash,
                    })
                    .collect())
            }

            pub(crate) async fn tree_audit_tree_state(
                &self,
            ) -> $crate::Result<$crate::AuditTreeState> {
                let row = sqlx::query($crate::tree::SELECT_TREE_STATE)
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                $crate::tree::tree_state(&row)
            }

            pub(crate) async fn tree_extend_audit_tree(
                &self,
                from_size: i64,
                nodes: &[$crate::AuditTreeNode],
                index: &[$crate::AuditIndexRow],
                to: &$crate::AuditTreeState,
            ) -> $crate::Result<()> {
                use $crate::sql::db_err;
                let alg = to.alg.as_deref().ok_or_else(|| {
                    $crate::StoreError::Conflict("the audit tree algorithm must be named".into())
                })?;
                let border: Vec<u8> = to.border.concat();
                let mut w = self.begin_write().await?;
                let moved = sqlx::query($crate::tree::ADVANCE_TREE_STATE)
                    .bind(to.size)
                    .bind(alg)
                    .bind(border)
                    .bind(from_size)
                    .bind(alg)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(db_err)?;
                if moved.rows_affected() != 1 {
                    return Err($crate::StoreError::Conflict(format!(
                        "the audit tree is no longer at size {from_size} with algorithm {alg}"
                    )));
                }
                for chunk in nodes.chunks($crate::tree::ROWS_PER_INSERT) {
                    let sql = $crate::tree::insert_nodes_sql(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for n in chunk {
                        let index = i64::try_from(n.index).map_err(|_| {
                            $crate::StoreError::Conflict(format!(
                                "tree index {} too large",
                                n.index
                            ))
                        })?;
                        q = q
                            .bind(i64::from(n.level))
                            .bind(index)
                            .bind(n.hash.as_slice());
                    }
                    q.execute(&mut *w.tx).await.map_err(|e| match &e {
                        sqlx::Error::Database(d) if d.is_unique_violation() => {
                            $crate::StoreError::Conflict(
                                "an audit tree node is already stored (concurrent integration)"
                                    .into(),
                            )
                        }
                        _ => db_err(e),
                    })?;
                }
                // The index of the integrated entries, in the same transaction: an entry is
                // searchable exactly when it is in the tree.
                for chunk in index.chunks($crate::tree::ROWS_PER_INSERT) {
                    let sql = $crate::tree::insert_index_sql(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for row in chunk {
                        q = q.bind(&row.key).bind(row.seq).bind(&row.ts);
                    }
                    q.execute(&mut *w.tx).await.map_err(db_err)?;
                }
                w.commit().await
            }

            pub(crate) async fn tree_audit_tree_nodes(
                &self,
                coords: &[(u32, u64)],
            ) -> $crate::Result<Vec<Vec<u8>>> {
                use sqlx::Row;
                let mut found = std::collections::HashMap::with_capacity(coords.len());
                for chunk in coords.chunks($crate::tree::ROWS_PER_INSERT) {
                    let sql = $crate::tree::select_nodes_sql(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for (level, index) in chunk {
                        q = q
                            .bind(i64::from(*level))
                            .bind(i64::try_from(*index).unwrap_or(i64::MAX));
                    }
                    let rows = q.fetch_all(&self.pool).await.map_err($crate::sql::db_err)?;
                    for row in &rows {
                        let corrupt = |e: sqlx::Error| $crate::StoreError::Corrupt {
                            what: "audit_tree_nodes row".into(),
                            reason: e.to_string(),
                        };
                        let level: i64 = row.try_get("level").map_err(corrupt)?;
                        let index: i64 = row.try_get("idx").map_err(corrupt)?;
                        let hash: Vec<u8> = row.try_get("hash").map_err(corrupt)?;
                        found.insert((level, index), hash);
                    }
                }
                coords
                    .iter()
                    .map(|(level, index)| {
                        let key = (i64::from(*level), i64::try_from(*index).unwrap_or(i64::MAX));
                        found
                            .get(&key)
                            .cloned()
                            .ok_or_else(|| $crate::StoreError::NotFound {
                                what: format!("audit tree node (level {level}, index {index})"),
                            })
                    })
                    .collect()
            }

            pub(crate) async fn tree_put_audit_checkpoint(
                &self,
                checkpoint: &$crate::StoredCheckpoint,
            ) -> $crate::Result<bool> {
                let done = sqlx::query($crate::tree::INSERT_CHECKPOINT)
                    .bind(checkpoint.size)
                    .bind(checkpoint.root.as_slice())
                    .bind(&checkpoint.note)
                    .bind($crate::sql::ts(&checkpoint.created_at))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn tree_audit_checkpoints(
                &self,
                from_size: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::StoredCheckpoint>> {
                if limit <= 0 {
                    return Ok(Vec::new());
                }
                let rows = sqlx::query($crate::tree::SELECT_CHECKPOINTS)
                    .bind(from_size)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                rows.iter().map($crate::tree::checkpoint).collect()
            }

            pub(crate) async fn tree_latest_audit_checkpoint(
                &self,
            ) -> $crate::Result<Option<$crate::StoredCheckpoint>> {
                let row = sqlx::query($crate::tree::LATEST_CHECKPOINT)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.as_ref().map($crate::tree::checkpoint).transpose()
            }
        }
    };
}
pub(crate) use audit_tree_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_statements_number_their_parameters() {
        assert_eq!(
            insert_entries_sql(2),
            "INSERT INTO audit_log (seq, entry, hash) VALUES ($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(
            select_nodes_sql(2),
            "SELECT level, idx, hash FROM audit_tree_nodes WHERE (level = $1 AND idx = $2) OR \
             (level = $3 AND idx = $4)"
        );
    }

    #[test]
    fn border_shape_is_checked() {
        assert_eq!(split_border(0, &[]).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(split_border(3, &[1u8; 64]).unwrap().len(), 2);
        assert!(split_border(3, &[1u8; 63]).is_err());
        assert!(split_border(0, &[1u8; 32]).is_err());
    }
}
