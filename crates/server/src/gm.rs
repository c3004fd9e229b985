//! The GM listener's acceptor (feature `gm-tls`): the Tongsuo handshake of
//! [`medspace_gmtls::GmTlsAcceptor`] (TLS 1.3, TLS_SM4_GCM_SM3, SM2 certificate; RFC 8998;
//! 数字医疗网络数据安全管理规范 6.2.2), then the same API as the main listener.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum_server::accept::Accept;
use medspace_gmtls::{GmTlsAcceptor, GmTlsStream};
use tokio::net::TcpStream;

/// Handshakes that take longer than this are dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub(crate) struct GmAcceptor {
    inner: Arc<GmTlsAcceptor>,
}

impl GmAcceptor {
    pub(crate) fn new(inner: Arc<GmTlsAcceptor>) -> Self {
        GmAcceptor { inner }
    }
}

impl<S: Send + 'static> Accept<TcpStream, S> for GmAcceptor {
    type Stream = GmTlsStream;
    type Service = S;
    type Future = Pin<Box<dyn Future<Output = io::Result<(GmTlsStream, S)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let acceptor = self.inner.clone();
        Box::pin(async move {
            let remote = stream.peer_addr().ok();
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Ok((tls, service)),
                Ok(Err(e)) => {
                    tracing::debug!(remote = ?remote, error = %e, "GM TLS handshake failed");
                    Err(io::Error::other(e))
                }
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "GM TLS handshake timed out",
                )),
            }
        })
    }
}
