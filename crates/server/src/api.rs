//! Routes and handlers of `/api/v1` (T/CI 857-2024 6.4.1 default deny; GB/T 39725-2020 Table 5
//! interface rows; DMS 7.2.3). Each handler authenticates the caller through the service layer and
//! calls exactly one service operation, which checks the role and grants and writes the audit
//! entry: the server never decides access itself.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRef, MatchedPath, Path, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use medspace_core::{Role, User};
use medspace_service::datasets::{DatasetView, IngestRequest};
use medspace_service::reexports::deid::DeidReport;
use medspace_service::reidentification::DeidentifyOptions;
use medspace_service::sandbox::QueryResult;
use medspace_service::workflow::ApplicationRequest;
use medspace_service::{Action, Node};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, JsonBody, QueryParams};
use crate::peer::PeerIdentity;
use crate::upload;

/// Largest CSV upload by default: 1 GiB.
pub const DEFAULT_MAX_UPLOAD: u64 = 1 << 30;

/// Router settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterOptions {
    /// Largest CSV upload in bytes (streamed, never buffered whole; larger uploads get 413).
    pub max_upload_bytes: u64,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            max_upload_bytes: DEFAULT_MAX_UPLOAD,
        }
    }
}

/// Shared handler state.
#[derive(Debug, Clone)]
pub struct AppState {
    node: Arc<Node>,
    options: RouterOptions,
}

impl FromRef<AppState> for Arc<Node> {
    fn from_ref(s: &AppState) -> Self {
        s.node.clone()
    }
}

impl FromRef<AppState> for RouterOptions {
    fn from_ref(s: &AppState) -> Self {
        s.options
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Builds the API router with default options.
pub fn router(node: Arc<Node>) -> Router {
    router_with(node, RouterOptions::default())
}

/// Builds the API router.
pub fn router_with(node: Arc<Node>, options: RouterOptions) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/auth/login", post(crate::accounts_api::login))
        .route(
            "/api/v1/patient/login/code",
            post(crate::self_service_api::send_code),
        )
        .route(
            "/api/v1/patient/login",
            post(crate::self_service_api::login),
        )
        .route(
            "/api/v1/auth/login/totp",
            post(crate::accounts_api::login_totp),
        )
        .route(
            "/api/v1/auth/totp/enrol",
            post(crate::accounts_api::totp_enrol),
        )
        .route(
            "/api/v1/auth/totp/confirm",
            post(crate::accounts_api::totp_confirm),
        )
        .route(
            "/api/v1/users/{id}/unlock",
            post(crate::accounts_api::unlock),
        )
        .route(
            "/api/v1/users/{id}/totp/reset",
            post(crate::accounts_api::totp_reset),
        )
        .route(
            "/api/v1/users/{id}/validity",
            post(crate::accounts_api::validity),
        )
        .route(
            "/api/v1/tokens",
            get(crate::accounts_api::list_tokens).post(crate::accounts_api::create_token),
        )
        .route(
            "/api/v1/tokens/{id}/revoke",
            post(crate::accounts_api::revoke_token),
        )
        .route(
            "/api/v1/certificates",
            post(crate::accounts_api::map_certificate),
        )
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/datasets", get(list_datasets).post(ingest))
        .route("/api/v1/datasets/{id}", get(get_dataset))
        .route("/api/v1/datasets/{id}/deidentify", post(deidentify))
        .route("/api/v1/datasets/{id}/risk", post(dataset_risk))
        .route("/api/v1/datasets/{id}/destroy", post(destroy_dataset))
        .route(
            "/api/v1/datasets/{id}/destruction-approvals",
            post(approve_destruction),
        )
        .route(
            "/api/v1/datasets/{id}/grading",
            get(crate::grading_api::current),
        )
        .route(
            "/api/v1/datasets/{id}/grading/history",
            get(crate::grading_api::history),
        )
        .route(
            "/api/v1/datasets/{id}/grading/columns/{column}",
            axum::routing::put(crate::grading_api::override_column),
        )
        .route(
            "/api/v1/datasets/{id}/grading/confirm",
            post(crate::grading_api::confirm),
        )
        .route(
            "/api/v1/datasets/{id}/grading/decision",
            post(crate::grading_api::decide),
        )
        .route("/api/v1/gradings", get(crate::grading_api::statuses))
        .route(
            "/api/v1/patients/{id}/records",
            get(crate::patients_api::records).post(crate::patients_api::register_record),
        )
        .route(
            "/api/v1/patients/{id}/consents",
            get(crate::patients_api::list_consents).post(crate::patients_api::add_consent),
        )
        .route(
            "/api/v1/patients/{id}/consents/fhir",
            get(crate::patients_api::consents_fhir).post(crate::patients_api::import_consent_fhir),
        )
        .route(
            "/api/v1/consents/{id}/revoke",
            post(crate::patients_api::revoke_consent),
        )
        .route(
            "/api/v1/access/policies",
            get(crate::patients_api::policies).post(crate::patients_api::add_policies),
        )
        .route(
            "/api/v1/access/policies/{id}/remove",
            post(crate::patients_api::remove_policy),
        )
        .route("/api/v1/alerts", get(crate::patients_api::alerts))
        .route(
            "/api/v1/patients/{id}/account",
            post(crate::self_service_api::create_account),
        )
        .route(
            "/api/v1/users/{id}/wards",
            post(crate::self_service_api::link_ward),
        )
        .route(
            "/api/v1/me/records",
            get(crate::self_service_api::my_records),
        )
        .route(
            "/api/v1/me/records/download",
            get(crate::self_service_api::download),
        )
        .route(
            "/api/v1/me/disclosures",
            get(crate::self_service_api::disclosures),
        )
        .route(
            "/api/v1/me/requests",
            post(crate::self_service_api::file_request),
        )
        .route(
            "/api/v1/me/credentials",
            post(crate::self_service_api::set_credentials),
        )
        .route(
            "/api/v1/subject-requests",
            get(crate::self_service_api::requests),
        )
        .route(
            "/api/v1/subject-requests/{id}/resolve",
            post(crate::self_service_api::resolve),
        )
        .route(
            "/api/v1/reidentifications",
            get(crate::reident_api::list).post(crate::reident_api::request),
        )
        .route(
            "/api/v1/reidentifications/{id}/decision",
            post(crate::reident_api::decide),
        )
        .route(
            "/api/v1/reidentifications/{id}/resolve",
            post(crate::reident_api::resolve),
        )
        .route(
            "/api/v1/access-requests",
            get(crate::patients_api::access_requests).post(crate::patients_api::request_access),
        )
        .route(
            "/api/v1/access-requests/{id}/decision",
            post(crate::patients_api::decide_access_request),
        )
        .route(
            "/api/v1/alerts/{id}/review",
            post(crate::patients_api::review_alert),
        )
        .route(
            "/api/v1/users/{id}/attributes",
            get(crate::patients_api::attributes).put(crate::patients_api::set_attributes),
        )
        .route("/api/v1/keys", get(key_status))
        .route("/api/v1/applications", get(list_applications).post(apply))
        .route(
            "/api/v1/applications/{id}/decision",
            post(decide_application),
        )
        .route("/api/v1/sandbox/tables", get(granted_tables))
        .route("/api/v1/sandbox/query", post(query))
        .route("/api/v1/exports", get(list_exports).post(request_export))
        .route("/api/v1/exports/{id}/decision", post(decide_export))
        .route("/api/v1/exports/{id}/download", get(download_export))
        .route("/api/v1/audit/entries", get(audit_entries))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route(
            "/api/v1/audit/checkpoint",
            get(crate::audit_api::checkpoint),
        )
        .route(
            "/api/v1/audit/proof/inclusion",
            get(crate::audit_api::inclusion_proof),
        )
        .route(
            "/api/v1/audit/proof/consistency",
            get(crate::audit_api::consistency_proof),
        )
        .route("/api/v1/audit/events", get(crate::audit_api::events))
        .route(
            "/api/v1/audit/subject-history",
            post(crate::audit_api::subject_history),
        )
        .route(
            crate::witness_api::ADD_CHECKPOINT_PATH,
            post(crate::witness_api::add_checkpoint),
        )
        .route("/api/v1/peer/identity", get(peer_identity))
        .route(
            "/api/v1/peer/account",
            get(crate::accounts_api::peer_account),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(AppState { node, options })
}

/// Builds the router of the peer listener (mutual TLS, T/CI 857-2024 7.2): only the health
/// check and the peer endpoints; the user API is not reachable on the inter-node port.
pub fn peer_router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            crate::witness_api::ADD_CHECKPOINT_PATH,
            post(crate::witness_api::add_checkpoint),
        )
        .route("/api/v1/peer/identity", get(peer_identity))
        .route(
            "/api/v1/peer/account",
            get(crate::accounts_api::peer_account),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(AppState {
            node,
            options: RouterOptions::default(),
        })
}

/// Headers on every response: nothing cached (responses carry personal-data-derived results),
/// no content sniffing, HTTPS only, never framed.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// One log line per request: method, route template (ids are not logged), status and duration.
/// Query strings, bodies and tokens are never logged.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(unrouted)".into());
    let started = Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::Request {
        status: StatusCode::NOT_FOUND,
        kind: "not_found",
        message: "no such endpoint; see /api/v1/openapi.json".into(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::Request {
        status: StatusCode::METHOD_NOT_ALLOWED,
        kind: "method_not_allowed",
        message: "this endpoint does not take that method; see /api/v1/openapi.json".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Health and the API description

/// Health check body.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`.
    pub status: &'static str,
    /// Entries in the audit chain (the metadata store answered).
    pub audit_entries: i64,
    /// Whether the latest audit checkpoint carries the configured quorum of witness cosignatures
    /// (true when no witness is configured). The node stays healthy (200) when it does not.
    pub audit_witness_quorum: bool,
}

/// Liveness: the node runs and its metadata store answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses(
        (status = 200, description = "node and store are up", body = HealthResponse),
        (status = 503, description = "metadata store not answering", body = ErrorBody),
    ))]
pub(crate) async fn healthz(
    State(node): State<Arc<Node>>,
) -> Result<Json<HealthResponse>, Response> {
    match node.store().audit_head().await {
        Ok(head) => Ok(Json(HealthResponse {
            status: "ok",
            audit_entries: head.map(|h| h.seq).unwrap_or(0),
            audit_witness_quorum: match node.witness_status(false).await {
                Ok(w) => w.audit_witness_quorum,
                Err(e) => {
                    tracing::error!(error = %e, "health check: witness status unknown");
                    false
                }
            },
        })),
        Err(e) => {
            tracing::error!(error = %e, "health check: metadata store failed");
            let body = ErrorBody {
                error: "unavailable",
                message: "the metadata store is not answering; see the node log".into(),
                file: None,
                line: None,
                column: None,
                expected: None,
            };
            Err((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response())
        }
    }
}

/// This document (OpenAPI 3).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "the OpenAPI document", body = Object)))]
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::openapi())
}

// ---------------------------------------------------------------------------------------------
// Sessions and accounts

/// The account a session belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRef {
    /// Account id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Role.
    #[schema(value_type = String, example = "data_user")]
    pub role: Role,
}

/// Success without data.
#[derive(Debug, Serialize, ToSchema)]
pub struct OkResponse {
    /// Always true.
    pub ok: bool,
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses(
        (status = 200, description = "logged out", body = OkResponse),
        (status = 401, description = "no valid session", body = ErrorBody),
    ))]
pub(crate) async fn logout(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<OkResponse> {
    node.logout(&c).await?;
    Ok(Json(OkResponse { ok: true }))
}

/// Password change body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordRequest {
    /// Current (or one-time) password.
    pub old_password: String,
    /// New password (12+ characters, three character classes).
    pub new_password: String,
}

/// Changes the caller's password.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth",
    request_body = PasswordRequest,
    responses(
        (status = 200, description = "changed", body = OkResponse),
        (status = 400, description = "the new password does not meet the policy", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "wrong current password", body = ErrorBody),
    ))]
pub(crate) async fn change_password(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> ApiResult<OkResponse> {
    node.change_password(&c, &req.old_password, &req.new_password)
        .await?;
    Ok(Json(OkResponse { ok: true }))
}

/// An account as shown to administrators (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Account id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Role.
    #[schema(value_type = String, example = "security_officer")]
    pub role: Role,
    /// The one-time password has not been changed yet.
    pub must_change_password: bool,
    /// Consecutive failed logins.
    pub failed_logins: i64,
    /// Locked after too many failed logins.
    pub locked: bool,
    /// Disabled.
    pub disabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        // Destructured so a new field (a secret, say) cannot slip into responses unnoticed.
        let User {
            id,
            username,
            role,
            password_hash: _,
            must_change_password,
            failed_logins,
            locked,
            disabled,
            created_at,
        } = u;
        UserView {
            id,
            username,
            role,
            must_change_password,
            failed_logins,
            locked,
            disabled,
            created_at,
        }
    }
}

/// Lists accounts (administrators).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses(
        (status = 200, description = "accounts", body = Vec<UserView>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
    ))]
pub(crate) async fn list_users(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<Vec<UserView>> {
    Ok(Json(
        node.list_users(&c)
            .await?
            .into_iter()
            .map(UserView::from)
            .collect(),
    ))
}

/// New account body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// Login name (3–32 of a–z, 0–9, `.`, `_`, `-`).
    pub username: String,
    /// One of administrator, security_officer, committee_member, data_user, auditor.
    #[schema(value_type = String, example = "data_user")]
    pub role: Role,
}

/// A new account and its one-time password (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateUserResponse {
    /// The account.
    pub user: UserView,
    /// One-time password; must be changed at first login.
    pub one_time_password: String,
}

/// Creates an account with a one-time password (administrators).
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 200, description = "account and one-time password", body = CreateUserResponse),
        (status = 400, description = "invalid username or role", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
        (status = 409, description = "username taken", body = ErrorBody),
    ))]
pub(crate) async fn create_user(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<CreateUserRequest>,
) -> ApiResult<CreateUserResponse> {
    let (user, otp) = node.create_user(&c, &req.username, req.role).await?;
    Ok(Json(CreateUserResponse {
        user: user.into(),
        one_time_password: otp,
    }))
}

// ---------------------------------------------------------------------------------------------
// Datasets

/// Lists catalog entries visible to the caller (data users see de-identified entries only).
#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets",
    responses(
        (status = 200, description = "catalog entries (id, name, kind, schema, classification, level, rows, version, lineage)", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not see the catalog", body = ErrorBody),
    ))]
pub(crate) async fn list_datasets(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<Vec<DatasetView>> {
    Ok(Json(node.list_datasets(&c).await?))
}

/// Ingest parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// Catalog name, also the sandbox table name (lower-case letter, then a–z, 0–9, `_`).
    pub name: String,
    /// Declared update frequency (default `once`).
    pub update_frequency: Option<String>,
}

fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
}

/// Ingests a CSV body (UTF-8, header row) as a new encrypted dataset (security officers). The body
/// is streamed: validated, classified and encrypted as it arrives, never buffered whole.
#[utoipa::path(post, path = "/api/v1/datasets", tag = "datasets",
    params(IngestParams),
    request_body(content = String, content_type = "text/csv", description = "the CSV file (UTF-8, header row)"),
    responses(
        (status = 200, description = "catalog entry", body = Object),
        (status = 400, description = "malformed CSV (file, line, column, expected) or bad name", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 409, description = "name taken", body = ErrorBody),
        (status = 413, description = "upload over the limit (1 GiB by default)", body = ErrorBody),
        (status = 415, description = "Content-Type is not text/csv", body = ErrorBody),
    ))]
pub(crate) async fn ingest(
    State(node): State<Arc<Node>>,
    State(options): State<RouterOptions>,
    Authed(c): Authed,
    QueryParams(p): QueryParams<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<DatasetView> {
    let limit = options.max_upload_bytes;
    if !is_csv(&headers) {
        return Err(ApiError::unsupported_media_type("text/csv"));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let (reader, over_limit) = upload::bridge(body, limit);
    let result = node
        .ingest(
            &c,
            IngestRequest {
                source_name: format!("upload:{}", p.name),
                name: p.name,
                owner: None,
                update_frequency: p.update_frequency.unwrap_or_else(|| "once".into()),
            },
            Box::new(reader),
            Box::new(|_| {}),
        )
        .await;
    match result {
        Ok(meta) => Ok(Json(DatasetView::from(&meta))),
        Err(_) if over_limit.exceeded() => Err(ApiError::too_large(limit)),
        Err(e) => Err(e.into()),
    }
}

/// One catalog entry. Data users need an approved, current application for it.
#[utoipa::path(get, path = "/api/v1/datasets/{id}", tag = "datasets",
    params(("id" = String, Path, description = "dataset id")),
    responses(
        (status = 200, description = "catalog entry", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "no approved application", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
    ))]
pub(crate) async fn get_dataset(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<DatasetView> {
    Ok(Json(node.get_dataset(&c, &id).await?))
}

/// De-identification body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeidentifyRequest {
    /// Policy (TOML text).
    pub policy: String,
    /// Project whose keys make pseudonyms and date shifts (1–64 characters).
    pub project: String,
    /// Name of the derived dataset.
    pub name: String,
    /// Keep a patient code index of the pseudonymised columns so that a re-identification
    /// officer can resolve a pseudonym with a second person's approval (GB/T 39725-2020 §10.2 f)).
    #[serde(default)]
    pub code_index: bool,
}

/// A derived dataset and what the run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeidentifyResponse {
    /// Catalog entry of the derived dataset.
    #[schema(value_type = Object)]
    pub dataset: DatasetView,
    /// Report: rows in and out, actions per column, k-anonymity result (names and counts only).
    #[schema(value_type = Object)]
    pub report: DeidReport,
}

/// Derives a de-identified dataset (security officers).
#[utoipa::path(post, path = "/api/v1/datasets/{id}/deidentify", tag = "datasets",
    params(("id" = String, Path, description = "source dataset id")),
    request_body = DeidentifyRequest,
    responses(
        (status = 200, description = "derived dataset and report", body = DeidentifyResponse),
        (status = 400, description = "invalid policy, project or name", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "unknown source", body = ErrorBody),
        (status = 409, description = "k-anonymity check failed (nothing published) or name taken", body = ErrorBody),
    ))]
pub(crate) async fn deidentify(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<DeidentifyRequest>,
) -> ApiResult<DeidentifyResponse> {
    let (meta, report) = node
        .deidentify_dataset_with(
            &c,
            &id,
            &req.policy,
            &req.project,
            &req.name,
            DeidentifyOptions {
                code_index: req.code_index,
            },
        )
        .await?;
    Ok(Json(DeidentifyResponse {
        dataset: DatasetView::from(&meta),
        report,
    }))
}

/// Risk assessment body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RiskRequest {
    /// Quasi-identifier columns the records are grouped by (1–64).
    pub quasi_identifiers: Vec<String>,
    /// A sensitive column whose diversity within the classes is measured.
    #[serde(default)]
    pub sensitive: Option<String>,
    /// Size of the population the dataset was drawn from, for the population-uniqueness
    /// estimate (Zayatz).
    #[serde(default)]
    pub population: Option<f64>,
}

/// The re-identification risk of a stored dataset (security officers; GB/T 39725-2020
/// §11.4.2.4): prosecutor, journalist and marketer risk, sample uniques and, given a population
/// size, population uniques — aggregate figures only, the same as `medspace risk`. Only the
/// named columns are decrypted, inside the node; the request is audited.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/risk", tag = "datasets",
    params(("id" = String, Path, description = "dataset id")),
    request_body = RiskRequest,
    responses(
        (status = 200, description = "risk figures", body = Object),
        (status = 400, description = "no or unknown columns, or a bad population size", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer", body = ErrorBody),
        (status = 404, description = "unknown dataset", body = ErrorBody),
        (status = 409, description = "the dataset was destroyed", body = ErrorBody),
    ))]
pub(crate) async fn dataset_risk(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<RiskRequest>,
) -> ApiResult<medspace_service::reexports::deid::FileRisk> {
    let risk = node
        .dataset_risk(
            &c,
            &id,
            &req.quasi_identifiers,
            req.sensitive.as_deref(),
            req.population,
        )
        .await?;
    Ok(Json(risk))
}

/// Destruction body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DestroyRequest {
    /// The agreement, approval or retention rule under which the data is destroyed.
    pub agreement: String,
}

/// Destroys a dataset by crypto-shredding (security officers) and returns the certificate signed
/// by the node identity key (GB/T 39725-2020 §11.4.2.6).
#[utoipa::path(post, path = "/api/v1/datasets/{id}/destroy", tag = "datasets",
    params(("id" = String, Path, description = "dataset id")),
    request_body = DestroyRequest,
    responses(
        (status = 200, description = "destruction certificate", body = Object),
        (status = 400, description = "no agreement named", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a security officer, or the committee has not approved (T/CI 857-2024 6.4.3)", body = ErrorBody),
        (status = 404, description = "unknown dataset", body = ErrorBody),
        (status = 409, description = "already destroyed", body = ErrorBody),
    ))]
pub(crate) async fn destroy_dataset(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<DestroyRequest>,
) -> ApiResult<medspace_service::destruction::DestructionCertificate> {
    Ok(Json(node.destroy_dataset(&c, &id, &req.agreement).await?))
}

/// Destruction approval body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DestructionApprovalRequest {
    /// Why the data may go (the agreement or retention rule that ends).
    pub reason: String,
}

/// Approvals of a destruction: recorded and needed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestructionApprovals {
    /// Distinct committee members who approved.
    pub approvals: usize,
    /// Needed before the officer may destroy (2 for important, C2, data).
    pub needed: usize,
}

/// A committee member approves the destruction of a dataset before the security officer carries
/// it out (T/CI 857-2024 6.4.3; two distinct members for C2 data, DMS 4.3.2).
#[utoipa::path(post, path = "/api/v1/datasets/{id}/destruction-approvals", tag = "datasets",
    params(("id" = String, Path, description = "dataset id")),
    request_body = DestructionApprovalRequest,
    responses(
        (status = 200, description = "approvals recorded and needed", body = DestructionApprovals),
        (status = 400, description = "no reason", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a committee member", body = ErrorBody),
        (status = 404, description = "unknown dataset", body = ErrorBody),
        (status = 409, description = "already approved by this member, or already destroyed", body = ErrorBody),
    ))]
pub(crate) async fn approve_destruction(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<DestructionApprovalRequest>,
) -> ApiResult<DestructionApprovals> {
    let (approvals, needed) = node.approve_destruction(&c, &id, &req.reason).await?;
    Ok(Json(DestructionApprovals { approvals, needed }))
}

/// Master-key versions and how many wrapped keys each protects (security officers, auditors).
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    responses(
        (status = 200, description = "key status", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not see key status", body = ErrorBody),
    ))]
pub(crate) async fn key_status(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<medspace_service::keys::KeyStatus> {
    Ok(Json(node.key_status_for(&c).await?))
}

// ---------------------------------------------------------------------------------------------
// Applications

/// Applications visible to the caller (data users: their own).
#[utoipa::path(get, path = "/api/v1/applications", tag = "applications",
    responses(
        (status = 200, description = "applications (id, dataset_id, columns, purpose, period, status, decision)", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not see applications", body = ErrorBody),
    ))]
pub(crate) async fn list_applications(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<Vec<medspace_core::Application>> {
    Ok(Json(node.list_applications(&c).await?))
}

/// Application body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApplyRequest {
    /// De-identified dataset id.
    pub dataset_id: String,
    /// Columns wanted (the minimum needed).
    pub columns: Vec<String>,
    /// Purpose of use.
    pub purpose: String,
    /// Period of use in days.
    pub period_days: i64,
    /// Special-disease classes whose rows the study needs (`malignant_tumour`, `infectious` …);
    /// without them, rows of special diseases are withheld from the sandbox.
    #[serde(default)]
    pub special_diseases: Vec<String>,
}

/// Files an application (data users).
#[utoipa::path(post, path = "/api/v1/applications", tag = "applications",
    request_body = ApplyRequest,
    responses(
        (status = 200, description = "the pending application", body = Object),
        (status = 400, description = "unknown column, empty purpose or bad period", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a data user, or the dataset is not de-identified", body = ErrorBody),
        (status = 404, description = "unknown dataset", body = ErrorBody),
    ))]
pub(crate) async fn apply(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(r): JsonBody<ApplyRequest>,
) -> ApiResult<medspace_core::Application> {
    let req = ApplicationRequest {
        dataset_id: r.dataset_id,
        columns: r.columns,
        purpose: r.purpose,
        period_days: r.period_days,
        special_diseases: r.special_diseases,
    };
    Ok(Json(node.apply(&c, req).await?))
}

/// Decision body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DecisionRequest {
    /// Approve (true) or reject (false).
    pub approve: bool,
    /// Reason recorded with the decision.
    pub reason: String,
}

/// Decides an application (committee members; never one's own).
#[utoipa::path(post, path = "/api/v1/applications/{id}/decision", tag = "applications",
    params(("id" = String, Path, description = "application id")),
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "the decided application", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a committee member", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 409, description = "already decided", body = ErrorBody),
    ))]
pub(crate) async fn decide_application(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<DecisionRequest>,
) -> ApiResult<medspace_core::Application> {
    Ok(Json(
        node.decide_application(&c, &id, r.approve, &r.reason)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Sandbox

/// Tables and columns the caller may query now.
#[utoipa::path(get, path = "/api/v1/sandbox/tables", tag = "sandbox",
    responses(
        (status = 200, description = "granted tables (table, dataset_id, columns, level, application_ids)", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a data user", body = ErrorBody),
    ))]
pub(crate) async fn granted_tables(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<Vec<medspace_service::sandbox::GrantedTable>> {
    // `granted_tables` has no role check of its own; the service's check runs first.
    node.require(&c, Action::Query).await?;
    Ok(Json(node.granted_tables(&c).await?))
}

/// Query body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QueryRequest {
    /// One SQL query over the granted tables.
    pub sql: String,
}

/// A query result, kept in the node; it leaves only through an approved export.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryResponse {
    /// Id to request an export with.
    pub query_id: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows (JSON values in column order).
    #[schema(value_type = Vec<Vec<Value>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Smallest group behind any aggregate.
    pub smallest_group: Option<u64>,
    /// Per table: rows the access policies let the query see and rows they withheld
    /// (`table`, `rows_visible`, `rows_withheld`, `groups`, `withheld_by`).
    #[schema(value_type = Vec<Object>)]
    pub row_filter: Vec<medspace_service::row_filter::RowFilterReport>,
}

impl From<QueryResult> for QueryResponse {
    fn from(r: QueryResult) -> Self {
        let QueryResult {
            query_id,
            columns,
            rows,
            smallest_group,
            row_filter,
        } = r;
        QueryResponse {
            query_id,
            columns,
            rows,
            smallest_group,
            row_filter,
        }
    }
}

/// Runs a sandbox query (data users with an approved application).
#[utoipa::path(post, path = "/api/v1/sandbox/query", tag = "sandbox",
    request_body = QueryRequest,
    responses(
        (status = 200, description = "result (kept in the node)", body = QueryResponse),
        (status = 400, description = "not a query, syntax error, or ungranted/unknown column or table", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "no approved application", body = ErrorBody),
        (status = 422, description = "refused by output control: row-level output, small group, too many rows", body = ErrorBody),
    ))]
pub(crate) async fn query(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(r): JsonBody<QueryRequest>,
) -> ApiResult<QueryResponse> {
    Ok(Json(node.query(&c, &r.sql).await?.into()))
}

// ---------------------------------------------------------------------------------------------
// Exports

/// Export requests visible to the caller.
#[utoipa::path(get, path = "/api/v1/exports", tag = "exports",
    responses(
        (status = 200, description = "export requests (id, query_id, justification, status, decision, downloads)", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "role may not see exports", body = ErrorBody),
    ))]
pub(crate) async fn list_exports(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<Vec<medspace_core::ExportRequest>> {
    Ok(Json(node.list_exports(&c).await?))
}

/// Export request body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExportRequestBody {
    /// The query result to release.
    pub query_id: String,
    /// Why it must leave the node.
    pub justification: String,
}

/// Requests an export of one of the caller's query results.
#[utoipa::path(post, path = "/api/v1/exports", tag = "exports",
    request_body = ExportRequestBody,
    responses(
        (status = 200, description = "the pending export request", body = Object),
        (status = 400, description = "empty justification", body = ErrorBody),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not the query's owner", body = ErrorBody),
        (status = 404, description = "unknown query", body = ErrorBody),
    ))]
pub(crate) async fn request_export(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(r): JsonBody<ExportRequestBody>,
) -> ApiResult<medspace_core::ExportRequest> {
    Ok(Json(
        node.request_export(&c, &r.query_id, &r.justification)
            .await?,
    ))
}

/// Decides an export request (committee members).
#[utoipa::path(post, path = "/api/v1/exports/{id}/decision", tag = "exports",
    params(("id" = String, Path, description = "export id")),
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "the decided export", body = Object),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not a committee member", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 409, description = "already decided", body = ErrorBody),
    ))]
pub(crate) async fn decide_export(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(r): JsonBody<DecisionRequest>,
) -> ApiResult<medspace_core::ExportRequest> {
    Ok(Json(
        node.decide_export(&c, &id, r.approve, &r.reason).await?,
    ))
}

/// Downloads an approved export (its requester) as CSV.
#[utoipa::path(get, path = "/api/v1/exports/{id}/download", tag = "exports",
    params(("id" = String, Path, description = "export id")),
    responses(
        (status = 200, description = "the released result", body = String, content_type = "text/csv"),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not approved or not yours", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
    ))]
pub(crate) async fn download_export(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let csv = node.download_export(&c, &id).await?;
    let safe_id = id
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        && !id.is_empty()
        && id.len() <= 64;
    let disposition = if safe_id {
        format!("attachment; filename=\"{id}.csv\"")
    } else {
        "attachment; filename=\"export.csv\"".to_string()
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        csv,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

// ---------------------------------------------------------------------------------------------
// Audit

/// Audit paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// First sequence number (default 1).
    pub from: Option<i64>,
    /// Entries (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Reads audit entries (auditors). Reading is itself audited.
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "audit entries (seq, time, actor, action, target, outcome, detail, prev_hash, hash)", body = Vec<Object>),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not an auditor", body = ErrorBody),
    ))]
pub(crate) async fn audit_entries(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    QueryParams(p): QueryParams<AuditParams>,
) -> ApiResult<Vec<medspace_service::reexports::audit::AuditEntry>> {
    Ok(Json(
        node.audit_entries(&c, p.from.unwrap_or(1), p.limit.unwrap_or(100))
            .await?,
    ))
}

/// Result of a chain verification.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyResponse {
    /// Whether the whole chain verifies against the recorded head.
    pub ok: bool,
    /// Entries checked (when ok).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<i64>,
    /// Hash of the last entry (when ok).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    /// Sequence number of the first bad entry (when not ok).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_entry: Option<i64>,
    /// What is wrong with it (when not ok).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Verifies the whole audit chain (auditors).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "ok with entries and head hash, or the first bad entry", body = AuditVerifyResponse),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 403, description = "not an auditor", body = ErrorBody),
    ))]
pub(crate) async fn audit_verify(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<AuditVerifyResponse> {
    // `verify_audit` takes no caller; the service's role check runs first.
    node.require(&c, Action::ReadAudit).await?;
    Ok(Json(match node.verify_audit().await? {
        Ok(r) => AuditVerifyResponse {
            ok: true,
            entries: Some(r.entries),
            head_hash: Some(r.head_hash),
            first_bad_entry: None,
            reason: None,
        },
        Err(b) => AuditVerifyResponse {
            ok: false,
            entries: None,
            head_hash: None,
            first_bad_entry: Some(b.seq()),
            reason: Some(b.to_string()),
        },
    }))
}

// ---------------------------------------------------------------------------------------------
// Peer nodes

/// The caller's node certificate as this node verified it (peer listener only: mutual TLS with a
/// certificate issued under `[tls] peer_ca`). Lets two nodes' operators check that they see each
/// other's identity before federation calls are made.
#[utoipa::path(get, path = "/api/v1/peer/identity", tag = "peer", security(("mutualTLS" = [])),
    responses(
        (status = 200, description = "the peer certificate this node accepted", body = PeerIdentity),
        (status = 401, description = "no peer certificate: not called on the peer listener", body = ErrorBody),
    ))]
pub(crate) async fn peer_identity(peer: PeerIdentity) -> Json<PeerIdentity> {
    Json(peer)
}
