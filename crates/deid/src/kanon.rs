//! k-anonymity check of the output.
//!
//! GB/T 39725-2020 §10.2 e) ("at least 5 people share all attribute values") and §11.4.2.4
//! (minimum count principle: every description matches no fewer than 5 people, otherwise
//! generalise further). Records are grouped into equivalence classes by their output
//! quasi-identifier values; the check passes when every class has at least k records.
//!
//! Memory is one counter per distinct combination. Combinations are held as 128-bit keyed
//! SipHash-2-4 tags of the length-prefixed values, under a random key drawn once per process,
//! so a class costs the same 24 bytes whatever the values' size and the counter holds no cell
//! values. SipHash is a pseudorandom function: as long as the key stays in the process, two
//! distinct combinations share a tag with probability 2⁻¹²⁸ whatever the input (among 10⁹
//! classes, a collision anywhere below 10⁻²⁰), and no input can be crafted to make two classes
//! collide or to pile classes into one bucket of the counter's table. It replaces a truncated
//! SHA-256 digest, which cost twice as much per record in the record-level runs that count the
//! input's classes record by record (docs/benchmarks.md, issue 6).

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use siphasher::sip128::{Hasher128, SipHasher24};

/// A class's key: the keyed 128-bit SipHash-2-4 tag of its length-prefixed values.
pub(crate) type ClassKey = [u8; 16];

/// Maps keyed by [`ClassKey`]s. The keys are outputs of a PRF under a secret key (or indices
/// the engine assigned), so a fast unseeded hash of them cannot be steered by the input.
pub(crate) type ClassKeyMap<V> = HashMap<ClassKey, V, rustc_hash::FxBuildHasher>;

/// A hasher under the process's class-key key (random, drawn on first use, never written out).
fn class_hasher() -> SipHasher24 {
    static KEY: OnceLock<[u8; 16]> = OnceLock::new();
    SipHasher24::new_with_key(KEY.get_or_init(rand::random))
}

/// The class key of `encoded`: values each preceded by its length as 8 little-endian bytes.
fn key_of_encoded(encoded: &[u8]) -> ClassKey {
    let mut h = class_hasher();
    h.write(encoded);
    h.finish128().as_bytes()
}

/// Result of the k-anonymity check. Counts only: no values, no class contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KAnonymityReport {
    /// Required minimum class size.
    pub k: usize,
    /// Output columns the records were grouped by.
    pub quasi_identifiers: Vec<String>,
    /// Number of distinct quasi-identifier combinations.
    pub equivalence_classes: u64,
    /// Size of the smallest class (0 when there are no records).
    pub smallest_class: u64,
    /// Classes with fewer than k records.
    pub classes_below_k: u64,
    /// Records in those classes (the records that would need suppression or more generalisation).
    pub records_in_classes_below_k: u64,
    /// True when no class is below k. An empty output passes: it describes nobody.
    pub passed: bool,
}

/// Partitions of a counter's table, chosen by a key's first byte (keys are PRF tags or
/// indices, so their first bytes are spread evenly).
pub(crate) const PARTITIONS: usize = 256;

/// The partition of a counter's table that holds `key`.
pub(crate) fn partition_of(key: &ClassKey) -> usize {
    usize::from(key[0])
}

/// Counts records per quasi-identifier combination, one record at a time.
#[derive(Debug, Clone)]
pub struct KAnonymityCounter {
    k: usize,
    quasi_identifiers: Vec<String>,
    /// Records per class, in [`PARTITIONS`] tables by [`partition_of`]: a batch of keys of one
    /// partition, added one after the other, lands in one table a few hundred kilobytes at
    /// most, still in the core's cache from one key to the next, where keys
    /// spread over one large table each cost a cache miss. Input classes of a record-level run
    /// are often as many as the records, and those misses were its largest cost after the
    /// HMACs (docs/benchmarks.md, issue 6).
    classes: Vec<ClassKeyMap<u64>>,
}

impl KAnonymityCounter {
    /// A counter for classes of at least `k` over the named quasi-identifier columns.
    pub fn new(k: usize, quasi_identifiers: Vec<String>) -> Self {
        KAnonymityCounter {
            k,
            quasi_identifiers,
            classes: (0..PARTITIONS).map(|_| HashMap::default()).collect(),
        }
    }

    /// Adds one record, given its quasi-identifier values in the order of `quasi_identifiers`.
    pub fn add<'a, I: IntoIterator<Item = &'a str>>(&mut self, values: I) {
        self.add_key(Self::class_key(values), 1);
    }

    /// The digest a record's class is counted under, computed apart from the counter so that
    /// workers can hash in parallel and one counter takes the keys.
    pub(crate) fn class_key<'a, I: IntoIterator<Item = &'a str>>(values: I) -> ClassKey {
        let mut h = class_hasher();
        for v in values {
            // Length prefix: ("ab","c") and ("a","bc") are different classes.
            h.write(&(v.len() as u64).to_le_bytes());
            h.write(v.as_bytes());
        }
        h.finish128().as_bytes()
    }

    /// A class key for a caller that has already told the classes apart: distinct indices are
    /// distinct classes. A counter takes either these keys or digests, never both.
    pub(crate) fn index_key(index: u64) -> ClassKey {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&index.to_le_bytes());
        key
    }

    /// Adds `n` records by their [`KAnonymityCounter::class_key`].
    pub(crate) fn add_key(&mut self, key: ClassKey, n: u64) {
        if let Some(table) = self.classes.get_mut(partition_of(&key)) {
            *table.entry(key).or_insert(0) += n;
        }
    }

    /// Records per class, class by class.
    fn counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.classes.iter().flat_map(|t| t.values().copied())
    }

    /// Number of classes.
    fn class_count(&self) -> usize {
        self.classes.iter().map(HashMap::len).sum()
    }

    /// Records per class (no values), for the risk figures.
    pub fn class_sizes(&self) -> Vec<usize> {
        self.counts()
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .collect()
    }

    /// The check's result so far.
    pub fn report(&self) -> KAnonymityReport {
        let k = self.k as u64;
        let classes = self.class_count();
        let mut smallest = u64::MAX;
        let (mut below, mut below_records) = (0u64, 0u64);
        for n in self.counts() {
            smallest = smallest.min(n);
            if n < k {
                below += 1;
                below_records += n;
            }
        }
        KAnonymityReport {
            k: self.k,
            quasi_identifiers: self.quasi_identifiers.clone(),
            equivalence_classes: classes as u64,
            smallest_class: if classes == 0 { 0 } else { smallest },
            classes_below_k: below,
            records_in_classes_below_k: below_records,
            passed: below == 0,
        }
    }
}

/// Records per class over a batch of records (one worker's chunk), keyed by the class's encoded
/// values, so that a batch costs one class key per distinct class instead of one per record: a
/// de-identified output has few classes. The values live only until [`ClassTally::drain_into`].
#[derive(Debug, Default)]
pub(crate) struct ClassTally {
    encoded: Vec<u8>,
    /// Keyed by input values: seeded hashing (foldhash), not Fx.
    counts: HashMap<Vec<u8>, u64, foldhash::fast::RandomState>,
}

impl ClassTally {
    /// Counts one record, given its quasi-identifier values.
    pub(crate) fn add<'a, I: IntoIterator<Item = &'a str>>(&mut self, values: I) {
        self.encoded.clear();
        for v in values {
            // The bytes `class_key` hashes, so the tag of the encoding is the class key.
            self.encoded
                .extend_from_slice(&(v.len() as u64).to_le_bytes());
            self.encoded.extend_from_slice(v.as_bytes());
        }
        match self.counts.get_mut(self.encoded.as_slice()) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(self.encoded.clone(), 1);
            }
        }
    }

    /// Adds the batch's classes to `counter` and forgets their values.
    pub(crate) fn drain_into(&mut self, counter: &mut KAnonymityCounter) {
        for (encoded, n) in self.counts.drain() {
            counter.add_key(key_of_encoded(&encoded), n);
        }
    }

    /// True when nothing was counted since the last drain.
    pub(crate) fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(k: usize, rows: &[[&str; 2]]) -> KAnonymityReport {
        let mut c = KAnonymityCounter::new(k, vec!["sex".into(), "age".into()]);
        for r in rows {
            c.add(r.iter().copied());
        }
        c.report()
    }

    #[test]
    fn passing_table() {
        let mut rows = vec![["男", "30-34"]; 5];
        rows.extend(vec![["女", "30-34"]; 6]);
        rows.extend(vec![["女", "<25"]; 7]);
        let r = count(5, &rows);
        assert_eq!(r.equivalence_classes, 3);
        assert_eq!(r.smallest_class, 5);
        assert_eq!(r.classes_below_k, 0);
        assert_eq!(r.records_in_classes_below_k, 0);
        assert!(r.passed);
        assert_eq!(r.quasi_identifiers, ["sex", "age"]);
    }

    #[test]
    fn failing_table() {
        // §11.4.2.4's example: a group of 4 is below 5.
        let mut rows = vec![["男", "30-34"]; 5];
        rows.extend(vec![["女", "30-34"]; 4]);
        rows.extend(vec![["女", ">89"]; 1]);
        let r = count(5, &rows);
        assert_eq!(r.equivalence_classes, 3);
        assert_eq!(r.smallest_class, 1);
        assert_eq!(r.classes_below_k, 2);
        assert_eq!(r.records_in_classes_below_k, 5);
        assert!(!r.passed);
        // The same table passes at k = 1 and fails at k = 6 for all classes.
        assert!(count(1, &rows).passed);
        assert_eq!(count(6, &rows).classes_below_k, 3);
    }

    #[test]
    fn values_are_not_concatenated_ambiguously() {
        let r = count(2, &[["ab", "c"], ["a", "bc"]]);
        assert_eq!(r.equivalence_classes, 2);
        assert!(!r.passed);
    }

    #[test]
    fn a_tally_counts_like_the_counter() {
        let rows = [
            ["男", "30-34"],
            ["女", "30-34"],
            ["男", "30-34"],
            ["ab", "c"],
            ["a", "bc"],
        ];
        let mut direct = KAnonymityCounter::new(2, vec!["sex".into(), "age".into()]);
        let mut tallied = KAnonymityCounter::new(2, vec!["sex".into(), "age".into()]);
        let mut tally = ClassTally::default();
        for (i, r) in rows.iter().enumerate() {
            direct.add(r.iter().copied());
            tally.add(r.iter().copied());
            if i == 2 {
                tally.drain_into(&mut tallied);
                assert!(tally.is_empty());
            }
        }
        tally.drain_into(&mut tallied);
        assert_eq!(tallied.report(), direct.report());
        let (mut a, mut b) = (tallied.class_sizes(), direct.class_sizes());
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        assert_eq!(tallied.classes, direct.classes);
    }

    proptest::proptest! {
        /// The counter keys a record value by value and the tally keys its encoding at once:
        /// both must give the same key for the same values, and different keys when the values
        /// differ, even where their concatenations agree.
        #[test]
        fn keys_of_values_and_of_their_encoding_agree(
            a in proptest::collection::vec(".{0,12}", 0..5),
            b in proptest::collection::vec(".{0,12}", 0..5),
        ) {
            let key = |values: &[String]| KAnonymityCounter::class_key(values.iter().map(String::as_str));
            let mut tally = ClassTally::default();
            tally.add(a.iter().map(String::as_str));
            proptest::prop_assert_eq!(key_of_encoded(&tally.encoded), key(&a));
            proptest::prop_assert_eq!(key(&a) == key(&b), a == b);
        }
    }

    #[test]
    fn empty_output_passes_with_zero_classes() {
        let r = count(5, &[]);
        assert_eq!(
            (r.equivalence_classes, r.smallest_class, r.classes_below_k),
            (0, 0, 0)
        );
        assert!(r.passed);
    }
}
