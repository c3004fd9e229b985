//! Per-column de-identification transforms, as pure functions of one cell.
//!
//! GB/T 39725-2020 §10.2 a)–c) and Table 6: delete or blank direct identifiers, mask contact
//! details, pseudonymise record keys (§10.2 f: a patient code index kept by the controller),
//! generalise ages (§10.2 c) 2): age bands), dates (§10.2 c) 3): "only to the year, or time
//! shift") and places (§10.2 c) 1): lower digits set to `0`); Appendix G, Table G.1 lists which
//! data elements take which method. T/CI 857-2024 6.5.4 a): dates follow GB/T 7408 (ISO 8601).
//!
//! Every function here looks at one cell (plus, for age bands, a reference date, and for date
//! shifts, the subject's offset), so a columnar engine can call them unchanged. Errors describe
//! what was expected and never contain the value.

use std::num::NonZeroU32;

use chrono::{Datelike, Days, NaiveDate, NaiveTime};
use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use crate::keys::MacAlgorithm;

type HmacSha256 = Hmac<Sha256>;
type HmacSm3 = Hmac<sm3::Sm3>;

/// Why a cell could not be transformed. Never carries the cell value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The cell is not an ISO 8601 calendar date or date-time.
    #[error(
        "expected a date `YYYY-MM-DD` or a date-time `YYYY-MM-DD HH:MM:SS` (ISO 8601 / GB/T 7408; a `T` separator and fractional seconds are accepted)"
    )]
    NotADate,
    /// An age was asked for at a reference date before the birth date.
    #[error("the birth date lies after the reference date, so no age can be computed")]
    BirthAfterReference,
    /// Shifting the date would leave the years 0001–9999.
    #[error("the shifted date would fall outside the years 0001–9999")]
    ShiftOutOfRange,
}

/// HMAC-SHA-256 with a 32-byte key.
///
/// The key is zero-padded to the 64-byte SHA-256 block, which is exactly what HMAC (RFC 2104)
/// does with a short key; doing it here makes construction infallible.
pub fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    KeyedHmac::new(key).mac(message)
}

/// HMAC-SHA-256 or HMAC-SM3 (by crypto profile, [`MacAlgorithm`]) keyed once: the key's inner
/// and outer pads are hashed at construction, and every [`KeyedHmac::mac`] starts from a copy
/// of that state, which halves the compressions of a short message (the per-row pseudonyms and
/// date offsets of a large file).
///
/// The state is as good as the key for computing MACs, so it lives only as long as one run.
#[derive(Clone)]
pub struct KeyedHmac {
    mac: KeyedState,
}

#[derive(Clone)]
enum KeyedState {
    Sha256(HmacSha256),
    Sm3(HmacSm3),
}

impl std::fmt::Debug for KeyedHmac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHmac(..)")
    }
}

impl KeyedHmac {
    /// HMAC-SHA-256 under a 32-byte key (zero-padded to the block, as HMAC does with a short
    /// key).
    pub fn new(key: &[u8; 32]) -> Self {
        Self::with(MacAlgorithm::HmacSha256, key)
    }

    /// `algorithm` under a 32-byte key. SHA-256 and SM3 both have 64-byte blocks, so the
    /// zero-padded key is the block itself and construction cannot fail.
    pub fn with(algorithm: MacAlgorithm, key: &[u8; 32]) -> Self {
        let mut block = [0u8; 64];
        for (b, k) in block.iter_mut().zip(key.iter()) {
            *b = *k;
        }
        let mac = match algorithm {
            MacAlgorithm::HmacSha256 => {
                KeyedState::Sha256(<HmacSha256 as Mac>::new(&GenericArray::from(block)))
            }
            MacAlgorithm::HmacSm3 => {
                KeyedState::Sm3(<HmacSm3 as Mac>::new(&GenericArray::from(block)))
            }
        };
        zeroize::Zeroize::zeroize(&mut block);
        KeyedHmac { mac }
    }

    /// The MAC of `message` under the key (32 bytes for both algorithms), on a copy of the
    /// keyed state.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        self.clone().mac_in_place(message)
    }

    /// [`KeyedHmac::mac`] computed on this state itself, which is then reset to the keyed state:
    /// a worker's own copy of the key needs no copy of the whole HMAC state per message (two
    /// such copies per record were a measurable share of a record-level run).
    pub fn mac_in_place(&mut self, message: &[u8]) -> [u8; 32] {
        match &mut self.mac {
            KeyedState::Sha256(m) => {
                m.update(message);
                m.finalize_reset().into_bytes().into()
            }
            KeyedState::Sm3(m) => {
                m.update(message);
                m.finalize_reset().into_bytes().into()
            }
        }
    }
}

/// Pseudonymises a value: HMAC-SHA-256 under the project's pseudonym key, first 16 bytes as
/// 32 lowercase hex characters, after `prefix`.
///
/// Deterministic within a key (the same patient keeps the same code across files of one
/// project, §10.2 f), unlinkable across keys. The value is used byte for byte: callers that
/// want `x` and `X` in ID numbers to match must normalise first.
pub fn pseudonymize(key: &[u8; 32], prefix: &str, value: &str) -> String {
    pseudonymize_with(MacAlgorithm::HmacSha256, key, prefix, value)
}

/// [`pseudonymize`] with the MAC of the crypto profile (HMAC-SM3 in the national one).
pub fn pseudonymize_with(
    algorithm: MacAlgorithm,
    key: &[u8; 32],
    prefix: &str,
    value: &str,
) -> String {
    let mut out = String::with_capacity(prefix.len() + 32);
    pseudonymize_into(&KeyedHmac::with(algorithm, key), prefix, value, &mut out);
    out
}

/// [`pseudonymize`] under a key prepared once, appended to `out`.
pub fn pseudonymize_into(key: &KeyedHmac, prefix: &str, value: &str, out: &mut String) {
    pseudonym_of_mac(&key.mac(value.as_bytes()), prefix, out);
}

/// [`pseudonymize_into`] on a worker's own copy of the key ([`KeyedHmac::mac_in_place`]).
pub fn pseudonymize_in_place(key: &mut KeyedHmac, prefix: &str, value: &str, out: &mut String) {
    pseudonym_of_mac(&key.mac_in_place(value.as_bytes()), prefix, out);
}

/// The pseudonym of a value whose MAC is `digest`, appended to `out`.
fn pseudonym_of_mac(digest: &[u8; 32], prefix: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str(prefix);
    for &b in digest.iter().take(16) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}

/// How `mask` hides a value: characters (not bytes) kept at each end and the replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaskSpec {
    /// Characters kept at the start.
    pub keep_first: usize,
    /// Characters kept at the end.
    pub keep_last: usize,
    /// Character written for every hidden character.
    pub mask_char: char,
}

impl Default for MaskSpec {
    fn default() -> Self {
        MaskSpec {
            keep_first: 0,
            keep_last: 0,
            mask_char: '*',
        }
    }
}

/// Masks a value character by character (UTF-8 aware: `张小明` with one kept at each end is
/// `张*明`). The result has as many characters as the value.
///
/// At least one character is always hidden: when the value is not longer than
/// `keep_first + keep_last`, fewer characters are kept (first from the end, then from the
/// start), so `张三` with one kept at each end becomes `张*`, never `张三`. Empty stays empty.
pub fn mask(value: &str, spec: &MaskSpec) -> String {
    let mut out = String::with_capacity(value.len());
    mask_into(value, spec, &mut out);
    out
}

/// [`mask`], appended to `out`.
pub fn mask_into(value: &str, spec: &MaskSpec, out: &mut String) {
    let n = if value.is_ascii() {
        value.len()
    } else {
        value.chars().count()
    };
    if n == 0 {
        return;
    }
    let keep = n - 1; // at most this many characters may stay visible
    let first = spec.keep_first.min(keep);
    let last = spec.keep_last.min(keep - first);
    if value.is_ascii() {
        // Byte positions are character positions here.
        out.push_str(value.get(..first).unwrap_or(""));
        out.extend(std::iter::repeat_n(spec.mask_char, n - first - last));
        out.push_str(value.get(n - last..).unwrap_or(""));
        return;
    }
    for (i, c) in value.chars().enumerate() {
        if i < first || i >= n - last {
            out.push(c);
        } else {
            out.push(spec.mask_char);
        }
    }
}

/// Keeps the first `length` characters; with `pad`, right-pads the result back to the value's
/// character length (county code `330106`, length 4, pad `0` → `330100`, §10.2 c) 1)).
/// Values not longer than `length` are returned unchanged.
pub fn truncate(value: &str, length: usize, pad: Option<char>) -> String {
    let mut out = String::with_capacity(value.len());
    truncate_into(value, length, pad, &mut out);
    out
}

/// [`truncate`], appended to `out`.
pub fn truncate_into(value: &str, length: usize, pad: Option<char>, out: &mut String) {
    let n = if value.is_ascii() {
        value.len()
    } else {
        value.chars().count()
    };
    if n <= length {
        out.push_str(value);
        return;
    }
    match value.char_indices().nth(length) {
        Some((end, _)) => out.push_str(value.get(..end).unwrap_or("")),
        None => out.push_str(value),
    }
    if let Some(p) = pad {
        out.extend(std::iter::repeat_n(p, n - length));
    }
}

/// A parsed date or date-time cell: the calendar date and the untouched remainder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateCell<'a> {
    /// The calendar date (first ten characters).
    pub date: NaiveDate,
    /// Everything after the date, separator included (`""`, `" 08:30:00"`, `"T08:30:00.5"`),
    /// validated as a time of day and kept verbatim so the output has the input's format.
    pub rest: &'a str,
}

/// Parses `YYYY-MM-DD`, optionally followed by ` ` or `T` and `HH:MM:SS` (fractional seconds
/// allowed) or `HH:MM`.
pub fn parse_date_cell(value: &str) -> Result<DateCell<'_>, TransformError> {
    let (date_part, rest) = match (value.get(..10), value.get(10..)) {
        (Some(d), Some(r)) => (d, r),
        _ => return Err(TransformError::NotADate),
    };
    let b = date_part.as_bytes();
    let shape_ok = b.iter().enumerate().all(|(i, &c)| match i {
        4 | 7 => c == b'-',
        _ => c.is_ascii_digit(),
    });
    if !shape_ok {
        return Err(TransformError::NotADate);
    }
    // The shape is fixed, so the fields are read directly instead of through a format string
    // (the same result as `%Y-%m-%d`, checked by a test, at a fraction of the cost).
    let digits = |from: usize, to: usize| {
        b.get(from..to)
            .unwrap_or_default()
            .iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    let year = i32::try_from(digits(0, 4)).map_err(|_| TransformError::NotADate)?;
    let date = NaiveDate::from_ymd_opt(year, digits(5, 7), digits(8, 10))
        .ok_or(TransformError::NotADate)?;
    if !rest.is_empty() && !is_plain_time(rest) {
        let time = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('T'))
            .ok_or(TransformError::NotADate)?;
        let ok = NaiveTime::parse_from_str(time, "%H:%M:%S%.f").is_ok()
            || NaiveTime::parse_from_str(time, "%H:%M").is_ok();
        if !ok {
            return Err(TransformError::NotADate);
        }
    }
    Ok(DateCell { date, rest })
}

/// ` HH:MM:SS` or `THH:MM:SS` with an ordinary (non-leap) second: the common form, accepted
/// without the format-string parser. Anything else goes through it.
fn is_plain_time(rest: &str) -> bool {
    let b = rest.as_bytes();
    if b.len() != 9 || !matches!(b[0], b' ' | b'T') || b[3] != b':' || b[6] != b':' {
        return false;
    }
    let two = |i: usize| {
        let (h, l) = (b[i], b[i + 1]);
        (h.is_ascii_digit() && l.is_ascii_digit()).then(|| (h - b'0') * 10 + (l - b'0'))
    };
    matches!((two(1), two(4), two(7)), (Some(h), Some(m), Some(s)) if h < 24 && m < 60 && s < 60)
}

/// Appends a date as `YYYY-MM-DD`, refusing years outside 1–9999 (they would not round-trip).
fn push_date(date: NaiveDate, out: &mut String) -> Result<(), TransformError> {
    let year = date.year();
    if !(1..=9999).contains(&year) {
        return Err(TransformError::ShiftOutOfRange);
    }
    let mut buf = [b'0'; 10];
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (0..width).rev() {
            if let Some(slot) = buf.get_mut(at + i) {
                // n % 10 < 10, so the digit is ASCII.
                *slot = b'0' + (n % 10) as u8;
            }
            n /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, date.month());
    put(8, 2, date.day());
    buf[4] = b'-';
    buf[7] = b'-';
    for &c in &buf {
        out.push(char::from(c));
    }
    Ok(())
}

/// Generalises a date or date-time to its year, `YYYY` (§10.2 c) 3)).
pub fn year(value: &str) -> Result<String, TransformError> {
    let cell = parse_date_cell(value)?;
    Ok(format!("{:04}", cell.date.year()))
}

/// The per-subject date offset in days: HMAC-SHA-256 of the subject value under the project's
/// date-shift key, mapped uniformly onto `[-max, -1] ∪ [1, max]` (never 0).
///
/// The same subject always gets the same offset within a project, so all of a subject's
/// intervals survive (Table 6: admission and discharge both shifted by the same amount keep
/// their 90-day difference). Uniformity comes from rejection sampling over the four 64-bit
/// words of the MAC.
pub fn date_shift_offset(key: &[u8; 32], subject: &str, max_days: NonZeroU32) -> i64 {
    date_shift_offset_keyed(&KeyedHmac::new(key), subject, max_days)
}

/// [`date_shift_offset`] under a key prepared once.
pub fn date_shift_offset_keyed(key: &KeyedHmac, subject: &str, max_days: NonZeroU32) -> i64 {
    offset_of_mac(&key.mac(subject.as_bytes()), max_days)
}

/// [`date_shift_offset_keyed`] on a worker's own copy of the key ([`KeyedHmac::mac_in_place`]).
pub fn date_shift_offset_in_place(key: &mut KeyedHmac, subject: &str, max_days: NonZeroU32) -> i64 {
    offset_of_mac(&key.mac_in_place(subject.as_bytes()), max_days)
}

/// The offset of a subject whose MAC is `mac`.
fn offset_of_mac(mac: &[u8; 32], max_days: NonZeroU32) -> i64 {
    let max = u64::from(max_days.get());
    let n = 2 * max;
    let limit = (u64::MAX / n) * n; // values at or above would bias the low residues
    let mut pick = 0u64;
    for chunk in mac.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_be_bytes(word);
        pick = x % n;
        if x < limit {
            break;
        }
    }
    // pick in 0..2max: 0..max → -max..=-1, max..2max → 1..=max.
    let pick = i64::try_from(pick).unwrap_or(0);
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    if pick < max {
        pick - max
    } else {
        pick - max + 1
    }
}

/// Shifts a date or date-time by `offset_days`, keeping the time of day and the format
/// (`2018-01-01 08:00:00` + 100 → `2018-04-11 08:00:00`).
pub fn shift_date(value: &str, offset_days: i64) -> Result<String, TransformError> {
    let mut out = String::with_capacity(value.len());
    shift_date_into(value, offset_days, &mut out)?;
    Ok(out)
}

/// [`shift_date`], appended to `out` (nothing is appended on error).
pub fn shift_date_into(
    value: &str,
    offset_days: i64,
    out: &mut String,
) -> Result<(), TransformError> {
    let cell = parse_date_cell(value)?;
    let days = Days::new(offset_days.unsigned_abs());
    let shifted = if offset_days >= 0 {
        cell.date.checked_add_days(days)
    } else {
        cell.date.checked_sub_days(days)
    }
    .ok_or(TransformError::ShiftOutOfRange)?;
    push_date(shifted, out)?;
    out.push_str(cell.rest);
    Ok(())
}

/// Age in completed years (周岁) at `reference`. Someone born on 29 February completes a year on
/// 1 March in common years.
pub fn age_in_years(birth: NaiveDate, reference: NaiveDate) -> Result<u32, TransformError> {
    reference
        .years_since(birth)
        .ok_or(TransformError::BirthAfterReference)
}

/// Five-year age band (§10.2 c) 2)): `<25`, `25-29`, …, `85-89`, `>89`.
pub fn age_band(age: u32) -> String {
    age_band_label(age).to_string()
}

/// [`age_band`] without an allocation.
pub fn age_band_label(age: u32) -> &'static str {
    const BANDS: [&str; 13] = [
        "25-29", "30-34", "35-39", "40-44", "45-49", "50-54", "55-59", "60-64", "65-69", "70-74",
        "75-79", "80-84", "85-89",
    ];
    match age {
        0..=24 => "<25",
        25..=89 => BANDS
            .get(usize::try_from(age / 5 - 5).unwrap_or(usize::MAX))
            .copied()
            .unwrap_or(">89"),
        _ => ">89",
    }
}

/// Birth date cell → age band at `reference`.
pub fn age_band_of(birth_value: &str, reference: NaiveDate) -> Result<String, TransformError> {
    age_band_label_of(birth_value, reference).map(str::to_string)
}

/// [`age_band_of`] without an allocation.
pub fn age_band_label_of(
    birth_value: &str,
    reference: NaiveDate,
) -> Result<&'static str, TransformError> {
    let birth = parse_date_cell(birth_value)?.date;
    Ok(age_band_label(age_in_years(birth, reference)?))
}

/// A number cell, parsed leniently (surrounding spaces allowed).
pub fn parse_number(value: &str) -> Option<f64> {
    let x: f64 = value.trim().parse().ok()?;
    x.is_finite().then_some(x)
}

/// Top and bottom coding (§10.2 c) 2): extreme values hidden in an open interval): a number
/// above `top` becomes `>top`, below `bottom` becomes `<bottom`, others are unchanged.
/// `None` when the value is not a number.
pub fn top_bottom_code(value: &str, bottom: Option<f64>, top: Option<f64>) -> Option<String> {
    let x = parse_number(value)?;
    if let Some(t) = top {
        if x > t {
            return Some(format!(">{t}"));
        }
    }
    if let Some(b) = bottom {
        if x < b {
            return Some(format!("<{b}"));
        }
    }
    Some(value.to_string())
}

/// Birth date cell → age in completed years at `reference`.
pub fn age_of(birth_value: &str, reference: NaiveDate) -> Result<u32, TransformError> {
    let birth = parse_date_cell(birth_value)?.date;
    age_in_years(birth, reference)
}

/// Whole days from the start cell's date to the end cell's date (length of stay; negative when
/// the end lies before the start). Times of day are ignored.
pub fn days_between(start: &str, end: &str) -> Result<i64, TransformError> {
    let a = parse_date_cell(start)?.date;
    let b = parse_date_cell(end)?.date;
    Ok(b.signed_duration_since(a).num_days())
}

/// Keyed noise: a uniform number in `(0, 1)` from HMAC-SHA-256 of `context` under `key`, so a
/// run is reproducible with its key and unpredictable without it.
pub fn keyed_uniform(key: &[u8; 32], context: &[u8]) -> f64 {
    keyed_uniform_keyed(&KeyedHmac::new(key), context)
}

/// [`keyed_uniform`] under a key prepared once.
pub fn keyed_uniform_keyed(key: &KeyedHmac, context: &[u8]) -> f64 {
    let mac = key.mac(context);
    let mut word = [0u8; 8];
    word.copy_from_slice(mac.get(..8).unwrap_or(&[0u8; 8]));
    // 53 random bits, shifted into (0, 1).
    ((u64::from_be_bytes(word) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Adds noise to a number: Laplace(0, `scale`) or uniform in `[-scale, scale]`, drawn from the
/// uniform `u` in `(0, 1)`, rounded to `decimals`. `None` when the value is not a number.
pub fn add_noise(value: &str, u: f64, laplace: bool, scale: f64, decimals: u32) -> Option<String> {
    let x = parse_number(value)?;
    let noise = if laplace {
        let c = u - 0.5;
        -scale * c.signum() * (1.0 - 2.0 * c.abs()).max(f64::MIN_POSITIVE).ln()
    } else {
        (2.0 * u - 1.0) * scale
    };
    let y = x + noise;
    Some(format!("{:.*}", decimals as usize, y))
}

fn digit_run(chars: &[char], i: usize) -> usize {
    chars[i..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Replaces identifier spans in free text by type tags (§10.2 a), Table G.1: identifiers in
/// free text are deleted): resident ID numbers, phone numbers, e-mail addresses and dates.
/// Digit runs are matched whole (a 19-digit run is not an ID number).
pub fn redact_spans(text: &str, kinds: &[crate::policy::SpanKind]) -> String {
    use crate::policy::SpanKind;
    let want = |k: SpanKind| kinds.contains(&k);
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-');
    while i < n {
        let c = chars[i];
        let prev_digit = i > 0 && chars[i - 1].is_ascii_digit();
        if c.is_ascii_digit() && !prev_digit {
            let run = digit_run(&chars, i);
            let next = chars.get(i + run).copied();
            // Dates: YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日.
            if want(SpanKind::Date) && run == 4 {
                if let Some(len) = date_span(&chars, i) {
                    out.push_str(SpanKind::Date.tag());
                    i += len;
                    continue;
                }
            }
            if want(SpanKind::IdNumber) {
                if run == 17 && matches!(next, Some('X' | 'x')) {
                    out.push_str(SpanKind::IdNumber.tag());
                    i += 18;
                    continue;
                }
                if (run == 18 || run == 15) && !next.is_some_and(|c| c.is_ascii_alphanumeric()) {
                    out.push_str(SpanKind::IdNumber.tag());
                    i += run;
                    continue;
                }
            }
            if want(SpanKind::Phone) {
                if run == 11 && c == '1' {
                    out.push_str(SpanKind::Phone.tag());
                    i += run;
                    continue;
                }
                if (3..=4).contains(&run) && c == '0' && next == Some('-') {
                    let tail = digit_run(&chars, i + run + 1);
                    if (7..=8).contains(&tail) {
                        out.push_str(SpanKind::Phone.tag());
                        i += run + 1 + tail;
                        continue;
                    }
                }
            }
            out.extend(&chars[i..i + run]);
            i += run;
            continue;
        }
        if c == '@' && want(SpanKind::Email) {
            // local part already emitted: take it back
            let local = out.chars().rev().take_while(|c| word(*c)).count();
            let domain = chars[i + 1..].iter().take_while(|c| word(**c)).count();
            let dom: String = chars[i + 1..i + 1 + domain].iter().collect();
            if local > 0 && dom.contains('.') && !dom.starts_with('.') {
                for _ in 0..local {
                    out.pop();
                }
                out.push_str(SpanKind::Email.tag());
                i += 1 + domain;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Length of a date span starting at a 4-digit run, if any.
fn date_span(chars: &[char], i: usize) -> Option<usize> {
    let sep = *chars.get(i + 4)?;
    match sep {
        '-' | '/' => {
            let m = digit_run(chars, i + 5);
            if !(1..=2).contains(&m) || chars.get(i + 5 + m) != Some(&sep) {
                return None;
            }
            let d = digit_run(chars, i + 6 + m);
            (1..=2).contains(&d).then_some(6 + m + d)
        }
        '年' => {
            let m = digit_run(chars, i + 5);
            if !(1..=2).contains(&m) || chars.get(i + 5 + m) != Some(&'月') {
                return None;
            }
            let d = digit_run(chars, i + 6 + m);
            if !(1..=2).contains(&d) {
                return None;
            }
            let len = 6 + m + d;
            Some(if chars.get(i + len) == Some(&'日') {
                len + 1
            } else {
                len
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const K1: [u8; 32] = [7u8; 32];
    const K2: [u8; 32] = [8u8; 32];

    #[test]
    fn hmac_matches_the_variable_length_constructor() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8 * 3 + 1);
        let mut reference = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
        reference.update(b"110101199003071234");
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(hmac_sha256(&key, b"110101199003071234"), expected);
    }

    #[test]
    fn pseudonyms_are_deterministic_per_key_and_differ_across_keys() {
        let a = pseudonymize(&K1, "", "110101199003071234");
        assert_eq!(a, pseudonymize(&K1, "", "110101199003071234"));
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, pseudonymize(&K2, "", "110101199003071234"));
        assert_ne!(a, pseudonymize(&K1, "", "110101199003071235"));
        let p = pseudonymize(&K1, "PID-", "110101199003071234");
        assert_eq!(p, format!("PID-{a}"));
        // It is the truncated HMAC, not some other digest.
        assert_eq!(
            a,
            hex::encode(&hmac_sha256(&K1, "110101199003071234".as_bytes())[..16])
        );
    }

    #[test]
    fn top_bottom_coding() {
        assert_eq!(
            top_bottom_code("95", Some(25.0), Some(89.0)).unwrap(),
            ">89"
        );
        assert_eq!(
            top_bottom_code("17", Some(25.0), Some(89.0)).unwrap(),
            "<25"
        );
        assert_eq!(top_bottom_code("40", Some(25.0), Some(89.0)).unwrap(), "40");
        assert_eq!(top_bottom_code("89", None, Some(89.0)).unwrap(), "89");
        assert_eq!(top_bottom_code("1e9", None, Some(1e6)).unwrap(), ">1000000");
        assert!(top_bottom_code("abc", None, Some(1.0)).is_none());
    }

    #[test]
    fn ages_and_durations() {
        assert_eq!(age_of("1990-03-07", d("2024-03-06")).unwrap(), 33);
        assert_eq!(age_of("1990-03-07", d("2024-03-07")).unwrap(), 34);
        assert_eq!(
            days_between("2018-01-01 08:00:00", "2018-04-01").unwrap(),
            90
        );
        assert_eq!(days_between("2018-01-02", "2018-01-01").unwrap(), -1);
        assert!(days_between("x", "2018-01-01").is_err());
    }

    #[test]
    fn noise_is_keyed_and_bounded() {
        let u1 = keyed_uniform(&K1, b"fee\x001");
        let u2 = keyed_uniform(&K1, b"fee\x002");
        assert_eq!(u1, keyed_uniform(&K1, b"fee\x001"));
        assert_ne!(u1, u2);
        assert_ne!(u1, keyed_uniform(&K2, b"fee\x001"));
        for i in 0..200u32 {
            let u = keyed_uniform(&K1, &i.to_be_bytes());
            assert!(u > 0.0 && u < 1.0);
            let y: f64 = add_noise("100", u, false, 5.0, 2).unwrap().parse().unwrap();
            assert!((95.0..=105.0).contains(&y), "{y}");
            let l: f64 = add_noise("100", u, true, 5.0, 0).unwrap().parse().unwrap();
            assert!(l.is_finite() && l.fract() == 0.0);
        }
        assert!(add_noise("x", 0.5, true, 1.0, 0).is_none());
        assert_eq!(add_noise("10", 0.5, true, 3.0, 1).unwrap(), "10.0");
    }

    #[test]
    fn redacts_identifier_spans() {
        use crate::policy::SpanKind;
        let all = SpanKind::ALL;
        let t = "患者身份证11010119900307123X，电话13812345678，座机0571-88886666，邮箱zhang.san@example.com，2024-03-01入院，2024年3月5日出院，住院号1234567。";
        let r = redact_spans(t, &all);
        assert_eq!(
            r,
            "患者身份证[ID_NUMBER]，电话[PHONE]，座机[PHONE]，邮箱[EMAIL]，[DATE]入院，[DATE]出院，住院号1234567。"
        );
        assert_eq!(redact_spans("110101199003071234", &all), "[ID_NUMBER]");
        // a 19-digit run is left alone, as is a digit run inside a longer number
        assert_eq!(
            redact_spans("1101011990030712345", &all),
            "1101011990030712345"
        );
        let only_phone = redact_spans(t, &[SpanKind::Phone]);
        assert!(only_phone.contains("11010119900307123X") && only_phone.contains("[PHONE]"));
        assert_eq!(redact_spans("a@b", &all), "a@b");
        assert_eq!(redact_spans("", &all), "");
    }

    #[test]
    fn mask_is_character_based() {
        let phone = MaskSpec {
            keep_first: 3,
            keep_last: 4,
            mask_char: '*',
        };
        assert_eq!(mask("13812345678", &phone), "138****5678");
        let name = MaskSpec {
            keep_first: 1,
            keep_last: 0,
            mask_char: '某',
        };
        assert_eq!(mask("欧阳娜娜", &name), "欧某某某");
        let addr = MaskSpec {
            keep_first: 6,
            keep_last: 0,
            mask_char: '*',
        };
        assert_eq!(
            mask("浙江省杭州市西湖区文三路90号", &addr),
            "浙江省杭州市*********"
        );
        assert_eq!(mask("", &phone), "");
    }

    #[test]
    fn mask_always_hides_at_least_one_character() {
        let both = MaskSpec {
            keep_first: 1,
            keep_last: 1,
            mask_char: '*',
        };
        assert_eq!(mask("张三", &both), "张*");
        assert_eq!(mask("张小明", &both), "张*明");
        assert_eq!(mask("张", &both), "*");
        assert_eq!(
            mask(
                "1234",
                &MaskSpec {
                    keep_first: 0,
                    keep_last: 9,
                    mask_char: '#'
                }
            ),
            "#234"
        );
        assert_eq!(mask("abc", &MaskSpec::default()), "***");
    }

    #[test]
    fn truncate_with_and_without_pad() {
        assert_eq!(truncate("330106", 4, Some('0')), "330100");
        assert_eq!(truncate("330106", 4, None), "3301");
        assert_eq!(truncate("33", 4, Some('0')), "33");
        assert_eq!(truncate("浙江省杭州市西湖区", 6, None), "浙江省杭州市");
        assert_eq!(
            truncate("浙江省杭州市西湖区", 6, Some('※')),
            "浙江省杭州市※※※"
        );
    }

    #[test]
    fn dates_and_datetimes_parse() {
        assert_eq!(parse_date_cell("2018-01-01").unwrap().rest, "");
        assert_eq!(
            parse_date_cell("2018-01-01 08:30:00").unwrap().rest,
            " 08:30:00"
        );
        assert_eq!(
            parse_date_cell("2018-01-01T08:30:00.250").unwrap().rest,
            "T08:30:00.250"
        );
        assert_eq!(
            parse_date_cell("2018-01-01 08:30").unwrap().date,
            d("2018-01-01")
        );
        for bad in [
            "",
            "2018",
            "2018-1-01",
            "20180101",
            "2018/01/01",
            "2018-02-30",
            "2018-01-01 25:00:00",
            "2018-01-01X08:00:00",
            "2018-01-01 ",
            "+2018-01-0",
            "２０１８-01-01",
            "2018-01-01 08:00:00Z",
        ] {
            assert_eq!(
                parse_date_cell(bad),
                Err(TransformError::NotADate),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn table_6_example_shift_keeps_interval() {
        // GB/T 39725 Table 6: +100 days, 2018-01-01 → 2018-04-11, 2018-04-01 → 2018-07-10.
        assert_eq!(shift_date("2018-01-01", 100).unwrap(), "2018-04-11");
        assert_eq!(shift_date("2018-04-01", 100).unwrap(), "2018-07-10");
        assert_eq!(
            shift_date("2018-04-01 23:59:59", -1).unwrap(),
            "2018-03-31 23:59:59"
        );
        assert_eq!(
            shift_date("2018-04-01T07:00:00", 1).unwrap(),
            "2018-04-02T07:00:00"
        );
        assert_eq!(
            shift_date("9999-12-31", 1),
            Err(TransformError::ShiftOutOfRange)
        );
        assert_eq!(
            shift_date("0001-01-01", -1),
            Err(TransformError::ShiftOutOfRange)
        );
        assert_eq!(shift_date("not a date", 3), Err(TransformError::NotADate));
    }

    #[test]
    fn offsets_are_stable_nonzero_within_range_and_vary() {
        let max = NonZeroU32::new(30).unwrap();
        let mut seen = std::collections::HashSet::new();
        for i in 0..400 {
            let subject = format!("33010619900101{i:04}");
            let o = date_shift_offset(&K1, &subject, max);
            assert_eq!(o, date_shift_offset(&K1, &subject, max));
            assert!(o != 0 && (-30..=30).contains(&o), "{o}");
            seen.insert(o);
        }
        // 400 draws over 60 values: every value should appear, both signs included.
        assert!(seen.len() >= 55, "only {} distinct offsets", seen.len());
        assert!(
            seen.contains(&-30) && seen.contains(&30) && seen.contains(&-1) && seen.contains(&1)
        );
        let one = NonZeroU32::new(1).unwrap();
        assert!((0..50).all(|i| date_shift_offset(&K1, &i.to_string(), one).abs() == 1));
        // Another project key moves the same subject differently (for most subjects).
        let differ = (0..50)
            .filter(|i| {
                date_shift_offset(&K1, &i.to_string(), max)
                    != date_shift_offset(&K2, &i.to_string(), max)
            })
            .count();
        assert!(differ > 40, "{differ}");
    }

    #[test]
    fn age_band_boundaries() {
        assert_eq!(age_band(0), "<25");
        assert_eq!(age_band(24), "<25");
        assert_eq!(age_band(25), "25-29");
        assert_eq!(age_band(29), "25-29");
        assert_eq!(age_band(30), "30-34");
        assert_eq!(age_band(38), "35-39");
        assert_eq!(age_band(89), "85-89");
        assert_eq!(age_band(90), ">89");
        assert_eq!(age_band(130), ">89");
    }

    #[test]
    fn age_in_completed_years() {
        let r = d("2025-03-15");
        assert_eq!(age_in_years(d("2000-03-15"), r).unwrap(), 25);
        assert_eq!(age_in_years(d("2000-03-16"), r).unwrap(), 24);
        assert_eq!(age_band_of("2000-03-16", r).unwrap(), "<25");
        assert_eq!(age_band_of("2000-03-15 10:00:00", r).unwrap(), "25-29");
        assert_eq!(age_band_of("1935-03-15", r).unwrap(), ">89");
        assert_eq!(age_band_of("1935-03-16", r).unwrap(), "85-89");
        assert_eq!(
            age_in_years(d("2025-03-16"), r),
            Err(TransformError::BirthAfterReference)
        );
        assert_eq!(age_in_years(r, r).unwrap(), 0);
    }

    #[test]
    fn leap_day_birth() {
        let b = d("2000-02-29");
        assert_eq!(age_in_years(b, d("2025-02-28")).unwrap(), 24);
        assert_eq!(age_in_years(b, d("2025-03-01")).unwrap(), 25);
        assert_eq!(age_in_years(b, d("2024-02-28")).unwrap(), 23);
        assert_eq!(age_in_years(b, d("2024-02-29")).unwrap(), 24);
        assert_eq!(age_band_of("2000-02-29", d("2025-02-28")).unwrap(), "<25");
        assert_eq!(age_band_of("2000-02-29", d("2025-03-01")).unwrap(), "25-29");
    }

    #[test]
    fn year_generalisation() {
        assert_eq!(year("2019-12-31 23:59:59").unwrap(), "2019");
        assert_eq!(year("0999-01-01").unwrap(), "0999");
        assert_eq!(year("2019"), Err(TransformError::NotADate));
    }

    #[test]
    fn errors_never_echo_the_value() {
        let value = "张三13812345678";
        let e = parse_date_cell(value).unwrap_err().to_string();
        assert!(!e.contains("张三") && !e.contains("138"), "{e}");
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        (1900i32..2100, 1u32..=366).prop_map(|(y, doy)| {
            NaiveDate::from_yo_opt(y, doy)
                .unwrap_or_else(|| NaiveDate::from_yo_opt(y, 365).unwrap())
        })
    }

    /// The character-by-character masking the ASCII fast path must agree with.
    fn mask_by_chars(value: &str, spec: &MaskSpec) -> String {
        let n = value.chars().count();
        if n == 0 {
            return String::new();
        }
        let first = spec.keep_first.min(n - 1);
        let last = spec.keep_last.min(n - 1 - first);
        value
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i < first || i >= n - last {
                    c
                } else {
                    spec.mask_char
                }
            })
            .collect()
    }

    #[test]
    fn keyed_hmac_equals_keying_per_message() {
        let key = KeyedHmac::new(&K1);
        for m in [&b""[..], b"a", b"110101199003071234", &[0u8; 200]] {
            let mut reference = <HmacSha256 as Mac>::new_from_slice(&K1).unwrap();
            reference.update(m);
            let expected: [u8; 32] = reference.finalize().into_bytes().into();
            assert_eq!(key.mac(m), expected);
        }
        assert_eq!(format!("{key:?}"), "KeyedHmac(..)");
    }

    proptest! {
        #[test]
        fn date_fast_path_agrees_with_the_format_parser(y in 0u32..10_000, m in 0u32..14, d in 0u32..33,
                                                        rest in "( [0-9]{2}:[0-9]{2}:[0-9]{2}|T[0-9]{2}:[0-9]{2}:[0-9]{2}|[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,3})?)?|)") {
            let date = format!("{y:04}-{m:02}-{d:02}");
            let value = format!("{date}{rest}");
            let chrono_date = NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok();
            let chrono_time = rest.is_empty() || {
                let t = &rest[1..];
                NaiveTime::parse_from_str(t, "%H:%M:%S%.f").is_ok()
                    || NaiveTime::parse_from_str(t, "%H:%M").is_ok()
            };
            let expected = chrono_date.filter(|_| chrono_time);
            prop_assert_eq!(parse_date_cell(&value).ok().map(|c| c.date), expected);
            if let Some(date) = expected {
                let mut out = String::new();
                let formatted = push_date(date, &mut out).map(|()| out);
                let reference = (1..=9999).contains(&date.year()).then(|| {
                    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
                });
                prop_assert_eq!(formatted.ok(), reference);
            }
        }

        #[test]
        fn mask_fast_path_agrees(value in "[ -~]{0,30}|\\PC{0,30}", kf in 0usize..12, kl in 0usize..12) {
            let spec = MaskSpec { keep_first: kf, keep_last: kl, mask_char: '*' };
            prop_assert_eq!(mask(&value, &spec), mask_by_chars(&value, &spec));
            let kept: String = value.chars().take(kf).collect();
            let n = value.chars().count();
            let reference = if n <= kf {
                value.clone()
            } else {
                kept + &"0".repeat(n - kf)
            };
            prop_assert_eq!(truncate(&value, kf, Some('0')), reference);
        }

        #[test]
        fn age_band_labels_are_the_formatted_bands(age in 0u32..200) {
            let reference = match age {
                0..=24 => "<25".to_string(),
                25..=89 => format!("{}-{}", age / 5 * 5, age / 5 * 5 + 4),
                _ => ">89".to_string(),
            };
            prop_assert_eq!(age_band_label(age), reference.as_str());
        }

        #[test]
        fn mask_keeps_char_length(value in "\\PC{0,40}", kf in 0usize..12, kl in 0usize..12, c in proptest::char::any()) {
            let out = mask(&value, &MaskSpec { keep_first: kf, keep_last: kl, mask_char: c });
            prop_assert_eq!(out.chars().count(), value.chars().count());
            if !value.is_empty() {
                // At least one position is hidden.
                prop_assert!(out.chars().any(|o| o == c));
                // Kept characters are the originals, in place.
                let first = kf.min(value.chars().count() - 1);
                prop_assert!(out.chars().zip(value.chars()).take(first).all(|(o, v)| o == v));
            }
        }

        #[test]
        fn truncate_pad_keeps_length(value in "\\PC{0,40}", length in 0usize..20, pad in proptest::char::any()) {
            let out = truncate(&value, length, Some(pad));
            prop_assert_eq!(out.chars().count(), value.chars().count());
            let kept: String = value.chars().take(length).collect();
            prop_assert!(out.starts_with(&kept));
            let plain = truncate(&value, length, None);
            prop_assert_eq!(plain.chars().count(), value.chars().count().min(length));
        }

        #[test]
        fn date_shift_preserves_intervals(a in any_date(), b in any_date(), subject in "[0-9X]{18}",
                                          secs in 0u32..86_400, max in 1u32..400) {
            let offset = date_shift_offset(&K1, &subject, NonZeroU32::new(max).unwrap());
            prop_assert!(offset != 0 && offset.unsigned_abs() <= u64::from(max));
            let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap();
            let va = a.format("%Y-%m-%d").to_string();
            let vb = format!("{} {}", b.format("%Y-%m-%d"), time.format("%H:%M:%S"));
            let sa = shift_date(&va, offset).unwrap();
            let sb = shift_date(&vb, offset).unwrap();
            let pa = parse_date_cell(&sa).unwrap();
            let pb = parse_date_cell(&sb).unwrap();
            prop_assert_eq!((pb.date - pa.date).num_days(), (b - a).num_days());
            prop_assert_eq!((pa.date - a).num_days(), offset);
            prop_assert_eq!(pb.rest, &vb[10..]);
        }

        #[test]
        fn age_band_is_total(age in 0u32..200) {
            let band = age_band(age);
            prop_assert!(band == "<25" || band == ">89" || band.len() == 5);
        }
    }

    /// HMAC-SM3 and HMAC-SHA-256 under a 32-byte key equal OpenSSL's (`openssl dgst -sm3 -mac
    /// HMAC -macopt hexkey:0102…20`, OpenSSL 3.0), and pseudonyms follow the profile's MAC.
    #[test]
    fn the_national_profile_pseudonymizes_with_hmac_sm3() {
        let key: [u8; 32] = std::array::from_fn(|i| (i + 1) as u8);
        let id = b"330106199001011234";
        assert_eq!(
            hex::encode(KeyedHmac::with(MacAlgorithm::HmacSm3, &key).mac(id)),
            "96201bf0cd41251031e5439360898d39e881662946e78a249ff2849f0e4a7a42"
        );
        assert_eq!(
            hex::encode(KeyedHmac::with(MacAlgorithm::HmacSha256, &key).mac(id)),
            "fe85d3faaf556e59f4168d7521330911adf9167aaf228aad60eb6def1f0a8bba"
        );
        let value = "330106199001011234";
        assert_eq!(
            pseudonymize_with(MacAlgorithm::HmacSm3, &key, "P-", value),
            "P-96201bf0cd41251031e5439360898d39"
        );
        assert_eq!(
            pseudonymize(&key, "P-", value),
            "P-fe85d3faaf556e59f4168d7521330911"
        );
    }
}
