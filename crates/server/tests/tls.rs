//! Transport: the explicit modern suite list (CBC, static-RSA and DHE suites and other groups
//! refused), certificate reload without a restart (a bad pair refused, the old one kept, both
//! audited), and mutual TLS between nodes (valid peer accepted; no certificate, another CA and an
//! expired certificate refused; the identity reaches the handler).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

mod common;

use std::sync::Arc;

use common::*;
use medspace_server::{
    peer_client_config_from_files, NodeTls, PeerClient, ReloadOutcome, ReloadTrigger, TlsError,
};
use medspace_service::config::TlsSettings;

fn openssl_s_client(port: u16, args: &[&str]) -> Option<(bool, String)> {
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

fn quiet_settings() -> TlsSettings {
    TlsSettings {
        reload_check_seconds: 0,
        ..TlsSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_modern_suites_and_groups_are_negotiated() {
    let tmp = tempfile::tempdir().unwrap();
    let node = new_node(tmp.path()).await;
    let tls = NodeTls::with_settings(node.clone(), &quiet_settings()).unwrap();
    let run = start(node.clone(), tls, false).await;
    let port = run.api_port;

    // A rustls client limited to one TLS 1.2 suite of the list gets it.
    let (cert, _) = node.tls_paths();
    let pem = std::fs::read_to_string(cert).unwrap();
    let one_suite = rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![rustls::crypto::ring::kx_group::SECP384R1],
        ..rustls::crypto::ring::default_provider()
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(one_suite))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = connector
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(
        tls.get_ref().1.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    );
    drop(tls);

    // OpenSSL offering exactly one suite or group at a time.
    let cases: &[(&[&str], bool)] = &[
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
            true,
        ),
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
            true,
        ),
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"],
            true,
        ),
        (
            &["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"],
            true,
        ),
        (&["-tls1_3", "-groups", "P-384"], true),
        // CBC with ECDHE
        (
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"],
            false,
        ),
        (&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384"], false),
        (&["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256"], false),
        // no ECDHE: static RSA and finite-field DHE, even with AES-GCM
        (&["-tls1_2", "-cipher", "AES128-GCM-SHA256"], false),
        (&["-tls1_2", "-cipher", "AES256-SHA:@SECLEVEL=0"], false),
        (&["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"], false),
        // TLS 1.3 suite and groups outside the list
        (
            &["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256"],
            false,
        ),
        (&["-tls1_3", "-groups", "ffdhe2048"], false),
        (&["-tls1_3", "-groups", "P-521"], false),
    ];
    for (args, accepted) in cases {
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let Some((ok, out)) = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
            openssl_s_client(port, &refs)
        })
        .await
        .unwrap() else {
            eprintln!("NOTICE: openssl not found; skipping the OpenSSL suite checks");
            break;
        };
        let negotiated = ok && out.contains("Cipher is ") && !out.contains("Cipher is (NONE)");
        assert_eq!(negotiated, *accepted, "{args:?}:\n{out}");
    }
    let _ = run.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_certificate_serves_after_reload_and_a_bad_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let node = new_node(tmp.path()).await;
    let (cert_path, key_path) = node.tls_paths();
    let first_pem = std::fs::read_to_string(&cert_path).unwrap();
    let second = leaf("node-renewed", None, false);
    let tls = NodeTls::with_settings(node.clone(), &quiet_settings()).unwrap();
    let first = tls.api_certificate();
    let run = start(node.clone(), tls.clone(), false).await;
    let trust = [first_pem.clone(), second.cert_pem()];

    let seen = served_certificate(client(&trust, None), run.api_port)
        .await
        .unwrap();
    assert_eq!(seen.sha256, first.sha256);

    // Nothing changed: nothing replaced, nothing audited.
    let r = tls.reload(ReloadTrigger::Request).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].listener, "api");
    assert_eq!(r[0].outcome.as_ref().unwrap(), &ReloadOutcome::Unchanged);
    assert!(reload_audit(&node).await.is_empty());

    // New files, reload: new connections get the new certificate.
    std::fs::write(&cert_path, second.cert_pem()).unwrap();
    std::fs::write(&key_path, second.key_pem()).unwrap();
    let r = tls.reload(ReloadTrigger::Request).await;
    match &r[0].outcome {
        Ok(ReloadOutcome::Replaced { previous, current }) => {
            assert_eq!(previous.sha256, first.sha256);
            assert_eq!(current.sha256, second.info().sha256);
            assert!(current.subject.contains("CN=node-renewed"));
        }
        other => panic!("{other:?}"),
    }
    let seen = served_certificate(client(&trust, None), run.api_port)
        .await
        .unwrap();
    assert_eq!(seen.sha256, second.info().sha256);
    assert_eq!(seen.serial, second.info().serial);

    // Bad replacements: each refused with its reason, the second certificate stays.
    let third = leaf("node-third", None, false);
    let expired = leaf("node-expired", None, true);
    let bad: Vec<(String, String, &str)> = vec![
        (
            "not a certificate".into(),
            third.key_pem(),
            "no certificate found",
        ),
        (third.cert_pem(), "not a key".into(), "no private key found"),
        (
            third.cert_pem(),
            second.key_pem(),
            "does not belong to the certificate",
        ),
        (expired.cert_pem(), expired.key_pem(), "not valid now"),
    ];
    for (cert, key, why) in &bad {
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        let r = tls.reload(ReloadTrigger::Request).await;
        let err = r[0].outcome.as_ref().unwrap_err();
        assert!(err.to_string().contains(why), "{why}: {err}");
        let seen = served_certificate(client(&trust, None), run.api_port)
            .await
            .unwrap();
        assert_eq!(seen.sha256, second.info().sha256, "{why}");
    }
    // A missing key file names the file.
    std::fs::remove_file(&key_path).unwrap();
    let r = tls.reload(ReloadTrigger::Request).await;
    assert!(matches!(
        r[0].outcome.as_ref().unwrap_err(),
        TlsError::Read { path, .. } if path == &key_path
    ));

    // The audit log has the replacement and the five refusals, with certificate identities and
    // reasons but no key material.
    let entries = reload_audit(&node).await;
    assert_eq!(entries.len(), 6, "{entries:#?}");
    assert_eq!(entries[0]["outcome"], "success");
    assert_eq!(entries[0]["target"], "api");
    assert_eq!(entries[0]["detail"]["trigger"], "request");
    assert_eq!(
        entries[0]["detail"]["current"]["sha256"],
        second.info().sha256
    );
    assert_eq!(entries[0]["detail"]["previous"]["serial"], first.serial);
    for e in &entries[1..] {
        assert_eq!(e["outcome"], "error", "{e}");
        assert!(e["detail"]["error"].is_string(), "{e}");
    }
    let all = serde_json::to_string(&entries).unwrap();
    assert!(!all.contains("PRIVATE KEY"), "{all}");
    assert!(!all.contains(&second.key_pem()[40..80]), "{all}");

    let _ = run.stop.send(());
    let ended = tokio::time::timeout(std::time::Duration::from_secs(20), run.server)
        .await
        .expect("server did not stop");
    assert!(ended.unwrap().is_ok());
}

struct Federation {
    ca: Made,
    node_a: Made,
    node_b: Made,
    rogue_ca: Made,
    rogue: Made,
    expired: Made,
}

fn federation() -> Federation {
    let ca = new_ca("medspace test federation CA");
    let node_a = leaf("node-a", Some(&ca), false);
    let node_b = leaf("node-b", Some(&ca), false);
    let rogue_ca = new_ca("someone else's CA");
    let rogue = leaf("node-rogue", Some(&rogue_ca), false);
    let expired = leaf("node-expired", Some(&ca), true);
    Federation {
        ca,
        node_a,
        node_b,
        rogue_ca,
        rogue,
        expired,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_listener_admits_only_valid_certificates_of_the_peer_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let f = federation();
    let dir = tmp.path();
    std::fs::write(dir.join("peer-ca.pem"), f.ca.cert_pem()).unwrap();
    let (a_cert, a_key) = f.node_a.write(dir, "node-a");
    let (b_cert, b_key) = f.node_b.write(dir, "node-b");
    let (r_cert, r_key) = f.rogue.write(dir, "rogue");
    let (x_cert, x_key) = f.expired.write(dir, "expired");
    let ca_path = dir.join("peer-ca.pem");

    let node = new_node(dir).await;
    let settings = TlsSettings {
        reload_check_seconds: 0,
        peer_ca: Some(ca_path.clone()),
        peer_cert: Some(a_cert.clone()),
        peer_key: Some(a_key.clone()),
        ..TlsSettings::default()
    };
    let tls = NodeTls::with_settings(node.clone(), &settings).unwrap();
    assert!(tls
        .peer_certificate()
        .unwrap()
        .subject
        .contains("CN=node-a"));
    let run = start(node.clone(), tls.clone(), true).await;
    let peer_port = run.peer_port.unwrap();
    let identity_url = format!("https://127.0.0.1:{peer_port}/api/v1/peer/identity");

    // node-b, under the peer CA: accepted, and the handler sees its identity.
    let b = PeerClient::new(peer_client_config_from_files(&ca_path, &b_cert, &b_key).unwrap());
    let resp = b.get(&identity_url).await.unwrap();
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["certificate"]["subject"], "O=medspace test, CN=node-b");
    assert_eq!(v["certificate"]["spki_sha256"], f.node_b.info().spki_sha256);
    assert_eq!(v["certificate"]["issuer"], "CN=medspace test federation CA");
    assert!(v["remote_addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    // The client saw node-a's peer certificate.
    assert_eq!(resp.server.sha256, f.node_a.info().sha256);
    // The node's own client configuration (its peer certificate and the CA bundle) works too.
    let own = PeerClient::new(tls.peer_client_config().unwrap());
    let v: serde_json::Value =
        serde_json::from_slice(&own.get(&identity_url).await.unwrap().body).unwrap();
    assert_eq!(v["certificate"]["subject"], "O=medspace test, CN=node-a");
    // Only the peer endpoints are on the peer listener.
    let resp = b
        .get(&format!("https://127.0.0.1:{peer_port}/api/v1/users"))
        .await
        .unwrap();
    assert_eq!(resp.status, 404);
    let resp = b
        .get(&format!("https://127.0.0.1:{peer_port}/healthz"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);

    // No client certificate: refused.
    let no_cert = rustls::ClientConfig::builder_with_provider(medspace_server::crypto_provider())
        .with_protocol_versions(medspace_server::PROTOCOL_VERSIONS)
        .unwrap()
        .with_root_certificates(medspace_server::load_ca_bundle(&ca_path).unwrap())
        .with_no_client_auth();
    let err = PeerClient::new(Arc::new(no_cert))
        .get(&identity_url)
        .await
        .unwrap_err();
    assert!(
        matches!(err, medspace_server::PeerCallError::Tls { .. }),
        "no certificate: {err}"
    );
    assert!(err.to_string().contains("CertificateRequired"), "{err}");
    // A certificate from another CA, and an expired one from the right CA: refused.
    for (cert, key, what) in [(&r_cert, &r_key, "other CA"), (&x_cert, &x_key, "expired")] {
        let c = PeerClient::new(
            peer_client_config_from_files(&ca_path, cert, key).unwrap_or_else(|_| {
                // The helper refuses to load an expired certificate of its own; build by hand.
                let provider = medspace_server::crypto_provider();
                let chain: Vec<_> = rustls_pemfile::certs(&mut &std::fs::read(cert).unwrap()[..])
                    .map(|c| c.unwrap())
                    .collect();
                let k = rustls_pemfile::private_key(&mut &std::fs::read(key).unwrap()[..])
                    .unwrap()
                    .unwrap();
                Arc::new(
                    rustls::ClientConfig::builder_with_provider(provider)
                        .with_protocol_versions(medspace_server::PROTOCOL_VERSIONS)
                        .unwrap()
                        .with_root_certificates(medspace_server::load_ca_bundle(&ca_path).unwrap())
                        .with_client_auth_cert(chain, k)
                        .unwrap(),
                )
            }),
        );
        let err = c.get(&identity_url).await.unwrap_err();
        assert!(
            matches!(err, medspace_server::PeerCallError::Tls { .. }),
            "{what}: {err}"
        );
        eprintln!("{what}: {err}");
    }
    // Over TLS 1.2 as well (the client certificate is checked during the handshake there).
    let b12 = {
        let provider = medspace_server::crypto_provider();
        let chain: Vec<_> = rustls_pemfile::certs(&mut &std::fs::read(&r_cert).unwrap()[..])
            .map(|c| c.unwrap())
            .collect();
        let k = rustls_pemfile::private_key(&mut &std::fs::read(&r_key).unwrap()[..])
            .unwrap()
            .unwrap();
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(medspace_server::load_ca_bundle(&ca_path).unwrap())
            .with_client_auth_cert(chain, k)
            .unwrap()
    };
    let err = PeerClient::new(Arc::new(b12))
        .get(&identity_url)
        .await
        .unwrap_err();
    assert!(
        matches!(err, medspace_server::PeerCallError::Tls { .. }),
        "{err}"
    );

    // The peer endpoint on the public API listener: 401, no identity without mutual TLS.
    let api_url = format!("https://127.0.0.1:{}/api/v1/peer/identity", run.api_port);
    let (api_cert, _) = node.tls_paths();
    let api_client = {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut &std::fs::read(&api_cert).unwrap()[..]) {
            roots.add(c.unwrap()).unwrap();
        }
        rustls::ClientConfig::builder_with_provider(medspace_server::crypto_provider())
            .with_protocol_versions(medspace_server::PROTOCOL_VERSIONS)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    };
    let resp = PeerClient::new(Arc::new(api_client))
        .get(&api_url)
        .await
        .unwrap();
    assert_eq!(resp.status, 401);
    // And a peer client does not trust the API listener's self-signed certificate.
    let err = b.get(&api_url).await.unwrap_err();
    assert!(
        matches!(err, medspace_server::PeerCallError::Tls { .. }),
        "{err}"
    );

    // Replacing the CA bundle changes who is admitted, without a restart.
    std::fs::write(&ca_path, f.rogue_ca.cert_pem()).unwrap();
    let r = tls.reload(ReloadTrigger::Request).await;
    let ca_reload = r.iter().find(|r| r.listener == "peer_ca").unwrap();
    assert!(
        matches!(
            ca_reload.outcome,
            Ok(ReloadOutcome::CaReplaced {
                certificates: 1,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(b.get(&identity_url).await.is_err());
    let rogue_client = PeerClient::new({
        let provider = medspace_server::crypto_provider();
        let chain: Vec<_> = rustls_pemfile::certs(&mut &std::fs::read(&r_cert).unwrap()[..])
            .map(|c| c.unwrap())
            .collect();
        let k = rustls_pemfile::private_key(&mut &std::fs::read(&r_key).unwrap()[..])
            .unwrap()
            .unwrap();
        // It still checks node-a's certificate against the federation CA.
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(medspace_server::PROTOCOL_VERSIONS)
                .unwrap()
                .with_root_certificates({
                    let mut roots = rustls::RootCertStore::empty();
                    roots.add(f.ca.cert.der().clone()).unwrap();
                    roots
                })
                .with_client_auth_cert(chain, k)
                .unwrap(),
        )
    });
    let resp = rogue_client.get(&identity_url).await.unwrap();
    assert_eq!(resp.status, 200);
    // A bundle that is not PEM is refused and the rogue CA stays.
    std::fs::write(&ca_path, "garbage").unwrap();
    let r = tls.reload(ReloadTrigger::Request).await;
    let ca_reload = r.iter().find(|r| r.listener == "peer_ca").unwrap();
    assert!(ca_reload.outcome.is_err(), "{r:?}");
    assert_eq!(rogue_client.get(&identity_url).await.unwrap().status, 200);
    let _ = run.stop.send(());
}

#[tokio::test]
async fn a_peer_listener_without_a_peer_ca_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let node = new_node(tmp.path()).await;
    let settings = TlsSettings {
        peer_listen: Some("127.0.0.1:0".into()),
        ..TlsSettings::default()
    };
    let err = NodeTls::with_settings(node.clone(), &settings).unwrap_err();
    assert!(err.to_string().contains("peer_ca"), "{err}");
    // Given a peer socket but no peer side, serve_with says why.
    let tls = NodeTls::with_settings(node.clone(), &quiet_settings()).unwrap();
    let err = medspace_server::serve_with(
        node,
        tls,
        medspace_server::Listeners {
            api: std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
            peer: Some(std::net::TcpListener::bind("127.0.0.1:0").unwrap()),
            gm: None,
        },
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("peer_ca"), "{err}");
}

#[cfg(not(feature = "gm-tls"))]
#[tokio::test]
async fn a_gm_listener_in_a_build_without_gm_tls_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let node = new_node(tmp.path()).await;
    let settings = TlsSettings {
        gm_listen: Some("127.0.0.1:0".into()),
        gm_cert: Some("tls/sm2.crt".into()),
        gm_key: Some("tls/sm2.key".into()),
        ..TlsSettings::default()
    };
    let err = NodeTls::with_settings(node, &settings).unwrap_err();
    assert!(err.to_string().contains("gm-tls"), "{err}");
}

/// With the `gm-tls` feature: the GM listener serves the API over TLS 1.3 with TLS_SM4_GCM_SM3
/// and an SM2 certificate, and its certificate reloads like the others.
#[cfg(feature = "gm-tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gm_listener_serves_the_api_over_sm4_gcm_sm3_and_reloads() {
    use medspace_gmtls::{generate_sm2_self_signed, GmTlsConnector, Negotiated};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let tmp = tempfile::tempdir().unwrap();
    let node = new_node(tmp.path()).await;
    let (cert, key) = generate_sm2_self_signed("node-gm", &["localhost", "127.0.0.1"], 30).unwrap();
    let cert_path = tmp.path().join("sm2-cert.pem");
    let key_path = tmp.path().join("sm2-key.pem");
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let settings = TlsSettings {
        reload_check_seconds: 0,
        gm_listen: Some("127.0.0.1:0".into()),
        gm_cert: Some(cert_path.clone()),
        gm_key: Some(key_path.clone()),
        ..TlsSettings::default()
    };
    let tls = NodeTls::with_settings(node.clone(), &settings).unwrap();
    let gm = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gm_port = gm.local_addr().unwrap().port();
    let run = start_with_gm(node.clone(), tls.clone(), false, Some(gm)).await;

    async fn get_health(trusted: &str, port: u16) -> Result<(Negotiated, String), String> {
        let connector = GmTlsConnector::new(trusted.as_bytes()).map_err(|e| e.to_string())?;
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let mut s = connector
            .connect("127.0.0.1", tcp)
            .await
            .map_err(|e| e.to_string())?;
        let n = Negotiated::of(&s);
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        Ok((n, String::from_utf8_lossy(&out).into_owned()))
    }

    let (n, resp) = get_health(&cert, gm_port).await.unwrap();
    assert_eq!(n.version, "TLSv1.3");
    assert_eq!(n.cipher.as_deref(), Some("TLS_SM4_GCM_SM3"));
    assert!(n.peer_key_is_sm2);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"status\":\"ok\""), "{resp}");

    // A P-256 replacement is refused; an SM2 one is put in service.
    let p256 = leaf("not-sm2", None, false);
    std::fs::write(&cert_path, p256.cert_pem()).unwrap();
    std::fs::write(&key_path, p256.key_pem()).unwrap();
    let r = tls.reload(ReloadTrigger::Request).await;
    let gm_reload = r.iter().find(|r| r.listener == "gm").unwrap();
    let err = gm_reload.outcome.as_ref().unwrap_err();
    assert!(err.to_string().contains("not an SM2 key"), "{err}");
    assert!(get_health(&cert, gm_port).await.is_ok());

    let (cert2, key2) = generate_sm2_self_signed("node-gm-2", &["127.0.0.1"], 30).unwrap();
    std::fs::write(&cert_path, &cert2).unwrap();
    std::fs::write(&key_path, &key2).unwrap();
    let r = tls.reload(ReloadTrigger::Request).await;
    let gm_reload = r.iter().find(|r| r.listener == "gm").unwrap();
    assert!(
        matches!(gm_reload.outcome, Ok(ReloadOutcome::Replaced { .. })),
        "{r:?}"
    );
    assert!(get_health(&cert, gm_port).await.is_err());
    let (n, _) = get_health(&cert2, gm_port).await.unwrap();
    assert!(n.peer_subject.unwrap().contains("CN=node-gm-2"));
    let audit = reload_audit(&node).await;
    assert!(audit
        .iter()
        .any(|e| e["target"] == "gm" && e["outcome"] == "success"));
    let _ = run.stop.send(());
}
