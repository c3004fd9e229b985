//! Results of a pure function of a cell value, kept per column for the values already seen.
//!
//! Columns such as sex, department, hospital or diagnosis repeat a few hundred values millions of
//! times in a full scan, and each value costs some forty value tests, a special-disease search
//! and a free-text search. A memo is bounded to [`MEMO_CAP`] values and switches itself off when
//! a column turns out to repeat too little for the lookups to pay; either way the answer is the
//! function's, so a memo changes the cost of a scan and never its report.

use std::collections::HashMap;

/// Distinct values whose results a memo keeps.
pub(crate) const MEMO_CAP: usize = 4096;
/// Lookups after which a memo that answered fewer than half of them stops being used.
pub(crate) const MEMO_PROBATION: u64 = 20_000;

/// The results of a function for up to [`MEMO_CAP`] distinct values.
#[derive(Debug, Clone)]
pub(crate) struct Memo<T> {
    /// foldhash rather than SipHash: hashing the key was most of the cost of a lookup, and a memo
    /// is bounded, so hash flooding can only make a scan slower, never use more memory.
    known: HashMap<Box<str>, T, foldhash::fast::RandomState>,
    lookups: u64,
    hits: u64,
    off: bool,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo {
            known: HashMap::default(),
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

    /// The result of `compute` for `key`, computed only if `key` is not known, and whether it
    /// was known (then `key` has been looked up before). `compute` must depend on `key` alone.
    pub(crate) fn get(&mut self, key: &str, compute: impl FnOnce() -> T) -> (T, bool)
    where
        T: Copy,
    {
        let mut known = true;
        let value = self.with(
            key,
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
        self.lookups += 1;
        if let Some(known) = self.known.get(key) {
            self.hits += 1;
            return then(known);
        }
        let value = compute();
        let out = then(&value);
        if self.known.len() < MEMO_CAP {
            self.known.insert(key.into(), value);
        }
        if self.lookups >= MEMO_PROBATION && self.hits * 2 < self.lookups {
            self.off = true;
            self.known = HashMap::default();
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
