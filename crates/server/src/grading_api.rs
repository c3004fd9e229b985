//! Grading endpoints (GB/T 39725-2020 §6 and §9.2 a) 8); T/CI 857-2024 6.2, 7.2.6): the current
//! grading of a dataset and its history, the security officer's column overrides and
//! confirmation, the committee's decision. Each handler calls one service operation, which checks
//! the role, keeps the step in the append-only history and audits it (`medspace_service::grading`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use medspace_service::grading::{ColumnOverride, GradingStatus, GradingStep};
use medspace_service::Node;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, JsonBody};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The current grading of a dataset: step number, status, one report per column (the keys of
/// `medspace scan --format json`), and what the last step changed.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/grading", tag = "grading",
    params(("id" = String, Path, description = "dataset id")),
    responses(
        (status = 200, description = "current grading step: seq, action, status (proposed, confirmed, approved, rejected), actor_id, reason, columns, changes", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not see gradings", body = ErrorBody),
        (status = 404, description = "unknown dataset", body = ErrorBody),
    ))]
pub(crate) async fn current(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<GradingStep> {
    Ok(Json(node.grading(&c, &id).await?))
}

/// Every step of a dataset's grading, oldest first, each with the whole grading after it and the
/// before and after of what it changed.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/grading/history", tag = "grading",
    params(("id" = String, Path, description = "dataset id")),
    responses(
        (status = 200, description = "grading steps in order", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not see gradings", body = ErrorBody),
        (status = 404, description = "unknown dataset", body = ErrorBody),
    ))]
pub(crate) async fn history(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<Vec<GradingStep>> {
    Ok(Json(node.grading_history(&c, &id).await?))
}

/// The grading status of one dataset.
#[derive(Debug, Serialize, ToSchema)]
pub struct GradingStatusView {
    /// Dataset id.
    pub dataset_id: String,
    /// Number of the current step.
    pub seq: i64,
    /// `proposed`, `confirmed`, `approved` or `rejected`.
    #[schema(value_type = String)]
    pub status: GradingStatus,
}

/// The grading status of every dataset (officers, committee, auditors).
#[utoipa::path(get, path = "/api/v1/gradings", tag = "grading",
    responses(
        (status = 200, description = "status per dataset", body = Vec<GradingStatusView>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not see gradings", body = ErrorBody),
    ))]
pub(crate) async fn statuses(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<Vec<GradingStatusView>> {
    Ok(Json(
        node.grading_statuses(&c)
            .await?
            .into_iter()
            .map(|(dataset_id, seq, status)| GradingStatusView {
                dataset_id,
                seq,
                status,
            })
            .collect(),
    ))
}

/// An officer's edit of one column.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// Why (recorded in the history and the audit log).
    pub reason: String,
    /// The fields to change: any of `semantic_type`, `identifier_kind`, `category`, `level`,
    /// `dms_class`, `special_disease`, `hidden_from_self_query`, `suggested_action`.
    #[schema(value_type = Object)]
    pub set: ColumnOverride,
}

/// The security officer overrides one column's grading, with a reason; the grading returns to
/// `proposed` (an approved grading must be approved again).
#[utoipa::path(put, path = "/api/v1/datasets/{id}/grading/columns/{column}", tag = "grading",
    params(("id" = String, Path, description = "dataset id"),
           ("column" = String, Path, description = "column name")),
    request_body = OverrideRequest,
    responses(
        (status = 200, description = "the new grading step", body = Object),
        (status = 400, description = "no reason, no change, or a grading the standard forbids (special diseases below level 5, direct identifiers below level 4)", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "unknown dataset or column", body = ErrorBody),
        (status = 409, description = "the grading changed meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn override_column(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path((id, column)): Path<(String, String)>,
    JsonBody(req): JsonBody<OverrideRequest>,
) -> ApiResult<GradingStep> {
    Ok(Json(
        node.override_grading(&c, &id, &column, &req.set, &req.reason)
            .await?,
    ))
}

/// Confirmation body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// Why the grading is right.
    pub reason: String,
}

/// The security officer confirms a proposed (or rejected, after revision) grading for the
/// committee.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/grading/confirm", tag = "grading",
    params(("id" = String, Path, description = "dataset id")),
    request_body = ConfirmRequest,
    responses(
        (status = 200, description = "the confirmed grading", body = Object),
        (status = 400, description = "no reason, or a column the standard forbids", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "unknown dataset", body = ErrorBody),
        (status = 409, description = "already confirmed or approved", body = ErrorBody),
    ))]
pub(crate) async fn confirm(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ConfirmRequest>,
) -> ApiResult<GradingStep> {
    Ok(Json(node.confirm_grading(&c, &id, &req.reason).await?))
}

/// A committee member approves or rejects a confirmed grading (not one they confirmed). An
/// approval writes the grading into the catalog and lets the sandbox use the dataset.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/grading/decision", tag = "grading",
    params(("id" = String, Path, description = "dataset id")),
    request_body = crate::api::DecisionRequest,
    responses(
        (status = 200, description = "the decided grading", body = Object),
        (status = 400, description = "no reason", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a committee member, or the member confirmed it", body = ErrorBody),
        (status = 404, description = "unknown dataset", body = ErrorBody),
        (status = 409, description = "the grading is not confirmed", body = ErrorBody),
    ))]
pub(crate) async fn decide(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<crate::api::DecisionRequest>,
) -> ApiResult<GradingStep> {
    Ok(Json(
        node.decide_grading(&c, &id, req.approve, &req.reason)
            .await?,
    ))
}
