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

    /// `VACUUM INTO`: a consistent, compacted copy of the database as one new file (no WAL),
    /// taken in a read transaction, so writers carry on.
    async fn snapshot_file(&self, path: &Path) -> Result<()> {
        if path.exists() {
            return Err(StoreError::Conflict(format!(
                "snapshot target {} already exists",
                path.display()
            )));
        }
        let target = path.to_str().ok_or_else(|| {
            StoreError::Database(format!("snapshot path {} is not UTF-8", path.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("snapshot failed: {e}")))?;
        Ok(())
    }

    /// [`Store::audit_pages`](crate::Store::audit_pages): a thread of its own reads the database
    /// file through a second, read-only connection (rusqlite over the same SQLite library sqlx
    /// links). Going through sqlx's driver meant one hand-over to its worker thread per row, which
    /// was slower than hashing the entries on both cores; reading directly keeps the hashing fed.
    /// The single statement runs in one read transaction, so the pages are one snapshot even while
    /// writers append.
    fn audit_page_reader(
        self: std::sync::Arc<Self>,
        from_seq: i64,
        page: usize,
    ) -> crate::AuditPages {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let path = self.path.clone();
        let reader_tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("audit-page-reader".into())
            .spawn(move || {
                if let Err(e) = read_audit_pages(&path, from_seq, page.max(1), &reader_tx) {
                    let _ = reader_tx.blocking_send(Err(e));
                }
            });
        if let Err(e) = spawned {
            let _ = tx.try_send(Err(StoreError::Database(format!(
                "cannot start the audit page reader: {e}"
            ))));
        }
        rx
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

/// Reads the audit log of the database file at `path` from `from_seq` on and sends it in pages;
/// returns early, without error, once the receiver is gone.
fn read_audit_pages(
    path: &Path,
    from_seq: i64,
    page: usize,
    tx: &tokio::sync::mpsc::Sender<Result<Vec<medspace_audit::StoredEntry>>>,
) -> Result<()> {
    use rusqlite::{Connection, OpenFlags};
    let read_err = |e: rusqlite::Error| {
        StoreError::Database(format!("reading the audit log of {}: {e}", path.display()))
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(read_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(read_err)?;
    let mut statement = conn
        .prepare("SELECT seq, entry, hash FROM audit_log WHERE seq >= ?1 ORDER BY seq")
        .map_err(read_err)?;
    let mut rows = statement.query([from_seq]).map_err(read_err)?;
    let mut entries = Vec::with_capacity(page);
    while let Some(row) = rows.next().map_err(read_err)? {
        entries.push(medspace_audit::StoredEntry {
            seq: row.get(0).map_err(read_err)?,
            entry: row.get(1).map_err(read_err)?,
            hash: row.get(2).map_err(read_err)?,
        });
        if entries.len() == page {
            let full = std::mem::replace(&mut entries, Vec::with_capacity(page));
            if tx.blocking_send(Ok(full)).is_err() {
                return Ok(());
            }
        }
    }
    if !entries.is_empty() {
        let _ = tx.blocking_send(Ok(entries));
    }
    Ok(())
}

/// What a detached snapshot references: its object keys and its audit head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Every object key the snapshot's metadata references.
    pub object_keys: Vec<String>,
    /// The audit head inside the snapshot.
    pub audit_head: Option<crate::AuditHead>,
}

/// Prepares a snapshot file made by [`Store::snapshot_into`](crate::Store::snapshot_into) for a
/// backup: reads what it references, then blanks every wrapped data key — dataset, query-result and
/// project keys and the `wrapped_key.*` settings; the master-key check stays. Backups carry their
/// keys apart from the data so that destroying a dataset's key also defeats the backups that hold
/// its objects (GB/T 39725-2020 §11.4.2.6; DMS 6.2.3). Not audited: it edits a detached copy, never
/// the node's database.
pub async fn detach_snapshot(snapshot: &Path) -> Result<SnapshotInfo> {
    let options = SqliteConnectOptions::new()
        .filename(snapshot)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Delete)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Database(format!("cannot open snapshot: {e}")))?;
    let result = async {
        let rows = sqlx::query(crate::sql::ALL_OBJECT_KEYS)
            .fetch_all(&pool)
            .await
            .map_err(crate::sql::db_err)?;
        let object_keys = rows
            .iter()
            .map(|r| crate::sql::text_col(r, "datasets", "object_key"))
            .collect::<Result<Vec<_>>>()?;
        let head_row = sqlx::query(crate::sql::SELECT_HEAD)
            .fetch_optional(&pool)
            .await
            .map_err(crate::sql::db_err)?;
        let audit_head = match head_row {
            Some(r) => crate::sql::head(&r)?,
            None => None,
        };
        let mut tx = pool.begin().await.map_err(crate::sql::db_err)?;
        for sql in [
            "UPDATE datasets SET wrapped_key = X''",
            "UPDATE query_results SET wrapped_key = X''",
            "UPDATE project_keys SET wrapped_key = X''",
            "UPDATE settings SET value = '' WHERE key LIKE 'wrapped_key.%'",
        ] {
            sqlx::query(sql)
                .execute(&mut *tx)
                .await
                .map_err(crate::sql::db_err)?;
        }
        tx.commit().await.map_err(crate::sql::db_err)?;
        // Blanked pages must not linger in the file's free list.
        sqlx::query("VACUUM")
            .execute(&pool)
            .await
            .map_err(crate::sql::db_err)?;
        Ok(SnapshotInfo {
            object_keys,
            audit_head,
        })
    }
    .await;
    pool.close().await;
    result
}

impl_cols!(SqliteRow);
sql_store!(SqliteStore, sqlx::Sqlite);
