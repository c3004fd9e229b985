//! Metadata store of a medspace node: catalog, accounts, sessions, applications, query results,
//! export requests, settings and the audit log.
//!
//! One interface ([`Store`]), two real backends: SQLite (the embedded default, one file in the node
//! directory, WAL mode) and PostgreSQL. Versioned migrations for each live in `migrations/`.
//! [`open_store`] picks the backend from a `sqlite:` or `postgres://` URL. Both backends run the
//! same SQL text, written once (module `sql` explains why as a macro over two typed pools rather
//! than sqlx's `Any` driver); they differ only in how writers are serialised.
//!
//! Fail closed (T/CI 857-2024 7.2.6; DMS 7.2.3.4): every state-changing method takes the
//! [`AuditEvent`] describing the change and appends it to the hash-chained audit log *in the same
//! transaction* as the change, so a change is never stored without its audit entry and an audit
//! failure aborts the change.
#![deny(missing_docs)]

mod access;
mod accounts;
mod audit_index;
mod grading;
pub mod group;
mod postgres;
mod reident;
mod self_service;
mod sql;
mod sqlite;
mod tree;
pub use tree::audit_index_rows;
mod url;
mod witness;

pub use access::{
    AccessRequestRow, AccessStore, AlertRow, ConsentRow, DualApprovalRow, PatientRecordRow,
    PolicyVersion,
};
pub use accounts::{
    AccountState, AccountStore, ApiToken, CertificateAccount, LoginChallenge, TotpFactor,
};
pub use grading::GradingRecord;
pub use group::AuditCommitter;
pub use postgres::PgStore;
pub use reident::{CodeIndexRow, ReidRequestRow, ReidentificationStore};
pub use self_service::{PatientAccountRow, SelfServiceStore, SmsCodeRow, SubjectRequestRow};
pub use sqlite::{detach_snapshot, SnapshotInfo, SqliteStore};
pub use url::{open_store, redact_url};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medspace_audit::StoredEntry;
use medspace_core::{
    Application, AuditEvent, DatasetMeta, Decision, ExportRequest, QueryRecord, Session, User,
};

/// Which database holds the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// What an audited write returns: where its audit entry landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReceipt {
    /// Sequence number of the audit entry.
    pub seq: i64,
    /// Hash of the audit entry (hex).
    pub hash: String,
}

/// The recorded end of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Last sequence number.
    pub seq: i64,
    /// Last entry hash (hex).
    pub hash: String,
}

/// How far the audit log has been integrated into its Merkle tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditTreeState {
    /// Leaves integrated: entries `1..=size` are in the tree.
    pub size: i64,
    /// Tree hash algorithm (`sha256`, `sm3`), fixed by the first integration.
    pub alg: Option<String>,
    /// The right border: hashes of the complete subtrees, largest first (one per set bit of `size`).
    pub border: Vec<Vec<u8>>,
}

/// One row of the audit search index: an entry's key (`actor:…`, `action:…`, `dataset:…`,
/// `application:…`, `subject:…`), sequence number and time (RFC 3339, microseconds, UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditIndexRow {
    /// Key.
    pub key: String,
    /// Entry sequence number.
    pub seq: i64,
    /// Entry time.
    pub ts: String,
}

/// One complete-subtree hash of the audit tree: leaves `[index << level, (index + 1) << level)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTreeNode {
    /// Height (0 = leaf).
    pub level: u32,
    /// Position at that height.
    pub index: u64,
    /// The hash.
    pub hash: Vec<u8>,
}

/// A signed checkpoint of the audit tree as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size it commits to.
    pub size: i64,
    /// Root hash at that size.
    pub root: Vec<u8>,
    /// The signed note (C2SP tlog-checkpoint body and signature lines).
    pub note: String,
    /// When it was signed.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The last checkpoint this node, as a witness, cosigned for a log (C2SP tlog-witness state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessHead {
    /// The log's checkpoint origin.
    pub origin: String,
    /// Tree size of the checkpoint.
    pub size: i64,
    /// Its root hash.
    pub root: Vec<u8>,
    /// When it was cosigned.
    pub updated_at: DateTime<Utc>,
}

/// A witness's cosignature of one of this node's checkpoints, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCosignature {
    /// Tree size of the cosigned checkpoint.
    pub size: i64,
    /// The witness's key name.
    pub witness: String,
    /// The signed-note signature line the witness returned (`— name base64`).
    pub signature: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
}

/// Store failures. Messages name tables and ids, never personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A unique name or id is taken.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What was duplicated (`dataset name \`x\``).
        what: String,
    },
    /// The row to change does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was missing.
        what: String,
    },
    /// The change conflicts with the row's state (deciding an already decided application …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored row could not be decoded.
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt {
        /// Which row.
        what: String,
        /// Why.
        reason: String,
    },
    /// The audit entry could not be built or appended; the change was not made.
    #[error("audit append failed, change not made: {0}")]
    Audit(String),
    /// The connection URL is not understood.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The backend cannot do this (for example a file snapshot of a PostgreSQL database).
    #[error("not supported by this backend: {0}")]
    Unsupported(String),
}

/// Which row holds a wrapped key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    /// `datasets.wrapped_key` of this dataset id.
    Dataset(String),
    /// `query_results.wrapped_key` of this result id.
    QueryResult(String),
    /// `project_keys.wrapped_key` of this (project, purpose).
    ProjectKey {
        /// Project.
        project: String,
        /// Purpose (`pseudonym`, `date-shift` …).
        purpose: String,
    },
    /// A setting holding a hex-encoded wrapped key (the master-key check, the node identity key).
    Setting(String),
}

/// A wrapped key and the row it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKeyRef {
    /// Where it is stored.
    pub owner: KeyOwner,
    /// The wrapped key bytes.
    pub wrapped: Vec<u8>,
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Pages of audit entries read ahead by [`Store::audit_pages`].
pub type AuditPages = tokio::sync::mpsc::Receiver<Result<Vec<StoredEntry>>>;

/// The metadata store. All methods are safe to call concurrently.
#[async_trait]
///
/// Account security state (lockout, password history, second factor, API tokens, certificate
/// mappings) is the [`AccountStore`] supertrait; policies, account attributes, patient records and
/// consents the [`AccessStore`] supertrait; the patient code index and re-identification requests
/// the [`ReidentificationStore`] supertrait.
pub trait Store:
    AccountStore
    + AccessStore
    + SelfServiceStore
    + ReidentificationStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;

    /// Closes every connection cleanly (SQLite then checkpoints its write-ahead log into the
    /// database file). Later calls fail.
    async fn close(&self);

    // ---- settings (node id, crypto profile, key ids …) ----
    /// Reads a setting.
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    /// Writes a setting.
    async fn put_setting(&self, key: &str, value: &str, audit: &AuditEvent)
        -> Result<AuditReceipt>;

    /// Crypto-shreds a dataset: its wrapped data key is erased and `destroyed_at` set, with the
    /// audit entry (carrying the destruction certificate) in the same transaction. `NotFound` if
    /// no live dataset has this id.
    async fn destroy_dataset(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;

    // ---- keys ----
    /// A per-project key, wrapped by the master key.
    async fn project_key(&self, project: &str, purpose: &str) -> Result<Option<Vec<u8>>>;
    /// Stores a per-project key; `AlreadyExists` when another writer stored one first.
    async fn insert_project_key(
        &self,
        project: &str,
        purpose: &str,
        wrapped_key: &[u8],
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Every wrapped key the store holds (datasets, query results, project keys, the master-key
    /// check), for rotation and for checking which master-key versions are still in use.
    async fn wrapped_keys(&self) -> Result<Vec<WrappedKeyRef>>;
    /// Every object key the metadata references (live datasets and query results): what a backup
    /// must copy.
    async fn object_keys(&self) -> Result<Vec<String>>;
    /// Writes a consistent copy of the whole database to `path` (a new file) while the store
    /// keeps serving. SQLite only (`VACUUM INTO`); PostgreSQL deployments back up with PostgreSQL's
    /// own point-in-time recovery and get [`StoreError::Unsupported`].
    async fn snapshot_into(&self, path: &std::path::Path) -> Result<()>;
    /// Replaces wrapped keys in one transaction with its audit entry: all or none. Each reference
    /// must name an existing row.
    async fn replace_wrapped_keys(
        &self,
        keys: &[WrappedKeyRef],
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;

    // ---- audit ----
    /// Appends an event on its own (reads, denials, logins).
    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditReceipt>;
    /// Entries with `seq >= from_seq`, in order, at most `limit`.
    async fn audit_entries(&self, from_seq: i64, limit: i64) -> Result<Vec<StoredEntry>>;
    /// Every entry with `seq >= from_seq`, in order, in pages of at most `page` entries that are
    /// read ahead on another thread or task while the caller works on the previous ones (at most
    /// two pages wait unread). For reading the whole log, as verification does: the embedded
    /// backend reads the file directly in one read transaction, so the pages are one consistent
    /// snapshot; PostgreSQL pages with [`Store::audit_entries`]. A read error ends the pages with
    /// that error.
    fn audit_pages(self: std::sync::Arc<Self>, from_seq: i64, page: usize) -> AuditPages;
    /// The recorded head, if any entry exists.
    async fn audit_head(&self) -> Result<Option<AuditHead>>;
    /// Appends several events in one transaction (group commit): all are durable when it returns
    /// `Ok`, none when it fails. Receipts are in the order of `events`.
    async fn append_audit_batch(&self, events: &[AuditEvent]) -> Result<Vec<AuditReceipt>>;

    // ---- audit Merkle tree (T/CI 857-2024 7.2.6) ----
    /// The integrated size, algorithm and border of the audit tree.
    async fn audit_tree_state(&self) -> Result<AuditTreeState>;
    /// Adds the complete-subtree hashes of newly integrated leaves and moves the state from
    /// `from_size` to `to`, in one transaction. `Conflict` if the state is no longer at `from_size`
    /// (another integrator got there first) or the algorithm differs; nothing is written then.
    /// `index` holds the search-index rows of the newly integrated entries, written in the same
    /// transaction.
    async fn extend_audit_tree(
        &self,
        from_size: i64,
        nodes: &[AuditTreeNode],
        index: &[AuditIndexRow],
        to: &AuditTreeState,
    ) -> Result<()>;
    /// The stored hashes at `coords` (`(level, index)`), in that order; `NotFound` names the first
    /// one missing.
    async fn audit_tree_nodes(&self, coords: &[(u32, u64)]) -> Result<Vec<Vec<u8>>>;
    /// Stores a signed checkpoint; `false` when one of that size already exists (kept unchanged).
    async fn put_audit_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<bool>;
    /// Checkpoints with `size >= from_size`, by size, at most `limit`.
    async fn audit_checkpoints(&self, from_size: i64, limit: i64) -> Result<Vec<StoredCheckpoint>>;
    /// The checkpoint of the largest tree size.
    async fn latest_audit_checkpoint(&self) -> Result<Option<StoredCheckpoint>>;

    // ---- audit indexes (T/CI 857-2024 7.2.6; GB/T 39725-2020 §7 g)) ----
    /// Sequence numbers of entries indexed under any of `keys` (empty: under any actor, i.e. all
    /// entries), with index time in `[since, until)` (RFC 3339 texts as written by
    /// `medspace_audit::index_time`) and `seq > after`, ascending, at most `limit`.
    async fn audit_index_seqs(
        &self,
        keys: &[String],
        since: Option<&str>,
        until: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<i64>>;
    /// The entries with these sequence numbers, by sequence number (missing ones are left out).
    async fn audit_entries_at(&self, seqs: &[i64]) -> Result<Vec<StoredEntry>>;
    /// Records that `dataset_id` holds the subjects with these keyed pseudonyms, with its audit
    /// entry, in one transaction. Rows already present are kept.
    async fn index_dataset_subjects(
        &self,
        dataset_id: &str,
        pseudonyms: &[String],
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Datasets recorded as holding the subject with this pseudonym.
    async fn subject_datasets(&self, pseudonym: &str) -> Result<Vec<String>>;

    // ---- witnessing (C2SP tlog-witness; T/CI 857-2024 7.2.1 a), 7.2.9 e)) ----
    /// The last head this node cosigned for `origin`, as a witness.
    async fn witness_head(&self, origin: &str) -> Result<Option<WitnessHead>>;
    /// Moves the head of `head.origin` from `expected` (`None`: never cosigned) to `head`, appends
    /// it to the history and appends `audit`, in one transaction. `Conflict` (nothing written) if
    /// the stored head is not `expected` or `head` is smaller; the schema refuses a head that moves
    /// back or changes its root at the same size.
    async fn advance_witness_head(
        &self,
        expected: Option<(i64, &[u8])>,
        head: &WitnessHead,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Every head this node cosigned for `origin`, by size.
    async fn witness_history(&self, origin: &str) -> Result<Vec<WitnessHead>>;
    /// Stores a witness's cosignature of a checkpoint of this node; `false` when that witness's
    /// cosignature of that size is already stored (kept unchanged).
    async fn put_audit_cosignature(&self, cosignature: &StoredCosignature) -> Result<bool>;
    /// Stored cosignatures with `size >= from_size`, by size then witness, at most `limit`.
    async fn audit_cosignatures(
        &self,
        from_size: i64,
        limit: i64,
    ) -> Result<Vec<StoredCosignature>>;
    /// The largest checkpoint size `witness` cosigned, if any.
    async fn latest_cosigned_size(&self, witness: &str) -> Result<Option<i64>>;

    // ---- accounts ----
    /// Creates an account; the username must be unique.
    async fn insert_user(&self, user: &User, audit: &AuditEvent) -> Result<AuditReceipt>;
    /// Account by login name.
    async fn user_by_name(&self, username: &str) -> Result<Option<User>>;
    /// Account by id.
    async fn user_by_id(&self, id: &str) -> Result<Option<User>>;
    /// All accounts.
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Records failed-login count and lock state.
    async fn set_login_state(
        &self,
        user_id: &str,
        failed_logins: i64,
        locked: bool,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Replaces the password hash.
    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        must_change: bool,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;

    // ---- sessions ----
    /// Stores a session (token hash only).
    async fn insert_session(&self, session: &Session, audit: &AuditEvent) -> Result<AuditReceipt>;
    /// Session by token hash.
    async fn session(&self, token_hash: &str) -> Result<Option<Session>>;
    /// Moves `last_seen` forward (not audited: the request it serves is).
    async fn touch_session(&self, token_hash: &str, at: DateTime<Utc>) -> Result<()>;
    /// Ends a session.
    async fn delete_session(&self, token_hash: &str, audit: &AuditEvent) -> Result<AuditReceipt>;

    // ---- catalog ----
    /// Adds a dataset; the name must be unique.
    async fn insert_dataset(&self, meta: &DatasetMeta, audit: &AuditEvent) -> Result<AuditReceipt>;
    /// Dataset by id.
    async fn dataset(&self, id: &str) -> Result<Option<DatasetMeta>>;
    /// Dataset by name.
    async fn dataset_by_name(&self, name: &str) -> Result<Option<DatasetMeta>>;
    /// All datasets, oldest first.
    async fn list_datasets(&self) -> Result<Vec<DatasetMeta>>;

    // ---- gradings (GB/T 39725-2020 §6, §9.2 a) 8); T/CI 857-2024 6.2; module `grading`) ----
    /// Adds a dataset together with step 1 of its grading (the scanner's proposal), in one
    /// transaction with `audit`.
    async fn insert_dataset_graded(
        &self,
        meta: &DatasetMeta,
        proposal: &GradingRecord,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Appends a step to a dataset's grading; `Conflict` unless `record.seq` is the next step.
    /// With `catalog`, also sets the dataset's catalog classification and level (an approval).
    async fn append_grading(
        &self,
        record: &GradingRecord,
        catalog: Option<(&[medspace_core::ColumnClassification], medspace_core::Level)>,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Every step of a dataset's grading, by seq.
    async fn grading_history(&self, dataset_id: &str) -> Result<Vec<GradingRecord>>;
    /// The latest step of a dataset's grading.
    async fn current_grading(&self, dataset_id: &str) -> Result<Option<GradingRecord>>;
    /// The latest step of every graded dataset, by dataset id.
    async fn current_gradings(&self) -> Result<Vec<GradingRecord>>;

    // ---- applications ----
    /// Files an application.
    async fn insert_application(
        &self,
        app: &Application,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Application by id.
    async fn application(&self, id: &str) -> Result<Option<Application>>;
    /// Applications, optionally only one applicant's, oldest first.
    async fn list_applications(&self, applicant_id: Option<&str>) -> Result<Vec<Application>>;
    /// Decides a pending application; `Conflict` if it is not pending.
    async fn decide_application(
        &self,
        id: &str,
        decision: Decision,
        decided_by: &str,
        reason: &str,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;

    // ---- sandbox results ----
    /// Records a query result kept inside the node.
    async fn insert_query(&self, query: &QueryRecord, audit: &AuditEvent) -> Result<AuditReceipt>;
    /// Query result by id.
    async fn query_record(&self, id: &str) -> Result<Option<QueryRecord>>;

    // ---- exports ----
    /// Files an export request.
    async fn insert_export(
        &self,
        export: &ExportRequest,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Export request by id.
    async fn export_request(&self, id: &str) -> Result<Option<ExportRequest>>;
    /// Export requests, optionally only one requester's, oldest first.
    async fn list_exports(&self, requester_id: Option<&str>) -> Result<Vec<ExportRequest>>;
    /// Decides a pending export request; `Conflict` if it is not pending.
    async fn decide_export(
        &self,
        id: &str,
        decision: Decision,
        decided_by: &str,
        reason: &str,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> Result<AuditReceipt>;
    /// Counts a download of an approved export.
    async fn record_export_download(&self, id: &str, audit: &AuditEvent) -> Result<AuditReceipt>;
}
