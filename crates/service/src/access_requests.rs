//! Access beyond the normal scope only under a recorded approval — T/CI 857-2024 6.4.2 (processing
//! beyond granted authority needs the approval of the personal-information protection officer or
//! body, recorded and archived) and DMS 4.3.2 (important data: two distinct authorised people for
//! each operation).
//!
//! A clinician who needs a patient outside their department or treatment group files a request
//! (patient, purpose, reason, days). Two distinct approvers — security officers or committee
//! members, never the requester — must approve; any one rejection ends it. Once approved and until
//! it expires, the requester's reads of that patient for that purpose carry the request id as
//! `context.approval_id` with the legal basis `approved_access`, which the `approved-over-scope`
//! policy permits (forbids such as level 5 or a revoked consent still apply). Every step is
//! audited.

use chrono::{DateTime, Duration, Utc};
use medspace_core::{new_id, EntityKind, EntityRef, Outcome};
use medspace_store::AccessRequestRow;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::{Action, Caller};
use crate::error::{Result, ServiceError};
use crate::Node;

/// Distinct approvals an over-scope request needs (DMS 4.3.2).
pub const APPROVALS_NEEDED: usize = 2;
/// Longest validity of an approval, in days.
pub const MAX_DAYS: i64 = 30;

/// A request to file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccessRequest {
    /// Patient identifier (kept only as a keyed pseudonym).
    pub patient_id: String,
    /// Purpose (`treatment`, `consultation` …).
    pub purpose: String,
    /// Why the normal scope is not enough.
    pub reason: String,
    /// Days of validity once approved (1–30).
    pub days: i64,
}

/// One approver's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Account.
    pub by: String,
    /// Its role.
    pub role: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Approve (`true`) or reject.
    pub approve: bool,
    /// Why.
    pub reason: String,
}

/// A request as shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessRequestView {
    /// Id.
    pub id: String,
    /// Requesting account.
    pub requester_id: String,
    /// Patient pseudonym.
    pub patient: String,
    /// Purpose.
    pub purpose: String,
    /// Reason.
    pub reason: String,
    /// Days of validity.
    pub days: i64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// Decisions so far.
    pub approvals: Vec<Approval>,
    /// Filed.
    pub created_at: DateTime<Utc>,
    /// Valid until (approved).
    pub valid_until: Option<DateTime<Utc>>,
}

fn view(row: &AccessRequestRow) -> Result<AccessRequestView> {
    Ok(AccessRequestView {
        id: row.id.clone(),
        requester_id: row.requester_id.clone(),
        patient: row.patient_key.clone(),
        purpose: row.purpose.clone(),
        reason: row.reason.clone(),
        days: row.days,
        status: row.status.clone(),
        approvals: serde_json::from_str(&row.approvals).map_err(|e| {
            ServiceError::Internal(format!("stored approvals of `{}`: {e}", row.id))
        })?,
        created_at: row.created_at,
        valid_until: row.valid_until,
    })
}

/// The next state of a request after one decision; the error says why the decision is refused.
pub fn next_state(
    request: &AccessRequestView,
    decider: &str,
    decision: &Approval,
) -> std::result::Result<(String, Vec<Approval>), String> {
    if request.status != "pending" {
        return Err(format!("the request is {}, not pending", request.status));
    }
    if decider == request.requester_id {
        return Err("nobody approves their own request".into());
    }
    if request.approvals.iter().any(|a| a.by == decider) {
        return Err(format!(
            "this account has already decided; {APPROVALS_NEEDED} distinct people must approve"
        ));
    }
    let mut approvals = request.approvals.clone();
    approvals.push(decision.clone());
    let status = if !decision.approve {
        "rejected"
    } else if approvals.iter().filter(|a| a.approve).count() >= APPROVALS_NEEDED {
        "approved"
    } else {
        "pending"
    };
    Ok((status.to_string(), approvals))
}

impl Node {
    /// Files a request for access beyond the normal scope (clinicians).
    pub async fn request_access(
        &self,
        caller: &Caller,
        request: &NewAccessRequest,
    ) -> Result<AccessRequestView> {
        self.require(caller, Action::RequestAccess).await?;
        if !(1..=MAX_DAYS).contains(&request.days) {
            return Err(ServiceError::BadRequest(format!(
                "days: expected 1 to {MAX_DAYS}, got {}",
                request.days
            )));
        }
        if request.reason.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "reason: say why the normal scope is not enough".into(),
            ));
        }
        crate::patients::validate_purpose(&request.purpose)?;
        let patient_key = self.patient_key(&request.patient_id).await?;
        let row = AccessRequestRow {
            id: new_id("acr"),
            requester_id: caller.id().to_string(),
            patient_key: patient_key.clone(),
            purpose: request.purpose.clone(),
            reason: request.reason.trim().to_string(),
            days: request.days,
            status: "pending".into(),
            approvals: "[]".into(),
            created_at: Utc::now(),
            decided_at: None,
            valid_until: None,
        };
        let mut event = caller
            .event("access.request.create", &row.id, Outcome::Success)
            .with_detail(json!({"purpose": row.purpose, "reason": row.reason, "days": row.days}));
        event
            .context_mut()
            .entities
            .push(EntityRef::new(EntityKind::Subject, patient_key));
        self.store.insert_access_request(&row, &event).await?;
        view(&row)
    }

    /// Requests: a requester sees their own, approvers and auditors all.
    pub async fn access_requests(&self, caller: &Caller) -> Result<Vec<AccessRequestView>> {
        let all = crate::access::permits(caller.role(), Action::ViewAllAccessRequests);
        if !all {
            self.require(caller, Action::RequestAccess).await?;
        }
        let rows = self
            .store
            .access_requests((!all).then(|| caller.id()))
            .await?;
        self.audit(
            caller
                .event("access.request.list", "access-requests", Outcome::Success)
                .with_detail(json!({"returned": rows.len()})),
        )
        .await?;
        rows.iter().map(view).collect()
    }

    /// One approver's decision. The second distinct approval approves the request; any rejection
    /// rejects it. Security officers and committee members, never the requester.
    pub async fn decide_access_request(
        &self,
        caller: &Caller,
        id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<AccessRequestView> {
        self.require(caller, Action::DecideAccessRequest).await?;
        if reason.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "reason: a decision states its reason".into(),
            ));
        }
        let row = self
            .store
            .access_request(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("access request `{id}`")))?;
        let current = view(&row)?;
        let now = Utc::now();
        let decision = Approval {
            by: caller.id().to_string(),
            role: caller.role().as_str().to_string(),
            at: now,
            approve,
            reason: reason.trim().to_string(),
        };
        let (status, approvals) = match next_state(&current, caller.id(), &decision) {
            Ok(next) => next,
            Err(why) => {
                self.audit(
                    caller
                        .event("access.request.decide", id, Outcome::Denied)
                        .with_detail(json!({"error": why})),
                )
                .await?;
                return Err(if current.status != "pending" {
                    ServiceError::Conflict(why)
                } else {
                    ServiceError::Forbidden(why)
                });
            }
        };
        let done = status != "pending";
        let next = AccessRequestRow {
            status: status.clone(),
            approvals: serde_json::to_string(&approvals)
                .map_err(|e| ServiceError::Internal(format!("approvals: {e}")))?,
            decided_at: done.then_some(now),
            valid_until: (status == "approved").then(|| now + Duration::days(row.days)),
            ..row.clone()
        };
        let mut event = caller
            .event("access.request.decide", id, Outcome::Success)
            .with_detail(json!({
                "approve": approve,
                "reason": reason.trim(),
                "status": {"before": row.status, "after": status},
                "approvals": approvals.iter().filter(|a| a.approve).count(),
                "valid_until": next.valid_until,
            }));
        event
            .context_mut()
            .entities
            .push(EntityRef::new(EntityKind::Subject, row.patient_key.clone()));
        self.store
            .decide_access_request(&next, &row.approvals, &event)
            .await?;
        view(&next)
    }

    /// The approved, unexpired request that lets `caller` read this patient for this purpose.
    pub(crate) async fn active_approval(
        &self,
        caller: &Caller,
        patient_key: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        Ok(self
            .store
            .access_requests(Some(caller.id()))
            .await?
            .into_iter()
            .find(|r| {
                r.status == "approved"
                    && r.patient_key == patient_key
                    && r.purpose == purpose
                    && r.valid_until.is_some_and(|v| now < v)
            })
            .map(|r| r.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(approvals: Vec<Approval>, status: &str) -> AccessRequestView {
        AccessRequestView {
            id: "acr-1".into(),
            requester_id: "u-doc".into(),
            patient: "sp:1".into(),
            purpose: "treatment".into(),
            reason: "consultation".into(),
            days: 3,
            status: status.into(),
            approvals,
            created_at: Utc::now(),
            valid_until: None,
        }
    }

    fn yes(by: &str) -> Approval {
        Approval {
            by: by.into(),
            role: "security_officer".into(),
            at: Utc::now(),
            approve: true,
            reason: "ok".into(),
        }
    }

    #[test]
    fn two_distinct_approvers_other_than_the_requester() {
        let r = request(vec![], "pending");
        assert!(next_state(&r, "u-doc", &yes("u-doc"))
            .unwrap_err()
            .contains("own request"));
        let (s, a) = next_state(&r, "u-o1", &yes("u-o1")).unwrap();
        assert_eq!(s, "pending");
        let r = request(a, "pending");
        assert!(next_state(&r, "u-o1", &yes("u-o1"))
            .unwrap_err()
            .contains("distinct"));
        let (s, a) = next_state(&r, "u-c1", &yes("u-c1")).unwrap();
        assert_eq!((s.as_str(), a.len()), ("approved", 2));
        let done = request(a, "approved");
        assert!(next_state(&done, "u-c2", &yes("u-c2")).is_err());
        let mut no = yes("u-c2");
        no.approve = false;
        let (s, _) = next_state(&request(vec![yes("u-o1")], "pending"), "u-c2", &no).unwrap();
        assert_eq!(s, "rejected");
    }
}
