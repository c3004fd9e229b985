//! Witness cosignatures and the witness's `add-checkpoint` decision, without HTTP.
//!
//! - C2SP tlog-cosignature (c2sp.org/tlog-cosignature, commit 5ba5ee8), Ed25519 `cosignature/v1`:
//!   signature type `0x04`; key ID `SHA-256(name || "\n" || 0x04 || public key)[:4]`; the signature
//!   is `u64 timestamp (big-endian) || Ed25519 signature` over
//!   `"cosignature/v1\ntime <timestamp>\n" || checkpoint body`.
//! - C2SP tlog-witness (c2sp.org/tlog-witness, commit 5ba5ee8), `add-checkpoint`: the request body
//!   (`old <size>` line, at most 63 base64 consistency proof lines, an empty line, the signed
//!   checkpoint) and the witness's checks, in the spec's order, as the pure function
//!   [`Witness::add_checkpoint`]: unknown origin → 404, no valid log signature → 403, old size above
//!   the checkpoint size → 400, old size not the last cosigned size → 409 (body: that size), bad
//!   empty-tree root, proof or root → 422, otherwise a cosignature and the new state to persist.
//!
//! The caller (the HTTP layer) must read the stored state, call [`Witness::add_checkpoint`] and
//! persist [`Cosigned::new_head`] atomically (the spec's rollback race).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::checkpoint::{parse_b64_hash, parse_decimal, Checkpoint, CheckpointError};
use crate::hash::{Hash, HashAlg, TreeHasher};
use crate::merkle::{self, ProofError};
use crate::note::{
    ed25519_key_from, ed25519_verify, key_id, key_material, Note, NoteError, NoteSignature,
    NoteVerifier, VerifierKey, Verifiers,
};

/// Signature type byte of Ed25519 `cosignature/v1` (C2SP signed-note, tlog-cosignature).
pub const COSIGNATURE_V1_TYPE: u8 = 0x04;

/// Header line of the `cosignature/v1` signed message.
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1\n";

/// Most consistency proof lines an `add-checkpoint` request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// Content type of a 409 response body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Largest allowed cosignature timestamp (2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// The message a `cosignature/v1` signs: header, `time <timestamp>`, then the checkpoint body.
pub fn cosigned_message(timestamp: u64, checkpoint_body: &[u8]) -> Vec<u8> {
    let mut m = format!("{COSIGNATURE_V1_HEADER}time {timestamp}\n").into_bytes();
    m.extend_from_slice(checkpoint_body);
    m
}

/// Produces Ed25519 `cosignature/v1` signatures. `Debug` never shows the private key.
pub struct CosignatureV1Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for CosignatureV1Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignatureV1Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl CosignatureV1Signer {
    /// A cosigner named `name` from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !crate::note::is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName(name.to_string()));
        }
        let key = SigningKey::from_bytes(seed);
        Ok(CosignatureV1Signer {
            name: name.to_string(),
            key_id: key_id(
                name,
                &key_material(COSIGNATURE_V1_TYPE, &key.verifying_key()),
            ),
            key,
        })
    }

    /// Cosigner name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureV1Verifier {
        CosignatureV1Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Cosigns a checkpoint body at `timestamp` (POSIX seconds, `1..=2^63-1`).
    pub fn cosign(
        &self,
        checkpoint_body: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, NoteError> {
        if timestamp == 0 || timestamp > MAX_TIMESTAMP {
            return Err(NoteError::Signing(format!(
                "cosignature timestamp {timestamp} is outside 1..=2^63-1"
            )));
        }
        let msg = cosigned_message(timestamp, checkpoint_body.as_bytes());
        let sig = self.key.sign(&msg);
        let mut signature = Vec::with_capacity(72);
        signature.extend_from_slice(&timestamp.to_be_bytes());
        signature.extend_from_slice(&sig.to_bytes());
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature,
        })
    }
}

/// Verifies Ed25519 `cosignature/v1` signatures (type `0x04`); usable as a [`NoteVerifier`] on
/// checkpoint notes.
#[derive(Debug, Clone)]
pub struct CosignatureV1Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignatureV1Verifier {
    /// A verifier for cosigner `name` with public key `key`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if !crate::note::is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName(name.to_string()));
        }
        Ok(CosignatureV1Verifier {
            name: name.to_string(),
            key_id: key_id(name, &key_material(COSIGNATURE_V1_TYPE, &key)),
            key,
        })
    }

    /// From a vkey string (type `0x04`).
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        CosignatureV1Verifier::from_key(&VerifierKey::parse(vkey)?)
    }

    /// From a parsed vkey (type must be `0x04`, key ID must match).
    pub fn from_key(key: &VerifierKey) -> Result<Self, NoteError> {
        let public = ed25519_key_from(key, COSIGNATURE_V1_TYPE)?;
        Ok(CosignatureV1Verifier {
            name: key.name.clone(),
            key_id: key.key_id,
            key: public,
        })
    }

    /// The vkey string.
    pub fn vkey(&self) -> String {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key_material: key_material(COSIGNATURE_V1_TYPE, &self.key),
        }
        .to_string()
    }

    /// Verifies a cosignature (`timestamp || signature`, without the key ID) over a checkpoint
    /// body; returns its timestamp.
    pub fn verify_cosignature(&self, checkpoint_body: &[u8], signature: &[u8]) -> Option<u64> {
        let (ts, sig) = signature.split_first_chunk::<8>()?;
        let timestamp = u64::from_be_bytes(*ts);
        if timestamp > MAX_TIMESTAMP || sig.len() != 64 {
            return None;
        }
        ed25519_verify(
            &self.key,
            &cosigned_message(timestamp, checkpoint_body),
            sig,
        )
        .then_some(timestamp)
    }
}

impl NoteVerifier for CosignatureV1Verifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        self.verify_cosignature(msg, signature).is_some()
    }
}

/// Why an `add-checkpoint` request body is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A line of the request preamble is malformed.
    #[error("add-checkpoint request line {line}: {reason}")]
    Malformed {
        /// 1-based line number in the request body.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The checkpoint note is malformed.
    #[error("add-checkpoint request: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// Size of the checkpoint the client believes the witness last cosigned.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub note: Note,
    /// The checkpoint it carries.
    pub checkpoint: Checkpoint,
}

impl AddCheckpointRequest {
    /// A request for a signed checkpoint note.
    pub fn new(old_size: u64, proof: Vec<Hash>, note: Note) -> Result<Self, RequestError> {
        if proof.len() > MAX_PROOF_LINES {
            return Err(RequestError::Malformed {
                line: MAX_PROOF_LINES + 2,
                reason: "more than 63 consistency proof lines",
            });
        }
        let checkpoint = Checkpoint::from_note(&note)?;
        Ok(AddCheckpointRequest {
            old_size,
            proof,
            note,
            checkpoint,
        })
    }

    /// Parses a request body.
    pub fn parse(body: &str) -> Result<Self, RequestError> {
        let mut lines = Lines {
            rest: body,
            line: 0,
        };
        let (n, old) = lines.next_line()?;
        let old = old.strip_prefix("old ").ok_or(RequestError::Malformed {
            line: n,
            reason: "expected `old <size>`",
        })?;
        let old_size =
            parse_decimal(old).map_err(|reason| RequestError::Malformed { line: n, reason })?;
        let mut proof = Vec::new();
        loop {
            let (n, line) = lines.next_line()?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(RequestError::Malformed {
                    line: n,
                    reason: "more than 63 consistency proof lines",
                });
            }
            proof.push(
                parse_b64_hash(line)
                    .map_err(|reason| RequestError::Malformed { line: n, reason })?,
            );
        }
        let note = Note::parse(lines.rest).map_err(CheckpointError::from)?;
        AddCheckpointRequest::new(old_size, proof, note)
    }

    /// The request body.
    pub fn to_body(&self) -> String {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&STANDARD.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note.to_string());
        s
    }
}

/// Newline-terminated lines of a request body, numbered from 1.
struct Lines<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Result<(usize, &'a str), RequestError> {
        self.line += 1;
        let (line, tail) = self.rest.split_once('\n').ok_or(RequestError::Malformed {
            line: self.line,
            reason: "missing or not terminated by a newline",
        })?;
        self.rest = tail;
        Ok((self.line, line))
    }
}

/// A tree size and root: what a witness stores per log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// A log a witness follows.
#[derive(Debug)]
pub struct LogConfig {
    /// Checkpoint origin.
    pub origin: String,
    /// Tree hash algorithm (SHA-256 in the C2SP ecosystem; SM3 for the national profile).
    pub alg: HashAlg,
    /// The log's trusted keys.
    pub verifiers: Verifiers,
}

/// A successful `add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The log.
    pub origin: String,
    /// The state to persist (atomically with the check) for the origin.
    pub new_head: TreeHead,
    /// The witness's cosignature.
    pub cosignature: NoteSignature,
}

impl Cosigned {
    /// The 200 response body: the cosignature line.
    pub fn response_body(&self) -> String {
        self.cosignature.to_line()
    }
}

/// Why a witness refuses a checkpoint, with the tlog-witness HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// 400: the request is malformed or the old size exceeds the checkpoint size.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 403: no valid signature from a trusted log key, or a trusted key's signature fails.
    #[error("checkpoint signature not verified: {0}")]
    BadSignature(NoteError),
    /// 404: the origin is not a log this witness follows.
    #[error("unknown log origin `{0}`")]
    UnknownOrigin(String),
    /// 409: the old size is not the size of the last cosigned checkpoint.
    #[error("old size {old_size} is not the last cosigned size {current_size}")]
    Conflict {
        /// Old size in the request.
        old_size: u64,
        /// Size of the last checkpoint cosigned for the origin (0 if none).
        current_size: u64,
    },
    /// 422: the checkpoint is not consistent with the last cosigned one.
    #[error("checkpoint not consistent: {0}")]
    BadProof(String),
    /// 500: the witness could not sign (e.g. a clock at 0).
    #[error("witness failure: {0}")]
    Internal(String),
}

impl Rejection {
    /// HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::BadRequest(_) => 400,
            Rejection::BadSignature(_) => 403,
            Rejection::UnknownOrigin(_) => 404,
            Rejection::Conflict { .. } => 409,
            Rejection::BadProof(_) => 422,
            Rejection::Internal(_) => 500,
        }
    }

    /// Response body and content type the spec prescribes (the 409 size body), if any.
    pub fn response(&self) -> Option<(&'static str, String)> {
        match self {
            Rejection::Conflict { current_size, .. } => {
                Some((SIZE_CONTENT_TYPE, format!("{current_size}\n")))
            }
            _ => None,
        }
    }
}

impl From<RequestError> for Rejection {
    fn from(e: RequestError) -> Self {
        Rejection::BadRequest(e.to_string())
    }
}

/// A witness: its cosigning key and the logs it follows.
#[derive(Debug)]
pub struct Witness {
    cosigner: CosignatureV1Signer,
    logs: Vec<LogConfig>,
}

impl Witness {
    /// A witness that follows no log yet.
    pub fn new(cosigner: CosignatureV1Signer) -> Self {
        Witness {
            cosigner,
            logs: Vec::new(),
        }
    }

    /// Follows a log; refuses a second configuration for the same origin.
    pub fn add_log(&mut self, log: LogConfig) -> Result<(), Rejection> {
        if self.log(&log.origin).is_some() {
            return Err(Rejection::BadRequest(format!(
                "log `{}` is already configured",
                log.origin
            )));
        }
        self.logs.push(log);
        Ok(())
    }

    /// The configuration of a log.
    pub fn log(&self, origin: &str) -> Option<&LogConfig> {
        self.logs.iter().find(|l| l.origin == origin)
    }

    /// The witness's cosigner.
    pub fn cosigner(&self) -> &CosignatureV1Signer {
        &self.cosigner
    }

    /// Decides an `add-checkpoint` request, given the last cosigned head for the request's origin
    /// (`None` if the witness never cosigned that log) and the current time (POSIX seconds).
    pub fn add_checkpoint(
        &self,
        stored: Option<TreeHead>,
        request: &AddCheckpointRequest,
        now: u64,
    ) -> Result<Cosigned, Rejection> {
        let cp = &request.checkpoint;
        let log = self
            .log(&cp.origin)
            .ok_or_else(|| Rejection::UnknownOrigin(cp.origin.clone()))?;
        request
            .note
            .verify(&log.verifiers)
            .map_err(Rejection::BadSignature)?;
        if request.old_size > cp.size {
            return Err(Rejection::BadRequest(format!(
                "old size {} is larger than the checkpoint size {}",
                request.old_size, cp.size
            )));
        }
        let current = stored.unwrap_or(TreeHead {
            size: 0,
            root: TreeHasher::new(log.alg).empty_root(),
        });
        if request.old_size != current.size {
            return Err(Rejection::Conflict {
                old_size: request.old_size,
                current_size: current.size,
            });
        }
        if cp.size == 0 && cp.root != TreeHasher::new(log.alg).empty_root() {
            return Err(Rejection::BadProof(
                "a checkpoint of size 0 must have the empty tree root".into(),
            ));
        }
        if request.old_size == 0 {
            if !request.proof.is_empty() {
                return Err(Rejection::BadProof(
                    "the consistency proof from size 0 must be empty".into(),
                ));
            }
        } else {
            merkle::verify_consistency(
                log.alg,
                request.old_size,
                cp.size,
                &request.proof,
                &current.root,
                &cp.root,
            )
            .map_err(|e: ProofError| Rejection::BadProof(e.to_string()))?;
        }
        let cosignature = self
            .cosigner
            .cosign(request.note.text(), now)
            .map_err(|e| Rejection::Internal(e.to_string()))?;
        Ok(Cosigned {
            origin: cp.origin.clone(),
            new_head: TreeHead {
                size: cp.size,
                root: cp.root,
            },
            cosignature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MemoryTree;
    use crate::note::{Ed25519Signer, NoteSigner};

    const SPEC_REQUEST: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";

    #[test]
    fn the_spec_request_parses_and_round_trips() {
        let r = AddCheckpointRequest::parse(SPEC_REQUEST).unwrap();
        assert_eq!(r.old_size, 20852014);
        assert_eq!(r.proof.len(), 4);
        assert_eq!(r.checkpoint.size, 20852163);
        assert_eq!(r.note.signatures().len(), 2);
        assert_eq!(r.to_body(), SPEC_REQUEST);
    }

    #[test]
    fn malformed_requests_name_the_line() {
        let cp = "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} o AAAAAAA=\n";
        let cases = [
            (format!("old 01\n\n{cp}"), 1, "leading zero"),
            (format!("new 1\n\n{cp}"), 1, "expected `old <size>`"),
            (format!("old 1\nAAAA\n\n{cp}"), 2, "hash is not 32 bytes"),
            (
                "old 1\n".to_string(),
                2,
                "missing or not terminated by a newline",
            ),
        ];
        for (body, line, reason) in cases {
            assert_eq!(
                AddCheckpointRequest::parse(&body),
                Err(RequestError::Malformed { line, reason }),
                "{body:?}"
            );
        }
        let many = format!(
            "old 1\n{}\n{cp}",
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n".repeat(64)
        );
        assert_eq!(
            AddCheckpointRequest::parse(&many),
            Err(RequestError::Malformed {
                line: 65,
                reason: "more than 63 consistency proof lines"
            })
        );
        assert!(matches!(
            AddCheckpointRequest::parse("old 0\n\no\n01\nx\n\n\u{2014} o AAAAAAA=\n"),
            Err(RequestError::Checkpoint(_))
        ));
    }

    #[test]
    fn cosignatures_sign_the_specified_message() {
        let w = CosignatureV1Signer::from_seed("witness.example/w1", &[3; 32]).unwrap();
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let sig = w.cosign(body, 1679315147).unwrap();
        assert_eq!(sig.signature.len(), 72);
        assert_eq!(&sig.signature[..8], &1679315147u64.to_be_bytes());
        let msg = format!("cosignature/v1\ntime 1679315147\n{body}");
        let raw = ed25519_dalek::Signature::from_slice(&sig.signature[8..]).unwrap();
        SigningKey::from_bytes(&[3; 32])
            .verifying_key()
            .verify_strict(msg.as_bytes(), &raw)
            .unwrap();
        let v = w.verifier();
        assert_eq!(
            v.verify_cosignature(body.as_bytes(), &sig.signature),
            Some(1679315147)
        );
        assert_eq!(v.verify_cosignature(b"other\n", &sig.signature), None);
        let mut shifted = sig.signature.clone();
        shifted[7] ^= 1;
        assert_eq!(v.verify_cosignature(body.as_bytes(), &shifted), None);
        // Key ID uses type 0x04, so the same key as plain Ed25519 gets another ID.
        let plain = Ed25519Signer::from_seed("witness.example/w1", &[3; 32]).unwrap();
        assert_ne!(plain.key_id(), w.key_id());
        assert_eq!(
            CosignatureV1Verifier::from_vkey(&v.vkey()).unwrap().vkey(),
            v.vkey()
        );
        assert!(crate::note::verifier_from_vkey(&v.vkey()).is_ok());
        assert!(w.cosign(body, 0).is_err());
        assert!(w.cosign(body, 1 << 63).is_err());
    }

    struct Setup {
        tree: MemoryTree,
        log: Ed25519Signer,
        witness: Witness,
    }

    const ORIGIN: &str = "medspace.example/audit-log";

    fn setup() -> Setup {
        let log = Ed25519Signer::from_seed(ORIGIN, &[1; 32]).unwrap();
        let cosigner = CosignatureV1Signer::from_seed("witness.example/w1", &[2; 32]).unwrap();
        let mut witness = Witness::new(cosigner);
        witness
            .add_log(LogConfig {
                origin: ORIGIN.into(),
                alg: HashAlg::Sha256,
                verifiers: Verifiers::new().with(Box::new(log.verifier())).unwrap(),
            })
            .unwrap();
        let mut tree = MemoryTree::new(HashAlg::Sha256);
        for i in 0..20u32 {
            tree.append_entry(&i.to_be_bytes());
        }
        Setup { tree, log, witness }
    }

    fn request(s: &Setup, old: u64, size: u64, signer: &dyn NoteSigner) -> AddCheckpointRequest {
        let cp = Checkpoint::new(ORIGIN, size, s.tree.root_at(size).unwrap()).unwrap();
        let note = cp.sign(&[signer]).unwrap();
        let proof = if old == 0 {
            vec![]
        } else {
            s.tree.consistency_proof(old, size).unwrap()
        };
        let r = AddCheckpointRequest::new(old, proof, note).unwrap();
        // Every request goes through its wire form.
        AddCheckpointRequest::parse(&r.to_body()).unwrap()
    }

    fn head(s: &Setup, size: u64) -> Option<TreeHead> {
        Some(TreeHead {
            size,
            root: s.tree.root_at(size).unwrap(),
        })
    }

    #[test]
    fn the_witness_cosigns_consistent_checkpoints() {
        let s = setup();
        let now = 1_700_000_000;
        let first = s
            .witness
            .add_checkpoint(None, &request(&s, 0, 5, &s.log), now)
            .unwrap();
        assert_eq!(first.new_head, head(&s, 5).unwrap());
        let second = s
            .witness
            .add_checkpoint(Some(first.new_head), &request(&s, 5, 17, &s.log), now + 1)
            .unwrap();
        assert_eq!(second.new_head.size, 17);
        // Same size, same root: cosigned again.
        s.witness
            .add_checkpoint(head(&s, 17), &request(&s, 17, 17, &s.log), now + 2)
            .unwrap();
        // The cosignature line verifies on the checkpoint note with the witness's vkey.
        let mut note = request(&s, 5, 17, &s.log).note;
        let lines = NoteSignature::parse_lines(&second.response_body()).unwrap();
        for l in lines {
            note.add_signature(l).unwrap();
        }
        let witnesses = Verifiers::new()
            .with(crate::note::verifier_from_vkey(&s.witness.cosigner().verifier().vkey()).unwrap())
            .unwrap();
        let ok = Note::parse(&note.to_string())
            .unwrap()
            .verify(&witnesses)
            .unwrap();
        assert_eq!(ok[0].name, "witness.example/w1");
        // The empty tree is cosigned from nothing.
        s.witness
            .add_checkpoint(None, &request(&s, 0, 0, &s.log), now)
            .unwrap();
    }

    #[test]
    fn the_witness_refuses_with_the_specified_status() {
        let s = setup();
        let now = 1_700_000_000;
        let status = |stored, r: &AddCheckpointRequest| {
            s.witness
                .add_checkpoint(stored, r, now)
                .unwrap_err()
                .status()
        };
        // 409: stale or unknown old size; body is the current size.
        let stale = s
            .witness
            .add_checkpoint(head(&s, 8), &request(&s, 5, 17, &s.log), now)
            .unwrap_err();
        assert_eq!(
            stale,
            Rejection::Conflict {
                old_size: 5,
                current_size: 8
            }
        );
        assert_eq!(stale.status(), 409);
        assert_eq!(
            stale.response(),
            Some((SIZE_CONTENT_TYPE, "8\n".to_string()))
        );
        assert_eq!(status(None, &request(&s, 5, 17, &s.log)), 409);
        // 403: signed by an unknown key only, or a known key's signature is broken.
        let stranger = Ed25519Signer::from_seed(ORIGIN, &[9; 32]).unwrap();
        assert_eq!(status(head(&s, 5), &request(&s, 5, 17, &stranger)), 403);
        let mut forged = request(&s, 5, 17, &s.log);
        let mut sig = forged.note.signatures()[0].clone();
        sig.signature[0] ^= 1;
        let mut note = Note::new(forged.note.text()).unwrap();
        note.add_signature(sig).unwrap();
        forged.note = note;
        assert_eq!(status(head(&s, 5), &forged), 403);
        // 404: unknown origin.
        let other = Ed25519Signer::from_seed("other.example/log", &[4; 32]).unwrap();
        let cp = Checkpoint::new("other.example/log", 3, s.tree.root_at(3).unwrap()).unwrap();
        let r = AddCheckpointRequest::new(0, vec![], cp.sign(&[&other]).unwrap()).unwrap();
        assert_eq!(status(None, &r), 404);
        // 400: old size beyond the checkpoint.
        let mut r = request(&s, 5, 17, &s.log);
        r.old_size = 18;
        assert_eq!(status(head(&s, 18), &r), 400);
        // 422: broken proof, proof from 0, wrong root at equal size, non-empty root at size 0.
        let mut r = request(&s, 5, 17, &s.log);
        r.proof[1][0] ^= 1;
        assert_eq!(status(head(&s, 5), &r), 422);
        let mut r = request(&s, 0, 17, &s.log);
        r.proof = vec![[0; 32]];
        assert_eq!(status(None, &r), 422);
        let fork = TreeHead {
            size: 17,
            root: [7; 32],
        };
        assert_eq!(status(Some(fork), &request(&s, 17, 17, &s.log)), 422);
        // A stored head that is not a prefix of the new tree: the proof fails.
        let fork = TreeHead {
            size: 5,
            root: [7; 32],
        };
        assert_eq!(status(Some(fork), &request(&s, 5, 17, &s.log)), 422);
        let cp = Checkpoint::new(ORIGIN, 0, [1; 32]).unwrap();
        let r = AddCheckpointRequest::new(0, vec![], cp.sign(&[&s.log]).unwrap()).unwrap();
        assert_eq!(status(None, &r), 422);
        // 500: no valid timestamp.
        let r = request(&s, 0, 3, &s.log);
        assert_eq!(
            s.witness.add_checkpoint(None, &r, 0).unwrap_err().status(),
            500
        );
    }
}
