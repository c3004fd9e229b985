//! Patient records, consents, access policies and account attributes (GB/T 39725-2020 §7,
//! §11.1, Table 7, §11.7.4.2 b) 2); T/CI 857-2024 6.4, 7.2.4 b), c)). Each handler calls one
//! service operation, which checks the role, decides with the Cedar policies where records are
//! read, and audits the call before it answers (`medspace_service::patients`,
//! `medspace_service::consent`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use medspace_service::access_requests::{AccessRequestView, NewAccessRequest};
use medspace_service::anomaly::AlertView;
use medspace_service::consent::{ConsentView, NewConsent};
use medspace_service::patients::{
    NewRecord, PatientRecords, PolicyListing, RecordQuery, UserAttributes,
};
use medspace_service::Node;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, JsonBody};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The records of a patient the caller may see: decided in one batch by the access policies
/// (department, title, treatment group, special-disease granularity, level), with the patient's
/// consent state for the stated purpose; fields masked for display where a determining policy
/// says so. Refused (403, audited) when no record may be seen.
#[utoipa::path(get, path = "/api/v1/patients/{id}/records", tag = "patients",
    params(("id" = String, Path, description = "patient identifier (kept only as a keyed pseudonym)"),
           ("purpose" = String, Query, description = "treatment, emergency_treatment, research, marketing, payment …; required (minimum necessary)"),
           ("emergency" = Option<bool>, Query, description = "break-glass medical emergency"),
           ("reason" = Option<String>, Query, description = "reason of a break-glass access")),
    responses(
        (status = 200, description = "records (id, labels, title, content, masked, allowed_by), withheld count, denied_by", body = Object),
        (status = 400, description = "bad purpose, or break-glass without a reason", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "no record of this patient may be read; the message names the forbidding policies", body = ErrorBody),
    ))]
pub(crate) async fn records(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    Query(q): Query<RecordQuery>,
) -> ApiResult<PatientRecords> {
    Ok(Json(node.patient_records(&c, &id, &q).await?))
}

/// The id of a registered record.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordCreated {
    /// Record id.
    pub id: String,
}

/// Registers a record of a patient: access labels (organisation, department, treatment_group,
/// attending, special_diseases, granularity, level) and the body (title, content fields), stored
/// encrypted. Security officers or a hospital system's token.
#[utoipa::path(post, path = "/api/v1/patients/{id}/records", tag = "patients",
    params(("id" = String, Path, description = "patient identifier")),
    request_body = Object,
    responses(
        (status = 200, description = "the record id", body = RecordCreated),
        (status = 400, description = "a label outside its vocabulary (the field is named)", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not register records", body = ErrorBody),
    ))]
pub(crate) async fn register_record(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(record): JsonBody<NewRecord>,
) -> ApiResult<RecordCreated> {
    Ok(Json(RecordCreated {
        id: node.register_patient_record(&c, &id, &record).await?,
    }))
}

/// Records a consent of a patient: kind (general, marketing, research, restriction), grantee,
/// purposes, scope, manner, period, rights, safeguards (GB/T 39725-2020 §7 a)).
#[utoipa::path(post, path = "/api/v1/patients/{id}/consents", tag = "consent",
    params(("id" = String, Path, description = "patient identifier")),
    request_body = Object,
    responses(
        (status = 200, description = "the recorded consent", body = Object),
        (status = 400, description = "missing grantee or purposes, marketing inside a general consent, bad period", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
    ))]
pub(crate) async fn add_consent(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(consent): JsonBody<NewConsent>,
) -> ApiResult<ConsentView> {
    Ok(Json(node.record_consent(&c, &id, &consent).await?))
}

/// A patient's consents, oldest first.
#[utoipa::path(get, path = "/api/v1/patients/{id}/consents", tag = "consent",
    params(("id" = String, Path, description = "patient identifier")),
    responses(
        (status = 200, description = "consents", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
    ))]
pub(crate) async fn list_consents(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<Vec<ConsentView>> {
    Ok(Json(node.consents(&c, &id).await?))
}

/// A patient's consents as a FHIR R4 Bundle of Consent resources.
#[utoipa::path(get, path = "/api/v1/patients/{id}/consents/fhir", tag = "consent",
    params(("id" = String, Path, description = "patient identifier")),
    responses(
        (status = 200, description = "FHIR R4 Bundle (collection) of Consent", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
    ))]
pub(crate) async fn consents_fhir(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<serde_json::Value> {
    Ok(Json(node.consents_fhir(&c, &id).await?))
}

/// Records a consent given as a FHIR R4 Consent resource.
#[utoipa::path(post, path = "/api/v1/patients/{id}/consents/fhir", tag = "consent",
    params(("id" = String, Path, description = "patient identifier")),
    request_body = Object,
    responses(
        (status = 200, description = "the recorded consent", body = Object),
        (status = 400, description = "the element that is wrong is named (e.g. Consent.provision.type)", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
    ))]
pub(crate) async fn import_consent_fhir(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(resource): JsonBody<serde_json::Value>,
) -> ApiResult<ConsentView> {
    Ok(Json(node.import_fhir_consent(&c, &id, &resource).await?))
}

/// Why a consent is revoked, or a policy changed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Reason (recorded in the audit log).
    pub reason: String,
}

/// Revokes a consent; the next decision sees it (GB/T 39725-2020 §7 c)).
#[utoipa::path(post, path = "/api/v1/consents/{id}/revoke", tag = "consent",
    params(("id" = String, Path, description = "consent id")),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "the revoked consent", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "unknown consent", body = ErrorBody),
        (status = 409, description = "already revoked", body = ErrorBody),
    ))]
pub(crate) async fn revoke_consent(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ReasonRequest>,
) -> ApiResult<ConsentView> {
    Ok(Json(node.revoke_consent(&c, &id, &req.reason).await?))
}

/// Every access policy in force (built-in and added), with its clause.
#[utoipa::path(get, path = "/api/v1/access/policies", tag = "access",
    responses(
        (status = 200, description = "version and policies (id, clause, builtin, text)", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer or auditor", body = ErrorBody),
    ))]
pub(crate) async fn policies(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<PolicyListing> {
    Ok(Json(node.access_policies(&c).await?))
}

/// Cedar policies to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPoliciesRequest {
    /// Cedar text; every policy needs a new `@id("…")`.
    pub policies: String,
    /// Reason (recorded with the change).
    pub reason: String,
}

/// Adds policies. The whole set is validated against the schema before anything is stored; the
/// next request uses it; the change is audited with the policy ids before and after.
#[utoipa::path(post, path = "/api/v1/access/policies", tag = "access",
    request_body = AddPoliciesRequest,
    responses(
        (status = 200, description = "the policies now in force", body = Object),
        (status = 400, description = "syntax error, missing or duplicate @id, schema validation failure", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 409, description = "the policies changed meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn add_policies(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<AddPoliciesRequest>,
) -> ApiResult<PolicyListing> {
    Ok(Json(
        node.add_access_policies(&c, &req.policies, &req.reason)
            .await?,
    ))
}

/// Removes an added policy (built-in ones cannot be removed).
#[utoipa::path(post, path = "/api/v1/access/policies/{id}/remove", tag = "access",
    params(("id" = String, Path, description = "policy @id")),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "the policies now in force", body = Object),
        (status = 400, description = "a built-in policy", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "no added policy has this id", body = ErrorBody),
    ))]
pub(crate) async fn remove_policy(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ReasonRequest>,
) -> ApiResult<PolicyListing> {
    Ok(Json(node.remove_access_policy(&c, &id, &req.reason).await?))
}

/// The attributes the access policies read for an account.
#[utoipa::path(get, path = "/api/v1/users/{id}/attributes", tag = "access",
    params(("id" = String, Path, description = "account id")),
    responses(
        (status = 200, description = "organisation, department, title, treatment_groups, supervises, roles, employment_status", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
    ))]
pub(crate) async fn attributes(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<UserAttributes> {
    Ok(Json(node.user_attributes(&c, &id).await?))
}

/// Sets the attributes of an account; the next request uses them; audited with before and after.
#[utoipa::path(put, path = "/api/v1/users/{id}/attributes", tag = "access",
    params(("id" = String, Path, description = "account id")),
    request_body = Object,
    responses(
        (status = 200, description = "the attributes now in force", body = Object),
        (status = 400, description = "a value outside its vocabulary (the field is named), an unknown supervised account", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "unknown account", body = ErrorBody),
    ))]
pub(crate) async fn set_attributes(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(attrs): JsonBody<UserAttributes>,
) -> ApiResult<UserAttributes> {
    Ok(Json(node.set_user_attributes(&c, &id, &attrs).await?))
}

/// Which alerts to list.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AlertsQuery {
    /// Only open alerts (the review queue).
    #[serde(default)]
    pub open: bool,
}

/// Abnormal-access alerts, newest first: account, address, time, rule, severity and what was
/// accessed (GB/T 39725-2020 §11.1.2.5). Security officers and auditors.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "access",
    params(("open" = Option<bool>, Query, description = "only open alerts (the review queue)")),
    responses(
        (status = 200, description = "alerts", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer or auditor", body = ErrorBody),
    ))]
pub(crate) async fn alerts(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Query(q): Query<AlertsQuery>,
) -> ApiResult<Vec<AlertView>> {
    Ok(Json(node.alerts(&c, q.open).await?))
}

/// A review that closes an alert.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// What was found.
    pub note: String,
}

/// Closes an alert with a review note (security officers); break-glass accesses are reviewed
/// this way afterwards.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/review", tag = "access",
    params(("id" = String, Path, description = "alert id")),
    request_body = ReviewRequest,
    responses(
        (status = 200, description = "reviewed", body = Object),
        (status = 400, description = "empty note", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "unknown alert", body = ErrorBody),
        (status = 409, description = "already reviewed", body = ErrorBody),
    ))]
pub(crate) async fn review_alert(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ReviewRequest>,
) -> ApiResult<serde_json::Value> {
    node.review_alert(&c, &id, &req.note).await?;
    Ok(Json(serde_json::json!({"id": id, "status": "reviewed"})))
}

/// Files a request for access to a patient outside the normal scope (clinicians): patient_id,
/// purpose, reason, days (1–30). Two distinct approvers must approve it (T/CI 857-2024 6.4.2,
/// DMS 4.3.2).
#[utoipa::path(post, path = "/api/v1/access-requests", tag = "access",
    request_body = Object,
    responses(
        (status = 200, description = "the pending request", body = Object),
        (status = 400, description = "bad days, purpose or empty reason", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a clinician", body = ErrorBody),
    ))]
pub(crate) async fn request_access(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<NewAccessRequest>,
) -> ApiResult<AccessRequestView> {
    Ok(Json(node.request_access(&c, &req).await?))
}

/// Access requests: one's own, or all for approvers and auditors.
#[utoipa::path(get, path = "/api/v1/access-requests", tag = "access",
    responses(
        (status = 200, description = "requests, newest first", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not see requests", body = ErrorBody),
    ))]
pub(crate) async fn access_requests(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<Vec<AccessRequestView>> {
    Ok(Json(node.access_requests(&c).await?))
}

/// One approver's decision on an access request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessDecisionRequest {
    /// Approve (`true`) or reject.
    pub approve: bool,
    /// Why.
    pub reason: String,
}

/// Approves or rejects an access request: the second distinct approval approves it, any rejection
/// rejects it; the requester never decides their own.
#[utoipa::path(post, path = "/api/v1/access-requests/{id}/decision", tag = "access",
    params(("id" = String, Path, description = "request id")),
    request_body = AccessDecisionRequest,
    responses(
        (status = 200, description = "the request after the decision", body = Object),
        (status = 400, description = "empty reason", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not an approver, the requester, or a second decision by the same person", body = ErrorBody),
        (status = 404, description = "unknown request", body = ErrorBody),
        (status = 409, description = "no longer pending", body = ErrorBody),
    ))]
pub(crate) async fn decide_access_request(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<AccessDecisionRequest>,
) -> ApiResult<AccessRequestView> {
    Ok(Json(
        node.decide_access_request(&c, &id, req.approve, &req.reason)
            .await?,
    ))
}
