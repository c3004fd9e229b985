//! The consent registry: GB/T 39725-2020 §7 a) (grantor, grantee, scope, purpose, manner, period,
//! rights, safeguards), §7 c) (marketing consent separate from any other and revocable at any
//! time), broad consent for research, §7 h) (restrictions agreed with the subject, enforced except
//! in legal or medical emergencies — the `consent-revoked` policy's exception) and §7 b) (lawful
//! bases without consent, stated by the purpose: see [`crate::patients`]). Every access decision
//! about a subject's records sees the state computed here ([`consent_state`]).
//!
//! Import and export as FHIR R4 `Consent` (scope, category, patient, provision with type, period,
//! actor, action and purpose), so a hospital's consent-management system can exchange records with
//! the node. The subject is stored only as a keyed pseudonym; the FHIR form carries the identifier
//! the caller supplied.

use chrono::{DateTime, Utc};
use medspace_authz::ConsentState;
use medspace_core::{new_id, EntityKind, EntityRef, Outcome};
use medspace_store::ConsentRow;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{Action, Caller};
use crate::error::{Result, ServiceError};
use crate::Node;

/// Kinds of consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    /// Consent to the listed purposes (§7 a)).
    General,
    /// Separate consent to marketing (§7 c)); the only consent a marketing use accepts.
    Marketing,
    /// Broad consent for research (§11.3).
    Research,
    /// A restriction agreed with the subject (§7 h)): the listed purposes (all if none) are
    /// refused.
    Restriction,
}

impl ConsentKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentKind::General => "general",
            ConsentKind::Marketing => "marketing",
            ConsentKind::Research => "research",
            ConsentKind::Restriction => "restriction",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "general" => ConsentKind::General,
            "marketing" => ConsentKind::Marketing,
            "research" => ConsentKind::Research,
            "restriction" => ConsentKind::Restriction,
            other => {
                return Err(ServiceError::Internal(format!(
                    "stored consent kind `{other}` is unknown"
                )))
            }
        })
    }
}

/// The terms of a consent (§7 a)). No personal data: the grantor is the subject, referenced
/// separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentTerms {
    /// Who may use the data (institution).
    pub grantee: String,
    /// Purposes covered (`treatment`, `research`, `marketing` …); for a restriction, the purposes
    /// refused (empty: all).
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Data scope (categories, record types).
    #[serde(default)]
    pub scope: String,
    /// Manner of use (access, use, disclose).
    #[serde(default)]
    pub manner: String,
    /// Start of validity.
    pub period_start: Option<DateTime<Utc>>,
    /// End of validity.
    pub period_end: Option<DateTime<Utc>>,
    /// The subject's rights as stated to them.
    #[serde(default)]
    pub rights: Vec<String>,
    /// Safeguards promised.
    #[serde(default)]
    pub safeguards: Vec<String>,
}

/// A consent to record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    /// Kind.
    pub kind: ConsentKind,
    /// Terms.
    #[serde(flatten)]
    pub terms: ConsentTerms,
}

/// A consent as shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentView {
    /// Id (`cns-…`).
    pub id: String,
    /// Kind.
    pub kind: ConsentKind,
    /// Terms.
    #[serde(flatten)]
    pub terms: ConsentTerms,
    /// `active` or `revoked`.
    pub status: String,
    /// Account that recorded it.
    pub recorded_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why.
    pub revoke_reason: Option<String>,
}

impl ConsentView {
    fn from_row(row: &ConsentRow) -> Result<Self> {
        Ok(ConsentView {
            id: row.id.clone(),
            kind: ConsentKind::parse(&row.kind)?,
            terms: serde_json::from_str(&row.terms).map_err(|e| {
                ServiceError::Internal(format!("stored terms of consent `{}`: {e}", row.id))
            })?,
            status: row.status.clone(),
            recorded_by: row.recorded_by.clone(),
            created_at: row.created_at,
            revoked_at: row.revoked_at,
            revoke_reason: row.revoke_reason.clone(),
        })
    }
}

fn in_force(row: &ConsentRow, terms: &ConsentTerms, now: DateTime<Utc>) -> bool {
    row.status == "active"
        && terms.period_start.is_none_or(|s| s <= now)
        && terms.period_end.is_none_or(|e| now < e)
}

/// The consent state a decision about `purpose` by `recipient` (the caller's organisation) sees,
/// from the subject's consents (a consent counts only for its grantee, or for every recipient
/// when the grantee is `*`):
/// - an agreed restriction in force covering the purpose → `restricted`;
/// - a lawful basis without consent (treatment, payment, public health) → `not_required`;
/// - marketing: only a separate marketing consent counts (§7 c));
/// - research: a broad research consent or a general consent listing research;
/// - any other purpose: a general consent listing it;
///
/// and then `granted` if one such consent is in force, `revoked` if the latest one was revoked,
/// `none` otherwise. Unreadable stored terms count as no consent (fail closed).
pub fn consent_state(
    consents: &[ConsentRow],
    purpose: &str,
    recipient: &str,
    now: DateTime<Utc>,
) -> ConsentState {
    let parsed: Vec<(&ConsentRow, ConsentKind, ConsentTerms)> = consents
        .iter()
        .filter_map(|c| {
            let kind = ConsentKind::parse(&c.kind).ok()?;
            let terms: ConsentTerms = serde_json::from_str(&c.terms).ok()?;
            // A restriction binds every recipient; a consent only its grantee (§7 a): the
            // recipient is part of what the subject agreed to).
            let binds = kind == ConsentKind::Restriction
                || terms.grantee == "*"
                || terms.grantee == recipient;
            binds.then_some((c, kind, terms))
        })
        .collect();
    // The subject's own access needs no consent and no restriction binds it (§7 b) 1)).
    if purpose == "self_service" {
        return ConsentState::NotRequired;
    }
    let covers = |t: &ConsentTerms| t.purposes.iter().any(|p| p == purpose);
    if parsed.iter().any(|(c, k, t)| {
        *k == ConsentKind::Restriction
            && in_force(c, t, now)
            && (t.purposes.is_empty() || covers(t))
    }) {
        return ConsentState::Restricted;
    }
    if [
        "treatment",
        "emergency_treatment",
        "payment",
        "public_health",
    ]
    .contains(&purpose)
    {
        return ConsentState::NotRequired;
    }
    let relevant: Vec<&(&ConsentRow, ConsentKind, ConsentTerms)> = parsed
        .iter()
        .filter(|(_, k, t)| match purpose {
            "marketing" => *k == ConsentKind::Marketing,
            "research" => *k == ConsentKind::Research || (*k == ConsentKind::General && covers(t)),
            _ => *k == ConsentKind::General && covers(t),
        })
        .collect();
    if relevant.iter().any(|(c, _, t)| in_force(c, t, now)) {
        return ConsentState::Granted;
    }
    match relevant.iter().max_by_key(|(c, _, _)| c.created_at) {
        Some((c, _, _)) if c.status == "revoked" => ConsentState::Revoked,
        _ => ConsentState::None,
    }
}

impl Node {
    /// Records a consent given by a patient (security officers, recording the signed form).
    pub async fn record_consent(
        &self,
        caller: &Caller,
        patient_id: &str,
        consent: &NewConsent,
    ) -> Result<ConsentView> {
        self.require(caller, Action::ManageConsents).await?;
        let t = &consent.terms;
        if t.grantee.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "grantee: expected the institution the consent is given to".into(),
            ));
        }
        if let (Some(s), Some(e)) = (t.period_start, t.period_end) {
            if e <= s {
                return Err(ServiceError::BadRequest(
                    "period_end: expected a time after period_start".into(),
                ));
            }
        }
        if consent.kind == ConsentKind::General && t.purposes.is_empty() {
            return Err(ServiceError::BadRequest(
                "purposes: a general consent lists the purposes it covers".into(),
            ));
        }
        if consent.kind == ConsentKind::General && t.purposes.iter().any(|p| p == "marketing") {
            return Err(ServiceError::BadRequest(
                "purposes: marketing needs its own consent of kind `marketing` (GB/T 39725-2020 §7 c))"
                    .into(),
            ));
        }
        let subject_key = self.patient_key(patient_id).await?;
        let row = ConsentRow {
            id: new_id("cns"),
            subject_key: subject_key.clone(),
            kind: consent.kind.as_str().to_string(),
            terms: serde_json::to_string(t)
                .map_err(|e| ServiceError::Internal(format!("consent terms: {e}")))?,
            status: "active".into(),
            recorded_by: caller.id().to_string(),
            created_at: Utc::now(),
            revoked_at: None,
            revoke_reason: None,
        };
        let mut event = caller
            .event("consent.create", &row.id, Outcome::Success)
            .with_detail(json!({"kind": row.kind, "terms": t}));
        event
            .context_mut()
            .entities
            .push(EntityRef::new(EntityKind::Subject, subject_key));
        self.store.insert_consent(&row, &event).await?;
        ConsentView::from_row(&row)
    }

    /// Revokes a consent; the next decision sees it (§7 c): revocable at any time).
    pub async fn revoke_consent(
        &self,
        caller: &Caller,
        consent_id: &str,
        reason: &str,
    ) -> Result<ConsentView> {
        self.require(caller, Action::ManageConsents).await?;
        let row = self
            .store
            .consent(consent_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("consent `{consent_id}`")))?;
        let mut event = caller
            .event("consent.revoke", consent_id, Outcome::Success)
            .with_detail(json!({
                "kind": row.kind,
                "status": {"before": row.status, "after": "revoked"},
                "reason": reason,
            }));
        event
            .context_mut()
            .entities
            .push(EntityRef::new(EntityKind::Subject, row.subject_key.clone()));
        self.store
            .revoke_consent(consent_id, Utc::now(), reason, &event)
            .await?;
        let row = self
            .store
            .consent(consent_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("consent `{consent_id}`")))?;
        ConsentView::from_row(&row)
    }

    /// A patient's consents, oldest first.
    pub async fn consents(&self, caller: &Caller, patient_id: &str) -> Result<Vec<ConsentView>> {
        self.require(caller, Action::ManageConsents).await?;
        let subject_key = self.patient_key(patient_id).await?;
        let rows = self.store.consents_of(&subject_key).await?;
        let mut event = caller
            .event("consent.list", &subject_key, Outcome::Success)
            .with_detail(json!({"returned": rows.len()}));
        event
            .context_mut()
            .entities
            .push(EntityRef::new(EntityKind::Subject, subject_key));
        self.audit(event).await?;
        rows.iter().map(ConsentView::from_row).collect()
    }

    /// A patient's consents as a FHIR R4 `Bundle` of `Consent` resources.
    pub async fn consents_fhir(&self, caller: &Caller, patient_id: &str) -> Result<Value> {
        let consents = self.consents(caller, patient_id).await?;
        Ok(json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": consents
                .iter()
                .map(|c| json!({"resource": to_fhir(c, patient_id)}))
                .collect::<Vec<_>>(),
        }))
    }

    /// Records a consent given as a FHIR R4 `Consent` resource for this patient.
    pub async fn import_fhir_consent(
        &self,
        caller: &Caller,
        patient_id: &str,
        resource: &Value,
    ) -> Result<ConsentView> {
        let consent = from_fhir(resource, patient_id)?;
        self.record_consent(caller, patient_id, &consent).await
    }
}

const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
const CONSENT_ACTION: &str = "http://terminology.hl7.org/CodeSystem/consentaction";
const EXT_KIND: &str = "urn:medspace:fhir:consent-kind";
const EXT_RIGHTS: &str = "urn:medspace:fhir:consent-rights";
const EXT_SAFEGUARDS: &str = "urn:medspace:fhir:consent-safeguards";
const EXT_SCOPE: &str = "urn:medspace:fhir:consent-data-scope";

/// medspace purposes and their v3-ActReason codes.
const PURPOSE_CODES: &[(&str, &str)] = &[
    ("treatment", "TREAT"),
    ("emergency_treatment", "ETREAT"),
    ("payment", "HPAYMT"),
    ("research", "HRESCH"),
    ("marketing", "HMARKT"),
    ("public_health", "PUBHLTH"),
    ("operations", "HOPERAT"),
];

fn purpose_code(p: &str) -> Value {
    match PURPOSE_CODES.iter().find(|(name, _)| *name == p) {
        Some((_, code)) => json!({"system": ACT_REASON, "code": code}),
        None => json!({"system": "urn:medspace:purpose", "code": p}),
    }
}

/// A consent as a FHIR R4 `Consent`.
pub fn to_fhir(c: &ConsentView, patient_id: &str) -> Value {
    let t = &c.terms;
    let mut period = serde_json::Map::new();
    if let Some(s) = t.period_start {
        period.insert("start".into(), json!(s.to_rfc3339()));
    }
    if let Some(e) = t.period_end {
        period.insert("end".into(), json!(e.to_rfc3339()));
    }
    let scope = if c.kind == ConsentKind::Research {
        "research"
    } else {
        "patient-privacy"
    };
    let mut ext = vec![json!({"url": EXT_KIND, "valueCode": c.kind.as_str()})];
    ext.extend(
        t.rights
            .iter()
            .map(|r| json!({"url": EXT_RIGHTS, "valueString": r})),
    );
    ext.extend(
        t.safeguards
            .iter()
            .map(|r| json!({"url": EXT_SAFEGUARDS, "valueString": r})),
    );
    if !t.scope.is_empty() {
        ext.push(json!({"url": EXT_SCOPE, "valueString": t.scope}));
    }
    json!({
        "resourceType": "Consent",
        "id": c.id,
        "extension": ext,
        "status": if c.status == "active" { "active" } else { "inactive" },
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": scope}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": format!("Patient/{patient_id}")},
        "dateTime": c.created_at.to_rfc3339(),
        "provision": {
            "type": if c.kind == ConsentKind::Restriction { "deny" } else { "permit" },
            "period": period,
            "actor": [{
                "role": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "IRCP"
                }]},
                "reference": {"display": t.grantee}
            }],
            "action": [{"coding": [{"system": CONSENT_ACTION, "code": if t.manner.is_empty() { "use" } else { t.manner.as_str() }}]}],
            "purpose": t.purposes.iter().map(|p| purpose_code(p)).collect::<Vec<_>>(),
        },
    })
}

fn fhir_err(field: &str, expected: &str) -> ServiceError {
    ServiceError::BadRequest(format!("Consent.{field}: expected {expected}"))
}

fn fhir_time(v: Option<&Value>, field: &str) -> Result<Option<DateTime<Utc>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| fhir_err(field, "an RFC 3339 date-time")),
        Some(_) => Err(fhir_err(field, "a date-time string")),
    }
}

/// Reads a FHIR R4 `Consent` for `patient_id`; errors name the element and what was expected.
pub fn from_fhir(resource: &Value, patient_id: &str) -> Result<NewConsent> {
    if resource.get("resourceType").and_then(Value::as_str) != Some("Consent") {
        return Err(fhir_err("resourceType", "\"Consent\""));
    }
    match resource.get("status").and_then(Value::as_str) {
        Some("active") => {}
        Some(_) => {
            return Err(fhir_err(
                "status",
                "\"active\" (only consents in force are recorded)",
            ))
        }
        None => return Err(fhir_err("status", "a status code")),
    }
    let reference = resource
        .pointer("/patient/reference")
        .and_then(Value::as_str)
        .ok_or_else(|| fhir_err("patient.reference", "a Patient reference"))?;
    if reference != format!("Patient/{patient_id}") {
        return Err(fhir_err(
            "patient.reference",
            "a reference to the patient named in the request",
        ));
    }
    let provision = resource
        .get("provision")
        .ok_or_else(|| fhir_err("provision", "a provision"))?;
    let deny = match provision.get("type").and_then(Value::as_str) {
        Some("deny") => true,
        Some("permit") | None => false,
        Some(_) => return Err(fhir_err("provision.type", "\"permit\" or \"deny\"")),
    };
    let extensions = resource
        .get("extension")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ext_strings = |url: &str| -> Vec<String> {
        extensions
            .iter()
            .filter(|e| e.get("url").and_then(Value::as_str) == Some(url))
            .filter_map(|e| {
                e.get("valueString")
                    .or_else(|| e.get("valueCode"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    };
    let mut purposes = Vec::new();
    for (i, p) in provision
        .get("purpose")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let code = p
            .get("code")
            .and_then(Value::as_str)
            .ok_or_else(|| fhir_err(&format!("provision.purpose[{i}].code"), "a code"))?;
        let name = PURPOSE_CODES
            .iter()
            .find(|(_, c)| *c == code)
            .map(|(n, _)| n.to_string())
            .unwrap_or_else(|| code.to_string());
        purposes.push(name);
    }
    let grantee = provision
        .pointer("/actor/0/reference/display")
        .and_then(Value::as_str)
        .ok_or_else(|| fhir_err("provision.actor[0].reference.display", "the grantee's name"))?
        .to_string();
    let kind = match ext_strings(EXT_KIND).first().map(String::as_str) {
        Some("general") => ConsentKind::General,
        Some("marketing") => ConsentKind::Marketing,
        Some("research") => ConsentKind::Research,
        Some("restriction") => ConsentKind::Restriction,
        Some(_) => {
            return Err(fhir_err(
                "extension(consent-kind)",
                "general, marketing, research or restriction",
            ))
        }
        None if deny => ConsentKind::Restriction,
        None if purposes == ["marketing"] => ConsentKind::Marketing,
        None if resource
            .pointer("/scope/coding/0/code")
            .and_then(Value::as_str)
            == Some("research") =>
        {
            ConsentKind::Research
        }
        None => ConsentKind::General,
    };
    if deny != (kind == ConsentKind::Restriction) {
        return Err(fhir_err(
            "provision.type",
            "\"deny\" exactly for a restriction",
        ));
    }
    Ok(NewConsent {
        kind,
        terms: ConsentTerms {
            grantee,
            purposes,
            scope: ext_strings(EXT_SCOPE)
                .into_iter()
                .next()
                .unwrap_or_default(),
            manner: provision
                .pointer("/action/0/coding/0/code")
                .and_then(Value::as_str)
                .unwrap_or("use")
                .to_string(),
            period_start: fhir_time(provision.pointer("/period/start"), "provision.period.start")?,
            period_end: fhir_time(provision.pointer("/period/end"), "provision.period.end")?,
            rights: ext_strings(EXT_RIGHTS),
            safeguards: ext_strings(EXT_SAFEGUARDS),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn row(kind: &str, purposes: &[&str], status: &str, age_days: i64) -> ConsentRow {
        let terms = ConsentTerms {
            grantee: "Insurer A".into(),
            purposes: purposes.iter().map(|p| p.to_string()).collect(),
            scope: String::new(),
            manner: "use".into(),
            period_start: None,
            period_end: None,
            rights: vec![],
            safeguards: vec![],
        };
        ConsentRow {
            id: format!("cns-{kind}-{age_days}"),
            subject_key: "sp:1".into(),
            kind: kind.into(),
            terms: serde_json::to_string(&terms).unwrap(),
            status: status.into(),
            recorded_by: "u-1".into(),
            created_at: Utc::now() - Duration::days(age_days),
            revoked_at: None,
            revoke_reason: None,
        }
    }

    #[test]
    fn marketing_needs_its_own_consent_and_a_revocation_wins_until_a_new_one() {
        let now = Utc::now();
        assert_eq!(
            consent_state(&[], "marketing", "Insurer A", now),
            ConsentState::None
        );
        let general = row("general", &["research", "operations"], "active", 9);
        assert_eq!(
            consent_state(
                std::slice::from_ref(&general),
                "marketing",
                "Insurer A",
                now
            ),
            ConsentState::None
        );
        let m = row("marketing", &["marketing"], "active", 5);
        assert_eq!(
            consent_state(&[general.clone(), m.clone()], "marketing", "Insurer A", now),
            ConsentState::Granted
        );
        let revoked = row("marketing", &["marketing"], "revoked", 5);
        assert_eq!(
            consent_state(
                &[general.clone(), revoked.clone()],
                "marketing",
                "Insurer A",
                now
            ),
            ConsentState::Revoked
        );
        let again = row("marketing", &["marketing"], "active", 1);
        assert_eq!(
            consent_state(&[revoked, again], "marketing", "Insurer A", now),
            ConsentState::Granted
        );
        assert_eq!(
            consent_state(std::slice::from_ref(&general), "research", "Insurer A", now),
            ConsentState::Granted
        );
        // Another recipient gets nothing from a consent given to Insurer A.
        assert_eq!(
            consent_state(&[general, m], "marketing", "Insurer B", now),
            ConsentState::None
        );
    }

    #[test]
    fn restrictions_and_lawful_bases() {
        let now = Utc::now();
        let r = row("restriction", &["research"], "active", 2);
        assert_eq!(
            consent_state(std::slice::from_ref(&r), "research", "Insurer A", now),
            ConsentState::Restricted
        );
        assert_eq!(
            consent_state(std::slice::from_ref(&r), "treatment", "Insurer A", now),
            ConsentState::NotRequired
        );
        let all = row("restriction", &[], "active", 2);
        assert_eq!(
            consent_state(&[all], "treatment", "Insurer A", now),
            ConsentState::Restricted
        );
        let mut expired = row("research", &[], "active", 30);
        let mut t: ConsentTerms = serde_json::from_str(&expired.terms).unwrap();
        t.period_end = Some(now - Duration::days(1));
        expired.terms = serde_json::to_string(&t).unwrap();
        assert_eq!(
            consent_state(&[expired], "research", "Insurer A", now),
            ConsentState::None
        );
    }

    #[test]
    fn fhir_consent_round_trips_and_bad_elements_are_named() {
        let view = ConsentView {
            id: "cns-1".into(),
            kind: ConsentKind::Marketing,
            terms: ConsentTerms {
                grantee: "Insurer A".into(),
                purposes: vec!["marketing".into()],
                scope: "contact details".into(),
                manner: "use".into(),
                period_start: Some(Utc::now() - Duration::days(1)),
                period_end: Some(Utc::now() + Duration::days(365)),
                rights: vec!["withdraw at any time".into()],
                safeguards: vec!["no transfer to third parties".into()],
            },
            status: "active".into(),
            recorded_by: "u-1".into(),
            created_at: Utc::now(),
            revoked_at: None,
            revoke_reason: None,
        };
        let fhir = to_fhir(&view, "P001");
        assert_eq!(fhir["provision"]["purpose"][0]["code"], "HMARKT");
        let back = from_fhir(&fhir, "P001").unwrap();
        assert_eq!(back.kind, ConsentKind::Marketing);
        let mut expected = view.terms.clone();
        // RFC 3339 text keeps the instant; compare at that precision.
        expected.period_start = back.terms.period_start;
        expected.period_end = back.terms.period_end;
        assert_eq!(back.terms, expected);
        assert!(
            (back.terms.period_end.unwrap() - view.terms.period_end.unwrap())
                .num_milliseconds()
                .abs()
                < 1
        );
        let e = from_fhir(&fhir, "P002").unwrap_err().to_string();
        assert!(e.contains("patient.reference"), "{e}");
        let mut bad = fhir.clone();
        bad["provision"]["type"] = json!("deny");
        let e = from_fhir(&bad, "P001").unwrap_err().to_string();
        assert!(e.contains("provision.type"), "{e}");
        bad = fhir;
        bad["provision"]["period"]["end"] = json!("next year");
        let e = from_fhir(&bad, "P001").unwrap_err().to_string();
        assert!(e.contains("provision.period.end"), "{e}");
    }
}
