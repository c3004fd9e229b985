//! Value evidence: what a column's sampled values look like.
//!
//! GB/T 39725-2020 Appendix G Table G.1 names the data elements to find (身份证件号码, 本人姓名,
//! 本人电话号码, 电子邮箱地址, 地址, 出生日期, 县(区), 日期 …). Checks with a checksum or a
//! reference list (GB 11643 check character, GB/T 2260 county codes, known surnames) come from
//! `medspace-validators`; the rest are shape tests defined here. Each test gives the share of
//! non-empty values that pass it.

use std::collections::HashSet;

use medspace_validators::{
    dates, gb11643, icd10, icd9cm3, nhsa, permits, phone, reference, uscc, Sex,
};

use crate::header::is_cjk;
use crate::memo::{value_hash, Memo};

/// Shares (0–1) of the non-empty sampled values passing each test, plus the sample size and
/// how many distinct values there are.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    /// Non-empty values (after trimming).
    pub(crate) n: usize,
    /// Distinct non-empty values.
    pub(crate) distinct: usize,
    /// GB 11643 citizen ID numbers with a correct check character.
    pub(crate) id_valid: f64,
    /// First-generation 15-digit ID numbers (province code, then a valid 19YYMMDD birth date).
    pub(crate) id_legacy: f64,
    /// Partly masked values (`139****5678`, `张*`): some `*` and something else.
    pub(crate) masked: f64,
    /// Mainland mobile numbers.
    pub(crate) mobile: f64,
    /// Landline numbers with an area code.
    pub(crate) landline: f64,
    /// E-mail addresses.
    pub(crate) email: f64,
    /// ICD-10 codes (one or several per cell).
    pub(crate) icd: f64,
    /// Date-times.
    pub(crate) datetime: f64,
    /// Dates or date-times.
    pub(crate) date_any: f64,
    /// 6-digit GB/T 2260 county codes in the reference list.
    pub(crate) county: f64,
    /// Any 6 digits.
    pub(crate) six_digits: f64,
    /// `H` + 11 digits: NHSA designated medical institution codes.
    pub(crate) institution_code: f64,
    /// Chinese names (known surname + 1–3 characters) or romanised names.
    pub(crate) person_name: f64,
    /// Strings shaped like a name in any script: 1–30 letters (CJK or Latin) with `·`, spaces
    /// or dots between, no digits (扎西多吉, 阿依古丽·买买提, Mary Ann), and not recognisably a
    /// disease, department, organisation or address.
    pub(crate) name_shape: f64,
    /// 男/女/M/F/male/female.
    pub(crate) sex_word: f64,
    /// Any sex spelling, including the GB/T 2261.1 codes 0/1/2/9.
    pub(crate) sex_any: f64,
    /// Numbers (at most 15 integer digits, optional fraction).
    pub(crate) number: f64,
    /// Numbers with exactly two decimals (money).
    pub(crate) money: f64,
    /// Ages: 0–150, optionally with 岁/周岁/Y.
    pub(crate) age: f64,
    /// Ages written with a unit (`45岁`).
    pub(crate) age_with_unit: f64,
    /// Chinese postal addresses.
    pub(crate) address: f64,
    /// Free text: long strings with spaces or punctuation.
    pub(crate) free_text: f64,
    /// IPv4/IPv6 addresses.
    pub(crate) ip: f64,
    /// Chinese licence plates.
    pub(crate) plate: f64,
    /// Chinese passport numbers.
    pub(crate) passport: f64,
    /// 16–19 digit numbers passing the Luhn check (bank cards).
    pub(crate) luhn: f64,
    /// Values containing a letter or CJK character.
    pub(crate) text: f64,
    /// Department names (…科, …室, …病区).
    pub(crate) department: f64,
    /// Organisation names (…公司, …厂, …局).
    pub(crate) organisation: f64,
    /// Health institution names (…医院, …卫生院).
    pub(crate) hospital: f64,
    /// Ethnic groups (…族).
    pub(crate) ethnicity: f64,
    /// Marital status words.
    pub(crate) marital: f64,
    /// Chinese or English disease names.
    pub(crate) diagnosis_name: f64,
    /// Identifier-like codes: ASCII letters/digits with `-`, `_`, `.`, at least one digit.
    pub(crate) code: f64,
    /// NHSA western-drug (`X…`, 23) or patent-medicine (`Z…`, 20) codes.
    pub(crate) drug: f64,
    /// NHSA consumable codes (`C` + 19 or 26 digits).
    pub(crate) consumable: f64,
    /// NHSA 15-digit medical service item codes.
    pub(crate) service_item: f64,
    /// GB 32100 unified social credit codes (check character verified).
    pub(crate) uscc: f64,
    /// ICD-9-CM-3 operation codes with a dot (`36.10`, `47.09x001`).
    pub(crate) operation: f64,
    /// ICD-9-CM-3 codes in an extended national form (`36.1000`, `81.5100x001`).
    pub(crate) operation_ext: f64,
    /// 港澳居民来往内地通行证 and exit-entry permit numbers.
    pub(crate) permit: f64,
    /// 18-character values shaped like a citizen ID (17 digits + digit or X) whose GB 11643
    /// check character is wrong.
    pub(crate) id_bad_check: f64,
    /// Shortest value, in characters.
    pub(crate) min_chars: usize,
    /// Earliest and latest year of the dates that start with one (`1957-10-21`, `1957年10月21日`,
    /// `19571021`), years 1800–2200 only.
    pub(crate) years: Option<(u16, u16)>,
}

impl Stats {
    /// Share of distinct values among the non-empty ones.
    pub(crate) fn distinct_ratio(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.distinct as f64 / self.n as f64
        }
    }

    /// Weight of the evidence from `n` values: 1/3 for one value, 0.91 for 20, 0.98 for 100.
    pub(crate) fn size_factor(&self) -> f64 {
        let n = self.n as f64;
        n / (n + 2.0)
    }

    /// Computes the shares over the trimmed non-empty values.
    pub(crate) fn of(values: &[&str]) -> Stats {
        let mut b = StatsBuilder::default();
        for v in values {
            b.add(v);
        }
        b.finish()
    }
}

/// Distinct values counted exactly up to this many; beyond it they are estimated from a sample
/// of the values' hashes of at most this size (adaptive distinct sampling, see
/// [`StatsBuilder::add`]): bounded memory and cost for full scans, with a relative standard error
/// of about 1/√(DISTINCT_CAP / 2) ≈ 1.6 %.
const DISTINCT_CAP: usize = 8192;

/// Whether the distinct-value sample of level `level` keeps a value of hash `hash`: bits 32 to
/// 32 + `level` of the hash are zero, so each level keeps half of the previous one's values, and
/// the low bits (the set's bucket index) and top bits (its tags) stay uniform.
fn in_distinct_sample(hash: u64, level: u32) -> bool {
    (hash >> 32) & ((1u64 << level) - 1) == 0
}

/// Highest sampling level (bits 32..56 of a hash; far beyond any file's distinct values).
const MAX_DISTINCT_LEVEL: u32 = 24;

/// Accumulates [`Stats`] one value at a time, in bounded memory: counts per test, the sample
/// size, the shortest value, and distinct values (hashes) up to [`DISTINCT_CAP`].
#[derive(Debug, Clone)]
pub(crate) struct StatsBuilder {
    counts: [usize; FIELDS],
    n: usize,
    min_chars: usize,
    years: Option<(u16, u16)>,
    /// Hashes of the distinct values in the sample of level `distinct_level`
    /// ([`in_distinct_sample`]): every distinct value while there are at most [`DISTINCT_CAP`].
    seen: HashSet<u64, std::hash::BuildHasherDefault<Prehashed>>,
    distinct_level: u32,
    /// Test results and lengths of the values already tested ([`test_value`]).
    memo: Memo<(u64, usize)>,
    /// The tests each class of value of this column can pass.
    classes: ClassCache,
}

/// Hasher of the distinct-value set, whose keys are already 64-bit hashes of the values:
/// hashing them a second time (SipHash) cost more than any test of a numeric value.
#[derive(Debug, Clone, Copy, Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Default for StatsBuilder {
    fn default() -> Self {
        StatsBuilder {
            counts: [0; FIELDS],
            n: 0,
            min_chars: usize::MAX,
            years: None,
            seen: HashSet::default(),
            distinct_level: 0,
            memo: Memo::default(),
            classes: ClassCache::default(),
        }
    }
}

impl StatsBuilder {
    /// A builder that tests every value afresh (no memo, no cached candidates), for tests.
    #[cfg(test)]
    pub(crate) fn without_memo() -> StatsBuilder {
        StatsBuilder {
            memo: Memo::switched_off(),
            classes: ClassCache::switched_off(),
            ..StatsBuilder::default()
        }
    }

    /// The count of each test, for tests.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> [usize; FIELDS] {
        self.counts
    }

    /// Adds one raw value (trimmed here; empty values are ignored).
    pub(crate) fn add(&mut self, raw: &str) {
        let v = trim(raw);
        if v.is_empty() {
            return;
        }
        self.n += 1;
        let classes = &mut self.classes;
        // One hash of the value serves the memo and the distinct-value sample.
        let hash = value_hash(v);
        let ((mut flags, chars), known) = self.memo.get_hashed(v, hash, || classes.test_value(v));
        // Adaptive distinct sampling (Flajolet's adaptive sampling; Gibbons' distinct sampling):
        // the set keeps the distinct hashes of the current level's sample; when it outgrows its
        // cap, the level rises and the values that left the sample are dropped, so the count is
        // exact up to the cap and an unbiased estimate (size × 2^level) beyond it. Most values
        // of a column of many distinct values are then ruled out by one comparison instead of a
        // probe of a large set, which was an eighth of a full scan's CPU.
        //
        // A value the memo knows was offered before: it is in the set exactly when it is in the
        // current sample (levels only rise, and a rise drops only values that left the sample),
        // so offering it again would change nothing.
        if !known && in_distinct_sample(hash, self.distinct_level) {
            self.seen.insert(hash);
            if self.seen.len() > DISTINCT_CAP && self.distinct_level < MAX_DISTINCT_LEVEL {
                self.distinct_level += 1;
                let level = self.distinct_level;
                self.seen.retain(|h| in_distinct_sample(*h, level));
            }
        }
        self.min_chars = self.min_chars.min(chars);
        if flags & (1 << DATE_ANY) != 0 {
            if let Some(year) = leading_year(v) {
                self.years = Some(match self.years {
                    Some((lo, hi)) => (lo.min(year), hi.max(year)),
                    None => (year, year),
                });
            }
        }
        // Only the tests a value passes are counted; most values pass a handful of the 42.
        while flags != 0 {
            let i = flags.trailing_zeros() as usize;
            if let Some(count) = self.counts.get_mut(i) {
                *count += 1;
            }
            flags &= flags - 1;
        }
    }

    /// The shares.
    pub(crate) fn finish(&self) -> Stats {
        let n = self.n;
        let counts = &self.counts;
        let distinct = self
            .seen
            .len()
            .checked_shl(self.distinct_level)
            .unwrap_or(usize::MAX)
            .min(n);
        let min_chars = self.min_chars;
        let rate = |i: usize| -> f64 {
            if n == 0 {
                0.0
            } else {
                counts.get(i).copied().unwrap_or(0) as f64 / n as f64
            }
        };
        Stats {
            n,
            distinct,
            id_valid: rate(ID),
            id_legacy: rate(ID_LEGACY),
            masked: rate(MASKED),
            mobile: rate(MOBILE),
            landline: rate(LANDLINE),
            email: rate(EMAIL),
            icd: rate(ICD),
            datetime: rate(DATETIME),
            date_any: rate(DATE_ANY),
            county: rate(COUNTY),
            six_digits: rate(SIX),
            institution_code: rate(INSTITUTION),
            person_name: rate(NAME),
            name_shape: rate(NAME_SHAPE),
            sex_word: rate(SEX_WORD),
            sex_any: rate(SEX_ANY),
            number: rate(NUMBER),
            money: rate(MONEY),
            age: rate(AGE),
            age_with_unit: rate(AGE_UNIT),
            address: rate(ADDRESS),
            free_text: rate(FREE_TEXT),
            ip: rate(IP),
            plate: rate(PLATE),
            passport: rate(PASSPORT),
            luhn: rate(LUHN),
            text: rate(TEXT),
            department: rate(DEPARTMENT),
            organisation: rate(ORGANISATION),
            hospital: rate(HOSPITAL),
            ethnicity: rate(ETHNICITY),
            marital: rate(MARITAL),
            diagnosis_name: rate(DIAGNOSIS_NAME),
            code: rate(CODE),
            drug: rate(DRUG),
            consumable: rate(CONSUMABLE),
            service_item: rate(SERVICE_ITEM),
            uscc: rate(USCC),
            operation: rate(OPERATION),
            operation_ext: rate(OPERATION_EXT),
            permit: rate(PERMIT),
            id_bad_check: rate(ID_BAD),
            min_chars: if n == 0 { 0 } else { min_chars },
            years: self.years,
        }
    }
}

/// The year a date value starts with, when it starts with four digits of a year 1800–2200 (epoch
/// milliseconds start with `16`/`17` and are left out).
fn leading_year(v: &str) -> Option<u16> {
    let head = v.as_bytes().get(..4)?;
    if !head.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year = head.iter().fold(0u16, |y, d| y * 10 + u16::from(d - b'0'));
    (1800..=2200).contains(&year).then_some(year)
}

const ID: usize = 0;
const MOBILE: usize = 1;
const LANDLINE: usize = 2;
const EMAIL: usize = 3;
const ICD: usize = 4;
const DATETIME: usize = 5;
const DATE_ANY: usize = 6;
const COUNTY: usize = 7;
const SIX: usize = 8;
const INSTITUTION: usize = 9;
const NAME: usize = 10;
const SEX_WORD: usize = 11;
const SEX_ANY: usize = 12;
const NUMBER: usize = 13;
const MONEY: usize = 14;
const AGE: usize = 15;
const AGE_UNIT: usize = 16;
const ADDRESS: usize = 17;
const FREE_TEXT: usize = 18;
const IP: usize = 19;
const PLATE: usize = 20;
const PASSPORT: usize = 21;
const LUHN: usize = 22;
const TEXT: usize = 23;
const DEPARTMENT: usize = 24;
const ORGANISATION: usize = 25;
const HOSPITAL: usize = 26;
const ETHNICITY: usize = 27;
const MARITAL: usize = 28;
const DIAGNOSIS_NAME: usize = 29;
const CODE: usize = 30;
const NAME_SHAPE: usize = 31;
const ID_LEGACY: usize = 32;
const MASKED: usize = 33;
const DRUG: usize = 34;
const CONSUMABLE: usize = 35;
const SERVICE_ITEM: usize = 36;
const USCC: usize = 37;
const OPERATION: usize = 38;
const OPERATION_EXT: usize = 39;
const PERMIT: usize = 40;
const ID_BAD: usize = 41;
const FIELDS: usize = 42;
// The results of the tests of a value are the bits of a u64.
const _: () = assert!(FIELDS <= 64);

/// `raw.trim()`, without looking up characters when neither end can be white space: a visible
/// ASCII character, or a character from U+4000 up (CJK; Unicode white space ends at U+3000).
/// Most cells are that, and `str::trim` was a noticeable part of a full scan.
pub(crate) fn trim(raw: &str) -> &str {
    let bytes = raw.as_bytes();
    let visible = |b: &u8| b.is_ascii_graphic() || *b >= 0xE4;
    // The first byte of the last character (continuation bytes are 0b10xx_xxxx).
    let last_lead = bytes.iter().rev().find(|b| **b & 0xC0 != 0x80);
    match (bytes.first(), last_lead) {
        (Some(first), Some(last)) if visible(first) && visible(last) => raw,
        _ => raw.trim(),
    }
}

/// The bit of test `i` in the result of [`test_value`].
const fn flag(i: usize, b: bool) -> u64 {
    (b as u64) << i
}

/// Set of ASCII bytes, one bit per byte value.
type ByteSet = u128;

/// The bytes of `bytes`, as a [`ByteSet`].
const fn byte_set(bytes: &[u8]) -> ByteSet {
    let mut set = 0;
    let mut i = 0;
    while i < bytes.len() {
        set |= 1 << bytes[i];
        i += 1;
    }
    set
}

/// The bytes `lo..=hi`, as a [`ByteSet`].
const fn byte_range(lo: u8, hi: u8) -> ByteSet {
    let mut set = 0;
    let mut b = lo;
    while b <= hi {
        set |= 1 << b;
        b += 1;
    }
    set
}

const DIGITS: ByteSet = byte_range(b'0', b'9');
const UPPER: ByteSet = byte_range(b'A', b'Z');
const LETTERS: ByteSet = UPPER | byte_range(b'a', b'z');
const HEX: ByteSet = DIGITS | byte_range(b'A', b'F') | byte_range(b'a', b'f');

/// `1 << b` for the bytes below 64, `0` for the others.
static LOW_BIT: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 64 {
        table[b] = 1 << b;
        b += 1;
    }
    table
};

/// `1 << (b - 64)` for the bytes 64–127, `0` for the others.
static HIGH_BIT: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut b = 64;
    while b < 128 {
        table[b] = 1 << (b - 64);
        b += 1;
    }
    table
};

/// Per byte, 1 in the 16-bit field it counts towards: ASCII digits (bits 0–15), ASCII letters
/// (16–31), bytes that start a character (32–47), the bytes [`SPECIAL_LEADS`] (48–63).
static BYTE_COUNTS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let mut counts = 0u64;
        if byte.is_ascii_digit() {
            counts |= 1;
        }
        if byte.is_ascii_alphabetic() {
            counts |= 1 << 16;
        }
        if byte & 0xC0 != 0x80 {
            counts |= 1 << 32;
        }
        let mut k = 0;
        while k < SPECIAL_LEADS.len() {
            if byte == SPECIAL_LEADS[k] {
                counts |= 1 << 48;
            }
            k += 1;
        }
        table[b] = counts;
        b += 1;
    }
    table
};

/// The first bytes of the UTF-8 of the full-width forms (0xEF), of the CJK punctuation
/// `。`/`、` and the ideographic space (0xE3), and of the white space outside ASCII (0xC2, 0xE1,
/// 0xE2, 0xE3): a value without any has none of them.
const SPECIAL_LEADS: [u8; 5] = [0xC2, 0xE1, 0xE2, 0xE3, 0xEF];

/// What one pass over the bytes of a value tells about it. Most tests can only pass for values
/// of a few shapes (a mobile number needs 11 digits, an ICD-10 list only letters, digits, dots and
/// separators, a name no digits), so the shape rules a test out before it runs: a full scan tests
/// every value of every column, and running each of some forty tests on each value made detection,
/// not CSV parsing, the limit of a full scan. Every rule below is a necessary condition of the test
/// it guards, so the answers are those of running every test (checked against the ungated tests in
/// `values_reference.rs`).
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// The ASCII bytes present.
    ascii: ByteSet,
    /// Some byte is not ASCII.
    non_ascii: bool,
    /// ASCII digits.
    digits: usize,
    /// ASCII letters.
    letters: usize,
    /// Some byte is one of [`SPECIAL_LEADS`]: without one there is no full-width form (`＊`,
    /// `（`, `，` …), no CJK punctuation (`。`, `、`) and no white space outside ASCII.
    special: bool,
    /// Characters (bytes that do not continue a UTF-8 sequence).
    chars: usize,
}

impl Shape {
    fn of(v: &str) -> Shape {
        // Three table lookups and an addition per byte, without branches: CJK text mixes ASCII
        // and other bytes, and this loop runs over every byte of every cell of a full scan.
        let (mut low, mut high) = (0u64, 0u64);
        let (mut digits, mut letters, mut chars, mut special) = (0, 0, 0, 0);
        // Counts are 16-bit fields of one sum, added up every 65,535 bytes.
        for block in v.as_bytes().chunks(0xFFFF) {
            let mut sum = 0u64;
            for &b in block {
                let i = usize::from(b);
                low |= LOW_BIT[i];
                high |= HIGH_BIT[i];
                sum += BYTE_COUNTS[i];
            }
            let field = |shift: u32| (sum >> shift & 0xFFFF) as usize;
            digits += field(0);
            letters += field(16);
            chars += field(32);
            special += field(48);
        }
        Shape {
            ascii: ByteSet::from(low) | ByteSet::from(high) << 64,
            // Every character outside ASCII takes more than one byte.
            non_ascii: chars < v.len(),
            digits,
            letters,
            special: special > 0,
            chars,
        }
    }

    fn has(&self, b: u8) -> bool {
        b.is_ascii() && self.ascii & (1 << b) != 0
    }

    /// Whether every byte is ASCII and in `set`.
    fn only(&self, set: ByteSet) -> bool {
        !self.non_ascii && self.ascii & !set == 0
    }
}

/// Runs every test on one trimmed, non-empty value: bit `i` of the result is test `i` (`ID`,
/// `MOBILE` …); with the value's length in characters.
#[cfg(test)]
fn test_value(v: &str) -> (u64, usize) {
    ClassCache::switched_off().test_value(v)
}

/// What the gates of the value tests ([`candidates`]) read of a value: its [`Shape`] with the
/// digits present folded into one set, counts cut to the thresholds the gates compare them with,
/// and the first byte if it is ASCII. Most values of a column share their class (every
/// `YYYY-MM-DD HH:MM:SS`, every 18-digit ID number, every two-character name), so a column keeps
/// the candidates of the classes it has seen ([`ClassCache`]) and a value runs only the few tests
/// its class can pass, instead of ruling out the other thirty-odd one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ShapeClass {
    /// [`Shape::ascii`], with all of [`DIGITS`] if there is any digit.
    ascii: ByteSet,
    /// ASCII digits: 0–3 exactly, 4 for 4–9, 10, and 11 for 11 or more.
    digits: u8,
    /// ASCII letters, 5 for 5 or more.
    letters: u8,
    /// Characters: up to 23 exactly, then 24 (24–30), 31 (31–40), 41 (41–49), 50 (50 or more).
    chars: u8,
    /// Bytes, 19 for 19 or more.
    len: u8,
    /// The first byte if it is a digit or letter that a gate compares with; `3` for the other
    /// digits, `A` and `a` for the other letters, `!` for other ASCII, 0x80 for the rest.
    first: u8,
    non_ascii: bool,
    special: bool,
    /// ASCII white-space bytes, 2 for 2 or more, counted only where the free-text gate asks
    /// (15–49 characters; 0 elsewhere): a date-time has one space, free text two.
    spaces: u8,
}

impl ShapeClass {
    fn of(shape: &Shape, v: &str) -> ShapeClass {
        let ascii = if shape.ascii & DIGITS != 0 {
            shape.ascii | DIGITS
        } else {
            shape.ascii
        };
        let digits = match shape.digits {
            d @ 0..=3 => d as u8,
            4..=9 => 4,
            10 => 10,
            _ => 11,
        };
        let chars = match shape.chars {
            c @ 0..=23 => c as u8,
            24..=30 => 24,
            31..=40 => 31,
            41..=49 => 41,
            _ => 50,
        };
        let first = v.as_bytes().first().copied().unwrap_or_default();
        // Only the first bytes the gates compare with are kept apart; the others are folded into
        // one per kind, so that (say) amounts starting with 3 to 8 share their class.
        let first = match first {
            b'0' | b'1' | b'2' | b'9' => first,
            b'3'..=b'8' => b'3',
            b'C' | b'D' | b'E' | b'F' | b'G' | b'H' | b'L' | b'M' | b'P' | b'S' | b'T' | b'U'
            | b'W' | b'X' | b'Z' | b'f' | b'm' | b'u' => first,
            b'A'..=b'Z' => b'A',
            b'a'..=b'z' => b'a',
            0x80..=0xFF => 0x80,
            _ => b'!',
        };
        let spaces = if (15..50).contains(&shape.chars) && shape.ascii & ASCII_SPACE != 0 {
            v.bytes()
                .filter(|b| b.is_ascii() && ASCII_SPACE & (1 << b) != 0)
                .take(2)
                .count() as u8
        } else {
            0
        };
        ShapeClass {
            spaces,
            ascii,
            digits,
            letters: shape.letters.min(5) as u8,
            chars,
            len: v.len().min(19) as u8,
            first,
            non_ascii: shape.non_ascii,
            special: shape.special,
        }
    }

    fn has(&self, b: u8) -> bool {
        b.is_ascii() && self.ascii & (1 << b) != 0
    }

    /// Whether every byte is ASCII and in `set` (`set` holds all digits or none).
    fn only(&self, set: ByteSet) -> bool {
        !self.non_ascii && self.ascii & !set == 0
    }
}

/// The bit of each test in a set of tests.
const fn bit(i: usize) -> u64 {
    1 << i
}

/// ASCII white space, as `char::is_whitespace` has it.
const ASCII_SPACE: ByteSet = byte_set(b" \t\n\x0b\x0c\r");

/// First bytes of the spellings of a sex ([`Sex::parse`], [`is_sex_word`], [`SEX_UNKNOWN`]) that
/// are ASCII; the others start with a CJK character.
const SEX_FIRST_BYTES: ByteSet = byte_set(b"0129MmFfUu");

/// The tests a trimmed value of class `c` can pass: bit `i` for test `i`. Each condition is one the test
/// needs (a mobile number has at least 11 digits, a name none, an ICD-10 code a letter …), so a
/// test left out would have failed; `candidates_leave_out_only_failing_tests` checks this against
/// running every test.
fn candidates(c: &ShapeClass) -> u64 {
    let mut m = 0u64;
    let mut add = |tests: u64, gate: bool| {
        if gate {
            m |= tests;
        }
    };
    let digits_only = c.only(DIGITS);
    let starts_digit = c.first.is_ascii_digit();
    add(
        bit(ID) | bit(ID_BAD),
        c.chars == 18 && c.only(DIGITS | byte_set(b"Xx")),
    );
    add(
        bit(DRUG),
        (c.first == b'X' && c.chars == 23) || (c.first == b'Z' && c.chars == 20),
    );
    add(bit(CONSUMABLE), c.first == b'C');
    add(bit(SERVICE_ITEM), c.chars == 15);
    add(bit(USCC), c.chars == 18);
    add(
        bit(OPERATION) | bit(OPERATION_EXT),
        starts_digit && c.has(b'.'),
    );
    add(
        bit(PERMIT),
        (c.chars == 9 || c.chars == 11)
            && matches!(c.first, b'H' | b'M' | b'C' | b'W' | b'L' | b'T'),
    );
    add(bit(ID_LEGACY), c.chars == 15 && digits_only);
    add(bit(MASKED), c.has(b'*') || c.special);
    // All-digit mobile numbers have 11, 13 or 15 digits, landlines 10–12.
    add(
        bit(MOBILE),
        c.digits >= 11
            && (c.non_ascii || c.ascii & !(DIGITS | byte_set(b" -.+()\t\n\x0b\x0c\r")) == 0),
    );
    add(
        bit(LANDLINE),
        c.digits >= 10 && (c.non_ascii || c.ascii & !(DIGITS | byte_set(b"- ()")) == 0),
    );
    add(bit(EMAIL), c.has(b'@'));
    add(
        bit(ICD),
        c.letters > 0 && (c.non_ascii || c.ascii & !(LETTERS | DIGITS | byte_set(b".,;| ")) == 0),
    );
    add(bit(DATETIME) | bit(DATE_ANY), starts_digit);
    add(bit(SIX) | bit(COUNTY), c.chars == 6 && digits_only);
    add(bit(INSTITUTION), c.len == 12 && c.first == b'H');
    // Organisations, institutions, departments, addresses, ethnic groups and Chinese names and
    // diseases have CJK characters.
    add(bit(ORGANISATION), c.non_ascii && c.chars >= 4);
    add(bit(HOSPITAL), c.non_ascii && c.chars >= 3);
    add(bit(DEPARTMENT), c.non_ascii && (2..=10).contains(&c.chars));
    add(bit(DIAGNOSIS_NAME), c.non_ascii || c.letters >= 5);
    add(bit(NAME), c.digits == 0 && (c.non_ascii || c.has(b' ')));
    add(bit(ADDRESS), c.non_ascii && c.chars >= 6);
    add(
        bit(NAME_SHAPE),
        c.digits == 0 && c.ascii & !(LETTERS | byte_set(b" .-")) == 0,
    );
    let sex_first = c.first == 0x80 || SEX_FIRST_BYTES & (1 << c.first) != 0;
    add(bit(SEX_WORD), c.len <= 6 && sex_first);
    add(bit(SEX_ANY), c.len <= 18 && sex_first);
    add(bit(NUMBER) | bit(MONEY), c.only(DIGITS | byte_set(b"+-.")));
    add(bit(AGE) | bit(AGE_UNIT), (1..=3).contains(&c.digits));
    // Free text has 50 characters, or punctuation, or two spaces; the CJK punctuation and the
    // white space outside ASCII start with one of the special bytes, and an ASCII full stop
    // counts after a CJK character.
    add(
        bit(FREE_TEXT),
        c.chars >= 15
            && (c.chars >= 50
                || c.special
                || c.ascii & byte_set(b",;!?") != 0
                || (c.non_ascii && c.has(b'.'))
                || c.spaces >= 2),
    );
    add(
        bit(IP),
        if c.has(b':') {
            c.only(HEX | byte_set(b".:"))
        } else {
            c.only(DIGITS | byte_set(b"."))
        },
    );
    add(bit(PLATE), c.non_ascii && c.ascii & UPPER != 0);
    add(
        bit(PASSPORT),
        c.len == 9 && matches!(c.first, b'E' | b'G' | b'D' | b'S' | b'P'),
    );
    add(bit(LUHN), digits_only && (16..=19).contains(&c.chars));
    add(bit(TEXT), c.letters > 0 || c.non_ascii);
    add(bit(ETHNICITY), c.non_ascii && (2..=6).contains(&c.chars));
    add(bit(MARITAL), c.non_ascii);
    add(
        bit(CODE),
        c.digits > 0 && c.only(LETTERS | DIGITS | byte_set(b"-_.")),
    );
    m
}

/// The candidates of the classes a column has seen, most recent first: a column has a handful of
/// classes, and comparing a class costs less than working out its candidates again.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClassCache {
    known: Vec<(ShapeClass, u64)>,
    /// Work out the candidates of every value afresh (for tests).
    off: bool,
}

/// Classes a [`ClassCache`] keeps.
const CLASS_CACHE: usize = 8;

impl ClassCache {
    /// A cache that keeps nothing, for tests.
    #[cfg(test)]
    pub(crate) fn switched_off() -> ClassCache {
        ClassCache {
            off: true,
            ..ClassCache::default()
        }
    }

    /// The candidates of `class`.
    fn candidates(&mut self, class: &ShapeClass) -> u64 {
        if self.off {
            return candidates(class);
        }
        if let Some(i) = self.known.iter().position(|(c, _)| c == class) {
            let found = self.known.get(i).map_or(0, |(_, m)| *m);
            if i > 0 {
                // Kept in order of use, so a column's usual class is compared first.
                self.known.swap(i, i - 1);
            }
            return found;
        }
        let m = candidates(class);
        if self.known.len() >= CLASS_CACHE {
            self.known.pop();
        }
        self.known.push((*class, m));
        m
    }

    /// Runs the tests a value's class can pass ([`run_tests`]): what [`test_value`] gives.
    pub(crate) fn test_value(&mut self, v: &str) -> (u64, usize) {
        if let Some(flags) = common_form(v) {
            // ASCII (as many characters as bytes), or ideographs of three bytes each.
            let cjk = v.as_bytes().first().is_some_and(|lead| *lead >= 0x80);
            let chars = if cjk { v.len() / 3 } else { v.len() };
            return (flags, chars);
        }
        let shape = Shape::of(v);
        let class = ShapeClass::of(&shape, v);
        let m = self.candidates(&class);
        (run_tests(v, &shape, m), shape.chars)
    }
}

/// The answers of every test for values in the commonest forms of exported tables that no
/// table lookup or checksum decides: real dates `YYYY-MM-DD`, real date-times
/// `YYYY-MM-DD HH:MM:SS` and amounts with two decimals (`1234.56`). Each form passes the same
/// tests whatever its digits (a date is also code-like, an amount a number and code-like from four
/// characters), apart from the ICD-9-CM-3 look-up of amounts, which is made here as in
/// [`run_tests`]. `None` for anything else. Read straight from the bytes, these take a tenth of
/// the [`Shape`] and the candidate tests, and they are a third of the values of a settlement
/// table. `common_forms_answer_as_every_test` checks them against [`run_tests`].
fn common_form(v: &str) -> Option<u64> {
    let b = v.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
    };
    if b.first().is_some_and(|lead| *lead >= 0xE4) {
        return cjk_form(v);
    }
    match b.len() {
        10 | 19 if b.get(4) == Some(&b'-') => {
            let (dt, date) = iso_date_flags(b)?;
            // A space, not `T`: `T` is a letter, and a letter passes other tests.
            if dt && b.get(10) == Some(&b' ') {
                Some(bit(DATETIME) | bit(DATE_ANY))
            } else if date && !dt {
                Some(bit(DATE_ANY) | bit(CODE))
            } else {
                None
            }
        }
        // All digits, four or more (`b` is not empty).
        4..=40 if b.iter().all(u8::is_ascii_digit) => Some(digits_form(v)),
        // 17 digits and `X`: an ID number, or one whose check character is wrong.
        18 if digits(0..17) && matches!(b.get(17), Some(b'X' | b'x')) => {
            Some(bit(TEXT) | id18_flags(v))
        }
        // A capital letter and digits: record, person and institution numbers, passports,
        // permits, NHSA codes.
        5..=40 if b.first().is_some_and(u8::is_ascii_uppercase) && digits(1..b.len()) => {
            Some(letter_digits_flags(v))
        }
        // At most ten digits (eleven may be a mobile number written with a dot), with a dot
        // before the last two.
        4..=11 => {
            let dot = b.len() - 3;
            if b.get(dot) != Some(&b'.') || !digits(0..dot) || !digits(dot + 1..b.len()) {
                return None;
            }
            let operation = icd9cm3::is_code(v);
            let mut f = bit(NUMBER) | bit(MONEY) | bit(CODE);
            if operation {
                f |= bit(OPERATION);
                if icd9cm3::is_extended(v) {
                    f |= bit(OPERATION_EXT);
                }
            }
            Some(f)
        }
        _ => None,
    }
}

/// The answers of every test for 1–14 CJK ideographs U+4E00–U+9FFF and nothing else (names,
/// departments, employers, diagnoses, insurance types …), `None` for other values: text, and
/// whatever the CJK tests, the sex and marital-status words say. No other test passes without an
/// ASCII byte, a character outside U+4E00–U+9FFF or 15 characters. Skipping the [`Shape`] and the
/// candidates saves a third of the tests of a name.
fn cjk_form(v: &str) -> Option<u64> {
    let b = v.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(3) || b.len() > 14 * 3 {
        return None;
    }
    // In valid UTF-8, a lead byte 0xE5–0xE9 starts U+5000–U+9FFF, and 0xE4 with a second byte
    // from 0xB8 U+4E00–U+4FFF; the bytes after a lead are continuation bytes.
    let ideographs = b.chunks_exact(3).all(|c| match c {
        [0xE5..=0xE9, _, _] => true,
        [0xE4, second, _] => *second >= 0xB8,
        _ => false,
    });
    if !ideographs {
        return None;
    }
    let shape = Shape {
        ascii: 0,
        non_ascii: true,
        digits: 0,
        letters: 0,
        special: false,
        chars: b.len() / 3,
    };
    let mut f = run_cjk_tests(v, &shape, CJK_TESTS) | bit(TEXT);
    if v.len() <= 6 && is_sex_word(v) {
        f |= bit(SEX_WORD);
    }
    if (v.len() <= 6 && Sex::parse(v).is_some()) || (v.len() <= 18 && is_one_of(v, SEX_UNKNOWN)) {
        f |= bit(SEX_ANY);
    }
    if is_one_of(v, MARITAL_WORDS) {
        f |= bit(MARITAL);
    }
    Some(f)
}

/// The answers of every test for 4–40 ASCII digits ([`common_form`]): a number up to 15 digits,
/// code-like, and whatever the length allows (mobile, landline, county code, date, ID number …).
fn digits_form(v: &str) -> u64 {
    let b = v.as_bytes();
    let n = b.len();
    let mut f = bit(CODE);
    if n <= 15 {
        f |= bit(NUMBER);
    }
    let mobile = is_mobile_digits(b);
    if mobile {
        f |= bit(MOBILE);
    } else if is_landline_digits(b) {
        f |= bit(LANDLINE);
    }
    match n {
        6 => {
            f |= bit(SIX);
            if reference::county_by_code(v).is_some() {
                f |= bit(COUNTY);
            }
        }
        8 if dates::parse_date(v).is_some() => f |= bit(DATE_ANY),
        14 if dates::parse_datetime(v).is_some() => f |= bit(DATETIME) | bit(DATE_ANY),
        15 => {
            if nhsa::is_service_item(v) {
                f |= bit(SERVICE_ITEM);
            }
            if is_legacy_id(v) {
                f |= bit(ID_LEGACY);
            }
        }
        18 => f |= id18_flags(v),
        _ => {}
    }
    if (16..=19).contains(&n) && luhn(v) {
        f |= bit(LUHN);
    }
    f
}

/// `ID`, `ID_BAD`, `USCC` and `CODE` of 17 digits and a digit or `X`.
fn id18_flags(v: &str) -> u64 {
    let mut f = bit(CODE);
    if gb11643::is_valid(v) {
        f |= bit(ID);
    } else {
        f |= bit(ID_BAD);
        if uscc::is_valid(v) {
            f |= bit(USCC);
        }
    }
    f
}

/// The answers of every test for a capital letter and 4–39 digits ([`common_form`]): text and
/// code-like, and whatever the letter and length allow (institution code, passport, permit,
/// NHSA codes, credit code).
fn letter_digits_flags(v: &str) -> u64 {
    let first = v.as_bytes().first().copied().unwrap_or_default();
    let chars = v.len();
    let mut f = bit(TEXT) | bit(CODE);
    let mut set = |i: usize, pass: bool| {
        if pass {
            f |= bit(i);
        }
    };
    set(INSTITUTION, is_institution_code(v));
    set(PASSPORT, is_passport(v));
    set(
        PERMIT,
        (chars == 9 || chars == 11)
            && matches!(first, b'H' | b'M' | b'C' | b'W' | b'L' | b'T')
            && (permits::is_hk_macao_travel_permit(v) || permits::is_exit_entry_permit(v)),
    );
    set(CONSUMABLE, first == b'C' && nhsa::is_consumable(v));
    set(
        DRUG,
        (first == b'X' && chars == 23 && nhsa::is_western_drug(v))
            || (first == b'Z' && chars == 20 && nhsa::is_patent_medicine(v)),
    );
    set(SERVICE_ITEM, chars == 15 && nhsa::is_service_item(v));
    set(USCC, chars == 18 && uscc::is_valid(v));
    f
}

/// The tests of CJK names, places and things, which depend on each other (a department is not a
/// disease, a name neither, an address not an organisation …), so they run together.
const CJK_TESTS: u64 = bit(ORGANISATION)
    | bit(HOSPITAL)
    | bit(DEPARTMENT)
    | bit(DIAGNOSIS_NAME)
    | bit(NAME)
    | bit(ADDRESS)
    | bit(NAME_SHAPE)
    | bit(ETHNICITY);

/// The tests in `m` of one trimmed, non-empty value (the others count as failed): bit `i` of the
/// result is test `i`. With `m` all ones this runs every test; each test keeps the conditions of
/// its gate, so passing more candidates never changes an answer. Only the tests in `m` are
/// visited (one loop step per candidate), so a value whose class has three candidates costs three
/// tests, not forty-two gates.
fn run_tests(v: &str, shape: &Shape, m: u64) -> u64 {
    let chars = shape.chars;
    let digits_only = shape.only(DIGITS);
    let first = v.as_bytes().first().copied().unwrap_or_default();
    let starts_digit = first.is_ascii_digit();
    let mut f = 0u64;
    if m & CJK_TESTS != 0 {
        f |= run_cjk_tests(v, shape, m);
    }
    // Tests that need another test's answer come after it in bit order (`ID` before `USCC` and
    // `ID_BAD`, `MOBILE` before `LANDLINE`, `NUMBER` before `MONEY`, `OPERATION` before
    // `OPERATION_EXT`, `DATETIME` before `DATE_ANY`, `AGE` before `AGE_UNIT`); a test that is not
    // a candidate failed.
    let passed = |f: u64, i: usize| f & bit(i) != 0;
    let mut date = None;
    let mut age = (false, false);
    let mut rest = m & !CJK_TESTS;
    while rest != 0 {
        let i = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        let pass = match i {
            // 17 digits and a digit or X; only 18-character values are tested at all.
            ID => chars == 18 && shape.only(DIGITS | byte_set(b"Xx")) && gb11643::is_valid(v),
            ID_BAD => {
                chars == 18
                    && shape.only(DIGITS | byte_set(b"Xx"))
                    && !passed(f, ID)
                    && v.bytes().take(17).all(|b| b.is_ascii_digit())
                    && v.as_bytes()
                        .get(17)
                        .copied()
                        .is_some_and(|b| b.is_ascii_digit() || b == b'X' || b == b'x')
            }
            DRUG => {
                (first == b'X' && chars == 23 && nhsa::is_western_drug(v))
                    || (first == b'Z' && chars == 20 && nhsa::is_patent_medicine(v))
            }
            CONSUMABLE => first == b'C' && nhsa::is_consumable(v),
            SERVICE_ITEM => chars == 15 && nhsa::is_service_item(v),
            USCC => chars == 18 && !passed(f, ID) && uscc::is_valid(v),
            OPERATION => starts_digit && shape.has(b'.') && icd9cm3::is_code(v),
            OPERATION_EXT => {
                let operation = if m & bit(OPERATION) != 0 {
                    passed(f, OPERATION)
                } else {
                    starts_digit && shape.has(b'.') && icd9cm3::is_code(v)
                };
                operation && icd9cm3::is_extended(v)
            }
            // H/M + 8 or 10 digits, or C/W/L/T + 8 characters.
            PERMIT => {
                (chars == 9 || chars == 11)
                    && matches!(first, b'H' | b'M' | b'C' | b'W' | b'L' | b'T')
                    && (permits::is_hk_macao_travel_permit(v) || permits::is_exit_entry_permit(v))
            }
            ID_LEGACY => chars == 15 && digits_only && is_legacy_id(v),
            MASKED => {
                (shape.has(b'*') || (shape.special && v.contains('＊')))
                    && v.chars().any(|c| c != '*' && c != '＊')
            }
            // A mobile number has 11 digits (more with a country code), and apart from a
            // bracketed country code only digits and single spaces, dashes or dots.
            MOBILE => {
                if digits_only {
                    is_mobile_digits(v.as_bytes())
                } else {
                    shape.digits >= 11
                        && (shape.non_ascii
                            || shape.ascii & !(DIGITS | byte_set(b" -.+()\t\n\x0b\x0c\r")) == 0)
                        && phone::is_mobile(v)
                }
            }
            // A landline has 10–12 digits, and apart from an extension after `转` only digits,
            // dashes, spaces and brackets.
            LANDLINE => {
                !passed(f, MOBILE)
                    && if digits_only {
                        is_landline_digits(v.as_bytes())
                    } else {
                        shape.digits >= 10
                            && (shape.non_ascii || shape.ascii & !(DIGITS | byte_set(b"- ()")) == 0)
                            && is_landline(v)
                    }
            }
            EMAIL => shape.has(b'@') && is_email(v),
            // ICD-10 codes are letters, digits and dots; lists add the separators.
            ICD => {
                shape.letters > 0
                    && (shape.non_ascii
                        || shape.ascii & !(LETTERS | DIGITS | byte_set(b".,;| ")) == 0)
                    && is_icd_list(v)
            }
            DATETIME | DATE_ANY => {
                let (dt, d) = *date.get_or_insert_with(|| {
                    if starts_digit {
                        date_flags(v, shape, digits_only)
                    } else {
                        (false, false)
                    }
                });
                if i == DATETIME {
                    dt
                } else {
                    dt || d
                }
            }
            SIX => chars == 6 && digits_only,
            COUNTY => chars == 6 && digits_only && reference::county_by_code(v).is_some(),
            INSTITUTION => is_institution_code(v),
            // The longest spellings of a sex are `female` and 男性 (6 bytes), of an unknown sex
            // 未说明的性别 (18 bytes).
            SEX_WORD => v.len() <= 6 && is_sex_word(v),
            SEX_ANY => {
                (v.len() <= 6 && Sex::parse(v).is_some())
                    || (v.len() <= 18 && is_one_of(v, SEX_UNKNOWN))
            }
            NUMBER => shape.only(DIGITS | byte_set(b"+-.")) && is_number(v),
            MONEY => {
                let number = if m & bit(NUMBER) != 0 {
                    passed(f, NUMBER)
                } else {
                    shape.only(DIGITS | byte_set(b"+-.")) && is_number(v)
                };
                // Two digits after the first dot (`split_once('.')` searched with a `memchr`
                // call, which cost more than the rest of the test on short amounts).
                number
                    && v.bytes()
                        .position(|b| b == b'.')
                        .is_some_and(|dot| v.len() - dot - 1 == 2)
            }
            // An age is 1–3 digits and a unit without digits.
            AGE | AGE_UNIT => {
                if (i == AGE || m & bit(AGE) == 0) && (1..=3).contains(&shape.digits) {
                    age = age_of(v);
                }
                if i == AGE {
                    age.0
                } else {
                    age.1
                }
            }
            FREE_TEXT => chars >= 15 && is_free_text(v, chars),
            // IPv4 is digits and three dots, IPv6 hexadecimal digits, colons and dots.
            IP => {
                (if shape.has(b':') {
                    shape.only(HEX | byte_set(b".:"))
                } else {
                    shape.only(DIGITS | byte_set(b"."))
                        && v.bytes().filter(|b| *b == b'.').count() == 3
                }) && v.parse::<std::net::IpAddr>().is_ok()
            }
            // A plate starts with a CJK province and then a capital letter.
            PLATE => shape.non_ascii && shape.ascii & UPPER != 0 && is_plate(v),
            PASSPORT => is_passport(v),
            LUHN => digits_only && (16..=19).contains(&chars) && luhn(v),
            TEXT => shape.letters > 0 || (shape.non_ascii && v.chars().any(is_alphabetic)),
            MARITAL => shape.non_ascii && is_one_of(v, MARITAL_WORDS),
            CODE => {
                shape.digits > 0
                    && shape.only(LETTERS | DIGITS | byte_set(b"-_."))
                    && is_code_like(v, chars)
            }
            _ => false,
        };
        f |= flag(i, pass);
    }
    f
}

/// The tests of [`CJK_TESTS`] in `m`, in the order their answers are needed.
fn run_cjk_tests(v: &str, shape: &Shape, m: u64) -> u64 {
    let on = |i: usize| m & bit(i) != 0;
    let chars = shape.chars;
    let has_cjk = shape.non_ascii && v.chars().any(is_cjk);
    let suffixes = Suffixes::get();
    let organisation = on(ORGANISATION) && has_cjk && chars >= 4 && suffixes.organisation.end(v);
    let hospital = on(HOSPITAL) && has_cjk && chars >= 3 && suffixes.hospital.end(v);
    let department = on(DEPARTMENT)
        && has_cjk
        && (2..=10).contains(&chars)
        && suffixes.department.end(v)
        && !hospital;
    // English disease words have at least five letters.
    let diagnosis = on(DIAGNOSIS_NAME)
        && !department
        && (has_cjk || shape.letters >= 5)
        && is_diagnosis_name(v, chars, has_cjk);
    // Names are CJK or romanised words: no digits.
    let name_shaped = shape.digits == 0 && (has_cjk || shape.has(b' '));
    let name = on(NAME) && !diagnosis && !department && name_shaped && is_person_name(v, chars);
    let address = on(ADDRESS) && has_cjk && !organisation && !hospital && is_address(v, chars);
    let named_thing = diagnosis || department || organisation || hospital || address;
    let name_shape = on(NAME_SHAPE)
        && !named_thing
        && shape.digits == 0
        && shape.ascii & !(LETTERS | byte_set(b" .-")) == 0
        && is_name_shaped(v, chars);
    let ethnicity = on(ETHNICITY) && has_cjk && (2..=6).contains(&chars) && v.ends_with('族');
    flag(ORGANISATION, organisation)
        | flag(HOSPITAL, hospital)
        | flag(DEPARTMENT, department)
        | flag(DIAGNOSIS_NAME, diagnosis)
        | flag(NAME, name)
        | flag(ADDRESS, address)
        | flag(NAME_SHAPE, name_shape)
        | flag(ETHNICITY, ethnicity)
}

/// [`phone::is_mobile`] of an all-digit value: 11 digits in a mobile segment, or with the
/// country code `86` or `0086` in front.
fn is_mobile_digits(b: &[u8]) -> bool {
    let national = match b.len() {
        13 => b.strip_prefix(b"86"),
        15 => b.strip_prefix(b"0086"),
        _ => Some(b),
    };
    national.is_some_and(|n| {
        n.len() == 11
            && n.first() == Some(&b'1')
            && n.get(1).is_some_and(|d| (b'3'..=b'9').contains(d))
    })
}

/// [`is_landline`] of an all-digit value: `0`, a digit other than `0`, 10–12 digits in all.
fn is_landline_digits(b: &[u8]) -> bool {
    b.first() == Some(&b'0') && b.get(1).is_some_and(|d| *d != b'0') && (10..=12).contains(&b.len())
}

/// `(is a date-time, is a date)` of a value starting with a digit, as [`dates::parse_datetime`]
/// and [`dates::parse_date`] would say. The spellings of generated and exported tables
/// (`2024-03-15`, `2024-03-15 09:30:00`) are checked field by field; `chrono` format parsing,
/// which tried up to five formats per value, runs only for other values that have the separators
/// a format needs.
fn date_flags(v: &str, shape: &Shape, digits_only: bool) -> (bool, bool) {
    if let Some(flags) = iso_date_flags(v.as_bytes()) {
        return flags;
    }
    if digits_only {
        // Only the compact forms 20240315 and 20240315134530 are all digits.
        let dt = v.len() == 14 && dates::parse_datetime(v).is_some();
        return (dt, v.len() == 8 && dates::parse_date(v).is_some());
    }
    // A date-time has a `T`, a space or a CJK 日 between date and time.
    let dt = (shape.has(b'T') || shape.has(b' ') || shape.non_ascii)
        && dates::parse_datetime(v).is_some();
    // A date has `-`, `/`, two dots or 年月日.
    let date_shaped = shape.non_ascii
        || shape.has(b'-')
        || shape.has(b'/')
        || v.bytes().filter(|b| *b == b'.').count() >= 2;
    (dt, !dt && date_shaped && dates::parse_date(v).is_some())
}

/// `Some((is a date-time, is a date))` for `YYYY-MM-DD` and `YYYY-MM-DD HH:MM:SS` (or with `T`)
/// values that are real dates and times; `None` for anything else, which is then left to
/// `chrono`.
fn iso_date_flags(b: &[u8]) -> Option<(bool, bool)> {
    let num = |from: usize, len: usize| -> Option<u32> {
        let digits = b.get(from..from + len)?;
        let mut n = 0u32;
        for d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(d - b'0');
        }
        Some(n)
    };
    let at = |i: usize| b.get(i).copied();
    if !(b.len() == 10 || b.len() == 19) || at(4) != Some(b'-') || at(7) != Some(b'-') {
        return None;
    }
    let year = i32::try_from(num(0, 4)?).ok()?;
    chrono::NaiveDate::from_ymd_opt(year, num(5, 2)?, num(8, 2)?)?;
    if b.len() == 10 {
        return Some((false, true));
    }
    if !matches!(at(10), Some(b' ' | b'T')) || at(13) != Some(b':') || at(16) != Some(b':') {
        return None;
    }
    chrono::NaiveTime::from_hms_opt(num(11, 2)?, num(14, 2)?, num(17, 2)?)?;
    Some((true, true))
}

const SEX_UNKNOWN: &[&str] = &[
    "0",
    "9",
    "未知",
    "未说明",
    "未知的性别",
    "未说明的性别",
    "U",
    "u",
    "unknown",
    "Unknown",
];
const MARITAL_WORDS: &[&str] = &[
    "未婚",
    "已婚",
    "初婚",
    "再婚",
    "复婚",
    "丧偶",
    "离婚",
    "离异",
    "未说明的婚姻状况",
    "其他",
];
const ORGANISATION_SUFFIXES: &[&str] = &[
    "公司",
    "厂",
    "集团",
    "学校",
    "小学",
    "中学",
    "大学",
    "学院",
    "幼儿园",
    "局",
    "委员会",
    "银行",
    "研究所",
    "研究院",
    "事务所",
    "商店",
    "超市",
    "酒店",
    "协会",
    "合作社",
    "政府",
    "办事处",
    "工作室",
    "中心",
    "部队",
    "站",
    "所",
    "店",
];
const HOSPITAL_SUFFIXES: &[&str] = &[
    "医院",
    "卫生院",
    "诊所",
    "卫生室",
    "卫生服务中心",
    "卫生服务站",
    "保健院",
    "门诊部",
    "疾病预防控制中心",
    "医务室",
];
const DEPARTMENT_SUFFIXES: &[&str] =
    &["科", "病区", "诊室", "门诊室", "治疗室", "检验室", "手术室"];
/// Characters a disease or procedure name contains (肺炎, 糖尿病, 胃恶性肿瘤, 单胎顺产 …).
const DISEASE_WORDS: &[&str] = &[
    "病",
    "炎",
    "症",
    "癌",
    "瘤",
    "感染",
    "结核",
    "梅毒",
    "骨折",
    "损伤",
    "综合征",
    "障碍",
    "妊娠",
    "衰竭",
    "梗死",
    "出血",
    "中毒",
    "疝",
    "痛",
    "结石",
    "增生",
    "硬化",
    "近视",
    "白内障",
    "贫血",
    "高血压",
    "哮喘",
    "疱疹",
    "湿疣",
    "痔",
    "伤口",
    "震荡",
    "失眠",
    "不孕",
    "肿",
    "疹",
    "溃疡",
    "龋",
    "疏松",
    "甲状腺",
    "颤动",
    "缺损",
    "狼疮",
    "癫痫",
    "顺产",
    "剖宫产",
    "分娩",
    "流产",
    "依赖",
    "发作",
    "感冒",
    "缺陷",
    "帕金森",
    "肌无力",
    "血友",
    "肛瘘",
    "肛裂",
    "脓肿",
    "畸形",
    "功能减退",
    "功能亢进",
    "囊肿",
    "息肉",
    "粘连",
    "积液",
    "扭伤",
    "挫伤",
    "烧伤",
    "咳嗽",
    "发热",
    "腹泻",
    "呕吐",
];
const ENGLISH_DISEASE_WORDS: &[&str] = &[
    "disease",
    "disorder",
    "syndrome",
    "infection",
    "fracture",
    "cancer",
    "carcinoma",
    "neoplasm",
    "tumour",
    "tumor",
    "hypertension",
    "diabetes",
    "pneumonia",
    "bronchitis",
    "asthma",
    "hepatitis",
    "tuberculosis",
    "syphilis",
    "gastritis",
    "influenza",
    "injury",
    "failure",
    "pregnancy",
    "delivery",
    "depression",
    "schizophrenia",
];
/// Last characters that make a 2–4 character string unlikely to be a personal name.
const NON_NAME_ENDINGS: &[char] = &[
    '病', '炎', '症', '癌', '瘤', '科', '室', '院', '司', '局', '厂', '省', '市', '区', '县', '镇',
    '乡', '村', '路', '街', '号', '族', '婚', '毒', '疮', '痛', '伤', '折', '压', '核', '疹', '痔',
    '检', '费', '药', '险', '诊', '保', '型', '类', '级', '等', '所', '站', '部', '处', '会', '校',
    '店', '门', '楼', '组', '队', '性',
];
const ADDRESS_MARKERS: &[&str] = &[
    "省",
    "市",
    "区",
    "县",
    "镇",
    "乡",
    "村",
    "路",
    "街",
    "巷",
    "弄",
    "号",
    "栋",
    "幢",
    "楼",
    "单元",
    "室",
    "大道",
    "小区",
    "胡同",
    "组",
    "旗",
    "盟",
    "自治州",
];
// The markers found in a value are the bits of a u32.
const _: () = assert!(ADDRESS_MARKERS.len() <= 32);
/// Characters that can start a licence plate: the provincial abbreviations.
const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领";

/// Words looked up by one of their characters (the first or the last): a bit per character
/// code modulo 1,024 rules out most characters of a value without a search, then a binary search
/// finds the words with that character.
#[derive(Debug)]
struct WordsByChar {
    filter: [u64; 16],
    /// `(character, word)`, sorted.
    words: Vec<(char, &'static str)>,
}

impl WordsByChar {
    fn new(words: impl IntoIterator<Item = (char, &'static str)>) -> WordsByChar {
        let mut words: Vec<(char, &'static str)> = words.into_iter().collect();
        words.sort_unstable();
        let mut filter = [0u64; 16];
        for (c, _) in &words {
            let bit = c_bit(*c);
            if let Some(slot) = filter.get_mut(bit / 64) {
                *slot |= 1 << (bit % 64);
            }
        }
        WordsByChar { filter, words }
    }

    /// Whether some word may be keyed by `c` (false: none is).
    fn may_have(&self, c: char) -> bool {
        let bit = c_bit(c);
        self.filter
            .get(bit / 64)
            .is_some_and(|slot| slot & 1 << (bit % 64) != 0)
    }

    /// The words keyed by `c`.
    fn with(&self, c: char) -> impl Iterator<Item = &'static str> + '_ {
        let possible = self.may_have(c);
        let from = if possible {
            self.words.partition_point(|(first, _)| *first < c)
        } else {
            self.words.len()
        };
        self.words
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(move |(first, _)| *first == c)
            .map(|(_, w)| *w)
    }
}

/// The bit of [`WordsByChar::filter`] for `c`.
fn c_bit(c: char) -> usize {
    c as usize % 1024
}

/// A list of suffixes, by last character.
#[derive(Debug)]
struct SuffixList(WordsByChar);

impl SuffixList {
    fn new(words: &'static [&'static str]) -> SuffixList {
        SuffixList(WordsByChar::new(
            words
                .iter()
                .filter_map(|w| Some((w.chars().next_back()?, *w))),
        ))
    }

    /// Whether `v` ends with one of the suffixes. Only the suffixes ending with the last
    /// character of `v` are compared: comparing the bytes of each suffix (a `memcmp` call each)
    /// cost more than all the other tests of a CJK value.
    fn end(&self, v: &str) -> bool {
        v.chars()
            .next_back()
            .is_some_and(|c| self.0.with(c).any(|w| v.ends_with(w)))
    }
}

/// The suffixes of organisation, health institution and department names.
#[derive(Debug)]
struct Suffixes {
    organisation: SuffixList,
    hospital: SuffixList,
    department: SuffixList,
}

impl Suffixes {
    fn get() -> &'static Suffixes {
        static SUFFIXES: std::sync::OnceLock<Suffixes> = std::sync::OnceLock::new();
        SUFFIXES.get_or_init(|| Suffixes {
            organisation: SuffixList::new(ORGANISATION_SUFFIXES),
            hospital: SuffixList::new(HOSPITAL_SUFFIXES),
            department: SuffixList::new(DEPARTMENT_SUFFIXES),
        })
    }
}

/// Whether `v` is one of `words`, comparing lengths and last bytes before the bytes.
fn is_one_of(v: &str, words: &[&str]) -> bool {
    let last = v.as_bytes().last();
    words
        .iter()
        .any(|w| w.len() == v.len() && w.as_bytes().last() == last && *w == v)
}

/// A landline: `0` + area code (2–3 more digits) + 7–8 digit subscriber number, optionally
/// with `-`, spaces or brackets, and an optional `-` extension.
fn is_landline(v: &str) -> bool {
    let main = match v.rsplit_once(['-', '转']) {
        // An extension of 1–5 digits after the full number.
        Some((head, ext))
            if (1..=5).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let head_digits = head.bytes().filter(u8::is_ascii_digit).count();
            if head_digits >= 10 {
                head
            } else {
                v
            }
        }
        _ => v,
    };
    if !main
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | '(' | ')' | '（' | '）'))
    {
        return false;
    }
    let digits: String = main.chars().filter(char::is_ascii_digit).collect();
    let b = digits.as_bytes();
    b.first() == Some(&b'0') && b.get(1).is_some_and(|d| *d != b'0') && (10..=12).contains(&b.len())
}

/// A 15-digit first-generation ID (GB 11643-1989): a province code 11–82, four more address
/// digits, a 6-digit birth date YYMMDD of the 1900s and a 3-digit sequence. No check digit.
fn is_legacy_id(v: &str) -> bool {
    let province = v.get(..2).and_then(|p| p.parse::<u8>().ok());
    let birth = v.get(6..12).map(|d| format!("19{d}"));
    province.is_some_and(|p| (11..=82).contains(&p))
        && birth.is_some_and(|b| dates::parse_date(&b).is_some())
}

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && v.chars().all(|c| c.is_ascii_graphic())
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// One or more ICD-10 codes separated by `,`, `;`, `|`, `、` or spaces; lower case tolerated.
fn is_icd_list(v: &str) -> bool {
    // Every ICD-10 code has a letter; most values (numbers, dates, Chinese text) stop here.
    if !v.bytes().any(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    // A value starting with a letter starts with its first code: a letter, two digits, then the
    // end, a dot or a separator (ASCII, or a CJK one, whose UTF-8 starts with 0xE3 or 0xEF).
    // Identifiers such as `S000000000001` stop here, before the split below, which looks for
    // seven separators at every byte.
    let b = v.as_bytes();
    if b.first().is_some_and(u8::is_ascii_alphabetic)
        && !(b.get(1).is_some_and(u8::is_ascii_digit)
            && b.get(2).is_some_and(u8::is_ascii_digit)
            && matches!(
                b.get(3),
                None | Some(b'.' | b',' | b';' | b'|' | b' ' | 0xE3 | 0xEF)
            ))
    {
        return false;
    }
    let mut any = false;
    for part in v
        .split([',', ';', '|', '、', '，', '；', ' '])
        .filter(|p| !p.is_empty())
    {
        // A code starts with a letter and two digits, then ends or has a dot (icd10::is_code):
        // identifiers such as `S000000000001` stop here, before the copy below.
        let b = part.as_bytes();
        let head_ok = b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.get(1).is_some_and(u8::is_ascii_digit)
            && b.get(2).is_some_and(u8::is_ascii_digit)
            && matches!(b.get(3), None | Some(b'.'));
        if !head_ok {
            return false;
        }
        // Upper-cased in a buffer on the stack: no allocation per part.
        let mut buf = [0u8; 16];
        let Some(upper) = buf.get_mut(..part.len()) else {
            return false;
        };
        upper.copy_from_slice(part.as_bytes());
        upper.make_ascii_uppercase();
        if !std::str::from_utf8(upper).is_ok_and(icd10::is_code) {
            return false;
        }
        any = true;
    }
    any
}

fn is_institution_code(v: &str) -> bool {
    v.len() == 12 && v.starts_with('H') && v.bytes().skip(1).all(|b| b.is_ascii_digit())
}

fn is_person_name(v: &str, chars: usize) -> bool {
    // A name is all CJK (starting with a surname) or two or three romanised words.
    if !v.chars().next().is_some_and(is_cjk) && !v.contains(' ') {
        return false;
    }
    if v.chars().all(|c| is_cjk(c) || c == '·' || c == '•') {
        let dots = v.chars().filter(|c| !is_cjk(*c)).count();
        if dots > 0 {
            // Uyghur and other transliterated names: 阿依古丽·买买提.
            let first_last_cjk =
                v.chars().next().is_some_and(is_cjk) && v.chars().next_back().is_some_and(is_cjk);
            return first_last_cjk && (4..=16).contains(&chars);
        }
        return (2..=4).contains(&chars)
            && v.chars()
                .next_back()
                .is_some_and(|c| !NON_NAME_ENDINGS.contains(&c))
            && reference::is_surname_prefix(v);
    }
    // Romanised: "Zhang San", "ZHANG Wei", "Li Xiaoming".
    let mut words = v.split(' ').filter(|w| !w.is_empty());
    (2..=3).contains(&words.clone().count())
        && words.all(|w| {
            let mut cs = w.chars();
            let first_upper = cs.next().is_some_and(|c| c.is_ascii_uppercase());
            first_upper && (2..=12).contains(&w.len()) && w.chars().all(|c| c.is_ascii_alphabetic())
        })
}

fn is_name_shaped(v: &str, chars: usize) -> bool {
    (1..=30).contains(&chars)
        && v.chars().any(is_alphabetic)
        && v.chars()
            .all(|c| is_alphabetic(c) || matches!(c, '·' | '•' | ' ' | '.' | '-'))
}

fn is_sex_word(v: &str) -> bool {
    matches!(
        v,
        "男" | "女"
            | "男性"
            | "女性"
            | "M"
            | "F"
            | "m"
            | "f"
            | "male"
            | "female"
            | "Male"
            | "Female"
            | "MALE"
            | "FEMALE"
    )
}

/// A decimal number: optional sign, 1–15 integer digits, optional `.` and 1–6 digits.
/// Thousands separators are not accepted (they would make `1,234` look like a list).
fn is_number(v: &str) -> bool {
    let b = v.as_bytes();
    let body = match b.first() {
        Some(b'-' | b'+') => b.get(1..).unwrap_or_default(),
        _ => b,
    };
    // Bytes, not `split_once`: its `memchr` call cost more than the rest on short numbers.
    let (int, frac) = match body.iter().position(|c| *c == b'.') {
        Some(dot) => (
            body.get(..dot).unwrap_or_default(),
            Some(body.get(dot + 1..).unwrap_or_default()),
        ),
        None => (body, None),
    };
    let int_ok = (1..=15).contains(&int.len()) && int.iter().all(u8::is_ascii_digit);
    let frac_ok =
        frac.is_none_or(|f| (1..=6).contains(&f.len()) && f.iter().all(u8::is_ascii_digit));
    int_ok && frac_ok
}

/// `(is an age, is written with a unit)`: 0–150, optionally followed by 岁, 周岁 or Y.
fn age_of(v: &str) -> (bool, bool) {
    let (num, unit) = match v
        .strip_suffix("周岁")
        .or_else(|| v.strip_suffix('岁'))
        .or_else(|| v.strip_suffix(['Y', 'y']))
    {
        Some(n) => (n.trim(), true),
        None => (v, false),
    };
    let ok = (1..=3).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit())
        && num.parse::<u16>().is_ok_and(|a| a <= 150);
    (ok, ok && unit)
}

/// At least 6 characters and two different address markers. Read once from the left, stopping at
/// the second marker, rather than searching the value for each of the markers in turn.
fn is_address(v: &str, chars: usize) -> bool {
    if chars < 6 {
        return false;
    }
    // The first character of each marker, compared as characters: `starts_with(c)` compares
    // bytes with a `memcmp` call, once per character and marker.
    static BY_FIRST: std::sync::OnceLock<WordsByChar> = std::sync::OnceLock::new();
    let by_first = BY_FIRST.get_or_init(|| {
        WordsByChar::new(
            ADDRESS_MARKERS
                .iter()
                .filter_map(|m| Some((m.chars().next()?, *m))),
        )
    });
    let mut found = 0u32;
    for (i, c) in v.char_indices() {
        if c.is_ascii() || !by_first.may_have(c) {
            continue;
        }
        let rest = v.get(i..).unwrap_or_default();
        for marker in by_first.with(c) {
            if rest.starts_with(marker) {
                if let Some(k) = ADDRESS_MARKERS.iter().position(|m| *m == marker) {
                    found |= 1 << k;
                }
            }
        }
        if found.count_ones() >= 2 {
            return true;
        }
    }
    // A lane or street name and its house number (`永定东九条373号`) is an address with one
    // marker: the number before `号` stands for the second.
    found.count_ones() == 1 && ends_with_house_number(v)
}

/// Whether `v` ends with a house number: 1–5 digits and `号`, after a Chinese character.
fn ends_with_house_number(v: &str) -> bool {
    let Some(rest) = v.strip_suffix('号') else {
        return false;
    };
    let digits = rest.bytes().rev().take_while(u8::is_ascii_digit).count();
    (1..=5).contains(&digits)
        && rest
            .get(..rest.len() - digits)
            .and_then(|s| s.chars().next_back())
            .is_some_and(crate::header::is_cjk)
}

fn is_free_text(v: &str, chars: usize) -> bool {
    if chars >= 50 {
        return true;
    }
    if chars < 15 {
        return false;
    }
    // Two spaces or one punctuation mark: one pass, stopping at the first that decides. The
    // characters U+4000–U+9FFF (UTF-8 lead bytes 0xE4–0xE9: most of a Chinese text) are neither,
    // so only the other characters are decoded.
    let mut spaces = 0;
    for (i, &lead) in v.as_bytes().iter().enumerate() {
        let c = if lead.is_ascii() {
            char::from(lead)
        } else if lead & 0xC0 == 0x80 || (0xE4..=0xE9).contains(&lead) {
            continue;
        } else {
            match v.get(i..).and_then(|rest| rest.chars().next()) {
                Some(c) => c,
                None => continue,
            }
        };
        if matches!(
            c,
            '，' | '。' | '；' | '：' | '！' | '？' | '、' | ',' | ';' | '!' | '?'
        ) {
            return true;
        }
        // A full stop typed as ASCII after a Chinese character ends a sentence (`…销售.`); after
        // a digit or letter it is a decimal point or part of a code (`I10.x00`).
        if c == '.'
            && v.get(..i)
                .and_then(|s| s.chars().next_back())
                .is_some_and(crate::header::is_cjk)
        {
            return true;
        }
        // Unicode white space ends at U+3000; CJK characters need no table lookup.
        if (c as u32) <= 0x3000 && c.is_whitespace() {
            spaces += 1;
            if spaces >= 2 {
                return true;
            }
        }
    }
    false
}

fn is_plate(v: &str) -> bool {
    let mut cs = v.chars();
    let (Some(p), Some(letter)) = (cs.next(), cs.next()) else {
        return false;
    };
    // Written `京A12345`, `京A·12345`, `京A 12345` or `京A-12345` (as some systems export it); a
    // middle dot or space elsewhere is tolerated as before.
    let rest = cs.as_str();
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let rest: Vec<char> = rest
        .chars()
        .filter(|c| !matches!(c, '·' | '•' | ' '))
        .collect();
    PLATE_PROVINCES.contains(p)
        && letter.is_ascii_uppercase()
        && (5..=6).contains(&rest.len())
        && rest.iter().all(|c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '学' | '警' | '挂')
        })
}

/// Chinese passports: E/G/D/S/P + 8 digits, or E + letter + 7 digits.
fn is_passport(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 9 {
        return false;
    }
    let tail_digits = |from: usize| b.iter().skip(from).all(u8::is_ascii_digit);
    match (b.first(), b.get(1)) {
        (Some(b'E' | b'G' | b'D' | b'S' | b'P'), Some(d)) if d.is_ascii_digit() => tail_digits(1),
        (Some(b'E'), Some(l)) if l.is_ascii_uppercase() => tail_digits(2),
        _ => false,
    }
}

/// Luhn (ISO/IEC 7812) check over an all-digit string.
fn luhn(v: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in v.bytes().rev().enumerate() {
        let mut d = u32::from(b.wrapping_sub(b'0'));
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    matches!(sum % 10, 0)
}

/// `char::is_alphabetic`, answering for the CJK ideographs (U+3400–U+4DBF, U+4E00–U+9FFF, all
/// letters) without the Unicode table lookup, which cost more than the other tests of a name.
fn is_alphabetic(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF) || c.is_alphabetic()
}

/// Whether `v` contains one of [`DISEASE_WORDS`]: the words starting with each character of `v`
/// are looked up by that character. On names and addresses, a few characters long, this costs
/// less than starting an Aho–Corasick search.
fn has_disease_word(v: &str) -> bool {
    static BY_FIRST: std::sync::OnceLock<WordsByChar> = std::sync::OnceLock::new();
    let words = BY_FIRST.get_or_init(|| {
        WordsByChar::new(
            DISEASE_WORDS
                .iter()
                .filter_map(|w| Some((w.chars().next()?, *w))),
        )
    });
    // The filter first, inline: most characters of a value start no disease word, and setting
    // up the search of the words of a character cost more than the test itself.
    v.char_indices().any(|(i, c)| {
        words.may_have(c) && {
            let rest = v.get(i..).unwrap_or_default();
            words.with(c).any(|w| rest.starts_with(w))
        }
    })
}

fn is_diagnosis_name(v: &str, chars: usize, has_cjk: bool) -> bool {
    if has_cjk {
        return chars <= 40 && has_disease_word(v);
    }
    v.len() <= 80
        && v.split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| !w.is_empty())
            .any(|w| {
                ENGLISH_DISEASE_WORDS
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(w))
            })
}

fn is_code_like(v: &str, chars: usize) -> bool {
    (4..=40).contains(&chars)
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && v.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[path = "values_reference.rs"]
mod ungated;

/// The labelled corpus of the integration tests, whose values the tests below check.
#[cfg(test)]
#[path = "../tests/corpus/mod.rs"]
mod corpus;

/// The shape-gated [`test_value`] against the ungated tests it replaced: the full scan must count
/// exactly what it counted before, for every test and every value.
#[cfg(test)]
mod same_answers {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    use super::corpus;

    /// Fails with the value and the tests that differ.
    fn agree(raw: &str) -> Result<(), String> {
        let v = raw.trim();
        if v.is_empty() {
            return Ok(());
        }
        let chars = v.chars().count();
        let want = ungated::test_value(v, chars);
        let (got, got_chars) = test_value(v);
        if got_chars != chars {
            return Err(format!("{v:?}: {got_chars} characters, not {chars}"));
        }
        // Every test run, whatever the class: the dispatch by class must only leave out tests
        // that fail.
        let every = run_tests(v, &Shape::of(v), u64::MAX);
        let differ: Vec<usize> = (0..FIELDS)
            .filter(|i| (got >> i & 1 == 1) != want[*i] || (every >> i & 1 == 1) != want[*i])
            .collect();
        if differ.is_empty() {
            Ok(())
        } else {
            Err(format!("{v:?}: tests {differ:?} differ"))
        }
    }

    /// The classes a test can pass in: running only the candidates of a value's class gives the
    /// answers of running every test, so the classes of the values of any column (and the cache
    /// of a column's classes) change the cost of the tests, never their answers.
    #[test]
    fn candidates_leave_out_only_failing_tests() {
        let mut cache = ClassCache::default();
        let mut values: Vec<String> = EDGES.iter().map(|v| v.to_string()).collect();
        values.extend(corpus::text_cases(11, 200).into_iter().map(|c| c.text));
        for v in &values {
            let v = trim(v);
            if v.is_empty() {
                continue;
            }
            let shape = Shape::of(v);
            let every = run_tests(v, &shape, u64::MAX);
            let m = candidates(&ShapeClass::of(&shape, v));
            assert_eq!(
                every & !m,
                0,
                "{v:?}: passes tests {:b} that are not candidates",
                every & !m
            );
            assert_eq!(run_tests(v, &shape, m), every, "{v:?}");
            assert_eq!(cache.test_value(v), (every, shape.chars), "{v:?}");
        }
    }

    /// The common forms answer as every test would: all dates and date-times of a few years
    /// (valid or not) and amounts of every length, with every first digit.
    #[test]
    fn common_forms_answer_as_every_test() {
        let mut values: Vec<String> = Vec::new();
        for y in [0, 1, 999, 1899, 1900, 1970, 2000, 2023, 2024, 9999] {
            for m in 0..=13 {
                for d in [0, 1, 9, 10, 28, 29, 30, 31, 32] {
                    let date = format!("{y:04}-{m:02}-{d:02}");
                    for t in [
                        "00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "9:00:00",
                    ] {
                        values.push(format!("{date} {t}"));
                        values.push(format!("{date}T{t}"));
                    }
                    values.push(date);
                }
            }
        }
        for int in [
            "0",
            "1",
            "2",
            "9",
            "10",
            "36",
            "47",
            "99",
            "100",
            "250",
            "1234",
            "12345678",
            "123456789",
            "130000000",
            "13000000",
            "123456789012345",
            "1234567890123456",
            "0123",
        ] {
            for frac in ["00", "10", "39", "74", "5", "123"] {
                values.push(format!("{int}.{frac}"));
                values.push(format!("-{int}.{frac}"));
            }
        }
        values.extend(
            [
                "1970-12-30",
                "2024-09-13 16:49:05",
                "47.74",
                "36.10",
                "1.50",
                "1970-1-30",
                "1970/12/30",
            ]
            .map(String::from),
        );
        for v in &values {
            let shape = Shape::of(v);
            let every = run_tests(v, &shape, u64::MAX);
            if let Some(f) = common_form(v) {
                assert_eq!(f, every, "{v:?}");
            }
            assert_eq!(
                ClassCache::default().test_value(v),
                (every, shape.chars),
                "{v:?}"
            );
        }
        // The forms are recognised.
        for v in [
            "1970-12-30",
            "2024-09-13 16:49:05",
            "47.74",
            "1.50",
            "12345678.00",
        ] {
            assert!(common_form(v).is_some(), "{v}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn cjk_forms(raw in "[\u{4dbe}-\u{4e02}\u{4fff}\u{5000}\u{9ffe}-\u{a001}男女未知说明的性别已婚离异丧偶其他张王李欧阳司马科室院医病炎症癌族公司厂局中心站所店村路号省市区县旗诊所卫生服务感染结核梅毒伤口 ·＊1A]{1,16}") {
            // Values are tested trimmed, as `StatsBuilder::add` passes them.
            let v = raw.trim();
            if !v.is_empty() {
                let shape = Shape::of(v);
                let every = run_tests(v, &shape, u64::MAX);
                prop_assert_eq!(ClassCache::default().test_value(v), (every, shape.chars), "{:?}", v);
            }
        }

        #[test]
        fn digit_and_code_forms(v in "[0-9]{1,41}|[0-9]{17}[Xx]|[A-Z][0-9]{1,40}|[CHMWLTEGDSPXZ][0-9]{7,26}|(86|0086|0|1[3-9])[0-9]{8,13}") {
            let shape = Shape::of(&v);
            let every = run_tests(&v, &shape, u64::MAX);
            prop_assert_eq!(ClassCache::default().test_value(&v), (every, shape.chars), "{:?}", v);
        }

        #[test]
        fn common_forms_of_any_digits(v in "[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2})?|[0-9]{1,16}\\.[0-9]{2}") {
            let shape = Shape::of(&v);
            let every = run_tests(&v, &shape, u64::MAX);
            prop_assert_eq!(ClassCache::default().test_value(&v), (every, shape.chars), "{:?}", v);
        }
    }

    /// A gate that leaves out a test a value passes is caught: a mobile number is 11 digits, and
    /// a dispatch that asked for 12 would miss it.
    #[test]
    fn a_wrong_candidate_set_is_caught() {
        let v = "13912345678";
        let shape = Shape::of(v);
        let m = candidates(&ShapeClass::of(&shape, v));
        assert_ne!(
            run_tests(v, &shape, m & !bit(MOBILE)),
            run_tests(v, &shape, u64::MAX)
        );
    }

    /// Values at the edges of the gates: every spelling the validators accept, and near misses.
    const EDGES: &[&str] = &[
        "2024-03-15",
        "2024-3-15",
        "2024/3/15",
        "2024/03/15",
        "2024.3.15",
        "2024.03.15",
        "2024年3月15日",
        "2024年3月15",
        "20240315",
        "20240230",
        "20240315134530",
        "20240315T134530",
        "20240315T1345",
        "2024-03-15 09:30:00",
        "2024-03-15T09:30:00",
        "2024-03-15 09:30",
        "2024-03-15 09:30:00.123",
        "2024-03-15  09:30:00",
        "2024-03-15 24:00:00",
        "2024-03-15 23:60:00",
        "2024-03-15 23:59:60",
        "2023-02-29",
        "2024-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-01-00",
        "0000-01-01",
        "0000-01-01 00:00:00",
        "9999-12-31 23:59:59",
        "2024-03-15 9:30:00",
        "2024-03-15x09:30:00",
        "2024-03-1509:30:00",
        "2024年3月15日 13时45分",
        "2024年3月15日13点45分30秒",
        "2024年3月15日 13时",
        "12.5.6",
        "1.2",
        "250.39",
        "-12.50",
        "+3",
        "0",
        "1",
        "2",
        "9",
        "00",
        "12.",
        ".5",
        "13912345678",
        "139 1234 5678",
        "139-1234-5678",
        "+8613912345678",
        "(+86)13912345678",
        "（+86）13912345678",
        "8613912345678",
        "008613912345678",
        "+86 139 1234 5678",
        "12912345678",
        "1391234567",
        "139123456789",
        "0571-87654321",
        "(010)12345678",
        "（010）12345678",
        "021-12345678-123",
        "021-12345678转123",
        "0571 8765 4321",
        "05718765432",
        "0010-1234567",
        "a.b@example.com.cn",
        "a@b",
        "张三@example.com",
        "I10",
        "i10;E11.9",
        "I10、E11.9",
        "I10，E11.9",
        "I10|E11.9",
        "I10 E11.9",
        "C34.900x001",
        "I10.x00x002",
        "E11.900",
        "I10;高血压",
        "36.10",
        "47.09x001",
        "81.5100x001",
        "36",
        "36.1000",
        "192.168.1.1",
        "::1",
        "fe80::1",
        "1.2.3",
        "1.2.3.4.5",
        "2001:db8::8a2e:370:7334",
        "::ffff:192.168.1.1",
        "浙A12345",
        "京A·D12345",
        "京 A 12345",
        "浙12345",
        "粤BD12345",
        "E12345678",
        "EA1234567",
        "G12345678",
        "H12345678",
        "H1234567890",
        "M12345678",
        "C12345678",
        "W12345678",
        "P1234567",
        "H33010600012",
        "H3301060001",
        "11010519491231002X",
        "11010519491231002x",
        "110105194912310021",
        "110105491231002",
        "110105491331002",
        "990105491231002",
        "330106",
        "999999",
        "4111111111111111",
        "4111111111111112",
        "6222021234567890123",
        "91330106MA2B3C4D5E",
        "91350100M000100Y43",
        "X0000000000000000000000",
        "XA01ABA001A001010100028",
        "ZA01AAA0001010100288",
        "C0101010000000000001",
        "C01010100000000000000000001",
        "110101001000000",
        "112401001000000",
        "张伟",
        "王秀英",
        "欧阳娜",
        "李娜",
        "阿依古丽·买买提",
        "Zhang San",
        "ZHANG Wei",
        "Li Xiaoming",
        "zhang san",
        "Mary Ann",
        "扎西多吉",
        "内科",
        "心血管内科",
        "梅毒",
        "肺炎",
        "男",
        "女",
        "男性",
        "女性",
        "M",
        "F",
        "m",
        "f",
        "male",
        "Female",
        "MALE",
        "未知",
        "未说明的性别",
        "unknown",
        "U",
        "张",
        "北京市",
        "职工基本医疗保险",
        "Acute bronchitis",
        "Essential hypertension",
        "高血压病",
        "慢性乙型病毒性肝炎",
        "HIV disease",
        "Tumor",
        "杭州市西湖区文三路100号",
        "浙江省杭州市西湖区文三路100号1栋1802室",
        "新疆维吾尔自治区阿勒泰地区青河县",
        "杭州市西湖区某某科技有限公司",
        "杭州市第一人民医院",
        "社区卫生服务中心",
        "汉族",
        "维吾尔族",
        "已婚",
        "其他",
        "离异",
        "45岁",
        "45 岁",
        "45周岁",
        "45Y",
        "45y",
        "151",
        "150",
        "0岁",
        "1000",
        "139****5678",
        "张*",
        "***",
        "＊＊",
        "张＊＊",
        "*",
        "JS202403150001",
        "abcd",
        "12 34",
        "A-1_2.3",
        "a b c d e f g h i j k l m n o p",
        "患者自述咳嗽，发热3天",
        "患者自述咳嗽发热三天伴乏力，家属电话13912345678。",
        "\u{3000}",
        "1\u{3000}2",
        "中 文",
        "Ⅻ",
        "①②",
        "ａｂｃ１２３",
        "١٢٣",
        "x",
        "X",
        "T",
        "TT",
        "(\t+86)13912345678",
        "( 86 ) 139 1234 5678",
        "（\u{3000}+86）13912345678",
        "+86-139-1234-5678",
        "139.1234.5678",
        "0101234567",
        "01012345678",
        "010123456789",
        "0010123456",
        "1.2.3.4",
        "255.255.255.255",
        "256.1.1.1",
        "::",
        "1::",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:9",
        "::ffff:1.2.3.4",
        "abc::1",
        "ABC::1",
        "张＊",
        "＊",
        "（010）1234567",
        "Male",
        "FEMALE",
        "四川省眉山市彭山区金桥北路992号\u{a0}22栋\u{a0}1003室",
        "四川省眉山市彭山区金桥北路992号\u{3000}22栋\u{3000}1003室",
        "四川省眉山市彭山区金桥北路992号\u{2000}22栋\u{1680}1003室",
        "四川省眉山市彭山区金桥北路992号\u{85}22栋\u{205f}1003室",
        "四川省眉山市彭山区金桥北路992号 22栋 1003室",
        "四川省眉山市彭山区金桥北路992号 22栋1003室",
        "四川省眉山市彭山区金桥北路992号。",
        "四川省眉山市彭山区金桥北路992号、",
        "四川省眉山市彭山区金桥北路992号，",
        "四川省眉山市彭山区金桥北路992号；",
        "四川省眉山市彭山区金桥北路992号！",
        "四川省眉山市彭山区金桥北路992号？",
        "四川省眉山市彭山区金桥北路992号：",
        "四川省眉山市彭山区金桥北路992号,",
        "四川省眉山市彭山区金桥北路992号＊＊",
        "Unknown",
        "女性",
        "未说明",
        "I10、高血压",
        "I10，E11",
        "I10；E11",
        "I10x",
        "i10",
        "S000000000001",
        "P0000782400",
        "47.74",
        "2024-09-13 16:49:05",
        "1970-12-30",
        "51140319701230281X",
        "四川省眉山市彭山区金桥北路992号22栋1003室",
        "眉山德润农业开发有限公司",
        "职工基本医疗保险",
        "H51140352478",
        "呼吸内科",
        "J06.9",
        "急性上呼吸道感染",
        "a b",
        "a  b c d e f g h i",
        "abcdefghijklmno pqrstu",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
        "1234567890123456789012345678901234567890123456789012",
    ];

    #[test]
    fn trim_is_str_trim() {
        let spaces = [
            "", " ", "\t", "\n", "\u{b}", "\u{c}", "\r", "\u{85}", "\u{a0}", "\u{1680}",
            "\u{2000}", "\u{200a}", "\u{2028}", "\u{2029}", "\u{202f}", "\u{205f}", "\u{3000}",
            "\u{1c}", "\u{200b}", "\u{feff}",
        ];
        let cores = [
            "",
            "a",
            "张伟",
            "1 2",
            "é",
            "\u{3001}",
            "\u{20000}",
            "x\u{3000}y",
            "Ⅻ",
        ];
        for before in spaces {
            for core in cores {
                for after in spaces {
                    let raw = format!("{before}{core}{after}");
                    assert_eq!(trim(&raw), raw.trim(), "{raw:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn trim_is_str_trim_for_any_string(raw in "[\\PC\\s]{0,8}") {
            prop_assert_eq!(trim(&raw), raw.trim());
        }
    }

    #[test]
    fn shape_counts_every_byte() {
        let long = "1a张＊".repeat(30_000);
        for v in [
            "",
            "1",
            "a",
            "张",
            "2024-03-15 09:30:00",
            "张＊＊",
            "a\u{7f}\u{0}~ Z",
            "\u{a0}\u{85}",
            "\u{1680}\u{2000}\u{3000}。、",
            "é",
            &long,
        ] {
            let shape = Shape::of(v);
            let mut ascii: ByteSet = 0;
            for b in v.bytes().filter(u8::is_ascii) {
                ascii |= 1 << b;
            }
            assert_eq!(shape.ascii, ascii, "{v:.20}");
            assert_eq!(shape.non_ascii, !v.is_ascii(), "{v:.20}");
            assert_eq!(shape.digits, v.bytes().filter(u8::is_ascii_digit).count());
            assert_eq!(
                shape.letters,
                v.bytes().filter(u8::is_ascii_alphabetic).count()
            );
            assert_eq!(shape.chars, v.chars().count());
            assert_eq!(
                shape.special,
                v.bytes().any(|b| SPECIAL_LEADS.contains(&b)),
                "{v:.20}"
            );
        }
    }

    #[test]
    fn cjk_ideographs_are_alphabetic() {
        for c in (0x3400..=0x4DBF)
            .chain(0x4E00..=0x9FFF)
            .filter_map(char::from_u32)
        {
            assert!(c.is_alphabetic(), "{c:?}");
        }
        for c in ['a', 'é', '·', ' ', '1', '〇', '\u{20000}', '\u{fa6e}'] {
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "{c:?}");
        }
    }

    #[test]
    fn disease_words_are_found_wherever_they_are() {
        for w in DISEASE_WORDS {
            for v in [
                w.to_string(),
                format!("慢性{w}"),
                format!("{w}伴发热"),
                format!("a{w}b"),
            ] {
                assert!(has_disease_word(&v), "{v}");
            }
        }
        for v in ["", "张伟", "北京市", "内科", "abc"] {
            assert!(!has_disease_word(v), "{v}");
        }
    }

    #[test]
    fn edge_values() {
        let failures: Vec<String> = EDGES.iter().filter_map(|v| agree(v).err()).collect();
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn every_value_of_the_labelled_corpus_and_the_generated_tables() {
        let mut values: Vec<String> = Vec::new();
        for file in corpus::corpus(400, 20_240_315) {
            for column in file.columns {
                values.extend(column.values);
            }
        }
        values.extend(corpus::text_cases(7, 500).into_iter().map(|c| c.text));
        for table in medspace_gen::Table::ALL {
            let mut csv = Vec::new();
            medspace_gen::generate(
                &medspace_gen::GenOptions {
                    rows: 3000,
                    seed: 7,
                    table,
                    persons: None,
                },
                &mut csv,
                &mut |_| {},
            )
            .unwrap();
            let mut reader = csv::Reader::from_reader(csv.as_slice());
            for record in reader.records() {
                values.extend(record.unwrap().iter().map(str::to_string));
            }
        }
        assert!(values.len() > 100_000, "{}", values.len());
        let failures: Vec<String> = values.iter().filter_map(|v| agree(v).err()).collect();
        assert!(
            failures.is_empty(),
            "{} values: {:#?}",
            failures.len(),
            failures.iter().take(20).collect::<Vec<_>>()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        /// Random strings over the characters the gates look at.
        #[test]
        fn random_values(v in "[0-9A-Za-z .:@*＊·•\\-_/+()（）,;|、，；。T Xx岁周年月日时点分秒省市区县路号村室科院医病炎族婚张王李浙京A转]{1,24}") {
            prop_assert!(agree(&v).is_ok(), "{:?}", agree(&v));
        }

        /// Date-, time- and number-shaped strings, valid or not.
        #[test]
        fn date_and_number_shapes(v in "[0-9]{1,4}[-/.年]?[0-9]{1,2}[-/.月]?[0-9]{1,2}日?([ T][0-9]{1,2}[:时点]?[0-9]{1,2}([:分][0-9]{1,2}秒?)?)?") {
            prop_assert!(agree(&v).is_ok(), "{:?}", agree(&v));
        }

        /// Digit strings of the lengths of identifiers, phone and card numbers.
        #[test]
        fn digit_strings(v in "[0-9+()\\- ]{6,20}[0-9Xx]?") {
            prop_assert!(agree(&v).is_ok(), "{:?}", agree(&v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_tests() {
        assert!(is_landline("0571-87654321"));
        assert!(is_landline("(010)12345678"));
        assert!(is_landline("021-12345678-123"));
        assert!(!is_landline("13912345678"));
        assert!(!is_landline("12345678"));
        assert!(is_email("a.b@example.com.cn"));
        assert!(!is_email("a@b"));
        assert!(!is_email("张三@example.com"));
        assert!(is_icd_list("I10"));
        assert!(is_icd_list("i10;E11.9"));
        assert!(!is_icd_list("I10;高血压"));
        assert!(!is_icd_list(""));
        assert!(is_institution_code("H33010600012"));
        assert!(!is_institution_code("H3301060001"));
        assert!(
            is_number("-12.50")
                && is_number("0")
                && !is_number("1,234")
                && !is_number("12.")
                && !is_number(".")
        );
        assert_eq!(age_of("45岁"), (true, true));
        assert_eq!(age_of("45"), (true, false));
        assert_eq!(age_of("151"), (false, false));
        assert!(is_plate("浙A12345") && is_plate("京A·D12345") && !is_plate("浙12345"));
        // The dash some systems write after the issuing authority (Faker's zh_CN plates).
        assert!(is_plate("粤H-20819") && is_plate("桂B-8452D") && !is_plate("粤H--20819"));
        assert!(!is_plate("粤-H20819"));
        assert!(is_passport("E12345678") && is_passport("EA1234567") && !is_passport("H12345678"));
        assert!(luhn("4111111111111111") && !luhn("4111111111111112"));
        assert!(
            is_code_like("JS202403150001", 14)
                && !is_code_like("abcd", 4)
                && !is_code_like("12 34", 5)
        );
    }

    #[test]
    fn names_versus_other_short_chinese_words() {
        for name in [
            "张伟",
            "王秀英",
            "欧阳娜",
            "李娜",
            "阿依古丽·买买提",
            "Zhang San",
            "ZHANG Wei",
        ] {
            assert!(is_person_name(name, name.chars().count()), "{name}");
        }
        for not in [
            "内科",
            "梅毒",
            "肺炎",
            "男",
            "张",
            "北京市",
            "职工基本医疗保险",
            "Acute bronchitis",
            "高血压病",
        ] {
            let chars = not.chars().count();
            let diagnosis = is_diagnosis_name(not, chars, not.chars().any(is_cjk));
            assert!(diagnosis || !is_person_name(not, chars), "{not}");
        }
    }

    #[test]
    fn an_ascii_full_stop_ends_a_sentence_only_after_a_chinese_character() {
        let text = "个人一点提供成功时候虽然应用系列首页组织全国.";
        assert!(is_free_text(text, text.chars().count()));
        // Decimal points and codes are not sentence ends.
        for v in [
            "I10.x00x002高血压病糖尿病冠心病",
            "体温37.5度血压120.80正常范围内",
        ] {
            assert!(!is_free_text(v, v.chars().count()), "{v}");
        }
        let stats = Stats::of(&[text, "城市起来可能联系销售.联系电话。"]);
        assert_eq!(stats.free_text, 1.0);
    }

    #[test]
    fn addresses_organisations_departments() {
        assert!(is_address("浙江省杭州市西湖区文三路100号", 16));
        // A lane and house number, with no other marker (mimesis's zh addresses).
        for v in ["永定东九条373号", "西单北三条733号", "清河口街道511号"] {
            assert!(is_address(v, v.chars().count()), "{v}");
        }
        for v in [
            "永定东九条号",
            "永定东九条123456号",
            "ABCDEF373号",
            "永定东九条373",
        ] {
            assert!(!is_address(v, v.chars().count()), "{v}");
        }
        assert!(!is_address("杭州", 2));
        let s = Stats::of(&[
            "杭州市西湖区某某科技有限公司",
            "杭州市第一人民医院",
            "心血管内科",
        ]);
        assert!((s.organisation - 1.0 / 3.0).abs() < 1e-9);
        assert!((s.hospital - 1.0 / 3.0).abs() < 1e-9);
        assert!((s.department - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.address, 0.0, "organisations are not addresses");
    }

    #[test]
    fn stats_ignore_empty_values_and_count_distinct() {
        let s = Stats::of(&["", "  ", "13912345678", "13912345678", "13812345678"]);
        assert_eq!(s.n, 3);
        assert_eq!(s.distinct, 2);
        assert_eq!(s.mobile, 1.0);
        assert_eq!(s.min_chars, 11);
        let empty = Stats::of(&[]);
        assert_eq!((empty.n, empty.mobile, empty.min_chars), (0, 0.0, 0));
    }

    /// The memo, the class cache and the distinct-value set change the cost of adding a value,
    /// not the stats: counts, distinct values (exact, and estimated past the distinct-set cap)
    /// and the shortest length are those of testing every value afresh, on runs of one value,
    /// values of the same length, and values that differ only by their spaces.
    #[test]
    fn memoised_stats_are_those_of_testing_every_value() {
        let runs: Vec<String> = vec![
            "男",
            "男",
            " 男 ",
            "女",
            "女",
            "男",
            "13912345678",
            "13912345679",
            "13912345679",
            "139****5678",
            "2024-03-15",
            "2024-03-15",
            "2024-03-16",
            "张三",
            "张三",
            "张三丰",
            "张",
            "张",
            "",
            "  ",
            "张",
            "11010519491231002X",
            "110105194912310021",
            "110105194912310021",
            "\u{3000}门诊\u{3000}",
            "门诊",
            "门诊 ",
            "住院",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        // A column past the distinct-set cap whose values repeat (memo in use), one that hardly
        // repeats (memo switched off), and the values above.
        let mut long = Vec::new();
        let mut rare = Vec::new();
        for i in 0..(DISTINCT_CAP + 20_000) {
            long.push(format!("{:011}", (i / 3) * 7));
            rare.push(if i % 100 == 0 {
                "X1".to_string()
            } else {
                format!("{i}")
            });
        }
        for column in [runs, long, rare] {
            let mut fast = StatsBuilder::default();
            let mut fresh = StatsBuilder::without_memo();
            for v in &column {
                fast.add(v);
                fresh.add(v);
            }
            assert_eq!(fast.counts(), fresh.counts());
            assert_eq!(
                format!("{:?}", fast.finish()),
                format!("{:?}", fresh.finish())
            );
        }
    }

    /// Distinct values are exact up to the cap and estimated within a few per cent beyond it,
    /// whether every value is distinct or each repeats, and whatever the order of the values.
    #[test]
    fn distinct_values_are_exact_below_the_cap_and_close_beyond_it() {
        let distinct_of = |values: &mut dyn Iterator<Item = String>| {
            let mut b = StatsBuilder::default();
            for v in values {
                b.add(&v);
            }
            b.finish()
        };
        let exact = distinct_of(&mut (0..DISTINCT_CAP as u64).map(|i| format!("P{i:09}")));
        assert_eq!(exact.distinct, DISTINCT_CAP);
        for (rows, distinct) in [
            (300_000u64, 300_000u64),
            (400_000, 40_000),
            (200_000, 100_000),
        ] {
            // Sorted (each value's repeats together) and interleaved (repeats far apart).
            let sorted =
                distinct_of(&mut (0..rows).map(|i| format!("{:011}", i * distinct / rows)));
            let spread =
                distinct_of(&mut (0..rows).map(|i| format!("{:011}", (i * 7919) % distinct)));
            for s in [sorted, spread] {
                let error = (s.distinct as f64 - distinct as f64).abs() / distinct as f64;
                assert!(
                    error < 0.05,
                    "{} distinct estimated as {} ({rows} values)",
                    distinct,
                    s.distinct
                );
            }
        }
    }

    #[test]
    fn dates_and_ids() {
        let s = Stats::of(&["2024-03-15 09:30:00", "2024-03-16", "20240317"]);
        assert!((s.datetime - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.date_any, 1.0);
        let ids = Stats::of(&["11010519491231002X", "110105194912310021"]);
        assert_eq!(ids.id_valid, 0.5);
        let legacy = Stats::of(&["110105491231002", "110105491331002", "990105491231002"]);
        assert!((legacy.id_legacy - 1.0 / 3.0).abs() < 1e-9);
        let masked = Stats::of(&["139****5678", "张*", "***", "13912345678"]);
        assert_eq!(masked.masked, 0.5);
        let county = Stats::of(&["330106", "999999"]);
        assert_eq!((county.county, county.six_digits), (0.5, 1.0));
    }
}

/// Cost of the value tests per column of a CSV file, for profiling:
/// `MEDSPACE_VALUE_COST=FILE cargo test --release -p medspace-classify value_cost -- --ignored --nocapture`.
#[cfg(test)]
mod value_cost {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

    use super::*;

    #[test]
    #[ignore = "profiling aid; needs MEDSPACE_VALUE_COST=FILE"]
    fn value_cost() {
        let Ok(path) = std::env::var("MEDSPACE_VALUE_COST") else {
            return;
        };
        let mut reader = csv::Reader::from_path(path).unwrap();
        let names: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let mut columns: Vec<Vec<String>> = vec![Vec::new(); names.len()];
        for record in reader.records() {
            for (c, f) in columns.iter_mut().zip(record.unwrap().iter()) {
                c.push(trim(f).to_string());
            }
        }
        let only: Option<usize> = std::env::var("MEDSPACE_VALUE_COST_COLUMN")
            .ok()
            .and_then(|c| c.parse().ok());
        let mut total = 0.0;
        for (i, (name, values)) in names.iter().zip(&columns).enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let t = std::time::Instant::now();
            let mut x = 0u64;
            let mut cache = ClassCache::default();
            for _ in 0..3 {
                for v in values.iter().filter(|v| !v.is_empty()) {
                    x ^= cache.test_value(v).0;
                }
            }
            let ns = t.elapsed().as_secs_f64() * 1e9 / (3 * values.len()) as f64;
            total += ns;
            println!("{name:20} {ns:8.1} ns/value ({x:x})");
        }
        println!("{:20} {total:8.1} ns/row", "all");
    }
}
