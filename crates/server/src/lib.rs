//! The node's HTTPS JSON API (axum over rustls): TLS 1.2 and 1.3 only, default deny, every route
//! authenticated except the health check, the OpenAPI document and login.
//!
//! DMS 7.2.4.2 (TLS 1.2 or later; older versions refused); GB/T 39725-2020 Table 5 API rows
//! (authenticated callers, calls logged by the service layer); T/CI 857-2024 6.4.1 (default deny).
//! The server never decides access itself: every handler calls the service layer, which checks the
//! caller's role and grants and writes the audit entry.
//!
//! Transport (see `docs/tls.md`): an explicit modern suite list (TLS 1.3; TLS 1.2 ECDHE with
//! AES-GCM or ChaCha20-Poly1305; X25519, P-256, P-384); certificates reloaded without a restart
//! on SIGHUP or file change, audited; a mutual-TLS peer listener and [`PeerClient`] for inter-node
//! calls (T/CI 857-2024 7.2); with the `gm-tls` feature, a GM listener speaking RFC 8998
//! (TLS_SM4_GCM_SM3, SM2 certificate; 数字医疗网络数据安全管理规范 6.2.2).
#![deny(missing_docs)]

mod accounts_api;
mod api;
mod audit_api;
mod certinfo;
mod error;
mod extract;
#[cfg(feature = "gm-tls")]
mod gm;
mod grading_api;
mod openapi;
mod patients_api;
mod peer;
mod reident_api;
mod self_service_api;
mod tls;
mod upload;
mod witness_api;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use medspace_service::Node;

pub use api::{peer_router, router, router_with, RouterOptions, DEFAULT_MAX_UPLOAD};
pub use certinfo::{CertInfo, CertInfoError};
pub use openapi::openapi;
pub use peer::{PeerCallError, PeerClient, PeerIdentity, PeerResponse};
pub use tls::{
    api_server_config, crypto_provider, load_ca_bundle, load_cert_pair, peer_client_config,
    peer_client_config_from_files, peer_server_config, CertReload, LoadedCert, NodeTls,
    ReloadOutcome, ReloadTrigger, ReloadableCert, TlsError, PROTOCOL_VERSIONS,
};
pub use witness_api::{install_witness_transport, PeerWitnessTransport, ADD_CHECKPOINT_PATH};

/// Server start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Certificate, key or CA bundle unusable, or TLS settings incomplete.
    #[error("TLS configuration: {0}")]
    Tls(#[from] TlsError),
    /// A listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A listen address in the configuration is not IP:PORT.
    #[error("listen address `{0}`: expected IP:PORT")]
    Address(String),
    /// Socket failure.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

/// rustls configuration of the API listener from a certificate and key file: the provider of
/// [`crypto_provider`] (TLS 1.3 and 1.2, modern suites only), ALPN h2 and http/1.1. The
/// certificate must be valid now and the key must be its own.
pub fn tls_config(
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let provider = crypto_provider();
    let certs = Arc::new(ReloadableCert::load(cert_pem, key_pem, provider.clone())?);
    Ok(api_server_config(certs, provider)?)
}

/// The sockets a node serves on.
#[derive(Debug)]
pub struct Listeners {
    /// The public HTTPS API (users, bearer tokens).
    pub api: TcpListener,
    /// The inter-node listener (mutual TLS); needs `[tls] peer_ca`.
    pub peer: Option<TcpListener>,
    /// The GM listener (RFC 8998); needs the `gm-tls` feature and `[tls] gm_cert`/`gm_key`.
    pub gm: Option<TcpListener>,
}

fn bind(address: &str) -> Result<TcpListener, ServerError> {
    let address: SocketAddr = address
        .parse()
        .map_err(|_| ServerError::Address(address.to_string()))?;
    TcpListener::bind(address).map_err(|source| ServerError::Bind { address, source })
}

impl Listeners {
    /// Only the API listener.
    pub fn api_only(api: TcpListener) -> Listeners {
        Listeners {
            api,
            peer: None,
            gm: None,
        }
    }

    /// The given API listener, and the peer and GM listeners bound at the addresses of
    /// `[tls] peer_listen` and `[tls] gm_listen` when they are set.
    pub fn with_configured(node: &Node, api: TcpListener) -> Result<Listeners, ServerError> {
        let tls = &node.config().tls;
        Ok(Listeners {
            api,
            peer: tls.peer_listen.as_deref().map(bind).transpose()?,
            gm: tls.gm_listen.as_deref().map(bind).transpose()?,
        })
    }
}

/// Serves the API on `listen`, and the peer and GM listeners configured in `[tls]`, until
/// `shutdown` completes (then drains open requests for up to ten seconds). Certificates reload on
/// SIGHUP and when their files change. Bound addresses are logged (`tracing`, target
/// `medspace_server`).
pub async fn serve(
    node: Arc<Node>,
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = TcpListener::bind(listen).map_err(|source| ServerError::Bind {
        address: listen,
        source,
    })?;
    serve_with_listener(node, listener, shutdown).await
}

/// Serves the API on an already bound listener (tests bind port 0 first); the peer and GM
/// listeners as configured.
pub async fn serve_with_listener(
    node: Arc<Node>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let tls = NodeTls::load(node.clone())?;
    let listeners = Listeners::with_configured(&node, listener)?;
    serve_with(node, tls, listeners, shutdown).await
}

/// Serves on the given listeners with the given TLS state until `shutdown` completes. The
/// reload watcher (SIGHUP, file changes) runs while the listeners do.
pub async fn serve_with(
    node: Arc<Node>,
    tls: Arc<NodeTls>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let Listeners { api, peer, gm } = listeners;
    // Checkpoints signed while serving ask the configured witnesses over this transport.
    install_witness_transport();
    let mut handles = Vec::new();

    api.set_nonblocking(true)?;
    let api_addr = api.local_addr()?;
    let api_handle = axum_server::Handle::new();
    handles.push(api_handle.clone());
    let api_config = axum_server::tls_rustls::RustlsConfig::from_config(tls.api_server_config()?);
    let api_server = axum_server::from_tcp_rustls(api, api_config)
        .handle(api_handle)
        .serve(router(node.clone()).into_make_service_with_connect_info::<SocketAddr>());
    tracing::info!(address = %api_addr, certificate = %tls.api_certificate().subject,
        "serving HTTPS (TLS 1.2 and 1.3)");

    let peer_server = match peer {
        None => None,
        Some(listener) => {
            let peer_tls = tls.peer.as_ref().ok_or_else(|| {
                TlsError::Settings(
                    "a peer listener needs [tls] peer_ca (the CA bundle that issues peer certificates)"
                        .into(),
                )
            })?;
            listener.set_nonblocking(true)?;
            let addr = listener.local_addr()?;
            let handle = axum_server::Handle::new();
            handles.push(handle.clone());
            tracing::info!(address = %addr, certificate = %peer_tls.cert.info().subject,
                "serving the peer listener (mutual TLS)");
            Some(
                axum_server::from_tcp(listener)
                    .acceptor(peer::PeerAcceptor::new(peer_tls.server.clone()))
                    .handle(handle)
                    .serve(peer_router(node.clone()).into_make_service()),
            )
        }
    };

    #[cfg(feature = "gm-tls")]
    let gm_server = match gm {
        None => None,
        Some(listener) => {
            let (acceptor, _) = tls.gm.as_ref().ok_or_else(|| {
                TlsError::Settings("a GM listener needs [tls] gm_cert and gm_key".into())
            })?;
            listener.set_nonblocking(true)?;
            let addr = listener.local_addr()?;
            let handle = axum_server::Handle::new();
            handles.push(handle.clone());
            tracing::info!(address = %addr, "serving the GM listener (TLS 1.3, TLS_SM4_GCM_SM3, SM2)");
            Some(
                axum_server::from_tcp(listener)
                    .acceptor(gm::GmAcceptor::new(acceptor.clone()))
                    .handle(handle)
                    .serve(
                        router(node.clone()).into_make_service_with_connect_info::<SocketAddr>(),
                    ),
            )
        }
    };
    #[cfg(not(feature = "gm-tls"))]
    let gm_server: Option<std::future::Ready<std::io::Result<()>>> = match gm {
        None => None,
        Some(_) => {
            return Err(TlsError::Settings(medspace_gmtls::DISABLED_MESSAGE.into()).into());
        }
    };

    tokio::spawn(async move {
        shutdown.await;
        for h in handles {
            h.graceful_shutdown(Some(Duration::from_secs(10)));
        }
    });
    let watcher = tokio::spawn(tls::watch(tls.clone()));
    let served = tokio::try_join!(api_server, optional(peer_server), optional(gm_server));
    watcher.abort();
    served?;
    Ok(())
}

async fn optional<F: Future<Output = std::io::Result<()>>>(f: Option<F>) -> std::io::Result<()> {
    match f {
        Some(f) => f.await,
        None => Ok(()),
    }
}
