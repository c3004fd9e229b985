//! Lookups over the audit log by actor, action, dataset, application and data subject — T/CI
//! 857-2024 7.2.6 (audit records searchable), GB/T 39725-2020 §7 g) (each use or disclosure of a
//! subject's data over the last six years), written once for both backends.
//!
//! `audit_index` rows are written in the transaction that integrates their entry into the tree (see
//! `tree.rs`); `subject_datasets` rows in their own audited transaction, before the dataset's
//! catalogue entry, so a catalogued dataset is always indexed.

/// Largest number of bind parameters one statement of this module uses.
const MAX_BINDS: usize = 900;

/// `(… IN ($from, …, $from+n-1))` placeholders.
fn placeholders(from: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 5);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&(from + i).to_string());
    }
    s
}

/// The statement of `audit_index_seqs` and the number of key binds it takes.
pub(crate) fn index_seqs_sql(keys: usize, since: bool, until: bool) -> String {
    let mut sql = String::from("SELECT DISTINCT seq FROM audit_index WHERE ");
    let mut n = 1;
    if keys == 0 {
        // Every entry has exactly one `actor:` key.
        sql.push_str("k >= 'actor:' AND k < 'actor;'");
    } else {
        sql.push_str(&format!("k IN ({})", placeholders(n, keys)));
        n += keys;
    }
    if since {
        sql.push_str(&format!(" AND ts >= ${n}"));
        n += 1;
    }
    if until {
        sql.push_str(&format!(" AND ts < ${n}"));
        n += 1;
    }
    sql.push_str(&format!(" AND seq > ${} ORDER BY seq LIMIT ${}", n, n + 1));
    sql
}

/// `SELECT seq, entry, hash FROM audit_log WHERE seq IN (…)`.
pub(crate) fn entries_at_sql(n: usize) -> String {
    format!(
        "SELECT seq, entry, hash FROM audit_log WHERE seq IN ({}) ORDER BY seq",
        placeholders(1, n)
    )
}

/// `INSERT INTO subject_datasets … ON CONFLICT DO NOTHING` for `n` rows.
pub(crate) fn insert_subjects_sql(n: usize) -> String {
    let mut sql = String::from("INSERT INTO subject_datasets (pseudonym, dataset_id) VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, ${})", 2 * i + 1, 2 * i + 2));
    }
    sql.push_str(" ON CONFLICT (pseudonym, dataset_id) DO NOTHING");
    sql
}

/// Chunk size for key and sequence lists.
pub(crate) const CHUNK: usize = MAX_BINDS - 4;

/// Inherent methods behind the index methods of `Store`.
macro_rules! audit_index_methods {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(crate) async fn index_seqs(
                &self,
                keys: &[String],
                since: Option<&str>,
                until: Option<&str>,
                after: i64,
                limit: i64,
            ) -> $crate::Result<Vec<i64>> {
                use $crate::sql::db_err;
                if limit <= 0 {
                    return Ok(Vec::new());
                }
                let mut out: Vec<i64> = Vec::new();
                let groups: Vec<&[String]> = if keys.is_empty() {
                    vec![&[][..]]
                } else {
                    keys.chunks($crate::audit_index::CHUNK).collect()
                };
                for group in groups {
                    let sql = $crate::audit_index::index_seqs_sql(
                        group.len(),
                        since.is_some(),
                        until.is_some(),
                    );
                    let mut q = sqlx::query_scalar::<_, i64>(&sql);
                    for k in group {
                        q = q.bind(k);
                    }
                    if let Some(t) = since {
                        q = q.bind(t);
                    }
                    if let Some(t) = until {
                        q = q.bind(t);
                    }
                    out.extend(
                        q.bind(after)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await
                            .map_err(db_err)?,
                    );
                }
                out.sort_unstable();
                out.dedup();
                out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                Ok(out)
            }

            pub(crate) async fn index_entries_at(
                &self,
                seqs: &[i64],
            ) -> $crate::Result<Vec<medspace_audit::StoredEntry>> {
                let mut out = Vec::with_capacity(seqs.len());
                for chunk in seqs.chunks($crate::audit_index::CHUNK) {
                    let sql = $crate::audit_index::entries_at_sql(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for s in chunk {
                        q = q.bind(*s);
                    }
                    let rows = q.fetch_all(&self.pool).await.map_err($crate::sql::db_err)?;
                    for row in &rows {
                        out.push($crate::sql::audit_entry(row)?);
                    }
                }
                out.sort_by_key(|e| e.seq);
                Ok(out)
            }

            pub(crate) async fn index_put_dataset_subjects(
                &self,
                dataset_id: &str,
                pseudonyms: &[String],
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let (mut w, receipt) = self.begin_audited(audit).await?;
                for chunk in pseudonyms.chunks($crate::audit_index::CHUNK / 2) {
                    let sql = $crate::audit_index::insert_subjects_sql(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for p in chunk {
                        q = q.bind(p).bind(dataset_id);
                    }
                    q.execute(&mut *w.tx).await.map_err($crate::sql::db_err)?;
                }
                w.commit().await?;
                Ok(receipt)
            }

            pub(crate) async fn index_subject_datasets(
                &self,
                pseudonym: &str,
            ) -> $crate::Result<Vec<String>> {
                sqlx::query_scalar::<_, String>(
                    "SELECT dataset_id FROM subject_datasets WHERE pseudonym = $1 \
                     ORDER BY dataset_id",
                )
                .bind(pseudonym)
                .fetch_all(&self.pool)
                .await
                .map_err($crate::sql::db_err)
            }
        }
    };
}
pub(crate) use audit_index_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_their_parameters_in_bind_order() {
        assert_eq!(
            index_seqs_sql(2, true, false),
            "SELECT DISTINCT seq FROM audit_index WHERE k IN ($1, $2) AND ts >= $3 \
             AND seq > $4 ORDER BY seq LIMIT $5"
        );
        assert_eq!(
            index_seqs_sql(0, true, true),
            "SELECT DISTINCT seq FROM audit_index WHERE k >= 'actor:' AND k < 'actor;' \
             AND ts >= $1 AND ts < $2 AND seq > $3 ORDER BY seq LIMIT $4"
        );
        assert!(insert_subjects_sql(2).contains("($1, $2), ($3, $4) ON CONFLICT"));
    }
}
