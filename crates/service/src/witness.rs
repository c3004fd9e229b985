//! Witnesses of audit logs: a medspace node cosigns other nodes' checkpoints (C2SP tlog-witness
//! `add-checkpoint`, C2SP tlog-cosignature `cosignature/v1`), and asks its own witnesses to cosign
//! its checkpoints, with a quorum.
//!
//! T/CI 857-2024 7.2.1 a) (decentralised trust: independent nodes of the data space vouch that they
//! saw one consistent history of each other's audit log), 7.2.6 (audit management: a rollback or
//! fork of the log is caught by any witness that cosigned a later checkpoint), 7.2.9 e) (cross-space
//! audit records that cannot be altered and can be traced).
//!
//! - **Witness side.** `[[audit.witness_logs]]` names each followed log (origin and the log's C2SP
//!   vkey: Ed25519, or medspace's SM2-with-SM3 type). The cosigning key is a separate Ed25519 key
//!   (`cosignature/v1` is Ed25519 only), created on first use and stored like the identity key:
//!   sealed in setting `witness_key` under a data key wrapped by the master key in setting
//!   `wrapped_key.witness` (so master-key rotation and backups handle it with the other
//!   `wrapped_key.*` settings). [`Node::witness_add_checkpoint`] runs the spec's checks
//!   ([`medspace_tlog::witness::Witness::add_checkpoint`]) against the stored last cosigned head and
//!   moves that head forward compare-and-set in the same transaction as the audit entry recording
//!   the cosignature: no cosignature is returned unless its record is durable (fail closed). Every
//!   refusal is audited before it is answered.
//! - **Client side.** `[[audit.witnesses]]` lists witnesses (HTTPS base URL, the witness's
//!   `cosignature/v1` vkey, optional CA bundle and client certificate) and `witness_quorum`
//!   (default: all of them). After a new checkpoint is signed, [`Node::request_cosignatures`] asks
//!   each witness with a consistency proof from the size it last cosigned (learnt from a 409 body
//!   and retried once), verifies each returned cosignature and stores it (`audit_cosignatures`,
//!   append-only). [`Node::witness_status`] reports checkpoints lacking the quorum. The HTTPS call
//!   itself is a [`WitnessTransport`] the server crate installs (mutual TLS via its `PeerClient`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Utc;
use medspace_core::{AuditEvent, Outcome};
use medspace_crypto::{decrypt_bytes, encrypt_bytes_with, SecretKey};
use medspace_store::{StoreError, StoredCosignature, WitnessHead};
use medspace_tlog::note::{self, Note, NoteSignature, NoteVerifier, Verifiers, SM2_SM3_TYPE};
use medspace_tlog::witness::{
    AddCheckpointRequest, CosignatureV1Signer, CosignatureV1Verifier, LogConfig, Rejection,
    TreeHead, Witness, SIZE_CONTENT_TYPE,
};
use medspace_tlog::{Hash, HashAlg};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::AuditSettings;
use crate::error::{Result, ServiceError};
use crate::node::{system_event, Node};
use crate::transparency::NodeNoteVerifier;

/// Setting holding the sealed witness key seed (hex).
const SEALED_SETTING: &str = "witness_key";
/// Setting holding the data key of the witness key, wrapped by the master key (hex).
const WRAPPED_SETTING: &str = "wrapped_key.witness";
/// Wrapping and sealing context (the one `keys::wrap_context` gives setting `wrapped_key.witness`).
const CONTEXT: &[u8] = b"medspace/setting/wrapped_key.witness";
/// Largest `add-checkpoint` body accepted (63 proof lines and a checkpoint with a few signatures).
pub const MAX_REQUEST_BYTES: usize = 64 << 10;
/// Attempts at the compare-and-set when concurrent requests race on one origin.
const CAS_ATTEMPTS: usize = 4;
/// Rows read per page when checking cosignatures.
const PAGE: i64 = 1000;

// ---------------------------------------------------------------------------------------------
// Configuration

/// `[[audit.witness_logs]]`: a log this node witnesses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessLogSettings {
    /// The log's checkpoint origin (`medspace.local/<node>/audit` for a medspace node).
    pub origin: String,
    /// The log's C2SP verifier key (`medspace audit checkpoint --vkey` on that node): Ed25519
    /// (`0x01`) or SM2-with-SM3.
    pub vkey: String,
    /// Tree hash of the log, `sha256` or `sm3` (default: `sm3` for an SM2 key, else `sha256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_hash: Option<String>,
}

/// `[[audit.witnesses]]`: a witness this node asks to cosign its checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSettings {
    /// HTTPS base URL of the witness node (its API or its peer listener).
    pub url: String,
    /// The witness's `cosignature/v1` verifier key (`medspace audit checkpoint --witness-vkey` on
    /// the witness).
    pub vkey: String,
    /// CA bundle (PEM) the witness's certificate must chain to (default: `[tls] peer_ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Client certificate presented to the witness (default: `[tls] peer_cert`, else the API
    /// certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// Its private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

impl WitnessSettings {
    /// The verifier of this witness's cosignatures.
    pub fn verifier(&self) -> Result<CosignatureV1Verifier> {
        CosignatureV1Verifier::from_vkey(self.vkey.trim()).map_err(|e| {
            ServiceError::Config(format!(
                "[[audit.witnesses]] vkey `{}`: {e} (a cosignature/v1 key is expected)",
                self.vkey
            ))
        })
    }
}

impl WitnessLogSettings {
    /// The log's configuration for [`Witness::add_log`].
    pub fn log_config(&self) -> Result<LogConfig> {
        let bad = |what: String| {
            ServiceError::Config(format!("[[audit.witness_logs]] `{}`: {what}", self.origin))
        };
        let key = note::VerifierKey::parse(self.vkey.trim()).map_err(|e| bad(e.to_string()))?;
        if key.name != self.origin {
            return Err(bad(format!(
                "the vkey names `{}`, not the origin",
                key.name
            )));
        }
        let verifier = NodeNoteVerifier::from_vkey(&self.vkey).map_err(|e| bad(e.to_string()))?;
        let alg = match self.tree_hash.as_deref() {
            Some("sha256") => HashAlg::Sha256,
            Some("sm3") => HashAlg::Sm3,
            Some(other) => return Err(bad(format!("tree_hash `{other}`: expected sha256 or sm3"))),
            None if key.key_material.starts_with(SM2_SM3_TYPE) => HashAlg::Sm3,
            None => HashAlg::Sha256,
        };
        Ok(LogConfig {
            origin: self.origin.clone(),
            alg,
            verifiers: Verifiers::new()
                .with(Box::new(verifier))
                .map_err(|e| bad(e.to_string()))?,
        })
    }
}

impl AuditSettings {
    /// The number of witness cosignatures each checkpoint needs.
    pub fn effective_witness_quorum(&self) -> usize {
        self.witness_quorum.unwrap_or(self.witnesses.len())
    }

    /// Checks the witness settings: keys parse, URLs are HTTPS, origins and witnesses are unique,
    /// the quorum is reachable.
    pub fn validate_witnesses(&self) -> Result<()> {
        let mut origins = BTreeSet::new();
        for log in &self.witness_logs {
            log.log_config()?;
            if !origins.insert(log.origin.as_str()) {
                return Err(ServiceError::Config(format!(
                    "[[audit.witness_logs]] `{}` is listed twice",
                    log.origin
                )));
            }
        }
        let mut names = BTreeSet::new();
        for w in &self.witnesses {
            if !w.url.starts_with("https://") {
                return Err(ServiceError::Config(format!(
                    "[[audit.witnesses]] url `{}`: witnesses are called over https://",
                    w.url
                )));
            }
            if w.client_cert.is_some() != w.client_key.is_some() {
                return Err(ServiceError::Config(
                    "[[audit.witnesses]] client_cert and client_key go together".into(),
                ));
            }
            let v = w.verifier()?;
            if !names.insert(v.name().to_string()) {
                return Err(ServiceError::Config(format!(
                    "[[audit.witnesses]] witness `{}` is listed twice",
                    v.name()
                )));
            }
        }
        if let Some(q) = self.witness_quorum {
            if q > self.witnesses.len() {
                return Err(ServiceError::Config(format!(
                    "[audit] witness_quorum {q} is more than the {} witnesses configured",
                    self.witnesses.len()
                )));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Transport

/// What a witness answered over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportReply {
    /// HTTP status.
    pub status: u16,
    /// The response body (text).
    pub body: String,
}

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How `add-checkpoint` requests reach a witness: the server crate installs one built on its
/// mutual-TLS `PeerClient` (rustls); tests may install their own.
pub trait WitnessTransport: fmt::Debug + Send + Sync {
    /// `POST <witness url>/api/v1/witness/add-checkpoint` with `body`; an `Err` is a transport
    /// failure (no HTTP answer), described for the log.
    fn add_checkpoint<'a>(
        &'a self,
        node: &'a Node,
        witness: &'a WitnessSettings,
        body: String,
    ) -> BoxFuture<'a, std::result::Result<TransportReply, String>>;
}

static TRANSPORT: OnceLock<Arc<dyn WitnessTransport>> = OnceLock::new();

/// Installs the process's witness transport; `false` when one is already installed (kept).
pub fn install_transport(transport: Arc<dyn WitnessTransport>) -> bool {
    TRANSPORT.set(transport).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Witness side

/// The answer to an `add-checkpoint` request: status, content type and body as the spec says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessReply {
    /// HTTP status (200, 400, 403, 404, 409, 422).
    pub status: u16,
    /// Content type of the body.
    pub content_type: &'static str,
    /// The body: the cosignature line (200), the last cosigned size (409) or a message.
    pub body: String,
}

impl WitnessReply {
    fn refused(r: &Rejection) -> Self {
        match r.response() {
            Some((content_type, body)) => WitnessReply {
                status: r.status(),
                content_type,
                body,
            },
            None => WitnessReply {
                status: r.status(),
                content_type: "text/plain; charset=utf-8",
                body: format!("{r}\n"),
            },
        }
    }
}

fn to_hash(bytes: &[u8], what: &str) -> Result<Hash> {
    Hash::try_from(bytes)
        .map_err(|_| ServiceError::Internal(format!("stored {what} is not a 32-byte hash")))
}

fn now_secs() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

/// Serialises first-use creation of the witness key within the process.
static KEY_CREATION: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Node {
    /// The name of this node's witness key: `medspace.local/<node>/witness`.
    pub fn witness_name(&self) -> String {
        let origin = self.audit_origin();
        match origin.strip_suffix("/audit") {
            Some(base) => format!("{base}/witness"),
            None => format!("{origin}-witness"),
        }
    }

    async fn stored_witness_seed(&self) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
        let (Some(wrapped), Some(sealed)) = (
            self.store.setting(WRAPPED_SETTING).await?,
            self.store.setting(SEALED_SETTING).await?,
        ) else {
            return Ok(None);
        };
        let corrupt = || ServiceError::Internal("the stored witness key is corrupt".into());
        let wrapped = hex::decode(wrapped).map_err(|_| corrupt())?;
        let sealed = hex::decode(sealed).map_err(|_| corrupt())?;
        let dek = self.keys.unwrap(&wrapped, CONTEXT)?;
        Ok(Some(zeroize::Zeroizing::new(decrypt_bytes(
            &dek, CONTEXT, &sealed,
        )?)))
    }

    /// The witness cosigning key (Ed25519, `cosignature/v1`), created on first use. Its seed is
    /// sealed under a data key wrapped by the master key, like the identity key.
    pub async fn witness_cosigner(&self) -> Result<CosignatureV1Signer> {
        let seed = match self.stored_witness_seed().await? {
            Some(seed) => seed,
            None => {
                let _guard = KEY_CREATION.lock().await;
                match self.stored_witness_seed().await? {
                    Some(seed) => seed,
                    None => self.create_witness_seed().await?,
                }
            }
        };
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| ServiceError::Internal("the stored witness key is not 32 bytes".into()))?;
        CosignatureV1Signer::from_seed(&self.witness_name(), seed)
            .map_err(|e| ServiceError::Internal(format!("witness key: {e}")))
    }

    async fn create_witness_seed(&self) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let seed = zeroize::Zeroizing::new(SecretKey::generate().expose().to_vec());
        let dek = SecretKey::generate();
        let sealed = encrypt_bytes_with(self.profile, &dek, CONTEXT, &seed)?;
        let wrapped = self.keys.wrap(&dek, CONTEXT)?;
        let signer = CosignatureV1Signer::from_seed(
            &self.witness_name(),
            seed.as_slice()
                .try_into()
                .map_err(|_| ServiceError::Internal("witness seed length".into()))?,
        )
        .map_err(|e| ServiceError::Internal(format!("witness key: {e}")))?;
        let vkey = signer.verifier().vkey();
        let event = |what: &str| {
            system_event("keys.witness.create", what)
                .with_detail(json!({"scheme": "ed25519", "vkey": vkey.clone()}))
        };
        // Sealed key first, wrapped data key last: the key is only read once both exist.
        self.store
            .put_setting(SEALED_SETTING, &hex::encode(sealed), &event("sealed"))
            .await?;
        self.store
            .put_setting(WRAPPED_SETTING, &hex::encode(wrapped), &event("wrapped"))
            .await?;
        Ok(seed)
    }

    /// The C2SP vkey of this node's witness key (type `0x04`, `cosignature/v1`).
    pub async fn witness_vkey(&self) -> Result<String> {
        Ok(self.witness_cosigner().await?.verifier().vkey())
    }

    async fn witness(&self) -> Result<Witness> {
        let mut w = Witness::new(self.witness_cosigner().await?);
        for log in &self.config.audit.witness_logs {
            w.add_log(log.log_config()?)
                .map_err(|e| ServiceError::Config(e.to_string()))?;
        }
        Ok(w)
    }

    async fn audit_refusal(
        &self,
        actor: &str,
        origin: &str,
        rejection: &Rejection,
        request: Option<&AddCheckpointRequest>,
    ) -> Result<WitnessReply> {
        let outcome = match rejection {
            Rejection::Internal(_) => Outcome::Error,
            _ => Outcome::Denied,
        };
        self.audit(
            AuditEvent::new(actor, "witness.refuse", origin, outcome).with_detail(json!({
                "status": rejection.status(),
                "reason": rejection.to_string(),
                "old_size": request.map(|r| r.old_size),
                "size": request.map(|r| r.checkpoint.size),
                "root": request.map(|r| STANDARD.encode(r.checkpoint.root)),
            })),
        )
        .await?;
        Ok(WitnessReply::refused(rejection))
    }

    /// Handles a C2SP tlog-witness `add-checkpoint` request body from `actor` (the peer
    /// certificate subject, or `public`). Refusals are audited, then answered; an accepted
    /// checkpoint moves the stored head forward in the same transaction as its audit entry. An
    /// `Err` (the audit record or the store failed) must be answered 500, without cosignature.
    pub async fn witness_add_checkpoint(&self, actor: &str, body: &[u8]) -> Result<WitnessReply> {
        let request = if body.len() > MAX_REQUEST_BYTES {
            Err(Rejection::BadRequest(format!(
                "the request is larger than {MAX_REQUEST_BYTES} bytes"
            )))
        } else {
            std::str::from_utf8(body)
                .map_err(|_| Rejection::BadRequest("the request is not UTF-8".into()))
                .and_then(|b| AddCheckpointRequest::parse(b).map_err(Rejection::from))
        };
        let request = match request {
            Ok(r) => r,
            Err(rej) => return self.audit_refusal(actor, "(unparsed)", &rej, None).await,
        };
        let origin = request.checkpoint.origin.clone();
        let witness = self.witness().await?;
        for _ in 0..CAS_ATTEMPTS {
            let stored = self.store.witness_head(&origin).await?;
            let current = match &stored {
                Some(h) => Some(TreeHead {
                    size: u64::try_from(h.size).unwrap_or(0),
                    root: to_hash(&h.root, "witnessed root")?,
                }),
                None => None,
            };
            let cosigned = match witness.add_checkpoint(current, &request, now_secs()) {
                Ok(c) => c,
                Err(rej) => {
                    return self
                        .audit_refusal(actor, &origin, &rej, Some(&request))
                        .await
                }
            };
            let head = WitnessHead {
                origin: origin.clone(),
                size: i64::try_from(cosigned.new_head.size)
                    .map_err(|_| ServiceError::BadRequest("tree size beyond 2^63 - 1".into()))?,
                root: cosigned.new_head.root.to_vec(),
                updated_at: Utc::now(),
            };
            let event = AuditEvent::new(actor, "witness.cosign", &origin, Outcome::Success)
                .with_detail(json!({
                    "old_size": request.old_size,
                    "size": cosigned.new_head.size,
                    "root": STANDARD.encode(cosigned.new_head.root),
                    "witness": witness.cosigner().name(),
                    "key_id": format!("{:08x}", witness.cosigner().key_id()),
                    "timestamp": cosigned.cosignature.signature.get(..8)
                        .and_then(|t| <[u8; 8]>::try_from(t).ok())
                        .map(u64::from_be_bytes),
                }));
            let expected = stored.as_ref().map(|h| (h.size, h.root.as_slice()));
            match self
                .store
                .advance_witness_head(expected, &head, &event)
                .await
            {
                Ok(_) => {
                    return Ok(WitnessReply {
                        status: 200,
                        content_type: "text/plain; charset=utf-8",
                        body: cosigned.response_body(),
                    })
                }
                // Another request moved the head meanwhile: decide again against the new one.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict(format!(
            "the witnessed head of `{origin}` kept changing; try again"
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Client side

/// What one witness did with this node's latest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessOutcome {
    /// The witness's key name.
    pub witness: String,
    /// Whether a verified cosignature of the checkpoint is stored (now or before).
    pub cosigned: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The cosignatures collected for one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessRound {
    /// Tree size of the checkpoint.
    pub size: u64,
    /// Per witness.
    pub witnesses: Vec<WitnessOutcome>,
    /// Whether the checkpoint now has the quorum.
    pub quorum_met: bool,
}

/// Witness cosignatures of the stored checkpoints, against the configured witnesses and quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct WitnessStatus {
    /// Witnesses configured.
    pub witnesses: usize,
    /// Cosignatures each checkpoint needs.
    pub witness_quorum: usize,
    /// Stored checkpoints with fewer verified cosignatures than the quorum (`None` when only the
    /// latest checkpoint was looked at).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unwitnessed_checkpoints: Option<usize>,
    /// Size of the largest checkpoint with the quorum (`None`: none, or not looked for).
    pub latest_witnessed_checkpoint: Option<u64>,
    /// Stored cosignatures that do not verify with a configured witness key.
    pub invalid_cosignatures: usize,
    /// Whether the latest checkpoint has the quorum (true with no checkpoint or no witness).
    pub audit_witness_quorum: bool,
}

/// Verifies a stored cosignature line on a checkpoint body; returns the witness name.
fn verify_line(
    verifiers: &BTreeMap<String, CosignatureV1Verifier>,
    body: &str,
    line: &str,
) -> Option<String> {
    let sigs = NoteSignature::parse_lines(line).ok()?;
    sigs.into_iter().find_map(|s| {
        let v = verifiers.get(&s.name)?;
        (v.key_id() == s.key_id
            && v.verify_cosignature(body.as_bytes(), &s.signature)
                .is_some())
        .then_some(s.name)
    })
}

fn checkpoint_body(note: &str) -> Option<String> {
    Note::parse(note).ok().map(|n| n.text().to_string())
}

impl Node {
    fn witness_verifiers(&self) -> Result<Vec<(WitnessSettings, CosignatureV1Verifier)>> {
        self.config
            .audit
            .witnesses
            .iter()
            .map(|w| Ok((w.clone(), w.verifier()?)))
            .collect()
    }

    /// The hook run after a new checkpoint is signed: asks the witnesses, logs (and audits) a
    /// shortfall. Never fails the checkpoint itself. (A boxed `Send` future: the proofs it sends
    /// come from code that can itself sign checkpoints, and the box ends that type cycle.)
    pub fn witness_new_checkpoint(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.witness_new_checkpoint_inner())
    }

    async fn witness_new_checkpoint_inner(&self) {
        if self.config.audit.witnesses.is_empty() {
            return;
        }
        match self.request_cosignatures().await {
            Ok(Some(round)) if round.quorum_met => {
                tracing::debug!(size = round.size, "audit checkpoint witnessed")
            }
            Ok(Some(round)) => {
                tracing::warn!(
                    size = round.size,
                    "audit checkpoint lacks the witness quorum"
                );
                let _ = self
                    .audit(
                        AuditEvent::new(
                            "system",
                            "audit.witness.request",
                            round.size.to_string(),
                            Outcome::Error,
                        )
                        .with_detail(json!({"witnesses": round.witnesses, "quorum_met": false})),
                    )
                    .await;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "asking the witnesses failed"),
        }
    }

    /// Asks every configured witness to cosign the latest stored checkpoint (those that have not
    /// yet), verifies and stores the cosignatures. `None` when there is no checkpoint.
    pub async fn request_cosignatures(&self) -> Result<Option<WitnessRound>> {
        let Some(latest) = self.store.latest_audit_checkpoint().await? else {
            return Ok(None);
        };
        let size = u64::try_from(latest.size).unwrap_or(0);
        let note = Note::parse(&latest.note).map_err(|e| {
            ServiceError::Internal(format!(
                "stored checkpoint {size} is not a signed note: {e}"
            ))
        })?;
        let mut set = tokio::task::JoinSet::new();
        for (settings, verifier) in self.witness_verifiers()? {
            let node = self.clone();
            let note = note.clone();
            set.spawn(async move {
                let name = verifier.name().to_string();
                match node.ask_witness(&settings, &verifier, &note, size).await {
                    Ok(()) => WitnessOutcome {
                        witness: name,
                        cosigned: true,
                        error: None,
                    },
                    Err(e) => {
                        tracing::warn!(witness = %name, error = %e, "witness did not cosign");
                        WitnessOutcome {
                            witness: name,
                            cosigned: false,
                            error: Some(e.to_string()),
                        }
                    }
                }
            });
        }
        let mut witnesses = Vec::new();
        while let Some(done) = set.join_next().await {
            witnesses.push(done?);
        }
        witnesses.sort_by(|a, b| a.witness.cmp(&b.witness));
        let cosigned = witnesses.iter().filter(|w| w.cosigned).count();
        Ok(Some(WitnessRound {
            size,
            quorum_met: cosigned >= self.config.audit.effective_witness_quorum(),
            witnesses,
        }))
    }

    async fn ask_witness(
        &self,
        settings: &WitnessSettings,
        verifier: &CosignatureV1Verifier,
        note: &Note,
        size: u64,
    ) -> Result<()> {
        let name = verifier.name().to_string();
        let stored_size = i64::try_from(size).unwrap_or(i64::MAX);
        if self
            .store
            .audit_cosignatures(stored_size, PAGE)
            .await?
            .iter()
            .any(|c| c.size == stored_size && c.witness == name)
        {
            return Ok(());
        }
        let transport = TRANSPORT.get().ok_or_else(|| {
            ServiceError::Config("no witness transport is installed in this process".into())
        })?;
        let mut old = self
            .store
            .latest_cosigned_size(&name)
            .await?
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0)
            .min(size);
        for attempt in 0..2 {
            let proof = if old == 0 {
                Vec::new()
            } else {
                self.audit_consistency_proof(old, Some(size))
                    .await?
                    .proof
                    .iter()
                    .map(|h| {
                        STANDARD
                            .decode(h)
                            .ok()
                            .and_then(|b| Hash::try_from(b.as_slice()).ok())
                            .ok_or_else(|| ServiceError::Internal("consistency proof hash".into()))
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            let request = AddCheckpointRequest::new(old, proof, note.clone())
                .map_err(|e| ServiceError::Internal(format!("add-checkpoint request: {e}")))?;
            let reply = transport
                .add_checkpoint(self, settings, request.to_body())
                .await
                .map_err(|e| ServiceError::Io(format!("witness `{name}`: {e}")))?;
            match reply.status {
                200 => {
                    let line = NoteSignature::parse_lines(&reply.body)
                        .map_err(|e| {
                            ServiceError::BadRequest(format!(
                                "witness `{name}` answered a malformed cosignature: {e}"
                            ))
                        })?
                        .into_iter()
                        .find(|s| {
                            s.name == name
                                && s.key_id == verifier.key_id()
                                && verifier
                                    .verify_cosignature(note.text().as_bytes(), &s.signature)
                                    .is_some()
                        })
                        .ok_or_else(|| {
                            ServiceError::BadRequest(format!(
                                "witness `{name}` answered no cosignature that verifies with its \
                                 configured key"
                            ))
                        })?;
                    self.store
                        .put_audit_cosignature(&StoredCosignature {
                            size: stored_size,
                            witness: name,
                            signature: line.to_line(),
                            received_at: Utc::now(),
                        })
                        .await?;
                    return Ok(());
                }
                409 if attempt == 0 => {
                    let known: u64 = reply.body.trim().parse().map_err(|_| {
                        ServiceError::BadRequest(format!(
                            "witness `{name}` answered 409 without a size (`{SIZE_CONTENT_TYPE}`)"
                        ))
                    })?;
                    if known > size {
                        return Err(ServiceError::Conflict(format!(
                            "witness `{name}` already cosigned a checkpoint of size {known}, \
                             larger than this log's {size}: the log was rolled back or truncated"
                        )));
                    }
                    old = known;
                }
                status => {
                    return Err(ServiceError::Conflict(format!(
                        "witness `{name}` refused the checkpoint of size {size} ({status}): {}",
                        reply.body.trim()
                    )))
                }
            }
        }
        Err(ServiceError::Conflict(format!(
            "witness `{name}` kept answering 409"
        )))
    }

    /// Which stored checkpoints have the quorum of verified witness cosignatures. With `all`
    /// false only the latest checkpoint is looked at (cheap enough for `/healthz`).
    pub async fn witness_status(&self, all: bool) -> Result<WitnessStatus> {
        let verifiers: BTreeMap<String, CosignatureV1Verifier> = self
            .witness_verifiers()?
            .into_iter()
            .map(|(_, v)| (v.name().to_string(), v))
            .collect();
        let quorum = self.config.audit.effective_witness_quorum();
        let mut status = WitnessStatus {
            witnesses: verifiers.len(),
            witness_quorum: quorum,
            audit_witness_quorum: true,
            ..WitnessStatus::default()
        };
        let Some(latest) = self.store.latest_audit_checkpoint().await? else {
            if all {
                status.unwitnessed_checkpoints = Some(0);
            }
            return Ok(status);
        };
        let from = if all { 0 } else { latest.size };
        // Checkpoint bodies by size, then the cosignatures page by page.
        let mut bodies: BTreeMap<i64, Option<String>> = BTreeMap::new();
        let mut next = from;
        loop {
            let page = self.store.audit_checkpoints(next, PAGE).await?;
            let Some(last) = page.last() else { break };
            next = last.size + 1;
            for cp in &page {
                bodies.insert(cp.size, checkpoint_body(&cp.note));
            }
        }
        let mut cosigners: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        let mut seen: BTreeSet<(i64, String)> = BTreeSet::new();
        let mut next = from;
        loop {
            let page = self.store.audit_cosignatures(next, PAGE).await?;
            let Some(last) = page.last() else { break };
            let last_size = last.size;
            for c in &page {
                if !seen.insert((c.size, c.witness.clone())) {
                    continue;
                }
                let body = bodies.get(&c.size).and_then(|b| b.as_deref());
                match body.and_then(|b| verify_line(&verifiers, b, &c.signature)) {
                    Some(name) if name == c.witness => {
                        cosigners.entry(c.size).or_default().insert(name);
                    }
                    _ => status.invalid_cosignatures += 1,
                }
            }
            if (page.len() as i64) < PAGE {
                break;
            }
            // The last size may continue on the next page: read it again (deduplicated).
            next = if last_size > next {
                last_size
            } else {
                last_size + 1
            };
        }
        let witnessed = |size: &i64| cosigners.get(size).map_or(0, BTreeSet::len) >= quorum;
        status.audit_witness_quorum = witnessed(&latest.size);
        status.latest_witnessed_checkpoint = bodies
            .keys()
            .rev()
            .find(|s| witnessed(s))
            .and_then(|s| u64::try_from(*s).ok());
        if all {
            status.unwitnessed_checkpoints = Some(bodies.keys().filter(|s| !witnessed(s)).count());
        }
        Ok(status)
    }
}
