//! Helpers of the TLS tests: nodes, certificates made with rcgen, raw TLS connections.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

pub mod api;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use medspace_server::{CertInfo, Listeners, NodeTls, ServerError};
use medspace_service::{InitOptions, Node};

/// A fresh node under `tmp/node` with its master key beside it, and what `init` reported (the
/// administrator's one-time password).
pub async fn init_node(tmp: &Path) -> (Node, medspace_service::InitOutcome) {
    Node::init(InitOptions {
        dir: tmp.join("node"),
        database_url: None,
        profile: None,
        master_key_file: Some(tmp.join("node.masterkey")),
        hsm: None,
        admin_username: "admin".into(),
        listen: None,
    })
    .await
    .unwrap()
}

pub async fn new_node(tmp: &Path) -> Arc<Node> {
    Arc::new(init_node(tmp).await.0)
}

pub struct Running {
    pub api_port: u16,
    pub peer_port: Option<u16>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub server: tokio::task::JoinHandle<Result<(), ServerError>>,
}

pub async fn start(node: Arc<Node>, tls: Arc<NodeTls>, with_peer: bool) -> Running {
    start_with_gm(node, tls, with_peer, None).await
}

pub async fn start_with_gm(
    node: Arc<Node>,
    tls: Arc<NodeTls>,
    with_peer: bool,
    gm: Option<std::net::TcpListener>,
) -> Running {
    let api = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api_port = api.local_addr().unwrap().port();
    let peer = with_peer.then(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let peer_port = peer.as_ref().map(|l| l.local_addr().unwrap().port());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(medspace_server::serve_with(
        node,
        tls,
        Listeners { api, peer, gm },
        async {
            let _ = rx.await;
        },
    ));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Running {
        api_port,
        peer_port,
        stop,
        server,
    }
}

/// A certificate and key made by rcgen, as PEM, with the issuer's parts for signing others.
pub struct Made {
    pub cert: rcgen::Certificate,
    pub key: rcgen::KeyPair,
    pub params: rcgen::CertificateParams,
}

impl Made {
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
    pub fn info(&self) -> CertInfo {
        CertInfo::from_der(self.cert.der()).unwrap()
    }
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let c = dir.join(format!("{stem}.crt"));
        let k = dir.join(format!("{stem}.key"));
        std::fs::write(&c, self.cert_pem()).unwrap();
        std::fs::write(&k, self.key_pem()).unwrap();
        (c, k)
    }
}

pub fn new_ca(name: &str) -> Made {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.clone().self_signed(&key).unwrap();
    Made { cert, key, params }
}

/// An end-entity certificate for `cn`, naming localhost and 127.0.0.1, for server and client
/// use; signed by `issuer`, or self-signed when `issuer` is None.
pub fn leaf(cn: &str, issuer: Option<&Made>, expired: bool) -> Made {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "medspace test");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = match issuer {
        Some(i) => params.clone().signed_by(&key, &i.cert, &i.key).unwrap(),
        None => params.clone().self_signed(&key).unwrap(),
    };
    Made { cert, key, params }
}

/// A rustls client trusting `roots_pem` (any number of PEM certificates).
pub fn client(
    roots_pem: &[String],
    version: Option<&'static rustls::SupportedProtocolVersion>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for pem in roots_pem {
        for c in rustls_pemfile::certs(&mut pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match version {
        Some(v) => vec![v],
        None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Handshakes with `port` and returns the certificate the server presented.
pub async fn served_certificate(
    config: rustls::ClientConfig,
    port: u16,
) -> Result<CertInfo, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let der = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok(CertInfo::from_der(&der).unwrap())
}

/// The `tls.reload` audit entries, as JSON.
pub async fn reload_audit(node: &Node) -> Vec<serde_json::Value> {
    node.store()
        .audit_entries(1, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.entry).unwrap())
        .filter(|v| v["action"] == "tls.reload")
        .collect()
}
