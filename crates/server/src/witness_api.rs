//! The C2SP tlog-witness `add-checkpoint` endpoint, on the API listener and the peer listener, and
//! the witness transport this node uses to reach its own witnesses (mutual TLS via
//! [`PeerClient`]).
//!
//! T/CI 857-2024 7.2.1 a) (decentralised trust: nodes of the data space cosign each other's audit
//! checkpoints), 7.2.6 and 7.2.9 e) (cross-space audit that cannot be rolled back or forked
//! unnoticed). The decision, its audit record and the stored state are the service layer's
//! ([`Node::witness_add_checkpoint`]); this module only carries bytes and statuses: 200 with the
//! cosignature line, 409 with the last cosigned size (`text/x.tlog.size`), 422 bad proof, 403 bad
//! or unknown log signature, 404 unknown origin, 400 malformed; 500 without cosignature when the
//! audit record cannot be written.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use medspace_service::config::NodeConfig;
use medspace_service::witness::{
    BoxFuture, TransportReply, WitnessSettings, WitnessTransport, MAX_REQUEST_BYTES,
};
use medspace_service::Node;

use crate::peer::{PeerClient, PeerIdentity};
use crate::tls::peer_client_config_from_files;

/// Path of the endpoint (C2SP tlog-witness, below the node's API prefix).
pub const ADD_CHECKPOINT_PATH: &str = "/api/v1/witness/add-checkpoint";

fn text(status: StatusCode, content_type: &str, body: String) -> Response {
    let mut r = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// C2SP tlog-witness `add-checkpoint`: body `old <size>`, consistency proof lines, an empty line,
/// the signed checkpoint. Public (the log's signature authenticates the request); every answer is
/// audited on this node before it is sent.
#[utoipa::path(post, path = "/api/v1/witness/add-checkpoint", tag = "audit", security(()),
    request_body(content = String, content_type = "text/plain",
        description = "C2SP tlog-witness add-checkpoint request"),
    responses(
        (status = 200, description = "the witness's cosignature/v1 signature line", body = String, content_type = "text/plain"),
        (status = 400, description = "malformed request", body = String, content_type = "text/plain"),
        (status = 403, description = "checkpoint not signed by the log's configured key", body = String, content_type = "text/plain"),
        (status = 404, description = "origin is not a log this node witnesses", body = String, content_type = "text/plain"),
        (status = 409, description = "old size is not the last cosigned size; body: that size", body = String, content_type = "text/x.tlog.size"),
        (status = 422, description = "consistency proof does not verify", body = String, content_type = "text/plain"),
        (status = 500, description = "the audit record could not be written; no cosignature", body = String, content_type = "text/plain"),
    ))]
pub(crate) async fn add_checkpoint(State(node): State<Arc<Node>>, request: Request) -> Response {
    let actor = match request.extensions().get::<PeerIdentity>() {
        Some(peer) => format!("peer:{}", peer.certificate.subject),
        None => "public".to_string(),
    };
    let body = match axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES + 1).await {
        Ok(b) => b,
        // Larger than the limit: refused (and audited) by the service layer as too large.
        Err(_) => vec![0u8; MAX_REQUEST_BYTES + 1].into(),
    };
    match node.witness_add_checkpoint(&actor, &body).await {
        Ok(reply) => text(
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            reply.content_type,
            reply.body,
        ),
        Err(e) => {
            tracing::error!(error = %e, "witness: add-checkpoint failed; no cosignature given");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                "the witness could not record this request; no cosignature was given\n".into(),
            )
        }
    }
}

/// Reaches witnesses with [`PeerClient`]: the witness's CA bundle (default `[tls] peer_ca`) and a
/// client certificate (the witness's `client_cert`, else `[tls] peer_cert`, else the API
/// certificate), read at each call so replaced files are used.
#[derive(Debug, Default, Clone, Copy)]
pub struct PeerWitnessTransport;

impl WitnessTransport for PeerWitnessTransport {
    fn add_checkpoint<'a>(
        &'a self,
        node: &'a Node,
        witness: &'a WitnessSettings,
        body: String,
    ) -> BoxFuture<'a, Result<TransportReply, String>> {
        Box::pin(async move {
            let dir = node.dir();
            let tls = &node.config().tls;
            let ca = witness
                .ca
                .as_ref()
                .or(tls.peer_ca.as_ref())
                .ok_or_else(|| {
                    "no CA bundle for the witness: set `ca` in [[audit.witnesses]] or [tls] peer_ca"
                        .to_string()
                })?;
            let (cert, key) = match (&witness.client_cert, &witness.client_key) {
                (Some(c), Some(k)) => (c.clone(), k.clone()),
                _ => match (&tls.peer_cert, &tls.peer_key) {
                    (Some(c), Some(k)) => (c.clone(), k.clone()),
                    _ => node.tls_paths(),
                },
            };
            let config = peer_client_config_from_files(
                &NodeConfig::resolve(dir, ca),
                &NodeConfig::resolve(dir, &cert),
                &NodeConfig::resolve(dir, &key),
            )
            .map_err(|e| e.to_string())?;
            let url = format!("{}{ADD_CHECKPOINT_PATH}", witness.url.trim_end_matches('/'));
            let reply = PeerClient::new(config)
                .with_timeout(Duration::from_secs(15))
                .with_max_body(MAX_REQUEST_BYTES)
                .request(
                    Method::POST,
                    &url,
                    Some(("text/plain; charset=utf-8", body.into_bytes())),
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(TransportReply {
                status: reply.status.as_u16(),
                body: String::from_utf8_lossy(&reply.body).into_owned(),
            })
        })
    }
}

/// Installs [`PeerWitnessTransport`] as this process's witness transport (done by the serve
/// functions; a CLI asking witnesses outside a server calls it first). Idempotent.
pub fn install_witness_transport() {
    medspace_service::witness::install_transport(Arc::new(PeerWitnessTransport));
}
