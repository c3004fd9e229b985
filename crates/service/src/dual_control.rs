//! DMS 4.3.2 "双人双锁": access to important (C2) data needs two distinct authorised people.
//!
//! The two locks of the sandbox flow are the application (which opens the data to the sandbox)
//! and the export (which lets a result leave). When either covers a C2 column, one approval
//! only records a first approval ([`DualApprovalRow`]); the operation proceeds when a second,
//! different person with the same authority approves. The requester can never be either (the
//! callers check that first), a rejection by either person ends it at once, and every step is
//! in the audit log. Over-scope patient-record access has its own two approvers
//! (`access_requests`).

use chrono::Utc;
use medspace_core::classification::DmsClass;
use medspace_core::{Application, DatasetMeta, ExportRequest, Outcome};
use medspace_store::DualApprovalRow;
use serde_json::json;

use crate::access::Caller;
use crate::error::{Result, ServiceError};
use crate::node::Node;

/// Where an approval of important data stands after one person's approval.
#[derive(Debug)]
pub(crate) enum DualControl {
    /// First approval recorded; a second, different person must approve.
    AwaitingSecond,
    /// A different person approved earlier: the operation may proceed.
    Complete(DualApprovalRow),
}

/// True when any of `columns` of `meta` is graded important (C2).
pub fn covers_important_data<'a>(
    meta: &DatasetMeta,
    columns: impl IntoIterator<Item = &'a String>,
) -> bool {
    columns.into_iter().any(|c| {
        meta.column_class(c)
            .is_some_and(|class| class.dms_class == DmsClass::C2)
    })
}

impl Node {
    /// Whether an application opens important (C2) data.
    pub(crate) async fn application_is_important(&self, app: &Application) -> Result<bool> {
        Ok(match self.store.dataset(&app.dataset_id).await? {
            Some(meta) => covers_important_data(&meta, &app.columns),
            // A vanished dataset: the strict rule.
            None => true,
        })
    }

    /// Whether an export lets important (C2) data leave: its query ran under an application
    /// that opens C2 columns (the sandbox records such an application whenever the caller held
    /// one, since every granted table is visible to a query).
    pub(crate) async fn export_is_important(&self, export: &ExportRequest) -> Result<bool> {
        let Some(query) = self.store.query_record(&export.query_id).await? else {
            return Ok(true);
        };
        match self.store.application(&query.application_id).await? {
            Some(app) => self.application_is_important(&app).await,
            None => Ok(true),
        }
    }

    /// Records `caller`'s approval of `kind:id` on important data, or completes it when a
    /// different person approved first. The same person twice is a conflict.
    pub(crate) async fn dual_approve(
        &self,
        caller: &Caller,
        kind: &str,
        id: &str,
        reason: &str,
    ) -> Result<DualControl> {
        let subject = format!("{kind}:{id}");
        let earlier = self.store.dual_approvals(&subject).await?;
        if earlier.iter().any(|a| a.approver_id == caller.id()) {
            return Err(ServiceError::Conflict(format!(
                "you already approved {kind} `{id}`; important (C2) data needs a second, \
                 different approver (DMS 4.3.2)"
            )));
        }
        if let Some(first) = earlier.into_iter().next() {
            return Ok(DualControl::Complete(first));
        }
        let row = DualApprovalRow {
            subject,
            approver_id: caller.id().to_string(),
            reason: reason.to_string(),
            decided_at: Utc::now(),
        };
        let event = caller
            .event(format!("{kind}.approve_first"), id, Outcome::Success)
            .with_detail(json!({
                "dms_class": "C2", "approvals_needed": 2, "rule": "DMS 4.3.2",
            }));
        self.store.insert_dual_approval(&row, &event).await?;
        Ok(DualControl::AwaitingSecond)
    }
}
