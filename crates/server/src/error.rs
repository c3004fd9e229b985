//! Service errors as HTTP responses (DMS 7.2.3.4; GB/T 39725-2020 Table 5, interface rows): each
//! kind owns its status and a JSON body `{"error": kind, "message": …}`. Internal failures get a
//! generic body and the detail goes to the node log; no body or log line carries a data value.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use medspace_service::reexports::sandbox::SandboxError;
use medspace_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// Body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind: `unauthenticated`, `forbidden`, `not_found`, `bad_request`,
    /// `invalid_input`, `conflict`, `bad_query`, `query_refused`, `payload_too_large`,
    /// `unsupported_media_type`, `method_not_allowed` or `internal`.
    pub error: &'static str,
    /// What went wrong and what was expected.
    pub message: String,
    /// Malformed uploads only: the upload name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Malformed uploads only: 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Malformed uploads only: 1-based column (field number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// Malformed uploads only: what was expected at that place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// Message of every 500 response; the detail is only in the node log.
pub const INTERNAL_MESSAGE: &str = "internal error; see the node log";

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    /// A failure reported by the service layer.
    Service(ServiceError),
    /// A request the server itself rejects before the service sees it (malformed JSON, wrong
    /// content type, oversized upload, unknown route).
    Request {
        /// HTTP status.
        status: StatusCode,
        /// Kind for the body.
        kind: &'static str,
        /// Message (never a submitted value).
        message: String,
    },
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::Service(e)
    }
}

impl ApiError {
    /// 400 for a malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::Request {
            status: StatusCode::BAD_REQUEST,
            kind: "bad_request",
            message: message.into(),
        }
    }

    /// 415 for a body of the wrong type.
    pub fn unsupported_media_type(expected: &str) -> Self {
        ApiError::Request {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            kind: "unsupported_media_type",
            message: format!("expected `Content-Type: {expected}`"),
        }
    }

    /// 413 for an upload over the limit.
    pub fn too_large(limit: u64) -> Self {
        ApiError::Request {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            kind: "payload_too_large",
            message: format!("the upload exceeds the limit of {limit} bytes; nothing was stored"),
        }
    }

    /// Status and kind of this error.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Request { status, kind, .. } => (*status, kind),
            ApiError::Service(e) => service_status(e),
        }
    }
}

fn service_status(e: &ServiceError) -> (StatusCode, &'static str) {
    match e {
        ServiceError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        ServiceError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        ServiceError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        ServiceError::InvalidInput { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
        ServiceError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        ServiceError::Query(q) => sandbox_status(q),
        ServiceError::Store(_)
        | ServiceError::Crypto(_)
        | ServiceError::Config(_)
        | ServiceError::Io(_)
        | ServiceError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// Sandbox outcomes: the query itself is wrong (400), output control refuses it (422), or the
/// node failed to load the data (500). Exhaustive on purpose: a new variant must be placed here.
fn sandbox_status(e: &SandboxError) -> (StatusCode, &'static str) {
    match e {
        SandboxError::Parse { .. }
        | SandboxError::MultipleStatements
        | SandboxError::NotAQuery { .. }
        | SandboxError::UnknownColumn { .. }
        | SandboxError::UnknownTable { .. }
        | SandboxError::Execution { .. } => (StatusCode::BAD_REQUEST, "bad_query"),
        SandboxError::RowLevelRefused { .. }
        | SandboxError::SmallGroup { .. }
        | SandboxError::TooManyRows { .. }
        | SandboxError::Unverifiable { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "query_refused"),
        SandboxError::Data { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// The client-facing message. Engine messages from query execution are withheld: a runtime
/// error (a failed cast, say) can quote a cell value, which would bypass output control.
fn client_message(e: &ServiceError) -> String {
    match e {
        ServiceError::Query(SandboxError::Execution { .. }) => "query refused: the query could \
            not be planned or run; check column types and function arguments (the engine's \
            message is withheld because it can quote stored values)"
            .to_string(),
        other => other.to_string(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status();
        let body = match self {
            ApiError::Request { message, .. } => ErrorBody {
                error: kind,
                message,
                file: None,
                line: None,
                column: None,
                expected: None,
            },
            ApiError::Service(e) if status == StatusCode::INTERNAL_SERVER_ERROR => {
                // Service messages name ids, files and fields, never values (service/error.rs).
                tracing::error!(error = %e, "request failed");
                ErrorBody {
                    error: kind,
                    message: INTERNAL_MESSAGE.to_string(),
                    file: None,
                    line: None,
                    column: None,
                    expected: None,
                }
            }
            ApiError::Service(e) => {
                let message = client_message(&e);
                match e {
                    ServiceError::InvalidInput {
                        file,
                        line,
                        column,
                        message: expected,
                    } => ErrorBody {
                        error: kind,
                        message,
                        file: Some(file),
                        line: Some(line),
                        column: Some(column),
                        expected: Some(expected),
                    },
                    _ => ErrorBody {
                        error: kind,
                        message,
                        file: None,
                        line: None,
                        column: None,
                        expected: None,
                    },
                }
            }
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"medspace\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    async fn render(e: ApiError) -> (StatusCode, serde_json::Value, Response) {
        let response = e.into_response();
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap(),
            Response::from_parts(parts, axum::body::Body::empty()),
        )
    }

    #[tokio::test]
    async fn each_service_error_kind_has_its_status() {
        let cases: Vec<(ServiceError, StatusCode, &str)> = vec![
            (
                ServiceError::Unauthenticated("x".into()),
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
            ),
            (
                ServiceError::Forbidden("x".into()),
                StatusCode::FORBIDDEN,
                "forbidden",
            ),
            (
                ServiceError::NotFound("dataset `d`".into()),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                ServiceError::BadRequest("x".into()),
                StatusCode::BAD_REQUEST,
                "bad_request",
            ),
            (
                ServiceError::Conflict("x".into()),
                StatusCode::CONFLICT,
                "conflict",
            ),
            (
                ServiceError::Query(SandboxError::UnknownColumn {
                    column: "diagnosis_code".into(),
                }),
                StatusCode::BAD_REQUEST,
                "bad_query",
            ),
            (
                ServiceError::Query(SandboxError::Parse {
                    message: "x".into(),
                }),
                StatusCode::BAD_REQUEST,
                "bad_query",
            ),
            (
                ServiceError::Query(SandboxError::NotAQuery {
                    kind: "DELETE".into(),
                }),
                StatusCode::BAD_REQUEST,
                "bad_query",
            ),
            (
                ServiceError::Query(SandboxError::SmallGroup {
                    min: 5,
                    smallest: 2,
                }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "query_refused",
            ),
            (
                ServiceError::Query(SandboxError::RowLevelRefused { level: 3 }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "query_refused",
            ),
        ];
        for (e, status, kind) in cases {
            let text = e.to_string();
            let (s, body, _) = render(ApiError::Service(e)).await;
            assert_eq!(s, status, "{text}");
            assert_eq!(body["error"], kind, "{text}");
            assert_eq!(body["message"], text);
        }
    }

    #[tokio::test]
    async fn internal_failures_get_a_generic_body() {
        for e in [
            ServiceError::Internal("secret detail 110101199003070000".into()),
            ServiceError::Crypto("key file /x/y unreadable".into()),
            ServiceError::Io("disk full at /srv".into()),
            ServiceError::Config("bad".into()),
            ServiceError::Query(SandboxError::Data {
                message: "object missing".into(),
            }),
        ] {
            let (s, body, _) = render(ApiError::Service(e)).await;
            assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(
                body,
                serde_json::json!({"error": "internal", "message": INTERNAL_MESSAGE})
            );
        }
    }

    #[tokio::test]
    async fn invalid_input_says_where_and_what_was_expected() {
        let (s, body, _) = render(ApiError::Service(ServiceError::InvalidInput {
            file: "upload:claims".into(),
            line: 3,
            column: 2,
            message: "expected 2 fields as in the header row, found 1".into(),
        }))
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_input");
        assert_eq!(body["file"], "upload:claims");
        assert_eq!(
            (body["line"].as_u64(), body["column"].as_u64()),
            (Some(3), Some(2))
        );
        assert!(body["expected"].as_str().unwrap().contains("2 fields"));
        assert!(body["message"].as_str().unwrap().contains(":3:2:"));
    }

    #[tokio::test]
    async fn engine_messages_that_may_quote_values_are_withheld() {
        let (s, body, _) = render(ApiError::Service(ServiceError::Query(
            SandboxError::Execution {
                message: "Cast error: Cannot cast string '13800138000' to Int64".into(),
            },
        )))
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(!body.to_string().contains("13800138000"), "{body}");
    }

    #[tokio::test]
    async fn unauthenticated_responses_name_the_bearer_scheme() {
        let (_, _, response) =
            render(ApiError::Service(ServiceError::Unauthenticated("x".into()))).await;
        let v = response.headers().get(header::WWW_AUTHENTICATE).unwrap();
        assert!(v.to_str().unwrap().starts_with("Bearer"));
    }

    #[tokio::test]
    async fn server_side_rejections_render_their_kind() {
        let (s, body, _) = render(ApiError::too_large(10)).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "payload_too_large");
        let (s, body, _) = render(ApiError::unsupported_media_type("text/csv")).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(body["message"].as_str().unwrap().contains("text/csv"));
    }
}
