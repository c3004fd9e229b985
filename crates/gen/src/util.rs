//! Helpers shared by the generators: weighted choice with integer weights, and allocation-free
//! formatting of numbers, dates and money into reusable buffers.
//!
//! Only integer arithmetic and IEEE basic operations (`+ - * /`, `round`) are used on random
//! draws, so output is byte-identical across platforms for the same seed.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rand::Rng;

/// A table of cumulative integer weights for O(log n) weighted choice.
#[derive(Debug, Clone)]
pub(crate) struct Weighted {
    cum: Vec<u64>,
}

impl Weighted {
    /// Builds from weights; zero weights are never chosen.
    pub(crate) fn new(weights: impl IntoIterator<Item = u64>) -> Self {
        let mut total = 0u64;
        let cum = weights
            .into_iter()
            .map(|w| {
                total = total.saturating_add(w);
                total
            })
            .collect();
        Weighted { cum }
    }

    /// Index of the chosen item; 0 for an empty or all-zero table.
    pub(crate) fn pick<R: Rng>(&self, rng: &mut R) -> usize {
        let total = self.cum.last().copied().unwrap_or(0);
        if total == 0 {
            return 0;
        }
        let x = rng.gen_range(0..total);
        self.cum.partition_point(|&c| c <= x)
    }
}

/// A draw in `[0, 1000)`, for per-mille probabilities.
pub(crate) fn permille<R: Rng>(rng: &mut R) -> u32 {
    rng.gen_range(0..1000)
}

/// Uniform choice from a non-empty slice of static strings (`""` for an empty one).
pub(crate) fn choose<R: Rng>(rng: &mut R, items: &[&'static str]) -> &'static str {
    if items.is_empty() {
        return "";
    }
    items
        .get(rng.gen_range(0..items.len()))
        .copied()
        .unwrap_or("")
}

/// SplitMix64 finaliser: a fixed, well-mixed hash of a 64-bit value.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Appends `n` zero-padded to at least `width` digits.
pub(crate) fn push_padded(buf: &mut String, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    for _ in len..width {
        buf.push('0');
    }
    for &d in digits.get(i..).unwrap_or_default() {
        buf.push(char::from(d));
    }
}

/// Appends `n` without padding.
pub(crate) fn push_u64(buf: &mut String, n: u64) {
    push_padded(buf, n, 1);
}

/// Appends `YYYY-MM-DD`.
pub(crate) fn push_date(buf: &mut String, d: NaiveDate) {
    push_padded(buf, u64::try_from(d.year()).unwrap_or(0), 4);
    buf.push('-');
    push_padded(buf, u64::from(d.month()), 2);
    buf.push('-');
    push_padded(buf, u64::from(d.day()), 2);
}

/// Appends `YYYYMMDD`.
pub(crate) fn push_date_compact(buf: &mut String, d: NaiveDate) {
    push_padded(buf, u64::try_from(d.year()).unwrap_or(0), 4);
    push_padded(buf, u64::from(d.month()), 2);
    push_padded(buf, u64::from(d.day()), 2);
}

/// Appends `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn push_datetime(buf: &mut String, t: NaiveDateTime) {
    push_date(buf, t.date());
    buf.push(' ');
    push_padded(buf, u64::from(t.hour()), 2);
    buf.push(':');
    push_padded(buf, u64::from(t.minute()), 2);
    buf.push(':');
    push_padded(buf, u64::from(t.second()), 2);
}

/// Appends an amount in cents as yuan with two decimals (`12345` → `123.45`).
pub(crate) fn push_cents(buf: &mut String, cents: u64) {
    push_u64(buf, cents / 100);
    buf.push('.');
    push_padded(buf, cents % 100, 2);
}

/// Chinese numeral for 1–10 (第一 … 第十).
pub(crate) fn chinese_numeral(n: u32) -> &'static str {
    const NUMS: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];
    NUMS.get(n.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("一")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn formatting() {
        let mut s = String::new();
        push_padded(&mut s, 7, 3);
        s.push('|');
        push_padded(&mut s, 12345, 3);
        s.push('|');
        push_u64(&mut s, 0);
        s.push('|');
        push_cents(&mut s, 5);
        s.push('|');
        push_cents(&mut s, 123_456);
        s.push('|');
        push_u64(&mut s, u64::MAX);
        assert_eq!(s, format!("007|12345|0|0.05|1234.56|{}", u64::MAX));
        let mut d = String::new();
        let t = NaiveDate::from_ymd_opt(2024, 3, 5)
            .unwrap()
            .and_hms_opt(7, 8, 9)
            .unwrap();
        push_datetime(&mut d, t);
        d.push('|');
        push_date_compact(&mut d, t.date());
        assert_eq!(d, "2024-03-05 07:08:09|20240305");
    }

    #[test]
    fn weighted_choice_follows_weights_and_skips_zeros() {
        let w = Weighted::new([0, 1, 0, 3]);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut counts = [0u32; 4];
        for _ in 0..4000 {
            counts[w.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[0], 0);
        assert_eq!(counts[2], 0);
        assert!((800..1200).contains(&counts[1]), "{counts:?}");
        assert_eq!(Weighted::new([]).pick(&mut rng), 0);
        assert_eq!(chinese_numeral(3), "三");
    }
}
