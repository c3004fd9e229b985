//! Request extractors: the bearer token (T/CI 857-2024 6.4.1, default deny: no token, no call) and
//! JSON bodies and query strings whose errors say where and what was expected but never echo a
//! submitted value (a password or an ID number sent in the wrong field must not come back in an
//! error message or reach a log).

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::http::StatusCode;
use medspace_service::{Caller, Node, ServiceError};
use serde::de::DeserializeOwned;
use std::sync::Arc;

use crate::error::ApiError;

/// Largest JSON body (axum's default limit for buffered bodies).
pub const MAX_JSON_BODY: u64 = 2 * 1024 * 1024;

/// The authenticated caller of a request (`Authorization: Bearer <token>`), resolved by the
/// service layer (session lookup, idle timeout).
#[derive(Debug)]
pub struct Authed(pub Caller);

/// The bearer token of a request, if it has one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl<S> FromRequestParts<S> for Authed
where
    S: Send + Sync,
    Arc<Node>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let node = Arc::<Node>::from_ref(state);
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::Service(ServiceError::Unauthenticated(
                "send `Authorization: Bearer <token>`; log in at POST /api/v1/auth/login".into(),
            ))
        })?;
        let mut caller = node.authenticate(token).await?;
        // The network address goes into every audit entry of the request (T/CI 857-2024 7.2.6).
        caller.address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Authed(caller))
    }
}

/// A JSON request body (`Content-Type: application/json`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::unsupported_media_type("application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(MAX_JSON_BODY)
            } else {
                ApiError::bad_request("the request body could not be read")
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(json_error_message(&e)))
    }
}

/// Query-string parameters.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(v)| QueryParams(v))
            .map_err(|r| {
                let text = r.body_text();
                let detail = text
                    .split_once(": ")
                    .map(|(_, d)| d)
                    .unwrap_or(text.as_str());
                ApiError::bad_request(format!("query string: {}", safe_detail(detail)))
            })
    }
}

/// Describes a JSON parse failure by position and expectation only.
pub fn json_error_message(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "malformed JSON".to_string(),
        Category::Eof => "the JSON ends too early".to_string(),
        Category::Io => "the body could not be read".to_string(),
        Category::Data => safe_detail(&e.to_string()),
    };
    format!(
        "request body, line {} column {}: {what}; see /api/v1/openapi.json for the schema",
        e.line(),
        e.column()
    )
}

/// Keeps the parts of a serde message that come from the schema (field names, expected types and
/// variants) and drops the part that quotes the submitted value.
pub fn safe_detail(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message),
        None => message,
    }
    .trim();
    for fixed in ["missing field `", "duplicate field `"] {
        if message.starts_with(fixed) && message.matches('`').count() == 2 {
            return message.to_string();
        }
    }
    if let Some(i) = message.rfind(", expected ") {
        let expected = message.get(i + 2..).unwrap_or("");
        let what = [
            "invalid type",
            "invalid value",
            "invalid length",
            "unknown variant",
            "unknown field",
        ]
        .into_iter()
        .find(|p| message.starts_with(p))
        .unwrap_or("unexpected value");
        return format!("{what}: {expected}");
    }
    "a value has the wrong type or format".to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "fields exist for deserialization")]
    struct Login {
        username: String,
        password: String,
        role: Option<medspace_core::Role>,
    }

    fn err(body: &str) -> String {
        json_error_message(&serde_json::from_str::<Login>(body).unwrap_err())
    }

    #[test]
    fn wrong_types_are_reported_without_the_value() {
        let m = err(r#"{"username": "a", "password": 110101199003074477}"#);
        assert!(!m.contains("110101199003074477"), "{m}");
        assert!(m.contains("invalid type: expected a string"), "{m}");
        assert!(m.contains("line 1 column"), "{m}");
    }

    #[test]
    fn unknown_variants_list_what_is_allowed_but_not_what_was_sent() {
        let m = err(r#"{"username": "a", "password": "b", "role": "Zhang San"}"#);
        assert!(!m.contains("Zhang"), "{m}");
        assert!(
            m.contains("unknown variant") && m.contains("administrator"),
            "{m}"
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let m = err(r#"{"username": "a"}"#);
        assert!(m.contains("missing field `password`"), "{m}");
    }

    #[test]
    fn syntax_errors_give_the_position() {
        let m = err("{\"username\": \"13800138000\",,}");
        assert!(m.contains("malformed JSON") && m.contains("column"), "{m}");
        assert!(!m.contains("13800138000"));
    }

    #[test]
    fn bearer_tokens_are_parsed_case_insensitively() {
        let parts = |v: &str| {
            axum::http::Request::builder()
                .header("authorization", v)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert_eq!(bearer_token(&parts("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&parts("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&parts("Basic abc")), None);
        assert_eq!(bearer_token(&parts("Bearer ")), None);
    }

    proptest! {
        /// Whatever value a client sends in a string field of the wrong type, it is not echoed.
        #[test]
        fn submitted_values_never_appear_in_messages(n in 100_000u64..u64::MAX, s in "[A-Z][a-zA-Z0-9]{5,19}") {
            let m = err(&format!(r#"{{"username": {n}, "password": "x"}}"#));
            prop_assert!(!m.contains(&n.to_string()));
            let m = err(&format!(r#"{{"username": "u", "password": "p", "role": "{s}"}}"#));
            prop_assert!(!m.contains(&format!("`{s}`")), "{}", m);
        }
    }
}
