//! Re-identification through the patient code index (GB/T 39725-2020 §10.2 f)–h)): the
//! re-identification officer files a request with a reason, a committee member approves or
//! rejects it, and the officer resolves the approved request once. Each handler calls one
//! service operation, which checks the role and the two-person rule and audits the step before
//! it answers (`medspace_service::reidentification`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use medspace_service::reidentification::{ReidRequest, ResolvedIdentity};
use medspace_service::Node;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, JsonBody};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// A request to resolve one pseudonym. The pseudonym travels in the body, never in a URL.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReidentificationBody {
    /// The de-identified dataset holding the pseudonym.
    pub dataset_id: String,
    /// Its column.
    pub column: String,
    /// The pseudonym as it appears in the dataset.
    pub pseudonym: String,
    /// Why the patient must be identified (kept with the request, shown to the approver).
    pub reason: String,
}

/// The second person's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReidentificationDecision {
    /// Approve (`true`) or reject.
    pub approve: bool,
    /// Why.
    pub reason: String,
}

/// Files a re-identification request (re-identification officers).
#[utoipa::path(post, path = "/api/v1/reidentifications", tag = "reidentification",
    request_body = ReidentificationBody,
    responses(
        (status = 200, description = "the pending request", body = Object),
        (status = 400, description = "empty reason, not a de-identified dataset", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a re-identification officer", body = ErrorBody),
        (status = 404, description = "no code index for the column, or no such pseudonym (audited)", body = ErrorBody),
    ))]
pub(crate) async fn request(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<ReidentificationBody>,
) -> ApiResult<ReidRequest> {
    Ok(Json(
        node.request_reidentification(
            &c,
            &req.dataset_id,
            &req.column,
            &req.pseudonym,
            &req.reason,
        )
        .await?,
    ))
}

/// Re-identification requests, oldest first (officers, committee members, auditors).
#[utoipa::path(get, path = "/api/v1/reidentifications", tag = "reidentification",
    responses(
        (status = 200, description = "requests (no pseudonyms, no identities)", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not see them", body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<Vec<ReidRequest>> {
    Ok(Json(node.reidentification_requests(&c).await?))
}

/// Approves or rejects a pending request (committee members; never the requester).
#[utoipa::path(post, path = "/api/v1/reidentifications/{id}/decision", tag = "reidentification",
    params(("id" = String, Path, description = "request id")),
    request_body = ReidentificationDecision,
    responses(
        (status = 200, description = "the decided request", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a committee member, or the requester", body = ErrorBody),
        (status = 404, description = "unknown request", body = ErrorBody),
        (status = 409, description = "no longer pending", body = ErrorBody),
    ))]
pub(crate) async fn decide(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ReidentificationDecision>,
) -> ApiResult<ReidRequest> {
    Ok(Json(
        node.decide_reidentification(&c, &id, req.approve, &req.reason)
            .await?,
    ))
}

/// Returns the identity behind an approved request to the officer who filed it, once.
#[utoipa::path(post, path = "/api/v1/reidentifications/{id}/resolve", tag = "reidentification",
    params(("id" = String, Path, description = "request id")),
    responses(
        (status = 200, description = "request_id, dataset_id, column, identity", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not the requesting officer", body = ErrorBody),
        (status = 404, description = "unknown request", body = ErrorBody),
        (status = 409, description = "not approved, or already resolved", body = ErrorBody),
    ))]
pub(crate) async fn resolve(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<ResolvedIdentity> {
    Ok(Json(node.resolve_reidentification(&c, &id).await?))
}
