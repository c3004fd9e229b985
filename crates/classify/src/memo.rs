//! Results of a pure function of a cell value, kept per column for the values already seen.
//!
//! Columns such as sex, department, hospital or diagnosis repeat a few hundred values millions of
//! times in a full scan, and each value costs some forty value tests, a special-disease search
//! and a free-text search. A memo is bounded to [`MEMO_CAP`] values and switches itself off when
//! a column turns out to repeat too little for the lookups to pay; either way the answer is the
//! function's, so a memo changes the cost of a scan and never its report.

use std::hash::BuildHasher;

/// Distinct values whose results a memo keeps.
pub(crate) const MEMO_CAP: usize = 4096;
/// Lookups after which a memo that answered fewer than half of them stops being used.
pub(crate) const MEMO_PROBATION: u64 = 20_000;

/// The hash of a cell value, for the memos and the distinct-value set alike, so that a value
/// the memo does not know is hashed once for both: foldhash (the `quality` variant, whose output
/// is used as it is) with a fixed seed, so the distinct count of a scan does not depend on the
/// run. Hash flooding can only make a scan slower: memos and the distinct-value set are bounded.
pub(crate) fn value_hash(v: &str) -> u64 {
    const STATE: foldhash::quality::FixedState =
        foldhash::quality::FixedState::with_seed(0x6d65_6473_7061_6365);
    STATE.hash_one(v)
}

/// Whether `a == b`, for the short keys of memos without a `memcmp` call: keys of up to 64 bytes
/// (Chinese names of hospitals, employers and short addresses included) are compared as
/// (possibly overlapping) 8-byte words. The `memcmp` calls of the key comparisons were a larger
/// share of a full scan than the hashing.
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // The 8 bytes from `i` as a word; `None` past the end (never for the offsets below).
    let word = |s: &[u8], i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(s.get(i..i + 8)?.try_into().ok()?))
    };
    let words_equal = |offsets: &[usize]| offsets.iter().all(|&i| word(a, i) == word(b, i));
    match n {
        0..=7 => a == b,
        8..=16 => words_equal(&[0, n - 8]),
        17..=32 => words_equal(&[0, 8, n - 16, n - 8]),
        33..=64 => words_equal(&[0, 8, 16, 24, n - 32, n - 24, n - 16, n - 8]),
        _ => a == b,
    }
}

/// The results of a function for up to [`MEMO_CAP`] distinct values.
#[derive(Debug, Clone)]
pub(crate) struct Memo<T> {
    /// Keys with their results, found by [`value_hash`] (kept beside the key, so the table never
    /// hashes a key again when it grows).
    known: hashbrown::HashTable<(u64, Box<str>, T)>,
    lookups: u64,
    hits: u64,
    off: bool,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo {
            known: hashbrown::HashTable::new(),
            lookups: 0,
            hits: 0,
            off: false,
        }
    }
}

impl<T> Memo<T> {
    /// A memo that computes every value, as a column whose values hardly repeat ends up with.
    #[cfg(test)]
    pub(crate) fn switched_off() -> Memo<T> {
        Memo {
            off: true,
            ..Memo::default()
        }
    }

    /// Whether the memo gave up on its column (every value is then computed afresh).
    pub(crate) fn is_off(&self) -> bool {
        self.off
    }

    /// The result of `compute` for `key`, whose [`value_hash`] is `hash`, computed only if `key` is
    /// not known, and whether it was known (then `key` has been looked up before). `compute` must
    /// depend on `key` alone.
    pub(crate) fn get_hashed(
        &mut self,
        key: &str,
        hash: u64,
        compute: impl FnOnce() -> T,
    ) -> (T, bool)
    where
        T: Copy,
    {
        let mut known = true;
        let value = self.with_hashed(
            key,
            hash,
            || {
                known = false;
                compute()
            },
            |value| *value,
        );
        (value, known)
    }

    /// Calls `then` with the result of `compute` for `key`, computing it only if `key` is not
    /// known. `compute` must depend on `key` alone.
    pub(crate) fn with<R>(
        &mut self,
        key: &str,
        compute: impl FnOnce() -> T,
        then: impl FnOnce(&T) -> R,
    ) -> R {
        if self.off {
            return then(&compute());
        }
        self.with_hashed(key, value_hash(key), compute, then)
    }

    /// [`Memo::with`] for a key whose [`value_hash`] is `hash`.
    fn with_hashed<R>(
        &mut self,
        key: &str,
        hash: u64,
        compute: impl FnOnce() -> T,
        then: impl FnOnce(&T) -> R,
    ) -> R {
        if self.off {
            return then(&compute());
        }
        self.lookups += 1;
        let found = self.known.find(hash, |(h, k, _)| {
            *h == hash && same(k.as_bytes(), key.as_bytes())
        });
        if let Some((_, _, known)) = found {
            self.hits += 1;
            return then(known);
        }
        let value = compute();
        let out = then(&value);
        if self.known.len() < MEMO_CAP {
            self.known
                .insert_unique(hash, (hash, key.into(), value), |(h, _, _)| *h);
        }
        if self.lookups >= MEMO_PROBATION && self.hits * 2 < self.lookups {
            self.off = true;
            self.known = hashbrown::HashTable::new();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_the_functions_whether_known_or_not() {
        let mut memo: Memo<usize> = Memo::default();
        let mut computed = 0;
        for i in 0..10 {
            let key = if i % 2 == 0 { "ab" } else { "abc" };
            let got = memo.with(
                key,
                || {
                    computed += 1;
                    key.len()
                },
                |n| *n,
            );
            assert_eq!(got, key.len());
        }
        assert_eq!(computed, 2, "each distinct value computed once");
    }

    /// The word-wise comparison of short keys is `==`: keys of every length up to 40 bytes that
    /// differ in one byte anywhere, or only in length, are told apart.
    #[test]
    fn short_keys_compare_as_equal_exactly_when_they_are() {
        for n in 0..=72usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(same(&a, &a.clone()), "{n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x80;
                assert!(!same(&a, &b), "{n} bytes, byte {i}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same(&a, &longer) && !same(&longer, &a), "{n}");
        }
        // A memo keeps values that share a hash apart by their keys.
        let mut memo: Memo<usize> = Memo::default();
        assert_eq!(memo.get_hashed("男", 7, || 1), (1, false));
        assert_eq!(memo.get_hashed("女", 7, || 2), (2, false));
        assert_eq!(memo.get_hashed("男", 7, || 3), (1, true));
        assert_eq!(memo.get_hashed("女", 7, || 4), (2, true));
    }

    #[test]
    fn switches_off_for_columns_that_hardly_repeat() {
        let mut memo: Memo<usize> = Memo::default();
        for i in 0..MEMO_PROBATION + 10 {
            let key = i.to_string();
            assert_eq!(memo.with(&key, || key.len(), |n| *n), key.len());
        }
        assert!(memo.is_off());
        assert!(memo.known.is_empty());
        assert_eq!(memo.with("12", || 2, |n| *n), 2);
    }
}
