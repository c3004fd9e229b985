//! Validators for Chinese health and insurance identifiers, and the reference data they need.
//!
//! - [`gb11643`]: GB 11643-1999 citizen identity numbers (ISO 7064 MOD 11-2 check character),
//!   the 15-digit legacy form, and division codes checked against current and retired lists.
//! - [`permits`]: residence permits for Hong Kong, Macao and Taiwan residents, travel permits,
//!   PRC passports and exit-entry permits.
//! - [`uscc`]: GB 32100-2015 unified social credit codes (MOD 31 check character).
//! - [`bank_card`]: bank card numbers (ISO/IEC 7812-1 Luhn check, BIN network).
//! - [`reference`]: GB/T 2260 administrative divisions (MCA 2021 and the 1980–2019 revision
//!   history), surnames and given names.
//! - [`phone`]: mainland mobile numbers (MIIT numbering plan, 11 digits) and fixed-line numbers.
//! - [`internet`]: e-mail addresses (RFC 5321/5322 practical subset), IPv4 and IPv6 addresses.
//! - [`postal`]: 6-digit postal codes; [`plate`]: GA 36-2018 vehicle plates.
//! - [`nhsa`]: NHSA 医保信息业务编码 (drugs, consumables, service items, institutions, staff).
//! - [`icd10`]: ICD-10 / GB/T 14396 diagnosis codes, NHSA extension codes, and the special
//!   diseases of GB/T 39725-2020 §11.1.2.3 a) 2); [`icd9cm3`]: ICD-9-CM-3 operation codes.
//! - [`dates`]: GB/T 7408 (ISO 8601) and Chinese date and date-time spellings, epoch numbers.
//! - [`detect`]: which of the above accept a value, with a confidence, best first.
//!
//! Every validator's module documentation cites the standard it implements and, where the value
//! is personal information, the GB/T 39725-2020 / T/CI 857-2024 clause that makes it so. The
//! table-driven examples in `tests/known_examples.rs` pin the accepted and rejected forms.
//!
//! [`Sex`] follows GB/T 2261.1-2003 (1 = 男, 2 = 女).
#![deny(missing_docs)]

pub mod bank_card;
pub mod dates;
pub mod detect;
pub mod gb11643;
pub mod icd10;
pub mod icd9cm3;
pub mod internet;
pub mod nhsa;
mod pattern;
pub mod permits;
pub mod phone;
pub mod plate;
pub mod postal;
pub mod reference;
pub mod uscc;

pub use detect::{detect, Detection, Kind};

/// Sex of a person, coded per GB/T 2261.1-2003 (人的性别代码).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sex {
    /// 男, code 1.
    Male,
    /// 女, code 2.
    Female,
}

impl Sex {
    /// GB/T 2261.1 code: `"1"` for male, `"2"` for female.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
        }
    }

    /// Chinese name: 男 or 女.
    pub fn name_zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }

    /// Parses the spellings found in records: `男`/`女`, `男性`/`女性`, the GB/T 2261.1 codes
    /// `1`/`2`, and `M`/`F` (any case). Anything else (including code 0 "unknown" and 9 "not
    /// stated") gives `None`.
    pub fn parse(s: &str) -> Option<Sex> {
        match s.trim() {
            "男" | "男性" | "1" | "M" | "m" | "male" | "Male" | "MALE" => Some(Sex::Male),
            "女" | "女性" | "2" | "F" | "f" | "female" | "Female" | "FEMALE" => {
                Some(Sex::Female)
            }
            _ => None,
        }
    }

    /// Sex from the 17th digit of a citizen ID number (GB 11643-1999 §4.4: odd = male).
    pub fn from_sequence_digit(d: u8) -> Sex {
        if d % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sex_codes_and_names() {
        assert_eq!(Sex::Male.code(), "1");
        assert_eq!(Sex::Female.code(), "2");
        assert_eq!(Sex::Male.name_zh(), "男");
        assert_eq!(Sex::Female.name_zh(), "女");
        for s in [Sex::Male, Sex::Female] {
            assert_eq!(Sex::parse(s.code()), Some(s));
            assert_eq!(Sex::parse(s.name_zh()), Some(s));
        }
        assert_eq!(Sex::parse("女性"), Some(Sex::Female));
        assert_eq!(Sex::parse("9"), None);
        assert_eq!(Sex::from_sequence_digit(7), Sex::Male);
        assert_eq!(Sex::from_sequence_digit(0), Sex::Female);
    }
}
