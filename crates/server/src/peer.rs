//! Inter-node calls over mutual TLS (T/CI 857-2024 7.2: nodes of the trusted data space identify
//! each other by certificates under the space's CA; 数字医疗网络数据安全管理规范 7.2.4: TLS 1.2+).
//!
//! Server side: the peer listener requires a client certificate chaining to `[tls] peer_ca`
//! (rustls/webpki check chain, validity and key usage); the accepted certificate becomes a
//! [`PeerIdentity`] in every request's extensions, where handlers take it as an extractor.
//! Client side: [`PeerClient`] calls another node's HTTPS endpoint presenting this node's peer
//! certificate and checking the other node's against the same CA bundle.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use medspace_service::ServiceError;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use serde::Serialize;
use tokio::net::TcpStream;
use tower::Layer;
use utoipa::ToSchema;

use crate::certinfo::CertInfo;
use crate::error::ApiError;

/// The certificate a peer node presented on the peer listener (already verified against the
/// peer CA bundle). Handlers take it as an extractor; on a connection without one (the public
/// API listener) the extractor answers 401.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PeerIdentity {
    /// The peer's end-entity certificate: subject, issuer, serial, validity, fingerprints.
    pub certificate: CertInfo,
    /// Address the peer connected from.
    #[schema(value_type = Option<String>)]
    pub remote_addr: Option<SocketAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for PeerIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<PeerIdentity>()
            .cloned()
            .ok_or_else(|| {
                ApiError::Service(ServiceError::Unauthenticated(
                    "this endpoint is for peer nodes: call it on the node's peer listener \
                 ([tls] peer_listen) with a certificate issued under its peer CA"
                        .into(),
                ))
            })
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

/// axum-server acceptor of the peer listener: the rustls handshake (client certificate
/// required), then the peer's identity attached to every request of the connection. Refused
/// handshakes are logged with the reason.
#[derive(Clone, Debug)]
pub(crate) struct PeerAcceptor {
    inner: RustlsAcceptor,
}

impl PeerAcceptor {
    pub(crate) fn new(config: RustlsConfig) -> Self {
        PeerAcceptor {
            inner: RustlsAcceptor::new(config),
        }
    }
}

impl<S: Send + 'static> Accept<TcpStream, S> for PeerAcceptor {
    type Stream = tokio_rustls::server::TlsStream<TcpStream>;
    type Service = axum::middleware::AddExtension<S, PeerIdentity>;
    type Future = BoxFuture<(Self::Stream, Self::Service)>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let remote = stream.peer_addr().ok();
        let handshake = self.inner.accept(stream, service);
        Box::pin(async move {
            let (tls, service) = handshake.await.inspect_err(|e| {
                tracing::warn!(remote = ?remote, error = %e, "peer connection refused in the TLS handshake");
            })?;
            let der = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::PermissionDenied, "no peer certificate")
                })?;
            let certificate = CertInfo::from_der(der).map_err(|e| {
                tracing::warn!(remote = ?remote, error = %e, "peer certificate unreadable");
                io::Error::new(io::ErrorKind::InvalidData, e)
            })?;
            tracing::info!(
                remote = ?remote,
                subject = %certificate.subject,
                serial = %certificate.serial,
                spki_sha256 = %certificate.spki_sha256,
                "peer connected (mutual TLS)"
            );
            let identity = PeerIdentity {
                certificate,
                remote_addr: remote,
            };
            Ok((tls, axum::Extension(identity).layer(service)))
        })
    }
}

/// Failures of a call to a peer node.
#[derive(Debug, thiserror::Error)]
pub enum PeerCallError {
    /// The URL is not `https://host[:port]/path`.
    #[error("peer URL `{url}`: {message}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong.
        message: &'static str,
    },
    /// TCP connection failed.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// host:port.
        address: String,
        /// Why.
        source: io::Error,
    },
    /// The TLS handshake failed (certificate not under the peer CA, wrong name, expired, …).
    #[error("TLS with {address} failed: {source}")]
    Tls {
        /// host:port.
        address: String,
        /// Why.
        source: io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP with {address} failed: {message}")]
    Http {
        /// host:port.
        address: String,
        /// Why.
        message: String,
    },
    /// The response body exceeded the limit.
    #[error("the response from {address} is larger than {limit} bytes")]
    TooLarge {
        /// host:port.
        address: String,
        /// The limit.
        limit: usize,
    },
    /// No answer in time.
    #[error("no answer from {address} within {timeout:?}")]
    Timeout {
        /// host:port.
        address: String,
        /// The limit.
        timeout: Duration,
    },
}

/// The TLS error somewhere in an error's source chain, if any.
fn tls_cause(e: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.clone());
        }
        if let Some(t) = err
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(t.clone());
        }
        cur = err.source();
    }
    None
}

/// A response from a peer node.
#[derive(Debug)]
pub struct PeerResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body (at most the client's limit).
    pub body: Bytes,
    /// The certificate the peer node presented (verified).
    pub server: CertInfo,
}

/// Calls other nodes' HTTPS endpoints over mutual TLS, one connection per call. Build it from
/// [`NodeTls::peer_client_config`](crate::NodeTls::peer_client_config) (this node's peer
/// certificate, the peer CA bundle) or [`peer_client_config_from_files`](crate::peer_client_config_from_files).
#[derive(Debug, Clone)]
pub struct PeerClient {
    config: Arc<ClientConfig>,
    timeout: Duration,
    max_body: usize,
}

impl PeerClient {
    /// A client with a 30-second limit per call and 16 MiB per response body.
    pub fn new(config: Arc<ClientConfig>) -> PeerClient {
        PeerClient {
            config,
            timeout: Duration::from_secs(30),
            max_body: 16 << 20,
        }
    }

    /// Sets the time limit of one call (connect, handshake, request and response).
    pub fn with_timeout(mut self, timeout: Duration) -> PeerClient {
        self.timeout = timeout;
        self
    }

    /// Sets the largest response body accepted.
    pub fn with_max_body(mut self, bytes: usize) -> PeerClient {
        self.max_body = bytes;
        self
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<PeerResponse, PeerCallError> {
        self.request(Method::GET, url, None).await
    }

    /// `POST url` with a JSON body.
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<PeerResponse, PeerCallError> {
        self.request(
            Method::POST,
            url,
            Some(("application/json", body.to_string().into_bytes())),
        )
        .await
    }

    /// Sends one request to `url` (`https://host[:port]/path?query`) with an optional body and
    /// its content type, and reads the whole response.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<PeerResponse, PeerCallError> {
        let uri: Uri = url.parse().map_err(|_| PeerCallError::Url {
            url: url.into(),
            message: "not a URL",
        })?;
        if uri.scheme_str() != Some("https") {
            return Err(PeerCallError::Url {
                url: url.into(),
                message: "peer calls use https://",
            });
        }
        let host = uri
            .host()
            .ok_or(PeerCallError::Url {
                url: url.into(),
                message: "no host",
            })?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        let address = format!("{host}:{port}");
        let timeout = self.timeout;
        match tokio::time::timeout(
            timeout,
            self.exchange(method, &uri, &host, port, &address, body),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(PeerCallError::Timeout { address, timeout }),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        uri: &Uri,
        host: &str,
        port: u16,
        address: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<PeerResponse, PeerCallError> {
        let server_name =
            ServerName::try_from(host.to_string()).map_err(|_| PeerCallError::Url {
                url: uri.to_string(),
                message: "the host is neither a DNS name nor an IP address",
            })?;
        let tcp =
            TcpStream::connect((host, port))
                .await
                .map_err(|source| PeerCallError::Connect {
                    address: address.into(),
                    source,
                })?;
        let tls = tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(server_name, tcp)
            .await
            .map_err(|source| PeerCallError::Tls {
                address: address.into(),
                source,
            })?;
        let server = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| CertInfo::from_der(c).ok())
            .ok_or_else(|| PeerCallError::Tls {
                address: address.into(),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    "no readable server certificate",
                ),
            })?;
        let http = |message: String| PeerCallError::Http {
            address: address.into(),
            message,
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| http(e.to_string()))?;
        let driver = tokio::spawn(connection);
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let host_header = if port == 443 {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(axum::http::header::HOST, host_header);
        let bytes = match body {
            Some((content_type, b)) => {
                req = req.header(
                    axum::http::header::CONTENT_TYPE,
                    HeaderValue::from_str(content_type).map_err(|e| http(e.to_string()))?,
                );
                Bytes::from(b)
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| http(e.to_string()))?;
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                // The request only says the connection went away; the connection task knows why
                // (in TLS 1.3 a refused client certificate arrives as an alert after the
                // handshake).
                let cause = match tokio::time::timeout(Duration::from_secs(2), driver).await {
                    Ok(Ok(Err(conn))) => conn,
                    _ => e,
                };
                return Err(match tls_cause(&cause) {
                    Some(tls) => PeerCallError::Tls {
                        address: address.into(),
                        source: io::Error::new(io::ErrorKind::ConnectionAborted, tls),
                    },
                    None => http(cause.to_string()),
                });
            }
        };
        let (parts, incoming) = resp.into_parts();
        let limit = self.max_body;
        let collected = Limited::new(incoming, limit).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                PeerCallError::TooLarge {
                    address: address.into(),
                    limit,
                }
            } else {
                http(e.to_string())
            }
        })?;
        driver.abort();
        Ok(PeerResponse {
            status: parts.status,
            headers: parts.headers,
            body: collected.to_bytes(),
            server,
        })
    }
}
