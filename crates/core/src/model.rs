//! Catalog, accounts, applications, exports and audit events.
//!
//! T/CI 857-2024 6.2.2 and 7.2.3 (catalog entry fields), GB/T 39725-2020 §11.4 (applications),
//! Table 5 (export review).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ColumnClassification, Level, Role};

/// Physical type of a column, inferred on ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// Whole numbers that fit in i64 (and have no leading zero: `0101` stays text).
    Integer,
    /// Decimal numbers.
    Float,
    /// Anything else.
    Text,
}

/// One column of a dataset's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// Column name from the header row.
    pub name: String,
    /// Inferred physical type.
    pub data_type: DataType,
}

/// Whether a dataset was ingested as-is or derived by de-identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// Ingested from outside; identifiable.
    Raw,
    /// Produced inside the node by a de-identification policy.
    Deidentified,
}

impl DatasetKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Raw => "raw",
            DatasetKind::Deidentified => "deidentified",
        }
    }
}

/// Where a derived dataset came from (T/CI 857 7.2.5 b flow tracking).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// Source dataset id.
    pub source_id: String,
    /// Source dataset version.
    pub source_version: i64,
    /// SHA-256 (hex) of the de-identification policy text.
    pub policy_hash: String,
    /// Project under whose keys pseudonyms and date shifts were made.
    pub project: String,
}

/// A catalog entry (T/CI 857-2024 6.2.2): what the dataset is, not its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    /// Stable id (`ds-…`).
    pub id: String,
    /// Unique human name.
    pub name: String,
    /// Raw or de-identified.
    pub kind: DatasetKind,
    /// Storage format of the content (`parquet`: encrypted Parquet, see `medspace-columnar`).
    pub format: String,
    /// Owning account or department.
    pub owner: String,
    /// Declared update frequency (`once`, `daily`, `monthly` …).
    pub update_frequency: String,
    /// Columns and their types.
    pub schema: Vec<ColumnSchema>,
    /// Per-column classification from the scanner.
    pub classification: Vec<ColumnClassification>,
    /// Highest column level; governs sandbox output rules.
    pub level: Level,
    /// Number of data rows.
    pub row_count: i64,
    /// Version, starting at 1.
    pub version: i64,
    /// Object key of the encrypted content.
    pub object_key: String,
    /// The data key, wrapped by the master key (opaque bytes, hex in JSON).
    #[serde(with = "hex_bytes")]
    pub wrapped_key: Vec<u8>,
    /// SHA-256 (hex) of the plaintext content, for integrity checks after decryption.
    pub content_sha256: String,
    /// Present on derived datasets.
    pub lineage: Option<Lineage>,
    /// When it entered the catalog.
    pub created_at: DateTime<Utc>,
    /// When its data key was destroyed and its objects deleted (GB/T 39725-2020 §11.4.2.6); a
    /// destroyed dataset stays in the catalog as a record but can never be read again.
    #[serde(default)]
    pub destroyed_at: Option<DateTime<Utc>>,
}

impl DatasetMeta {
    /// Whether the dataset was destroyed.
    pub fn is_destroyed(&self) -> bool {
        self.destroyed_at.is_some()
    }

    /// Classification of a column by name.
    pub fn column_class(&self, name: &str) -> Option<&ColumnClassification> {
        self.classification.iter().find(|c| c.name == name)
    }
}

/// An account (GB/T 39725 Appendix F identity rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Stable id (`u-…`).
    pub id: String,
    /// Unique login name.
    pub username: String,
    /// The account's single role (separation of duties: one role per account).
    pub role: Role,
    /// PHC-format argon2id hash; never leaves the node.
    #[serde(skip_serializing, default)]
    pub password_hash: String,
    /// Must change the one-time password at next login.
    pub must_change_password: bool,
    /// Consecutive failed logins.
    pub failed_logins: i64,
    /// Locked after too many failures.
    pub locked: bool,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A login session; the token itself is only ever stored as its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 (hex) of the bearer token.
    pub token_hash: String,
    /// Account.
    pub user_id: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last request; the session expires after the idle timeout.
    pub last_seen: DateTime<Utc>,
}

/// Lifecycle of a data-use application or export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Waiting for a committee member.
    Pending,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
}

impl Decision {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pending => "pending",
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Decision::Pending),
            "approved" => Some(Decision::Approved),
            "rejected" => Some(Decision::Rejected),
            _ => None,
        }
    }
}

/// A data user's application for columns of a de-identified dataset (GB/T 39725 §11.4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// Stable id (`app-…`).
    pub id: String,
    /// Applying account.
    pub applicant_id: String,
    /// Requested dataset (must be de-identified).
    pub dataset_id: String,
    /// Requested columns.
    pub columns: Vec<String>,
    /// Stated purpose.
    pub purpose: String,
    /// First day of use.
    pub period_start: DateTime<Utc>,
    /// Access ends here.
    pub period_end: DateTime<Utc>,
    /// State.
    pub status: Decision,
    /// Deciding committee member.
    pub decided_by: Option<String>,
    /// Reason given with the decision.
    pub decision_reason: Option<String>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// When filed.
    pub created_at: DateTime<Utc>,
    /// Special-disease classes (GB/T 39725-2020 §11.1.2.3) whose rows the application asks to
    /// include; rows of any other special disease are withheld from the sandbox (§6.2 e)).
    #[serde(default)]
    pub special_diseases: Vec<String>,
}

impl Application {
    /// True when approved and `now` lies within the period.
    pub fn grants_access_at(&self, now: DateTime<Utc>) -> bool {
        self.status == Decision::Approved && self.period_start <= now && now < self.period_end
    }
}

/// A sandbox query result kept inside the node (encrypted) until an export is approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRecord {
    /// Stable id (`q-…`).
    pub id: String,
    /// Who ran it.
    pub user_id: String,
    /// Under which application.
    pub application_id: String,
    /// SHA-256 (hex) of the SQL text.
    pub sql_sha256: String,
    /// Rows in the result.
    pub row_count: i64,
    /// Object key of the encrypted result (CSV).
    pub object_key: String,
    /// Wrapped data key of the result object.
    #[serde(with = "hex_bytes")]
    pub wrapped_key: Vec<u8>,
    /// When it ran.
    pub created_at: DateTime<Utc>,
}

/// A request to take a query result out of the node (GB/T 39725 Table 5: export review).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRequest {
    /// Stable id (`exp-…`).
    pub id: String,
    /// Requesting account.
    pub requester_id: String,
    /// The query result to release.
    pub query_id: String,
    /// Why it must leave.
    pub justification: String,
    /// State.
    pub status: Decision,
    /// Deciding committee member.
    pub decided_by: Option<String>,
    /// Reason given.
    pub decision_reason: Option<String>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Times downloaded after approval.
    pub downloads: i64,
    /// When filed.
    pub created_at: DateTime<Utc>,
}

/// Result of an audited operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed and done.
    Success,
    /// Refused by policy.
    Denied,
    /// Failed on bad input or an internal error.
    Error,
}

/// An event to append to the audit log. Never carries personal data: identifiers of accounts,
/// datasets and requests only, plus hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Account id or `system` / `anonymous`.
    pub actor: String,
    /// Dotted action name (`dataset.ingest`, `sandbox.query` …).
    pub action: String,
    /// What was acted on (dataset id, application id …).
    pub target: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Further structured, non-personal detail.
    pub detail: serde_json::Value,
    /// Who (role, department, organisation, address), which entities and why; completed from
    /// the action and target when the entry is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<crate::AuditContext>,
}

impl AuditEvent {
    /// A new event with empty detail.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        AuditEvent {
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome,
            detail: serde_json::Value::Object(Default::default()),
            context: None,
        }
    }

    /// Sets the context (agent, entities, purpose, approval).
    pub fn with_context(mut self, context: crate::AuditContext) -> Self {
        self.context = Some(context);
        self
    }

    /// The context, created empty when absent, for adding to it.
    pub fn context_mut(&mut self) -> &mut crate::AuditContext {
        self.context.get_or_insert_with(Default::default)
    }

    /// Adds detail.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Serde helper: `Vec<u8>` as lowercase hex.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize as hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&out)
    }

    /// Deserialize from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("hex string has odd length"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                s.get(i..i + 2)
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("invalid hex digit"))
            })
            .collect()
    }
}
