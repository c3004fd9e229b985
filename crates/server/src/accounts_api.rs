//! Account security endpoints: two-step login with a TOTP second factor, TOTP enrolment, audited
//! unlock by the security administrator, second-factor reset, account validity, API tokens for
//! systems, client-certificate mappings and the mutual-TLS account lookup on the peer listener.
//!
//! GB/T 39725-2020 §11.1.2.4, §11.6.2.2 and Appendix F identity rows; T/CI 857-2024 7.2 (nodes and
//! institutions identified by certificates); DMS 5.2.1. Every handler calls one service operation,
//! which checks the role and writes the audit entry.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use chrono::{DateTime, Utc};
use medspace_service::accounts::{LoginOutcome, LoginStep};
use medspace_service::Node;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{OkResponse, UserRef, UserView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Authed, JsonBody};
use crate::peer::PeerIdentity;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The client's network address when the listener records it (`None` in in-process routers).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Login body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Result of a login step: a session, or a challenge to finish with a TOTP code.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginStepResponse {
    /// Bearer token for `Authorization: Bearer <token>` (absent while a second factor is due).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Only `POST /api/v1/auth/password` is allowed until the one-time or expired password is
    /// changed.
    pub must_change_password: bool,
    /// The role needs a second factor and none is enrolled: only enrolment is allowed.
    pub must_enrol_second_factor: bool,
    /// The session ends after this many idle minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_minutes: Option<i64>,
    /// The account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserRef>,
    /// A TOTP code is required: send it with `challenge` to `POST /api/v1/auth/login/totp`.
    pub second_factor_required: bool,
    /// Single-use challenge of the password step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Seconds the challenge stays valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_expires_in_seconds: Option<i64>,
}

pub(crate) fn session(out: LoginOutcome) -> LoginStepResponse {
    LoginStepResponse {
        token: Some(out.token),
        must_change_password: out.must_change_password,
        must_enrol_second_factor: out.must_enrol_second_factor,
        idle_timeout_minutes: Some(out.idle_timeout_minutes),
        user: Some(UserRef {
            id: out.user.id,
            username: out.user.username,
            role: out.user.role,
        }),
        second_factor_required: false,
        challenge: None,
        challenge_expires_in_seconds: None,
    }
}

/// Logs in with a password: a session, or — for administrators, security officers, auditors and
/// logins from outside the internal networks — a challenge for the TOTP step.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginBody,
    responses(
        (status = 200, description = "new session, or second factor required", body = LoginStepResponse),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 401, description = "invalid credentials, locked or disabled account", body = ErrorBody),
    ))]
pub(crate) async fn login(
    State(node): State<Arc<Node>>,
    ClientAddress(address): ClientAddress,
    JsonBody(req): JsonBody<LoginBody>,
) -> ApiResult<LoginStepResponse> {
    Ok(Json(
        match node
            .login_from(&req.username, &req.password, address)
            .await?
        {
            LoginStep::Session(out) => session(out),
            LoginStep::SecondFactor(ch) => LoginStepResponse {
                token: None,
                must_change_password: false,
                must_enrol_second_factor: false,
                idle_timeout_minutes: None,
                user: None,
                second_factor_required: true,
                challenge: Some(ch.challenge),
                challenge_expires_in_seconds: Some(ch.expires_in_seconds),
            },
        },
    ))
}

/// Second login step body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TotpLoginBody {
    /// The challenge of the password step.
    pub challenge: String,
    /// Six-digit code of the authenticator (RFC 6238).
    pub code: String,
}

/// Finishes a login with a TOTP code (one step of drift either side; each code works once; a
/// wrong code counts as a failed login).
#[utoipa::path(post, path = "/api/v1/auth/login/totp", tag = "auth", security(()),
    request_body = TotpLoginBody,
    responses(
        (status = 200, description = "new session", body = LoginStepResponse),
        (status = 401, description = "wrong, replayed or late code; unknown challenge", body = ErrorBody),
    ))]
pub(crate) async fn login_totp(
    State(node): State<Arc<Node>>,
    ClientAddress(address): ClientAddress,
    JsonBody(req): JsonBody<TotpLoginBody>,
) -> ApiResult<LoginStepResponse> {
    let out = node
        .login_second_factor(&req.challenge, &req.code, address)
        .await?;
    Ok(Json(session(out)))
}

/// The secret of a new second factor, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolmentResponse {
    /// `otpauth://` URI for the authenticator app (QR code).
    pub otpauth_uri: String,
    /// The secret in base32.
    pub secret: String,
}

/// Starts TOTP enrolment of the caller's account; confirm with a first code.
#[utoipa::path(post, path = "/api/v1/auth/totp/enrol", tag = "auth",
    responses(
        (status = 200, description = "secret shown once", body = TotpEnrolmentResponse),
        (status = 401, description = "no valid session", body = ErrorBody),
        (status = 409, description = "a confirmed factor exists", body = ErrorBody),
    ))]
pub(crate) async fn totp_enrol(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<TotpEnrolmentResponse> {
    let e = node.begin_totp_enrolment(&c).await?;
    Ok(Json(TotpEnrolmentResponse {
        otpauth_uri: e.otpauth_uri,
        secret: e.secret,
    }))
}

/// A TOTP code.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeBody {
    /// Six-digit code.
    pub code: String,
}

/// Confirms TOTP enrolment with a first code.
#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth",
    request_body = CodeBody,
    responses(
        (status = 200, description = "confirmed", body = OkResponse),
        (status = 401, description = "wrong code or no valid session", body = ErrorBody),
    ))]
pub(crate) async fn totp_confirm(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<CodeBody>,
) -> ApiResult<OkResponse> {
    node.confirm_totp_enrolment(&c, &req.code).await?;
    Ok(Json(OkResponse { ok: true }))
}

/// Unlocks a locked account (security administrator); audited.
#[utoipa::path(post, path = "/api/v1/users/{id}/unlock", tag = "users",
    params(("id" = String, Path, description = "account id")),
    responses(
        (status = 200, description = "unlocked", body = UserView),
        (status = 403, description = "not a security administrator", body = ErrorBody),
        (status = 404, description = "no such account", body = ErrorBody),
        (status = 409, description = "not locked", body = ErrorBody),
    ))]
pub(crate) async fn unlock(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<UserView> {
    Ok(Json(node.unlock_account(&c, &id).await?.into()))
}

/// Removes an account's second factor so that it enrols again (security administrator).
#[utoipa::path(post, path = "/api/v1/users/{id}/totp/reset", tag = "users",
    params(("id" = String, Path, description = "account id")),
    responses(
        (status = 200, description = "reset", body = OkResponse),
        (status = 403, description = "not a security administrator", body = ErrorBody),
    ))]
pub(crate) async fn totp_reset(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<OkResponse> {
    node.reset_totp(&c, &id).await?;
    Ok(Json(OkResponse { ok: true }))
}

/// Account validity body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ValidityBody {
    /// After this instant the account is disabled by the sweep; null clears it.
    pub valid_until: Option<DateTime<Utc>>,
}

/// Sets the date after which an account is disabled (administrators).
#[utoipa::path(post, path = "/api/v1/users/{id}/validity", tag = "users",
    params(("id" = String, Path, description = "account id")),
    request_body = ValidityBody,
    responses(
        (status = 200, description = "set", body = OkResponse),
        (status = 403, description = "not an administrator", body = ErrorBody),
    ))]
pub(crate) async fn validity(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ValidityBody>,
) -> ApiResult<OkResponse> {
    node.set_account_validity(&c, &id, req.valid_until).await?;
    Ok(Json(OkResponse { ok: true }))
}

/// An API token as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenInfo {
    /// Token id.
    pub id: String,
    /// Account it acts as.
    pub user_id: String,
    /// Role it is scoped to.
    pub role: String,
    /// Label.
    pub label: String,
    /// Created by.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<medspace_service::account_admin::ApiTokenView> for ApiTokenInfo {
    fn from(t: medspace_service::account_admin::ApiTokenView) -> Self {
        ApiTokenInfo {
            id: t.id,
            user_id: t.user_id,
            role: t.role,
            label: t.label,
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// New API token body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTokenBody {
    /// Account the token acts as (its role is the token's scope).
    pub user_id: String,
    /// Label naming the system.
    pub label: String,
    /// Lifetime in days (at most `[accounts] api_token_max_days`).
    pub expires_in_days: i64,
}

/// A new API token, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateTokenResponse {
    /// The token (`mst_…`) for `Authorization: Bearer`.
    pub token: String,
    /// Its record.
    pub info: ApiTokenInfo,
}

/// Lists API tokens (administrators).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "users",
    responses(
        (status = 200, description = "tokens (never the secrets)", body = Vec<ApiTokenInfo>),
        (status = 403, description = "not an administrator", body = ErrorBody),
    ))]
pub(crate) async fn list_tokens(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
) -> ApiResult<Vec<ApiTokenInfo>> {
    Ok(Json(
        node.list_api_tokens(&c)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Creates an API token for a system account (administrators).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "users",
    request_body = CreateTokenBody,
    responses(
        (status = 200, description = "token shown once", body = CreateTokenResponse),
        (status = 400, description = "bad lifetime or a role that needs a second factor", body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
    ))]
pub(crate) async fn create_token(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<CreateTokenBody>,
) -> ApiResult<CreateTokenResponse> {
    let (info, token) = node
        .create_api_token(&c, &req.user_id, &req.label, req.expires_in_days)
        .await?;
    Ok(Json(CreateTokenResponse {
        token,
        info: info.into(),
    }))
}

/// Revokes an API token (administrators).
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", tag = "users",
    params(("id" = String, Path, description = "token id")),
    responses(
        (status = 200, description = "revoked", body = OkResponse),
        (status = 404, description = "no such unrevoked token", body = ErrorBody),
    ))]
pub(crate) async fn revoke_token(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    Path(id): Path<String>,
) -> ApiResult<OkResponse> {
    node.revoke_api_token(&c, &id).await?;
    Ok(Json(OkResponse { ok: true }))
}

/// Certificate mapping body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MapCertificateBody {
    /// SHA-256 fingerprint of the client certificate (hex, colons allowed).
    pub fingerprint: String,
    /// Subject, for the record.
    pub subject: String,
    /// Account the certificate logs in as.
    pub user_id: String,
}

/// Maps a client certificate to an account for mutual-TLS calls (administrators).
#[utoipa::path(post, path = "/api/v1/certificates", tag = "users",
    request_body = MapCertificateBody,
    responses(
        (status = 200, description = "mapped", body = OkResponse),
        (status = 403, description = "not an administrator", body = ErrorBody),
        (status = 409, description = "already mapped", body = ErrorBody),
    ))]
pub(crate) async fn map_certificate(
    State(node): State<Arc<Node>>,
    Authed(c): Authed,
    JsonBody(req): JsonBody<MapCertificateBody>,
) -> ApiResult<OkResponse> {
    node.map_certificate(&c, &req.fingerprint, &req.subject, &req.user_id)
        .await?;
    Ok(Json(OkResponse { ok: true }))
}

/// The account a mutual-TLS client certificate is mapped to (peer listener); audited.
#[utoipa::path(get, path = "/api/v1/peer/account", tag = "peer",
    security(("mutualTLS" = [])),
    responses(
        (status = 200, description = "the mapped account", body = UserRef),
        (status = 401, description = "no client certificate, or not mapped", body = ErrorBody),
    ))]
pub(crate) async fn peer_account(
    State(node): State<Arc<Node>>,
    peer: PeerIdentity,
) -> ApiResult<UserRef> {
    let caller = node
        .authenticate_certificate(&peer.certificate.sha256, peer.remote_addr.map(|a| a.ip()))
        .await?;
    Ok(Json(UserRef {
        id: caller.user.id,
        username: caller.user.username,
        role: caller.user.role,
    }))
}
