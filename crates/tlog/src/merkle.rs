//! Merkle tree roots, inclusion and consistency proofs: generation and verification.
//!
//! RFC 9162 §2.1: §2.1.1 (the Merkle Tree Hash `MTH`), §2.1.3.1 (generating an inclusion proof,
//! `PATH`), §2.1.3.2 (verifying an inclusion proof), §2.1.4.1 (generating a consistency proof,
//! `PROOF`/`SUBPROOF`) and §2.1.4.2 (verifying a consistency proof). The verifiers follow the RFC's
//! numbered steps literally; before running them they check the proof length the tree sizes imply, so
//! a wrong-length proof is reported as such rather than as a root mismatch.
//!
//! Generation works over any [`HashSource`] (leaf hashes plus, optionally, cached hashes of complete
//! subtrees). [`MemoryTree`] keeps every complete subtree hash, so a proof for a tree of a million
//! leaves costs O(log² n) hash look-ups and O(log n) hash computations. [`CompactRange`] keeps only the
//! right border of the tree (one hash per set bit of the size): the append path uses it to compute the
//! new root without reading the tree.
//!
//! Edge cases that RFC 9162 leaves open (it defines consistency only for `0 < first < second`) follow
//! the transparency-dev/merkle reference verifier, whose test vectors this crate passes: equal sizes
//! need an empty proof and equal roots, and a proof from the empty tree is refused
//! ([`ProofError::EmptyFirstTree`]); callers for which "the empty tree is consistent with everything"
//! (the C2SP tlog-witness `old 0` request) handle size 0 themselves.

use crate::hash::{Hash, HashAlg, TreeHasher, HASH_LEN};

/// Why generating a root or a proof failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// Requested leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The requested tree size is larger than the log.
    #[error("tree size {size} exceeds the {available} leaves of the log")]
    SizeOutOfRange {
        /// Requested tree size.
        size: u64,
        /// Leaves available.
        available: u64,
    },
    /// A consistency proof was requested from a larger tree to a smaller one.
    #[error("first tree size {size1} is larger than second tree size {size2}")]
    SizesOutOfOrder {
        /// First (older) tree size.
        size1: u64,
        /// Second (newer) tree size.
        size2: u64,
    },
    /// `[start, end)` is not a subtree (draft-ietf-plants-merkle-tree-certs §4.1).
    #[error("[{start}, {end}) is not a valid subtree")]
    InvalidSubtree {
        /// First leaf index.
        start: u64,
        /// End (exclusive).
        end: u64,
    },
    /// A compact range was given the wrong number of border hashes for its size.
    #[error("a compact range of size {size} needs {want} border hashes, got {got}")]
    CompactRangeShape {
        /// Tree size.
        size: u64,
        /// Hashes needed (number of set bits of the size).
        want: usize,
        /// Hashes given.
        got: usize,
    },
    /// The tree cannot grow further.
    #[error("the tree is full (2^64 - 1 leaves)")]
    Full,
    /// The hash source failed (storage error, missing node).
    #[error("hash source: {0}")]
    Source(String),
}

/// Which hash of a verification input had the wrong length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashField {
    /// The leaf hash.
    Leaf,
    /// The (second) root.
    Root,
    /// The first root of a consistency proof.
    Root1,
    /// Element `n` (from 0) of the proof.
    Proof(usize),
}

impl std::fmt::Display for HashField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashField::Leaf => f.write_str("leaf hash"),
            HashField::Root => f.write_str("root hash"),
            HashField::Root1 => f.write_str("first root hash"),
            HashField::Proof(i) => write!(f, "proof hash {i}"),
        }
    }
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// RFC 9162 §2.1.3.2 step 1: `leaf_index >= tree_size`.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The second tree is smaller than the first.
    #[error("second tree size {size2} is smaller than first tree size {size1}")]
    SizesOutOfOrder {
        /// First tree size.
        size1: u64,
        /// Second tree size.
        size2: u64,
    },
    /// A consistency proof from the empty tree proves nothing and is refused.
    #[error("a consistency proof from the empty tree proves nothing")]
    EmptyFirstTree,
    /// An input hash does not have the algorithm's length.
    #[error("{field} has {got} bytes, expected {HASH_LEN}")]
    HashLength {
        /// Which input.
        field: HashField,
        /// Its length.
        got: usize,
    },
    /// `[start, end)` is not a subtree (draft-ietf-plants-merkle-tree-certs §4.1).
    #[error("[{start}, {end}) is not a valid subtree")]
    InvalidSubtree {
        /// First leaf index.
        start: u64,
        /// End (exclusive).
        end: u64,
    },
    /// The proof has the wrong number of hashes for the tree sizes.
    #[error("proof has {got} hashes, expected {want}")]
    WrongProofLength {
        /// Hashes given.
        got: usize,
        /// Hashes the sizes imply.
        want: usize,
    },
    /// The root calculated from the proof is not the expected (second) root.
    #[error("calculated root does not match the expected root")]
    RootMismatch,
    /// RFC 9162 §2.1.4.2 step 7: the calculated first root is not the first tree's root.
    #[error("calculated first root does not match the first tree's root")]
    Root1Mismatch,
}

/// Leaf hashes, and optionally cached complete-subtree hashes, of a log.
pub trait HashSource {
    /// The tree hasher of the log.
    fn hasher(&self) -> TreeHasher;

    /// Number of leaves available.
    fn size(&self) -> u64;

    /// Hash of leaf `index` (`index < size()`).
    fn leaf_hash(&self, index: u64) -> Result<Hash, TreeError>;

    /// Root of the complete subtree of height `level` over leaves
    /// `[index << level, (index + 1) << level)`, which lies within `size()`.
    ///
    /// The default recomputes it from the leaves (O(2^level)); stores that cache interior nodes
    /// should override it.
    fn perfect_subtree_hash(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        if level == 0 {
            return self.leaf_hash(index);
        }
        let left = self.perfect_subtree_hash(level - 1, 2 * index)?;
        let right = self.perfect_subtree_hash(level - 1, 2 * index + 1)?;
        Ok(self.hasher().hash_children(&left, &right))
    }
}

/// The largest power of two strictly smaller than `n` (`n >= 2`), RFC 9162 §2.1.1's `k`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])` for a range that RFC 9162's recursion produces (`start` is a multiple of a
/// power of two not smaller than `end - start`): the range splits into complete subtrees, largest
/// first, folded from the right.
fn range_hash<S: HashSource + ?Sized>(store: &S, start: u64, end: u64) -> Result<Hash, TreeError> {
    let hasher = store.hasher();
    if start == end {
        return Ok(hasher.empty_root());
    }
    let mut parts = Vec::with_capacity(64);
    let mut at = start;
    while at < end {
        let level = 63 - (end - at).leading_zeros();
        parts.push(store.perfect_subtree_hash(level, at >> level)?);
        at += 1u64 << level;
    }
    let mut iter = parts.into_iter().rev();
    let mut acc = iter.next().unwrap_or_else(|| hasher.empty_root());
    for left in iter {
        acc = hasher.hash_children(&left, &acc);
    }
    Ok(acc)
}

/// RFC 9162 §2.1.1 `MTH(D[n])` over a list of leaf hashes, computed by the RFC's recursion.
pub fn mth(alg: HashAlg, leaves: &[Hash]) -> Hash {
    let hasher = TreeHasher::new(alg);
    fn rec(h: &TreeHasher, leaves: &[Hash]) -> Hash {
        match leaves {
            [] => h.empty_root(),
            [leaf] => *leaf,
            _ => {
                let k = usize::try_from(split_point(leaves.len() as u64)).unwrap_or(usize::MAX);
                let (l, r) = leaves.split_at(k);
                h.hash_children(&rec(h, l), &rec(h, r))
            }
        }
    }
    rec(&hasher, leaves)
}

/// Root of the first `tree_size` leaves of `store`.
pub fn root_at<S: HashSource + ?Sized>(store: &S, tree_size: u64) -> Result<Hash, TreeError> {
    check_size(store, tree_size)?;
    range_hash(store, 0, tree_size)
}

fn check_size<S: HashSource + ?Sized>(store: &S, size: u64) -> Result<(), TreeError> {
    let available = store.size();
    if size > available {
        return Err(TreeError::SizeOutOfRange { size, available });
    }
    Ok(())
}

/// RFC 9162 §2.1.3.1: the inclusion proof (`PATH`) for leaf `leaf_index` in the tree of the first
/// `tree_size` leaves, ordered from the leaf's sibling up to the root's child.
pub fn inclusion_proof<S: HashSource + ?Sized>(
    leaf_index: u64,
    tree_size: u64,
    store: &S,
) -> Result<Vec<Hash>, TreeError> {
    check_size(store, tree_size)?;
    if leaf_index >= tree_size {
        return Err(TreeError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    path_in_range(store, leaf_index, 0, tree_size)
}

/// `PATH` for leaf `leaf_index` within the aligned range `[a, b)`.
fn path_in_range<S: HashSource + ?Sized>(
    store: &S,
    leaf_index: u64,
    mut a: u64,
    mut b: u64,
) -> Result<Vec<Hash>, TreeError> {
    // PATH(m, D[a:b]) = PATH(m, D[a:a+k]) : MTH(D[a+k:b])   if m < a + k
    //                 = PATH(m, D[a+k:b]) : MTH(D[a:a+k])   otherwise
    // Walk down from the root collecting the siblings, then reverse (the RFC appends them last).
    let mut proof = Vec::new();
    while b - a > 1 {
        let k = split_point(b - a);
        if leaf_index < a + k {
            proof.push(range_hash(store, a + k, b)?);
            b = a + k;
        } else {
            proof.push(range_hash(store, a, a + k)?);
            a += k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Whether `[start, end)` is a subtree in the sense of draft-ietf-plants-merkle-tree-certs §4.1:
/// `start <= end` and `start` is a multiple of the smallest power of two not below `end - start`.
pub fn is_valid_subtree(start: u64, end: u64) -> bool {
    if start > end {
        return false;
    }
    let len = end - start;
    if start == 0 || len == 0 {
        return true;
    }
    len <= 1 << 63 && start & (len.next_power_of_two() - 1) == 0
}

/// Root (`MTH`) of the subtree `[start, end)` of `store`.
pub fn subtree_root<S: HashSource + ?Sized>(
    store: &S,
    start: u64,
    end: u64,
) -> Result<Hash, TreeError> {
    if !is_valid_subtree(start, end) {
        return Err(TreeError::InvalidSubtree { start, end });
    }
    check_size(store, end)?;
    range_hash(store, start, end)
}

/// Inclusion proof of leaf `leaf_index` in the subtree `[start, end)` (draft-ietf-plants-merkle-tree-certs
/// §4.3): the RFC 9162 `PATH` of the subtree's leaves.
pub fn subtree_inclusion_proof<S: HashSource + ?Sized>(
    leaf_index: u64,
    start: u64,
    end: u64,
    store: &S,
) -> Result<Vec<Hash>, TreeError> {
    if !is_valid_subtree(start, end) {
        return Err(TreeError::InvalidSubtree { start, end });
    }
    check_size(store, end)?;
    if leaf_index < start || leaf_index >= end {
        return Err(TreeError::IndexOutOfRange {
            index: leaf_index,
            size: end,
        });
    }
    path_in_range(store, leaf_index, start, end)
}

/// RFC 9162 §2.1.4.1: the consistency proof (`PROOF(m, D[n])`) between the trees of the first
/// `size1` and `size2` leaves. Empty when `size1 == size2` or `size1 == 0` (nothing to prove).
pub fn consistency_proof<S: HashSource + ?Sized>(
    size1: u64,
    size2: u64,
    store: &S,
) -> Result<Vec<Hash>, TreeError> {
    check_size(store, size2)?;
    if size1 > size2 {
        return Err(TreeError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 || size1 == size2 {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[a:b], flag):
    //   m == b:     {} if flag, else {MTH(D[a:b])}
    //   m <= a + k: SUBPROOF(m, D[a:a+k], flag) : MTH(D[a+k:b])
    //   otherwise:  SUBPROOF(m, D[a+k:b], false) : MTH(D[a:a+k])
    let (mut a, mut b, mut whole) = (0u64, size2, true);
    let mut proof = Vec::new();
    loop {
        if size1 == b {
            if !whole {
                proof.push(range_hash(store, a, b)?);
            }
            break;
        }
        let k = split_point(b - a);
        if size1 <= a + k {
            proof.push(range_hash(store, a + k, b)?);
            b = a + k;
        } else {
            proof.push(range_hash(store, a, a + k)?);
            a += k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// An in-memory log that keeps the hash of every complete subtree: `levels[0]` holds the leaf
/// hashes, `levels[h][i]` the root of leaves `[i << h, (i + 1) << h)`. About 2n hashes for n leaves.
#[derive(Debug, Clone)]
pub struct MemoryTree {
    hasher: TreeHasher,
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree over `alg`.
    pub fn new(alg: HashAlg) -> Self {
        MemoryTree {
            hasher: TreeHasher::new(alg),
            levels: vec![Vec::new()],
        }
    }

    /// Appends an entry (hashing it as a leaf) and returns its index.
    pub fn append_entry(&mut self, entry: &[u8]) -> u64 {
        let leaf = self.hasher.hash_leaf(entry);
        self.append_leaf_hash(leaf)
    }

    /// Appends a leaf hash and returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        let mut node = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(node);
            if row.len() % 2 == 1 {
                break;
            }
            let right = row[row.len() - 1];
            let left = row[row.len() - 2];
            node = self.hasher.hash_children(&left, &right);
            level += 1;
        }
        index
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Root of the whole tree, from the last complete subtree of each level.
    pub fn root(&self) -> Hash {
        let mut acc: Option<Hash> = None;
        for row in &self.levels {
            if row.len() % 2 == 1 {
                if let Some(node) = row.last() {
                    acc = Some(match acc {
                        None => *node,
                        Some(right) => self.hasher.hash_children(node, &right),
                    });
                }
            }
        }
        acc.unwrap_or_else(|| self.hasher.empty_root())
    }

    /// Root of the first `tree_size` leaves.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, TreeError> {
        root_at(self, tree_size)
    }

    /// [`inclusion_proof`] over this tree.
    pub fn inclusion_proof(&self, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>, TreeError> {
        inclusion_proof(leaf_index, tree_size, self)
    }

    /// [`consistency_proof`] over this tree.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, TreeError> {
        consistency_proof(size1, size2, self)
    }

    /// The right border of the tree (see [`CompactRange`]), for resuming an appender.
    pub fn compact_range(&self) -> CompactRange {
        let mut nodes = Vec::new();
        for row in self.levels.iter().rev() {
            if row.len() % 2 == 1 {
                if let Some(node) = row.last() {
                    nodes.push(*node);
                }
            }
        }
        CompactRange {
            hasher: self.hasher,
            size: self.size(),
            nodes,
        }
    }

    fn node(&self, level: u32, index: u64) -> Option<&Hash> {
        let row = self.levels.get(usize::try_from(level).ok()?)?;
        row.get(usize::try_from(index).ok()?)
    }
}

impl HashSource for MemoryTree {
    fn hasher(&self) -> TreeHasher {
        self.hasher
    }

    fn size(&self) -> u64 {
        MemoryTree::size(self)
    }

    fn leaf_hash(&self, index: u64) -> Result<Hash, TreeError> {
        self.perfect_subtree_hash(0, index)
    }

    fn perfect_subtree_hash(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        self.node(level, index).copied().ok_or_else(|| {
            TreeError::Source(format!(
                "no complete subtree at level {level}, index {index}"
            ))
        })
    }
}

/// The right border of a tree: the roots of its complete subtrees, largest (leftmost) first, one per
/// set bit of the size. Enough to append leaves and compute every new root without the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactRange {
    hasher: TreeHasher,
    size: u64,
    nodes: Vec<Hash>,
}

impl CompactRange {
    /// The border of the empty tree.
    pub fn new(alg: HashAlg) -> Self {
        CompactRange {
            hasher: TreeHasher::new(alg),
            size: 0,
            nodes: Vec::new(),
        }
    }

    /// Resumes from a stored border (`nodes.len()` must be the number of set bits of `size`).
    pub fn from_parts(alg: HashAlg, size: u64, nodes: Vec<Hash>) -> Result<Self, TreeError> {
        let want = size.count_ones() as usize;
        if nodes.len() != want {
            return Err(TreeError::CompactRangeShape {
                size,
                want,
                got: nodes.len(),
            });
        }
        Ok(CompactRange {
            hasher: TreeHasher::new(alg),
            size,
            nodes,
        })
    }

    /// Number of leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The border hashes, largest subtree first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// The hash algorithm.
    pub fn alg(&self) -> HashAlg {
        self.hasher.alg()
    }

    /// Appends an entry (hashed as a leaf); returns its leaf hash.
    pub fn append_entry(&mut self, entry: &[u8]) -> Result<Hash, TreeError> {
        let leaf = self.hasher.hash_leaf(entry);
        self.append_leaf_hash(leaf)?;
        Ok(leaf)
    }

    /// Appends a leaf hash.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Result<(), TreeError> {
        self.append_leaf_hash_visit(leaf, |_, _, _| {})
    }

    /// Appends a leaf hash and reports every complete subtree it completes — the leaf itself at
    /// level 0, then each new interior node — as `(level, index, hash)`, where the subtree covers
    /// leaves `[index << level, (index + 1) << level)`. A store that keeps these has every hash a
    /// [`HashSource::perfect_subtree_hash`] can ask for.
    pub fn append_leaf_hash_visit(
        &mut self,
        leaf: Hash,
        mut visit: impl FnMut(u32, u64, &Hash),
    ) -> Result<(), TreeError> {
        let new_size = self.size.checked_add(1).ok_or(TreeError::Full)?;
        visit(0, self.size, &leaf);
        // Each trailing one bit of the old size is a complete subtree the new leaf completes.
        let merges = self.size.trailing_ones();
        let mut node = leaf;
        for level in 1..=merges {
            let left = self
                .nodes
                .pop()
                .ok_or_else(|| TreeError::Source("compact range lost a border hash".into()))?;
            node = self.hasher.hash_children(&left, &node);
            visit(level, self.size >> level, &node);
        }
        self.nodes.push(node);
        self.size = new_size;
        Ok(())
    }

    /// Appends a whole perfect subtree of `2^level` leaves by its root hash — what a verifier
    /// that hashed a block of leaves on several cores adds in one step. The subtree must be a node
    /// of the tree: the size so far must be a multiple of `2^level`, else
    /// [`TreeError::InvalidSubtree`] and nothing changes.
    pub fn append_subtree_hash(&mut self, level: u32, root: Hash) -> Result<(), TreeError> {
        let width = 1u64.checked_shl(level).unwrap_or(0);
        if width == 0 || !self.size.is_multiple_of(width) {
            return Err(TreeError::InvalidSubtree {
                start: self.size,
                end: self.size.saturating_add(width),
            });
        }
        let new_size = self.size.checked_add(width).ok_or(TreeError::Full)?;
        // As for one leaf, one level up: each trailing one bit of the size counted in subtrees of
        // this width is a border node the new subtree completes.
        let merges = (self.size >> level).trailing_ones();
        let mut node = root;
        for _ in 0..merges {
            let left = self
                .nodes
                .pop()
                .ok_or_else(|| TreeError::Source("compact range lost a border hash".into()))?;
            node = self.hasher.hash_children(&left, &node);
        }
        self.nodes.push(node);
        self.size = new_size;
        Ok(())
    }

    /// Root of the tree: the border folded from the right.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return self.hasher.empty_root();
        };
        let mut acc = *last;
        for left in iter {
            acc = self.hasher.hash_children(left, &acc);
        }
        acc
    }
}

fn to_hash(bytes: &[u8], field: HashField) -> Result<Hash, ProofError> {
    Hash::try_from(bytes).map_err(|_| ProofError::HashLength {
        field,
        got: bytes.len(),
    })
}

fn proof_hashes<P: AsRef<[u8]>>(proof: &[P]) -> Result<Vec<Hash>, ProofError> {
    proof
        .iter()
        .enumerate()
        .map(|(i, p)| to_hash(p.as_ref(), HashField::Proof(i)))
        .collect()
}

/// Number of hashes in an inclusion proof for `index` in a tree of `size` (`index < size`).
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    // Levels below the point where the paths to `index` and `size - 1` diverge, then one left
    // sibling per set bit above it.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Number of hashes in a consistency proof between sizes `0 < size1 < size2`.
pub fn consistency_proof_len(size1: u64, size2: u64) -> usize {
    let fork = 64 - ((size1 - 1) ^ (size2 - 1)).leading_zeros();
    let border = ((size1 - 1) >> fork).count_ones();
    let shift = size1.trailing_zeros();
    let seed = usize::from(!size1.is_power_of_two());
    seed + (fork - shift + border) as usize
}

/// RFC 9162 §2.1.3.2: verifies that `leaf_hash` is leaf `leaf_index` of the tree of size
/// `tree_size` with root `root`, given the inclusion proof `proof` (ordered bottom-up).
pub fn verify_inclusion<P: AsRef<[u8]>>(
    alg: HashAlg,
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    let hasher = TreeHasher::new(alg);
    // 1. leaf_index >= tree_size fails.
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let leaf = to_hash(leaf_hash, HashField::Leaf)?;
    let root = to_hash(root, HashField::Root)?;
    let path = proof_hashes(proof)?;
    let want = inclusion_proof_len(leaf_index, tree_size);
    let wrong_length = ProofError::WrongProofLength {
        got: path.len(),
        want,
    };
    if path.len() != want {
        return Err(wrong_length);
    }
    // 2. fn = leaf_index, sn = tree_size - 1. 3. r = hash.
    let (mut f_n, mut s_n) = (leaf_index, tree_size - 1);
    let mut r = leaf;
    // 4. For each p in inclusion_path:
    for p in &path {
        // a. sn == 0 fails.
        if s_n == 0 {
            return Err(wrong_length);
        }
        // b. LSB(fn) set or fn == sn: r = HASH(0x01 || p || r), then shift until LSB(fn) or fn == 0.
        if f_n & 1 == 1 || f_n == s_n {
            r = hasher.hash_children(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            // Otherwise r = HASH(0x01 || r || p).
            r = hasher.hash_children(&r, p);
        }
        // c. Shift both once.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5. sn must be 0 and r must be the root.
    if s_n != 0 {
        return Err(wrong_length);
    }
    if r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that `leaf_hash` is leaf `leaf_index` of the subtree `[start, end)` with root `root`
/// (draft-ietf-plants-merkle-tree-certs §4.3): the subtree must be valid, `start <= leaf_index < end`,
/// and the proof is checked as an RFC 9162 §2.1.3.2 proof for index `leaf_index - start` in a tree
/// of size `end - start`.
pub fn verify_subtree_inclusion<P: AsRef<[u8]>>(
    alg: HashAlg,
    leaf_index: u64,
    start: u64,
    end: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if leaf_index < start || leaf_index >= end {
        return Err(ProofError::IndexOutOfRange {
            index: leaf_index,
            size: end,
        });
    }
    verify_inclusion(alg, leaf_index - start, end - start, leaf_hash, proof, root)
}

/// RFC 9162 §2.1.4.2: verifies that the tree of size `size2` with root `root2` extends the tree of
/// size `size1` with root `root1`, given the consistency proof `proof`.
///
/// Outside the RFC's `0 < size1 < size2`: `size1 == size2` needs an empty proof and byte-equal
/// roots; `size1 == 0` is refused ([`ProofError::EmptyFirstTree`]).
pub fn verify_consistency<P: AsRef<[u8]>>(
    alg: HashAlg,
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ProofError> {
    let hasher = TreeHasher::new(alg);
    if size2 < size1 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::EmptyFirstTree);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let first = to_hash(root1, HashField::Root1)?;
    let second = to_hash(root2, HashField::Root)?;
    let given = proof_hashes(proof)?;
    let want = consistency_proof_len(size1, size2);
    let wrong_length = ProofError::WrongProofLength {
        got: given.len(),
        want,
    };
    // 1. An empty consistency_path fails.
    if given.is_empty() || given.len() != want {
        return Err(wrong_length);
    }
    // 2. If first is an exact power of 2, prepend first_hash.
    let mut path = Vec::with_capacity(given.len() + 1);
    if size1.is_power_of_two() {
        path.push(first);
    }
    path.extend(given);
    // 3. fn = first - 1, sn = second - 1.
    let (mut f_n, mut s_n) = (size1 - 1, size2 - 1);
    // 4. If LSB(fn) is set, shift both until it is not.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5. fr = sr = the first value of the path.
    let Some((seed, rest)) = path.split_first() else {
        return Err(wrong_length);
    };
    let (mut fr, mut sr) = (*seed, *seed);
    // 6. For each subsequent value c:
    for c in rest {
        // a. sn == 0 fails.
        if s_n == 0 {
            return Err(wrong_length);
        }
        // b. LSB(fn) set or fn == sn: fold c in on the left of both; then shift until LSB(fn) or fn == 0.
        if f_n & 1 == 1 || f_n == s_n {
            fr = hasher.hash_children(c, &fr);
            sr = hasher.hash_children(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            // Otherwise sr = HASH(0x01 || sr || c).
            sr = hasher.hash_children(&sr, c);
        }
        // c. Shift both once.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 7. fr == first_hash, sr == second_hash, sn == 0.
    if s_n != 0 {
        return Err(wrong_length);
    }
    if fr != first {
        return Err(ProofError::Root1Mismatch);
    }
    if sr != second {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(alg: HashAlg, n: u64) -> MemoryTree {
        let mut t = MemoryTree::new(alg);
        for i in 0..n {
            t.append_entry(&i.to_be_bytes());
        }
        t
    }

    /// A source with only leaf hashes: exercises the trait's default subtree recursion.
    struct Leaves(TreeHasher, Vec<Hash>);
    impl HashSource for Leaves {
        fn hasher(&self) -> TreeHasher {
            self.0
        }
        fn size(&self) -> u64 {
            self.1.len() as u64
        }
        fn leaf_hash(&self, index: u64) -> Result<Hash, TreeError> {
            self.1
                .get(index as usize)
                .copied()
                .ok_or(TreeError::IndexOutOfRange {
                    index,
                    size: self.size(),
                })
        }
    }

    #[test]
    fn roots_agree_across_implementations() {
        for alg in [HashAlg::Sha256, HashAlg::Sm3] {
            let t = tree(alg, 70);
            let leaves: Vec<Hash> = t.levels[0].clone();
            let plain = Leaves(TreeHasher::new(alg), leaves.clone());
            let mut cr = CompactRange::new(alg);
            assert_eq!(cr.root(), TreeHasher::new(alg).empty_root());
            for n in 0..=70u64 {
                let want = mth(alg, &leaves[..n as usize]);
                assert_eq!(t.root_at(n).unwrap(), want, "memory tree, n={n}");
                assert_eq!(root_at(&plain, n).unwrap(), want, "leaf source, n={n}");
                assert_eq!(cr.root(), want, "compact range, n={n}");
                assert_eq!(cr.nodes().len(), n.count_ones() as usize);
                let mut prefix = MemoryTree::new(alg);
                for l in &leaves[..n as usize] {
                    prefix.append_leaf_hash(*l);
                }
                assert_eq!(prefix.root(), want);
                assert_eq!(prefix.compact_range(), cr);
                if n < 70 {
                    cr.append_leaf_hash(leaves[n as usize]).unwrap();
                }
            }
            for (i, j) in [(0, 70), (5, 70), (13, 64), (64, 70)] {
                for k in i..j {
                    assert_eq!(
                        t.inclusion_proof(k, j).unwrap(),
                        inclusion_proof(k, j, &plain).unwrap()
                    );
                }
                assert_eq!(
                    t.consistency_proof(i, j).unwrap(),
                    consistency_proof(i, j, &plain).unwrap()
                );
            }
        }
    }

    /// A source answering only from the `(level, index)` hashes an appender reported: proofs built
    /// from it equal the memory tree's, so a store keeping those hashes can serve every proof.
    struct Reported(TreeHasher, u64, std::collections::HashMap<(u32, u64), Hash>);
    impl HashSource for Reported {
        fn hasher(&self) -> TreeHasher {
            self.0
        }
        fn size(&self) -> u64 {
            self.1
        }
        fn leaf_hash(&self, index: u64) -> Result<Hash, TreeError> {
            self.perfect_subtree_hash(0, index)
        }
        fn perfect_subtree_hash(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
            self.2
                .get(&(level, index))
                .copied()
                .ok_or_else(|| TreeError::Source(format!("node ({level}, {index}) not reported")))
        }
    }

    #[test]
    fn appender_reports_every_complete_subtree() {
        for alg in [HashAlg::Sha256, HashAlg::Sm3] {
            let t = tree(alg, 45);
            let mut cr = CompactRange::new(alg);
            let mut nodes = std::collections::HashMap::new();
            for leaf in t.levels[0].clone() {
                cr.append_leaf_hash_visit(leaf, |level, index, hash| {
                    assert!(nodes.insert((level, index), *hash).is_none());
                })
                .unwrap();
            }
            // A tree of n leaves has 2n - popcount(n) complete subtrees.
            assert_eq!(nodes.len() as u64, 2 * 45 - 45u64.count_ones() as u64);
            let src = Reported(TreeHasher::new(alg), 45, nodes);
            for n in 1..=45u64 {
                assert_eq!(root_at(&src, n).unwrap(), t.root_at(n).unwrap());
                for k in 0..n {
                    assert_eq!(
                        inclusion_proof(k, n, &src).unwrap(),
                        t.inclusion_proof(k, n).unwrap()
                    );
                }
                for m in 0..=n {
                    assert_eq!(
                        consistency_proof(m, n, &src).unwrap(),
                        t.consistency_proof(m, n).unwrap()
                    );
                }
            }
        }
    }

    #[test]
    fn appending_a_subtree_by_its_root_equals_appending_its_leaves() {
        for alg in [HashAlg::Sha256, HashAlg::Sm3] {
            let t = tree(alg, 100);
            let leaves = &t.levels[0];
            // Blocks of mixed widths, each aligned where it starts, 100 leaves in all.
            let mut by_leaf = CompactRange::new(alg);
            let mut by_block = CompactRange::new(alg);
            for level in [2u32, 2, 3, 4, 0, 0, 1, 2, 3, 4, 5, 2] {
                let start = usize::try_from(by_block.size()).unwrap();
                let block = &leaves[start..start + (1 << level)];
                for leaf in block {
                    by_leaf.append_leaf_hash(*leaf).unwrap();
                }
                by_block
                    .append_subtree_hash(level, mth(alg, block))
                    .unwrap();
                assert_eq!(by_block, by_leaf, "after a block of 2^{level} at {start}");
                assert_eq!(by_block.root(), t.root_at(by_block.size()).unwrap());
            }
            // A block that would not be a node of the tree is refused and changes nothing.
            let before = by_block.clone();
            assert_eq!(by_block.size(), 100);
            assert_eq!(
                by_block.append_subtree_hash(3, [0; 32]),
                Err(TreeError::InvalidSubtree {
                    start: 100,
                    end: 108
                })
            );
            assert_eq!(
                by_block.append_subtree_hash(64, [0; 32]),
                Err(TreeError::InvalidSubtree {
                    start: 100,
                    end: 100
                })
            );
            assert_eq!(by_block, before);
        }
    }

    #[test]
    fn compact_range_resumes_and_checks_its_shape() {
        let t = tree(HashAlg::Sha256, 11);
        let cr = t.compact_range();
        let mut resumed =
            CompactRange::from_parts(HashAlg::Sha256, 11, cr.nodes().to_vec()).unwrap();
        resumed.append_entry(&11u64.to_be_bytes()).unwrap();
        assert_eq!(resumed.root(), tree(HashAlg::Sha256, 12).root());
        assert_eq!(
            CompactRange::from_parts(HashAlg::Sha256, 11, vec![[0; 32]; 2]),
            Err(TreeError::CompactRangeShape {
                size: 11,
                want: 3,
                got: 2
            })
        );
    }

    #[test]
    fn generation_refuses_bad_ranges() {
        let t = tree(HashAlg::Sha256, 5);
        assert_eq!(
            t.inclusion_proof(5, 5),
            Err(TreeError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            t.inclusion_proof(0, 6),
            Err(TreeError::SizeOutOfRange {
                size: 6,
                available: 5
            })
        );
        assert_eq!(
            t.consistency_proof(4, 3),
            Err(TreeError::SizesOutOfOrder { size1: 4, size2: 3 })
        );
        assert_eq!(t.consistency_proof(0, 5), Ok(vec![]));
        assert_eq!(t.consistency_proof(5, 5), Ok(vec![]));
    }

    #[test]
    fn every_proof_of_small_trees_verifies_and_lengths_match() {
        for alg in [HashAlg::Sha256, HashAlg::Sm3] {
            let t = tree(alg, 40);
            for n in 1..=40u64 {
                let root = t.root_at(n).unwrap();
                for i in 0..n {
                    let p = t.inclusion_proof(i, n).unwrap();
                    assert_eq!(p.len(), inclusion_proof_len(i, n));
                    let leaf = t.leaf_hash(i).unwrap();
                    verify_inclusion(alg, i, n, &leaf, &p, &root).unwrap();
                    let mut bad = root;
                    bad[0] ^= 1;
                    assert_eq!(
                        verify_inclusion(alg, i, n, &leaf, &p, &bad),
                        Err(ProofError::RootMismatch)
                    );
                }
                for m in 1..=n {
                    let p = t.consistency_proof(m, n).unwrap();
                    if m < n {
                        assert_eq!(p.len(), consistency_proof_len(m, n), "m={m} n={n}");
                    }
                    let r1 = t.root_at(m).unwrap();
                    verify_consistency(alg, m, n, &p, &r1, &root).unwrap();
                }
            }
        }
    }

    #[test]
    fn verification_errors_are_typed() {
        let alg = HashAlg::Sha256;
        let t = tree(alg, 8);
        let root = t.root();
        let leaf = t.leaf_hash(3).unwrap();
        let p = t.inclusion_proof(3, 8).unwrap();
        assert_eq!(
            verify_inclusion(alg, 8, 8, &leaf, &p, &root),
            Err(ProofError::IndexOutOfRange { index: 8, size: 8 })
        );
        assert_eq!(
            verify_inclusion(alg, 3, 8, &leaf, &p[..2], &root),
            Err(ProofError::WrongProofLength { got: 2, want: 3 })
        );
        assert_eq!(
            verify_inclusion(alg, 3, 8, &leaf[..31], &p, &root),
            Err(ProofError::HashLength {
                field: HashField::Leaf,
                got: 31
            })
        );
        assert_eq!(
            verify_inclusion(alg, 2, 8, &leaf, &p, &root),
            Err(ProofError::RootMismatch)
        );
        let r5 = t.root_at(5).unwrap();
        let c = t.consistency_proof(5, 8).unwrap();
        verify_consistency(alg, 5, 8, &c, &r5, &root).unwrap();
        assert_eq!(
            verify_consistency(alg, 5, 8, &c, &root, &root),
            Err(ProofError::Root1Mismatch)
        );
        assert_eq!(
            verify_consistency(alg, 5, 8, &c, &r5, &r5),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(alg, 0, 8, &c, &r5, &root),
            Err(ProofError::EmptyFirstTree)
        );
        assert_eq!(
            verify_consistency(alg, 8, 5, &c, &r5, &root),
            Err(ProofError::SizesOutOfOrder { size1: 8, size2: 5 })
        );
        assert!(matches!(
            verify_consistency::<Hash>(alg, 5, 8, &[], &r5, &root),
            Err(ProofError::WrongProofLength { got: 0, .. })
        ));
    }

    #[test]
    fn subtree_proofs_verify_and_invalid_subtrees_are_refused() {
        let alg = HashAlg::Sha256;
        let t = tree(alg, 13);
        for (start, end) in [(0, 13), (8, 13), (8, 12), (12, 13), (4, 7), (0, 3), (6, 8)] {
            assert!(is_valid_subtree(start, end));
            let root = subtree_root(&t, start, end).unwrap();
            let leaves: Vec<Hash> = (start..end).map(|i| t.leaf_hash(i).unwrap()).collect();
            assert_eq!(root, mth(alg, &leaves));
            for i in start..end {
                let p = subtree_inclusion_proof(i, start, end, &t).unwrap();
                let leaf = t.leaf_hash(i).unwrap();
                verify_subtree_inclusion(alg, i, start, end, &leaf, &p, &root).unwrap();
            }
        }
        for (start, end) in [(3, 5), (1, 3), (2, 5), (4, 9), (2, 1)] {
            assert!(!is_valid_subtree(start, end), "[{start}, {end})");
            assert_eq!(
                subtree_root(&t, start, end),
                Err(TreeError::InvalidSubtree { start, end })
            );
        }
        assert!(!is_valid_subtree(1, 1 + (1 << 63) + 1));
        let leaf = t.leaf_hash(1).unwrap();
        assert_eq!(
            verify_subtree_inclusion::<Hash>(alg, 1, 2, 4, &leaf, &[], &leaf),
            Err(ProofError::IndexOutOfRange { index: 1, size: 4 })
        );
    }

    /// Proofs over a million leaves verify against the root of the compact range. (Their speed
    /// is measured in the audit benchmark, docs/benchmarks.md, not asserted here.)
    #[test]
    fn a_million_leaf_tree_gives_proofs_that_verify() {
        let alg = HashAlg::Sha256;
        let n = 1_000_000u64;
        let mut t = MemoryTree::new(alg);
        let mut cr = CompactRange::new(alg);
        for i in 0..n {
            let leaf = TreeHasher::new(alg).hash_leaf(&i.to_le_bytes());
            t.append_leaf_hash(leaf);
            cr.append_leaf_hash(leaf).unwrap();
        }
        let root = t.root();
        assert_eq!(cr.root(), root);
        for i in (0..n).step_by(9_973) {
            let p = t.inclusion_proof(i, n).unwrap();
            verify_inclusion(alg, i, n, &t.leaf_hash(i).unwrap(), &p, &root).unwrap();
            let size1 = i + 1;
            let c = t.consistency_proof(size1, n).unwrap();
            verify_consistency(alg, size1, n, &c, &t.root_at(size1).unwrap(), &root).unwrap();
        }
    }
}
