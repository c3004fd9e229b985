//! GB/T 39725-2020 §10.2 f)–h): the patient code index and re-identification.
//!
//! f) When a de-identified dataset must stay traceable to its patients, the officer asks for a
//! code index when producing it ([`DeidentifyOptions::code_index`]). For every pseudonymised
//! column the node then keeps, inside its store, one entry per distinct original value: a keyed
//! tag of the pseudonym (the lookup key; the pseudonyms themselves are not listed), the node's
//! subject pseudonym of the row's patient, and the original value sealed (AES-256-GCM or SM4-GCM
//! by profile) under a per-project key that never leaves the node.
//!
//! g) The index key, like the pseudonym and date-shift keys, is derived per project inside the
//! node and is never written into outputs, reports or audit entries.
//!
//! h) Only a re-identification officer (a role of its own, [`Role::ReidentificationOfficer`])
//! may ask to resolve a pseudonym, with a stated reason; a committee member — a second person —
//! approves or rejects; the officer then resolves the approved request once. Every step, and
//! every refused or failed attempt, is in the audit log with the subject's node pseudonym, so the
//! resolution also appears in that patient's disclosure history (§7 g)).
//!
//! [`Role::ReidentificationOfficer`]: medspace_core::Role::ReidentificationOfficer

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use medspace_core::{new_id, DatasetKind, EntityKind, EntityRef, Outcome};
use medspace_crypto::{CryptoProfile, SecretKey};
use medspace_deid::{Action as DeidAction, DeidKeys, DeidPolicy};
use medspace_store::{CodeIndexRow, ReidRequestRow};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::access::{Action, Caller};
use crate::audit_query::SubjectPseudonymizer;
use crate::error::{Result, ServiceError};
use crate::node::Node;

/// Key purpose of the per-project index key.
const INDEX_KEY_PURPOSE: &str = "patient-code-index";
/// Longest pseudonym accepted in a request (FF1 pseudonyms keep the value's length).
const MAX_PSEUDONYM: usize = 256;
/// Longest reason accepted.
const MAX_REASON: usize = 2000;
/// The purpose recorded in audit entries. The officer's and the approver's free-text reasons
/// stay in the request record: free text may name people, and the log holds no personal data.
const PURPOSE: &str = "re-identification (GB/T 39725-2020 §10.2 h))";

/// Options of an in-node de-identification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeidentifyOptions {
    /// Keep a patient code index of the pseudonymised columns (§10.2 f)).
    pub code_index: bool,
}

/// A re-identification request as shown to the officer, the approvers and auditors (no tag, no
/// pseudonym, no identity).
#[derive(Debug, Clone, Serialize)]
pub struct ReidRequest {
    /// Id (`ri-…`).
    pub id: String,
    /// Dataset holding the pseudonym.
    pub dataset_id: String,
    /// Its column.
    pub column: String,
    /// The asking officer.
    pub requester_id: String,
    /// Why.
    pub reason: String,
    /// `pending`, `approved`, `rejected` or `resolved`.
    pub status: String,
    /// Who decided.
    pub approver_id: Option<String>,
    /// The decision's reason.
    pub decision_reason: Option<String>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// When resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Filed.
    pub created_at: DateTime<Utc>,
}

impl From<ReidRequestRow> for ReidRequest {
    fn from(r: ReidRequestRow) -> Self {
        ReidRequest {
            id: r.id,
            dataset_id: r.dataset_id,
            column: r.column_name,
            requester_id: r.requester_id,
            reason: r.reason,
            status: r.status,
            approver_id: r.approver_id,
            decision_reason: r.decision_reason,
            decided_at: r.decided_at,
            resolved_at: r.resolved_at,
            created_at: r.created_at,
        }
    }
}

/// The identity behind a pseudonym, handed to the requesting officer once.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedIdentity {
    /// The request resolved.
    pub request_id: String,
    /// Dataset and column.
    pub dataset_id: String,
    /// Column.
    pub column: String,
    /// The original value (wiped from memory when dropped).
    #[serde(serialize_with = "serialize_secret")]
    pub identity: Zeroizing<String>,
}

fn serialize_secret<S: serde::Serializer>(
    v: &Zeroizing<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

/// The keyed lookup tag of `pseudonym` in `column` (hex).
fn tag(profile: CryptoProfile, key: &SecretKey, column: &str, pseudonym: &str) -> String {
    let mut data = Vec::with_capacity(column.len() + pseudonym.len() + 24);
    data.extend_from_slice(b"medspace/code-index/v1\0");
    data.extend_from_slice(column.as_bytes());
    data.push(0);
    data.extend_from_slice(pseudonym.as_bytes());
    hex::encode(profile.mac(key, &data))
}

/// Associated data binding a sealed identity to its dataset, column and tag.
fn sealed_aad(dataset_id: &str, column: &str, tag: &str) -> Vec<u8> {
    format!("medspace/code-index/v1\0{dataset_id}\0{column}\0{tag}").into_bytes()
}

/// The pseudonymised columns of `policy`, with how each pseudonym is computed.
fn pseudonymised_columns(policy: &DeidPolicy) -> Vec<(String, Option<String>)> {
    policy
        .columns()
        .iter()
        .filter_map(|rule| match &rule.action {
            // `Some(prefix)`: the keyed hex form; `None`: format-preserving FF1.
            DeidAction::Pseudonymize {
                format_preserving: true,
                ..
            } => Some((rule.column.clone(), None)),
            DeidAction::Pseudonymize { prefix, .. } => {
                Some((rule.column.clone(), Some(prefix.clone())))
            }
            _ => None,
        })
        .collect()
}

/// Refuses a code index for a policy that pseudonymises nothing (checked before any data is
/// read).
pub(crate) fn check_indexable(policy: &DeidPolicy) -> Result<()> {
    if pseudonymised_columns(policy).is_empty() {
        return Err(ServiceError::BadRequest(
            "code_index: the policy pseudonymises no column, so there is nothing to index (add \
             `action = \"pseudonymize\"` to the identifier column)"
                .into(),
        ));
    }
    Ok(())
}

/// What building the index needs, moved into the blocking task.
pub(crate) struct IndexInputs {
    pub(crate) dataset_id: String,
    pub(crate) index_key: SecretKey,
    pub(crate) subjects: SubjectPseudonymizer,
    pub(crate) profile: CryptoProfile,
}

/// The index rows of a dataset de-identified under `policy` and `keys`, from the source's CSV
/// text. The subject of a row is the policy's `subject_column` (or, without one, the indexed
/// value itself). Each distinct value is indexed once, with the first row's subject.
pub(crate) fn code_index_rows(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    source_csv: impl std::io::Read,
    inputs: &IndexInputs,
) -> Result<Vec<CodeIndexRow>> {
    check_indexable(policy)?;
    let columns = pseudonymised_columns(policy);
    let mut reader = csv::Reader::from_reader(source_csv);
    let header = reader
        .headers()
        .map_err(|e| ServiceError::Internal(format!("code index: source header: {e}")))?
        .clone();
    let position = |name: &str| header.iter().position(|h| h == name);
    let subject_pos = policy.subject_column().and_then(position);
    let mut indexed: Vec<(usize, String, Option<String>)> = Vec::new();
    for (name, prefix) in columns {
        match position(&name) {
            Some(p) => indexed.push((p, name, prefix)),
            None => {
                return Err(ServiceError::BadRequest(format!(
                    "code_index: the source has no column `{name}`"
                )))
            }
        }
    }
    let ff1 = if indexed.iter().any(|(_, _, p)| p.is_none()) {
        Some(
            medspace_deid::ff1::Ff1Pseudonymizer::new(&keys.pseudonym_key)
                .map_err(|e| ServiceError::Internal(format!("code index: FF1: {e}")))?,
        )
    } else {
        None
    };
    // Keyed once for the whole source, as the de-identification run keys it.
    let mac = medspace_deid::transform::KeyedHmac::with(keys.mac, &keys.pseudonym_key);
    let mut seen: HashSet<(usize, String)> = HashSet::new();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut line = 1u64;
    while reader
        .read_record(&mut record)
        .map_err(|e| ServiceError::Internal(format!("code index: source record {line}: {e}")))?
    {
        line += 1;
        for (pos, column, prefix) in &indexed {
            let value = record.get(*pos).unwrap_or("");
            // Empty cells stay empty in the output: there is no pseudonym to index.
            if value.is_empty() {
                continue;
            }
            let pseudonym = match (prefix, &ff1) {
                (Some(prefix), _) => {
                    let mut pseudonym = String::with_capacity(prefix.len() + 32);
                    medspace_deid::transform::pseudonymize_into(
                        &mac,
                        prefix,
                        value,
                        &mut pseudonym,
                    );
                    pseudonym
                }
                (None, Some(ff1)) => ff1.pseudonymize(value).map_err(|e| {
                    ServiceError::BadRequest(format!(
                        "code index: column `{column}`, record {}: {e}",
                        line - 1
                    ))
                })?,
                (None, None) => continue,
            };
            let tag = tag(inputs.profile, &inputs.index_key, column, &pseudonym);
            if !seen.insert((*pos, tag.clone())) {
                continue;
            }
            let subject_value = subject_pos
                .and_then(|p| record.get(p))
                .filter(|s| !s.is_empty())
                .unwrap_or(value);
            let subject_key = inputs.subjects.pseudonym(subject_value).unwrap_or_default();
            let sealed = medspace_crypto::encrypt_bytes_with(
                inputs.profile,
                &inputs.index_key,
                &sealed_aad(&inputs.dataset_id, column, &tag),
                value.as_bytes(),
            )?;
            rows.push(CodeIndexRow {
                dataset_id: inputs.dataset_id.clone(),
                column_name: column.clone(),
                tag,
                subject_key,
                sealed,
            });
        }
    }
    Ok(rows)
}

/// Per-column counts of index rows, for the audit entry.
pub(crate) fn column_counts(rows: &[CodeIndexRow]) -> serde_json::Map<String, serde_json::Value> {
    let mut counts = serde_json::Map::new();
    for r in rows {
        let n = counts
            .get(&r.column_name)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        counts.insert(r.column_name.clone(), json!(n + 1));
    }
    counts
}

fn check_reason(reason: &str) -> Result<&str> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > MAX_REASON {
        return Err(ServiceError::BadRequest(format!(
            "reason: state why (1–{MAX_REASON} bytes)"
        )));
    }
    Ok(reason)
}

impl Node {
    /// The per-project key of the code index.
    pub(crate) async fn code_index_key(&self, project: &str) -> Result<SecretKey> {
        self.project_key(project, INDEX_KEY_PURPOSE).await
    }

    /// The project whose keys made a live de-identified dataset (its index key is that
    /// project's); a destroyed or unknown dataset is not found, a raw one is refused.
    async fn indexed_project(&self, dataset_id: &str) -> Result<String> {
        let meta = self
            .store
            .dataset(dataset_id)
            .await?
            .filter(|m| m.destroyed_at.is_none())
            .ok_or_else(|| ServiceError::NotFound(format!("dataset `{dataset_id}`")))?;
        match (&meta.kind, &meta.lineage) {
            (DatasetKind::Deidentified, Some(lineage)) => Ok(lineage.project.clone()),
            _ => Err(ServiceError::BadRequest(format!(
                "dataset `{dataset_id}` is not a de-identified dataset; only pseudonyms of \
                 de-identified datasets can be resolved"
            ))),
        }
    }

    /// Files a request to resolve `pseudonym` of `column` in the de-identified dataset
    /// `dataset_id` (re-identification officers). The pseudonym must be in the dataset's code
    /// index; a miss is audited and refused.
    pub async fn request_reidentification(
        &self,
        caller: &Caller,
        dataset_id: &str,
        column: &str,
        pseudonym: &str,
        reason: &str,
    ) -> Result<ReidRequest> {
        self.require(caller, Action::RequestReidentification)
            .await?;
        let reason = check_reason(reason)?;
        let pseudonym = pseudonym.trim();
        if pseudonym.is_empty() || pseudonym.len() > MAX_PSEUDONYM {
            return Err(ServiceError::BadRequest(format!(
                "pseudonym: expected 1–{MAX_PSEUDONYM} bytes"
            )));
        }
        let project = self.indexed_project(dataset_id).await?;
        let indexed = self.store.code_index_columns(dataset_id).await?;
        if !indexed.iter().any(|(c, _)| c == column) {
            return Err(ServiceError::NotFound(format!(
                "dataset `{dataset_id}` keeps no patient code index for column `{column}` \
                 (indexed: {})",
                if indexed.is_empty() {
                    "none".to_string()
                } else {
                    indexed
                        .iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
        let key = self.code_index_key(&project).await?;
        let tag = tag(self.profile, &key, column, pseudonym);
        drop(key);
        let Some(entry) = self
            .store
            .code_index_entry(dataset_id, column, &tag)
            .await?
        else {
            // A probe for pseudonyms that are not there is worth a trace too.
            self.audit(
                caller
                    .event("reidentification.request", dataset_id, Outcome::Error)
                    .with_detail(json!({"column": column, "reason": "pseudonym not in the index"})),
            )
            .await?;
            return Err(ServiceError::NotFound(format!(
                "no such pseudonym in column `{column}` of dataset `{dataset_id}`"
            )));
        };
        let row = ReidRequestRow {
            id: new_id("ri"),
            dataset_id: dataset_id.to_string(),
            column_name: column.to_string(),
            tag,
            requester_id: caller.id().to_string(),
            reason: reason.to_string(),
            status: "pending".into(),
            approver_id: None,
            decision_reason: None,
            decided_at: None,
            resolved_at: None,
            created_at: Utc::now(),
        };
        let mut event = caller
            .event("reidentification.request", &row.id, Outcome::Success)
            .with_detail(json!({"dataset_id": dataset_id, "column": column}));
        subject_context(&mut event, &entry.subject_key, None);
        self.store.insert_reid_request(&row, &event).await?;
        Ok(row.into())
    }

    /// Re-identification requests, oldest first (re-identification officers, committee members,
    /// auditors); the listing is audited.
    pub async fn reidentification_requests(&self, caller: &Caller) -> Result<Vec<ReidRequest>> {
        self.require(caller, Action::ViewReidentifications).await?;
        let rows = self.store.reid_requests().await?;
        self.audit(
            caller
                .event(
                    "reidentification.list",
                    "reidentification_requests",
                    Outcome::Success,
                )
                .with_detail(json!({"count": rows.len()})),
        )
        .await?;
        Ok(rows.into_iter().map(ReidRequest::from).collect())
    }

    /// The second person's decision on a pending request (committee members; never the
    /// requester).
    pub async fn decide_reidentification(
        &self,
        caller: &Caller,
        id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<ReidRequest> {
        self.require(caller, Action::DecideReidentification).await?;
        let reason = check_reason(reason)?;
        let row =
            self.store.reid_request(id).await?.ok_or_else(|| {
                ServiceError::NotFound(format!("re-identification request `{id}`"))
            })?;
        if row.requester_id == caller.id() {
            self.audit(
                caller
                    .event("reidentification.decide", id, Outcome::Denied)
                    .with_detail(
                        json!({"reason": "the requester cannot approve their own request"}),
                    ),
            )
            .await?;
            return Err(ServiceError::Forbidden(
                "a re-identification needs a second person: the requester cannot decide it".into(),
            ));
        }
        let subject_key = self
            .store
            .code_index_entry(&row.dataset_id, &row.column_name, &row.tag)
            .await?
            .map(|e| e.subject_key);
        let status = if approve { "approved" } else { "rejected" };
        let mut event = caller
            .event(
                if approve {
                    "reidentification.approve"
                } else {
                    "reidentification.reject"
                },
                id,
                Outcome::Success,
            )
            .with_detail(json!({"dataset_id": row.dataset_id, "column": row.column_name}));
        if let Some(subject) = &subject_key {
            subject_context(&mut event, subject, Some(id));
        }
        let at = Utc::now();
        self.store
            .decide_reid_request(id, status, caller.id(), reason, at, &event)
            .await?;
        Ok(ReidRequest {
            status: status.into(),
            approver_id: Some(caller.id().to_string()),
            decision_reason: Some(reason.to_string()),
            decided_at: Some(at),
            ..row.into()
        })
    }

    /// Hands the identity behind an approved request to the officer who asked, once. The
    /// resolution is audited (with the subject's node pseudonym, so it shows in the patient's
    /// disclosure history) before the identity is returned.
    pub async fn resolve_reidentification(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ResolvedIdentity> {
        self.require(caller, Action::RequestReidentification)
            .await?;
        let row =
            self.store.reid_request(id).await?.ok_or_else(|| {
                ServiceError::NotFound(format!("re-identification request `{id}`"))
            })?;
        if row.requester_id != caller.id() {
            self.audit(
                caller
                    .event("reidentification.resolve", id, Outcome::Denied)
                    .with_detail(json!({"reason": "not the requester"})),
            )
            .await?;
            return Err(ServiceError::Forbidden(
                "only the officer who filed the request can resolve it".into(),
            ));
        }
        if row.status != "approved" {
            self.audit(
                caller
                    .event("reidentification.resolve", id, Outcome::Denied)
                    .with_detail(json!({"reason": "not approved", "status": row.status})),
            )
            .await?;
            return Err(ServiceError::Conflict(format!(
                "re-identification request `{id}` is {}, not approved",
                row.status
            )));
        }
        let project = self.indexed_project(&row.dataset_id).await?;
        let entry = self
            .store
            .code_index_entry(&row.dataset_id, &row.column_name, &row.tag)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "the code index entry of request `{id}` (the dataset's index was removed)"
                ))
            })?;
        let key = self.code_index_key(&project).await?;
        let plain = Zeroizing::new(medspace_crypto::decrypt_bytes(
            &key,
            &sealed_aad(&row.dataset_id, &row.column_name, &row.tag),
            &entry.sealed,
        )?);
        drop(key);
        let identity = Zeroizing::new(String::from_utf8(plain.to_vec()).map_err(|_| {
            ServiceError::Internal(format!("code index entry of request `{id}` is not text"))
        })?);
        let mut event = caller
            .event("reidentification.resolve", id, Outcome::Success)
            .with_detail(json!({"dataset_id": row.dataset_id, "column": row.column_name}));
        subject_context(&mut event, &entry.subject_key, Some(id));
        self.store
            .resolve_reid_request(id, Utc::now(), &event)
            .await?;
        Ok(ResolvedIdentity {
            request_id: id.to_string(),
            dataset_id: row.dataset_id,
            column: row.column_name,
            identity,
        })
    }
}

/// Names the subject (by the node's pseudonym), the purpose and the approval in an event.
fn subject_context(
    event: &mut medspace_core::AuditEvent,
    subject_key: &str,
    approval: Option<&str>,
) {
    let ctx = event.context_mut();
    if !subject_key.is_empty() {
        ctx.entities
            .push(EntityRef::new(EntityKind::Subject, subject_key.to_string()));
    }
    ctx.purpose = Some(PURPOSE.to_string());
    if let Some(a) = approval {
        ctx.approval = Some(a.to_string());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
    use super::*;

    const POLICY: &str = r#"
name = "index-test"
k = 2
quasi_identifiers = ["sex"]
subject_column = "id_number"
default_action = "drop"
[columns.id_number]
action = "pseudonymize"
prefix = "P-"
[columns.mobile]
action = "pseudonymize"
format = "ff1"
[columns.sex]
action = "keep"
"#;

    const INPUT: &str = "id_number,mobile,sex\n\
        110101199003071234,13812345678,M\n\
        110101199003071234,13812345678,M\n\
        310104198512120021,13900001111,F\n\
        440305197001010011,,F\n";

    fn inputs(profile: CryptoProfile) -> (DeidKeys, IndexInputs) {
        let keys = DeidKeys {
            pseudonym_key: [7; 32],
            date_shift_key: [9; 32],
            mac: medspace_deid::MacAlgorithm::HmacSha256,
        };
        let inputs = IndexInputs {
            dataset_id: "ds-1".into(),
            index_key: SecretKey::generate(),
            subjects: SubjectPseudonymizer::new(SecretKey::generate(), profile),
            profile,
        };
        (keys, inputs)
    }

    /// Every pseudonym the engine wrote finds its own row's original value through the index,
    /// for the keyed hex form and for FF1, in both profiles; equal values are indexed once.
    #[test]
    fn every_output_pseudonym_resolves_to_its_own_input_value() {
        for profile in [CryptoProfile::International, CryptoProfile::National] {
            let policy = DeidPolicy::parse(POLICY).unwrap();
            let (keys, inputs) = inputs(profile);
            let mut out = Vec::new();
            medspace_deid::deidentify(&policy, &keys, INPUT.as_bytes(), &mut out).unwrap();
            let rows = code_index_rows(&policy, &keys, INPUT.as_bytes(), &inputs).unwrap();
            // Three distinct id numbers, two distinct non-empty mobiles.
            assert_eq!(rows.len(), 5, "{profile:?}");
            let mut output = csv::Reader::from_reader(&out[..]);
            let mut input = csv::Reader::from_reader(INPUT.as_bytes());
            let out_header = output.headers().unwrap().clone();
            let in_header = input.headers().unwrap().clone();
            for (o, i) in output.records().zip(input.records()) {
                let (o, i) = (o.unwrap(), i.unwrap());
                for column in ["id_number", "mobile"] {
                    let pseudonym = &o[out_header.iter().position(|h| h == column).unwrap()];
                    let original = &i[in_header.iter().position(|h| h == column).unwrap()];
                    if original.is_empty() {
                        continue;
                    }
                    let t = tag(profile, &inputs.index_key, column, pseudonym);
                    let row = rows
                        .iter()
                        .find(|r| r.column_name == column && r.tag == t)
                        .expect("pseudonym indexed");
                    let plain = medspace_crypto::decrypt_bytes(
                        &inputs.index_key,
                        &sealed_aad("ds-1", column, &t),
                        &row.sealed,
                    )
                    .unwrap();
                    assert_eq!(plain, original.as_bytes(), "{profile:?} {column}");
                    // The subject is the row's id number, also for the mobile column.
                    let id = &i[in_header.iter().position(|h| h == "id_number").unwrap()];
                    assert_eq!(Some(row.subject_key.clone()), inputs.subjects.pseudonym(id));
                    // Bound to its place: another dataset's or column's AAD does not open it.
                    assert!(medspace_crypto::decrypt_bytes(
                        &inputs.index_key,
                        &sealed_aad("ds-2", column, &t),
                        &row.sealed,
                    )
                    .is_err());
                }
            }
            // Nothing of the original values or pseudonyms is in the stored row in clear.
            for r in &rows {
                for secret in ["110101199003071234", "13812345678"] {
                    assert!(!r.tag.contains(secret));
                    assert!(!r
                        .sealed
                        .windows(secret.len())
                        .any(|w| w == secret.as_bytes()));
                }
            }
        }
    }

    #[test]
    fn a_policy_without_pseudonyms_cannot_keep_an_index() {
        let policy = DeidPolicy::parse(
            "name = \"n\"\nk = 2\nquasi_identifiers = [\"sex\"]\ndefault_action = \"drop\"\n\
             [columns.sex]\naction = \"keep\"\n",
        )
        .unwrap();
        assert!(matches!(
            check_indexable(&policy),
            Err(ServiceError::BadRequest(_))
        ));
        let (keys, inputs) = inputs(CryptoProfile::International);
        assert!(code_index_rows(&policy, &keys, INPUT.as_bytes(), &inputs).is_err());
    }
}
