//! The PostgreSQL backend, for nodes that keep their metadata on a database server.
//!
//! Writers from any number of processes serialise on the single `audit_head` row, locked with
//! `SELECT … FOR UPDATE` at the start of every write transaction, so the audit chain
//! (T/CI 857-2024 7.2.6) stays gapless and linear without an in-process lock.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use crate::sql::{impl_cols, sql_store, WriteTx};
use crate::{redact_url, Backend, Result, StoreError};

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Metadata in PostgreSQL.
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    const BACKEND: Backend = Backend::Postgres;
    const MIGRATOR: &'static Migrator = &MIGRATIONS;
    const HEAD_FOR_WRITE: &'static str = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";

    /// Connects to `url` (`postgres://user[:password]@host[:port]/db[?options]`). Call
    /// [`Store::migrate`](crate::Store::migrate) before use.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(parse(url)?, url).await
    }

    /// Connects with `search_path` set to `schema`, so all tables live in that schema (one node per
    /// schema, or one fresh schema per test). The schema must exist; its name must be a plain
    /// lower-case identifier (`[a-z_][a-z0-9_]*`).
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self> {
        if !is_plain_identifier(schema) {
            return Err(StoreError::InvalidUrl(format!(
                "schema name `{schema}`: expected a lower-case identifier [a-z_][a-z0-9_]*"
            )));
        }
        let options = parse(url)?.options([("search_path", schema)]);
        Self::connect_with(options, url).await
    }

    async fn connect_with(options: PgConnectOptions, url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Database(format!("cannot connect to {}: {e}", redact_url(url)))
            })?;
        Ok(PgStore { pool })
    }

    async fn snapshot_file(&self, _path: &std::path::Path) -> Result<()> {
        Err(crate::StoreError::Unsupported(
            "medspace backups snapshot the embedded SQLite database; back up PostgreSQL with its \
             own point-in-time recovery (pg_basebackup and WAL archiving)"
                .into(),
        ))
    }

    /// [`Store::audit_pages`](crate::Store::audit_pages): a task pages through the log with
    /// [`Store::audit_entries`](crate::Store::audit_entries), one page ahead of the reader.
    fn audit_page_reader(
        self: std::sync::Arc<Self>,
        from_seq: i64,
        page: usize,
    ) -> crate::AuditPages {
        use crate::Store as _;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let limit = i64::try_from(page.max(1)).unwrap_or(i64::MAX);
        tokio::spawn(async move {
            let mut next_seq = from_seq;
            loop {
                match self.audit_entries(next_seq, limit).await {
                    Ok(entries) => {
                        let Some(last) = entries.last() else { break };
                        next_seq = last.seq + 1;
                        if tx.send(Ok(entries)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        break;
                    }
                }
            }
        });
        rx
    }

    async fn begin_write(&self) -> Result<WriteTx<'_, sqlx::Postgres>> {
        let tx = self.pool.begin().await.map_err(crate::sql::audit_err)?;
        Ok(WriteTx { tx, _writer: None })
    }
}

fn parse(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(format!("{}: {e}", redact_url(url))))
}

fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

impl_cols!(PgRow);
sql_store!(PgStore, sqlx::Postgres);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_must_be_plain_identifiers() {
        assert!(is_plain_identifier("ms_test_0a1b"));
        assert!(is_plain_identifier("_x"));
        assert!(!is_plain_identifier("1abc"));
        assert!(!is_plain_identifier("a b"));
        assert!(!is_plain_identifier("a;drop"));
        assert!(!is_plain_identifier("Upper"));
        assert!(!is_plain_identifier(""));
        assert!(!is_plain_identifier(&"a".repeat(64)));
    }

    #[tokio::test]
    async fn bad_schema_is_refused_before_connecting() {
        let err = PgStore::connect_with_schema("postgres://u:pw@127.0.0.1:1/db", "x; drop")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidUrl(_)), "{err}");
    }

    #[tokio::test]
    async fn url_errors_hide_the_password() {
        let err = PgStore::connect("postgres://u:hunter2@127.0.0.1:notaport/db")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::InvalidUrl(_)), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("u:***@127.0.0.1"), "{text}");
    }
}
