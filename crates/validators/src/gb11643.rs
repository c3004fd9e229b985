//! GB 11643-1999 公民身份号码 (citizen identity number).
//!
//! Structure (§4): 6-digit address code (GB/T 2260 division in force at first registration),
//! 8-digit birth date `YYYYMMDD` (§4.3), 3-digit sequence whose last digit is odd for men and even
//! for women (§4.4), and a check character (§4.5) computed with ISO 7064:1983 MOD 11-2 over the
//! first 17 digits with weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 and mapped through
//! `1 0 X 9 8 7 6 5 4 3 2`.
//!
//! Legacy form (GB 11643-1989, the first-generation card): 15 digits — 6-digit address code,
//! birth date `YYMMDD` with the century implicitly 19, and a 3-digit sequence (odd = male); no
//! check character. [`upgrade_15_to_18`] inserts `19` and appends the MOD 11-2 check character
//! as GB 11643-1999 prescribes for conversion.
//!
//! [`parse`] / [`is_valid`] check the 18-character form only and do not look the division code
//! up. [`validate`] takes both forms and checks the address code against the current (MCA 2021,
//! GB/T 2260 2019-04) and retired (GB/T 2260 1980-12 … 2019-04) code lists of
//! [`crate::reference`]: numbers keep the code in force when they were issued, so a retired code
//! is fine, and a well-formed code in neither list gives an [`IdWarning`], not a rejection.
//! Hong Kong, Macao and Taiwan residence permits (address codes 810000, 820000, 830000; see
//! [`crate::permits`]) share this format.
//!
//! GB/T 39725-2020 Appendix G lists the citizen ID number as a direct identifier; T/CI 857-2024
//! treats it likewise for health-data de-identification.

use chrono::{Datelike, Local, NaiveDate};

use crate::reference::{self, DivisionStatus};
use crate::Sex;

/// ISO 7064 MOD 11-2 weights of positions 1–17 (GB 11643-1999 §4.5, table 1).
pub const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Check character by `sum % 11` (GB 11643-1999 §4.5, table 2).
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The earliest birth date accepted.
const EARLIEST_BIRTH: (i32, u32, u32) = (1800, 1, 1);

/// Why a string is not a valid citizen ID number. Messages say what is wrong and where, never
/// the number itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not 18 characters long.
    #[error("citizen ID number has {found} characters; GB 11643-1999 requires 18 (15 for the legacy form)")]
    Length {
        /// Characters found.
        found: usize,
    },
    /// A character in positions 1–17 is not an ASCII digit.
    #[error("citizen ID number has a non-digit at position {position}; positions 1-17 (1-15 in the legacy form) must be digits 0-9")]
    NonDigit {
        /// 1-based position.
        position: usize,
    },
    /// Position 18 is neither a digit nor `X`.
    #[error("citizen ID number position 18 must be a digit or X")]
    BadCheckCharacter,
    /// Positions 7–14 are not a calendar date between 1800-01-01 and today.
    #[error("citizen ID number positions 7-14 are not a valid birth date (YYYYMMDD, 1800-01-01 to today)")]
    BadDate,
    /// The check character does not match positions 1–17.
    #[error("citizen ID number check character (position 18) does not match positions 1-17 (ISO 7064 MOD 11-2)")]
    Checksum,
}

/// The facts a valid citizen ID number states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenId {
    /// Positions 1–6: GB/T 2260 division code of first registration.
    pub division_code: String,
    /// Positions 7–14.
    pub birth_date: NaiveDate,
    /// From position 17 (odd = male).
    pub sex: Sex,
}

impl CitizenId {
    /// Age in completed years on `date`, or `None` if `date` is before the birth date.
    pub fn age_on(&self, date: NaiveDate) -> Option<u32> {
        if date < self.birth_date {
            return None;
        }
        let mut years = date.year() - self.birth_date.year();
        if (date.month(), date.day()) < (self.birth_date.month(), self.birth_date.day()) {
            years -= 1;
        }
        u32::try_from(years).ok()
    }
}

/// Which written form a valid number has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdForm {
    /// 18 characters, GB 11643-1999, with check character.
    Eighteen,
    /// 15 digits, GB 11643-1989 legacy form (`YYMMDD`, century 19), no check character.
    Fifteen,
}

/// Something odd about a number that is still accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum IdWarning {
    /// The address code is well formed but in neither the current nor the retired GB/T 2260
    /// code lists (the lists end in 2019/2021; newer codes land here).
    #[error("address code (positions 1-6) is in neither the current nor the retired GB/T 2260 code lists")]
    UnknownDivision,
    /// The first two digits are not a GB/T 2260 province-level code either.
    #[error("address code (positions 1-2) is not a GB/T 2260 province-level code")]
    UnknownProvince,
}

/// Outcome of [`validate`]: valid (possibly with warnings) or invalid with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdValidation {
    /// The number is acceptable.
    Valid {
        /// What the number states.
        id: CitizenId,
        /// 18- or 15-character form.
        form: IdForm,
        /// The address code against the reference lists. Residence-permit codes 810000, 820000
        /// and 830000 count as current.
        division: DivisionStatus,
        /// Oddities that do not make the number invalid.
        warnings: Vec<IdWarning>,
    },
    /// The number is not acceptable.
    Invalid {
        /// Why.
        reason: IdError,
    },
}

impl IdValidation {
    /// True for [`IdValidation::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, IdValidation::Valid { .. })
    }

    /// Warnings of a valid number; empty for an invalid one.
    pub fn warnings(&self) -> &[IdWarning] {
        match self {
            IdValidation::Valid { warnings, .. } => warnings,
            IdValidation::Invalid { .. } => &[],
        }
    }
}

/// Address codes of the residence permits for Hong Kong, Macao and Taiwan residents
/// (《港澳台居民居住证申领发放办法》 2018).
pub const RESIDENCE_PERMIT_CODES: [&str; 3] = ["810000", "820000", "830000"];

/// Validates an 18-character (GB 11643-1999) or 15-digit legacy (GB 11643-1989) number,
/// including the address code against current and retired GB/T 2260 codes. Surrounding
/// whitespace is not tolerated.
pub fn validate(id: &str) -> IdValidation {
    let (parsed, form) = if id.chars().count() == 15 {
        (parse_legacy15(id), IdForm::Fifteen)
    } else {
        (parse(id), IdForm::Eighteen)
    };
    let id = match parsed {
        Ok(id) => id,
        Err(reason) => return IdValidation::Invalid { reason },
    };
    let code = id.division_code.as_str();
    let division = if RESIDENCE_PERMIT_CODES.contains(&code) {
        DivisionStatus::Current
    } else {
        reference::division_status(code).unwrap_or(DivisionStatus::Unknown)
    };
    let mut warnings = Vec::new();
    if division == DivisionStatus::Unknown {
        warnings.push(IdWarning::UnknownDivision);
        if !code.get(..2).is_some_and(reference::is_province_code) {
            warnings.push(IdWarning::UnknownProvince);
        }
    }
    IdValidation::Valid {
        id,
        form,
        division,
        warnings,
    }
}

/// Parses a 15-digit legacy number (GB 11643-1989): address code, `YYMMDD` birth date in the
/// 1900s, 3-digit sequence (odd = male). There is no check character to verify.
pub fn parse_legacy15(id: &str) -> Result<CitizenId, IdError> {
    let found = id.chars().count();
    if found != 15 {
        return Err(IdError::Length { found });
    }
    for (i, c) in id.chars().enumerate() {
        if !c.is_ascii_digit() {
            return Err(IdError::NonDigit { position: i + 1 });
        }
    }
    let first17 = expand15(id).ok_or(IdError::Length { found })?;
    let birth_date = birth_date_of(&first17).ok_or(IdError::BadDate)?;
    let seq_digit = id
        .as_bytes()
        .get(14)
        .map(|b| b - b'0')
        .ok_or(IdError::Length { found })?;
    Ok(CitizenId {
        division_code: id.get(..6).unwrap_or_default().to_string(),
        birth_date,
        sex: Sex::from_sequence_digit(seq_digit),
    })
}

/// The 18-character form of a valid 15-digit legacy number: `19` inserted before the year and
/// the MOD 11-2 check character appended. `None` if `id` is not a valid legacy number.
pub fn upgrade_15_to_18(id: &str) -> Option<String> {
    parse_legacy15(id).ok()?;
    let first17 = expand15(id)?;
    let c = check_digit(&first17)?;
    Some(format!("{first17}{c}"))
}

/// `AAAAAA YYMMDD SSS` → `AAAAAA 19YYMMDD SSS` (17 digits).
fn expand15(id: &str) -> Option<String> {
    Some(format!("{}19{}", id.get(..6)?, id.get(6..15)?))
}

/// The check character for 17 leading digits, or `None` if `first17` is not exactly 17 ASCII
/// digits.
pub fn check_digit(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (b, w) in bytes.iter().zip(WEIGHTS) {
        if !b.is_ascii_digit() {
            return None;
        }
        sum += u32::from(b - b'0') * w;
    }
    CHECK_CHARS.get((sum % 11) as usize).copied()
}

/// True if `id` is an 18-character citizen ID number with digits in positions 1–17, a valid
/// birth date, and a matching check character (`X` or `x` accepted).
///
/// The same answer as `parse(id).is_ok()`, without building the [`CitizenId`]: a full scan asks
/// this of millions of values, and the allocation of the division code and the clock read of
/// `parse` were most of the cost.
pub fn is_valid(id: &str) -> bool {
    // 18 characters with the first 17 ASCII digits and the last one byte long means 18 bytes.
    let Ok(b) = <&[u8; 18]>::try_from(id.as_bytes()) else {
        return false;
    };
    let mut sum = 0u32;
    for (d, w) in b.iter().zip(WEIGHTS) {
        if !d.is_ascii_digit() {
            return false;
        }
        sum += u32::from(d - b'0') * w;
    }
    let check = match b[17] {
        c @ b'0'..=b'9' => char::from(c),
        b'X' | b'x' => 'X',
        _ => return false,
    };
    if CHECK_CHARS.get((sum % 11) as usize) != Some(&check) {
        return false;
    }
    let num = |from: usize, to: usize| {
        b[from..to]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    // Four digits always fit an i32.
    let year = num(6, 10) as i32;
    NaiveDate::from_ymd_opt(year, num(10, 12), num(12, 14)).is_some_and(birth_date_in_range)
}

/// Parses and validates a citizen ID number.
pub fn parse(id: &str) -> Result<CitizenId, IdError> {
    let found = id.chars().count();
    if found != 18 {
        return Err(IdError::Length { found });
    }
    // 18 chars; all of positions 1-17 must be ASCII, so byte offsets equal char offsets there.
    for (i, c) in id.chars().take(17).enumerate() {
        if !c.is_ascii_digit() {
            return Err(IdError::NonDigit { position: i + 1 });
        }
    }
    let check = id.chars().nth(17).ok_or(IdError::Length { found })?;
    let check = match check {
        '0'..='9' => check,
        'X' | 'x' => 'X',
        _ => return Err(IdError::BadCheckCharacter),
    };
    let first17 = id.get(..17).ok_or(IdError::Length { found })?;
    let birth_date = birth_date_of(first17).ok_or(IdError::BadDate)?;
    if check_digit(first17) != Some(check) {
        return Err(IdError::Checksum);
    }
    let seq_digit = first17
        .as_bytes()
        .get(16)
        .map(|b| b - b'0')
        .ok_or(IdError::Length { found })?;
    Ok(CitizenId {
        division_code: first17.get(..6).unwrap_or_default().to_string(),
        birth_date,
        sex: Sex::from_sequence_digit(seq_digit),
    })
}

/// Birth date in positions 7–14 of an all-digit string, if a real date in range.
fn birth_date_of(first17: &str) -> Option<NaiveDate> {
    let y: i32 = first17.get(6..10)?.parse().ok()?;
    let m: u32 = first17.get(10..12)?.parse().ok()?;
    let d: u32 = first17.get(12..14)?.parse().ok()?;
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    birth_date_in_range(date).then_some(date)
}

/// Whether `date` is between [`EARLIEST_BIRTH`] and today (local time).
fn birth_date_in_range(date: NaiveDate) -> bool {
    use std::sync::atomic::{AtomicI32, Ordering};
    // A day known to be today or earlier (days from the Common Era), so that most dates are
    // checked without reading the clock: reading it (and the local time zone) for every value
    // was the largest cost of validating an ID. The clock is read again only for dates after
    // this day, so the answer is the one a fresh reading would give, also in a process that
    // runs past midnight.
    static NOT_AFTER_TODAY: AtomicI32 = AtomicI32::new(i32::MIN);
    let (ey, em, ed) = EARLIEST_BIRTH;
    if NaiveDate::from_ymd_opt(ey, em, ed).is_none_or(|earliest| date < earliest) {
        return false;
    }
    let day = date.num_days_from_ce();
    if day <= NOT_AFTER_TODAY.load(Ordering::Relaxed) {
        return true;
    }
    let today = Local::now().date_naive();
    NOT_AFTER_TODAY.fetch_max(today.num_days_from_ce(), Ordering::Relaxed);
    date <= today
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The example printed in GB 11643-1999 Appendix A.
    const STANDARD_EXAMPLE: &str = "11010519491231002X";

    #[test]
    fn standard_example_is_valid() {
        assert_eq!(check_digit("11010519491231002"), Some('X'));
        assert!(is_valid(STANDARD_EXAMPLE));
        assert!(is_valid("11010519491231002x"), "lower-case x accepted");
        let id = parse(STANDARD_EXAMPLE).unwrap();
        assert_eq!(id.division_code, "110105");
        assert_eq!(
            id.birth_date,
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.sex, Sex::Female, "17th digit 2 is even");
        assert_eq!(
            id.age_on(NaiveDate::from_ymd_opt(2000, 12, 30).unwrap()),
            Some(50)
        );
        assert_eq!(
            id.age_on(NaiveDate::from_ymd_opt(2000, 12, 31).unwrap()),
            Some(51)
        );
        assert_eq!(
            id.age_on(NaiveDate::from_ymd_opt(1949, 1, 1).unwrap()),
            None
        );
    }

    #[test]
    fn computed_examples_are_valid() {
        // Check characters worked by hand: sum of digit*weight mod 11 through table 2.
        // 44030119800101001: 4*7+4*9+0*10+3*5+0*8+1*4+1*2+9*1+8*6+0*3+0*7+1*9+0*10+1*5+0*8+0*4+1*2 = 158,
        // 158 % 11 = 4 -> '8'.
        assert_eq!(check_digit("44030119800101001"), Some('8'));
        let id = parse("440301198001010018").unwrap();
        assert_eq!(id.sex, Sex::Male);
        assert_eq!(id.division_code, "440301");
        // A leap day.
        let first17 = "33010620000229123";
        let c = check_digit(first17).unwrap();
        let full = format!("{first17}{c}");
        assert!(is_valid(&full));
        assert_eq!(
            parse(&full).unwrap().birth_date,
            NaiveDate::from_ymd_opt(2000, 2, 29).unwrap()
        );
    }

    #[test]
    fn known_bad_numbers_are_rejected_with_the_right_reason() {
        assert_eq!(parse("110105194912310021"), Err(IdError::Checksum));
        assert_eq!(
            parse("11010519491231002"),
            Err(IdError::Length { found: 17 })
        );
        assert_eq!(
            parse("11010519491231002X1"),
            Err(IdError::Length { found: 19 })
        );
        assert_eq!(parse(""), Err(IdError::Length { found: 0 }));
        assert_eq!(
            parse("1101051949A231002X"),
            Err(IdError::NonDigit { position: 11 })
        );
        assert_eq!(parse("11010519491231002Y"), Err(IdError::BadCheckCharacter));
        assert_eq!(
            parse("1101051949123100X2"),
            Err(IdError::NonDigit { position: 17 })
        );
        // 1949-02-30 does not exist.
        let first17 = "11010519490230002";
        let full = format!("{first17}{}", check_digit(first17).unwrap());
        assert_eq!(parse(&full), Err(IdError::BadDate));
        // Month 13.
        let first17 = "11010519491331002";
        let full = format!("{first17}{}", check_digit(first17).unwrap());
        assert_eq!(parse(&full), Err(IdError::BadDate));
        // Far future.
        let first17 = "11010530000101002";
        let full = format!("{first17}{}", check_digit(first17).unwrap());
        assert_eq!(parse(&full), Err(IdError::BadDate));
        // Non-ASCII characters are counted as characters, not bytes.
        assert_eq!(
            parse("１１０１０５１９４９１２３１００２X"),
            Err(IdError::NonDigit { position: 1 })
        );
        assert!(!is_valid("11010519491231002X "));
    }

    #[test]
    fn legacy_15_digit_numbers() {
        let id = parse_legacy15("110105491231002").unwrap();
        assert_eq!(
            id.birth_date,
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.sex, Sex::Female);
        assert_eq!(
            upgrade_15_to_18("110105491231002").as_deref(),
            Some(STANDARD_EXAMPLE)
        );
        assert_eq!(parse_legacy15("110105490230002"), Err(IdError::BadDate));
        assert_eq!(
            parse_legacy15("11010549123100X"),
            Err(IdError::NonDigit { position: 15 })
        );
        assert_eq!(upgrade_15_to_18("11010549123100"), None);
    }

    #[test]
    fn validate_checks_divisions() {
        let v = validate(STANDARD_EXAMPLE);
        assert!(v.is_valid());
        assert!(v.warnings().is_empty());
        // 110103 崇文区 was retired in 2010: still valid, no warning.
        let first17 = "11010319800101001";
        let full = format!("{first17}{}", check_digit(first17).unwrap());
        match validate(&full) {
            IdValidation::Valid {
                division,
                warnings,
                form,
                ..
            } => {
                assert_eq!(division, DivisionStatus::Retired);
                assert!(warnings.is_empty());
                assert_eq!(form, IdForm::Eighteen);
            }
            other => panic!("{other:?}"),
        }
        // Unknown county in a known province: warning only.
        let first17 = "11019919800101001";
        let full = format!("{first17}{}", check_digit(first17).unwrap());
        assert_eq!(validate(&full).warnings(), [IdWarning::UnknownDivision]);
        // Unknown province.
        let first17 = "99019919800101001";
        let full = format!("{first17}{}", check_digit(first17).unwrap());
        assert_eq!(
            validate(&full).warnings(),
            [IdWarning::UnknownDivision, IdWarning::UnknownProvince]
        );
        assert_eq!(
            validate("110105194912310021"),
            IdValidation::Invalid {
                reason: IdError::Checksum
            }
        );
        assert!(validate("110105491231002").is_valid());
        assert!(!validate("1101054912310021").is_valid());
    }

    #[test]
    fn errors_never_echo_the_number() {
        for bad in [
            "110105194912310021",
            "1101051949A231002X",
            "11010519490230002X",
            "123",
        ] {
            let msg = parse(bad).unwrap_err().to_string();
            assert!(!msg.contains(bad), "{msg}");
            assert!(!msg.contains("1101051949"), "{msg}");
        }
    }

    #[test]
    fn check_digit_rejects_malformed_input() {
        assert_eq!(check_digit("1101051949123100"), None);
        assert_eq!(check_digit("110105194912310022"), None);
        assert_eq!(check_digit("1101051949123100a"), None);
    }

    fn digits17_with_valid_date() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(0u8..10, 6),
            1900i32..=2020,
            1u32..=12,
            1u32..=31,
            proptest::collection::vec(0u8..10, 3),
        )
            .prop_filter_map("valid calendar date", |(div, y, m, d, seq)| {
                NaiveDate::from_ymd_opt(y, m, d)?;
                let mut s: String = div.iter().map(|d| char::from(b'0' + d)).collect();
                s.push_str(&format!("{y:04}{m:02}{d:02}"));
                s.extend(seq.iter().map(|d| char::from(b'0' + d)));
                Some(s)
            })
    }

    /// `parse` as it was before `is_valid` got its own path: the reference `is_valid` must agree
    /// with.
    fn parses(id: &str) -> bool {
        parse(id).is_ok()
    }

    #[test]
    fn is_valid_is_parse_ok_at_the_edges() {
        let today = Local::now().date_naive();
        let mut cases: Vec<String> = vec![
            STANDARD_EXAMPLE.into(),
            "11010519491231002x".into(),
            "110105194912310021".into(),
            "11010519491231002".into(),
            "11010519491231002X1".into(),
            "1101051949A231002X".into(),
            "11010519491231002Y".into(),
            "１１０１０５１９４９１２３１００２X".into(),
            "11010519491231002张".into(),
            String::new(),
        ];
        for date in [
            "17991231", "18000101", "19000229", "20000229", "20230229", "20241301", "20240100",
            "00000101", "99991231",
        ]
        .into_iter()
        .map(str::to_string)
        .chain([-1i64, 0, 1, 366].iter().map(|d| {
            (today + chrono::Duration::days(*d))
                .format("%Y%m%d")
                .to_string()
        })) {
            let first17 = format!("110105{date}002");
            if let Some(c) = check_digit(&first17) {
                cases.push(format!("{first17}{c}"));
                cases.push(format!("{first17}{}", if c == '1' { '2' } else { '1' }));
            }
        }
        for id in &cases {
            assert_eq!(is_valid(id), parses(id), "{id}");
        }
        // A birth date of today is valid, tomorrow's is not.
        let first17 = format!("110105{}002", today.format("%Y%m%d"));
        let c = check_digit(&first17).unwrap();
        assert!(is_valid(&format!("{first17}{c}")));
    }

    proptest! {
        #[test]
        fn is_valid_is_parse_ok(id in "[0-9]{6}(1[89]|20|99)[0-9]{2}[01][0-9][0-3][0-9][0-9]{3}[0-9Xx]") {
            prop_assert_eq!(is_valid(&id), parses(&id));
        }

        #[test]
        fn is_valid_is_parse_ok_for_any_short_string(id in "[0-9Xx张 ]{16,19}") {
            prop_assert_eq!(is_valid(&id), parses(&id));
        }

        #[test]
        fn appending_the_check_digit_makes_a_valid_number(first17 in digits17_with_valid_date()) {
            let c = check_digit(&first17).unwrap();
            let full = format!("{first17}{c}");
            prop_assert!(is_valid(&full));
            let id = parse(&full).unwrap();
            prop_assert_eq!(&id.division_code, &first17[..6]);
            let seq_digit = first17.as_bytes()[16] - b'0';
            prop_assert_eq!(id.sex, Sex::from_sequence_digit(seq_digit));
        }

        #[test]
        fn legacy_numbers_upgrade_to_valid_numbers(div in proptest::collection::vec(0u8..10, 6), days in 0i64..36_500, seq in 0u16..1000) {
            let date = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            let div: String = div.iter().map(|d| char::from(b'0' + d)).collect();
            let legacy = format!("{div}{}{seq:03}", date.format("%y%m%d"));
            let up = upgrade_15_to_18(&legacy).unwrap();
            let a = parse_legacy15(&legacy).unwrap();
            let b = parse(&up).unwrap();
            prop_assert_eq!(a, b);
            prop_assert!(validate(&legacy).is_valid());
        }

        #[test]
        fn changing_any_one_character_invalidates(first17 in digits17_with_valid_date(), pos in 0usize..18, delta in 1u8..10) {
            let c = check_digit(&first17).unwrap();
            let mut bytes = format!("{first17}{c}").into_bytes();
            // Replace position `pos` by a different digit (or, at the check position, a different
            // member of 0-9/X).
            if pos < 17 {
                bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            } else {
                let alphabet = b"0123456789X";
                let cur = alphabet.iter().position(|&a| a == bytes[17]).unwrap();
                bytes[17] = alphabet[(cur + usize::from(delta)) % 11];
            }
            let changed = String::from_utf8(bytes).unwrap();
            // MOD 11-2 detects every single-character substitution.
            prop_assert!(!is_valid(&changed));
        }
    }
}
