//! Transport security of the node's listeners.
//!
//! - One rustls provider for every listener and client: TLS 1.3 and 1.2 only, AEAD suites with
//!   ECDHE only (AES-GCM, ChaCha20-Poly1305), groups X25519, P-256 and P-384
//!   (数字医疗网络数据安全管理规范 7.2.4: TLS 1.2 or later, no weak suites).
//! - Certificates reload without a restart: on SIGHUP, and when a check every
//!   `[tls] reload_check_seconds` sees the files change. A pair that does not load (unreadable,
//!   not PEM, key not the certificate's, outside its validity period) is refused with the reason
//!   and the old certificate keeps serving. Each reload and each refusal is an audit entry
//!   (`tls.reload`, certificate subject/serial/fingerprint only, never key material).
//! - The peer listener (mutual TLS) accepts only nodes whose certificate chains to `[tls] peer_ca`
//!   (T/CI 857-2024 7.2: identity at the boundary of the trusted data space); the same CA bundle
//!   and the node's peer certificate make the client configuration for calls to other nodes.
//! - With the `gm-tls` feature, a GM listener (RFC 8998; 数字医疗网络数据安全管理规范 6.2.2) is
//!   loaded and reloaded the same way.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use medspace_core::{AuditEvent, Outcome};
use medspace_service::config::TlsSettings;
use medspace_service::{Node, NodeConfig};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, RootCertStore, ServerConfig, SignatureScheme, SupportedProtocolVersion,
};

use crate::certinfo::{CertInfo, CertInfoError};

/// The protocol versions every listener and client speaks: TLS 1.3 and TLS 1.2.
pub static PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// How far a new certificate's start of validity may lie in the future (clock skew).
const NOT_BEFORE_LEEWAY: chrono::Duration = chrono::Duration::minutes(5);

/// The rustls provider of every listener and client (ring), with its lists set explicitly: the
/// three TLS 1.3 suites; TLS 1.2 only with ECDHE (ECDSA or RSA certificates) and AES-GCM or
/// ChaCha20-Poly1305 (no CBC, no static RSA or DHE key exchange); groups X25519, P-256, P-384.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::{cipher_suite as cs, default_provider, kx_group};
    Arc::new(CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        ..default_provider()
    })
}

/// Certificate, key and CA-bundle failures. Messages name files and what is wrong, never key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM data.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The certificate could not be parsed.
    #[error("{path}: {source}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: CertInfoError,
    },
    /// The key is of a kind the provider cannot use, or malformed.
    #[error("{path}: the private key cannot be used: {message}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The private key is not the certificate's.
    #[error("the private key {key} does not belong to the certificate {cert}")]
    KeyMismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
    },
    /// The certificate is expired or not yet valid.
    #[error("{path}: the certificate is not valid now (valid from {not_before} to {not_after})")]
    NotValidNow {
        /// Certificate file.
        path: PathBuf,
        /// Start of validity.
        not_before: chrono::DateTime<Utc>,
        /// End of validity.
        not_after: chrono::DateTime<Utc>,
    },
    /// The peer CA bundle is unusable.
    #[error("peer CA bundle {path}: {message}")]
    PeerCa {
        /// The bundle.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A listener needs settings that are missing.
    #[error("{0}")]
    Settings(String),
    /// rustls refused the configuration.
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The GM (Tongsuo) listener refused its certificate or key.
    #[error("GM listener: {0}")]
    Gm(String),
    /// The reload could not be written to the audit log, so it was not made.
    #[error("the reload could not be recorded in the audit log ({0}); the previous certificate stays in service")]
    Audit(String),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn pem_certs(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut &bytes[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            message: "no certificate found".into(),
        });
    }
    Ok(certs)
}

/// Reads the first certificate of a PEM file and checks that it is valid now.
fn leaf_info(path: &Path, certs: &[CertificateDer<'_>]) -> Result<CertInfo, TlsError> {
    let leaf = certs.first().ok_or_else(|| TlsError::Pem {
        path: path.to_path_buf(),
        message: "no certificate found".into(),
    })?;
    let info = CertInfo::from_der(leaf).map_err(|source| TlsError::Certificate {
        path: path.to_path_buf(),
        source,
    })?;
    let now = Utc::now();
    if info.not_after < now || info.not_before > now + NOT_BEFORE_LEEWAY {
        return Err(TlsError::NotValidNow {
            path: path.to_path_buf(),
            not_before: info.not_before,
            not_after: info.not_after,
        });
    }
    Ok(info)
}

/// A certificate chain and key, loaded and checked.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// What rustls serves.
    pub certified: Arc<CertifiedKey>,
    /// The end-entity certificate.
    pub info: CertInfo,
}

/// Loads a PEM certificate chain (leaf first) and its PEM private key and checks them: the key
/// is usable by the provider and belongs to the certificate, and the certificate is valid now.
pub fn load_cert_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<LoadedCert, TlsError> {
    let cert_bytes = read(cert)?;
    let key_bytes = read(key)?;
    let chain = pem_certs(cert, &cert_bytes)?;
    let key_der = rustls_pemfile::private_key(&mut &key_bytes[..])
        .map_err(|e| TlsError::Pem {
            path: key.to_path_buf(),
            message: e.to_string(),
        })?
        .ok_or_else(|| TlsError::Pem {
            path: key.to_path_buf(),
            message: "no private key found".into(),
        })?;
    let info = leaf_info(cert, &chain)?;
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::Key {
            path: key.to_path_buf(),
            message: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            })
        }
        Err(e) => {
            return Err(TlsError::Pem {
                path: cert.to_path_buf(),
                message: e.to_string(),
            })
        }
    }
    Ok(LoadedCert {
        certified: Arc::new(certified),
        info,
    })
}

/// Size, modification time and inode of a set of files: what the periodic check compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp(Vec<Option<(SystemTime, u64, u64)>>);

impl Stamp {
    fn of(paths: &[&Path]) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp(
            paths
                .iter()
                .map(|p| {
                    std::fs::metadata(p)
                        .ok()
                        .and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())))
                })
                .collect(),
        )
    }
}

/// A certificate and key read from files and replaceable while the listeners run; rustls asks
/// it for the certificate on every handshake (server side, and client side for peer calls).
#[derive(Debug)]
pub struct ReloadableCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<LoadedCert>>,
    attempted: Mutex<Stamp>,
}

fn read_lock<T: Clone>(l: &RwLock<T>) -> T {
    match l.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write_lock<T>(l: &RwLock<T>, value: T) -> T {
    let mut g = match l.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    std::mem::replace(&mut *g, value)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl ReloadableCert {
    /// Loads the pair (see [`load_cert_pair`]).
    pub fn load(
        cert: &Path,
        key: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<ReloadableCert, TlsError> {
        let stamp = Stamp::of(&[cert, key]);
        let loaded = load_cert_pair(cert, key, &provider)?;
        Ok(ReloadableCert {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(loaded)),
            attempted: Mutex::new(stamp),
        })
    }

    /// The certificate being served.
    pub fn info(&self) -> CertInfo {
        read_lock(&self.current).info.clone()
    }

    /// The certificate and key files.
    pub fn paths(&self) -> (&Path, &Path) {
        (&self.cert_path, &self.key_path)
    }

    fn changed_since_last_attempt(&self) -> bool {
        Stamp::of(&[&self.cert_path, &self.key_path]) != *lock(&self.attempted)
    }

    /// Loads the files again without installing them; `None` when they hold the certificate
    /// already served.
    fn prepare(&self) -> Result<Option<LoadedCert>, TlsError> {
        *lock(&self.attempted) = Stamp::of(&[&self.cert_path, &self.key_path]);
        let loaded = load_cert_pair(&self.cert_path, &self.key_path, &self.provider)?;
        Ok((loaded.info.sha256 != self.info().sha256).then_some(loaded))
    }

    fn install(&self, loaded: LoadedCert) -> CertInfo {
        write_lock(&self.current, Arc::new(loaded)).info.clone()
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(read_lock(&self.current).certified.clone())
    }
}

impl ResolvesClientCert for ReloadableCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(read_lock(&self.current).certified.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Builds the rustls configuration of the public API listener: the provider above, TLS 1.3 and
/// 1.2, no client certificates, ALPN h2 and http/1.1, certificate from `certs`.
pub fn api_server_config(
    certs: Arc<dyn ResolvesServerCert>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(PROTOCOL_VERSIONS)?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads a PEM CA bundle into a root store.
pub fn load_ca_bundle(path: &Path) -> Result<RootCertStore, TlsError> {
    let bytes = read(path)?;
    let certs = pem_certs(path, &bytes).map_err(|e| TlsError::PeerCa {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 || ignored > 0 {
        return Err(TlsError::PeerCa {
            path: path.to_path_buf(),
            message: format!("{ignored} certificate(s) could not be used as trust anchors"),
        });
    }
    Ok(roots)
}

/// Builds the rustls configuration of the peer listener: as the API listener, but a client
/// certificate chaining to `roots` is required (mutual TLS); ALPN http/1.1.
pub fn peer_server_config(
    certs: Arc<dyn ResolvesServerCert>,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsError::Settings(format!("peer client verifier: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(PROTOCOL_VERSIONS)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Builds a client configuration for calls to peer nodes: the server must chain to `roots` and
/// match the host name; this node presents the certificate from `certs`; ALPN http/1.1.
pub fn peer_client_config(
    certs: Arc<dyn ResolvesClientCert>,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(PROTOCOL_VERSIONS)?
        .with_root_certificates(roots)
        .with_client_cert_resolver(certs);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`peer_client_config`] from files: the peer CA bundle and this node's peer certificate and key.
pub fn peer_client_config_from_files(
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = crypto_provider();
    let certs = Arc::new(ReloadableCert::load(cert, key, provider.clone())?);
    peer_client_config(certs, Arc::new(load_ca_bundle(ca)?), provider)
}

/// The mutual-TLS side of a node: its peer certificate, the CA bundle peers are checked
/// against, and the live listener configuration (swapped when the bundle changes).
#[derive(Debug)]
pub(crate) struct PeerTls {
    pub(crate) cert: Arc<ReloadableCert>,
    ca_path: PathBuf,
    ca: RwLock<(Arc<RootCertStore>, String)>,
    ca_attempted: Mutex<Stamp>,
    pub(crate) server: axum_server::tls_rustls::RustlsConfig,
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a reload ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadTrigger {
    /// SIGHUP.
    Signal,
    /// The periodic check saw the files change.
    FileChange,
    /// A call of [`NodeTls::reload`] by the embedding program.
    Request,
}

impl ReloadTrigger {
    fn as_str(self) -> &'static str {
        match self {
            ReloadTrigger::Signal => "sighup",
            ReloadTrigger::FileChange => "file_change",
            ReloadTrigger::Request => "request",
        }
    }
}

/// What a reload did to one listener's certificate (or CA bundle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The files hold what is already served.
    Unchanged,
    /// A new certificate serves new connections.
    Replaced {
        /// The certificate served before.
        previous: Box<CertInfo>,
        /// The certificate served now.
        current: Box<CertInfo>,
    },
    /// A new peer CA bundle checks new peer connections.
    CaReplaced {
        /// Trust anchors in the new bundle.
        certificates: usize,
        /// SHA-256 of the bundle file.
        sha256: String,
    },
}

/// The result of one reload for one listener.
#[derive(Debug)]
pub struct CertReload {
    /// `api`, `peer`, `peer_ca` or `gm`.
    pub listener: &'static str,
    /// What happened; an error means the previous certificate is still served.
    pub outcome: Result<ReloadOutcome, TlsError>,
}

/// Everything a node's listeners need for TLS, shared with the reload watcher.
#[derive(Debug)]
pub struct NodeTls {
    node: Arc<Node>,
    provider: Arc<CryptoProvider>,
    api: Arc<ReloadableCert>,
    pub(crate) peer: Option<PeerTls>,
    #[cfg(feature = "gm-tls")]
    pub(crate) gm: Option<(Arc<medspace_gmtls::GmTlsAcceptor>, Mutex<Stamp>)>,
    check_interval: Option<Duration>,
}

impl NodeTls {
    /// Loads the node certificate and, as `[tls]` configures them, the peer certificate and CA
    /// bundle and the GM certificate. Any file that does not load is an error.
    pub fn load(node: Arc<Node>) -> Result<Arc<NodeTls>, TlsError> {
        let settings = node.config().tls.clone();
        NodeTls::with_settings(node, &settings)
    }

    /// As [`load`](Self::load), with `[tls]` settings given here instead of the node's.
    pub fn with_settings(
        node: Arc<Node>,
        settings: &TlsSettings,
    ) -> Result<Arc<NodeTls>, TlsError> {
        let provider = crypto_provider();
        let dir = node.dir().to_path_buf();
        let resolve = |p: &Path| NodeConfig::resolve(&dir, p);
        let (cert, key) = node.tls_paths();
        let api = Arc::new(ReloadableCert::load(&cert, &key, provider.clone())?);

        let peer = match &settings.peer_ca {
            None => {
                if settings.peer_listen.is_some() {
                    return Err(TlsError::Settings(
                        "[tls] peer_listen needs peer_ca (the CA bundle that issues peer certificates)"
                            .into(),
                    ));
                }
                None
            }
            Some(ca) => {
                let ca_path = resolve(ca);
                let peer_cert = match (&settings.peer_cert, &settings.peer_key) {
                    (Some(c), Some(k)) => Arc::new(ReloadableCert::load(
                        &resolve(c),
                        &resolve(k),
                        provider.clone(),
                    )?),
                    (None, None) => api.clone(),
                    _ => {
                        return Err(TlsError::Settings(
                            "[tls] peer_cert and peer_key go together".into(),
                        ))
                    }
                };
                let stamp = Stamp::of(&[&ca_path]);
                let bytes = read(&ca_path)?;
                let roots = Arc::new(load_ca_bundle(&ca_path)?);
                let server = axum_server::tls_rustls::RustlsConfig::from_config(
                    peer_server_config(peer_cert.clone(), roots.clone(), provider.clone())?,
                );
                Some(PeerTls {
                    cert: peer_cert,
                    ca_path,
                    ca: RwLock::new((roots, sha256_hex(&bytes))),
                    ca_attempted: Mutex::new(stamp),
                    server,
                })
            }
        };

        #[cfg(feature = "gm-tls")]
        let gm = match (&settings.gm_listen, &settings.gm_cert, &settings.gm_key) {
            (Some(_), Some(c), Some(k)) => {
                let (c, k) = (resolve(c), resolve(k));
                let pem = read(&c)?;
                leaf_info(&c, &pem_certs(&c, &pem)?)?;
                let acceptor = medspace_gmtls::GmTlsAcceptor::from_pem_files(&c, &k)
                    .map_err(|e| TlsError::Gm(e.to_string()))?;
                Some((Arc::new(acceptor), Mutex::new(Stamp::of(&[&c, &k]))))
            }
            (Some(_), _, _) => {
                return Err(TlsError::Settings(
                    "[tls] gm_listen needs gm_cert and gm_key (an SM2 certificate and key)".into(),
                ))
            }
            _ => None,
        };
        #[cfg(not(feature = "gm-tls"))]
        if settings.gm_listen.is_some() {
            return Err(TlsError::Settings(format!(
                "[tls] gm_listen is set, but {}",
                medspace_gmtls::DISABLED_MESSAGE
            )));
        }

        Ok(Arc::new(NodeTls {
            node,
            provider,
            api,
            peer,
            #[cfg(feature = "gm-tls")]
            gm,
            check_interval: (settings.reload_check_seconds > 0)
                .then(|| Duration::from_secs(settings.reload_check_seconds)),
        }))
    }

    /// The provider of every listener and client.
    pub fn provider(&self) -> Arc<CryptoProvider> {
        self.provider.clone()
    }

    /// The certificate served on the API listener.
    pub fn api_certificate(&self) -> CertInfo {
        self.api.info()
    }

    /// The certificate this node presents to peers, if the peer side is configured.
    pub fn peer_certificate(&self) -> Option<CertInfo> {
        self.peer.as_ref().map(|p| p.cert.info())
    }

    /// The rustls configuration of the API listener (its certificate follows reloads).
    pub fn api_server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        api_server_config(self.api.clone(), self.provider.clone())
    }

    /// A client configuration for calls to peer nodes: the current peer CA bundle, and this
    /// node's peer certificate (which follows reloads). Build one per batch of calls so a
    /// replaced CA bundle is used.
    pub fn peer_client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let peer = self.peer.as_ref().ok_or_else(|| {
            TlsError::Settings("peer calls need [tls] peer_ca in medspace.toml".into())
        })?;
        let roots = read_lock(&peer.ca).0;
        peer_client_config(peer.cert.clone(), roots, self.provider.clone())
    }

    /// How often the watcher checks the files (None: only on SIGHUP).
    pub fn check_interval(&self) -> Option<Duration> {
        self.check_interval
    }

    /// True when a certificate, key or CA file changed since it was last loaded or tried.
    pub fn changed_on_disk(&self) -> bool {
        if self.api.changed_since_last_attempt() {
            return true;
        }
        if let Some(p) = &self.peer {
            if p.cert.changed_since_last_attempt()
                || Stamp::of(&[&p.ca_path]) != *lock(&p.ca_attempted)
            {
                return true;
            }
        }
        #[cfg(feature = "gm-tls")]
        if let Some((a, stamp)) = &self.gm {
            let (c, k) = a.paths();
            if Stamp::of(&[c, k]) != *lock(stamp) {
                return true;
            }
        }
        false
    }

    /// Reloads the certificates, keys and CA bundle. With [`ReloadTrigger::FileChange`] only the
    /// files that changed since they were last tried are read; otherwise all are. Each change and
    /// each refusal is written to the audit log before it takes effect: if that write fails, the
    /// old certificate stays.
    pub async fn reload(&self, trigger: ReloadTrigger) -> Vec<CertReload> {
        let only_changed = trigger == ReloadTrigger::FileChange;
        let mut out = Vec::new();
        let mut certs: Vec<(&'static str, &Arc<ReloadableCert>)> = vec![("api", &self.api)];
        if let Some(p) = &self.peer {
            if !Arc::ptr_eq(&p.cert, &self.api) {
                certs.push(("peer", &p.cert));
            }
        }
        for (listener, cert) in certs {
            if only_changed && !cert.changed_since_last_attempt() {
                continue;
            }
            let outcome = match cert.prepare() {
                Ok(None) => Ok(ReloadOutcome::Unchanged),
                Ok(Some(loaded)) => {
                    let previous = cert.info();
                    let detail = serde_json::json!({
                        "trigger": trigger.as_str(),
                        "certificate_file": cert.cert_path.display().to_string(),
                        "previous": previous.summary(),
                        "current": loaded.info.summary(),
                    });
                    match self.audit(listener, Outcome::Success, detail).await {
                        Ok(()) => {
                            let current = loaded.info.clone();
                            cert.install(loaded);
                            Ok(ReloadOutcome::Replaced {
                                previous: Box::new(previous),
                                current: Box::new(current),
                            })
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(self.refused(listener, trigger, e).await),
            };
            out.push(CertReload { listener, outcome });
        }
        if let Some(p) = &self.peer {
            if !only_changed || Stamp::of(&[&p.ca_path]) != *lock(&p.ca_attempted) {
                let outcome = self.reload_peer_ca(p, trigger).await;
                out.push(CertReload {
                    listener: "peer_ca",
                    outcome,
                });
            }
        }
        #[cfg(feature = "gm-tls")]
        if let Some((acceptor, stamp)) = &self.gm {
            let (c, k) = acceptor.paths();
            let now = Stamp::of(&[c, k]);
            if !only_changed || now != *lock(stamp) {
                *lock(stamp) = now;
                let outcome = self.reload_gm(acceptor, trigger).await;
                out.push(CertReload {
                    listener: "gm",
                    outcome,
                });
            }
        }
        for r in &out {
            match &r.outcome {
                Ok(ReloadOutcome::Unchanged) => {
                    tracing::info!(
                        listener = r.listener,
                        trigger = trigger.as_str(),
                        "TLS reload: unchanged"
                    )
                }
                Ok(ReloadOutcome::Replaced { previous, current }) => tracing::info!(
                    listener = r.listener,
                    trigger = trigger.as_str(),
                    previous_serial = %previous.serial,
                    serial = %current.serial,
                    subject = %current.subject,
                    sha256 = %current.sha256,
                    not_after = %current.not_after,
                    "TLS reload: new certificate in service"
                ),
                Ok(ReloadOutcome::CaReplaced {
                    certificates,
                    sha256,
                }) => tracing::info!(
                    listener = r.listener,
                    trigger = trigger.as_str(),
                    certificates,
                    sha256 = %sha256,
                    "TLS reload: new peer CA bundle in service"
                ),
                Err(e) => tracing::error!(
                    listener = r.listener,
                    trigger = trigger.as_str(),
                    error = %e,
                    "TLS reload refused; the previous certificate stays in service"
                ),
            }
        }
        out
    }

    async fn reload_peer_ca(
        &self,
        p: &PeerTls,
        trigger: ReloadTrigger,
    ) -> Result<ReloadOutcome, TlsError> {
        *lock(&p.ca_attempted) = Stamp::of(&[&p.ca_path]);
        let loaded = read(&p.ca_path).and_then(|bytes| {
            let roots = Arc::new(load_ca_bundle(&p.ca_path)?);
            let config = peer_server_config(p.cert.clone(), roots.clone(), self.provider.clone())?;
            Ok((roots, sha256_hex(&bytes), config))
        });
        let (roots, sha256, config) = match loaded {
            Ok(l) => l,
            Err(e) => return Err(self.refused("peer_ca", trigger, e).await),
        };
        let previous = read_lock(&p.ca).1;
        if previous == sha256 {
            return Ok(ReloadOutcome::Unchanged);
        }
        let certificates = roots.len();
        let detail = serde_json::json!({
            "trigger": trigger.as_str(),
            "ca_file": p.ca_path.display().to_string(),
            "previous_sha256": previous,
            "sha256": sha256,
            "certificates": certificates,
        });
        self.audit("peer_ca", Outcome::Success, detail).await?;
        write_lock(&p.ca, (roots, sha256.clone()));
        p.server.reload_from_config(config);
        Ok(ReloadOutcome::CaReplaced {
            certificates,
            sha256,
        })
    }

    #[cfg(feature = "gm-tls")]
    async fn reload_gm(
        &self,
        acceptor: &medspace_gmtls::GmTlsAcceptor,
        trigger: ReloadTrigger,
    ) -> Result<ReloadOutcome, TlsError> {
        let (cert_path, _) = acceptor.paths();
        let prepared = acceptor
            .prepare_reload()
            .map_err(|e| TlsError::Gm(e.to_string()))
            .and_then(|r| {
                let info = leaf_info(cert_path, &pem_certs(cert_path, r.cert_pem())?)?;
                Ok((r, info))
            });
        let (replacement, info) = match prepared {
            Ok(p) => p,
            Err(e) => return Err(self.refused("gm", trigger, e).await),
        };
        let previous_sha = acceptor.certificate_sha256();
        if replacement.sha256() == previous_sha {
            return Ok(ReloadOutcome::Unchanged);
        }
        let detail = serde_json::json!({
            "trigger": trigger.as_str(),
            "certificate_file": cert_path.display().to_string(),
            "previous": {"sha256": previous_sha},
            "current": info.summary(),
        });
        self.audit("gm", Outcome::Success, detail).await?;
        acceptor.install(replacement);
        let mut previous = info.clone();
        previous.sha256 = previous_sha;
        Ok(ReloadOutcome::Replaced {
            previous: Box::new(previous),
            current: Box::new(info),
        })
    }

    /// Audits a refused reload (best effort: the refusal stands either way) and returns the error.
    async fn refused(&self, listener: &str, trigger: ReloadTrigger, e: TlsError) -> TlsError {
        let detail = serde_json::json!({"trigger": trigger.as_str(), "error": e.to_string()});
        if let Err(audit) = self.audit(listener, Outcome::Error, detail).await {
            tracing::error!(error = %audit, "could not audit a refused TLS reload");
        }
        e
    }

    async fn audit(
        &self,
        listener: &str,
        outcome: Outcome,
        detail: serde_json::Value,
    ) -> Result<(), TlsError> {
        let event = AuditEvent::new("system", "tls.reload", listener, outcome).with_detail(detail);
        self.node
            .store()
            .append_audit(&event)
            .await
            .map(|_| ())
            .map_err(|e| TlsError::Audit(e.to_string()))
    }
}

/// Reloads on SIGHUP and, every `check_interval`, when the files changed (after a one-second
/// pause so that a certificate and key copied one after the other are read together). Runs until
/// aborted.
pub(crate) async fn watch(tls: Arc<NodeTls>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; certificates reload only on file change");
            None
        }
    };
    let mut ticker = tls.check_interval.map(|d| {
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    loop {
        let hup_fut = async {
            match hup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        let tick_fut = async {
            match ticker.as_mut() {
                Some(i) => i.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            got = hup_fut => {
                if got.is_none() {
                    hup = None;
                    continue;
                }
                tls.reload(ReloadTrigger::Signal).await;
            }
            _ = tick_fut => {
                if tls.changed_on_disk() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    tls.reload(ReloadTrigger::FileChange).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn the_provider_lists_exactly_the_modern_suites_and_groups() {
        let p = crypto_provider();
        let suites: Vec<String> = p
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            suites,
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ]
        );
        for s in &suites {
            assert!(!s.contains("CBC") && !s.contains("_SHA\"") && !s.contains("WITH_AES_128_CBC"));
        }
        let groups: Vec<String> = p
            .kx_groups
            .iter()
            .map(|g| format!("{:?}", g.name()))
            .collect();
        assert_eq!(groups, ["X25519", "secp256r1", "secp384r1"]);
    }
}
