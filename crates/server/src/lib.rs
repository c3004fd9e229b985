//! The node's HTTPS JSON API (axum over rustls): TLS 1.2 and 1.3 only, default deny, every route
//! authenticated except the health check, the OpenAPI document and login.
//!
//! DMS 7.2.4.2 (TLS 1.2 or later; older versions refused); GB/T 39725-2020 Table 5 API rows
//! (authenticated callers, calls logged by the service layer); T/CI 857-2024 6.4.1 (default deny).
//! The server never decides access itself: every handler calls the service layer, which checks the
//! caller's role and grants and writes the audit entry.
#![deny(missing_docs)]

mod api;
mod error;
mod extract;
mod openapi;
mod upload;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use medspace_service::Node;

pub use api::{router, router_with, RouterOptions, DEFAULT_MAX_UPLOAD};
pub use openapi::openapi;

/// Server start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Certificate or key unusable.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Socket failure.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

/// rustls server configuration: ring provider, TLS 1.3 and 1.2 only, ALPN h2 and http/1.1.
pub fn tls_config(
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| ServerError::Tls(format!("cannot read {}: {e}", p.display())))
    };
    let cert_bytes = read(cert_pem)?;
    let key_bytes = read(key_pem)?;
    let certs = rustls_pemfile::certs(&mut &cert_bytes[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert_pem.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "{}: no certificate found",
            cert_pem.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut &key_bytes[..])
        .map_err(|e| ServerError::Tls(format!("{}: {e}", key_pem.display())))?
        .ok_or_else(|| ServerError::Tls(format!("{}: no private key found", key_pem.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| ServerError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| ServerError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves the API on `listen` until `shutdown` completes (then drains open requests for up to
/// ten seconds). The bound address is logged (`tracing`, target `medspace_server`).
pub async fn serve(
    node: Arc<Node>,
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = std::net::TcpListener::bind(listen).map_err(|source| ServerError::Bind {
        address: listen,
        source,
    })?;
    serve_with_listener(node, listener, shutdown).await
}

/// Serves the API on an already bound listener (tests bind port 0 first).
pub async fn serve_with_listener(
    node: Arc<Node>,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let (cert, key) = node.tls_paths();
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls_config(&cert, &key)?);
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    tracing::info!(address = %local, "serving HTTPS (TLS 1.2 and 1.3)");
    axum_server::from_tcp_rustls(listener, config)
        .handle(handle)
        .serve(router(node).into_make_service())
        .await?;
    Ok(())
}
