//! Seeded reservoir sampling of data rows for classification (GB/T 39725-2020 §6: the grading of
//! a column must describe the whole column, not its first rows; T/CI 857-2024 6.2.2: the catalog
//! entry describes the dataset).
//!
//! Files are often sorted (by date, by department, by patient), so the first rows of a file are
//! a biased sample: a column whose first thousand values are empty, or all from one clinic, can be
//! misclassified. [`Reservoir`] keeps a uniform random sample of `capacity` rows of a stream of
//! unknown length (Vitter's Algorithm R: row `n` replaces a random slot with probability
//! `capacity / n`), with a ChaCha8 generator seeded from a fixed seed so that the same file
//! always gives the same sample and the same report. Rows are kept with their 1-based data-row
//! number and returned in file order, so spans name real rows and a file with at most `capacity`
//! rows is sampled whole, in order.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Seed of the default sample: the same file always yields the same sample and report.
pub const DEFAULT_SAMPLE_SEED: u64 = 0x6d65_6473_7061_6365; // "medspace"

/// A uniform random sample of at most `capacity` items of a stream, with their row numbers.
#[derive(Debug)]
pub struct Reservoir<T> {
    capacity: usize,
    seen: u64,
    items: Vec<(u64, T)>,
    rng: ChaCha8Rng,
}

impl<T> Reservoir<T> {
    /// An empty reservoir of `capacity` rows, drawing from a generator seeded with `seed`.
    pub fn new(capacity: usize, seed: u64) -> Self {
        Reservoir {
            capacity,
            seen: 0,
            items: Vec::with_capacity(capacity.min(1 << 16)),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Counts the next row (row numbers start at 1) and says whether it enters the sample; when
    /// it does, `make` builds the item (so rows that are skipped cost no allocation).
    pub fn offer_with(&mut self, make: impl FnOnce() -> T) -> bool {
        self.seen += 1;
        let row = self.seen;
        if self.items.len() < self.capacity {
            self.items.push((row, make()));
            return true;
        }
        if self.capacity == 0 {
            return false;
        }
        let j = self.rng.gen_range(0..row);
        match usize::try_from(j) {
            Ok(slot) if slot < self.capacity => {
                if let Some(s) = self.items.get_mut(slot) {
                    *s = (row, make());
                }
                true
            }
            _ => false,
        }
    }

    /// Rows offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The sample, in file order, with 1-based row numbers.
    pub fn into_sorted(self) -> Vec<(u64, T)> {
        let mut items = self.items;
        items.sort_unstable_by_key(|(row, _)| *row);
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_streams_are_kept_whole_and_in_order() {
        let mut r = Reservoir::new(10, DEFAULT_SAMPLE_SEED);
        for i in 0..7u32 {
            assert!(r.offer_with(|| i));
        }
        let s = r.into_sorted();
        assert_eq!(s.len(), 7);
        assert_eq!(s.first(), Some(&(1, 0)));
        assert_eq!(s.last(), Some(&(7, 6)));
    }

    #[test]
    fn the_sample_reaches_past_the_first_rows_and_is_reproducible() {
        let sample = |seed| {
            let mut r = Reservoir::new(100, seed);
            for i in 0..10_000u32 {
                r.offer_with(|| i);
            }
            assert_eq!(r.seen(), 10_000);
            r.into_sorted()
        };
        let a = sample(DEFAULT_SAMPLE_SEED);
        assert_eq!(a.len(), 100);
        // Uniform: about half the sample from each half of the stream, not the first 100 rows.
        let late = a.iter().filter(|(row, _)| *row > 5_000).count();
        assert!(
            (30..=70).contains(&late),
            "{late} of 100 from the second half"
        );
        assert!(a.windows(2).all(|w| w[0].0 < w[1].0), "file order");
        assert!(a.iter().all(|(row, v)| u64::from(*v) + 1 == *row));
        // Same seed, same sample; another seed, another sample.
        assert_eq!(a, sample(DEFAULT_SAMPLE_SEED));
        assert_ne!(a, sample(7));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut r = Reservoir::new(0, 1);
        assert!(!r.offer_with(|| 1));
        assert!(r.into_sorted().is_empty());
    }
}
