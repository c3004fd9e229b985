//! The embedded SQLite backend: one database file in the node directory, WAL journal, foreign keys
//! on, full fsync, and writers serialised so the audit chain (T/CI 857-2024 7.2.6) never forks.
//!
//! Writers are serialised twice: an in-process lock held across each write transaction (so tasks
//! of one node queue instead of spinning on `SQLITE_BUSY`), and `BEGIN IMMEDIATE`, which takes
//! SQLite's write lock before the audit head is read, so a second process (or a second handle on
//! the same file) waits on the busy timeout instead of building on a stale head.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use tokio::sync::Mutex;

use crate::sql::{impl_cols, sql_store, WriteTx};
use crate::{Backend, Result, StoreError};

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a writer waits for another process's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Metadata in one SQLite file (WAL mode), the embedded default.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    writer: Mutex<()>,
}

impl SqliteStore {
    const BACKEND: Backend = Backend::Sqlite;
    const MIGRATOR: &'static Migrator = &MIGRATIONS;
    // `BEGIN IMMEDIATE` already holds the write lock: no row lock needed.
    const HEAD_FOR_WRITE: &'static str = crate::sql::SELECT_HEAD;

    /// Opens the database file, creating it if missing. Call [`Store::migrate`](crate::Store::migrate)
    /// before use.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Database(format!(
                    "cannot open SQLite database {}: {e}",
                    path.display()
                ))
            })?;
        Ok(SqliteStore {
            pool,
            path: path.to_path_buf(),
            writer: Mutex::new(()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn begin_write(&self) -> Result<WriteTx<'_, sqlx::Sqlite>> {
        let guard = self.writer.lock().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(crate::sql::audit_err)?;
        Ok(WriteTx {
            tx,
            _writer: Some(guard),
        })
    }
}

impl_cols!(SqliteRow);
sql_store!(SqliteStore, sqlx::Sqlite);
