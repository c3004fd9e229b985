//! Searching the audit log and answering a data subject's disclosure history.
//!
//! - T/CI 857-2024 7.2.6 a)–c): audit records of who did what to which data, why and with what
//!   result, searchable by time, actor, action, dataset, application and outcome, and exportable as
//!   FHIR R4 `AuditEvent` resources.
//! - GB/T 39725-2020 §7 g): an account of every use or disclosure of a subject's data over the last
//!   six years. Datasets are indexed by the keyed pseudonyms of the subject identifiers they hold
//!   (HMAC-SHA-256 or HMAC-SM3 under a node key; the identifier is never stored or logged); the
//!   history is every entry about those datasets, their derivatives, or the subject directly, each
//!   with an inclusion proof against a signed checkpoint.
//!
//! The index is derived data; nothing returned rests on it alone: each entry is re-read from the
//! log, re-checked against the filter, and its text is checked against its leaf in the Merkle tree.

use std::collections::{BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use medspace_audit::{AuditEntry, StoredEntry};
use medspace_core::{ActionKind, EntityKind, EntityRef, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{Action, Caller};
use crate::error::{Result, ServiceError};
use crate::node::Node;
use crate::transparency::EntryProof;

/// How far back a disclosure history reaches (GB/T 39725-2020 §7 g): six years.
pub const DISCLOSURE_YEARS: i64 = 6;
/// Largest page of events one call returns.
pub const MAX_EVENTS: i64 = 1000;
/// Most entries one subject history returns.
pub const MAX_HISTORY: i64 = 10_000;

/// Filters of `GET /api/v1/audit/events`; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventFilter {
    /// Entries at or after this time.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Account id (or `system`, `anonymous`).
    #[serde(default)]
    pub actor: Option<String>,
    /// Dotted action name.
    #[serde(default)]
    pub action: Option<String>,
    /// Dataset id among the entry's entities.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Application id among the entry's entities.
    #[serde(default)]
    pub application: Option<String>,
    /// Outcome.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Only entries after this sequence number (paging).
    #[serde(default)]
    pub after: Option<i64>,
    /// At most this many (default 100, at most [`MAX_EVENTS`]).
    #[serde(default)]
    pub limit: Option<i64>,
}

impl EventFilter {
    /// The index keys to look up: the most selective given filter (entries are re-checked against
    /// all of them afterwards).
    fn index_keys(&self) -> Vec<String> {
        if let Some(d) = &self.dataset {
            return vec![format!("dataset:{d}")];
        }
        if let Some(a) = &self.application {
            return vec![format!("application:{a}")];
        }
        if let Some(a) = &self.actor {
            return vec![format!("actor:{a}")];
        }
        if let Some(a) = &self.action {
            return vec![format!("action:{a}")];
        }
        Vec::new()
    }

    /// Whether an entry satisfies every filter.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        let has = |kind: EntityKind, id: &str| {
            entry
                .context
                .as_ref()
                .is_some_and(|c| c.ids(kind).any(|x| x == id))
        };
        self.since.is_none_or(|t| entry.timestamp >= t)
            && self.until.is_none_or(|t| entry.timestamp < t)
            && self.actor.as_ref().is_none_or(|a| &entry.actor == a)
            && self.action.as_ref().is_none_or(|a| &entry.action == a)
            && self.outcome.is_none_or(|o| entry.outcome == o)
            && self
                .dataset
                .as_ref()
                .is_none_or(|d| has(EntityKind::Dataset, d))
            && self
                .application
                .as_ref()
                .is_none_or(|a| has(EntityKind::Application, a))
    }
}

/// Parses a stored entry, naming it when it is not a valid entry.
fn parse(stored: &StoredEntry) -> Result<AuditEntry> {
    serde_json::from_str(&stored.entry).map_err(|e| {
        ServiceError::Internal(format!(
            "audit entry {} is not a valid entry (line {}, column {}); run `medspace audit verify`",
            stored.seq,
            e.line(),
            e.column()
        ))
    })
}

/// What an entry means for a data subject whose data it touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisclosureCategory {
    /// The data was collected into the node.
    Collection,
    /// The data was used inside the node (sandbox query, de-identification).
    Use,
    /// The data, or a result computed from it, left the node (download, transfer).
    Disclosure,
    /// The data was destroyed.
    Destruction,
    /// Approvals, grading, catalogue and other management of the data.
    Management,
}

impl DisclosureCategory {
    /// The category of an action.
    pub fn of(action: &str) -> Self {
        let verb = action.rsplit('.').next().unwrap_or(action);
        match verb {
            "ingest" => Self::Collection,
            "download" | "transfer" | "share" | "send" => Self::Disclosure,
            "query" | "deidentify" | "execute" | "read" => Self::Use,
            "destroy" => Self::Destruction,
            _ => Self::Management,
        }
    }
}

/// One entry of a subject's history, with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// Entry sequence number.
    pub seq: i64,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// Who (account id).
    pub actor: String,
    /// The actor's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Dotted action name.
    pub action: String,
    /// FHIR action kind.
    pub kind: ActionKind,
    /// What the entry means for the subject.
    pub category: DisclosureCategory,
    /// Outcome.
    pub outcome: Outcome,
    /// The subject's datasets (or derivatives) the entry is about.
    pub datasets: Vec<String>,
    /// Stated purpose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The approval (application) it rested on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Inclusion proof against [`SubjectHistory::checkpoint`].
    #[serde(flatten)]
    pub proof: EntryProof,
}

/// Every use or disclosure of one data subject's data over the last six years.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubjectHistory {
    /// The subject's keyed pseudonyms (one per identifier given).
    pub pseudonyms: Vec<String>,
    /// Datasets holding the subject, and their derivatives.
    pub datasets: Vec<String>,
    /// Start of the period.
    pub since: DateTime<Utc>,
    /// Entries, oldest first.
    pub entries: Vec<HistoryEntry>,
    /// Tree size the proofs are for.
    #[serde(rename = "treeSize")]
    pub tree_size: u64,
    /// Root at that size, base64.
    pub root: String,
    /// The signed checkpoint of that size.
    pub checkpoint: String,
}

/// Normal form of a subject identifier before keyed hashing: no whitespace, ASCII upper case (an
/// ID number's check character `x` and `X` are the same subject).
pub fn normalize_identifier(identifier: &str) -> String {
    identifier
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Keyed pseudonyms of data subjects: `sp:` and the hex HMAC (SHA-256 or SM3 by profile) of the
/// normalised identifier under the node's subject-index key.
#[derive(Debug)]
pub struct SubjectPseudonymizer {
    key: medspace_crypto::SecretKey,
    profile: medspace_crypto::CryptoProfile,
}

impl SubjectPseudonymizer {
    /// A pseudonymizer with this key.
    pub fn new(key: medspace_crypto::SecretKey, profile: medspace_crypto::CryptoProfile) -> Self {
        SubjectPseudonymizer { key, profile }
    }

    /// The pseudonym of an identifier; `None` for an empty one.
    pub fn pseudonym(&self, identifier: &str) -> Option<String> {
        let norm = normalize_identifier(identifier);
        if norm.is_empty() {
            return None;
        }
        let mut data = b"medspace/subject/v1\0".to_vec();
        data.extend_from_slice(norm.as_bytes());
        Some(format!(
            "sp:{}",
            hex::encode(self.profile.mac(&self.key, &data))
        ))
    }
}

impl Node {
    /// The node's subject pseudonymizer (its key is created, wrapped and audited on first use).
    pub async fn subject_pseudonymizer(&self) -> Result<SubjectPseudonymizer> {
        Ok(SubjectPseudonymizer::new(
            self.project_key("node", "subject-index").await?,
            self.profile,
        ))
    }

    /// Audit entries matching `filter`, oldest first. Auditors only; the search is itself audited
    /// before anything is returned.
    pub async fn audit_events(
        &self,
        caller: &Caller,
        filter: &EventFilter,
    ) -> Result<Vec<AuditEntry>> {
        self.require(caller, Action::ReadAudit).await?;
        // The index covers the integrated entries; integrate what was appended since.
        self.integrate_audit().await?;
        let limit = filter.limit.unwrap_or(100).clamp(1, MAX_EVENTS);
        let keys = filter.index_keys();
        let since = filter.since.as_ref().map(medspace_audit::index_time);
        let until = filter.until.as_ref().map(medspace_audit::index_time);
        let mut after = filter.after.unwrap_or(0);
        let mut out = Vec::new();
        // Later filters can drop entries the index returned; read on until the page is full.
        loop {
            let seqs = self
                .store
                .audit_index_seqs(&keys, since.as_deref(), until.as_deref(), after, limit)
                .await?;
            let Some(&last) = seqs.last() else { break };
            after = last;
            for stored in self.store.audit_entries_at(&seqs).await? {
                let entry = parse(&stored)?;
                if filter.matches(&entry) && (out.len() as i64) < limit {
                    out.push(entry);
                }
            }
            if out.len() as i64 >= limit || (seqs.len() as i64) < limit {
                break;
            }
        }
        self.audit(
            caller
                .event("audit.events", "audit-log", Outcome::Success)
                .with_detail(json!({
                    "filter": filter_detail(filter),
                    "returned": out.len(),
                })),
        )
        .await?;
        Ok(out)
    }

    /// Every use or disclosure over the last six years of the data of the subject with these
    /// identifiers (ID number, patient number …), with inclusion proofs. Auditors only (a patient's
    /// own request is answered through them); the query is itself audited, naming the subject by
    /// pseudonym only, before anything is returned.
    pub async fn subject_history(
        &self,
        caller: &Caller,
        identifiers: &[String],
    ) -> Result<SubjectHistory> {
        self.require(caller, Action::ReadAudit).await?;
        let pseudonymizer = self.subject_pseudonymizer().await?;
        let pseudonyms: Vec<String> = identifiers
            .iter()
            .filter_map(|i| pseudonymizer.pseudonym(i))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if pseudonyms.is_empty() {
            return Err(ServiceError::BadRequest(
                "identifiers: expected at least one non-empty subject identifier".into(),
            ));
        }
        self.subject_history_of(caller, pseudonyms).await
    }

    /// The history of the subject with these pseudonyms (the caller's right to it is checked by
    /// the callers: auditors, or the patient or guardian themself).
    pub(crate) async fn subject_history_of(
        &self,
        caller: &Caller,
        pseudonyms: Vec<String>,
    ) -> Result<SubjectHistory> {
        let mut direct = BTreeSet::new();
        for p in &pseudonyms {
            direct.extend(self.store.subject_datasets(p).await?);
        }
        let datasets = self.with_derivatives(direct).await?;

        let since = Utc::now() - Duration::days(365 * DISCLOSURE_YEARS + DISCLOSURE_YEARS / 4 + 1);
        let mut keys: Vec<String> = pseudonyms.iter().map(|p| format!("subject:{p}")).collect();
        keys.extend(datasets.iter().map(|d| format!("dataset:{d}")));

        // Audited first: the history includes the request for it.
        let mut event = caller.event("audit.subject_history", "audit-log", Outcome::Success);
        event.context_mut().entities.extend(
            pseudonyms
                .iter()
                .map(|p| EntityRef::new(EntityKind::Subject, p.clone())),
        );
        self.audit(event.with_detail(json!({"datasets": datasets.len()})))
            .await?;
        self.integrate_audit().await?;

        let seqs = self
            .store
            .audit_index_seqs(
                &keys,
                Some(&medspace_audit::index_time(&since)),
                None,
                0,
                MAX_HISTORY,
            )
            .await?;
        let stored = self.store.audit_entries_at(&seqs).await?;
        let dataset_set: BTreeSet<&str> = datasets.iter().map(String::as_str).collect();
        let pseudonym_set: BTreeSet<&str> = pseudonyms.iter().map(String::as_str).collect();
        let mut kept = Vec::with_capacity(stored.len());
        let mut parsed = Vec::with_capacity(stored.len());
        for s in stored {
            let entry = parse(&s)?;
            let ctx = entry.context.clone().unwrap_or_default();
            let about_subject = ctx
                .ids(EntityKind::Subject)
                .any(|p| pseudonym_set.contains(p));
            let touched: Vec<String> = ctx
                .ids(EntityKind::Dataset)
                .filter(|d| dataset_set.contains(d))
                .map(str::to_string)
                .collect();
            // The index said so; the entry must say so too.
            if (about_subject || !touched.is_empty()) && entry.timestamp >= since {
                parsed.push((entry, ctx, touched));
                kept.push(s);
            }
        }
        let (checkpoint, proofs) = self.audit_inclusion_proofs(&kept).await?;
        let entries = parsed
            .into_iter()
            .zip(proofs)
            .map(|((entry, ctx, touched), proof)| HistoryEntry {
                seq: entry.seq,
                timestamp: entry.timestamp,
                kind: ctx
                    .kind
                    .unwrap_or_else(|| ActionKind::of_action(&entry.action)),
                category: DisclosureCategory::of(&entry.action),
                role: ctx.role,
                purpose: ctx.purpose,
                approval: ctx.approval,
                actor: entry.actor,
                action: entry.action,
                outcome: entry.outcome,
                datasets: touched,
                proof,
            })
            .collect();
        Ok(SubjectHistory {
            pseudonyms,
            datasets,
            since,
            entries,
            tree_size: checkpoint.tree_size,
            root: checkpoint.root,
            checkpoint: checkpoint.note,
        })
    }

    /// `datasets` and every dataset derived from them, transitively (lineage).
    async fn with_derivatives(&self, datasets: BTreeSet<String>) -> Result<Vec<String>> {
        if datasets.is_empty() {
            return Ok(Vec::new());
        }
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for meta in self.store.list_datasets().await? {
            if let Some(lineage) = meta.lineage {
                children.entry(lineage.source_id).or_default().push(meta.id);
            }
        }
        let mut all = datasets.clone();
        let mut queue: VecDeque<String> = datasets.into_iter().collect();
        while let Some(d) = queue.pop_front() {
            for c in children.get(&d).into_iter().flatten() {
                if all.insert(c.clone()) {
                    queue.push_back(c.clone());
                }
            }
        }
        Ok(all.into_iter().collect())
    }

    /// An entry as a FHIR R4 `AuditEvent` resource.
    pub fn fhir_audit_event(&self, entry: &AuditEntry) -> Value {
        fhir_audit_event(&self.config.node_name, entry)
    }

    /// Entries as a FHIR R4 `Bundle` (type `searchset`) of `AuditEvent` resources.
    pub fn fhir_audit_bundle(&self, entries: &[AuditEntry]) -> Value {
        json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": entries.len(),
            "entry": entries
                .iter()
                .map(|e| json!({"resource": self.fhir_audit_event(e)}))
                .collect::<Vec<_>>(),
        })
    }
}

/// The filter as non-personal audit detail.
fn filter_detail(filter: &EventFilter) -> Value {
    serde_json::to_value(filter).unwrap_or(Value::Null)
}

/// An entry as a FHIR R4 `AuditEvent` resource (http://hl7.org/fhir/R4/auditevent.html):
/// `type` and `subtype` name the action, `action` is C/R/U/D/E, `outcome` 0/4/8, the agent carries
/// the account, role and network address, each entity its id, kind and security labels, and
/// `purposeOfEvent` the stated purpose.
pub fn fhir_audit_event(node_name: &str, entry: &AuditEntry) -> Value {
    let ctx = entry.context.clone().unwrap_or_default();
    let kind = ctx
        .kind
        .unwrap_or_else(|| ActionKind::of_action(&entry.action));
    let outcome = match entry.outcome {
        Outcome::Success => "0",
        Outcome::Denied => "4",
        Outcome::Error => "8",
    };
    let mut agent = json!({
        "who": {"identifier": {"system": "urn:medspace:account", "value": entry.actor}},
        "requestor": true,
    });
    if let Some(role) = &ctx.role {
        agent["role"] = json!([{"coding": [{"system": "urn:medspace:role", "code": role}]}]);
    }
    if let Some(address) = &ctx.address {
        // FHIR network type 2: IP address.
        agent["network"] = json!({"address": address, "type": "2"});
    }
    if let Some(org) = &ctx.organisation {
        agent["location"] = json!({"display": org});
    }
    let entities: Vec<Value> = ctx
        .entities
        .iter()
        .map(|e| {
            // audit-entity-type: 1 person, 2 system object.
            let type_code = if e.kind == EntityKind::Subject {
                "1"
            } else {
                "2"
            };
            let mut v = json!({
                "what": {"identifier": {"system": format!("urn:medspace:{}", e.kind.as_str()), "value": e.id}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": type_code},
            });
            if !e.labels.is_empty() {
                v["securityLabel"] = Value::Array(
                    e.labels
                        .iter()
                        .map(|l| json!({"system": "urn:medspace:label", "code": l}))
                        .collect(),
                );
            }
            if !e.columns.is_empty() {
                v["detail"] = Value::Array(
                    e.columns
                        .iter()
                        .map(|c| json!({"type": "column", "valueString": c}))
                        .collect(),
                );
            }
            v
        })
        .collect();
    let mut resource = json!({
        "resourceType": "AuditEvent",
        "id": entry.seq.to_string(),
        "type": {"system": "urn:medspace:audit-action", "code": entry.action.split('.').next().unwrap_or(&entry.action)},
        "subtype": [{"system": "urn:medspace:audit-action", "code": entry.action}],
        "action": serde_json::to_value(kind).unwrap_or(Value::Null),
        "recorded": entry.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "outcome": outcome,
        "agent": [agent],
        "source": {"observer": {"display": node_name}, "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}]},
    });
    if !entities.is_empty() {
        resource["entity"] = Value::Array(entities);
    }
    if let Some(purpose) = &ctx.purpose {
        resource["purposeOfEvent"] = json!([{"text": purpose}]);
    }
    if let Some(approval) = &ctx.approval {
        resource["extension"] = json!([{"url": "urn:medspace:approval", "valueString": approval}]);
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_normalise_before_hashing() {
        assert_eq!(
            normalize_identifier(" 11010519491231002x "),
            "11010519491231002X"
        );
        let p = SubjectPseudonymizer::new(
            medspace_crypto::SecretKey::generate(),
            medspace_crypto::CryptoProfile::International,
        );
        assert_eq!(
            p.pseudonym("11010519491231002x"),
            p.pseudonym("110105 19491231002X")
        );
        assert_ne!(p.pseudonym("A1"), p.pseudonym("A2"));
        assert_eq!(p.pseudonym("  "), None);
        assert!(!p.pseudonym("A1").unwrap().contains("A1"));
    }

    #[test]
    fn categories_follow_the_action() {
        assert_eq!(
            DisclosureCategory::of("export.download"),
            DisclosureCategory::Disclosure
        );
        assert_eq!(
            DisclosureCategory::of("sandbox.query"),
            DisclosureCategory::Use
        );
        assert_eq!(
            DisclosureCategory::of("dataset.ingest"),
            DisclosureCategory::Collection
        );
        assert_eq!(
            DisclosureCategory::of("application.decide"),
            DisclosureCategory::Management
        );
    }
}
