//! Residence permits, travel permits and passports of the PRC and of Hong Kong, Macao and Taiwan
//! residents (GB/T 39725-2020 Appendix G and T/CI 857-2024 list certificate numbers of every kind
//! as direct identifiers).
//!
//! The number formats are set by the issuing authorities (公安部出入境管理局), not by a public
//! standard with a check algorithm, so apart from the residence permits every check here is
//! structural. The accepted forms, with their sources:
//!
//! | document | accepted form | source |
//! |---|---|---|
//! | 港澳台居民居住证 (residence permit for HK, Macao, Taiwan residents) | 18 characters in the GB 11643-1999 format with address code `810000` (HK), `820000` (Macao) or `830000` (Taiwan), valid birth date and MOD 11-2 check character | 《港澳台居民居住证申领发放办法》 (国办发〔2018〕81号) art. 4 |
//! | 港澳居民来往内地通行证 (mainland travel permit for HK/Macao residents, 回乡证) | `H` (HK) or `M` (Macao) + 8 digits (card, since 2013); `H`/`M` + 10 digits (older booklet: 8 digits + 2-digit renewal count) | 公安部 card format (2012 notice); booklet numbers as printed |
//! | 台湾居民来往大陆通行证 (Taiwan compatriot permit, 台胞证) | 8 digits (card, since 2015) | 公安部 2015 card format; the older booklet numbers (10 digits with a letter) are not accepted |
//! | 中华人民共和国护照 (PRC passport) | ordinary: `E` + 8 digits (electronic, 2012); `E` + letter (not I/O) + 7 digits (electronic, from 2017 when the digit range ran out); `G` + 8 digits (2006–2012 ordinary passports, all since expired but still in records); official / service / diplomatic: `P`, `S` or `D` + 7 digits, `S`/`D` + 8 digits, `PE`, `SE` or `DE` + 7 digits (electronic) | numbers as printed; the MRZ check digits are not part of the number |
//! | 出入境证件 of mainland residents | 往来港澳通行证 card `C` + digit or letter (not I/O) + 7 digits; older booklet `W` + 8 digits; 往来台湾通行证 `L` + 8 digits; 中华人民共和国出入境通行证 `T` + 8 digits | numbers as printed |
//!
//! Letters must be upper case; surrounding whitespace is not tolerated (normalise first).

use crate::gb11643;
use crate::pattern::matches;

/// Region of a Hong Kong, Macao or Taiwan resident document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// 香港.
    HongKong,
    /// 澳门.
    Macao,
    /// 台湾.
    Taiwan,
}

/// The region of a valid residence permit number (GB 11643-1999 format, address code 810000 /
/// 820000 / 830000, valid date and check character), or `None`.
pub fn residence_permit(s: &str) -> Option<Region> {
    let id = gb11643::parse(s).ok()?;
    match id.division_code.as_str() {
        "810000" => Some(Region::HongKong),
        "820000" => Some(Region::Macao),
        "830000" => Some(Region::Taiwan),
        _ => None,
    }
}

/// True if `s` is a valid residence permit number for Hong Kong, Macao or Taiwan residents.
pub fn is_residence_permit(s: &str) -> bool {
    residence_permit(s).is_some()
}

/// The region of a 港澳居民来往内地通行证 number: `H`/`M` + 8 digits, or + 10 digits (booklet).
pub fn hk_macao_travel_permit(s: &str) -> Option<Region> {
    let ok = matches(s, "a99999999") || matches(s, "a9999999999");
    match s.as_bytes().first() {
        Some(b'H') if ok => Some(Region::HongKong),
        Some(b'M') if ok => Some(Region::Macao),
        _ => None,
    }
}

/// True if `s` is a 港澳居民来往内地通行证 number.
pub fn is_hk_macao_travel_permit(s: &str) -> bool {
    hk_macao_travel_permit(s).is_some()
}

/// True if `s` is a 台湾居民来往大陆通行证 (card) number: exactly 8 digits. Any 8-digit string
/// matches, so callers should only rely on this with context (a column name, a label).
pub fn is_taiwan_compatriot_permit(s: &str) -> bool {
    matches(s, "99999999")
}

/// Kind of a PRC passport number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassportKind {
    /// 普通护照: `E…` (electronic) or `G…` (2006–2012).
    Ordinary,
    /// 公务护照 / 公务普通护照: `P…`, `S…`, `PE…`, `SE…`.
    Official,
    /// 外交护照: `D…`, `DE…`.
    Diplomatic,
}

/// The kind of a PRC passport number in one of the accepted forms (see the module table).
pub fn passport(s: &str) -> Option<PassportKind> {
    if matches(s, "E99999999") || matches(s, "Eb9999999") || matches(s, "G99999999") {
        return Some(PassportKind::Ordinary);
    }
    if matches(s, "P9999999")
        || matches(s, "S9999999")
        || matches(s, "S99999999")
        || matches(s, "PE9999999")
        || matches(s, "SE9999999")
    {
        return Some(PassportKind::Official);
    }
    if matches(s, "D9999999") || matches(s, "D99999999") || matches(s, "DE9999999") {
        return Some(PassportKind::Diplomatic);
    }
    None
}

/// True if `s` is a PRC passport number in one of the accepted forms.
pub fn is_passport(s: &str) -> bool {
    passport(s).is_some()
}

/// Kind of an exit-entry document of a mainland resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitEntryKind {
    /// 往来港澳通行证, card (2014–): `C` + digit or letter + 7 digits.
    HkMacaoPermitCard,
    /// 往来港澳通行证, booklet: `W` + 8 digits.
    HkMacaoPermitBooklet,
    /// 往来台湾通行证: `L` + 8 digits.
    TaiwanPermit,
    /// 中华人民共和国出入境通行证: `T` + 8 digits.
    ExitEntryPermit,
}

/// The kind of a mainland resident's exit-entry document number, or `None`.
pub fn exit_entry_permit(s: &str) -> Option<ExitEntryKind> {
    if matches(s, "Cc9999999") {
        Some(ExitEntryKind::HkMacaoPermitCard)
    } else if matches(s, "W99999999") {
        Some(ExitEntryKind::HkMacaoPermitBooklet)
    } else if matches(s, "L99999999") {
        Some(ExitEntryKind::TaiwanPermit)
    } else if matches(s, "T99999999") {
        Some(ExitEntryKind::ExitEntryPermit)
    } else {
        None
    }
}

/// True if `s` is a mainland resident's exit-entry document number.
pub fn is_exit_entry_permit(s: &str) -> bool {
    exit_entry_permit(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn residence_permits() {
        let first17 = "81000019900101001";
        let full = format!("{first17}{}", gb11643::check_digit(first17).unwrap());
        assert_eq!(residence_permit(&full), Some(Region::HongKong));
        assert_eq!(residence_permit("11010519491231002X"), None);
    }

    proptest! {
        #[test]
        fn residence_permit_check_character_is_enforced(region in 0usize..3, days in 0i64..30_000, seq in 0u16..1000, delta in 1u8..10, pos in 6usize..17) {
            let code = gb11643::RESIDENCE_PERMIT_CODES[region];
            let date = chrono::NaiveDate::from_ymd_opt(1930, 1, 1).unwrap() + chrono::Duration::days(days);
            let first17 = format!("{code}{}{seq:03}", date.format("%Y%m%d"));
            let full = format!("{first17}{}", gb11643::check_digit(&first17).unwrap());
            prop_assert!(is_residence_permit(&full));
            let mut b = full.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            prop_assert!(!is_residence_permit(&String::from_utf8(b).unwrap()));
        }
    }
}
