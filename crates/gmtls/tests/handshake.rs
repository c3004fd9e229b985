//! RFC 8998 over loopback: a Tongsuo client and the GM listener negotiate TLS 1.3 with
//! TLS_SM4_GCM_SM3 and an SM2 certificate; a client that offers only the international suites
//! gets nothing; a key that is not SM2, or not the certificate's, is refused with its reason.
#![cfg(feature = "gm-tls")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_gmtls::{
    generate_sm2_self_signed, GmTlsAcceptor, GmTlsConnector, GmTlsError, Negotiated,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn write_pair(
    dir: &std::path::Path,
    stem: &str,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let (cert, key) = generate_sm2_self_signed("gm-node", &["localhost", "127.0.0.1"], 30).unwrap();
    let c = dir.join(format!("{stem}-cert.pem"));
    let k = dir.join(format!("{stem}-key.pem"));
    std::fs::write(&c, &cert).unwrap();
    std::fs::write(&k, &key).unwrap();
    (c, k, cert)
}

#[tokio::test]
async fn loopback_handshake_negotiates_sm4_gcm_sm3_with_an_sm2_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, cert_pem) = write_pair(tmp.path(), "gm");
    let acceptor = std::sync::Arc::new(GmTlsAcceptor::from_pem_files(&cert, &key).unwrap());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let seen = Negotiated::of(&tls);
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.unwrap();
            tls.write_all(b"pong!").await.unwrap();
            tls.shutdown().await.ok();
            (seen, buf)
        })
    };

    let connector = GmTlsConnector::new(cert_pem.as_bytes()).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector.connect("127.0.0.1", tcp).await.unwrap();
    let n = Negotiated::of(&tls);
    assert_eq!(n.version, "TLSv1.3");
    assert_eq!(n.cipher.as_deref(), Some("TLS_SM4_GCM_SM3"));
    assert!(n.peer_key_is_sm2, "{n:?}");
    assert!(
        n.peer_subject
            .as_deref()
            .unwrap_or("")
            .contains("CN=gm-node"),
        "{n:?}"
    );
    assert_eq!(tls.ssl().selected_alpn_protocol(), Some(&b"http/1.1"[..]));
    tls.write_all(b"ping!").await.unwrap();
    let mut reply = [0u8; 5];
    tls.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"pong!");

    let (seen, got) = server.await.unwrap();
    assert_eq!(&got, b"ping!");
    assert_eq!(seen.version, "TLSv1.3");
    assert_eq!(seen.cipher.as_deref(), Some("TLS_SM4_GCM_SM3"));
}

#[tokio::test]
async fn a_client_without_the_sm_suite_or_with_another_trust_anchor_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, _) = write_pair(tmp.path(), "gm");
    let (_, _, other_pem) = write_pair(tmp.path(), "other");
    let acceptor = std::sync::Arc::new(GmTlsAcceptor::from_pem_files(&cert, &key).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let mut results = Vec::new();
            for _ in 0..2 {
                let (tcp, _) = listener.accept().await.unwrap();
                results.push(acceptor.accept(tcp).await.map(|_| ()));
            }
            results
        })
    };

    // A client whose trust anchor is another certificate: verification fails.
    let connector = GmTlsConnector::new(other_pem.as_bytes()).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let err = connector.connect("127.0.0.1", tcp).await.unwrap_err();
    assert!(matches!(err, GmTlsError::Handshake(_)), "{err}");

    // A plain client offering only TLS_AES_128_GCM_SHA256 over X25519: no shared suite.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let plain = tokio::task::spawn_blocking(move || {
        use tongsuo::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_min_proto_version(Some(SslVersion::TLS1_3)).unwrap();
        b.set_ciphersuites("TLS_AES_128_GCM_SHA256").unwrap();
        b.set_groups_list("X25519").unwrap();
        b.set_verify(SslVerifyMode::NONE);
        let std_tcp = tcp.into_std().unwrap();
        std_tcp.set_nonblocking(false).unwrap();
        b.build()
            .configure()
            .unwrap()
            .verify_hostname(false)
            .connect("localhost", std_tcp)
            .map(|s| s.ssl().current_cipher().map(|c| c.name().to_string()))
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap();
    assert!(plain.is_err(), "negotiated {plain:?}");

    let results = server.await.unwrap();
    assert!(results.iter().all(|r| r.is_err()), "{results:?}");
}

#[test]
fn a_key_that_is_not_sm2_or_not_the_certificates_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key, _) = write_pair(tmp.path(), "a");
    let (_, other_key, _) = write_pair(tmp.path(), "b");
    let err = GmTlsAcceptor::from_pem_files(&cert, &other_key).unwrap_err();
    assert!(matches!(err, GmTlsError::KeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("does not belong"), "{err}");

    // A P-256 key and certificate: not SM2.
    let ec = tongsuo::ec::EcKey::generate(
        &tongsuo::ec::EcGroup::from_curve_name(tongsuo::nid::Nid::X9_62_PRIME256V1).unwrap(),
    )
    .unwrap();
    let pkey = tongsuo::pkey::PKey::from_ec_key(ec).unwrap();
    let p256 = tmp.path().join("p256.pem");
    std::fs::write(&p256, pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let err = GmTlsAcceptor::from_pem_files(&cert, &p256).unwrap_err();
    assert!(matches!(err, GmTlsError::NotSm2 { .. }), "{err}");

    // A missing file is named.
    let err = GmTlsAcceptor::from_pem_files(&tmp.path().join("nope.pem"), &key).unwrap_err();
    assert!(err.to_string().contains("nope.pem"), "{err}");

    // Reload: a bad replacement is refused and the old certificate stays.
    let acceptor = GmTlsAcceptor::from_pem_files(&cert, &key).unwrap();
    let before = acceptor.certificate_sha256();
    std::fs::write(&key, std::fs::read(&other_key).unwrap()).unwrap();
    assert!(acceptor.reload().is_err());
    assert_eq!(acceptor.certificate_sha256(), before);
    let (cert2, key2, _) = write_pair(tmp.path(), "c");
    std::fs::copy(&cert2, &cert).unwrap();
    std::fs::copy(&key2, &key).unwrap();
    let (old, new) = acceptor.reload().unwrap();
    assert_eq!(old, before);
    assert_ne!(new, before);
    assert_eq!(acceptor.certificate_sha256(), new);
}

/// An SM2 key and certificate made with the OpenSSL 3 command line (as docs/tls.md shows) load
/// and serve.
#[tokio::test]
async fn an_sm2_pair_made_by_the_openssl_command_line_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("sm2-key.pem");
    let cert = tmp.path().join("sm2-cert.pem");
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let made = run(&[
        "genpkey",
        "-algorithm",
        "SM2",
        "-out",
        key.to_str().unwrap(),
    ])
    .and_then(|_| {
        run(&[
            "req",
            "-new",
            "-x509",
            "-key",
            key.to_str().unwrap(),
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-days",
            "30",
            "-subj",
            "/O=Hospital A/CN=node-a",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-out",
            cert.to_str().unwrap(),
        ])
    });
    if made.is_none() {
        eprintln!("NOTICE: no OpenSSL 3 command line with SM2; skipping");
        return;
    }
    let acceptor = std::sync::Arc::new(GmTlsAcceptor::from_pem_files(&cert, &key).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.map(|_| ())
    });
    let pem = std::fs::read(&cert).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = GmTlsConnector::new(&pem)
        .unwrap()
        .connect("127.0.0.1", tcp)
        .await
        .unwrap();
    let n = Negotiated::of(&tls);
    assert_eq!(n.cipher.as_deref(), Some("TLS_SM4_GCM_SM3"));
    assert!(n.peer_key_is_sm2);
    server.await.unwrap().unwrap();
}
