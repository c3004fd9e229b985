//! Patient self-service endpoints (GB/T 39725-2020 §7 d)–h), §11.2): login by mobile number and
//! one-time code, own (or a ward's) records of the last months with sensitive results hidden, a
//! download with the security notice, the six-year disclosure history, correction and restriction
//! requests; and the officer's side (patient accounts, guardian links, the request queue). Each
//! handler calls one service operation (`medspace_service::self_service`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use medspace_service::audit_query::SubjectHistory;
use medspace_service::patients::PatientRecords;
use medspace_service::self_service::{RecordDownload, SubjectRequestView};
use medspace_service::Node;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts_api::{session, ClientAddress, LoginStepResponse};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, JsonBody};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// A mobile number.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MobileBody {
    /// Mainland mobile number.
    pub mobile: String,
}

/// A mobile number and the code sent to it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeLoginBody {
    /// Mainland mobile number.
    pub mobile: String,
    /// The six-digit code.
    pub code: String,
}

/// Accepted (the same answer whether or not the number has an account).
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSent {
    /// Always `true`.
    pub accepted: bool,
}

/// Sends a one-time login code by SMS to a patient's registered mobile number.
#[utoipa::path(post, path = "/api/v1/patient/login/code", tag = "self-service",
    request_body = MobileBody,
    responses(
        (status = 200, description = "accepted (also for an unregistered number)", body = CodeSent),
        (status = 400, description = "not a mainland mobile number", body = ErrorBody),
    ))]
pub(crate) async fn send_code(
    State(node): State<Arc<Node>>,
    JsonBody(req): JsonBody<MobileBody>,
) -> ApiResult<CodeSent> {
    node.send_login_code(&req.mobile).await?;
    Ok(Json(CodeSent { accepted: true }))
}

/// Logs a patient in with the code sent to their mobile number.
#[utoipa::path(post, path = "/api/v1/patient/login", tag = "self-service",
    request_body = CodeLoginBody,
    responses(
        (status = 200, description = "session token", body = LoginStepResponse),
        (status = 401, description = "wrong, expired or exhausted code", body = ErrorBody),
    ))]
pub(crate) async fn login(
    State(node): State<Arc<Node>>,
    ClientAddress(address): ClientAddress,
    JsonBody(req): JsonBody<CodeLoginBody>,
) -> ApiResult<LoginStepResponse> {
    Ok(Json(session(
        node.login_with_sms_code(&req.mobile, &req.code, address)
            .await?,
    )))
}

/// Whose records and since when.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MineQuery {
    /// A ward's patient id (guardians); the caller's own records when absent.
    #[serde(rename = "for")]
    pub for_patient: Option<String>,
    /// Start of the window (RFC 3339); the last `[patients] self_query_months` by default.
    pub since: Option<DateTime<Utc>>,
}

/// The caller's own records (or a ward's): the last three months by default; HIV, hepatitis and
/// syphilis results are withheld online (GB/T 39725-2020 §11.2.2.2).
#[utoipa::path(get, path = "/api/v1/me/records", tag = "self-service",
    params(("for" = Option<String>, Query, description = "a ward's patient id (guardians)"),
           ("since" = Option<String>, Query, description = "RFC 3339 start of the window")),
    responses(
        (status = 200, description = "records and the number withheld", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a patient account, or not a guardian of that patient", body = ErrorBody),
    ))]
pub(crate) async fn my_records(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Query(q): Query<MineQuery>,
) -> ApiResult<PatientRecords> {
    Ok(Json(
        node.my_records(&c, q.for_patient.as_deref(), q.since)
            .await?,
    ))
}

/// A copy of the caller's own records with the security notice (GB/T 39725-2020 §7 e),
/// §11.2.2.3); audited as a download.
#[utoipa::path(get, path = "/api/v1/me/records/download", tag = "self-service",
    params(("for" = Option<String>, Query, description = "a ward's patient id (guardians)"),
           ("since" = Option<String>, Query, description = "RFC 3339 start of the window")),
    responses(
        (status = 200, description = "notice, generated_at, records", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a patient account", body = ErrorBody),
    ))]
pub(crate) async fn download(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Query(q): Query<MineQuery>,
) -> ApiResult<RecordDownload> {
    Ok(Json(
        node.download_my_records(&c, q.for_patient.as_deref(), q.since)
            .await?,
    ))
}

/// Every use or disclosure of the caller's data (or a ward's) over the last six years, with
/// inclusion proofs against a signed checkpoint (GB/T 39725-2020 §7 g)).
#[utoipa::path(get, path = "/api/v1/me/disclosures", tag = "self-service",
    params(("for" = Option<String>, Query, description = "a ward's patient id (guardians)")),
    responses(
        (status = 200, description = "entries with proofs, treeSize, root, checkpoint", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a patient account", body = ErrorBody),
    ))]
pub(crate) async fn disclosures(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Query(q): Query<MineQuery>,
) -> ApiResult<SubjectHistory> {
    Ok(Json(
        node.my_disclosures(&c, q.for_patient.as_deref()).await?,
    ))
}

/// A correction or restriction request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectRequestBody {
    /// `correction` (§7 f)) or `restriction` (§7 h)).
    pub kind: String,
    /// What should change.
    pub text: String,
}

/// The id of a filed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Filed {
    /// Request id.
    pub id: String,
}

/// Files a correction or restriction request into the officers' work queue.
#[utoipa::path(post, path = "/api/v1/me/requests", tag = "self-service",
    request_body = SubjectRequestBody,
    responses(
        (status = 200, description = "filed", body = Filed),
        (status = 400, description = "unknown kind or empty text", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a patient account", body = ErrorBody),
    ))]
pub(crate) async fn file_request(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<SubjectRequestBody>,
) -> ApiResult<Filed> {
    Ok(Json(Filed {
        id: node.file_subject_request(&c, &req.kind, &req.text).await?,
    }))
}

/// Creates a patient's self-service account (security officers).
#[utoipa::path(post, path = "/api/v1/patients/{id}/account", tag = "self-service",
    params(("id" = String, Path, description = "patient identifier")),
    request_body = MobileBody,
    responses(
        (status = 200, description = "the account id", body = Filed),
        (status = 400, description = "not a mainland mobile number", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 409, description = "the number already has an account", body = ErrorBody),
    ))]
pub(crate) async fn create_account(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<MobileBody>,
) -> ApiResult<Filed> {
    Ok(Json(Filed {
        id: node.create_patient_account(&c, &id, &req.mobile).await?,
    }))
}

/// A ward to link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WardBody {
    /// The child's (or ward's) patient id.
    pub patient_id: String,
}

/// Links a guardian's patient account to a child or ward (security officers, after checking the
/// guardianship).
#[utoipa::path(post, path = "/api/v1/users/{id}/wards", tag = "self-service",
    params(("id" = String, Path, description = "the guardian's patient account id")),
    request_body = WardBody,
    responses(
        (status = 200, description = "linked", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "not a patient account", body = ErrorBody),
        (status = 409, description = "already linked", body = ErrorBody),
    ))]
pub(crate) async fn link_ward(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<WardBody>,
) -> ApiResult<serde_json::Value> {
    node.link_guardian(&c, &id, &req.patient_id).await?;
    Ok(Json(serde_json::json!({"guardian": id, "linked": true})))
}

/// Which requests to list.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenQuery {
    /// Only open ones.
    #[serde(default)]
    pub open: bool,
}

/// The correction and restriction work queue (security officers).
#[utoipa::path(get, path = "/api/v1/subject-requests", tag = "self-service",
    params(("open" = Option<bool>, Query, description = "only open requests")),
    responses(
        (status = 200, description = "requests, oldest first", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
    ))]
pub(crate) async fn requests(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Query(q): Query<OpenQuery>,
) -> ApiResult<Vec<SubjectRequestView>> {
    Ok(Json(node.subject_requests(&c, q.open).await?))
}

/// An officer's resolution.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// Accepted (`true`) or declined.
    pub accept: bool,
    /// What was done.
    pub resolution: String,
}

/// Accepts or declines a request with what was done (security officers).
#[utoipa::path(post, path = "/api/v1/subject-requests/{id}/resolve", tag = "self-service",
    params(("id" = String, Path, description = "request id")),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "resolved", body = Object),
        (status = 400, description = "empty resolution", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "unknown request", body = ErrorBody),
        (status = 409, description = "already resolved", body = ErrorBody),
    ))]
pub(crate) async fn resolve(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ResolveBody>,
) -> ApiResult<serde_json::Value> {
    node.resolve_subject_request(&c, &id, req.accept, &req.resolution)
        .await?;
    Ok(Json(serde_json::json!({"id": id, "resolved": true})))
}

/// The account name and password a patient chooses.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    /// New account name (optional).
    pub username: Option<String>,
    /// New password (same rules as staff passwords).
    pub password: String,
}

/// The patient chooses an account name and a password (GB/T 39725-2020 §11.2.2.1); afterwards
/// `/api/v1/auth/login` accepts them too, with the staff password rules and maximum age.
#[utoipa::path(post, path = "/api/v1/me/credentials", tag = "self-service",
    request_body = CredentialsBody,
    responses(
        (status = 200, description = "set", body = Object),
        (status = 400, description = "a password rule or the account-name rule is broken (named)", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a patient account", body = ErrorBody),
        (status = 409, description = "the account name is taken", body = ErrorBody),
    ))]
pub(crate) async fn set_credentials(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<CredentialsBody>,
) -> ApiResult<serde_json::Value> {
    node.set_patient_credentials(&c, req.username.as_deref(), &req.password)
        .await?;
    Ok(Json(serde_json::json!({"updated": true})))
}
