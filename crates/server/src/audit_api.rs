//! Transparency-log endpoints of the audit log (T/CI 857-2024 7.2.6, 7.2.9 e)): the latest signed
//! checkpoint for anyone (clients and witnesses keep it to detect rollback), and inclusion and
//! consistency proofs for auditors.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use medspace_service::audit_query::{EventFilter, SubjectHistory};
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

/// Query of the audit event search.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EventParams {
    /// Entries at or after this time (RFC 3339).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries before this time (RFC 3339).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Account id.
    pub actor: Option<String>,
    /// Dotted action name (`sandbox.query` …).
    pub action: Option<String>,
    /// Dataset id.
    pub dataset: Option<String>,
    /// Application id.
    pub application: Option<String>,
    /// `success`, `denied` or `error`.
    #[param(value_type = Option<String>)]
    pub outcome: Option<medspace_service::reexports::core::Outcome>,
    /// Only entries after this sequence number (paging).
    pub after: Option<i64>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<i64>,
    /// `json` (default: the stored entries) or `fhir` (a FHIR R4 `Bundle` of `AuditEvent`).
    pub format: Option<String>,
}

/// Audit entries by time, actor, action, dataset, application and outcome (auditors; the search
/// is itself audited). `format=fhir` answers a FHIR R4 `Bundle` (type `searchset`) of
/// `AuditEvent` resources.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit",
    params(EventParams),
    responses(
        (status = 200, description = "entries (JSON array) or a FHIR R4 Bundle of AuditEvent", body = Object),
        (status = 400, description = "a filter is malformed", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not an auditor", body = ErrorBody),
    ))]
pub(crate) async fn events(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    QueryParams(p): QueryParams<EventParams>,
) -> Result<Response, ApiError> {
    let fhir = match p.format.as_deref() {
        None | Some("json") => false,
        Some("fhir") => true,
        Some(_) => {
            return Err(ApiError::Service(
                medspace_service::ServiceError::BadRequest(
                    "format: expected `json` or `fhir`".into(),
                ),
            ))
        }
    };
    let filter = EventFilter {
        since: p.since,
        until: p.until,
        actor: p.actor,
        action: p.action,
        dataset: p.dataset,
        application: p.application,
        outcome: p.outcome,
        after: p.after,
        limit: p.limit,
    };
    let entries = node.audit_events(&c, &filter).await?;
    if !fhir {
        return Ok(Json(entries).into_response());
    }
    let bundle = node.fhir_audit_bundle(&entries);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        Json(bundle),
    )
        .into_response())
}

/// Body of a subject-history request. The identifiers travel in the body (never in a URL or a
/// log) and are only ever kept as keyed pseudonyms.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SubjectHistoryRequest {
    /// The subject's identifiers (ID number, patient number …).
    pub identifiers: Vec<String>,
}

/// Every use or disclosure of one data subject's data over the last six years (GB/T 39725-2020
/// §7 g)), each entry with an inclusion proof against the signed checkpoint returned alongside
/// (auditors; audited under the subject's pseudonym).
#[utoipa::path(post, path = "/api/v1/audit/subject-history", tag = "audit",
    request_body = SubjectHistoryRequest,
    responses(
        (status = 200, description = "pseudonyms, datasets, entries with leafIdx/leafHash/proof, treeSize, root, checkpoint", body = Object),
        (status = 400, description = "no identifier given", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not an auditor", body = ErrorBody),
    ))]
pub(crate) async fn subject_history(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    crate::extract::JsonBody(body): crate::extract::JsonBody<SubjectHistoryRequest>,
) -> Result<Json<SubjectHistory>, ApiError> {
    Ok(Json(node.subject_history(&c, &body.identifiers).await?))
}
