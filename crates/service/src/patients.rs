//! Doctors' and insurers' access to patient records through the Cedar policies, the policies
//! administrators add, and the attributes the policies read.
//!
//! - GB/T 39725-2020 §11.1.2.2–§11.1.2.3, Table 7: a doctor reads the records of their department
//!   and treatment groups (or of the doctors they supervise) at the granularity their title allows;
//!   every call goes through one batch decision over all the patient's records (no per-row round
//!   trip), and only the allowed records are decrypted.
//! - §7 a), c), h): the consent registry ([`crate::consent`]) sets `context.consent` of every
//!   decision; lawful bases without consent (treatment, payment, public health) are explicit.
//! - §11.7.4.2 b) 2): fields named by a determining policy's `@mask` annotation are masked for
//!   display.
//! - T/CI 857-2024 6.4.1 (default deny), 6.4.2 (least privilege, purpose required), 7.2.4 b)
//!   (policy, role and attribute changes take effect on the next request: policies are reloaded
//!   when the stored version changes, entities are built from current data on every call) and
//!   7.2.4 c) (each change audited with before and after).
//! - GB/T 39725-2020 §7 g): every read names the subject by keyed pseudonym, so it appears in the
//!   subject's disclosure history.
//!
//! Records are stored with their access labels in clear (department, treatment group, attending
//! account, special-disease categories, granularity, level) and their body as AEAD ciphertext under
//! the node's record key, bound to the record id.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Timelike, Utc};
use medspace_authz::cedar_policy::{EntityId, EntityTypeName, EntityUid, PolicyId};
use medspace_authz::{AccessContext, Authorizer, Network, DEFAULT_POLICIES};
use medspace_core::{new_id, EntityKind, EntityRef, Outcome};
use medspace_store::{PatientRecordRow, PolicyVersion};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{Action, Caller};
use crate::error::{Result, ServiceError};
use crate::Node;

/// China Standard Time: `context.hour` is the local hour of the hospital (§11.1.2.5 off-hours).
const LOCAL_OFFSET_SECONDS: i32 = 8 * 3600;

pub use medspace_authz::vocab::{
    EMPLOYMENT, GRANULARITIES, ROLES as ATTRIBUTE_ROLES, SPECIAL_DISEASES, TITLES,
};
/// Purposes that are a lawful basis without consent (§7 b)), and the basis they state.
const LAWFUL_PURPOSES: &[(&str, &str)] = &[
    ("treatment", "treatment"),
    ("emergency_treatment", "treatment"),
    ("payment", "payment"),
    ("public_health", "public_interest"),
];

/// The attributes of an account that the policies read (schema entity `User`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAttributes {
    /// Organisation (institution code or name).
    pub organisation: String,
    /// Department.
    pub department: String,
    /// `resident`, `attending`, `associate_chief`, `chief` or `none`.
    pub title: String,
    /// Treatment groups the account belongs to.
    #[serde(default)]
    pub treatment_groups: Vec<String>,
    /// Accounts (ids) this account supervises.
    #[serde(default)]
    pub supervises: Vec<String>,
    /// Clinical and organisational roles ([`ATTRIBUTE_ROLES`]).
    #[serde(default)]
    pub roles: Vec<String>,
    /// `active`, `suspended` or `left`.
    #[serde(default = "active")]
    pub employment_status: String,
}

fn active() -> String {
    "active".into()
}

impl UserAttributes {
    /// Attributes of an account nobody has described: no organisation, no roles, so no permit
    /// matches (default deny).
    fn unset() -> Self {
        UserAttributes {
            organisation: String::new(),
            department: String::new(),
            title: "none".into(),
            treatment_groups: Vec::new(),
            supervises: Vec::new(),
            roles: Vec::new(),
            employment_status: active(),
        }
    }

    /// Checks the vocabularies; the error names the field and what was expected.
    pub fn validate(&self) -> Result<()> {
        one_of("title", &self.title, &TITLES)?;
        one_of("employment_status", &self.employment_status, &EMPLOYMENT)?;
        for r in &self.roles {
            one_of("roles", r, &ATTRIBUTE_ROLES)?;
        }
        if self.organisation.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "organisation: expected a non-empty organisation".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn entity(&self, id: &str) -> Value {
        json!({
            "uid": {"type": "User", "id": id},
            "attrs": {
                "organisation": self.organisation,
                "department": self.department,
                "title": self.title,
                "treatment_groups": self.treatment_groups,
                "supervises": self.supervises.iter().map(|u| user_ref(u)).collect::<Vec<_>>(),
                "roles": self.roles,
                "employment_status": self.employment_status,
            },
            "parents": [],
        })
    }
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "{field}: `{value}` is not one of {}",
            allowed.join(", ")
        )))
    }
}

fn user_ref(id: &str) -> Value {
    json!({"__entity": {"type": "User", "id": id}})
}

/// The access labels of a record (schema entity `PatientRecord`); no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordLabels {
    /// Organisation holding the record.
    pub organisation: String,
    /// Department.
    pub department: String,
    /// Treatment group.
    pub treatment_group: String,
    /// Attending doctor's account id.
    pub attending: String,
    /// Special-disease categories ([`SPECIAL_DISEASES`]); empty for a common disease.
    #[serde(default)]
    pub special_diseases: Vec<String>,
    /// `summary`, `abstract` or `detail`.
    pub granularity: String,
    /// Level 1–5 (§6.2).
    pub level: u8,
    /// Holds HIV, viral hepatitis or syphilis results, which a patient's online query does not
    /// show (§11.2.2.2); set at registration from the record's text as well.
    #[serde(default)]
    pub hidden_from_self_query: bool,
}

impl RecordLabels {
    fn validate(&self) -> Result<()> {
        one_of("granularity", &self.granularity, &GRANULARITIES)?;
        for d in &self.special_diseases {
            one_of("special_diseases", d, &SPECIAL_DISEASES)?;
        }
        if !(1..=5).contains(&self.level) {
            return Err(ServiceError::BadRequest(format!(
                "level: expected 1 to 5, got {}",
                self.level
            )));
        }
        for (field, v) in [
            ("organisation", &self.organisation),
            ("department", &self.department),
            ("attending", &self.attending),
        ] {
            if v.trim().is_empty() {
                return Err(ServiceError::BadRequest(format!(
                    "{field}: expected a non-empty value"
                )));
            }
        }
        Ok(())
    }

    fn labels_for_audit(&self) -> Vec<String> {
        let mut l = vec![
            format!("level:{}", self.level),
            format!("granularity:{}", self.granularity),
        ];
        l.extend(self.special_diseases.iter().map(|d| format!("special:{d}")));
        l
    }
}

/// A record to register: labels and the body (title and named fields).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    /// Access labels.
    #[serde(flatten)]
    pub labels: RecordLabels,
    /// Title (e.g. "discharge summary").
    pub title: String,
    /// Named fields of the record (`diagnosis`, `summary`, `id_number`, `phone` …).
    #[serde(default)]
    pub content: serde_json::Map<String, Value>,
}

/// What a record read is for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecordQuery {
    /// Stated purpose (`treatment`, `marketing`, `research` …); none → denied (minimum necessary).
    pub purpose: Option<String>,
    /// Break-glass: a medical emergency (§7 h)); needs a reason.
    #[serde(default)]
    pub emergency: bool,
    /// The reason given for a break-glass access.
    pub reason: Option<String>,
}

/// One record as the caller may see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordView {
    /// Record id.
    pub id: String,
    /// Access labels.
    #[serde(flatten)]
    pub labels: RecordLabels,
    /// Title.
    pub title: String,
    /// Fields, masked where a determining policy says so.
    pub content: serde_json::Map<String, Value>,
    /// Fields that were masked for display.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub masked: Vec<String>,
    /// Policies that allowed the read.
    pub allowed_by: Vec<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// The answer to a record read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatientRecords {
    /// The purpose the decisions were taken for.
    pub purpose: String,
    /// The consent state the decisions saw.
    pub consent: String,
    /// The records the caller may see.
    pub records: Vec<RecordView>,
    /// How many of the patient's records were withheld.
    pub withheld: usize,
    /// Policies that forbade withheld records (empty when they were simply not permitted).
    pub denied_by: Vec<String>,
}

/// A policy in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyView {
    /// `@id`.
    pub id: String,
    /// `@clause`, if any.
    pub clause: Option<String>,
    /// Built in (`true`) or added by an administrator.
    pub builtin: bool,
    /// Cedar text.
    pub text: String,
}

/// The policies in force and the version of the added ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyListing {
    /// Version of the added policies (0: none added).
    pub version: i64,
    /// Every policy in force, built-in first.
    pub policies: Vec<PolicyView>,
}

/// The node's decision point, reloaded when the stored policy version changes.
#[derive(Debug, Default)]
pub(crate) struct PolicyCache {
    loaded: tokio::sync::Mutex<Option<(i64, Authorizer)>>,
}

/// The whole text in force for the added text `added`.
fn full_text(added: &str) -> String {
    let mut text = DEFAULT_POLICIES.to_string();
    if !added.trim().is_empty() {
        text.push('\n');
        text.push_str(added);
    }
    text
}

fn authorizer_for(added: &str) -> Result<Authorizer> {
    let schema = medspace_authz::builtin_schema()
        .map_err(|e| ServiceError::Internal(format!("built-in schema: {e}")))?;
    Authorizer::new(
        schema,
        &full_text(added),
        medspace_authz::cedar_policy::Entities::empty(),
    )
    .map_err(|e| ServiceError::BadRequest(format!("policies: {e}")))
}

fn ids_of(text: &str) -> Result<BTreeSet<String>> {
    Ok(medspace_authz::parse_policies(text)
        .map_err(|e| ServiceError::BadRequest(format!("policies: {e}")))?
        .iter()
        .map(|p| p.id().to_string())
        .collect())
}

/// The uid of an entity of type `kind` (a schema type name) with this id.
pub(crate) fn uid(kind: &str, id: &str) -> Result<EntityUid> {
    let type_name = EntityTypeName::from_str(kind)
        .map_err(|e| ServiceError::Internal(format!("entity type `{kind}`: {e}")))?;
    Ok(EntityUid::from_type_name_and_id(
        type_name,
        EntityId::new(id),
    ))
}

/// Masks a value for display with the de-identification `mask` transform: first three and last
/// four characters of a long value, first and last of a short one (`138****5678`,
/// `110***********1234`); at least one character is always hidden.
pub fn mask_for_display(value: &str) -> String {
    let (keep_first, keep_last) = match value.chars().count() {
        0..=2 => (0, 0),
        3..=6 => (1, 1),
        _ => (3, 4),
    };
    medspace_deid::transform::mask(
        value,
        &medspace_deid::transform::MaskSpec {
            keep_first,
            keep_last,
            mask_char: '*',
        },
    )
}

pub(crate) fn validate_purpose(purpose: &str) -> Result<()> {
    if purpose.is_empty()
        || purpose.len() > 64
        || !purpose
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(ServiceError::BadRequest(
            "purpose: expected a lower-case word such as treatment, research or marketing".into(),
        ));
    }
    Ok(())
}

impl Node {
    /// The decision point for the current stored policy version (reloaded when another request or
    /// another node process changed it).
    pub(crate) async fn authorizer(&self) -> Result<Authorizer> {
        let (version, added) = self.added_access_policies().await?;
        let mut loaded = self.policies.loaded.lock().await;
        if let Some((v, a)) = loaded.as_ref() {
            if *v == version {
                return Ok(a.clone());
            }
        }
        let a = authorizer_for(&added).map_err(|e| {
            ServiceError::Internal(format!("stored access policies no longer validate: {e}"))
        })?;
        *loaded = Some((version, a.clone()));
        Ok(a)
    }

    /// Every policy in force. Security officers and auditors.
    pub async fn access_policies(&self, caller: &Caller) -> Result<PolicyListing> {
        self.require(caller, Action::ViewAccessPolicies).await?;
        let (version, _) = self.added_access_policies().await?;
        let authz = self.authorizer().await?;
        let builtin = ids_of(DEFAULT_POLICIES)?;
        let policies = authz
            .policies()
            .into_iter()
            .map(|(id, text)| PolicyView {
                clause: authz.policy_annotation(&id, "clause"),
                builtin: builtin.contains(&id),
                id,
                text,
            })
            .collect();
        self.audit(caller.event("access.policies.list", "access-policies", Outcome::Success))
            .await?;
        Ok(PolicyListing { version, policies })
    }

    /// Adds policies (each with a new `@id`). The whole set is validated against the schema
    /// before anything is stored; the change is audited with the policy ids before and after and
    /// the added text, and the next request uses it. Security officers only.
    pub async fn add_access_policies(
        &self,
        caller: &Caller,
        text: &str,
        reason: &str,
    ) -> Result<PolicyListing> {
        self.require(caller, Action::ManageAccessPolicies).await?;
        let reason = required_reason(reason)?;
        let (version, before) = self.added_access_policies().await?;
        let after = if before.trim().is_empty() {
            text.trim().to_string()
        } else {
            format!("{}\n\n{}", before.trim_end(), text.trim())
        };
        self.store_policy_version(
            caller,
            version,
            &before,
            &after,
            reason,
            json!({"added": text}),
        )
        .await?;
        self.access_policies(caller).await
    }

    /// Removes an added policy by id (built-in ones cannot be removed). Audited like an addition.
    pub async fn remove_access_policy(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<PolicyListing> {
        self.require(caller, Action::ManageAccessPolicies).await?;
        let reason = required_reason(reason)?;
        if ids_of(DEFAULT_POLICIES)?.contains(id) {
            return Err(ServiceError::BadRequest(format!(
                "policy `{id}` is built in; add a forbid to narrow it instead"
            )));
        }
        let (version, before) = self.added_access_policies().await?;
        let kept: Vec<_> = medspace_authz::parse_policies(&before)
            .map_err(|e| ServiceError::Internal(format!("stored policies: {e}")))?
            .into_iter()
            .filter(|p| p.id() != &PolicyId::new(id))
            .collect();
        if kept.len() == ids_of(&before)?.len() {
            return Err(ServiceError::NotFound(format!("added policy `{id}`")));
        }
        let after = kept
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n\n");
        self.store_policy_version(
            caller,
            version,
            &before,
            &after,
            reason,
            json!({"removed": id}),
        )
        .await?;
        self.access_policies(caller).await
    }

    /// The stored version of the added policies and their text (0 and empty: none added).
    /// The policies added through the API and their version, for the operator's dry run
    /// (`medspace authz check --dir`). Policy text is configuration, never personal data, and
    /// reading it changes nothing.
    pub async fn added_access_policies(&self) -> Result<(i64, String)> {
        Ok(self
            .store
            .latest_policy_version()
            .await?
            .map(|v| (v.version, v.policies))
            .unwrap_or_default())
    }

    async fn store_policy_version(
        &self,
        caller: &Caller,
        version: i64,
        before: &str,
        after: &str,
        reason: &str,
        change: Value,
    ) -> Result<()> {
        // Validate the whole set first: nothing is stored unless it is accepted.
        if let Err(e) = authorizer_for(after) {
            self.audit(
                caller
                    .event("access.policies.update", "access-policies", Outcome::Error)
                    .with_detail(json!({"error": e.to_string()})),
            )
            .await?;
            return Err(e);
        }
        let next = PolicyVersion {
            version: version + 1,
            policies: after.to_string(),
            actor_id: caller.id().to_string(),
            reason: reason.to_string(),
            created_at: Utc::now(),
        };
        let event = caller
            .event(
                "access.policies.update",
                "access-policies",
                Outcome::Success,
            )
            .with_detail(json!({
                "version": {"before": version, "after": next.version},
                "policies": {
                    "before": ids_of(before)?,
                    "after": ids_of(after)?,
                },
                "change": change,
                "reason": reason,
            }));
        self.store.append_policy_version(&next, &event).await?;
        Ok(())
    }

    /// The attributes of an account (security officers).
    pub async fn user_attributes(&self, caller: &Caller, user_id: &str) -> Result<UserAttributes> {
        self.require(caller, Action::ManageUserAttributes).await?;
        let attrs = self.attributes_of(user_id).await?;
        self.audit(caller.event("access.attributes.read", user_id, Outcome::Success))
            .await?;
        Ok(attrs)
    }

    pub(crate) async fn attributes_of(&self, user_id: &str) -> Result<UserAttributes> {
        match self.store.user_attributes(user_id).await? {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                ServiceError::Internal(format!("stored attributes of `{user_id}`: {e}"))
            }),
            None => Ok(UserAttributes::unset()),
        }
    }

    /// Sets the attributes of an account; audited with before and after (T/CI 857-2024 7.2.4 c)).
    /// Security officers (the security administrator assigns permissions, not the system
    /// administrator).
    pub async fn set_user_attributes(
        &self,
        caller: &Caller,
        user_id: &str,
        attrs: &UserAttributes,
    ) -> Result<UserAttributes> {
        self.require(caller, Action::ManageUserAttributes).await?;
        attrs.validate()?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("account `{user_id}`")))?;
        for s in &attrs.supervises {
            if self.store.user_by_id(s).await?.is_none() {
                return Err(ServiceError::BadRequest(format!(
                    "supervises: account `{s}` does not exist"
                )));
            }
        }
        let before = self.store.user_attributes(user_id).await?;
        let after = serde_json::to_string(attrs)
            .map_err(|e| ServiceError::Internal(format!("attributes: {e}")))?;
        let before_json: Value = before
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        let event = caller
            .event("access.attributes.update", &user.id, Outcome::Success)
            .with_detail(json!({"before": before_json, "after": attrs}));
        self.store
            .put_user_attributes(&user.id, &after, Utc::now(), &event)
            .await?;
        Ok(attrs.clone())
    }

    /// Key of the node's record encryption.
    async fn record_key(&self) -> Result<medspace_crypto::SecretKey> {
        self.project_key("node", "patient-records").await
    }

    /// Registers a record of a patient (security officers, or a hospital system's API token of
    /// that role). The patient identifier is kept only as a keyed pseudonym.
    pub async fn register_patient_record(
        &self,
        caller: &Caller,
        patient_id: &str,
        record: &NewRecord,
    ) -> Result<String> {
        self.require(caller, Action::RegisterPatientRecords).await?;
        record.labels.validate()?;
        let mut labels = record.labels.clone();
        labels.hidden_from_self_query |=
            medspace_classify::is_hidden_from_self_query(&record.title)
                || record.content.values().any(|v| match v {
                    Value::String(s) => medspace_classify::is_hidden_from_self_query(s),
                    other => medspace_classify::is_hidden_from_self_query(&other.to_string()),
                });
        let patient_key = self.patient_key(patient_id).await?;
        let id = new_id("rec");
        let body = json!({"title": record.title, "content": record.content});
        let plain = serde_json::to_vec(&body)
            .map_err(|e| ServiceError::Internal(format!("record body: {e}")))?;
        let sealed = medspace_crypto::encrypt_bytes_with(
            self.profile,
            &self.record_key().await?,
            id.as_bytes(),
            &plain,
        )?;
        let labels_json = serde_json::to_string(&labels)
            .map_err(|e| ServiceError::Internal(format!("record labels: {e}")))?;
        let mut event = caller
            .event("patient.record.create", &id, Outcome::Success)
            .with_detail(json!({"labels": labels}));
        subject_entities(&mut event, &patient_key, &id, &labels);
        self.store
            .insert_patient_record(
                &PatientRecordRow {
                    id: id.clone(),
                    patient_key,
                    labels: labels_json,
                    sealed,
                    created_at: Utc::now(),
                },
                &event,
            )
            .await?;
        Ok(id)
    }

    /// The keyed pseudonym of a patient identifier.
    pub(crate) async fn patient_key(&self, patient_id: &str) -> Result<String> {
        self.subject_pseudonymizer()
            .await?
            .pseudonym(patient_id)
            .ok_or_else(|| ServiceError::BadRequest("patient id: expected a non-empty id".into()))
    }

    /// The records of a patient the caller may see, decided in one batch by the access policies
    /// with the consent state of the patient for the stated purpose. The read is audited (with the
    /// subject's pseudonym, the records returned and withheld, and the deciding policies) before
    /// anything is returned; when nothing may be seen the call is refused and the refusal audited.
    pub async fn patient_records(
        &self,
        caller: &Caller,
        patient_id: &str,
        query: &RecordQuery,
    ) -> Result<PatientRecords> {
        self.require(caller, Action::ReadPatientRecords).await?;
        let purpose = query.purpose.clone().unwrap_or_default();
        if !purpose.is_empty() {
            validate_purpose(&purpose)?;
        }
        if query.emergency && query.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(ServiceError::BadRequest(
                "reason: a break-glass (emergency) access needs a stated reason".into(),
            ));
        }
        let patient_key = self.patient_key(patient_id).await?;
        self.records_of_key(caller, &patient_key, query, None, false)
            .await
    }

    /// The decision, audit and answer of a record read of the patient `patient_key`. For a
    /// patient's own query (`self_query`, the caller verified as the patient or a linked
    /// guardian) the caller acts as that patient, only records registered since `since` are
    /// considered, and results hidden from self-query (§11.2.2.2) are withheld.
    pub(crate) async fn records_of_key(
        &self,
        caller: &Caller,
        patient_key: &str,
        query: &RecordQuery,
        since: Option<DateTime<Utc>>,
        self_query: bool,
    ) -> Result<PatientRecords> {
        let patient_key = patient_key.to_string();
        let purpose = query.purpose.clone().unwrap_or_default();
        let all_rows = self.store.patient_records(&patient_key).await?;
        let consents = self.store.consents_of(&patient_key).await?;
        let mut rows = Vec::with_capacity(all_rows.len());
        let mut labels = Vec::with_capacity(all_rows.len());
        let mut hidden = 0;
        for r in all_rows {
            let l: RecordLabels = serde_json::from_str(&r.labels).map_err(|e| {
                ServiceError::Internal(format!("stored labels of record `{}`: {e}", r.id))
            })?;
            if since.is_some_and(|s| r.created_at < s) {
                continue;
            }
            if self_query && l.hidden_from_self_query {
                hidden += 1;
                continue;
            }
            rows.push(r);
            labels.push(l);
        }
        let caller_attrs = if self_query {
            UserAttributes {
                roles: vec!["patient".into()],
                ..UserAttributes::unset()
            }
        } else {
            self.attributes_of(caller.id()).await?
        };
        let consent = crate::consent::consent_state(
            &consents,
            &purpose,
            &caller_attrs.organisation,
            Utc::now(),
        );
        let now = Utc::now();
        // An approved over-scope request for this patient and purpose (T/CI 857-2024 6.4.2).
        let approval = if purpose.is_empty() || self_query {
            None
        } else {
            self.active_approval(caller, &patient_key, &purpose, now)
                .await?
        };
        let context = AccessContext {
            purpose: (!purpose.is_empty()).then(|| purpose.clone()),
            hour: local_hour(now),
            network: Network {
                internal: self.config.accounts.is_internal(caller.address)?,
                address: caller.address.map(|a| a.to_string()).unwrap_or_default(),
            },
            consent,
            emergency: query.emergency,
            legal_basis: if approval.is_some() {
                Some("approved_access".to_string())
            } else {
                LAWFUL_PURPOSES
                    .iter()
                    .find(|(p, _)| *p == purpose)
                    .map(|(_, b)| b.to_string())
            },
            approval_id: approval,
            approved_special_diseases: None,
        };
        let authz = self.authorizer().await?;
        let mut caller_entity = caller_attrs.entity(caller.id());
        if self_query {
            caller_entity["attrs"]["patient"] =
                json!({"__entity": {"type": "Patient", "id": patient_key}});
        }
        let mut entities = vec![caller_entity];
        entities.push(json!({
            "uid": {"type": "Patient", "id": patient_key},
            "attrs": patient_attrs(labels.last()),
            "parents": [],
        }));
        for (r, l) in rows.iter().zip(&labels) {
            entities.push(json!({
                "uid": {"type": "PatientRecord", "id": r.id},
                "attrs": {
                    "patient": {"__entity": {"type": "Patient", "id": patient_key}},
                    "organisation": l.organisation,
                    "department": l.department,
                    "treatment_group": l.treatment_group,
                    "attending": user_ref(&l.attending),
                    "special_diseases": l.special_diseases,
                    "granularity": l.granularity,
                    "level": l.level,
                },
                "parents": [{"type": "Patient", "id": patient_key}],
            }));
        }
        let entities = authz
            .parse_entities(Value::Array(entities))
            .map_err(|e| ServiceError::Internal(format!("access entities: {e}")))?;
        let resources = rows
            .iter()
            .map(|r| uid("PatientRecord", &r.id))
            .collect::<Result<Vec<_>>>()?;
        let decisions = authz
            .decide_batch_in(
                &entities,
                &uid("User", caller.id())?,
                &uid("Action", "read")?,
                &resources,
                &context,
            )
            .map_err(|e| ServiceError::Internal(format!("access decision: {e}")))?;

        let mut allowed = Vec::new();
        let mut denied_by = BTreeSet::new();
        for ((row, l), d) in rows.iter().zip(&labels).zip(&decisions) {
            if d.allowed {
                allowed.push((row, l, d.determining_policies.clone()));
            } else {
                denied_by.extend(d.determining_policies.iter().cloned());
            }
        }
        let withheld = rows.len() - allowed.len() + hidden;
        // A patient's window with no records is an empty answer, not a refusal.
        let refused = allowed.is_empty() && !(self_query && rows.is_empty());
        let outcome = if refused {
            Outcome::Denied
        } else {
            Outcome::Success
        };
        let mut event = caller
            .event("patient.records.read", &patient_key, outcome)
            .with_detail(json!({
                "purpose": purpose,
                "consent": consent.as_str(),
                "emergency": query.emergency,
                "reason": query.reason,
                "returned": allowed.iter().map(|(r, _, _)| r.id.as_str()).collect::<Vec<_>>(),
                "withheld": withheld,
                "allowed_by": allowed.iter().flat_map(|(_, _, p)| p.iter().cloned()).collect::<BTreeSet<_>>(),
                "denied_by": denied_by,
            }));
        {
            let ctx = event.context_mut();
            ctx.purpose = (!purpose.is_empty()).then(|| purpose.clone());
            ctx.approval = context.approval_id.clone();
            ctx.department =
                (!caller_attrs.department.is_empty()).then(|| caller_attrs.department.clone());
            ctx.organisation =
                (!caller_attrs.organisation.is_empty()).then(|| caller_attrs.organisation.clone());
            ctx.entities
                .push(EntityRef::new(EntityKind::Subject, patient_key.clone()));
            for (r, l, _) in &allowed {
                let mut e = EntityRef::new(EntityKind::Record, r.id.clone());
                e.labels = l.labels_for_audit();
                ctx.entities.push(e);
            }
        }
        self.audit(event).await?;
        // Abnormal-access rules (§11.1.2.5, staff access): alerts, and a lock that also refuses
        // this request. A patient reading their own records at night is not abnormal.
        let watch = if self_query {
            crate::anomaly::WatchOutcome::default()
        } else {
            self.watch_access(&crate::anomaly::Observation {
                caller,
                at: now,
                local_hour: context.hour,
                internal: context.network.internal,
                patient_key: &patient_key,
                records: allowed.len(),
                emergency: query.emergency,
                purpose: &purpose,
            })
            .await?
        };
        if watch.locked {
            return Err(ServiceError::Forbidden(format!(
                "account locked after abnormal access ({}); a security officer must unlock it",
                watch
                    .alerts
                    .iter()
                    .map(|a| a.rule.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if refused {
            return Err(ServiceError::Forbidden(if rows.is_empty() {
                "no record of this patient may be read".into()
            } else if denied_by.is_empty() {
                format!(
                    "no policy permits reading this patient's records (purpose `{}`)",
                    if purpose.is_empty() { "none" } else { &purpose }
                )
            } else {
                format!(
                    "reading this patient's records is forbidden by {}",
                    denied_by.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            }));
        }

        let key = self.record_key().await?;
        let mut records = Vec::with_capacity(allowed.len());
        for (row, l, policies) in allowed {
            let plain = medspace_crypto::decrypt_bytes(&key, row.id.as_bytes(), &row.sealed)?;
            let body: Value = serde_json::from_slice(&plain)
                .map_err(|e| ServiceError::Internal(format!("record `{}` body: {e}", row.id)))?;
            let mut content = body
                .get("content")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mask_fields: BTreeSet<String> = policies
                .iter()
                .filter_map(|p| authz.policy_annotation(p, "mask"))
                .flat_map(|m| {
                    m.split(',')
                        .map(|f| f.trim().to_string())
                        .filter(|f| !f.is_empty())
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut masked = Vec::new();
            for f in &mask_fields {
                if let Some(v) = content.get_mut(f) {
                    let text = match &*v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    *v = Value::String(mask_for_display(&text));
                    masked.push(f.clone());
                }
            }
            records.push(RecordView {
                id: row.id.clone(),
                labels: l.clone(),
                title: body
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                content,
                masked,
                allowed_by: policies,
                created_at: row.created_at,
            });
        }
        Ok(PatientRecords {
            purpose,
            consent: consent.as_str().to_string(),
            records,
            withheld,
            denied_by: denied_by.into_iter().collect(),
        })
    }
}

/// The patient's own attributes: those of the latest record (department and group of care).
fn patient_attrs(latest: Option<&RecordLabels>) -> Value {
    match latest {
        Some(l) => json!({
            "organisation": l.organisation,
            "department": l.department,
            "treatment_group": l.treatment_group,
            "attending": user_ref(&l.attending),
        }),
        None => json!({
            "organisation": "",
            "department": "",
            "treatment_group": "",
            "attending": user_ref("nobody"),
        }),
    }
}

pub(crate) fn local_hour(now: DateTime<Utc>) -> u8 {
    let hour = FixedOffset::east_opt(LOCAL_OFFSET_SECONDS)
        .map_or(now.hour(), |offset| now.with_timezone(&offset).hour());
    u8::try_from(hour).unwrap_or(0)
}

fn required_reason(reason: &str) -> Result<&str> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(ServiceError::BadRequest(
            "reason: a policy change needs a stated reason".into(),
        ));
    }
    Ok(r)
}

/// Adds the subject (by pseudonym) and the record to an event's entities.
fn subject_entities(
    event: &mut medspace_core::AuditEvent,
    patient_key: &str,
    record_id: &str,
    labels: &RecordLabels,
) {
    let ctx = event.context_mut();
    ctx.entities
        .push(EntityRef::new(EntityKind::Subject, patient_key.to_string()));
    let mut e = EntityRef::new(EntityKind::Record, record_id.to_string());
    e.labels = labels.labels_for_audit();
    ctx.entities.push(e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_masks_keep_only_the_ends() {
        assert_eq!(mask_for_display("13812345678"), "138****5678");
        assert_eq!(mask_for_display("110101199003071234"), "110***********1234");
        assert_eq!(mask_for_display("张三"), "**");
        assert_eq!(mask_for_display("北京市朝阳"), "北***阳");
        assert_eq!(mask_for_display(""), "");
    }

    #[test]
    fn attribute_vocabularies_are_checked_and_named() {
        let mut a = UserAttributes::unset();
        a.organisation = "H1".into();
        a.title = "professor".into();
        let e = a.validate().unwrap_err().to_string();
        assert!(e.contains("title") && e.contains("resident"), "{e}");
        a.title = "chief".into();
        a.roles = vec!["doctor".into(), "wizard".into()];
        assert!(a.validate().unwrap_err().to_string().contains("roles"));
        a.roles = vec!["doctor".into()];
        a.validate().unwrap();
    }

    #[test]
    fn record_labels_are_checked() {
        let mut l = RecordLabels {
            organisation: "H1".into(),
            department: "cardiology".into(),
            treatment_group: "g1".into(),
            attending: "u-1".into(),
            special_diseases: vec!["malignant_tumour".into()],
            granularity: "detail".into(),
            level: 5,
            hidden_from_self_query: false,
        };
        l.validate().unwrap();
        l.level = 6;
        assert!(l.validate().unwrap_err().to_string().contains("level"));
        l.level = 4;
        l.special_diseases = vec!["cancer".into()];
        assert!(l
            .validate()
            .unwrap_err()
            .to_string()
            .contains("special_diseases"));
    }
}
