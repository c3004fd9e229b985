//! Transparency-log endpoints of the audit log (T/CI 857-2024 7.2.6, 7.2.9 e)): the latest signed
//! checkpoint for anyone (clients and witnesses keep it to detect rollback), and inclusion and
//! consistency proofs for auditors.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use medspace_service::transparency::{ConsistencyProof, InclusionProof};
use medspace_service::Node;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, QueryParams};

/// The latest signed checkpoint (C2SP tlog-checkpoint signed note, `text/plain`). Public: it holds
/// only the log origin, its size and root hash, signed by the node identity key.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit", security(()),
    responses(
        (status = 200, description = "signed note: origin, tree size, base64 root hash, blank line, signature lines", body = String, content_type = "text/plain"),
        (status = 503, description = "no checkpoint could be read or signed", body = ErrorBody),
    ))]
pub(crate) async fn checkpoint(State(node): State<Arc<Node>>) -> Result<Response, ApiError> {
    let cp = node.latest_audit_checkpoint().await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        cp.note,
    )
        .into_response())
}

/// Query of an inclusion proof.
#[derive(Debug, Deserialize, IntoParams)]
pub struct InclusionParams {
    /// Entry sequence number (from 1).
    pub entry: i64,
    /// Tree size (default: the latest checkpoint).
    pub size: Option<u64>,
}

/// Inclusion proof of one audit entry (auditors; audited). Field names as in the transparency-dev
/// test vectors: `leafIdx`, `treeSize`, `leafHash`, `proof`, `root` (base64), plus the signed
/// `checkpoint` of that size.
#[utoipa::path(get, path = "/api/v1/audit/proof/inclusion", tag = "audit",
    params(InclusionParams),
    responses(
        (status = 200, description = "RFC 9162 inclusion proof", body = Object),
        (status = 400, description = "entry or size out of range", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not an auditor", body = ErrorBody),
    ))]
pub(crate) async fn inclusion_proof(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    QueryParams(p): QueryParams<InclusionParams>,
) -> Result<Json<InclusionProof>, ApiError> {
    Ok(Json(node.inclusion_proof_for(&c, p.entry, p.size).await?))
}

/// Query of a consistency proof.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ConsistencyParams {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size (default: the latest checkpoint).
    pub to: Option<u64>,
}

/// Consistency proof between two tree sizes (auditors; audited).
#[utoipa::path(get, path = "/api/v1/audit/proof/consistency", tag = "audit",
    params(ConsistencyParams),
    responses(
        (status = 200, description = "RFC 9162 consistency proof: size1, size2, proof, root1, root2", body = Object),
        (status = 400, description = "sizes out of range", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not an auditor", body = ErrorBody),
    ))]
pub(crate) async fn consistency_proof(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    QueryParams(p): QueryParams<ConsistencyParams>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    Ok(Json(node.consistency_proof_for(&c, p.from, p.to).await?))
}
