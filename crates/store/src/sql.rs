//! SQL shared by both backends, and the audited-transaction pattern of T/CI 857-2024 7.2.6 /
//! DMS 7.2.3.4 (a change is committed only together with its audit entry).
//!
//! # Why a macro over two typed pools
//!
//! SQLite and PostgreSQL agree on every statement the store runs: `$n` parameters (sqlx-sqlite
//! binds `$NNN` by number, see `SqliteArguments::bind`), `TEXT`/`BIGINT`/`BOOLEAN` columns,
//! `ON CONFLICT … DO UPDATE`, `LIMIT`. So the statement text lives here once, row decoding is
//! written once as plain generic functions over the small [`Cols`] trait, and the
//! [`Store`](crate::Store) methods are written once in [`sql_store!`] and instantiated for
//! [`SqliteStore`](crate::SqliteStore) over `SqlitePool` and [`PgStore`](crate::PgStore) over
//! `PgPool`. Each backend stays fully typed (native `BLOB`/`BYTEA`, native unique- and
//! foreign-key-violation codes) and supplies only what really differs: how a write transaction
//! starts (`BEGIN IMMEDIATE` plus an in-process writer lock for SQLite; plain `BEGIN` for
//! PostgreSQL) and how the audit head is locked (`SELECT … FOR UPDATE` in PostgreSQL).
//!
//! The alternatives were rejected: sqlx's `Any` driver erases types at run time (no blob/bytea
//! parity, per-driver quirks surface as run-time errors) and still needs per-backend locking code;
//! fully generic functions over `sqlx::Database` need a long list of higher-ranked `Executor` /
//! `Encode` bounds on every method and fight `async_trait`'s `Send` requirement.
//!
//! # Fail closed
//!
//! Every audited write runs [`sql_store!`]'s `begin_audited`: open the write transaction, read
//! (and lock) `audit_head`, build the next entry with [`medspace_audit::AuditEntry::next`], seal
//! it, insert it into `audit_log`, advance `audit_head`, and only then make the change and commit.
//! Any error before the commit drops the transaction, which rolls back the change *and* the entry.
//!
//! Timestamps are stored as RFC 3339 UTC text with exactly nine fractional digits: fixed width (so
//! `ORDER BY created_at` is chronological) and exact (`DateTime<Utc>` round-trips bit for bit on
//! both backends, with no microsecond truncation in PostgreSQL).

use chrono::{DateTime, SecondsFormat, Utc};
use medspace_core::{
    Application, ColumnClassification, ColumnSchema, DatasetKind, DatasetMeta, Decision,
    ExportRequest, Level, Lineage, QueryRecord, Session, User,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::MutexGuard;

use crate::{AuditHead, Result, StoreError};

// ---- statements (identical for both backends) ----

pub(crate) const SELECT_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";
pub(crate) const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (seq, entry, hash) VALUES ($1, $2, $3)";
pub(crate) const ADVANCE_HEAD: &str = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1";
pub(crate) const AUDIT_ENTRIES: &str =
    "SELECT seq, entry, hash FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2";

pub(crate) const GET_SETTING: &str = "SELECT value FROM settings WHERE key = $1";
pub(crate) const PUT_SETTING: &str = "INSERT INTO settings (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

const USER_COLS: &str = "SELECT id, username, role, password_hash, must_change_password, \
     failed_logins, locked, disabled, created_at FROM users";
pub(crate) const INSERT_USER: &str = "INSERT INTO users (id, username, role, password_hash, \
     must_change_password, failed_logins, locked, disabled, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(crate) const SET_LOGIN_STATE: &str =
    "UPDATE users SET failed_logins = $1, locked = $2 WHERE id = $3";
pub(crate) const SET_PASSWORD: &str =
    "UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3";

pub(crate) const INSERT_SESSION: &str =
    "INSERT INTO sessions (token_hash, user_id, created_at, last_seen) VALUES ($1, $2, $3, $4)";
pub(crate) const SESSION: &str =
    "SELECT token_hash, user_id, created_at, last_seen FROM sessions WHERE token_hash = $1";
pub(crate) const TOUCH_SESSION: &str = "UPDATE sessions SET last_seen = $1 WHERE token_hash = $2";
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1";

const DATASET_COLS: &str = "SELECT id, name, kind, format, owner, update_frequency, schema_json, \
     classification_json, level, row_count, version, object_key, wrapped_key, content_sha256, \
     lineage_json, created_at, destroyed_at FROM datasets";
pub(crate) const INSERT_DATASET: &str = "INSERT INTO datasets (id, name, kind, format, owner, \
     update_frequency, schema_json, classification_json, level, row_count, version, object_key, \
     wrapped_key, content_sha256, lineage_json, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

const APPLICATION_COLS: &str = "SELECT id, applicant_id, dataset_id, columns_json, purpose, \
     period_start, period_end, status, decided_by, decision_reason, decided_at, created_at, \
     special_diseases_json FROM applications";
pub(crate) const INSERT_APPLICATION: &str = "INSERT INTO applications (id, applicant_id, \
     dataset_id, columns_json, purpose, period_start, period_end, status, decided_by, \
     decision_reason, decided_at, created_at, special_diseases_json) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
pub(crate) const DECIDE_APPLICATION: &str =
    "UPDATE applications SET status = $1, decided_by = $2, \
     decision_reason = $3, decided_at = $4 WHERE id = $5 AND status = 'pending'";
pub(crate) const APPLICATION_STATUS: &str = "SELECT status FROM applications WHERE id = $1";

const QUERY_COLS: &str = "SELECT id, user_id, application_id, sql_sha256, row_count, object_key, \
     wrapped_key, created_at FROM query_results";
pub(crate) const INSERT_QUERY: &str = "INSERT INTO query_results (id, user_id, application_id, \
     sql_sha256, row_count, object_key, wrapped_key, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const EXPORT_COLS: &str = "SELECT id, requester_id, query_id, justification, status, decided_by, \
     decision_reason, decided_at, downloads, created_at FROM exports";
pub(crate) const INSERT_EXPORT: &str = "INSERT INTO exports (id, requester_id, query_id, \
     justification, status, decided_by, decision_reason, decided_at, downloads, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub(crate) const DECIDE_EXPORT: &str = "UPDATE exports SET status = $1, decided_by = $2, \
     decision_reason = $3, decided_at = $4 WHERE id = $5 AND status = 'pending'";
pub(crate) const COUNT_DOWNLOAD: &str =
    "UPDATE exports SET downloads = downloads + 1 WHERE id = $1 AND status = 'approved'";
pub(crate) const EXPORT_STATUS: &str = "SELECT status FROM exports WHERE id = $1";

pub(crate) const PROJECT_KEY: &str =
    "SELECT wrapped_key FROM project_keys WHERE project = $1 AND purpose = $2";
pub(crate) const INSERT_PROJECT_KEY: &str = "INSERT INTO project_keys (project, purpose, \
     wrapped_key, created_at) VALUES ($1, $2, $3, $4)";
pub(crate) const ALL_DATASET_KEYS: &str =
    "SELECT id, wrapped_key FROM datasets WHERE destroyed_at IS NULL ORDER BY id";
pub(crate) const DESTROY_DATASET: &str = "UPDATE datasets SET wrapped_key = $1, destroyed_at = $2 \
     WHERE id = $3 AND destroyed_at IS NULL";
pub(crate) const ALL_QUERY_KEYS: &str = "SELECT id, wrapped_key FROM query_results ORDER BY id";
pub(crate) const ALL_PROJECT_KEYS: &str =
    "SELECT project, purpose, wrapped_key FROM project_keys ORDER BY project, purpose";
pub(crate) const SETTINGS_WITH_KEYS: &str =
    "SELECT key, value FROM settings WHERE key LIKE 'wrapped_key.%' OR key = 'master_key_check' \
     ORDER BY key";
pub(crate) const ALL_OBJECT_KEYS: &str = "SELECT object_key FROM datasets WHERE destroyed_at IS \
     NULL UNION SELECT object_key FROM query_results ORDER BY 1";
pub(crate) const REWRAP_DATASET: &str = "UPDATE datasets SET wrapped_key = $1 WHERE id = $2";
pub(crate) const REWRAP_QUERY: &str = "UPDATE query_results SET wrapped_key = $1 WHERE id = $2";
pub(crate) const REWRAP_PROJECT_KEY: &str =
    "UPDATE project_keys SET wrapped_key = $1 WHERE project = $2 AND purpose = $3";
pub(crate) const REWRAP_SETTING: &str = "UPDATE settings SET value = $1 WHERE key = $2";

/// Lookup statements: `(by key, all, by owner)` built from a column list.
pub(crate) struct Lookups {
    pub by_id: String,
    pub by_name: String,
    pub all: String,
    pub by_owner: String,
}

fn lookups(cols: &str, name_col: &str, owner_col: &str) -> Lookups {
    Lookups {
        by_id: format!("{cols} WHERE id = $1"),
        by_name: format!("{cols} WHERE {name_col} = $1"),
        all: format!("{cols} ORDER BY created_at, id"),
        by_owner: format!("{cols} WHERE {owner_col} = $1 ORDER BY created_at, id"),
    }
}

/// Statements for users (by name = username).
pub(crate) fn user_sql() -> &'static Lookups {
    static S: std::sync::OnceLock<Lookups> = std::sync::OnceLock::new();
    S.get_or_init(|| lookups(USER_COLS, "username", "id"))
}

/// Statements for datasets (by name = name).
pub(crate) fn dataset_sql() -> &'static Lookups {
    static S: std::sync::OnceLock<Lookups> = std::sync::OnceLock::new();
    S.get_or_init(|| lookups(DATASET_COLS, "name", "owner"))
}

/// Statements for applications (by owner = applicant).
pub(crate) fn application_sql() -> &'static Lookups {
    static S: std::sync::OnceLock<Lookups> = std::sync::OnceLock::new();
    S.get_or_init(|| lookups(APPLICATION_COLS, "id", "applicant_id"))
}

/// Statements for query results.
pub(crate) fn query_sql() -> &'static Lookups {
    static S: std::sync::OnceLock<Lookups> = std::sync::OnceLock::new();
    S.get_or_init(|| lookups(QUERY_COLS, "id", "user_id"))
}

/// Statements for exports (by owner = requester).
pub(crate) fn export_sql() -> &'static Lookups {
    static S: std::sync::OnceLock<Lookups> = std::sync::OnceLock::new();
    S.get_or_init(|| lookups(EXPORT_COLS, "id", "requester_id"))
}

// ---- values ----

/// Stored form of a timestamp: RFC 3339, UTC, nine fractional digits, `Z`.
pub(crate) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// JSON text of a list or struct column.
pub(crate) fn json<T: Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        reason: format!("cannot encode as JSON: {e}"),
    })
}

/// Any database failure that is not one of the mapped cases.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A failure while appending the audit entry: the change is not made.
pub(crate) fn audit_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Audit(e.to_string())
}

/// How a failed or empty change statement is reported.
#[derive(Debug)]
pub(crate) enum Change {
    /// An insert into `table`. A unique violation on `unique.0` is `AlreadyExists { unique.1 }`,
    /// any other unique violation (the primary key) `AlreadyExists { duplicate }`; a foreign-key
    /// violation is `NotFound { missing }` (the referenced row).
    Insert {
        /// Table inserted into.
        table: &'static str,
        /// A secondary unique column and how to name its duplicate.
        unique: Option<(&'static str, String)>,
        /// How to name a duplicate primary key.
        duplicate: String,
        /// What the row refers to.
        missing: String,
    },
    /// An update or delete of one keyed row: touching no row is `NotFound { what }`.
    One {
        /// The row.
        what: String,
    },
    /// An upsert, or a delete that may find nothing (ending an already ended session).
    Any,
}

impl Change {
    /// Maps the statement error.
    pub(crate) fn error(&self, e: sqlx::Error) -> StoreError {
        if let (
            Change::Insert {
                table,
                unique,
                duplicate,
                missing,
            },
            sqlx::Error::Database(d),
        ) = (self, &e)
        {
            if d.is_unique_violation() {
                let what = match unique {
                    // PostgreSQL names the constraint (`datasets_name_key`); SQLite names the column
                    // in its message (`UNIQUE constraint failed: datasets.name`).
                    Some((col, what))
                        if d.constraint() == Some(format!("{table}_{col}_key").as_str())
                            || d.message().ends_with(&format!("{table}.{col}")) =>
                    {
                        what.clone()
                    }
                    _ => duplicate.clone(),
                };
                return StoreError::AlreadyExists { what };
            }
            if d.is_foreign_key_violation() {
                return StoreError::NotFound {
                    what: missing.clone(),
                };
            }
        }
        db_err(e)
    }

    /// Checks the affected-row count.
    pub(crate) fn check(&self, rows: u64) -> Result<()> {
        match self {
            Change::One { what } if rows == 0 => Err(StoreError::NotFound { what: what.clone() }),
            _ => Ok(()),
        }
    }
}

/// An open write transaction, plus the backend's writer lock when it has one. Dropping it without
/// [`WriteTx::commit`] rolls everything back.
pub(crate) struct WriteTx<'a, DB: sqlx::Database> {
    // Declared first so it is dropped (rolled back) before the writer lock is released.
    pub(crate) tx: sqlx::Transaction<'static, DB>,
    pub(crate) _writer: Option<MutexGuard<'a, ()>>,
}

impl<DB: sqlx::Database> WriteTx<'_, DB> {
    /// Commits the change together with its audit entry.
    pub(crate) async fn commit(self) -> Result<()> {
        let WriteTx { tx, _writer } = self;
        let committed = tx.commit().await;
        drop(_writer);
        committed.map_err(|e| {
            StoreError::Database(format!(
                "commit failed, change and audit entry not stored: {e}"
            ))
        })
    }
}

// ---- row decoding (written once for both row types) ----

/// Typed column access, implemented for `SqliteRow` and `PgRow` by [`impl_cols!`].
pub(crate) trait Cols {
    /// A non-null text column.
    fn text(&self, col: &str) -> Result<String, sqlx::Error>;
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error>;
    /// A BIGINT column.
    fn int(&self, col: &str) -> Result<i64, sqlx::Error>;
    /// A BOOLEAN column.
    fn flag(&self, col: &str) -> Result<bool, sqlx::Error>;
    /// A BLOB / BYTEA column.
    fn bytes(&self, col: &str) -> Result<Vec<u8>, sqlx::Error>;
}

macro_rules! impl_cols {
    ($row:ty) => {
        impl $crate::sql::Cols for $row {
            fn text(&self, col: &str) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn flag(&self, col: &str) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
            fn bytes(&self, col: &str) -> Result<Vec<u8>, sqlx::Error> {
                sqlx::Row::try_get(self, col)
            }
        }
    };
}
pub(crate) use impl_cols;

/// Reads one row of `table`, naming the table and column in every error (never the value).
struct Reader<'a, R> {
    row: &'a R,
    table: &'static str,
}

impl<R: Cols> Reader<'_, R> {
    fn corrupt(&self, col: &str, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            what: format!("{} row (column `{col}`)", self.table),
            reason: reason.to_string(),
        }
    }
    fn text(&self, col: &str) -> Result<String> {
        self.row.text(col).map_err(|e| self.corrupt(col, e))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.row.opt_text(col).map_err(|e| self.corrupt(col, e))
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.row.int(col).map_err(|e| self.corrupt(col, e))
    }
    fn flag(&self, col: &str) -> Result<bool> {
        self.row.flag(col).map_err(|e| self.corrupt(col, e))
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        self.row.bytes(col).map_err(|e| self.corrupt(col, e))
    }
    fn parse_ts(&self, col: &str, s: &str) -> Result<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.corrupt(col, format!("expected an RFC 3339 timestamp: {e}")))
    }
    fn ts(&self, col: &str) -> Result<DateTime<Utc>> {
        let s = self.text(col)?;
        self.parse_ts(col, &s)
    }
    fn opt_ts(&self, col: &str) -> Result<Option<DateTime<Utc>>> {
        match self.opt_text(col)? {
            Some(s) => self.parse_ts(col, &s).map(Some),
            None => Ok(None),
        }
    }
    fn parse_json<T: DeserializeOwned>(&self, col: &str, s: &str) -> Result<T> {
        // serde_json positions only; its messages could quote the offending value.
        serde_json::from_str(s).map_err(|e| {
            self.corrupt(
                col,
                format!("invalid JSON at line {} column {}", e.line(), e.column()),
            )
        })
    }
    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        let s = self.text(col)?;
        self.parse_json(col, &s)
    }
    fn opt_json<T: DeserializeOwned>(&self, col: &str) -> Result<Option<T>> {
        match self.opt_text(col)? {
            Some(s) => self.parse_json(col, &s).map(Some),
            None => Ok(None),
        }
    }
    fn decision(&self, col: &str) -> Result<Decision> {
        let s = self.text(col)?;
        Decision::parse(&s)
            .ok_or_else(|| self.corrupt(col, "expected pending, approved or rejected"))
    }
}

/// Decodes the audit head row; seq 0 means the log is empty.
pub(crate) fn head<R: Cols>(row: &R) -> Result<Option<AuditHead>> {
    let r = Reader {
        row,
        table: "audit_head",
    };
    let seq = r.int("seq")?;
    let hash = r.text("hash")?;
    Ok((seq > 0).then_some(AuditHead { seq, hash }))
}

/// Decodes an audit_log row.
pub(crate) fn audit_entry<R: Cols>(row: &R) -> Result<medspace_audit::StoredEntry> {
    let r = Reader {
        row,
        table: "audit_log",
    };
    Ok(medspace_audit::StoredEntry {
        seq: r.int("seq")?,
        entry: r.text("entry")?,
        hash: r.text("hash")?,
    })
}

/// Decodes a settings value.
pub(crate) fn setting<R: Cols>(row: &R) -> Result<String> {
    Reader {
        row,
        table: "settings",
    }
    .text("value")
}

/// A BLOB / BYTEA column, naming table and column on error.
pub(crate) fn blob<R: Cols>(row: &R, table: &'static str, col: &str) -> Result<Vec<u8>> {
    Reader { row, table }.bytes(col)
}

/// A TEXT column, naming table and column on error.
pub(crate) fn text_col<R: Cols>(row: &R, table: &'static str, col: &str) -> Result<String> {
    Reader { row, table }.text(col)
}

/// Decodes a users row.
pub(crate) fn user<R: Cols>(row: &R) -> Result<User> {
    let r = Reader {
        row,
        table: "users",
    };
    let role = r.text("role")?;
    Ok(User {
        id: r.text("id")?,
        username: r.text("username")?,
        role: role
            .parse()
            .map_err(|e: medspace_core::role::UnknownRole| r.corrupt("role", e))?,
        password_hash: r.text("password_hash")?,
        must_change_password: r.flag("must_change_password")?,
        failed_logins: r.int("failed_logins")?,
        locked: r.flag("locked")?,
        disabled: r.flag("disabled")?,
        created_at: r.ts("created_at")?,
    })
}

/// Decodes a sessions row.
pub(crate) fn session<R: Cols>(row: &R) -> Result<Session> {
    let r = Reader {
        row,
        table: "sessions",
    };
    Ok(Session {
        token_hash: r.text("token_hash")?,
        user_id: r.text("user_id")?,
        created_at: r.ts("created_at")?,
        last_seen: r.ts("last_seen")?,
    })
}

/// Stored name of a dataset kind.
pub(crate) fn kind_str(k: DatasetKind) -> &'static str {
    k.as_str()
}

/// Decodes a datasets row.
pub(crate) fn dataset<R: Cols>(row: &R) -> Result<DatasetMeta> {
    let r = Reader {
        row,
        table: "datasets",
    };
    let kind = match r.text("kind")?.as_str() {
        "raw" => DatasetKind::Raw,
        "deidentified" => DatasetKind::Deidentified,
        _ => return Err(r.corrupt("kind", "expected raw or deidentified")),
    };
    let level = r.int("level")?;
    let level = u8::try_from(level)
        .ok()
        .and_then(|n| Level::new(n).ok())
        .ok_or_else(|| r.corrupt("level", "expected a level from 1 to 5"))?;
    Ok(DatasetMeta {
        id: r.text("id")?,
        name: r.text("name")?,
        kind,
        format: r.text("format")?,
        owner: r.text("owner")?,
        update_frequency: r.text("update_frequency")?,
        schema: r.json::<Vec<ColumnSchema>>("schema_json")?,
        classification: r.json::<Vec<ColumnClassification>>("classification_json")?,
        level,
        row_count: r.int("row_count")?,
        version: r.int("version")?,
        object_key: r.text("object_key")?,
        wrapped_key: r.bytes("wrapped_key")?,
        content_sha256: r.text("content_sha256")?,
        lineage: r.opt_json::<Lineage>("lineage_json")?,
        created_at: r.ts("created_at")?,
        destroyed_at: r.opt_ts("destroyed_at")?,
    })
}

/// Decodes an applications row.
pub(crate) fn application<R: Cols>(row: &R) -> Result<Application> {
    let r = Reader {
        row,
        table: "applications",
    };
    Ok(Application {
        id: r.text("id")?,
        applicant_id: r.text("applicant_id")?,
        dataset_id: r.text("dataset_id")?,
        columns: r.json("columns_json")?,
        purpose: r.text("purpose")?,
        period_start: r.ts("period_start")?,
        period_end: r.ts("period_end")?,
        status: r.decision("status")?,
        decided_by: r.opt_text("decided_by")?,
        decision_reason: r.opt_text("decision_reason")?,
        decided_at: r.opt_ts("decided_at")?,
        created_at: r.ts("created_at")?,
        special_diseases: r.json("special_diseases_json")?,
    })
}

/// Decodes a query_results row.
pub(crate) fn query_record<R: Cols>(row: &R) -> Result<QueryRecord> {
    let r = Reader {
        row,
        table: "query_results",
    };
    Ok(QueryRecord {
        id: r.text("id")?,
        user_id: r.text("user_id")?,
        application_id: r.text("application_id")?,
        sql_sha256: r.text("sql_sha256")?,
        row_count: r.int("row_count")?,
        object_key: r.text("object_key")?,
        wrapped_key: r.bytes("wrapped_key")?,
        created_at: r.ts("created_at")?,
    })
}

/// Decodes an exports row.
pub(crate) fn export<R: Cols>(row: &R) -> Result<ExportRequest> {
    let r = Reader {
        row,
        table: "exports",
    };
    Ok(ExportRequest {
        id: r.text("id")?,
        requester_id: r.text("requester_id")?,
        query_id: r.text("query_id")?,
        justification: r.text("justification")?,
        status: r.decision("status")?,
        decided_by: r.opt_text("decided_by")?,
        decision_reason: r.opt_text("decision_reason")?,
        decided_at: r.opt_ts("decided_at")?,
        downloads: r.int("downloads")?,
        created_at: r.ts("created_at")?,
    })
}

/// Refuses "deciding" to pending.
pub(crate) fn final_decision(decision: Decision) -> Result<()> {
    if decision == Decision::Pending {
        return Err(StoreError::Conflict(
            "a decision must be approved or rejected, not pending".into(),
        ));
    }
    Ok(())
}

/// The `Store` implementation over one backend's typed pool.
///
/// The backend type must have a `pool` field, an associated `BACKEND`, `MIGRATOR` and
/// `HEAD_FOR_WRITE` (the statement reading the audit head inside a write transaction), and
/// `async fn begin_write(&self) -> Result<WriteTx<'_, DB>>`.
macro_rules! sql_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Opens a write transaction and appends `event` to the audit chain inside it. The caller
            /// makes its change in the same transaction and commits both, or drops both.
            async fn begin_audited(
                &self,
                event: &medspace_core::AuditEvent,
            ) -> $crate::Result<($crate::sql::WriteTx<'_, $db>, $crate::AuditReceipt)> {
                use $crate::sql::audit_err;
                let mut w = self.begin_write().await?;
                let row = sqlx::query(Self::HEAD_FOR_WRITE)
                    .fetch_one(&mut *w.tx)
                    .await
                    .map_err(audit_err)?;
                let head = $crate::sql::head(&row).map_err(audit_err)?;
                let prev = head.as_ref().map(|h| (h.seq, h.hash.as_str()));
                let entry = medspace_audit::AuditEntry::next(prev, event, chrono::Utc::now());
                let sealed = medspace_audit::seal(&entry).map_err(audit_err)?;
                sqlx::query($crate::sql::INSERT_AUDIT)
                    .bind(sealed.seq)
                    .bind(&sealed.entry)
                    .bind(&sealed.hash)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(audit_err)?;
                sqlx::query($crate::sql::ADVANCE_HEAD)
                    .bind(sealed.seq)
                    .bind(&sealed.hash)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(audit_err)?;
                Ok((
                    w,
                    $crate::AuditReceipt {
                        seq: sealed.seq,
                        hash: sealed.hash,
                    },
                ))
            }

            /// Binds an account row to the insert statement.
            pub(crate) fn user_insert<'q>(
                user: &'q medspace_core::User,
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                sqlx::query($crate::sql::INSERT_USER)
                    .bind(&user.id)
                    .bind(&user.username)
                    .bind(user.role.as_str())
                    .bind(&user.password_hash)
                    .bind(user.must_change_password)
                    .bind(user.failed_logins)
                    .bind(user.locked)
                    .bind(user.disabled)
                    .bind($crate::sql::ts(&user.created_at))
            }

            /// Runs one change statement under an audit entry.
            async fn audited<'q>(
                &self,
                event: &medspace_core::AuditEvent,
                change: $crate::sql::Change,
                query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let (mut w, receipt) = self.begin_audited(event).await?;
                let done = query
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| change.error(e))?;
                change.check(done.rows_affected())?;
                w.commit().await?;
                Ok(receipt)
            }

            /// Runs a state transition (`… WHERE id = $n AND status = '…'`) under an audit entry;
            /// when it matches nothing, tells a missing row (`NotFound`) from a row in another state
            /// (`Conflict`).
            async fn audited_transition<'q>(
                &self,
                event: &medspace_core::AuditEvent,
                query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                status_sql: &'static str,
                id: &str,
                what: String,
                expected: &'static str,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let (mut w, receipt) = self.begin_audited(event).await?;
                let done = query
                    .execute(&mut *w.tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                if done.rows_affected() == 0 {
                    let status: Option<String> = sqlx::query_scalar(status_sql)
                        .bind(id)
                        .fetch_optional(&mut *w.tx)
                        .await
                        .map_err($crate::sql::db_err)?;
                    return Err(match status {
                        None => $crate::StoreError::NotFound { what },
                        Some(s) => {
                            $crate::StoreError::Conflict(format!("{what} is {s}, not {expected}"))
                        }
                    });
                }
                w.commit().await?;
                Ok(receipt)
            }

            async fn fetch_one_opt<T>(
                &self,
                sql: &str,
                key: &str,
                decode: fn(&<$db as sqlx::Database>::Row) -> $crate::Result<T>,
            ) -> $crate::Result<Option<T>> {
                let row = sqlx::query(sql)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.as_ref().map(decode).transpose()
            }

            async fn fetch_list<T>(
                &self,
                sql: &str,
                key: Option<&str>,
                decode: fn(&<$db as sqlx::Database>::Row) -> $crate::Result<T>,
            ) -> $crate::Result<Vec<T>> {
                let mut q = sqlx::query(sql);
                if let Some(k) = key {
                    q = q.bind(k);
                }
                let rows = q.fetch_all(&self.pool).await.map_err($crate::sql::db_err)?;
                rows.iter().map(decode).collect()
            }
        }

        $crate::tree::audit_tree_methods!($store, $db);
        $crate::witness::witness_methods!($store, $db);
        $crate::grading::grading_methods!($store, $db);
        $crate::audit_index::audit_index_methods!($store, $db);
        $crate::accounts::account_store_impl!($store, $db);
        $crate::access::access_store_impl!($store, $db);
        $crate::self_service::self_service_store_impl!($store, $db);
        $crate::reident::reident_store_impl!($store, $db);

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                Self::BACKEND
            }

            async fn migrate(&self) -> $crate::Result<()> {
                Self::MIGRATOR
                    .run(&self.pool)
                    .await
                    .map_err(|e| $crate::StoreError::Migration(e.to_string()))
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn setting(&self, key: &str) -> $crate::Result<Option<String>> {
                self.fetch_one_opt($crate::sql::GET_SETTING, key, $crate::sql::setting)
                    .await
            }

            async fn put_setting(
                &self,
                key: &str,
                value: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::PUT_SETTING).bind(key).bind(value);
                self.audited(audit, $crate::sql::Change::Any, q).await
            }

            async fn project_key(
                &self,
                project: &str,
                purpose: &str,
            ) -> $crate::Result<Option<Vec<u8>>> {
                let row = sqlx::query($crate::sql::PROJECT_KEY)
                    .bind(project)
                    .bind(purpose)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                row.as_ref()
                    .map(|r| $crate::sql::blob(r, "project_keys", "wrapped_key"))
                    .transpose()
            }

            async fn insert_project_key(
                &self,
                project: &str,
                purpose: &str,
                wrapped_key: &[u8],
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::INSERT_PROJECT_KEY)
                    .bind(project)
                    .bind(purpose)
                    .bind(wrapped_key)
                    .bind($crate::sql::ts(&chrono::Utc::now()));
                let change = $crate::sql::Change::Insert {
                    table: "project_keys",
                    unique: None,
                    duplicate: format!("{purpose} key of project `{project}`"),
                    missing: format!("project `{project}`"),
                };
                self.audited(audit, change, q).await
            }

            async fn destroy_dataset(
                &self,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                // The wrapped data key is overwritten with nothing: without it the objects, and
                // every copy of them, are ciphertext under a key that no longer exists.
                let change = $crate::sql::Change::One {
                    what: format!("live dataset `{id}`"),
                };
                let (mut w, receipt) = self.begin_audited(audit).await?;
                let done = sqlx::query($crate::sql::DESTROY_DATASET)
                    .bind(Vec::<u8>::new())
                    .bind($crate::sql::ts(&at))
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err(|e| change.error(e))?;
                change.check(done.rows_affected())?;
                // The patient code index of the dataset (GB/T 39725-2020 §10.2 f)) goes with it,
                // in the same transaction: no identity stays mapped to a destroyed dataset.
                sqlx::query($crate::reident::DELETE_INDEX)
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await
                    .map_err($crate::sql::db_err)?;
                w.commit().await?;
                Ok(receipt)
            }

            async fn wrapped_keys(&self) -> $crate::Result<Vec<$crate::WrappedKeyRef>> {
                use $crate::sql::{blob, db_err, text_col};
                use $crate::{KeyOwner, WrappedKeyRef};
                let mut out = Vec::new();
                for (sql, table) in [
                    ($crate::sql::ALL_DATASET_KEYS, "datasets"),
                    ($crate::sql::ALL_QUERY_KEYS, "query_results"),
                ] {
                    let rows = sqlx::query(sql)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    for r in &rows {
                        let id = text_col(r, table, "id")?;
                        out.push(WrappedKeyRef {
                            owner: if table == "datasets" {
                                KeyOwner::Dataset(id)
                            } else {
                                KeyOwner::QueryResult(id)
                            },
                            wrapped: blob(r, table, "wrapped_key")?,
                        });
                    }
                }
                let rows = sqlx::query($crate::sql::ALL_PROJECT_KEYS)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                for r in &rows {
                    out.push(WrappedKeyRef {
                        owner: KeyOwner::ProjectKey {
                            project: text_col(r, "project_keys", "project")?,
                            purpose: text_col(r, "project_keys", "purpose")?,
                        },
                        wrapped: blob(r, "project_keys", "wrapped_key")?,
                    });
                }
                let rows = sqlx::query($crate::sql::SETTINGS_WITH_KEYS)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                for r in &rows {
                    let key = text_col(r, "settings", "key")?;
                    let value = text_col(r, "settings", "value")?;
                    let wrapped = hex::decode(value).map_err(|_| $crate::StoreError::Corrupt {
                        what: format!("setting `{key}`"),
                        reason: "not hexadecimal".into(),
                    })?;
                    out.push(WrappedKeyRef {
                        owner: KeyOwner::Setting(key),
                        wrapped,
                    });
                }
                Ok(out)
            }

            async fn object_keys(&self) -> $crate::Result<Vec<String>> {
                let rows = sqlx::query($crate::sql::ALL_OBJECT_KEYS)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                rows.iter()
                    .map(|r| $crate::sql::text_col(r, "datasets", "object_key"))
                    .collect()
            }

            async fn snapshot_into(&self, path: &std::path::Path) -> $crate::Result<()> {
                self.snapshot_file(path).await
            }

            async fn replace_wrapped_keys(
                &self,
                keys: &[$crate::WrappedKeyRef],
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                use $crate::KeyOwner;
                let (mut w, receipt) = self.begin_audited(audit).await?;
                for k in keys {
                    let q = match &k.owner {
                        KeyOwner::Dataset(id) => sqlx::query($crate::sql::REWRAP_DATASET)
                            .bind(k.wrapped.clone())
                            .bind(id.clone()),
                        KeyOwner::QueryResult(id) => sqlx::query($crate::sql::REWRAP_QUERY)
                            .bind(k.wrapped.clone())
                            .bind(id.clone()),
                        KeyOwner::ProjectKey { project, purpose } => {
                            sqlx::query($crate::sql::REWRAP_PROJECT_KEY)
                                .bind(k.wrapped.clone())
                                .bind(project.clone())
                                .bind(purpose.clone())
                        }
                        KeyOwner::Setting(key) => sqlx::query($crate::sql::REWRAP_SETTING)
                            .bind(hex::encode(&k.wrapped))
                            .bind(key.clone()),
                    };
                    let done = q.execute(&mut *w.tx).await.map_err($crate::sql::db_err)?;
                    if done.rows_affected() != 1 {
                        return Err($crate::StoreError::NotFound {
                            what: format!("the row holding wrapped key {:?}", k.owner),
                        });
                    }
                }
                w.commit().await?;
                Ok(receipt)
            }

            async fn append_audit(
                &self,
                event: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let (w, receipt) = self.begin_audited(event).await?;
                w.commit().await?;
                Ok(receipt)
            }

            async fn audit_entries(
                &self,
                from_seq: i64,
                limit: i64,
            ) -> $crate::Result<Vec<medspace_audit::StoredEntry>> {
                if limit <= 0 {
                    return Ok(Vec::new());
                }
                let rows = sqlx::query($crate::sql::AUDIT_ENTRIES)
                    .bind(from_seq)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                rows.iter().map($crate::sql::audit_entry).collect()
            }

            fn audit_pages(
                self: std::sync::Arc<Self>,
                from_seq: i64,
                page: usize,
            ) -> $crate::AuditPages {
                Self::audit_page_reader(self, from_seq, page)
            }

            async fn append_audit_batch(
                &self,
                events: &[medspace_core::AuditEvent],
            ) -> $crate::Result<Vec<$crate::AuditReceipt>> {
                self.tree_append_audit_batch(events).await
            }

            async fn audit_tree_state(&self) -> $crate::Result<$crate::AuditTreeState> {
                self.tree_audit_tree_state().await
            }

            async fn extend_audit_tree(
                &self,
                from_size: i64,
                nodes: &[$crate::AuditTreeNode],
                index: &[$crate::AuditIndexRow],
                to: &$crate::AuditTreeState,
            ) -> $crate::Result<()> {
                self.tree_extend_audit_tree(from_size, nodes, index, to)
                    .await
            }

            async fn audit_tree_nodes(
                &self,
                coords: &[(u32, u64)],
            ) -> $crate::Result<Vec<Vec<u8>>> {
                self.tree_audit_tree_nodes(coords).await
            }

            async fn put_audit_checkpoint(
                &self,
                checkpoint: &$crate::StoredCheckpoint,
            ) -> $crate::Result<bool> {
                self.tree_put_audit_checkpoint(checkpoint).await
            }

            async fn audit_checkpoints(
                &self,
                from_size: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::StoredCheckpoint>> {
                self.tree_audit_checkpoints(from_size, limit).await
            }

            async fn latest_audit_checkpoint(
                &self,
            ) -> $crate::Result<Option<$crate::StoredCheckpoint>> {
                self.tree_latest_audit_checkpoint().await
            }

            async fn audit_index_seqs(
                &self,
                keys: &[String],
                since: Option<&str>,
                until: Option<&str>,
                after: i64,
                limit: i64,
            ) -> $crate::Result<Vec<i64>> {
                self.index_seqs(keys, since, until, after, limit).await
            }

            async fn audit_entries_at(
                &self,
                seqs: &[i64],
            ) -> $crate::Result<Vec<medspace_audit::StoredEntry>> {
                self.index_entries_at(seqs).await
            }

            async fn index_dataset_subjects(
                &self,
                dataset_id: &str,
                pseudonyms: &[String],
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                self.index_put_dataset_subjects(dataset_id, pseudonyms, audit)
                    .await
            }

            async fn subject_datasets(&self, pseudonym: &str) -> $crate::Result<Vec<String>> {
                self.index_subject_datasets(pseudonym).await
            }

            async fn witness_head(
                &self,
                origin: &str,
            ) -> $crate::Result<Option<$crate::WitnessHead>> {
                self.witness_head_of(origin).await
            }

            async fn advance_witness_head(
                &self,
                expected: Option<(i64, &[u8])>,
                head: &$crate::WitnessHead,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                self.witness_advance_head(expected, head, audit).await
            }

            async fn witness_history(
                &self,
                origin: &str,
            ) -> $crate::Result<Vec<$crate::WitnessHead>> {
                self.witness_history_of(origin).await
            }

            async fn put_audit_cosignature(
                &self,
                cosignature: &$crate::StoredCosignature,
            ) -> $crate::Result<bool> {
                self.witness_put_cosignature(cosignature).await
            }

            async fn audit_cosignatures(
                &self,
                from_size: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::StoredCosignature>> {
                self.witness_cosignatures(from_size, limit).await
            }

            async fn latest_cosigned_size(&self, witness: &str) -> $crate::Result<Option<i64>> {
                self.witness_latest_cosigned(witness).await
            }

            async fn insert_dataset_graded(
                &self,
                meta: &medspace_core::DatasetMeta,
                proposal: &$crate::GradingRecord,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                self.grading_insert_dataset(meta, proposal, audit).await
            }

            async fn append_grading(
                &self,
                record: &$crate::GradingRecord,
                catalog: Option<(&[medspace_core::ColumnClassification], medspace_core::Level)>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                self.grading_append(record, catalog, audit).await
            }

            async fn grading_history(
                &self,
                dataset_id: &str,
            ) -> $crate::Result<Vec<$crate::GradingRecord>> {
                self.grading_rows($crate::grading::history_sql(), Some(dataset_id))
                    .await
            }

            async fn current_grading(
                &self,
                dataset_id: &str,
            ) -> $crate::Result<Option<$crate::GradingRecord>> {
                Ok(self
                    .grading_rows($crate::grading::current_sql(), Some(dataset_id))
                    .await?
                    .pop())
            }

            async fn current_gradings(&self) -> $crate::Result<Vec<$crate::GradingRecord>> {
                self.grading_rows($crate::grading::all_current_sql(), None)
                    .await
            }

            async fn audit_head(&self) -> $crate::Result<Option<$crate::AuditHead>> {
                let row = sqlx::query($crate::sql::SELECT_HEAD)
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                $crate::sql::head(&row)
            }

            async fn insert_user(
                &self,
                user: &medspace_core::User,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = Self::user_insert(user);
                let change = $crate::sql::Change::Insert {
                    table: "users",
                    // The username may be a person's name: it is not repeated in the error.
                    unique: Some(("username", "an account with this username".into())),
                    duplicate: format!("account `{}`", user.id),
                    missing: "referenced row".into(),
                };
                self.audited(audit, change, q).await
            }

            async fn user_by_name(
                &self,
                username: &str,
            ) -> $crate::Result<Option<medspace_core::User>> {
                self.fetch_one_opt(
                    &$crate::sql::user_sql().by_name,
                    username,
                    $crate::sql::user,
                )
                .await
            }

            async fn user_by_id(&self, id: &str) -> $crate::Result<Option<medspace_core::User>> {
                self.fetch_one_opt(&$crate::sql::user_sql().by_id, id, $crate::sql::user)
                    .await
            }

            async fn list_users(&self) -> $crate::Result<Vec<medspace_core::User>> {
                self.fetch_list(&$crate::sql::user_sql().all, None, $crate::sql::user)
                    .await
            }

            async fn set_login_state(
                &self,
                user_id: &str,
                failed_logins: i64,
                locked: bool,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::SET_LOGIN_STATE)
                    .bind(failed_logins)
                    .bind(locked)
                    .bind(user_id);
                self.audited(
                    audit,
                    $crate::sql::Change::One {
                        what: format!("user `{user_id}`"),
                    },
                    q,
                )
                .await
            }

            async fn set_password(
                &self,
                user_id: &str,
                password_hash: &str,
                must_change: bool,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::SET_PASSWORD)
                    .bind(password_hash)
                    .bind(must_change)
                    .bind(user_id);
                self.audited(
                    audit,
                    $crate::sql::Change::One {
                        what: format!("user `{user_id}`"),
                    },
                    q,
                )
                .await
            }

            async fn insert_session(
                &self,
                session: &medspace_core::Session,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::INSERT_SESSION)
                    .bind(&session.token_hash)
                    .bind(&session.user_id)
                    .bind($crate::sql::ts(&session.created_at))
                    .bind($crate::sql::ts(&session.last_seen));
                let change = $crate::sql::Change::Insert {
                    table: "sessions",
                    unique: None,
                    duplicate: "session token".into(),
                    missing: format!("user `{}`", session.user_id),
                };
                self.audited(audit, change, q).await
            }

            async fn session(
                &self,
                token_hash: &str,
            ) -> $crate::Result<Option<medspace_core::Session>> {
                self.fetch_one_opt($crate::sql::SESSION, token_hash, $crate::sql::session)
                    .await
            }

            async fn touch_session(
                &self,
                token_hash: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<()> {
                sqlx::query($crate::sql::TOUCH_SESSION)
                    .bind($crate::sql::ts(&at))
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::sql::db_err)?;
                Ok(())
            }

            async fn delete_session(
                &self,
                token_hash: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::DELETE_SESSION).bind(token_hash);
                self.audited(audit, $crate::sql::Change::Any, q).await
            }

            async fn insert_dataset(
                &self,
                meta: &medspace_core::DatasetMeta,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let lineage = meta
                    .lineage
                    .as_ref()
                    .map(|l| $crate::sql::json("dataset lineage", l))
                    .transpose()?;
                let q = sqlx::query($crate::sql::INSERT_DATASET)
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
                    .bind($crate::sql::ts(&meta.created_at));
                let change = $crate::sql::Change::Insert {
                    table: "datasets",
                    unique: Some(("name", format!("dataset name `{}`", meta.name))),
                    duplicate: format!("dataset `{}`", meta.id),
                    missing: "referenced row".into(),
                };
                self.audited(audit, change, q).await
            }

            async fn dataset(
                &self,
                id: &str,
            ) -> $crate::Result<Option<medspace_core::DatasetMeta>> {
                self.fetch_one_opt(&$crate::sql::dataset_sql().by_id, id, $crate::sql::dataset)
                    .await
            }

            async fn dataset_by_name(
                &self,
                name: &str,
            ) -> $crate::Result<Option<medspace_core::DatasetMeta>> {
                self.fetch_one_opt(
                    &$crate::sql::dataset_sql().by_name,
                    name,
                    $crate::sql::dataset,
                )
                .await
            }

            async fn list_datasets(&self) -> $crate::Result<Vec<medspace_core::DatasetMeta>> {
                self.fetch_list(&$crate::sql::dataset_sql().all, None, $crate::sql::dataset)
                    .await
            }

            async fn insert_application(
                &self,
                app: &medspace_core::Application,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::INSERT_APPLICATION)
                    .bind(&app.id)
                    .bind(&app.applicant_id)
                    .bind(&app.dataset_id)
                    .bind($crate::sql::json("application columns", &app.columns)?)
                    .bind(&app.purpose)
                    .bind($crate::sql::ts(&app.period_start))
                    .bind($crate::sql::ts(&app.period_end))
                    .bind(app.status.as_str())
                    .bind(app.decided_by.as_deref())
                    .bind(app.decision_reason.as_deref())
                    .bind(app.decided_at.as_ref().map($crate::sql::ts))
                    .bind($crate::sql::ts(&app.created_at))
                    .bind($crate::sql::json(
                        "application special diseases",
                        &app.special_diseases,
                    )?);
                let change = $crate::sql::Change::Insert {
                    table: "applications",
                    unique: None,
                    duplicate: format!("application `{}`", app.id),
                    missing: format!(
                        "applicant `{}` or dataset `{}`",
                        app.applicant_id, app.dataset_id
                    ),
                };
                self.audited(audit, change, q).await
            }

            async fn application(
                &self,
                id: &str,
            ) -> $crate::Result<Option<medspace_core::Application>> {
                self.fetch_one_opt(
                    &$crate::sql::application_sql().by_id,
                    id,
                    $crate::sql::application,
                )
                .await
            }

            async fn list_applications(
                &self,
                applicant_id: Option<&str>,
            ) -> $crate::Result<Vec<medspace_core::Application>> {
                let s = $crate::sql::application_sql();
                let sql = if applicant_id.is_some() {
                    &s.by_owner
                } else {
                    &s.all
                };
                self.fetch_list(sql, applicant_id, $crate::sql::application)
                    .await
            }

            async fn decide_application(
                &self,
                id: &str,
                decision: medspace_core::Decision,
                decided_by: &str,
                reason: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                $crate::sql::final_decision(decision)?;
                let q = sqlx::query($crate::sql::DECIDE_APPLICATION)
                    .bind(decision.as_str())
                    .bind(decided_by)
                    .bind(reason)
                    .bind($crate::sql::ts(&at))
                    .bind(id);
                self.audited_transition(
                    audit,
                    q,
                    $crate::sql::APPLICATION_STATUS,
                    id,
                    format!("application `{id}`"),
                    "pending",
                )
                .await
            }

            async fn insert_query(
                &self,
                query: &medspace_core::QueryRecord,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::INSERT_QUERY)
                    .bind(&query.id)
                    .bind(&query.user_id)
                    .bind(&query.application_id)
                    .bind(&query.sql_sha256)
                    .bind(query.row_count)
                    .bind(&query.object_key)
                    .bind(&query.wrapped_key)
                    .bind($crate::sql::ts(&query.created_at));
                let change = $crate::sql::Change::Insert {
                    table: "query_results",
                    unique: None,
                    duplicate: format!("query result `{}`", query.id),
                    missing: format!("user `{}`", query.user_id),
                };
                self.audited(audit, change, q).await
            }

            async fn query_record(
                &self,
                id: &str,
            ) -> $crate::Result<Option<medspace_core::QueryRecord>> {
                self.fetch_one_opt(
                    &$crate::sql::query_sql().by_id,
                    id,
                    $crate::sql::query_record,
                )
                .await
            }

            async fn insert_export(
                &self,
                export: &medspace_core::ExportRequest,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::INSERT_EXPORT)
                    .bind(&export.id)
                    .bind(&export.requester_id)
                    .bind(&export.query_id)
                    .bind(&export.justification)
                    .bind(export.status.as_str())
                    .bind(export.decided_by.as_deref())
                    .bind(export.decision_reason.as_deref())
                    .bind(export.decided_at.as_ref().map($crate::sql::ts))
                    .bind(export.downloads)
                    .bind($crate::sql::ts(&export.created_at));
                let change = $crate::sql::Change::Insert {
                    table: "exports",
                    unique: None,
                    duplicate: format!("export `{}`", export.id),
                    missing: format!(
                        "requester `{}` or query result `{}`",
                        export.requester_id, export.query_id
                    ),
                };
                self.audited(audit, change, q).await
            }

            async fn export_request(
                &self,
                id: &str,
            ) -> $crate::Result<Option<medspace_core::ExportRequest>> {
                self.fetch_one_opt(&$crate::sql::export_sql().by_id, id, $crate::sql::export)
                    .await
            }

            async fn list_exports(
                &self,
                requester_id: Option<&str>,
            ) -> $crate::Result<Vec<medspace_core::ExportRequest>> {
                let s = $crate::sql::export_sql();
                let sql = if requester_id.is_some() {
                    &s.by_owner
                } else {
                    &s.all
                };
                self.fetch_list(sql, requester_id, $crate::sql::export)
                    .await
            }

            async fn decide_export(
                &self,
                id: &str,
                decision: medspace_core::Decision,
                decided_by: &str,
                reason: &str,
                at: chrono::DateTime<chrono::Utc>,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                $crate::sql::final_decision(decision)?;
                let q = sqlx::query($crate::sql::DECIDE_EXPORT)
                    .bind(decision.as_str())
                    .bind(decided_by)
                    .bind(reason)
                    .bind($crate::sql::ts(&at))
                    .bind(id);
                self.audited_transition(
                    audit,
                    q,
                    $crate::sql::EXPORT_STATUS,
                    id,
                    format!("export `{id}`"),
                    "pending",
                )
                .await
            }

            async fn record_export_download(
                &self,
                id: &str,
                audit: &medspace_core::AuditEvent,
            ) -> $crate::Result<$crate::AuditReceipt> {
                let q = sqlx::query($crate::sql::COUNT_DOWNLOAD).bind(id);
                self.audited_transition(
                    audit,
                    q,
                    $crate::sql::EXPORT_STATUS,
                    id,
                    format!("export `{id}`"),
                    "approved",
                )
                .await
            }
        }
    };
}
pub(crate) use sql_store;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_are_fixed_width_exact_and_sort_chronologically() {
        let a = Utc.timestamp_opt(1_700_000_000, 5).single().unwrap();
        let b = Utc
            .timestamp_opt(1_700_000_000, 40_000_000)
            .single()
            .unwrap();
        let c = Utc.timestamp_opt(1_700_000_001, 0).single().unwrap();
        let (sa, sb, sc) = (ts(&a), ts(&b), ts(&c));
        assert_eq!(sa, "2023-11-14T22:13:20.000000005Z");
        assert_eq!(sa.len(), sc.len());
        assert!(sa < sb && sb < sc);
        let back = DateTime::parse_from_rfc3339(&sa)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(back, a);
    }

    #[test]
    fn change_maps_empty_updates_to_not_found() {
        let one = Change::One {
            what: "user `u-1`".into(),
        };
        assert!(matches!(one.check(0), Err(StoreError::NotFound { what }) if what == "user `u-1`"));
        assert!(one.check(1).is_ok());
        assert!(Change::Any.check(0).is_ok());
        assert!(matches!(
            final_decision(Decision::Pending),
            Err(StoreError::Conflict(_))
        ));
        assert!(final_decision(Decision::Rejected).is_ok());
    }

    #[test]
    fn lookups_use_numbered_parameters_and_stable_order() {
        let s = application_sql();
        assert!(s.by_id.ends_with("FROM applications WHERE id = $1"));
        assert!(s
            .by_owner
            .ends_with("WHERE applicant_id = $1 ORDER BY created_at, id"));
        assert!(dataset_sql()
            .by_name
            .ends_with("FROM datasets WHERE name = $1"));
    }
}
