//! The audit log as a transparency log: RFC 9162 Merkle tree over the audit entries, signed C2SP
//! checkpoints, inclusion and consistency proofs, and the full verification that names the first
//! bad entry or checkpoint.
//!
//! T/CI 857-2024 7.2.6 (audit management: records that cannot be altered unnoticed), 7.2.9 e)
//! (cross-space audit that other spaces can check: anyone holding a checkpoint verifies inclusion
//! and consistency proofs), 7.2.1 a) (decentralised trust: checkpoints are signed notes that
//! witnesses can cosign); DMS 7.2.3.4 (logs protected and kept).
//!
//! - Leaves are the stored canonical entry texts, leaf hash `H(0x00 ‖ entry)`, node hash
//!   `H(0x01 ‖ left ‖ right)`, H = SHA-256 (international profile) or SM3 (national).
//! - Entries are sequenced first (durable, hash-chained, group-committed); [`Node::integrate_audit`]
//!   then adds their leaves and every completed subtree hash to the store, compare-and-set, so
//!   concurrent integrators (the server's timer, a CLI on the same directory) never fork the tree.
//! - Checkpoints are signed by the node identity key: Ed25519 (signature type `0x01`) or
//!   SM2-with-SM3 (type [`SM2_SM3_TYPE`], documented in `crates/tlog/SIGNATURE-TYPES.md`).

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Utc;
use medspace_audit::{ChainBreak, ChainVerifier, Precheck, StoredEntry};
use medspace_crypto::{CryptoProfile, NodeSigningKey, NodeVerifyingKey, SignatureScheme};
use medspace_store::{AuditTreeNode, AuditTreeState, StoreError, StoredCheckpoint};
use medspace_tlog::checkpoint::Checkpoint;
use medspace_tlog::merkle::{self, CompactRange, HashSource, TreeError};
use medspace_tlog::note::{self, Note, NoteError, NoteSigner, NoteVerifier, Verifiers};
use medspace_tlog::{Hash, HashAlg, TreeHasher};
use serde::Serialize;

pub use medspace_tlog::note::SM2_SM3_TYPE;

use crate::access::{Action, Caller};
use crate::error::{Result, ServiceError};
use crate::node::Node;
use medspace_core::{AuditEvent, Outcome};
use serde_json::json;

/// Entries integrated per store transaction.
const INTEGRATE_BATCH: i64 = 4096;
/// Entries read per page while verifying: a power of two, so a whole page is a node of the tree.
const VERIFY_PAGE: usize = 4096;
/// Leaves per parallel piece of a page's root: a power of two dividing [`VERIFY_PAGE`].
const VERIFY_CHUNK: usize = 256;

/// The tree hash of a crypto profile.
pub fn tree_alg(profile: CryptoProfile) -> HashAlg {
    match profile {
        CryptoProfile::International => HashAlg::Sha256,
        CryptoProfile::National => HashAlg::Sm3,
    }
}

fn alg_name(alg: HashAlg) -> &'static str {
    match alg {
        HashAlg::Sha256 => "sha256",
        HashAlg::Sm3 => "sm3",
    }
}

/// Signature type identifier plus public key: the signed-note key material of a node key.
fn key_material(scheme: SignatureScheme, public: &[u8]) -> Vec<u8> {
    let type_id: &[u8] = match scheme {
        SignatureScheme::Ed25519 => &[0x01],
        SignatureScheme::Sm2Sm3 => SM2_SM3_TYPE,
    };
    [type_id, public].concat()
}

/// Signs notes with the node identity key.
#[derive(Debug)]
pub struct NodeNoteSigner {
    name: String,
    key_id: u32,
    key: NodeSigningKey,
}

impl NodeNoteSigner {
    /// A signer named `name` (the log origin).
    pub fn new(name: &str, key: NodeSigningKey) -> Result<Self> {
        if !note::is_valid_key_name(name) {
            return Err(ServiceError::Config(format!(
                "`{name}` cannot name a signed-note key (no spaces or '+')"
            )));
        }
        let key_id = note::key_id(name, &key_material(key.scheme(), &key.public_key_bytes()));
        Ok(NodeNoteSigner {
            name: name.to_string(),
            key_id,
            key,
        })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NodeNoteVerifier {
        NodeNoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }
}

impl NoteSigner for NodeNoteSigner {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, NoteError> {
        self.key
            .sign(msg)
            .map_err(|e| NoteError::Signing(e.to_string()))
    }
}

/// Verifies node-key note signatures (Ed25519 or SM2-with-SM3).
#[derive(Clone)]
pub struct NodeNoteVerifier {
    name: String,
    key_id: u32,
    key: NodeVerifyingKey,
}

impl fmt::Debug for NodeNoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeNoteVerifier")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish()
    }
}

impl NodeNoteVerifier {
    /// Parses a vkey of type Ed25519 (`0x01`) or SM2-with-SM3 ([`SM2_SM3_TYPE`]), checking its
    /// key ID.
    pub fn from_vkey(vkey: &str) -> Result<Self> {
        let bad = |e: NoteError| ServiceError::BadRequest(format!("verifier key: {e}"));
        let key = note::VerifierKey::parse(vkey.trim()).map_err(bad)?;
        if !key.key_id_matches() {
            return Err(bad(NoteError::KeyIdMismatch { name: key.name }));
        }
        let (scheme, public) = if let Some(public) = key.key_material.strip_prefix(SM2_SM3_TYPE) {
            (SignatureScheme::Sm2Sm3, public)
        } else if let Some(public) = key.key_material.strip_prefix(&[0x01u8][..]) {
            (SignatureScheme::Ed25519, public)
        } else {
            return Err(bad(NoteError::UnsupportedKeyType(key.key_type())));
        };
        let verifying = NodeVerifyingKey::from_bytes(scheme, public)
            .map_err(|e| ServiceError::BadRequest(format!("verifier key: {e}")))?;
        Ok(NodeNoteVerifier {
            name: key.name,
            key_id: key.key_id,
            key: verifying,
        })
    }

    /// The C2SP vkey: `<name>+<hex key ID>+base64(type ‖ public key)`.
    pub fn vkey(&self) -> String {
        note::VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key_material: key_material(self.key.scheme(), &self.key.to_bytes()),
        }
        .to_string()
    }
}

impl NoteVerifier for NodeNoteVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        self.key.verify(msg, signature).is_ok()
    }
}

/// A signed checkpoint as served and printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedCheckpoint {
    /// Log origin (first line).
    pub origin: String,
    /// Tree size.
    #[serde(rename = "treeSize")]
    pub tree_size: u64,
    /// Root hash, base64.
    pub root: String,
    /// The whole signed note.
    pub note: String,
}

/// An RFC 9162 inclusion proof, with the transparency-dev field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InclusionProof {
    /// Leaf index (entry sequence number − 1).
    #[serde(rename = "leafIdx")]
    pub leaf_idx: u64,
    /// Tree size the proof is for.
    #[serde(rename = "treeSize")]
    pub tree_size: u64,
    /// Leaf hash, base64.
    #[serde(rename = "leafHash")]
    pub leaf_hash: String,
    /// Sibling hashes from the leaf up, base64.
    pub proof: Vec<String>,
    /// Root at `tree_size`, base64.
    pub root: String,
    /// The signed checkpoint of `tree_size`, when one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// An inclusion proof of one entry in the tree of a checkpoint given alongside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryProof {
    /// Leaf index (entry sequence number − 1).
    #[serde(rename = "leafIdx")]
    pub leaf_idx: u64,
    /// Leaf hash, base64.
    #[serde(rename = "leafHash")]
    pub leaf_hash: String,
    /// Sibling hashes from the leaf up, base64.
    pub proof: Vec<String>,
}

/// An RFC 9162 consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsistencyProof {
    /// The older size.
    pub size1: u64,
    /// The newer size.
    pub size2: u64,
    /// Proof hashes, base64.
    pub proof: Vec<String>,
    /// Root at `size1`, base64.
    pub root1: String,
    /// Root at `size2`, base64.
    pub root2: String,
}

/// What a full verification found when everything holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditLogReport {
    /// Entries checked.
    pub entries: i64,
    /// Hash of the last entry (hex).
    pub head_hash: String,
    /// Tree hash algorithm.
    pub tree_alg: String,
    /// Root of the whole log, base64.
    pub root: String,
    /// Leaves integrated into the stored tree.
    pub integrated: i64,
    /// Stored checkpoints whose signature and root were checked.
    pub checkpoints_verified: usize,
    /// Size of the latest stored checkpoint.
    pub latest_checkpoint: Option<u64>,
    /// Size of an outside checkpoint (`--checkpoint`) the log was checked against.
    pub outside_checkpoint: Option<u64>,
    /// The node's verifier key.
    pub vkey: String,
    /// Witness cosignatures of the stored checkpoints (see `crate::witness`).
    #[serde(flatten)]
    pub witness: crate::witness::WitnessStatus,
}

/// The first thing wrong with the log, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditLogFailure {
    /// The hash chain is broken.
    #[error(transparent)]
    Chain(#[from] ChainBreak),
    /// A stored checkpoint is bad.
    #[error("stored checkpoint of tree size {size}: {reason}")]
    Checkpoint {
        /// Its tree size.
        size: u64,
        /// What is wrong.
        reason: String,
    },
    /// The stored tree (border or integrated size) disagrees with the entries.
    #[error("stored audit tree: {0}")]
    Tree(String),
    /// An outside checkpoint proves the log once was longer: it was truncated or rolled back.
    #[error(
        "audit log rolled back or truncated: a checkpoint of tree size {seen} was issued, the log \
         has {found} entries"
    )]
    RolledBack {
        /// Size of the outside checkpoint.
        seen: u64,
        /// Entries present.
        found: u64,
    },
    /// An outside checkpoint commits to other entries than the log holds.
    #[error(
        "audit log rewritten: the checkpoint of tree size {size} does not match the entries \
         (some entry at or before {size} was changed)"
    )]
    Forked {
        /// Size of the outside checkpoint.
        size: u64,
    },
    /// The outside checkpoint is not a valid checkpoint of this node.
    #[error("outside checkpoint: {0}")]
    OutsideCheckpoint(String),
}

impl AuditLogFailure {
    /// Entry sequence number where the problem is, when it is one entry.
    pub fn seq(&self) -> Option<i64> {
        match self {
            AuditLogFailure::Chain(b) => Some(b.seq()),
            _ => None,
        }
    }
}

/// A hash source that records which stored hashes an algorithm asks for.
struct Recorder {
    hasher: TreeHasher,
    size: u64,
    asked: std::cell::RefCell<Vec<(u32, u64)>>,
}

impl HashSource for Recorder {
    fn hasher(&self) -> TreeHasher {
        self.hasher
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn leaf_hash(&self, index: u64) -> std::result::Result<Hash, TreeError> {
        self.perfect_subtree_hash(0, index)
    }
    fn perfect_subtree_hash(&self, level: u32, index: u64) -> std::result::Result<Hash, TreeError> {
        self.asked.borrow_mut().push((level, index));
        Ok([0; 32])
    }
}

/// Stored hashes fetched for one proof.
struct Fetched {
    hasher: TreeHasher,
    size: u64,
    nodes: HashMap<(u32, u64), Hash>,
}

impl HashSource for Fetched {
    fn hasher(&self) -> TreeHasher {
        self.hasher
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn leaf_hash(&self, index: u64) -> std::result::Result<Hash, TreeError> {
        self.perfect_subtree_hash(0, index)
    }
    fn perfect_subtree_hash(&self, level: u32, index: u64) -> std::result::Result<Hash, TreeError> {
        self.nodes
            .get(&(level, index))
            .copied()
            .ok_or_else(|| TreeError::Source(format!("node ({level}, {index}) not fetched")))
    }
}

fn b64(h: &Hash) -> String {
    STANDARD.encode(h)
}

fn tree_err(e: TreeError) -> ServiceError {
    ServiceError::BadRequest(e.to_string())
}

fn to_hash(bytes: &[u8], what: &str) -> Result<Hash> {
    Hash::try_from(bytes)
        .map_err(|_| ServiceError::Internal(format!("stored {what} is not a 32-byte hash")))
}

impl Node {
    /// The log origin: the first line of every checkpoint and the name of the node's note key.
    pub fn audit_origin(&self) -> String {
        let name: String = self
            .config
            .node_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            .collect();
        let name = if name.is_empty() { "node" } else { &name };
        format!("medspace.local/{name}/audit")
    }

    /// The Merkle tree hash of this node's profile.
    pub fn audit_tree_alg(&self) -> HashAlg {
        tree_alg(self.profile)
    }

    async fn note_signer(&self) -> Result<NodeNoteSigner> {
        NodeNoteSigner::new(&self.audit_origin(), self.identity_key().await?)
    }

    /// The verifier key of the node's checkpoints (C2SP `vkey`).
    pub async fn audit_vkey(&self) -> Result<String> {
        Ok(self.note_signer().await?.verifier().vkey())
    }

    /// Integrates every sequenced entry not yet in the tree; returns the new state. Safe to run
    /// concurrently with appends and with other integrators.
    pub async fn integrate_audit(&self) -> Result<AuditTreeState> {
        let alg = self.audit_tree_alg();
        loop {
            let state = self.store.audit_tree_state().await?;
            if let Some(stored) = &state.alg {
                if stored != alg_name(alg) {
                    return Err(ServiceError::Internal(format!(
                        "the audit tree uses {stored}, the node profile needs {}",
                        alg_name(alg)
                    )));
                }
            }
            let entries = self
                .store
                .audit_entries(state.size + 1, INTEGRATE_BATCH)
                .await?;
            if entries.is_empty() {
                return Ok(state);
            }
            let border = state
                .border
                .iter()
                .map(|b| to_hash(b, "audit tree border"))
                .collect::<Result<Vec<_>>>()?;
            let size = u64::try_from(state.size).unwrap_or(0);
            let mut range = CompactRange::from_parts(alg, size, border)
                .map_err(|e| ServiceError::Internal(format!("stored audit tree border: {e}")))?;
            let hasher = TreeHasher::new(alg);
            let mut nodes = Vec::with_capacity(entries.len() * 2);
            let mut index = Vec::with_capacity(entries.len() * 3);
            for (i, stored) in entries.iter().enumerate() {
                let expected = state.size + 1 + i as i64;
                if stored.seq != expected
                    || medspace_audit::entry_hash(&stored.entry) != stored.hash
                {
                    // Never commit a changed entry into the tree.
                    return Err(ServiceError::Internal(format!(
                        "audit entry {expected} does not match its recorded hash; run `medspace \
                         audit verify`"
                    )));
                }
                let entry: medspace_audit::AuditEntry = serde_json::from_str(&stored.entry)
                    .map_err(|e| {
                        ServiceError::Internal(format!(
                            "audit entry {expected} is not a valid entry (line {}, column {}); \
                             run `medspace audit verify`",
                            e.line(),
                            e.column()
                        ))
                    })?;
                index.extend(medspace_store::audit_index_rows(&entry));
                let leaf = hasher.hash_leaf(stored.entry.as_bytes());
                range
                    .append_leaf_hash_visit(leaf, |level, index, hash| {
                        nodes.push(AuditTreeNode {
                            level,
                            index,
                            hash: hash.to_vec(),
                        })
                    })
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
            }
            let to = AuditTreeState {
                size: state.size + entries.len() as i64,
                alg: Some(alg_name(alg).to_string()),
                border: range.nodes().iter().map(|h| h.to_vec()).collect(),
            };
            match self
                .store
                .extend_audit_tree(state.size, &nodes, &index, &to)
                .await
            {
                Ok(()) => continue,
                // Another integrator moved the tree on: start again from its state.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Integrates and, when the tree grew since the latest checkpoint, signs and stores a new one;
    /// returns the latest checkpoint.
    pub async fn issue_audit_checkpoint(&self) -> Result<SignedCheckpoint> {
        let state = self.integrate_audit().await?;
        let latest = self.store.latest_audit_checkpoint().await?;
        if let Some(cp) = &latest {
            if cp.size >= state.size {
                return signed_checkpoint(cp);
            }
        }
        let border = state
            .border
            .iter()
            .map(|b| to_hash(b, "audit tree border"))
            .collect::<Result<Vec<_>>>()?;
        let size = u64::try_from(state.size).unwrap_or(0);
        let root = CompactRange::from_parts(self.audit_tree_alg(), size, border)
            .map_err(|e| ServiceError::Internal(format!("stored audit tree border: {e}")))?
            .root();
        let signer = self.note_signer().await?;
        let signed = Checkpoint::new(self.audit_origin(), size, root)
            .and_then(|c| c.sign(&[&signer]))
            .map_err(|e| ServiceError::Internal(format!("checkpoint: {e}")))?;
        let stored = StoredCheckpoint {
            size: state.size,
            root: root.to_vec(),
            note: signed.to_string(),
            created_at: Utc::now(),
        };
        if !self.store.put_audit_checkpoint(&stored).await? {
            // Another process signed this size first; serve the stored one.
            if let Some(cp) = self.store.latest_audit_checkpoint().await? {
                return signed_checkpoint(&cp);
            }
        }
        self.witness_new_checkpoint().await;
        signed_checkpoint(&stored)
    }

    /// Starts the checkpoint timer of `[audit] checkpoint_interval_seconds` (none when 0): a new
    /// signed checkpoint whenever the log grew. A failure is logged and recorded; the timer carries
    /// on, and `/healthz` shows how old the latest checkpoint is.
    pub fn spawn_checkpoint_schedule(&self) -> Option<tokio::task::JoinHandle<()>> {
        let seconds = self.config.audit.checkpoint_interval_seconds;
        if seconds == 0 {
            return None;
        }
        let node = self.clone();
        Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(std::time::Duration::from_secs(seconds));
            loop {
                ticker.tick().await;
                match node.issue_audit_checkpoint().await {
                    Ok(cp) => tracing::debug!(size = cp.tree_size, "audit checkpoint"),
                    Err(e) => {
                        tracing::error!(error = %e, "audit checkpoint failed");
                        let _ = node
                            .audit(
                                AuditEvent::new(
                                    "system",
                                    "audit.checkpoint",
                                    "schedule",
                                    Outcome::Error,
                                )
                                .with_detail(json!({"error": e.to_string()})),
                            )
                            .await;
                    }
                }
            }
        }))
    }

    /// The latest stored checkpoint (issuing the first one if there is none).
    pub async fn latest_audit_checkpoint(&self) -> Result<SignedCheckpoint> {
        match self.store.latest_audit_checkpoint().await? {
            Some(cp) => signed_checkpoint(&cp),
            None => self.issue_audit_checkpoint().await,
        }
    }

    async fn fetched_source<F>(&self, tree_size: u64, algorithm: F) -> Result<Fetched>
    where
        F: Fn(&Recorder) -> std::result::Result<(), TreeError>,
    {
        let hasher = TreeHasher::new(self.audit_tree_alg());
        let recorder = Recorder {
            hasher,
            size: tree_size,
            asked: Default::default(),
        };
        algorithm(&recorder).map_err(tree_err)?;
        let mut coords = recorder.asked.into_inner();
        coords.sort_unstable();
        coords.dedup();
        let hashes = self.store.audit_tree_nodes(&coords).await?;
        let nodes = coords
            .into_iter()
            .zip(hashes)
            .map(|(c, h)| Ok((c, to_hash(&h, "audit tree node")?)))
            .collect::<Result<HashMap<_, _>>>()?;
        Ok(Fetched {
            hasher,
            size: tree_size,
            nodes,
        })
    }

    /// The tree size a proof is for: `requested`, or the latest checkpoint's (issuing one first
    /// when `must_cover` is beyond it). Never beyond the integrated tree.
    async fn proof_size(&self, requested: Option<u64>, must_cover: u64) -> Result<u64> {
        let size = match requested {
            Some(s) => s,
            None => {
                let mut cp = self.latest_audit_checkpoint().await?;
                if cp.tree_size < must_cover {
                    cp = self.issue_audit_checkpoint().await?;
                }
                cp.tree_size
            }
        };
        let state = self.integrate_audit().await?;
        let integrated = u64::try_from(state.size).unwrap_or(0);
        if size > integrated {
            return Err(ServiceError::BadRequest(format!(
                "tree size {size} is beyond the log ({integrated} entries)"
            )));
        }
        Ok(size)
    }

    /// Inclusion proof of entry `seq` (1-based) in the tree of `tree_size` leaves (default: the
    /// latest checkpoint, issued first if it does not cover the entry).
    pub async fn audit_inclusion_proof(
        &self,
        seq: i64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof> {
        let leaf_idx = u64::try_from(seq - 1)
            .map_err(|_| ServiceError::BadRequest(format!("entry {seq}: entries start at 1")))?;
        let size = self.proof_size(tree_size, leaf_idx + 1).await?;
        if leaf_idx >= size {
            return Err(ServiceError::BadRequest(format!(
                "entry {seq} is not in the tree of size {size}"
            )));
        }
        let src = self
            .fetched_source(size, |r| {
                merkle::inclusion_proof(leaf_idx, size, r)?;
                r.leaf_hash(leaf_idx)?;
                merkle::root_at(r, size).map(|_| ())
            })
            .await?;
        let proof = merkle::inclusion_proof(leaf_idx, size, &src).map_err(tree_err)?;
        let leaf = src.leaf_hash(leaf_idx).map_err(tree_err)?;
        let root = merkle::root_at(&src, size).map_err(tree_err)?;
        let checkpoint = self
            .store
            .audit_checkpoints(size as i64, 1)
            .await?
            .into_iter()
            .find(|c| c.size == size as i64)
            .map(|c| c.note);
        Ok(InclusionProof {
            leaf_idx,
            tree_size: size,
            leaf_hash: b64(&leaf),
            proof: proof.iter().map(b64).collect(),
            root: b64(&root),
            checkpoint,
        })
    }

    /// Inclusion proofs of several entries against one signed checkpoint (the latest, issued first
    /// when it does not cover them all), fetched from the store in one lookup. Each entry's stored
    /// text must hash to its leaf in the tree, or the call fails naming the entry (an edited entry
    /// is never handed out as proven).
    pub(crate) async fn audit_inclusion_proofs(
        &self,
        entries: &[StoredEntry],
    ) -> Result<(SignedCheckpoint, Vec<EntryProof>)> {
        let must_cover = entries
            .iter()
            .map(|e| u64::try_from(e.seq).unwrap_or(0))
            .max()
            .unwrap_or(0);
        let size = self.proof_size(None, must_cover).await?;
        let indexes: Vec<u64> = entries
            .iter()
            .map(|e| {
                u64::try_from(e.seq - 1).map_err(|_| {
                    ServiceError::Internal(format!("audit entry {}: bad sequence number", e.seq))
                })
            })
            .collect::<Result<_>>()?;
        let src = self
            .fetched_source(size, |r| {
                for &i in &indexes {
                    merkle::inclusion_proof(i, size, r)?;
                    r.leaf_hash(i)?;
                }
                Ok(())
            })
            .await?;
        let hasher = TreeHasher::new(self.audit_tree_alg());
        let mut proofs = Vec::with_capacity(entries.len());
        for (entry, &i) in entries.iter().zip(&indexes) {
            let leaf = src.leaf_hash(i).map_err(tree_err)?;
            if hasher.hash_leaf(entry.entry.as_bytes()) != leaf {
                return Err(ServiceError::Internal(format!(
                    "audit entry {} does not match its leaf in the audit tree; run `medspace audit \
                     verify`",
                    entry.seq
                )));
            }
            proofs.push(EntryProof {
                leaf_idx: i,
                leaf_hash: b64(&leaf),
                proof: merkle::inclusion_proof(i, size, &src)
                    .map_err(tree_err)?
                    .iter()
                    .map(b64)
                    .collect(),
            });
        }
        let checkpoint = match self
            .store
            .audit_checkpoints(size as i64, 1)
            .await?
            .into_iter()
            .find(|c| c.size == size as i64)
        {
            Some(cp) => signed_checkpoint(&cp)?,
            None => self.latest_audit_checkpoint().await?,
        };
        Ok((checkpoint, proofs))
    }

    /// Consistency proof from `size1` to `size2` (default: the latest checkpoint).
    pub async fn audit_consistency_proof(
        &self,
        size1: u64,
        size2: Option<u64>,
    ) -> Result<ConsistencyProof> {
        let size2 = self.proof_size(size2, size1).await?;
        if size1 > size2 {
            return Err(ServiceError::BadRequest(format!(
                "size {size1} is larger than size {size2}"
            )));
        }
        let src = self
            .fetched_source(size2, |r| {
                merkle::consistency_proof(size1, size2, r)?;
                merkle::root_at(r, size1)?;
                merkle::root_at(r, size2).map(|_| ())
            })
            .await?;
        Ok(ConsistencyProof {
            size1,
            size2,
            proof: merkle::consistency_proof(size1, size2, &src)
                .map_err(tree_err)?
                .iter()
                .map(b64)
                .collect(),
            root1: b64(&merkle::root_at(&src, size1).map_err(tree_err)?),
            root2: b64(&merkle::root_at(&src, size2).map_err(tree_err)?),
        })
    }

    /// Recomputes everything: the hash chain, every leaf and the root at every stored checkpoint,
    /// each checkpoint's signature (against the node identity key, or `pinned_vkey` when given),
    /// the stored tree border, and — when `outside` holds a checkpoint kept by a client or a
    /// witness — that the log still extends it. Not audited (works on a read-only copy).
    pub async fn verify_audit_log(
        &self,
        outside: Option<&str>,
        pinned_vkey: Option<&str>,
    ) -> Result<std::result::Result<AuditLogReport, AuditLogFailure>> {
        let verifier = match pinned_vkey {
            Some(v) => NodeNoteVerifier::from_vkey(v)?,
            None => self.note_signer().await?.verifier(),
        };
        let vkey = verifier.vkey();
        let verifiers = Verifiers::new()
            .with(Box::new(verifier))
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let origin = self.audit_origin();
        let alg = self.audit_tree_alg();

        // Outside checkpoint: parsed and signature-checked before anything else.
        let outside = match outside {
            Some(text) => match check_note(text, &verifiers, &origin) {
                Ok(cp) => Some(cp),
                Err(reason) => return Ok(Err(AuditLogFailure::OutsideCheckpoint(reason))),
            },
            None => None,
        };
        let mut targets: Vec<(u64, Hash, Option<u64>)> = Vec::new();
        let mut from = 0;
        loop {
            let page = self.store.audit_checkpoints(from, 1000).await?;
            let Some(last) = page.last() else { break };
            from = last.size + 1;
            for stored in &page {
                let size = u64::try_from(stored.size).unwrap_or(0);
                let cp = match check_note(&stored.note, &verifiers, &origin) {
                    Ok(cp) => cp,
                    Err(reason) => {
                        return Ok(Err(AuditLogFailure::Checkpoint { size, reason }));
                    }
                };
                if cp.size != size || cp.root.as_slice() != stored.root.as_slice() {
                    return Ok(Err(AuditLogFailure::Checkpoint {
                        size,
                        reason: "the signed note and the stored size or root differ".into(),
                    }));
                }
                targets.push((size, cp.root, Some(size)));
            }
        }
        let checkpoints_verified = targets.len();
        let latest_checkpoint = targets.last().map(|t| t.0);
        if let Some(cp) = &outside {
            targets.push((cp.size, cp.root, None));
            targets.sort_by_key(|t| t.0);
        }
        let state = self.store.audit_tree_state().await?;

        let hasher = TreeHasher::new(alg);
        let mut chain = ChainVerifier::new();
        let mut range = CompactRange::new(alg);
        let mut integrated_border: Option<Vec<Hash>> = None;
        let mut next_target = 0;
        let check_targets =
            |range: &CompactRange, next: &mut usize| -> std::result::Result<(), AuditLogFailure> {
                while let Some((size, root, stored)) = targets.get(*next) {
                    if *size != range.size() {
                        break;
                    }
                    if range.root() != *root {
                        return Err(match stored {
                            Some(size) => AuditLogFailure::Checkpoint {
                                size: *size,
                                reason: "its root does not match the entries (an entry at or \
                                         before it was changed)"
                                    .into(),
                            },
                            None => AuditLogFailure::Forked { size: *size },
                        });
                    }
                    *next += 1;
                }
                Ok(())
            };
        if let Err(f) = check_targets(&range, &mut next_target) {
            return Ok(Err(f));
        }
        // Pages are read ahead on another thread while the previous one is checked. The
        // order-independent work — entry hash, leaf hash and syntax check of every entry, and the
        // root of a whole page — runs on every core; what stays sequential is the chain link, the
        // compact range and the checkpoint roots.
        let integrated_size = u64::try_from(state.size).unwrap_or(0);
        let mut pages = self.store.clone().audit_pages(1, VERIFY_PAGE);
        while let Some(page) = pages.recv().await {
            let page = page?;
            let start = range.size();
            let end = start.saturating_add(page.len() as u64);
            // A full page starting at a multiple of its width is a node of the tree; unless a
            // checkpoint or the integrated border falls strictly inside it, it joins the compact
            // range by its root instead of leaf by leaf.
            let inside = |size: u64| size > start && size < end;
            let as_block = page.len() == VERIFY_PAGE
                && start.is_multiple_of(VERIFY_PAGE as u64)
                && !targets[next_target..].iter().any(|t| inside(t.0))
                && !inside(integrated_size);
            let (page, prechecked, leaves, block_root) = tokio::task::spawn_blocking(move || {
                use rayon::prelude::*;
                let (pre, leaves): (Vec<Precheck>, Vec<Hash>) = page
                    .par_iter()
                    .map(|s| (Precheck::of(s), hasher.hash_leaf(s.entry.as_bytes())))
                    .unzip();
                let block_root = as_block.then(|| {
                    let roots: Vec<Hash> = leaves
                        .par_chunks(VERIFY_CHUNK)
                        .map(|chunk| merkle::mth(alg, chunk))
                        .collect();
                    merkle::mth(alg, &roots)
                });
                (page, pre, leaves, block_root)
            })
            .await
            .map_err(|e| ServiceError::Internal(format!("audit verification worker: {e}")))?;
            for (stored, pre) in page.iter().zip(&prechecked) {
                if let Err(b) = chain.push_prechecked(stored, pre) {
                    return Ok(Err(b.into()));
                }
            }
            let tree_err = |e: TreeError| ServiceError::Internal(e.to_string());
            let mut appended = |range: &CompactRange| {
                if range.size() == integrated_size {
                    integrated_border = Some(range.nodes().to_vec());
                }
            };
            match block_root {
                Some(root) => {
                    range
                        .append_subtree_hash(VERIFY_PAGE.trailing_zeros(), root)
                        .map_err(tree_err)?;
                    appended(&range);
                    if let Err(f) = check_targets(&range, &mut next_target) {
                        return Ok(Err(f));
                    }
                }
                None => {
                    for leaf in leaves {
                        range.append_leaf_hash(leaf).map_err(tree_err)?;
                        appended(&range);
                        if let Err(f) = check_targets(&range, &mut next_target) {
                            return Ok(Err(f));
                        }
                    }
                }
            }
        }
        let head = self.store.audit_head().await?.map(|h| (h.seq, h.hash));
        let report = match chain.finish(head) {
            Ok(r) => r,
            Err(b) => return Ok(Err(b.into())),
        };
        if let Some((size, _, stored)) = targets.get(next_target) {
            return Ok(Err(match stored {
                Some(s) => AuditLogFailure::Checkpoint {
                    size: *s,
                    reason: format!(
                        "it covers {size} entries but the log has {} (entries were removed)",
                        range.size()
                    ),
                },
                None => AuditLogFailure::RolledBack {
                    seen: *size,
                    found: range.size(),
                },
            }));
        }
        if state.size > 0 {
            let stored_border = state
                .border
                .iter()
                .map(|b| to_hash(b, "audit tree border"))
                .collect::<Result<Vec<_>>>()?;
            match integrated_border {
                Some(b) if b == stored_border => {}
                Some(_) => {
                    return Ok(Err(AuditLogFailure::Tree(format!(
                        "the border stored for size {} does not match the entries",
                        state.size
                    ))))
                }
                None => {
                    return Ok(Err(AuditLogFailure::Tree(format!(
                        "{} leaves are integrated but the log has {} entries",
                        state.size,
                        range.size()
                    ))))
                }
            }
            if state.alg.as_deref() != Some(alg_name(alg)) {
                return Ok(Err(AuditLogFailure::Tree(format!(
                    "the tree is recorded as {:?}, the profile needs {}",
                    state.alg,
                    alg_name(alg)
                ))));
            }
        }
        Ok(Ok(AuditLogReport {
            entries: report.entries,
            head_hash: report.head_hash,
            tree_alg: alg_name(alg).to_string(),
            root: b64(&range.root()),
            integrated: state.size,
            checkpoints_verified,
            latest_checkpoint,
            outside_checkpoint: outside.map(|c| c.size),
            vkey,
            witness: self.witness_status(true).await?,
        }))
    }
}

impl Node {
    /// [`Node::audit_inclusion_proof`] for an auditor over the API; the request is audited.
    pub async fn inclusion_proof_for(
        &self,
        caller: &Caller,
        seq: i64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProof> {
        self.require(caller, Action::ReadAudit).await?;
        let proof = self.audit_inclusion_proof(seq, tree_size).await?;
        self.audit(
            caller
                .event(
                    "audit.proof.inclusion",
                    format!("entry {seq}"),
                    Outcome::Success,
                )
                .with_detail(json!({"tree_size": proof.tree_size})),
        )
        .await?;
        Ok(proof)
    }

    /// [`Node::audit_consistency_proof`] for an auditor over the API; the request is audited.
    pub async fn consistency_proof_for(
        &self,
        caller: &Caller,
        size1: u64,
        size2: Option<u64>,
    ) -> Result<ConsistencyProof> {
        self.require(caller, Action::ReadAudit).await?;
        let proof = self.audit_consistency_proof(size1, size2).await?;
        self.audit(
            caller
                .event("audit.proof.consistency", "audit_log", Outcome::Success)
                .with_detail(json!({"size1": proof.size1, "size2": proof.size2})),
        )
        .await?;
        Ok(proof)
    }
}

/// Parses a signed checkpoint note, checks its signature and origin.
fn check_note(
    text: &str,
    verifiers: &Verifiers,
    origin: &str,
) -> std::result::Result<Checkpoint, String> {
    let note = Note::parse(text).map_err(|e| format!("not a signed note: {e}"))?;
    note.verify(verifiers)
        .map_err(|e| format!("signature does not verify with the node key: {e}"))?;
    let cp = Checkpoint::from_note(&note).map_err(|e| format!("not a checkpoint: {e}"))?;
    if cp.origin != origin {
        return Err(format!(
            "origin `{}` is not this log (`{origin}`)",
            cp.origin
        ));
    }
    Ok(cp)
}

fn signed_checkpoint(stored: &StoredCheckpoint) -> Result<SignedCheckpoint> {
    let note = Note::parse(&stored.note).map_err(|e| {
        ServiceError::Internal(format!(
            "stored checkpoint {} is not a signed note ({e}); run `medspace audit verify`",
            stored.size
        ))
    })?;
    let cp = Checkpoint::from_note(&note).map_err(|e| {
        ServiceError::Internal(format!(
            "stored checkpoint {} is malformed ({e}); run `medspace audit verify`",
            stored.size
        ))
    })?;
    Ok(SignedCheckpoint {
        origin: cp.origin,
        tree_size: cp.size,
        root: b64(&cp.root),
        note: stored.note.clone(),
    })
}
