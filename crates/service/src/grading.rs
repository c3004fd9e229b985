//! Approved gradings: the classification and grading of a dataset's columns is a draft until the
//! data security officer confirms it and the data security committee approves it.
//!
//! GB/T 39725-2020 §6 (categories of Table 1, levels of §6.2), §9.2 a) and b) (the committee
//! decides, the security office executes; a) 8) has the committee approve de-identification
//! strategies, and issue 5 extends the same review to the gradings they rest on), §11.1.2.3
//! (special diseases are level 5); T/CI 857-2024 6.2 (classification and grading, level-dependent
//! protection), 7.1.3 (the classification and grading result of circulated data is reviewed),
//! 7.2.6 (every change audited); DMS 4.2.1 (C1/C2/C3) and 5.1 (committee and DSO).
//!
//! The workflow, one append-only row per step (`dataset_gradings`, see `medspace_store`):
//!
//! 1. **propose** — ingest (and de-identification, for the derived dataset) stores the scanner's
//!    report, the per-column JSON `medspace scan` prints (`ColumnReport`), as step 1: `proposed`.
//! 2. **override** — the security officer edits one column (semantic type, identifier kind,
//!    category, level, DMS class, special diseases, self-query flag, suggested action) with a
//!    reason; the step records each field's before and after. Any edit returns the grading to
//!    `proposed`, also after an approval: an approved grading cannot change silently.
//! 3. **confirm** — the officer confirms the proposal as it stands: `confirmed`.
//! 4. **approve** / **reject** — a committee member decides a confirmed grading with a reason:
//!    `approved` or `rejected` (the officer then overrides or confirms again). An approval also
//!    writes the approved grading into the catalog entry (column classification and level).
//!
//! Every step is written in one transaction with its audit entry (fail closed), decisions are
//! compare-and-set on the step the caller saw, and the accounts that confirm and approve must
//! differ. A dataset whose current grading is not `approved` is refused by the sandbox
//! (`Node::require_approved_grading`). Overrides must keep the grading consistent with the
//! standard: a column with special diseases is level 5 (§6.2 e, §11.1.2.3), a direct identifier is
//! at least level 4 (§6.2 d), and the semantic type is one of the scan vocabulary.

use chrono::Utc;
use medspace_classify::report::{ColumnReport, ReportCategory, SpecialDiseaseClass};
use medspace_classify::SEMANTIC_TYPES;
use medspace_core::classification::DmsClass;
use medspace_core::{
    Category, ColumnClassification, DatasetMeta, IdentifierKind, Level, Outcome, SemanticType,
};
use medspace_store::GradingRecord;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{Action, Caller};
use crate::error::{Result, ServiceError};
use crate::node::Node;

/// Where a dataset's grading stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradingStatus {
    /// A draft: the scanner's proposal, or edited by the officer since.
    Proposed,
    /// Confirmed by the security officer; awaiting the committee.
    Confirmed,
    /// Approved by the committee: the dataset may be used.
    Approved,
    /// Rejected by the committee: the officer must revise it.
    Rejected,
}

impl GradingStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            GradingStatus::Proposed => "proposed",
            GradingStatus::Confirmed => "confirmed",
            GradingStatus::Approved => "approved",
            GradingStatus::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "proposed" => GradingStatus::Proposed,
            "confirmed" => GradingStatus::Confirmed,
            "approved" => GradingStatus::Approved,
            "rejected" => GradingStatus::Rejected,
            other => {
                return Err(ServiceError::Internal(format!(
                    "stored grading status `{other}` is unknown"
                )))
            }
        })
    }
}

/// One field of one column changed by a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnChange {
    /// Column name.
    pub column: String,
    /// Field of the column report (`level`, `category` …).
    pub field: String,
    /// Value before the step (`null` for the first proposal).
    pub before: Value,
    /// Value after the step.
    pub after: Value,
}

/// One step of a dataset's grading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradingStep {
    /// Dataset id.
    pub dataset_id: String,
    /// Step number, from 1.
    pub seq: i64,
    /// `propose`, `override`, `confirm`, `approve` or `reject`.
    pub action: String,
    /// State after the step.
    pub status: GradingStatus,
    /// Account that took it.
    pub actor_id: String,
    /// Reason given.
    pub reason: String,
    /// The whole grading after the step, one report per column (the keys of `medspace scan`).
    pub columns: Vec<ColumnReport>,
    /// What the step changed.
    pub changes: Vec<ColumnChange>,
    /// When.
    pub created_at: chrono::DateTime<Utc>,
}

impl GradingStep {
    fn from_record(r: GradingRecord) -> Result<Self> {
        let corrupt = |what: &str, e: serde_json::Error| {
            ServiceError::Internal(format!(
                "stored grading step {} of dataset `{}`: {what}: {e}",
                r.seq, r.dataset_id
            ))
        };
        Ok(GradingStep {
            status: GradingStatus::parse(&r.status)?,
            columns: serde_json::from_str(&r.columns_json).map_err(|e| corrupt("columns", e))?,
            changes: serde_json::from_str(&r.changes_json).map_err(|e| corrupt("changes", e))?,
            dataset_id: r.dataset_id,
            seq: r.seq,
            action: r.action,
            actor_id: r.actor_id,
            reason: r.reason,
            created_at: r.created_at,
        })
    }

    fn to_record(&self) -> Result<GradingRecord> {
        let enc = |e: serde_json::Error| ServiceError::Internal(format!("grading as JSON: {e}"));
        Ok(GradingRecord {
            dataset_id: self.dataset_id.clone(),
            seq: self.seq,
            action: self.action.clone(),
            status: self.status.as_str().to_string(),
            actor_id: self.actor_id.clone(),
            reason: self.reason.clone(),
            columns_json: serde_json::to_string(&self.columns).map_err(enc)?,
            changes_json: serde_json::to_string(&self.changes).map_err(enc)?,
            created_at: self.created_at,
        })
    }

    /// SHA-256 (hex) of the grading's JSON, as recorded in audit entries.
    pub fn columns_sha256(&self) -> String {
        medspace_crypto::sha256_hex(
            serde_json::to_string(&self.columns)
                .unwrap_or_default()
                .as_bytes(),
        )
    }

    /// The highest column level.
    pub fn max_level(&self) -> u8 {
        self.columns.iter().map(|c| c.level).max().unwrap_or(1)
    }
}

/// An officer's edit of one column: the fields given replace the current ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnOverride {
    /// One of the scan vocabulary.
    pub semantic_type: Option<SemanticType>,
    /// Appendix G identifier kind.
    pub identifier_kind: Option<IdentifierKind>,
    /// Table 1 category.
    pub category: Option<ReportCategory>,
    /// §6.2 level 1–5.
    pub level: Option<u8>,
    /// DMS 4.2.1 class.
    pub dms_class: Option<DmsClass>,
    /// §11.1.2.3 special-disease classes.
    pub special_disease: Option<Vec<SpecialDiseaseClass>>,
    /// §11.2.2.2 hidden from self-service queries.
    pub hidden_from_self_query: Option<bool>,
    /// Appendix G / Table 6 treatment.
    pub suggested_action: Option<medspace_classify::SuggestedAction>,
}

impl ColumnOverride {
    /// Applies the edit to `c`, returning what changed.
    fn apply(&self, c: &mut ColumnReport) -> Result<Vec<ColumnChange>> {
        let mut changes = Vec::new();
        let before = serde_json::to_value(&*c)
            .map_err(|e| ServiceError::Internal(format!("column report as JSON: {e}")))?;
        if let Some(v) = self.semantic_type {
            c.semantic_type = v;
        }
        if let Some(v) = self.identifier_kind {
            c.identifier_kind = v;
        }
        if let Some(v) = self.category {
            c.category = v;
        }
        if let Some(v) = self.level {
            c.level = v;
        }
        if let Some(v) = self.dms_class {
            c.dms_class = v;
        }
        if let Some(v) = &self.special_disease {
            let mut v = v.clone();
            v.sort_unstable();
            v.dedup();
            c.special_disease = v;
        }
        if let Some(v) = self.hidden_from_self_query {
            c.hidden_from_self_query = v;
        }
        if let Some(v) = self.suggested_action {
            c.suggested_action = v;
        }
        let after = serde_json::to_value(&*c)
            .map_err(|e| ServiceError::Internal(format!("column report as JSON: {e}")))?;
        for field in [
            "semantic_type",
            "identifier_kind",
            "category",
            "level",
            "dms_class",
            "special_disease",
            "hidden_from_self_query",
            "suggested_action",
        ] {
            let (b, a) = (&before[field], &after[field]);
            if b != a {
                changes.push(ColumnChange {
                    column: c.name.clone(),
                    field: field.to_string(),
                    before: b.clone(),
                    after: a.clone(),
                });
            }
        }
        Ok(changes)
    }
}

/// Checks a column's grading against the rules the standard fixes (see the module documentation).
pub fn check_column(c: &ColumnReport) -> Result<()> {
    let bad = |m: String| {
        Err(ServiceError::BadRequest(format!(
            "column `{}`: {m}",
            c.name
        )))
    };
    if !(1..=5).contains(&c.level) {
        return bad(format!(
            "level {} is out of range; GB/T 39725 §6.2 defines levels 1 to 5",
            c.level
        ));
    }
    if !c.special_disease.is_empty() && c.level != 5 {
        return bad(format!(
            "holds special diseases ({}), which GB/T 39725 §6.2 e) and §11.1.2.3 make level 5, not {}",
            c.special_disease
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", "),
            c.level
        ));
    }
    if c.identifier_kind == IdentifierKind::Direct && c.level < 4 {
        return bad(format!(
            "a direct identifier is at least level 4 (GB/T 39725 §6.2 d), not {}",
            c.level
        ));
    }
    if !SEMANTIC_TYPES.contains(&c.semantic_type.name().as_str()) {
        return bad(format!(
            "semantic type `{}` is not one of the scan vocabulary",
            c.semantic_type.name()
        ));
    }
    Ok(())
}

/// The Table 1 category of a report category.
fn category_of(c: ReportCategory) -> Category {
    match c {
        ReportCategory::PersonalAttribute => Category::PersonalAttributes,
        ReportCategory::HealthStatus => Category::HealthStatus,
        ReportCategory::MedicalApplication => Category::MedicalApplication,
        ReportCategory::MedicalPayment => Category::MedicalPayment,
        ReportCategory::HealthResource => Category::HealthResources,
        ReportCategory::PublicHealth => Category::PublicHealth,
    }
}

/// The catalog classification of an approved grading: each column's stored classification with
/// the approved fields (a type the report folds into `other`, such as biometric, is kept unless
/// the officer changed the type).
pub fn approved_classification(
    meta: &DatasetMeta,
    columns: &[ColumnReport],
) -> Result<(Vec<ColumnClassification>, Level)> {
    let mut out = Vec::with_capacity(columns.len());
    for r in columns {
        let stored = meta.column_class(&r.name);
        let semantic_type = match stored {
            Some(s)
                if medspace_classify::report::report_semantic_type(s.semantic_type)
                    == r.semantic_type =>
            {
                s.semantic_type
            }
            _ => r.semantic_type,
        };
        let level = Level::new(r.level).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        out.push(ColumnClassification {
            name: r.name.clone(),
            semantic_type,
            category: category_of(r.category),
            level,
            identifier_kind: r.identifier_kind,
            dms_class: r.dms_class,
            confidence: stored.map_or(r.confidence, |s| s.confidence),
            special_diseases: r
                .special_disease
                .iter()
                .map(|s| s.name().to_string())
                .collect(),
        });
    }
    let level = out.iter().map(|c| c.level).max().unwrap_or(Level::L1);
    Ok((out, level))
}

/// Step 1 of a new dataset's grading: the scanner's report, proposed by `actor`.
pub(crate) fn proposal(
    dataset_id: &str,
    actor_id: &str,
    columns: Vec<ColumnReport>,
    rows_sampled: u64,
    rows_total: u64,
) -> Result<GradingRecord> {
    let changes: Vec<ColumnChange> = columns
        .iter()
        .map(|c| ColumnChange {
            column: c.name.clone(),
            field: "*".into(),
            before: Value::Null,
            after: json!({"semantic_type": c.semantic_type, "level": c.level,
                          "category": c.category, "dms_class": c.dms_class}),
        })
        .collect();
    GradingStep {
        dataset_id: dataset_id.to_string(),
        seq: 1,
        action: "propose".into(),
        status: GradingStatus::Proposed,
        actor_id: actor_id.to_string(),
        reason: format!(
            "classification scan of a seeded sample of {rows_sampled} of {rows_total} rows"
        ),
        columns,
        changes,
        created_at: Utc::now(),
    }
    .to_record()
}

fn need_reason(reason: &str) -> Result<&str> {
    let r = reason.trim();
    if r.chars().count() < 4 {
        return Err(ServiceError::BadRequest(
            "reason: explain the grading step in at least 4 characters".into(),
        ));
    }
    if r.chars().count() > 2000 {
        return Err(ServiceError::BadRequest(
            "reason: at most 2000 characters".into(),
        ));
    }
    Ok(r)
}

impl Node {
    async fn grading_meta(&self, dataset_id: &str) -> Result<DatasetMeta> {
        self.store
            .dataset(dataset_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("dataset `{dataset_id}`")))
    }

    async fn current_step(&self, dataset_id: &str) -> Result<GradingStep> {
        let rec = self
            .store
            .current_grading(dataset_id)
            .await?
            .ok_or_else(|| {
                ServiceError::Conflict(format!(
                    "dataset `{dataset_id}` has no grading (ingested before gradings were kept); \
                 ingest it again"
                ))
            })?;
        GradingStep::from_record(rec)
    }

    /// The current grading of a dataset (officers, committee, auditors; audited).
    pub async fn grading(&self, caller: &Caller, dataset_id: &str) -> Result<GradingStep> {
        self.require(caller, Action::ViewFullCatalog).await?;
        self.grading_meta(dataset_id).await?;
        let step = self.current_step(dataset_id).await?;
        self.audit(
            caller
                .event("grading.read", dataset_id, Outcome::Success)
                .with_detail(json!({"seq": step.seq, "status": step.status.as_str()})),
        )
        .await?;
        Ok(step)
    }

    /// Every step of a dataset's grading, oldest first (officers, committee, auditors; audited).
    pub async fn grading_history(
        &self,
        caller: &Caller,
        dataset_id: &str,
    ) -> Result<Vec<GradingStep>> {
        self.require(caller, Action::ViewFullCatalog).await?;
        self.grading_meta(dataset_id).await?;
        let steps = self
            .store
            .grading_history(dataset_id)
            .await?
            .into_iter()
            .map(GradingStep::from_record)
            .collect::<Result<Vec<_>>>()?;
        self.audit(
            caller
                .event("grading.history", dataset_id, Outcome::Success)
                .with_detail(json!({"steps": steps.len()})),
        )
        .await?;
        Ok(steps)
    }

    /// The current grading status of every graded dataset, by dataset id (officers, committee,
    /// auditors; audited).
    pub async fn grading_statuses(
        &self,
        caller: &Caller,
    ) -> Result<Vec<(String, i64, GradingStatus)>> {
        self.require(caller, Action::ViewFullCatalog).await?;
        let all = self.store.current_gradings().await?;
        self.audit(caller.event("grading.list", "datasets", Outcome::Success))
            .await?;
        all.into_iter()
            .map(|r| Ok((r.dataset_id, r.seq, GradingStatus::parse(&r.status)?)))
            .collect()
    }

    /// Appends `next` (built on `current`) with an audit entry describing the change.
    async fn append_step(
        &self,
        caller: &Caller,
        event_action: &str,
        current: &GradingStep,
        next: GradingStep,
        catalog: Option<(Vec<ColumnClassification>, Level)>,
    ) -> Result<GradingStep> {
        let event = caller
            .event(event_action, &next.dataset_id, Outcome::Success)
            .with_detail(json!({
                "seq": next.seq,
                "status_before": current.status.as_str(),
                "status_after": next.status.as_str(),
                "changes": next.changes,
                "level_before": current.max_level(),
                "level_after": next.max_level(),
                "grading_sha256_before": current.columns_sha256(),
                "grading_sha256_after": next.columns_sha256(),
            }));
        let record = next.to_record()?;
        self.store
            .append_grading(
                &record,
                catalog.as_ref().map(|(c, l)| (c.as_slice(), *l)),
                &event,
            )
            .await?;
        Ok(next)
    }

    /// The security officer edits one column's grading, with a reason. The grading returns to
    /// `proposed` (also from `approved`: the dataset is unusable until approved again).
    pub async fn override_grading(
        &self,
        caller: &Caller,
        dataset_id: &str,
        column: &str,
        edit: &ColumnOverride,
        reason: &str,
    ) -> Result<GradingStep> {
        self.require(caller, Action::GradeDataset).await?;
        let reason = need_reason(reason)?;
        self.grading_meta(dataset_id).await?;
        let current = self.current_step(dataset_id).await?;
        let mut columns = current.columns.clone();
        let col = columns
            .iter_mut()
            .find(|c| c.name == column)
            .ok_or_else(|| {
                ServiceError::NotFound(format!("column `{column}` of dataset `{dataset_id}`"))
            })?;
        let changes = edit.apply(col)?;
        if changes.is_empty() {
            return Err(ServiceError::BadRequest(
                "the override changes nothing; give at least one field with a new value".into(),
            ));
        }
        check_column(col)?;
        let next = GradingStep {
            dataset_id: dataset_id.to_string(),
            seq: current.seq + 1,
            action: "override".into(),
            status: GradingStatus::Proposed,
            actor_id: caller.id().to_string(),
            reason: reason.to_string(),
            columns,
            changes,
            created_at: Utc::now(),
        };
        self.append_step(caller, "grading.override", &current, next, None)
            .await
    }

    /// The security officer confirms the proposed (or rejected, after revision) grading.
    pub async fn confirm_grading(
        &self,
        caller: &Caller,
        dataset_id: &str,
        reason: &str,
    ) -> Result<GradingStep> {
        self.require(caller, Action::GradeDataset).await?;
        let reason = need_reason(reason)?;
        self.grading_meta(dataset_id).await?;
        let current = self.current_step(dataset_id).await?;
        if !matches!(
            current.status,
            GradingStatus::Proposed | GradingStatus::Rejected
        ) {
            return Err(ServiceError::Conflict(format!(
                "the grading of dataset `{dataset_id}` is {}; only a proposed or rejected grading \
                 can be confirmed",
                current.status.as_str()
            )));
        }
        for c in &current.columns {
            check_column(c)?;
        }
        let next = GradingStep {
            dataset_id: dataset_id.to_string(),
            seq: current.seq + 1,
            action: "confirm".into(),
            status: GradingStatus::Confirmed,
            actor_id: caller.id().to_string(),
            reason: reason.to_string(),
            columns: current.columns.clone(),
            changes: Vec::new(),
            created_at: Utc::now(),
        };
        self.append_step(caller, "grading.confirm", &current, next, None)
            .await
    }

    /// A committee member approves or rejects a confirmed grading, with a reason; not the account
    /// that confirmed it. An approval writes the grading into the catalog entry.
    pub async fn decide_grading(
        &self,
        caller: &Caller,
        dataset_id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<GradingStep> {
        self.require(caller, Action::DecideGrading).await?;
        let reason = need_reason(reason)?;
        let meta = self.grading_meta(dataset_id).await?;
        let current = self.current_step(dataset_id).await?;
        if current.status != GradingStatus::Confirmed {
            return Err(ServiceError::Conflict(format!(
                "the grading of dataset `{dataset_id}` is {}; the committee decides confirmed \
                 gradings only",
                current.status.as_str()
            )));
        }
        if current.actor_id == caller.id() {
            self.audit(
                caller
                    .event("grading.decide", dataset_id, Outcome::Denied)
                    .with_detail(json!({"reason": "decider confirmed the grading"})),
            )
            .await?;
            return Err(ServiceError::Forbidden(
                "you confirmed this grading; another member of the committee must decide it".into(),
            ));
        }
        let (status, action) = if approve {
            (GradingStatus::Approved, "approve")
        } else {
            (GradingStatus::Rejected, "reject")
        };
        let catalog = if approve {
            Some(approved_classification(&meta, &current.columns)?)
        } else {
            None
        };
        let next = GradingStep {
            dataset_id: dataset_id.to_string(),
            seq: current.seq + 1,
            action: action.into(),
            status,
            actor_id: caller.id().to_string(),
            reason: reason.to_string(),
            columns: current.columns.clone(),
            changes: Vec::new(),
            created_at: Utc::now(),
        };
        self.append_step(caller, "grading.decide", &current, next, catalog)
            .await
    }

    /// Fails closed unless the dataset's current grading is approved: used before a dataset's
    /// content is made available (the sandbox).
    pub(crate) async fn require_approved_grading(&self, meta: &DatasetMeta) -> Result<()> {
        let status = match self.store.current_grading(&meta.id).await? {
            Some(r) => GradingStatus::parse(&r.status)?,
            None => {
                return Err(ServiceError::Forbidden(format!(
                    "dataset `{}` has no grading; it cannot be used",
                    meta.name
                )))
            }
        };
        if status == GradingStatus::Approved {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "the grading of dataset `{}` is {}, not approved by the data security committee; \
                 it cannot be used until it is",
                meta.name,
                status.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medspace_classify::report::Findings;
    use medspace_classify::SuggestedAction;

    fn column() -> ColumnReport {
        ColumnReport {
            name: "diagnosis_code".into(),
            semantic_type: SemanticType::DiagnosisCode,
            identifier_kind: IdentifierKind::Sensitive,
            category: ReportCategory::HealthStatus,
            level: 3,
            dms_class: DmsClass::C1,
            special_disease: vec![],
            hidden_from_self_query: false,
            confidence: 0.9,
            findings: Findings::default(),
            suggested_action: SuggestedAction::Keep,
        }
    }

    #[test]
    fn overrides_record_before_and_after_of_each_changed_field() {
        let mut c = column();
        let edit = ColumnOverride {
            level: Some(5),
            special_disease: Some(vec![SpecialDiseaseClass::Infectious]),
            dms_class: Some(DmsClass::C1),
            ..ColumnOverride::default()
        };
        let changes = edit.apply(&mut c).unwrap();
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["level", "special_disease"]);
        assert_eq!(changes[0].before, json!(3));
        assert_eq!(changes[0].after, json!(5));
        assert!(check_column(&c).is_ok());
    }

    #[test]
    fn the_standard_fixes_some_levels() {
        let mut c = column();
        c.special_disease = vec![SpecialDiseaseClass::Mental];
        assert!(check_column(&c)
            .unwrap_err()
            .to_string()
            .contains("level 5"));
        let mut c = column();
        c.identifier_kind = IdentifierKind::Direct;
        assert!(check_column(&c)
            .unwrap_err()
            .to_string()
            .contains("level 4"));
        let mut c = column();
        c.level = 6;
        assert!(check_column(&c).is_err());
        let mut c = column();
        c.semantic_type = SemanticType::Biometric;
        assert!(check_column(&c).is_err());
    }
}
