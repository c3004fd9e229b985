#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
//! Conformance against the transparency-dev/merkle test vectors (RFC 9162 §2.1.3.2, §2.1.4.2):
//! every inclusion and consistency vector verifies exactly when `wantErr` is false, and the proofs
//! this crate generates for the upstream reference tree equal the happy-path vectors.
//!
//! Data: `/work/shared/data/merkle-vectors/transparency-dev-merkle/testdata` (see SOURCE.md there).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use medspace_tlog::merkle::{self, HashSource, MemoryTree};
use medspace_tlog::{Hash, HashAlg};
use serde::Deserialize;

fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/merkle-vectors/transparency-dev-merkle/testdata");
    assert!(
        dir.is_dir(),
        "transparency-dev merkle test vectors not found at {} (expected the shared data checkout \
         next to the workspace: <root>/shared/data/merkle-vectors, see its SOURCE.md)",
        dir.display()
    );
    dir
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn b64(s: &str) -> Vec<u8> {
    STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("bad base64 {s:?}: {e}"))
}

fn b64_all(v: &Option<Vec<String>>) -> Vec<Vec<u8>> {
    v.iter().flatten().map(|s| b64(s)).collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InclusionCase {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyCase {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    #[serde(rename = "wantErr")]
    want_err: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubtreeInclusionCase {
    leaf_idx: u64,
    start: u64,
    end: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Upstream `testonly/constants.go` leaf inputs (SOURCE.md).
const LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots by tree size 0..=8 (SOURCE.md).
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_tree() -> MemoryTree {
    let mut t = MemoryTree::new(HashAlg::Sha256);
    for input in LEAF_INPUTS {
        t.append_entry(&hex::decode(input).unwrap());
    }
    t
}

fn hashes(v: &[Vec<u8>]) -> Vec<Hash> {
    v.iter()
        .map(|h| Hash::try_from(h.as_slice()).unwrap())
        .collect()
}

#[test]
fn reference_tree_roots_match_source_md() {
    let t = reference_tree();
    for (size, want) in ROOTS.iter().enumerate() {
        assert_eq!(
            hex::encode(t.root_at(size as u64).unwrap()),
            *want,
            "size {size}"
        );
    }
}

#[test]
fn inclusion_vectors() {
    let files = json_files(&data_dir().join("inclusion"));
    let tree = reference_tree();
    let (mut passed, mut happy_checked) = (0usize, 0usize);
    for path in &files {
        let c: InclusionCase = load(path);
        let proof = b64_all(&c.proof);
        let (leaf, root) = (b64(&c.leaf_hash), b64(&c.root));
        let got = merkle::verify_inclusion(
            HashAlg::Sha256,
            c.leaf_idx,
            c.tree_size,
            &leaf,
            &proof,
            &root,
        );
        assert_eq!(
            got.is_err(),
            c.want_err,
            "{} ({}): verification gave {got:?}",
            path.display(),
            c.desc
        );
        passed += 1;
        // Happy paths over the reference tree: our generated proof must be the vector's proof.
        if !c.want_err && root == tree.root_at(c.tree_size).unwrap() {
            assert_eq!(
                leaf,
                tree.leaf_hash(c.leaf_idx).unwrap(),
                "{}",
                path.display()
            );
            assert_eq!(
                tree.inclusion_proof(c.leaf_idx, c.tree_size).unwrap(),
                hashes(&proof),
                "{}: generated proof differs",
                path.display()
            );
            happy_checked += 1;
        }
    }
    eprintln!(
        "inclusion: {passed} of {} vectors passed; {happy_checked} generated proofs matched",
        files.len()
    );
    assert!(passed > 0, "no inclusion vectors found");
    assert_eq!(passed, files.len());
    // inclusion/{0..4}/happy-path.json are built from the reference tree.
    assert!(
        happy_checked >= 5,
        "only {happy_checked} happy paths matched"
    );
}

#[test]
fn consistency_vectors() {
    let files = json_files(&data_dir().join("consistency"));
    let tree = reference_tree();
    let (mut passed, mut happy_checked) = (0usize, 0usize);
    for path in &files {
        let c: ConsistencyCase = load(path);
        let proof = b64_all(&c.proof);
        let (root1, root2) = (b64(&c.root1), b64(&c.root2));
        let got =
            merkle::verify_consistency(HashAlg::Sha256, c.size1, c.size2, &proof, &root1, &root2);
        assert_eq!(
            got.is_err(),
            c.want_err,
            "{} ({}): verification gave {got:?}",
            path.display(),
            c.desc
        );
        passed += 1;
        if !c.want_err
            && c.size2 <= tree.size()
            && root1 == tree.root_at(c.size1).unwrap()
            && root2 == tree.root_at(c.size2).unwrap()
        {
            assert_eq!(
                tree.consistency_proof(c.size1, c.size2).unwrap(),
                hashes(&proof),
                "{}: generated proof differs",
                path.display()
            );
            happy_checked += 1;
        }
    }
    eprintln!(
        "consistency: {passed} of {} vectors passed; {happy_checked} generated proofs matched",
        files.len()
    );
    assert!(passed > 0, "no consistency vectors found");
    assert_eq!(passed, files.len());
    // consistency/{0..4}/happy-path.json are built from the reference tree.
    assert!(
        happy_checked >= 5,
        "only {happy_checked} happy paths matched"
    );
}

#[test]
fn subtree_inclusion_vectors() {
    let files = json_files(&data_dir().join("subtreeinclusion"));
    let tree = reference_tree();
    let (mut passed, mut happy_checked) = (0usize, 0usize);
    for path in &files {
        let c: SubtreeInclusionCase = load(path);
        let proof = b64_all(&c.proof);
        let (leaf, root) = (b64(&c.leaf_hash), b64(&c.root));
        let got = merkle::verify_subtree_inclusion(
            HashAlg::Sha256,
            c.leaf_idx,
            c.start,
            c.end,
            &leaf,
            &proof,
            &root,
        );
        assert_eq!(
            got.is_err(),
            c.want_err,
            "{} ({}): verification gave {got:?}",
            path.display(),
            c.desc
        );
        passed += 1;
        if !c.want_err
            && c.end <= tree.size()
            && root == merkle::subtree_root(&tree, c.start, c.end).unwrap()
        {
            assert_eq!(
                merkle::subtree_inclusion_proof(c.leaf_idx, c.start, c.end, &tree).unwrap(),
                hashes(&proof),
                "{}: generated proof differs",
                path.display()
            );
            happy_checked += 1;
        }
    }
    eprintln!(
        "subtree inclusion: {passed} of {} vectors passed; {happy_checked} generated proofs matched",
        files.len()
    );
    assert!(passed > 0, "no subtree inclusion vectors found");
    assert_eq!(passed, files.len());
    assert!(
        happy_checked >= 5,
        "only {happy_checked} happy paths matched"
    );
}

#[test]
fn generated_proofs_for_the_whole_reference_tree_verify() {
    let t = reference_tree();
    for n in 1..=8u64 {
        let root = t.root_at(n).unwrap();
        for i in 0..n {
            let p = t.inclusion_proof(i, n).unwrap();
            merkle::verify_inclusion(HashAlg::Sha256, i, n, &t.leaf_hash(i).unwrap(), &p, &root)
                .unwrap();
        }
        for m in 1..=n {
            let p = t.consistency_proof(m, n).unwrap();
            merkle::verify_consistency(HashAlg::Sha256, m, n, &p, &t.root_at(m).unwrap(), &root)
                .unwrap();
        }
    }
}
