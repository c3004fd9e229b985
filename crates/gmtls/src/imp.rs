//! The Tongsuo-backed implementation (feature `gm-tls`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::RwLock;

use tokio::net::TcpStream;
use tongsuo::asn1::Asn1Time;
use tongsuo::bn::{BigNum, MsbOption};
use tongsuo::error::ErrorStack;
use tongsuo::hash::MessageDigest;
use tongsuo::nid::Nid;
use tongsuo::pkey::{HasPublic, Id, PKey, PKeyRef, Private};
use tongsuo::pkey_ctx::PkeyCtx;
use tongsuo::ssl::{
    select_next_proto, AlpnError, Ssl, SslContext, SslContextBuilder, SslMethod, SslVerifyMode,
    SslVersion,
};
use tongsuo::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use tongsuo::x509::store::X509StoreBuilder;
use tongsuo::x509::{X509Builder, X509NameBuilder, X509NameRef, X509};

use crate::{CIPHER_SUITE, GROUP, SIGNATURE_SCHEME};

/// A GM TLS connection over TCP (tokio `AsyncRead` + `AsyncWrite`).
pub type GmTlsStream = tokio_tongsuo::SslStream<TcpStream>;

/// GM TLS failures. Messages name files and what is wrong with them, never key material.
#[derive(Debug, thiserror::Error)]
pub enum GmTlsError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The key (or the certificate's public key) is not SM2.
    #[error(
        "{what} is not an SM2 key; the GM listener needs an SM2 certificate and key (RFC 8998)"
    )]
    NotSm2 {
        /// Which file or object.
        what: String,
    },
    /// The private key is not the certificate's.
    #[error("the private key {key} does not belong to the certificate {cert}")]
    KeyMismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
    },
    /// Tongsuo refused a setting or an operation.
    #[error("Tongsuo: {0}")]
    Tongsuo(#[from] ErrorStack),
    /// The TLS handshake failed.
    #[error("GM TLS handshake failed: {0}")]
    Handshake(String),
}

fn tongsuo_error(stack: ErrorStack) -> GmTlsError {
    GmTlsError::Tongsuo(stack)
}

/// Settings shared by both ends: TLS 1.3 only, TLS_SM4_GCM_SM3 only, curveSM2, sm2sig_sm3.
fn restrict(b: &mut SslContextBuilder) -> Result<(), GmTlsError> {
    b.set_min_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_ciphersuites(CIPHER_SUITE)?;
    b.set_groups_list(GROUP)?;
    b.set_sigalgs_list(SIGNATURE_SCHEME)?;
    // Tongsuo's strict mode: the SM suites only with an SM2 certificate.
    b.enable_sm_tls13_strict();
    Ok(())
}

fn is_sm2<T: HasPublic>(key: &PKeyRef<T>) -> bool {
    key.id() == Id::SM2
        || (key.id() == Id::EC
            && key
                .ec_key()
                .ok()
                .and_then(|k| k.group().curve_name())
                .is_some_and(|n| n == Nid::SM2))
}

fn read(path: &Path) -> Result<Vec<u8>, GmTlsError> {
    std::fs::read(path).map_err(|source| GmTlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Builds the server context from PEM bytes; returns it with the leaf certificate.
fn server_context(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<(SslContext, X509), GmTlsError> {
    let mut chain = X509::stack_from_pem(cert_pem)
        .map_err(|e| GmTlsError::Pem {
            path: cert_path.to_path_buf(),
            message: format!("not a PEM certificate chain ({e})"),
        })?
        .into_iter();
    let leaf = chain.next().ok_or_else(|| GmTlsError::Pem {
        path: cert_path.to_path_buf(),
        message: "no certificate found".into(),
    })?;
    let key = PKey::private_key_from_pem(key_pem).map_err(|e| GmTlsError::Pem {
        path: key_path.to_path_buf(),
        message: format!("not a PEM private key ({e})"),
    })?;
    if !is_sm2(&key) {
        return Err(GmTlsError::NotSm2 {
            what: key_path.display().to_string(),
        });
    }
    let leaf_key = leaf.public_key()?;
    if !is_sm2(&leaf_key) {
        return Err(GmTlsError::NotSm2 {
            what: format!("the public key of {}", cert_path.display()),
        });
    }
    if !leaf_key.public_eq(&key) {
        return Err(GmTlsError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        });
    }
    let mut b = SslContextBuilder::new(SslMethod::tls_server())?;
    restrict(&mut b)?;
    b.set_certificate(&leaf)?;
    for extra in chain {
        b.add_extra_chain_cert(extra)?;
    }
    b.set_private_key(&key)?;
    b.check_private_key().map_err(|_| GmTlsError::KeyMismatch {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
    })?;
    b.set_alpn_select_callback(|_, client| {
        select_next_proto(b"\x08http/1.1", client).ok_or(AlpnError::NOACK)
    });
    Ok((b.build(), leaf))
}

fn sha256_hex(cert: &X509) -> Result<String, GmTlsError> {
    let d = cert.digest(MessageDigest::sha256())?;
    Ok(d.iter().map(|b| format!("{b:02x}")).collect())
}

/// The server side of the GM listener: TLS 1.3 with TLS_SM4_GCM_SM3 only, an SM2 certificate,
/// reloadable from its files without a restart.
#[derive(Debug)]
pub struct GmTlsAcceptor {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<(SslContext, String)>,
}

impl GmTlsAcceptor {
    /// Loads the SM2 certificate (PEM, leaf first, then any chain) and its SM2 private key (PEM).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, GmTlsError> {
        let (ctx, leaf) = server_context(&read(cert)?, &read(key)?, cert, key)?;
        let fp = sha256_hex(&leaf)?;
        Ok(GmTlsAcceptor {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            current: RwLock::new((ctx, fp)),
        })
    }

    /// The certificate and key files.
    pub fn paths(&self) -> (&Path, &Path) {
        (&self.cert_path, &self.key_path)
    }

    /// SHA-256 fingerprint (hex) of the certificate being served.
    pub fn certificate_sha256(&self) -> String {
        match self.current.read() {
            Ok(g) => g.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// Re-reads the files and builds a new context without installing it: a pair that does not
    /// load is refused with the reason and the old certificate keeps serving.
    pub fn prepare_reload(&self) -> Result<GmReplacement, GmTlsError> {
        let cert_pem = read(&self.cert_path)?;
        let (ctx, leaf) = server_context(
            &cert_pem,
            &read(&self.key_path)?,
            &self.cert_path,
            &self.key_path,
        )?;
        Ok(GmReplacement {
            ctx,
            sha256: sha256_hex(&leaf)?,
            cert_pem,
        })
    }

    /// Serves `replacement` to new connections from now on; returns the previous fingerprint.
    pub fn install(&self, replacement: GmReplacement) -> String {
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::replace(&mut *g, (replacement.ctx, replacement.sha256)).1
    }

    /// [`prepare_reload`](Self::prepare_reload) then [`install`](Self::install): returns the
    /// fingerprints before and after.
    pub fn reload(&self) -> Result<(String, String), GmTlsError> {
        let r = self.prepare_reload()?;
        let new = r.sha256.clone();
        Ok((self.install(r), new))
    }

    /// Performs the server handshake on an accepted connection.
    pub async fn accept(&self, tcp: TcpStream) -> Result<GmTlsStream, GmTlsError> {
        let ctx = match self.current.read() {
            Ok(g) => g.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        };
        let ssl = Ssl::new(&ctx)?;
        let mut stream = tokio_tongsuo::SslStream::new(ssl, tcp)?;
        Pin::new(&mut stream)
            .accept()
            .await
            .map_err(|e| GmTlsError::Handshake(e.to_string()))?;
        Ok(stream)
    }
}

/// A loaded replacement certificate, not yet serving.
#[derive(Debug)]
pub struct GmReplacement {
    ctx: SslContext,
    sha256: String,
    cert_pem: Vec<u8>,
}

impl GmReplacement {
    /// SHA-256 fingerprint (hex) of the new certificate.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The PEM the new certificate was read from.
    pub fn cert_pem(&self) -> &[u8] {
        &self.cert_pem
    }
}

/// The client side: offers only TLS 1.3 with TLS_SM4_GCM_SM3 and verifies the server's SM2
/// certificate against the given trust anchors and the host name or address.
#[derive(Debug)]
pub struct GmTlsConnector {
    ctx: SslContext,
}

impl GmTlsConnector {
    /// Trusts the certificates in `trusted_pem` (a CA bundle or a self-signed server certificate).
    pub fn new(trusted_pem: &[u8]) -> Result<Self, GmTlsError> {
        let certs = X509::stack_from_pem(trusted_pem).map_err(tongsuo_error)?;
        let mut store = X509StoreBuilder::new()?;
        for c in certs {
            store.add_cert(c)?;
        }
        let mut b = SslContextBuilder::new(SslMethod::tls_client())?;
        restrict(&mut b)?;
        b.set_verify_cert_store(store.build())?;
        b.set_verify(SslVerifyMode::PEER);
        b.set_alpn_protos(b"\x08http/1.1")?;
        Ok(GmTlsConnector { ctx: b.build() })
    }

    /// Connects over `tcp` to `host` (a DNS name or an IP address the certificate must name).
    pub async fn connect(&self, host: &str, tcp: TcpStream) -> Result<GmTlsStream, GmTlsError> {
        let mut ssl = Ssl::new(&self.ctx)?;
        match host.parse::<IpAddr>() {
            Ok(ip) => ssl.param_mut().set_ip(ip)?,
            Err(_) => {
                ssl.set_hostname(host)?;
                ssl.param_mut().set_host(host)?;
            }
        }
        let mut stream = tokio_tongsuo::SslStream::new(ssl, tcp)?;
        Pin::new(&mut stream)
            .connect()
            .await
            .map_err(|e| GmTlsError::Handshake(e.to_string()))?;
        Ok(stream)
    }
}

/// What a GM TLS connection negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Protocol version (`TLSv1.3`).
    pub version: String,
    /// Cipher suite (`TLS_SM4_GCM_SM3`).
    pub cipher: Option<String>,
    /// The peer presented a certificate whose public key is SM2.
    pub peer_key_is_sm2: bool,
    /// The peer certificate's subject (`CN=…, O=…`), if it presented one.
    pub peer_subject: Option<String>,
}

impl Negotiated {
    /// Reads the negotiated parameters of a connection.
    pub fn of(stream: &GmTlsStream) -> Negotiated {
        let ssl = stream.ssl();
        let peer = ssl.peer_certificate();
        Negotiated {
            version: ssl.version_str().to_string(),
            cipher: ssl.current_cipher().map(|c| c.name().to_string()),
            peer_key_is_sm2: peer
                .as_ref()
                .and_then(|c| c.public_key().ok())
                .is_some_and(|k| is_sm2(&k)),
            peer_subject: peer.as_ref().map(|c| name_to_string(c.subject_name())),
        }
    }
}

fn name_to_string(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?").to_string();
            let value = e
                .data()
                .as_utf8()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "?".into());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Generates an SM2 key and a self-signed certificate signed with SM2-with-SM3, valid for `days`
/// days, naming `names` (DNS names or IP addresses) in its subjectAltName. Returns
/// (certificate PEM, private key PEM in PKCS#8). For tests and first set-up; production nodes
/// use certificates issued by their CA.
pub fn generate_sm2_self_signed(
    common_name: &str,
    names: &[&str],
    days: u32,
) -> Result<(String, String), GmTlsError> {
    let mut kctx = PkeyCtx::new_id(Id::SM2)?;
    kctx.keygen_init()?;
    let key: PKey<Private> = kctx.keygen()?;

    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "medspace")?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();

    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(days)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    b.append_extension(BasicConstraints::new().critical().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_agreement()
            .build()?,
    )?;
    b.append_extension(
        ExtendedKeyUsage::new()
            .server_auth()
            .client_auth()
            .build()?,
    )?;
    if !names.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for n in names {
            if n.parse::<IpAddr>().is_ok() {
                san.ip(n);
            } else {
                san.dns(n);
            }
        }
        let ext = san.build(&b.x509v3_context(None, None))?;
        b.append_extension(ext)?;
    }
    b.sign(&key, MessageDigest::sm3())?;
    let cert = b.build();
    let cert_pem = String::from_utf8_lossy(&cert.to_pem()?).into_owned();
    let key_pem = String::from_utf8_lossy(&key.private_key_to_pem_pkcs8()?).into_owned();
    Ok((cert_pem, key_pem))
}
