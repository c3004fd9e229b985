//! Merkle tree hashing, parameterised by the hash algorithm.
//!
//! RFC 9162 §2.1.1 (Merkle Hash Trees): the hash of an empty list is `HASH()` (the hash of the empty
//! string), a leaf hash is `HASH(0x00 || entry)` and an interior node hash is
//! `HASH(0x01 || left || right)`. The 0x00/0x01 prefixes give the second-preimage domain separation
//! between leaves and nodes required by RFC 9162 §2.1.1.
//!
//! Two algorithms with 32-byte output are supported: SHA-256 (RFC 9162, the C2SP tlog ecosystem) and
//! SM3 (GB/T 32905-2016, for the national-algorithm profile of the node). The primitives come from the
//! `sha2` and `sm3` crates; this module only frames their input.

use sha2::Digest;

/// Length in bytes of every hash produced here (SHA-256 and SM3 both output 32 bytes).
pub const HASH_LEN: usize = 32;

/// A tree hash: a leaf hash, an interior node hash or a root.
pub type Hash = [u8; HASH_LEN];

/// The hash algorithm under a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    /// SHA-256 (FIPS 180-4), as in RFC 6962 / RFC 9162 and every C2SP tlog specification.
    Sha256,
    /// SM3 (GB/T 32905-2016), for the national-algorithm profile.
    Sm3,
}

impl HashAlg {
    /// Short lowercase name (`sha256`, `sm3`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sm3 => "sm3",
        }
    }

    /// Hash of the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Hash {
        match self {
            HashAlg::Sha256 => {
                let mut h = sha2::Sha256::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
            HashAlg::Sm3 => {
                let mut h = sm3::Sm3::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
        }
    }
}

impl std::fmt::Display for HashAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Leaf-hash prefix, RFC 9162 §2.1.1.
pub const LEAF_PREFIX: u8 = 0x00;
/// Interior-node-hash prefix, RFC 9162 §2.1.1.
pub const NODE_PREFIX: u8 = 0x01;

/// RFC 9162 §2.1.1 tree hashing over one [`HashAlg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeHasher {
    alg: HashAlg,
}

impl TreeHasher {
    /// A hasher for `alg`.
    pub const fn new(alg: HashAlg) -> Self {
        TreeHasher { alg }
    }

    /// The algorithm.
    pub const fn alg(&self) -> HashAlg {
        self.alg
    }

    /// Root of the empty tree: `HASH()`.
    pub fn empty_root(&self) -> Hash {
        self.alg.digest(&[])
    }

    /// Leaf hash: `HASH(0x00 || entry)`.
    pub fn hash_leaf(&self, entry: &[u8]) -> Hash {
        self.alg.digest(&[&[LEAF_PREFIX], entry])
    }

    /// Interior node hash: `HASH(0x01 || left || right)`.
    pub fn hash_children(&self, left: &Hash, right: &Hash) -> Hash {
        self.alg.digest(&[&[NODE_PREFIX], left, right])
    }
}

impl From<HashAlg> for TreeHasher {
    fn from(alg: HashAlg) -> Self {
        TreeHasher::new(alg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hx(h: Hash) -> String {
        hex::encode(h)
    }

    #[test]
    fn sha256_empty_root_and_known_leaves() {
        let h = TreeHasher::new(HashAlg::Sha256);
        assert_eq!(
            hx(h.empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Leaf "" of the transparency-dev reference tree = root of size 1.
        assert_eq!(
            hx(h.hash_leaf(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        // Root of size 2 = node(leaf(""), leaf(0x00)).
        let root2 = h.hash_children(&h.hash_leaf(b""), &h.hash_leaf(&[0x00]));
        assert_eq!(
            hx(root2),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
    }

    #[test]
    fn sm3_matches_the_standard_example_and_frames_its_input() {
        // GB/T 32905-2016 Appendix A, example 1: SM3("abc").
        assert_eq!(
            hx(HashAlg::Sm3.digest(&[b"abc"])),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        assert_eq!(
            hx(HashAlg::Sm3.digest(&[b"a", b"", b"bc"])),
            hx(HashAlg::Sm3.digest(&[b"abc"]))
        );
        let h = TreeHasher::new(HashAlg::Sm3);
        assert_eq!(h.hash_leaf(b"x"), HashAlg::Sm3.digest(&[b"\x00x"]));
        assert_eq!(h.empty_root(), HashAlg::Sm3.digest(&[b""]));
        let (l, r) = ([1u8; 32], [2u8; 32]);
        let mut buf = vec![1u8];
        buf.extend_from_slice(&l);
        buf.extend_from_slice(&r);
        assert_eq!(h.hash_children(&l, &r), HashAlg::Sm3.digest(&[&buf]));
        assert_ne!(
            h.hash_leaf(b"x"),
            TreeHasher::new(HashAlg::Sha256).hash_leaf(b"x")
        );
    }
}
