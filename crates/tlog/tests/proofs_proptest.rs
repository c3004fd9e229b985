#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
//! Property tests (RFC 9162 §2.1.3, §2.1.4): for random trees of 1..200 leaves, every generated
//! inclusion and consistency proof verifies, and flipping any bit of any proof element (or of the
//! roots and leaf) makes verification fail.

use medspace_tlog::merkle::{self, HashSource, MemoryTree};
use medspace_tlog::HashAlg;
use proptest::prelude::*;

fn tree(alg: HashAlg, leaves: &[Vec<u8>]) -> MemoryTree {
    let mut t = MemoryTree::new(alg);
    for l in leaves {
        t.append_entry(l);
    }
    t
}

fn alg() -> impl Strategy<Value = HashAlg> {
    prop_oneof![Just(HashAlg::Sha256), Just(HashAlg::Sm3)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn inclusion_proofs_verify_and_any_flipped_bit_fails(
        alg in alg(),
        leaves in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 1..200),
        pick in any::<prop::sample::Index>(),
        size_pick in any::<prop::sample::Index>(),
        bit in 0usize..256,
    ) {
        let t = tree(alg, &leaves);
        let n = t.size();
        let size = 1 + size_pick.index(n as usize) as u64;
        let root = t.root_at(size).unwrap();
        let index = pick.index(size as usize) as u64;
        let leaf = t.leaf_hash(index).unwrap();
        let proof = t.inclusion_proof(index, size).unwrap();
        prop_assert!(merkle::verify_inclusion(alg, index, size, &leaf, &proof, &root).is_ok());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(merkle::verify_inclusion(alg, index, size, &leaf, &bad, &root).is_err());
        }
        let mut bad_leaf = leaf;
        bad_leaf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(merkle::verify_inclusion(alg, index, size, &bad_leaf, &proof, &root).is_err());
        let mut bad_root = root;
        bad_root[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(merkle::verify_inclusion(alg, index, size, &leaf, &proof, &bad_root).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_any_flipped_bit_fails(
        alg in alg(),
        n in 1u64..200,
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
        bit in 0usize..256,
    ) {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| i.to_le_bytes().to_vec()).collect();
        let t = tree(alg, &leaves);
        let (x, y) = (1 + a.index(n as usize) as u64, 1 + b.index(n as usize) as u64);
        let (size1, size2) = (x.min(y), x.max(y));
        let (root1, root2) = (t.root_at(size1).unwrap(), t.root_at(size2).unwrap());
        let proof = t.consistency_proof(size1, size2).unwrap();
        prop_assert!(merkle::verify_consistency(alg, size1, size2, &proof, &root1, &root2).is_ok());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(
                merkle::verify_consistency(alg, size1, size2, &bad, &root1, &root2).is_err(),
                "size1={} size2={} element {}", size1, size2, i
            );
        }
        let mut bad1 = root1;
        bad1[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(merkle::verify_consistency(alg, size1, size2, &proof, &bad1, &root2).is_err());
        let mut bad2 = root2;
        bad2[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(merkle::verify_consistency(alg, size1, size2, &proof, &root1, &bad2).is_err());
    }
}

/// Exhaustive companion to the properties: every (index, size) and (size1, size2) up to 64 leaves,
/// every proof element, one flipped bit per byte position.
#[test]
fn exhaustive_small_trees() {
    let alg = HashAlg::Sha256;
    let leaves: Vec<Vec<u8>> = (0..64u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let t = tree(alg, &leaves);
    for size in 1..=64u64 {
        let root = t.root_at(size).unwrap();
        for index in 0..size {
            let leaf = t.leaf_hash(index).unwrap();
            let proof = t.inclusion_proof(index, size).unwrap();
            merkle::verify_inclusion(alg, index, size, &leaf, &proof, &root).unwrap();
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][(index as usize + i) % 32] ^= 0x80;
                assert!(merkle::verify_inclusion(alg, index, size, &leaf, &bad, &root).is_err());
            }
        }
        for size1 in 1..=size {
            let root1 = t.root_at(size1).unwrap();
            let proof = t.consistency_proof(size1, size).unwrap();
            merkle::verify_consistency(alg, size1, size, &proof, &root1, &root).unwrap();
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][(size1 as usize + i) % 32] ^= 1;
                assert!(merkle::verify_consistency(alg, size1, size, &bad, &root1, &root).is_err());
            }
        }
    }
}
