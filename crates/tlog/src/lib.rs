//! Transparency log core for the node's audit log: Merkle trees, proofs, signed notes, checkpoints
//! and witness cosignatures.
//!
//! - [`hash`]: RFC 9162 §2.1.1 tree hashing over SHA-256 or SM3.
//! - [`merkle`]: RFC 9162 §2.1 roots, inclusion and consistency proofs (generation and verification),
//!   an in-memory tree and the compact range used on the append path.
//! - [`note`]: C2SP signed-note (text plus signature lines, verifier keys, Ed25519), with
//!   [`note::NoteSigner`] / [`note::NoteVerifier`] traits so other crates can add signature types
//!   (SIGNATURE-TYPES.md reserves the identifier for SM2-with-SM3).
//! - [`checkpoint`]: C2SP tlog-checkpoint note bodies.
//! - [`witness`]: C2SP tlog-cosignature `cosignature/v1` and the C2SP tlog-witness `add-checkpoint`
//!   request format and decision logic, as pure functions (no HTTP).
//!
//! Requirements served: T/CI 857-2024 7.2.6 (audit management: the audit log becomes a Merkle log
//! whose signed checkpoints make any rewrite of history detectable), 7.2.9 e) (cross-space audit
//! records that cannot be altered and can be traced: other spaces verify inclusion and consistency
//! proofs against checkpoints), and 7.2.1 a) (decentralised trust: independent witnesses cosign
//! checkpoints, the role the standard sketches with a blockchain).
#![deny(missing_docs)]

pub mod checkpoint;
pub mod hash;
pub mod merkle;
pub mod note;
pub mod witness;

pub use hash::{Hash, HashAlg, TreeHasher, HASH_LEN};
