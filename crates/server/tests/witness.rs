//! Two nodes on loopback (issue 4 item 5; T/CI 857-2024 7.2.1 a), 7.2.6, 7.2.9 e)): node A asks
//! node B, a C2SP tlog-witness, to cosign its audit checkpoints over HTTPS. B cosigns consistent
//! checkpoints, refuses inconsistent ones (409 stale size, 422 fork), checkpoints signed by an
//! unknown key (403) and unknown logs (404), audits every answer, and A flags checkpoints that lack
//! the quorum when B is down.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::http::Method;
use base64::Engine as _;
use common::{start, Running};
use medspace_core::{AuditEvent, Outcome};
use medspace_server::{peer_client_config_from_files, NodeTls, PeerClient, PeerResponse};
use medspace_service::config::{ConfigOverrides, TlsSettings};
use medspace_service::transparency::NodeNoteSigner;
use medspace_service::{InitOptions, Node};
use medspace_tlog::checkpoint::Checkpoint;
use medspace_tlog::note::{Ed25519Signer, Note, NoteSignature};
use medspace_tlog::witness::{AddCheckpointRequest, CosignatureV1Verifier};
use medspace_tlog::Hash;

async fn init(dir: &Path, name: &str) -> Node {
    let (node, _) = Node::init(InitOptions {
        dir: dir.join(name),
        database_url: None,
        profile: None,
        master_key_file: Some(dir.join(format!("{name}.masterkey"))),
        hsm: None,
        admin_username: "admin".into(),
        listen: None,
    })
    .await
    .unwrap();
    node
}

/// Appends `toml` to the node's configuration and opens it again.
async fn reconfigure(node: Node, toml: &str) -> Arc<Node> {
    let dir = node.dir().to_path_buf();
    node.store().close().await;
    drop(node);
    let file = dir.join("medspace.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push('\n');
    text.push_str(toml);
    std::fs::write(&file, text).unwrap();
    Arc::new(Node::open(&dir, &ConfigOverrides::default()).await.unwrap())
}

async fn serve(node: &Arc<Node>) -> Running {
    let tls = NodeTls::with_settings(
        node.clone(),
        &TlsSettings {
            reload_check_seconds: 0,
            ..TlsSettings::default()
        },
    )
    .unwrap();
    start(node.clone(), tls, false).await
}

struct TwoNodes {
    _tmp: tempfile::TempDir,
    a: Arc<Node>,
    b: Arc<Node>,
    b_run: Running,
    b_vkey: String,
}

/// B witnesses A's log; A asks B (its only witness, quorum 1) over HTTPS, trusting B's
/// self-signed API certificate.
async fn two_nodes() -> TwoNodes {
    let tmp = tempfile::tempdir().unwrap();
    let a = init(tmp.path(), "a").await;
    let b = init(tmp.path(), "b").await;
    let a_origin = a.audit_origin();
    let a_vkey = a.audit_vkey().await.unwrap();
    let b_vkey = b.witness_vkey().await.unwrap();
    let b = reconfigure(
        b,
        &format!("[[audit.witness_logs]]\norigin = \"{a_origin}\"\nvkey = \"{a_vkey}\"\n"),
    )
    .await;
    // The key survives reopening: same vkey.
    assert_eq!(b.witness_vkey().await.unwrap(), b_vkey);
    let b_run = serve(&b).await;
    let (b_cert, _) = b.tls_paths();
    let a = reconfigure(
        a,
        &format!(
            "[audit]\ncheckpoint_interval_seconds = 0\nwitness_quorum = 1\n\n\
             [[audit.witnesses]]\nurl = \"https://127.0.0.1:{}\"\nvkey = \"{b_vkey}\"\n\
             ca = \"{}\"\n",
            b_run.api_port,
            b_cert.display()
        ),
    )
    .await;
    TwoNodes {
        _tmp: tmp,
        a,
        b,
        b_run,
        b_vkey,
    }
}

async fn grow(node: &Node, n: usize) {
    for i in 0..n {
        node.append_audit_event(AuditEvent::new(
            "u-test",
            "dataset.read",
            format!("d{i}"),
            Outcome::Success,
        ))
        .await
        .unwrap();
    }
}

/// The audit entries of `node` with `action`, as JSON.
async fn audited(node: &Node, action: &str) -> Vec<serde_json::Value> {
    node.store()
        .audit_entries(1, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.entry).unwrap())
        .filter(|v| v["action"] == action)
        .collect()
}

/// Checks the stored cosignature of A's checkpoint of `size` with B's vkey, independently of the
/// node code (medspace-tlog's `CosignatureV1Verifier`).
async fn assert_cosigned(t: &TwoNodes, size: i64) {
    let cps = t.a.store().audit_checkpoints(size, 1).await.unwrap();
    assert_eq!(cps[0].size, size);
    let note = Note::parse(&cps[0].note).unwrap();
    let cosigs = t.a.store().audit_cosignatures(size, 10).await.unwrap();
    let stored = cosigs
        .iter()
        .find(|c| c.size == size)
        .unwrap_or_else(|| panic!("no cosignature of size {size}"));
    let verifier = CosignatureV1Verifier::from_vkey(&t.b_vkey).unwrap();
    let sig = &NoteSignature::parse_lines(&stored.signature).unwrap()[0];
    assert_eq!(sig.name, t.b.witness_name());
    let ts = verifier
        .verify_cosignature(note.text().as_bytes(), &sig.signature)
        .expect("B's cosignature verifies on A's checkpoint");
    assert!(ts > 1_700_000_000);
    // And on another body it does not.
    assert!(verifier
        .verify_cosignature(b"other\n1\nAAAA\n", &sig.signature)
        .is_none());
}

async fn post(t: &TwoNodes, body: String) -> PeerResponse {
    let (b_cert, _) = t.b.tls_paths();
    let (a_cert, a_key) = t.a.tls_paths();
    let client = PeerClient::new(peer_client_config_from_files(&b_cert, &a_cert, &a_key).unwrap());
    client
        .request(
            Method::POST,
            &format!(
                "https://127.0.0.1:{}/api/v1/witness/add-checkpoint",
                t.b_run.api_port
            ),
            Some(("text/plain", body.into_bytes())),
        )
        .await
        .unwrap()
}

fn hashes(b64: &[String]) -> Vec<Hash> {
    b64.iter()
        .map(|h| {
            Hash::try_from(
                base64::engine::general_purpose::STANDARD
                    .decode(h)
                    .unwrap()
                    .as_slice(),
            )
            .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_cosigns_a_checkpoints_and_follows_the_log_with_consistency_proofs() {
    let t = two_nodes().await;
    grow(&t.a, 5).await;
    let first = t.a.issue_audit_checkpoint().await.unwrap();
    assert_cosigned(&t, first.tree_size as i64).await;
    let head = t.b.store().witness_head(&t.a.audit_origin()).await.unwrap();
    assert_eq!(head.unwrap().size, first.tree_size as i64);

    // The log grows; B cosigns the next checkpoint given a proof from the size it cosigned.
    grow(&t.a, 7).await;
    let second = t.a.issue_audit_checkpoint().await.unwrap();
    assert!(second.tree_size > first.tree_size);
    assert_cosigned(&t, second.tree_size as i64).await;
    let history =
        t.b.store()
            .witness_history(&t.a.audit_origin())
            .await
            .unwrap();
    assert_eq!(
        history.iter().map(|h| h.size).collect::<Vec<_>>(),
        vec![first.tree_size as i64, second.tree_size as i64]
    );
    // B recorded both cosignatures in its own audit log, with the proof's old size.
    let cosigned = audited(&t.b, "witness.cosign").await;
    assert_eq!(cosigned.len(), 2, "{cosigned:?}");
    assert_eq!(cosigned[1]["detail"]["old_size"], first.tree_size);
    assert_eq!(cosigned[1]["detail"]["size"], second.tree_size);

    // A's verification reports every checkpoint witnessed.
    let report = t.a.verify_audit_log(None, None).await.unwrap().unwrap();
    assert_eq!(report.witness.unwitnessed_checkpoints, Some(0));
    assert!(report.witness.audit_witness_quorum);
    assert_eq!(
        report.witness.latest_witnessed_checkpoint,
        Some(second.tree_size)
    );
    assert_eq!(report.witness.invalid_cosignatures, 0);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["unwitnessed_checkpoints"], 0);
    assert_eq!(json["audit_witness_quorum"], true);
    assert!(json["entries"].as_i64().unwrap() > 0, "old fields kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_refuses_inconsistent_forged_and_unknown_checkpoints_and_audits_them() {
    let t = two_nodes().await;
    let origin = t.a.audit_origin();
    grow(&t.a, 4).await;
    let first = t.a.issue_audit_checkpoint().await.unwrap();
    assert_cosigned(&t, first.tree_size as i64).await;
    let n = first.tree_size;
    grow(&t.a, 6).await;
    t.a.integrate_audit().await.unwrap();
    let m = t.a.store().audit_tree_state().await.unwrap().size as u64;
    assert!(m > n);
    let signer = NodeNoteSigner::new(&origin, t.a.identity_key().await.unwrap()).unwrap();
    let real = t.a.audit_consistency_proof(n, Some(m)).await.unwrap();

    // A fork: A's key signs another root at a larger size; the real proof does not lead to it.
    let forged = Checkpoint::new(origin.clone(), m, [7u8; 32])
        .unwrap()
        .sign(&[&signer])
        .unwrap();
    let req = AddCheckpointRequest::new(n, hashes(&real.proof), forged).unwrap();
    let resp = post(&t, req.to_body()).await;
    assert_eq!(resp.status, 422, "{:?}", resp.body);

    // A replay of a smaller size (stale old size): 409 with the size B last cosigned.
    let small = t.a.audit_inclusion_proof(1, Some(2)).await.unwrap();
    let root2 = hashes(&[small.root])[0];
    let replay = Checkpoint::new(origin.clone(), 2, root2)
        .unwrap()
        .sign(&[&signer])
        .unwrap();
    let req = AddCheckpointRequest::new(0, vec![], replay).unwrap();
    let resp = post(&t, req.to_body()).await;
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.headers.get("content-type").unwrap(),
        "text/x.tlog.size"
    );
    assert_eq!(&resp.body[..], format!("{n}\n").as_bytes());

    // Signed by a key B does not know for A's origin: 403.
    let root_m = hashes(std::slice::from_ref(&real.root2))[0];
    let stranger = Ed25519Signer::from_seed(&origin, &[9; 32]).unwrap();
    let unknown = Checkpoint::new(origin.clone(), m, root_m)
        .unwrap()
        .sign(&[&stranger])
        .unwrap();
    let req = AddCheckpointRequest::new(n, hashes(&real.proof), unknown).unwrap();
    let resp = post(&t, req.to_body()).await;
    assert_eq!(resp.status, 403, "{:?}", resp.body);

    // A log B does not follow: 404. A malformed body: 400.
    let other = Ed25519Signer::from_seed("other.example/log", &[4; 32]).unwrap();
    let cp = Checkpoint::new("other.example/log", 1, [1u8; 32])
        .unwrap()
        .sign(&[&other])
        .unwrap();
    let req = AddCheckpointRequest::new(0, vec![], cp).unwrap();
    assert_eq!(post(&t, req.to_body()).await.status, 404);
    assert_eq!(post(&t, "new 1\n".into()).await.status, 400);

    // Nothing moved B's head; every refusal is in B's audit log with its status.
    let head = t.b.store().witness_head(&origin).await.unwrap().unwrap();
    assert_eq!(head.size, n as i64);
    let refused: Vec<u64> = audited(&t.b, "witness.refuse")
        .await
        .iter()
        .map(|v| v["detail"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(refused, vec![422, 409, 403, 404, 400]);
    assert!(audited(&t.b, "witness.refuse")
        .await
        .iter()
        .all(|v| v["outcome"] == "denied"));

    // The genuine checkpoint of size m is still cosigned with the real proof.
    let genuine = Checkpoint::new(origin.clone(), m, root_m)
        .unwrap()
        .sign(&[&signer])
        .unwrap();
    let req = AddCheckpointRequest::new(n, hashes(&real.proof), genuine.clone()).unwrap();
    let resp = post(&t, req.to_body()).await;
    assert_eq!(resp.status, 200);
    let line = String::from_utf8(resp.body.to_vec()).unwrap();
    let sig = &NoteSignature::parse_lines(&line).unwrap()[0];
    assert!(CosignatureV1Verifier::from_vkey(&t.b_vkey)
        .unwrap()
        .verify_cosignature(genuine.text().as_bytes(), &sig.signature)
        .is_some());
    assert_eq!(
        t.b.store()
            .witness_head(&origin)
            .await
            .unwrap()
            .unwrap()
            .size,
        m as i64
    );

    // A does not know B cosigned size m: its next request (old = n) gets 409 with m, and A
    // retries once from m and is cosigned.
    grow(&t.a, 2).await;
    let next = t.a.issue_audit_checkpoint().await.unwrap();
    assert!(next.tree_size > m);
    assert_cosigned(&t, next.tree_size as i64).await;
    let refusals = audited(&t.b, "witness.refuse").await;
    let last = refusals.last().unwrap();
    assert_eq!(last["detail"]["status"], 409);
    assert_eq!(last["detail"]["old_size"], n);
    let cosigned = audited(&t.b, "witness.cosign").await;
    assert_eq!(cosigned.last().unwrap()["detail"]["old_size"], m);
    assert_eq!(
        t.b.store()
            .witness_head(&origin)
            .await
            .unwrap()
            .unwrap()
            .size,
        next.tree_size as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flags_checkpoints_lacking_the_quorum_when_b_is_down() {
    let t = two_nodes().await;
    grow(&t.a, 3).await;
    let first = t.a.issue_audit_checkpoint().await.unwrap();
    assert_cosigned(&t, first.tree_size as i64).await;
    assert!(
        t.a.witness_status(false)
            .await
            .unwrap()
            .audit_witness_quorum
    );

    // B stops.
    let TwoNodes { a, b_run, .. } = t;
    b_run.stop.send(()).unwrap();
    b_run.server.await.unwrap().unwrap();
    grow(&a, 3).await;
    let second = a.issue_audit_checkpoint().await.unwrap();
    assert!(second.tree_size > first.tree_size);
    assert!(a
        .store()
        .audit_cosignatures(second.tree_size as i64, 10)
        .await
        .unwrap()
        .is_empty());
    let status = a.witness_status(false).await.unwrap();
    assert!(!status.audit_witness_quorum);
    let report = a.verify_audit_log(None, None).await.unwrap().unwrap();
    assert!(!report.witness.audit_witness_quorum);
    assert_eq!(report.witness.unwitnessed_checkpoints, Some(1));
    assert_eq!(
        report.witness.latest_witnessed_checkpoint,
        Some(first.tree_size)
    );
    // The shortfall is in A's audit log.
    let shortfall = audited(&a, "audit.witness.request").await;
    assert_eq!(shortfall.len(), 1);
    assert_eq!(shortfall[0]["outcome"], "error");

    // /healthz stays 200 and shows the missing quorum.
    let a_run = serve(&a).await;
    let (a_cert, a_key) = a.tls_paths();
    let client = PeerClient::new(peer_client_config_from_files(&a_cert, &a_cert, &a_key).unwrap());
    let resp = client
        .get(&format!("https://127.0.0.1:{}/healthz", a_run.api_port))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let health: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(health["audit_witness_quorum"], false);
    assert_eq!(health["status"], "ok");
}
