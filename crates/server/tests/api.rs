//! The HTTPS API: TLS 1.2 and 1.3 answered, TLS 1.1 and plain HTTP refused; the role checks and
//! grants of the service layer seen through HTTP (401, 403, 400, 422), and the OpenAPI document.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::io::{Read, Write};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use medspace_service::reexports::gen::{generate, GenOptions, Table};
use medspace_service::{InitOptions, Node};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn new_node(tmp: &std::path::Path) -> (Arc<Node>, String) {
    let (node, outcome) = Node::init(InitOptions {
        dir: tmp.join("node"),
        database_url: None,
        profile: None,
        master_key_file: Some(tmp.join("node.masterkey")),
        hsm: None,
        admin_username: "admin".into(),
        listen: None,
    })
    .await
    .unwrap();
    (Arc::new(node), outcome.admin_password)
}

async fn start(
    node: Arc<Node>,
) -> (
    u16,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), medspace_server::ServerError>>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(medspace_server::serve_with_listener(
        node,
        listener,
        async {
            let _ = rx.await;
        },
    ));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    (port, tx, server)
}

fn client_config(
    node: &Node,
    version: &'static rustls::SupportedProtocolVersion,
    alpn: &[&[u8]],
) -> rustls::ClientConfig {
    let (cert, _) = node.tls_paths();
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut &pem[..]) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// Connects with only `version` enabled; returns the negotiated version and ALPN protocol.
async fn tls_connect(
    config: rustls::ClientConfig,
    port: u16,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())
}

async fn https_get(
    node: &Node,
    port: u16,
    version: &'static rustls::SupportedProtocolVersion,
) -> Result<(rustls::ProtocolVersion, String), String> {
    let mut tls = tls_connect(client_config(node, version, &[b"http/1.1"]), port).await?;
    let negotiated = tls
        .get_ref()
        .1
        .protocol_version()
        .ok_or("no protocol version")?;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    Ok((negotiated, String::from_utf8_lossy(&out).into_owned()))
}

fn openssl(port: u16, args: &[&str]) -> Option<(bool, String)> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_12_and_13_answer_and_older_or_plain_connections_get_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node(tmp.path()).await;
    let (port, stop, server) = start(node.clone()).await;

    for (v, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let (negotiated, resp) = https_get(&node, port, v).await.unwrap();
        assert_eq!(negotiated, expected);
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(resp.contains("\"status\":\"ok\""), "{resp}");
        let lower = resp.to_ascii_lowercase();
        assert!(lower.contains("strict-transport-security"), "{resp}");
        assert!(lower.contains("cache-control: no-store"), "{resp}");
    }

    // HTTP/2 is offered through ALPN.
    let tls = tls_connect(
        client_config(&node, &rustls::version::TLS13, &[b"h2", b"http/1.1"]),
        port,
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(tls);

    // Plain HTTP on the TLS port: no HTTP response, no data.
    let plain = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        buf
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&plain);
    assert!(
        !text.contains("HTTP/") && !text.contains("status") && !text.contains("audit_entries"),
        "plain HTTP got: {text}"
    );

    // OpenSSL as an independent client: TLS 1.2 works (so the check below can tell), TLS 1.1 and
    // 1.0 are refused even when the client offers every cipher.
    match tokio::task::spawn_blocking(move || openssl(port, &["-tls1_2"]))
        .await
        .unwrap()
    {
        Some((ok, all)) => {
            assert!(ok && all.contains("TLSv1.2"), "TLS 1.2 refused:\n{all}");
            for flag in ["-tls1_1", "-tls1"] {
                let (ok, all) = tokio::task::spawn_blocking(move || {
                    openssl(port, &[flag, "-cipher", "DEFAULT@SECLEVEL=0"])
                })
                .await
                .unwrap()
                .unwrap();
                assert!(
                    !ok || !(all.contains("Protocol  : TLSv1.1")
                        || all.contains("Protocol  : TLSv1\n")),
                    "{flag} accepted:\n{all}"
                );
                assert!(
                    !all.contains("Cipher is ECDHE"),
                    "{flag} negotiated a cipher:\n{all}"
                );
            }
        }
        None => eprintln!("NOTICE: openssl not found; skipping the TLS 1.1 refusal check"),
    }

    // The shutdown future stops the server.
    let _ = stop.send(());
    let ended = tokio::time::timeout(std::time::Duration::from_secs(20), server)
        .await
        .expect("server did not stop");
    assert!(ended.unwrap().is_ok());
}

#[test]
fn tls_config_offers_h2_and_http11_and_names_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (node, _) = rt.block_on(new_node(tmp.path()));
    let (cert, key) = node.tls_paths();
    let config = medspace_server::tls_config(&cert, &key).unwrap();
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    // (The protocol versions are checked by handshakes in the test above.)
    // A key file that is not a key, and a missing file, are named in the error.
    let bad = medspace_server::tls_config(&cert, &cert)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("no private key"), "{bad}");
    let missing = tmp.path().join("nope.pem");
    let err = medspace_server::tls_config(&missing, &key)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.pem"), "{err}");
}

struct Api {
    app: axum::Router,
}

impl Api {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        // What the HTTPS listener attaches to every request (`into_make_service_with_connect_info`);
        // the caller's address goes into the audit entries.
        let mut req =
            Request::builder()
                .method(method)
                .uri(uri)
                .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                    [127, 0, 0, 1],
                    40000,
                ))));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 26)
            .await
            .unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, v)
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, _, v) = match body {
            Some(b) => {
                self.send(
                    method,
                    uri,
                    token,
                    Some("application/json"),
                    b.to_string().into_bytes(),
                )
                .await
            }
            None => self.send(method, uri, token, None, Vec::new()).await,
        };
        (s, v)
    }

    async fn raw(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let (s, _, v) = self
            .send(method, uri, Some(token), Some("text/csv"), body)
            .await;
        (s, v)
    }

    async fn activate(&self, user: &str, otp: &str) -> String {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": user, "password": otp})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let t = v["token"].as_str().unwrap().to_string();
        let must_enrol = v["must_enrol_second_factor"] == true;
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/auth/password",
                Some(&t),
                Some(json!({"old_password": otp, "new_password": "Api-Passw0rd-2026"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if must_enrol {
            // Administrators, security officers and auditors enrol a second factor first.
            let (s, e) = self
                .call("POST", "/api/v1/auth/totp/enrol", Some(&t), None)
                .await;
            assert_eq!(s, StatusCode::OK, "{e}");
            let code = medspace_service::identity::totp_code(
                e["secret"].as_str().unwrap(),
                chrono::Utc::now().timestamp(),
            )
            .unwrap();
            let (s, v) = self
                .call(
                    "POST",
                    "/api/v1/auth/totp/confirm",
                    Some(&t),
                    Some(json!({"code": code})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        t
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_enforces_roles_grants_and_output_control() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path()).await;
    let api = Api {
        app: medspace_server::router(node.clone()),
    };

    assert_eq!(
        api.call("GET", "/api/v1/datasets", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call("GET", "/api/v1/datasets", Some("not-a-token"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // The one-time password must be changed before anything else.
    let (_, v) = api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": otp})),
        )
        .await;
    assert_eq!(v["must_change_password"], true);
    let first = v["token"].as_str().unwrap().to_string();
    assert_eq!(
        api.call("GET", "/api/v1/users", Some(&first), None).await.0,
        StatusCode::FORBIDDEN
    );
    let admin = api.activate("admin", &otp).await;

    // Account listing never carries password hashes.
    let (s, users) = api.call("GET", "/api/v1/users", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK, "{users}");
    assert_eq!(users[0]["username"], "admin");
    assert_eq!(users[0]["must_change_password"], false);
    let text = users.to_string();
    assert!(
        !text.contains("password_hash") && !text.contains("argon2"),
        "{text}"
    );

    // A wrong password is 401; a malformed body is 400 without the submitted value.
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": "Wrong-Passw0rd-1"}))
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"username": "zhangsan", "role": "Zhang San 13800138000"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("unknown variant"),
        "{v}"
    );
    assert!(!v.to_string().contains("13800138000"), "{v}");

    let mut tokens = std::collections::HashMap::new();
    for (name, role) in [
        ("officer", "security_officer"),
        ("reviewer", "committee_member"),
        ("reviewer2", "committee_member"),
        ("researcher", "data_user"),
        ("auditor", "auditor"),
    ] {
        let (s, v) = api
            .call(
                "POST",
                "/api/v1/users",
                Some(&admin),
                Some(json!({"username": name, "role": role})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let t = api
            .activate(name, v["one_time_password"].as_str().unwrap())
            .await;
        tokens.insert(name, t);
    }
    let (officer, reviewer, researcher, auditor) = (
        &tokens["officer"],
        &tokens["reviewer"],
        &tokens["researcher"],
        &tokens["auditor"],
    );
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/users",
            Some(researcher),
            Some(json!({"username": "x1x", "role": "auditor"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    let mut csv = Vec::new();
    generate(
        &GenOptions {
            rows: 2000,
            seed: 3,
            table: Table::Settlements,
            persons: None,
        },
        &mut csv,
        &mut |_| {},
    )
    .unwrap();
    let (s, raw) = api
        .raw(
            "POST",
            "/api/v1/datasets?name=claims&update_frequency=monthly",
            officer,
            csv,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{raw}");
    assert_eq!(raw["name"], "claims");
    assert_eq!(raw["row_count"], 2000);
    assert_eq!(raw["update_frequency"], "monthly");
    assert!(raw.get("wrapped_key").is_none() && raw.get("object_key").is_none());

    // Uploads must be CSV, and are cut off at the limit with nothing stored.
    let (s, _, _) = api
        .send(
            "POST",
            "/api/v1/datasets?name=as_json",
            Some(officer),
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let small = Api {
        app: medspace_server::router_with(
            node.clone(),
            medspace_server::RouterOptions {
                max_upload_bytes: 4096,
            },
        ),
    };
    let mut big = b"a,b\n".to_vec();
    while big.len() <= 10_000 {
        big.extend_from_slice(b"1,2\n");
    }
    let (s, v) = small
        .raw(
            "POST",
            "/api/v1/datasets?name=too_big",
            officer,
            big.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/datasets?name=too_big")
        .header("authorization", format!("Bearer {officer}"))
        .header("content-type", "text/csv")
        .header("content-length", big.len().to_string())
        .body(Body::from(big))
        .unwrap();
    assert_eq!(
        small.app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let (_, catalog) = api
        .call("GET", "/api/v1/datasets", Some(officer), None)
        .await;
    assert!(
        catalog
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["name"] != "too_big"),
        "{catalog}"
    );
    // A missing query parameter is named.
    let (s, v) = api
        .raw("POST", "/api/v1/datasets", officer, b"a\n1\n".to_vec())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("`name`"), "{v}");

    let (s, bad) = api
        .raw(
            "POST",
            "/api/v1/datasets?name=bad",
            officer,
            b"a,b\n1,2\n3\n".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"], "invalid_input");
    assert_eq!(
        (bad["line"].as_u64(), bad["column"].as_u64()),
        (Some(3), Some(2)),
        "{bad}"
    );

    let policy = r#"
name = "api-test"
quasi_identifiers = ["sex"]
subject_column = "id_number"
default_action = "drop"
[columns.id_number]
action = "pseudonymize"
[columns.sex]
action = "keep"
[columns.birth_date]
action = "age_band"
reference_column = "admission_time"
[columns.diagnosis_code]
action = "keep"
[columns.total_fee]
action = "keep"
"#;
    let uri = format!(
        "/api/v1/datasets/{}/deidentify",
        raw["id"].as_str().unwrap()
    );
    let (s, d) = api
        .call(
            "POST",
            &uri,
            Some(officer),
            Some(json!({"policy": policy, "project": "p1", "name": "claims_deid"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let deid_id = d["dataset"]["id"].as_str().unwrap().to_string();
    assert_eq!(d["dataset"]["kind"], "deidentified");
    assert_eq!(d["report"]["rows_in"], 2000);

    // The re-identification test over the API (GB/T 39725-2020 §11.4.2.4): the figures of
    // `medspace risk`, for security officers only, unknown columns named.
    let risk_uri = format!("/api/v1/datasets/{deid_id}/risk");
    let (s, r) = api
        .call(
            "POST",
            &risk_uri,
            Some(officer),
            Some(
                json!({"quasi_identifiers": ["sex", "birth_date"], "sensitive": "diagnosis_code"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["records"], 2000);
    let classes = r["equivalence_classes"].as_u64().unwrap();
    assert!(classes > 1, "{r}");
    let highest = r["risk"]["prosecutor_highest"].as_f64().unwrap();
    assert!(
        (highest - 1.0 / r["smallest_class"].as_f64().unwrap()).abs() < 1e-9,
        "{r}"
    );
    assert_eq!(r["sensitive"]["column"], "diagnosis_code");
    let (s, r) = api
        .call(
            "POST",
            &risk_uri,
            Some(officer),
            Some(json!({"quasi_identifiers": ["no_such_column"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
    assert!(r.to_string().contains("no_such_column"), "{r}");
    let (s, _) = api
        .call(
            "POST",
            &risk_uri,
            Some(researcher),
            Some(json!({"quasi_identifiers": ["sex"]})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Data users see only de-identified entries, and no tables before approval.
    let (s, catalog) = api
        .call("GET", "/api/v1/datasets", Some(researcher), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<_> = catalog
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["claims_deid".to_string()]);
    let (s, tables) = api
        .call("GET", "/api/v1/sandbox/tables", Some(researcher), None)
        .await;
    assert_eq!(
        (s, tables.as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );

    // Before approval: 403 on the dataset and on queries.
    assert_eq!(
        api.call(
            "GET",
            &format!("/api/v1/datasets/{deid_id}"),
            Some(researcher),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let q = json!({"sql": "SELECT sex, count(*) AS n FROM claims_deid GROUP BY sex"});
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/sandbox/query",
            Some(researcher),
            Some(q.clone())
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    let (s, app) = api
        .call("POST", "/api/v1/applications", Some(researcher), Some(json!({"dataset_id": deid_id, "columns": ["sex", "birth_date", "total_fee"], "purpose": "fee burden by sex and age", "period_days": 30})))
        .await;
    assert_eq!(s, StatusCode::OK, "{app}");
    let decision = format!(
        "/api/v1/applications/{}/decision",
        app["id"].as_str().unwrap()
    );
    assert_eq!(
        api.call(
            "POST",
            &decision,
            Some(researcher),
            Some(json!({"approve": true, "reason": "self"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(
            "POST",
            &decision,
            Some(reviewer),
            Some(json!({"approve": true, "reason": "ok"}))
        )
        .await
        .0,
        StatusCode::OK
    );

    // GB/T 39725-2020 §9.2 a) 8): the approved application is not enough while the dataset's
    // grading is only proposed; the officer edits and confirms it, the committee approves it.
    let grading = format!("/api/v1/datasets/{deid_id}/grading");
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/sandbox/query",
            Some(researcher),
            Some(q.clone())
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, g) = api.call("GET", &grading, Some(officer), None).await;
    assert_eq!(
        (s, g["status"].as_str()),
        (StatusCode::OK, Some("proposed")),
        "{g}"
    );
    assert_eq!(g["columns"][0].as_object().unwrap().len(), 11, "{g}");
    let fee = format!("{grading}/columns/total_fee");
    let edit = json!({"reason": "single fees can single out rare treatments", "set": {"level": 3}});
    assert_eq!(
        api.call("PUT", &fee, Some(researcher), Some(edit.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, bad) = api
        .call(
            "PUT",
            &fee,
            Some(officer),
            Some(json!({"reason": "x", "set": {"colour": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    let (s, step) = api.call("PUT", &fee, Some(officer), Some(edit)).await;
    assert_eq!(s, StatusCode::OK, "{step}");
    assert_eq!(step["changes"][0]["before"], 2, "{step}");
    assert_eq!(step["changes"][0]["after"], 3, "{step}");
    assert_eq!(
        api.call(
            "POST",
            &format!("{grading}/decision"),
            Some(reviewer),
            Some(json!({"approve": true, "reason": "too early"}))
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (s, step) = api
        .call(
            "POST",
            &format!("{grading}/confirm"),
            Some(officer),
            Some(json!({"reason": "all columns checked"})),
        )
        .await;
    assert_eq!(
        (s, step["status"].as_str()),
        (StatusCode::OK, Some("confirmed")),
        "{step}"
    );
    let (s, step) = api
        .call(
            "POST",
            &format!("{grading}/decision"),
            Some(reviewer),
            Some(json!({"approve": true, "reason": "follows Table 1"})),
        )
        .await;
    assert_eq!(
        (s, step["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{step}"
    );
    let (s, history) = api
        .call("GET", &format!("{grading}/history"), Some(auditor), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["propose", "override", "confirm", "approve"]);
    let (s, all) = api
        .call("GET", "/api/v1/gradings", Some(reviewer), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["dataset_id"] == deid_id.as_str() && g["status"] == "approved"));

    assert_eq!(
        api.call(
            "GET",
            &format!("/api/v1/datasets/{deid_id}"),
            Some(researcher),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, tables) = api
        .call("GET", "/api/v1/sandbox/tables", Some(researcher), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(tables[0]["table"], "claims_deid");
    let mut granted: Vec<_> = tables[0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    granted.sort_unstable();
    assert_eq!(granted, vec!["birth_date", "sex", "total_fee"]);
    // Officers do not query.
    assert_eq!(
        api.call("GET", "/api/v1/sandbox/tables", Some(officer), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // A query body of the wrong type is 400 and not echoed.
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/sandbox/query",
            Some(researcher),
            Some(json!({"sql": 110101199003074477u64})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(!v.to_string().contains("110101199003074477"), "{v}");
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/sandbox/query",
            Some(researcher),
            Some(json!({"sql": "DELETE FROM claims_deid"})),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_query")),
        "{v}"
    );

    let (s, result) = api.call("POST", "/api/v1/sandbox/query", Some(researcher), Some(json!({"sql": "SELECT sex, count(*) AS n, avg(total_fee) AS fee FROM claims_deid GROUP BY sex"}))).await;
    assert_eq!(s, StatusCode::OK, "{result}");
    assert_eq!(
        result["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[1].as_i64().unwrap())
            .sum::<i64>(),
        result["row_filter"][0]["rows_visible"].as_i64().unwrap()
    );
    // The application named no special disease: those rows are withheld by the row filter.
    assert_eq!(
        result["row_filter"][0]["rows_visible"].as_i64().unwrap()
            + result["row_filter"][0]["rows_withheld"].as_i64().unwrap(),
        2000,
        "{result}"
    );
    assert!(result["row_filter"][0]["rows_withheld"].as_i64().unwrap() > 0);
    let (s, v) = api.call("POST", "/api/v1/sandbox/query", Some(researcher), Some(json!({"sql": "SELECT diagnosis_code, count(*) FROM claims_deid GROUP BY diagnosis_code"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("diagnosis_code"),
        "{v}"
    );
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/sandbox/query",
            Some(researcher),
            Some(json!({"sql": "SELECT * FROM claims_deid"})),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("query_refused")),
        "{v}"
    );

    let (s, e) = api
        .call(
            "POST",
            "/api/v1/exports",
            Some(researcher),
            Some(json!({"query_id": result["query_id"], "justification": "tables for the report"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let eid = e["id"].as_str().unwrap();
    assert_eq!(
        api.call(
            "GET",
            &format!("/api/v1/exports/{eid}/download"),
            Some(researcher),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(
            "POST",
            &format!("/api/v1/exports/{eid}/decision"),
            Some(reviewer),
            Some(json!({"approve": true, "reason": "aggregates"}))
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, headers, body) = api
        .send(
            "GET",
            &format!("/api/v1/exports/{eid}/download"),
            Some(researcher),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let csv = body.as_str().unwrap();
    assert!(csv.starts_with("sex,n,fee"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        1 + result["rows"].as_array().unwrap().len()
    );
    // Someone else cannot download it.
    assert_eq!(
        api.call(
            "GET",
            &format!("/api/v1/exports/{eid}/download"),
            Some(reviewer),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    let (s, v) = api
        .call("GET", "/api/v1/audit/verify", Some(auditor), None)
        .await;
    assert_eq!((s, v["ok"].as_bool()), (StatusCode::OK, Some(true)), "{v}");
    assert!(v["entries"].as_i64().unwrap() > 20, "{v}");
    assert_eq!(v["head_hash"].as_str().map(str::len), Some(64), "{v}");
    assert_eq!(
        api.call("GET", "/api/v1/audit/verify", Some(researcher), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, entries) = api
        .call(
            "GET",
            "/api/v1/audit/entries?from=2&limit=5",
            Some(auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{entries}");
    let seqs: Vec<_> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3, 4, 5, 6]);
    assert_eq!(
        api.call(
            "GET",
            "/api/v1/audit/entries?limit=abc",
            Some(auditor),
            None
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.call("GET", "/api/v1/audit/entries", Some(researcher), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Event search (T/CI 857-2024 7.2.6): the researcher's own entries carry the network address
    // the request came from; FHIR R4 AuditEvent on request; auditors only.
    let (s, events) = api
        .call(
            "GET",
            "/api/v1/audit/events?action=sandbox.query&limit=50",
            Some(auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{events}");
    let events = events.as_array().unwrap();
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e["action"], "sandbox.query");
        assert_eq!(e["context"]["address"], "127.0.0.1", "{e}");
        assert_eq!(e["context"]["role"], "data_user", "{e}");
    }
    let (s, bundle) = api
        .call(
            "GET",
            "/api/v1/audit/events?outcome=denied&format=fhir",
            Some(auditor),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{bundle}");
    assert_eq!(bundle["resourceType"], "Bundle");
    let first = &bundle["entry"][0]["resource"];
    assert_eq!(first["resourceType"], "AuditEvent", "{bundle}");
    assert_eq!(first["outcome"], "4");
    assert_eq!(
        api.call(
            "GET",
            "/api/v1/audit/events?outcome=maybe",
            Some(auditor),
            None
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.call("GET", "/api/v1/audit/events", Some(researcher), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, history) = api
        .call(
            "POST",
            "/api/v1/audit/subject-history",
            Some(auditor),
            Some(json!({"identifiers": ["11010519491231002X"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{history}");
    assert!(history["checkpoint"].as_str().unwrap().contains("\n\n"));
    assert!(history["pseudonyms"][0]
        .as_str()
        .unwrap()
        .starts_with("sp:"));
    assert!(!history.to_string().contains("11010519491231002X"));
    // Key status: officers and auditors, never data users; no key material in it.
    let (s, keys) = api.call("GET", "/api/v1/keys", Some(auditor), None).await;
    assert_eq!(s, StatusCode::OK, "{keys}");
    assert!(keys["active"].as_str().unwrap().starts_with("file:v1:"));
    assert_eq!(
        api.call("GET", "/api/v1/keys", Some(researcher), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Destruction: only a security officer, with an agreement named; returns a signed certificate.
    let destroy_uri = format!("/api/v1/datasets/{}/destroy", raw["id"].as_str().unwrap());
    let body = json!({"agreement": "retention period of agreement A-7 ended"});
    let (s, _) = api
        .call("POST", &destroy_uri, Some(researcher), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .call(
            "POST",
            &destroy_uri,
            Some(officer),
            Some(json!({"agreement": ""})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // T/CI 857-2024 6.4.3: not before a committee member has approved; the officer cannot.
    let (s, ap) = api
        .call("POST", &destroy_uri, Some(officer), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{ap}");
    assert!(ap.to_string().contains("6.4.3"), "{ap}");
    let approve_uri = format!(
        "/api/v1/datasets/{}/destruction-approvals",
        raw["id"].as_str().unwrap()
    );
    let reason = json!({"reason": "agreement A-7 ended; retention period over"});
    let (s, _) = api
        .call("POST", &approve_uri, Some(officer), Some(reason.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, ap) = api
        .call("POST", &approve_uri, Some(reviewer), Some(reason.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{ap}");
    // The raw settlements hold designated-institution codes (C2): two distinct members.
    assert_eq!(
        (ap["approvals"].as_u64(), ap["needed"].as_u64()),
        (Some(1), Some(2))
    );
    let (s, _) = api
        .call("POST", &approve_uri, Some(reviewer), Some(reason.clone()))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, ap) = api
        .call("POST", &destroy_uri, Some(officer), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{ap}");
    let (s, ap) = api
        .call(
            "POST",
            &approve_uri,
            Some(&tokens["reviewer2"]),
            Some(reason),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ap}");
    assert_eq!(
        (ap["approvals"].as_u64(), ap["needed"].as_u64()),
        (Some(2), Some(2))
    );
    let (s, cert) = api
        .call("POST", &destroy_uri, Some(officer), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{cert}");
    let cert: medspace_service::destruction::DestructionCertificate =
        serde_json::from_value(cert).unwrap();
    cert.verify().unwrap();
    assert_eq!(cert.signature_scheme, "ed25519");
    let (s, _) = api
        .call("POST", &destroy_uri, Some(officer), Some(body))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, health) = api.call("GET", "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(health["audit_entries"].as_i64().unwrap() >= v["entries"].as_i64().unwrap());

    // After logout the token is dead.
    assert_eq!(
        api.call("POST", "/api/v1/auth/logout", Some(researcher), None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        api.call("GET", "/api/v1/applications", Some(researcher), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

/// Every operation of the API, as (method, path).
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/login/totp"),
    ("post", "/api/v1/auth/totp/enrol"),
    ("post", "/api/v1/auth/totp/confirm"),
    ("post", "/api/v1/users/{id}/unlock"),
    ("post", "/api/v1/users/{id}/totp/reset"),
    ("post", "/api/v1/users/{id}/validity"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("post", "/api/v1/tokens/{id}/revoke"),
    ("post", "/api/v1/certificates"),
    ("get", "/api/v1/peer/account"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/password"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/datasets"),
    ("post", "/api/v1/datasets"),
    ("get", "/api/v1/datasets/{id}"),
    ("post", "/api/v1/datasets/{id}/deidentify"),
    ("post", "/api/v1/datasets/{id}/risk"),
    ("post", "/api/v1/datasets/{id}/destroy"),
    ("post", "/api/v1/datasets/{id}/destruction-approvals"),
    ("get", "/api/v1/datasets/{id}/grading"),
    ("get", "/api/v1/datasets/{id}/grading/history"),
    ("put", "/api/v1/datasets/{id}/grading/columns/{column}"),
    ("post", "/api/v1/datasets/{id}/grading/confirm"),
    ("post", "/api/v1/datasets/{id}/grading/decision"),
    ("get", "/api/v1/gradings"),
    ("get", "/api/v1/keys"),
    ("get", "/api/v1/applications"),
    ("post", "/api/v1/applications"),
    ("post", "/api/v1/applications/{id}/decision"),
    ("get", "/api/v1/sandbox/tables"),
    ("post", "/api/v1/sandbox/query"),
    ("get", "/api/v1/exports"),
    ("post", "/api/v1/exports"),
    ("post", "/api/v1/exports/{id}/decision"),
    ("get", "/api/v1/exports/{id}/download"),
    ("get", "/api/v1/audit/entries"),
    ("get", "/api/v1/audit/verify"),
    ("get", "/api/v1/audit/checkpoint"),
    ("get", "/api/v1/audit/proof/inclusion"),
    ("get", "/api/v1/audit/proof/consistency"),
    ("get", "/api/v1/audit/events"),
    ("post", "/api/v1/audit/subject-history"),
    ("get", "/api/v1/peer/identity"),
    ("post", "/api/v1/witness/add-checkpoint"),
    ("get", "/api/v1/patients/{id}/records"),
    ("post", "/api/v1/patients/{id}/records"),
    ("get", "/api/v1/patients/{id}/consents"),
    ("post", "/api/v1/patients/{id}/consents"),
    ("get", "/api/v1/patients/{id}/consents/fhir"),
    ("post", "/api/v1/patients/{id}/consents/fhir"),
    ("post", "/api/v1/consents/{id}/revoke"),
    ("get", "/api/v1/access/policies"),
    ("post", "/api/v1/access/policies"),
    ("post", "/api/v1/access/policies/{id}/remove"),
    ("get", "/api/v1/users/{id}/attributes"),
    ("put", "/api/v1/users/{id}/attributes"),
    ("get", "/api/v1/alerts"),
    ("post", "/api/v1/alerts/{id}/review"),
    ("get", "/api/v1/access-requests"),
    ("post", "/api/v1/access-requests"),
    ("post", "/api/v1/access-requests/{id}/decision"),
    ("get", "/api/v1/reidentifications"),
    ("post", "/api/v1/reidentifications"),
    ("post", "/api/v1/reidentifications/{id}/decision"),
    ("post", "/api/v1/reidentifications/{id}/resolve"),
    ("post", "/api/v1/patient/login/code"),
    ("post", "/api/v1/patient/login"),
    ("get", "/api/v1/me/records"),
    ("get", "/api/v1/me/records/download"),
    ("get", "/api/v1/me/disclosures"),
    ("post", "/api/v1/me/requests"),
    ("post", "/api/v1/patients/{id}/account"),
    ("post", "/api/v1/users/{id}/wards"),
    ("get", "/api/v1/subject-requests"),
    ("post", "/api/v1/subject-requests/{id}/resolve"),
    ("post", "/api/v1/me/credentials"),
];

const PUBLIC: &[&str] = &[
    "/healthz",
    "/api/v1/openapi.json",
    "/api/v1/auth/login",
    // The second login step: the challenge of the password step authenticates it.
    "/api/v1/auth/login/totp",
    // Patients' login: the code sent to the registered mobile number authenticates.
    "/api/v1/patient/login/code",
    "/api/v1/patient/login",
    // The signed checkpoint: origin, size and root hash, for clients and witnesses to keep.
    "/api/v1/audit/checkpoint",
    // C2SP tlog-witness: the log's signature on the checkpoint authenticates the request.
    "/api/v1/witness/add-checkpoint",
];

#[tokio::test]
async fn openapi_documents_exactly_the_operations() {
    let doc = serde_json::to_value(medspace_server::openapi()).unwrap();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<(String, String)> = OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    // Operations describe their success body, and path parameters are declared.
    for (m, p) in OPERATIONS {
        let op = &doc["paths"][p][m];
        assert!(op["responses"]["200"].is_object(), "{m} {p}");
        if p.contains("{id}") {
            assert_eq!(op["parameters"][0]["name"], "id", "{m} {p}");
        }
    }
    assert_eq!(
        doc["paths"]["/api/v1/datasets"]["post"]["requestBody"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["text/csv"]
    );
    for schema in [
        "LoginStepResponse",
        "QueryResponse",
        "ErrorBody",
        "AuditVerifyResponse",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

/// Default deny: every documented operation except the public three answers 401 without a
/// token (and so also exists in the router: an unknown route would be 404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_but_health_openapi_and_login_requires_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node(tmp.path()).await;
    let api = Api {
        app: medspace_server::router(node),
    };
    for (m, p) in OPERATIONS {
        let uri = p.replace("{id}", "x-1");
        let (s, headers, v) = api
            .send(
                &m.to_uppercase(),
                &uri,
                None,
                Some("application/json"),
                b"{}".to_vec(),
            )
            .await;
        if PUBLIC.contains(p) {
            assert!(
                ![
                    StatusCode::UNAUTHORIZED,
                    StatusCode::NOT_FOUND,
                    StatusCode::METHOD_NOT_ALLOWED
                ]
                .contains(&s),
                "{m} {p}: {s} {v}"
            );
        } else {
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {p}: {v}");
            assert_eq!(v["error"], "unauthenticated", "{m} {p}");
            assert!(headers.contains_key("www-authenticate"), "{m} {p}");
        }
        // Security headers on every response, errors included.
        assert_eq!(headers["cache-control"], "no-store", "{m} {p}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{m} {p}");
        assert!(headers.contains_key("strict-transport-security"), "{m} {p}");
        // A token that is not a session is refused the same way.
        if !PUBLIC.contains(p) {
            let (s, _, _) = api
                .send(
                    &m.to_uppercase(),
                    &uri,
                    Some("forged"),
                    Some("application/json"),
                    b"{}".to_vec(),
                )
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {p}");
        }
    }

    // The served document is the same as openapi().
    let (s, served) = api.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        served,
        serde_json::to_value(medspace_server::openapi()).unwrap()
    );

    // Unknown routes and methods get JSON errors, not an empty body.
    let (s, headers, v) = api
        .send("GET", "/api/v1/nothing", None, None, Vec::new())
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let (s, _, v) = api
        .send("DELETE", "/api/v1/users", None, None, Vec::new())
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );

    // JSON endpoints want JSON.
    let (s, _, v) = api
        .send(
            "POST",
            "/api/v1/auth/login",
            None,
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    let (s, _, v) = api
        .send(
            "POST",
            "/api/v1/auth/login",
            None,
            Some("application/json"),
            b"{\"username\": \"admin\"}".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("missing field `password`"),
        "{v}"
    );
}

#[tokio::test]
async fn an_address_in_use_is_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _) = new_node(tmp.path()).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = medspace_server::serve(node, addr, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(err, medspace_server::ServerError::Bind { address, .. } if address == addr),
        "{err}"
    );
    assert!(err.to_string().contains(&addr.to_string()));
}

/// A CSV sent over HTTPS in many chunks (no Content-Length) is streamed through validation and
/// encryption into the catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_upload_streams_over_https() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let (node, otp) = new_node(tmp.path()).await;
    let api = Api {
        app: medspace_server::router(node.clone()),
    };
    let admin = api.activate("admin", &otp).await;
    let (_, v) = api
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"username": "officer", "role": "security_officer"})),
        )
        .await;
    let officer = api
        .activate("officer", v["one_time_password"].as_str().unwrap())
        .await;

    let mut csv = Vec::new();
    generate(
        &GenOptions {
            rows: 3000,
            seed: 9,
            table: Table::Settlements,
            persons: None,
        },
        &mut csv,
        &mut |_| {},
    )
    .unwrap();

    let (port, stop, _server) = start(node.clone()).await;
    let mut tls = tls_connect(
        client_config(&node, &rustls::version::TLS13, &[b"http/1.1"]),
        port,
    )
    .await
    .unwrap();
    let head = format!(
        "POST /api/v1/datasets?name=streamed HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {officer}\r\nContent-Type: text/csv\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    for chunk in csv.chunks(16 * 1024) {
        tls.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        tls.write_all(chunk).await.unwrap();
        tls.write_all(b"\r\n").await.unwrap();
    }
    tls.write_all(b"0\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"row_count\":3000"), "{text}");
    let _ = stop.send(());
}
