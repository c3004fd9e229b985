//! Data-use applications and export review.
//!
//! GB/T 39725-2020 §11.4.2 (application with purpose, columns and period; committee review;
//! access ends with the period), Table 5 (results leave only after review; every export archived),
//! T/CI 857-2024 7.2.5 (flow management). A data user may apply only for de-identified datasets and
//! never receives the raw dataset; a reviewer may not decide their own request.

use chrono::{Duration, Utc};
use medspace_core::{new_id, Application, DatasetKind, Decision, ExportRequest, Outcome};
use medspace_crypto::decrypt_reader;
use serde_json::json;
use std::io::Read;

use crate::access::{Action, Caller};
use crate::dual_control::DualControl;
use crate::error::{Result, ServiceError};
use crate::node::Node;

/// What a data user asks for.
#[derive(Debug, Clone, Default)]
pub struct ApplicationRequest {
    /// De-identified dataset id.
    pub dataset_id: String,
    /// Columns wanted (minimum necessary).
    pub columns: Vec<String>,
    /// Purpose of use.
    pub purpose: String,
    /// Length of the access period in days.
    pub period_days: i64,
    /// Special-disease classes whose rows the study needs (GB/T 39725-2020 §11.1.2.3 names);
    /// empty: rows of any special disease are withheld from the sandbox.
    pub special_diseases: Vec<String>,
}

impl Node {
    /// Files an application.
    pub async fn apply(&self, caller: &Caller, req: ApplicationRequest) -> Result<Application> {
        self.require(caller, Action::Apply).await?;
        let meta = self
            .store
            .dataset(&req.dataset_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("dataset `{}`", req.dataset_id)))?;
        if meta.is_destroyed() {
            return Err(ServiceError::Conflict(format!(
                "dataset `{}` was destroyed",
                meta.name
            )));
        }
        if meta.kind != DatasetKind::Deidentified {
            self.audit(
                caller
                    .event("application.create", &meta.id, Outcome::Denied)
                    .with_detail(json!({"reason": "raw dataset"})),
            )
            .await?;
            return Err(ServiceError::Forbidden(
                "raw datasets are never released; apply for a de-identified dataset".into(),
            ));
        }
        if req.columns.is_empty() {
            return Err(ServiceError::BadRequest(
                "columns: name at least one column".into(),
            ));
        }
        for c in &req.columns {
            if !meta.schema.iter().any(|s| &s.name == c) {
                return Err(ServiceError::BadRequest(format!(
                    "columns: `{c}` is not a column of dataset `{}`",
                    meta.name
                )));
            }
        }
        let purpose = req.purpose.trim();
        if purpose.chars().count() < 10 {
            return Err(ServiceError::BadRequest(
                "purpose: describe the purpose of use in at least 10 characters".into(),
            ));
        }
        if !(1..=self.config.max_application_days).contains(&req.period_days) {
            return Err(ServiceError::BadRequest(format!(
                "period_days: expected 1 to {}",
                self.config.max_application_days
            )));
        }
        let mut special_diseases = req.special_diseases.clone();
        for d in &special_diseases {
            if !medspace_authz::vocab::SPECIAL_DISEASES.contains(&d.as_str()) {
                return Err(ServiceError::BadRequest(format!(
                    "special_diseases: `{d}` is not one of {}",
                    medspace_authz::vocab::SPECIAL_DISEASES.join(", ")
                )));
            }
        }
        special_diseases.sort();
        special_diseases.dedup();
        let now = Utc::now();
        let mut columns = req.columns.clone();
        columns.sort();
        columns.dedup();
        let app = Application {
            id: new_id("app"),
            applicant_id: caller.id().to_string(),
            dataset_id: meta.id.clone(),
            columns,
            purpose: purpose.to_string(),
            period_start: now,
            period_end: now + Duration::days(req.period_days),
            status: Decision::Pending,
            decided_by: None,
            decision_reason: None,
            decided_at: None,
            created_at: now,
            special_diseases,
        };
        self.store
            .insert_application(
                &app,
                &caller.event("application.create", &app.id, Outcome::Success).with_detail(json!({
                    "dataset_id": app.dataset_id, "columns": app.columns, "period_days": req.period_days,
                    "special_diseases": app.special_diseases,
                })),
            )
            .await?;
        Ok(app)
    }

    /// Applications visible to the caller: their own for data users, all for reviewers and auditors.
    pub async fn list_applications(&self, caller: &Caller) -> Result<Vec<Application>> {
        let all = crate::access::permits(caller.role(), Action::ViewAllApplications);
        if !all {
            self.require(caller, Action::Apply).await?;
        }
        let apps = self
            .store
            .list_applications(if all { None } else { Some(caller.id()) })
            .await?;
        self.audit(caller.event("application.list", "applications", Outcome::Success))
            .await?;
        Ok(apps)
    }

    /// Approves or rejects a pending application (committee members; not one's own).
    pub async fn decide_application(
        &self,
        caller: &Caller,
        id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<Application> {
        self.require(caller, Action::DecideApplication).await?;
        let app = self
            .store
            .application(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("application `{id}`")))?;
        if app.applicant_id == caller.id() {
            return Err(ServiceError::Forbidden(
                "you cannot decide your own application".into(),
            ));
        }
        if reason.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "reason: give a reason for the decision".into(),
            ));
        }
        let decision = if approve {
            Decision::Approved
        } else {
            Decision::Rejected
        };
        let mut first_approver = None;
        if approve && app.status == Decision::Pending && self.application_is_important(&app).await?
        {
            match self
                .dual_approve(caller, "application", id, reason.trim())
                .await?
            {
                DualControl::AwaitingSecond => return Ok(app),
                DualControl::Complete(first) => first_approver = Some(first.approver_id),
            }
        }
        self.store
            .decide_application(
                id,
                decision,
                caller.id(),
                reason.trim(),
                Utc::now(),
                &caller
                    .event("application.decide", id, Outcome::Success)
                    .with_detail(json!({
                        "decision": decision.as_str(), "applicant_id": app.applicant_id,
                        "first_approver": first_approver,
                    })),
            )
            .await?;
        self.store
            .application(id)
            .await?
            .ok_or_else(|| ServiceError::Internal("decided application vanished".into()))
    }

    /// Asks for a query result to leave the node.
    pub async fn request_export(
        &self,
        caller: &Caller,
        query_id: &str,
        justification: &str,
    ) -> Result<ExportRequest> {
        self.require(caller, Action::RequestExport).await?;
        let q = self
            .store
            .query_record(query_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("query result `{query_id}`")))?;
        if q.user_id != caller.id() {
            self.audit(caller.event("export.request", query_id, Outcome::Denied))
                .await?;
            return Err(ServiceError::Forbidden(
                "only the user who ran a query may request its export".into(),
            ));
        }
        if justification.trim().chars().count() < 10 {
            return Err(ServiceError::BadRequest(
                "justification: explain in at least 10 characters why the result must leave".into(),
            ));
        }
        let e = ExportRequest {
            id: new_id("exp"),
            requester_id: caller.id().to_string(),
            query_id: query_id.to_string(),
            justification: justification.trim().to_string(),
            status: Decision::Pending,
            decided_by: None,
            decision_reason: None,
            decided_at: None,
            downloads: 0,
            created_at: Utc::now(),
        };
        self.store
            .insert_export(
                &e,
                &caller
                    .event("export.request", &e.id, Outcome::Success)
                    .with_detail(json!({"query_id": query_id, "rows": q.row_count})),
            )
            .await?;
        Ok(e)
    }

    /// Export requests visible to the caller.
    pub async fn list_exports(&self, caller: &Caller) -> Result<Vec<ExportRequest>> {
        let all = crate::access::permits(caller.role(), Action::DecideExport)
            || crate::access::permits(caller.role(), Action::ReadAudit);
        if !all {
            self.require(caller, Action::RequestExport).await?;
        }
        let list = self
            .store
            .list_exports(if all { None } else { Some(caller.id()) })
            .await?;
        self.audit(caller.event("export.list", "exports", Outcome::Success))
            .await?;
        Ok(list)
    }

    /// Approves or rejects an export request (committee members; not one's own).
    pub async fn decide_export(
        &self,
        caller: &Caller,
        id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<ExportRequest> {
        self.require(caller, Action::DecideExport).await?;
        let e = self
            .store
            .export_request(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("export request `{id}`")))?;
        if e.requester_id == caller.id() {
            return Err(ServiceError::Forbidden(
                "you cannot decide your own export request".into(),
            ));
        }
        if reason.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "reason: give a reason for the decision".into(),
            ));
        }
        let decision = if approve {
            Decision::Approved
        } else {
            Decision::Rejected
        };
        let mut first_approver = None;
        if approve && e.status == Decision::Pending && self.export_is_important(&e).await? {
            match self
                .dual_approve(caller, "export", id, reason.trim())
                .await?
            {
                DualControl::AwaitingSecond => return Ok(e),
                DualControl::Complete(first) => first_approver = Some(first.approver_id),
            }
        }
        self.store
            .decide_export(
                id,
                decision,
                caller.id(),
                reason.trim(),
                Utc::now(),
                &caller
                    .event("export.decide", id, Outcome::Success)
                    .with_detail(json!({
                        "decision": decision.as_str(), "query_id": e.query_id,
                        "first_approver": first_approver,
                    })),
            )
            .await?;
        self.store
            .export_request(id)
            .await?
            .ok_or_else(|| ServiceError::Internal("decided export vanished".into()))
    }

    /// Releases an approved export's content (CSV) to its requester; every release is audited
    /// (and archived: the encrypted result stays in the node).
    pub async fn download_export(&self, caller: &Caller, id: &str) -> Result<Vec<u8>> {
        self.require(caller, Action::RequestExport).await?;
        let e = self
            .store
            .export_request(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("export request `{id}`")))?;
        if e.requester_id != caller.id() || e.status != Decision::Approved {
            self.audit(
                caller
                    .event("export.download", id, Outcome::Denied)
                    .with_detail(json!({"status": e.status.as_str()})),
            )
            .await?;
            return Err(ServiceError::Forbidden(format!(
                "export `{id}` is {} and belongs to its requester only",
                e.status.as_str()
            )));
        }
        let q = self
            .store
            .query_record(&e.query_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("query result `{}`", e.query_id)))?;
        let dek = self.data_key(&q.id, &q.wrapped_key)?;
        let objects = self.objects.clone();
        let (key, aad) = (q.object_key.clone(), q.id.clone());
        let content = tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
            let mut out = Vec::new();
            decrypt_reader(&dek, aad.as_bytes(), objects.open(&key)?)?.read_to_end(&mut out)?;
            Ok(out)
        })
        .await??;
        // GB/T 39725-2020 §7 g): a download discloses the data of the dataset the query ran on,
        // under its application's purpose.
        let mut event = caller
            .event("export.download", id, Outcome::Success)
            .with_detail(json!({
                "query_id": q.id, "bytes": content.len(), "sha256": medspace_crypto::sha256_hex(&content),
            }));
        if let Some(app) = self.store.application(&q.application_id).await? {
            let context = event.context_mut();
            context.entities.push(medspace_core::EntityRef {
                kind: medspace_core::EntityKind::Dataset,
                id: app.dataset_id.clone(),
                columns: app.columns.clone(),
                labels: Vec::new(),
            });
            context.entities.push(medspace_core::EntityRef::new(
                medspace_core::EntityKind::Application,
                app.id.clone(),
            ));
            context.purpose = Some(app.purpose.clone());
            context.approval = Some(e.id.clone());
        }
        self.store.record_export_download(id, &event).await?;
        Ok(content)
    }
}
