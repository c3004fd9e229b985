//! GB 32100-2015 法人和其他组织统一社会信用代码编码规则 (unified social credit code).
//!
//! 18 characters from the 31-character alphabet `0-9 A-H J-N P-R T U W-Y` (no I, O, Z, S, V;
//! §4.1): position 1 登记管理部门代码 (§4.2, table 1: `1`–`9`, `A`, `N`, `Y`), position 2 机构类别
//! 代码 (a digit `1`–`9`), positions 3–8 the GB/T 2260 division code of the registration
//! authority, positions 9–17 the GB 11714 organisation code (主体标识码), position 18 the check
//! character (§4.3 and Appendix B): with each character's value `v_i` (its index in the
//! alphabet) and weights `W_i = 3^(i-1) mod 31`, `C18 = 31 − (Σ v_i·W_i mod 31)`, with 31 read
//! as 0.
//!
//! The organisation code part carries its own GB 11714-1997 check character (weights
//! 3 7 9 10 5 8 4 2, `11 − sum mod 11`, 10 → `X`, 11 → `0`); a mismatch there is reported as a
//! warning, because the code as a whole is still checked by position 18.
//!
//! GB/T 39725-2020 treats an organisation's identifiers as identifying the organisation, not a
//! person; an individual business (个体工商户, category `92`) code identifies its owner.

/// The 31 characters of GB 32100-2015 §4.1 in value order.
pub const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of positions 1–17: `3^(i-1) mod 31` (GB 32100-2015 Appendix B).
pub const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Registration authority codes of GB 32100-2015 table 1.
const REGISTRATION_AUTHORITIES: &[u8] = b"123456789ANY";

/// GB 11714-1997 organisation code weights of positions 1–8.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Why a string is not a unified social credit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    /// Not 18 characters.
    #[error("unified social credit code has {found} characters; GB 32100-2015 requires 18")]
    Length {
        /// Characters found.
        found: usize,
    },
    /// A character outside the 31-character alphabet.
    #[error("unified social credit code position {position} is not in the GB 32100-2015 alphabet")]
    BadCharacter {
        /// 1-based position.
        position: usize,
    },
    /// Position 1 is not a registration authority code of table 1.
    #[error("unified social credit code position 1 is not a registration authority code")]
    BadAuthority,
    /// Position 2 is not a digit 1–9, or positions 3–8 are not digits.
    #[error("unified social credit code positions 2-8 must be a category digit and a 6-digit division code")]
    BadStructure,
    /// Position 18 does not match.
    #[error("unified social credit code check character (position 18) does not match (GB 32100-2015 MOD 31)")]
    Checksum,
}

/// A valid unified social credit code, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialCreditCode {
    /// Position 1: 登记管理部门代码.
    pub registration_authority: char,
    /// Position 2: 机构类别代码.
    pub category: char,
    /// Positions 3–8: division code of the registration authority.
    pub division_code: String,
    /// Positions 9–17: organisation code (主体标识码).
    pub organization_code: String,
    /// Whether position 17 is the GB 11714 check character of positions 9–16. `false` is a
    /// warning, not an error.
    pub organization_code_check_ok: bool,
}

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|i| i as u32)
}

/// The check character for 17 leading characters, or `None` if `first17` is not 17 characters
/// of the alphabet.
pub fn check_char(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (c, w) in b.iter().zip(WEIGHTS) {
        sum += value(*c)? * w;
    }
    let c = (31 - sum % 31) % 31;
    ALPHABET.get(c as usize).map(|&b| char::from(b))
}

/// GB 11714-1997 check character for the 8-character body of an organisation code.
pub fn organization_check_char(body8: &str) -> Option<char> {
    let b = body8.as_bytes();
    if b.len() != 8 {
        return None;
    }
    let mut sum = 0u32;
    for (c, w) in b.iter().zip(ORG_WEIGHTS) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from(b'0' + d as u8),
    })
}

/// Parses and validates a unified social credit code (upper case only).
pub fn parse(s: &str) -> Result<SocialCreditCode, UsccError> {
    let found = s.chars().count();
    if found != 18 {
        return Err(UsccError::Length { found });
    }
    for (i, c) in s.chars().enumerate() {
        if !c.is_ascii() || value(c as u8).is_none() {
            return Err(UsccError::BadCharacter { position: i + 1 });
        }
    }
    let b = s.as_bytes();
    let (Some(&auth), Some(&cat)) = (b.first(), b.get(1)) else {
        return Err(UsccError::Length { found });
    };
    if !REGISTRATION_AUTHORITIES.contains(&auth) {
        return Err(UsccError::BadAuthority);
    }
    let division = s.get(2..8).unwrap_or_default();
    if !(b'1'..=b'9').contains(&cat) || !division.bytes().all(|c| c.is_ascii_digit()) {
        return Err(UsccError::BadStructure);
    }
    let first17 = s.get(..17).unwrap_or_default();
    if check_char(first17) != s.get(17..).and_then(|c| c.chars().next()) {
        return Err(UsccError::Checksum);
    }
    let org = s.get(8..17).unwrap_or_default();
    let org_ok = organization_check_char(org.get(..8).unwrap_or_default())
        == org.get(8..).and_then(|c| c.chars().next());
    Ok(SocialCreditCode {
        registration_authority: char::from(auth),
        category: char::from(cat),
        division_code: division.to_string(),
        organization_code: org.to_string(),
        organization_code_check_ok: org_ok,
    })
}

/// True if `s` is a valid unified social credit code.
pub fn is_valid(s: &str) -> bool {
    parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weights_are_powers_of_three() {
        let mut w = 1u32;
        for expected in WEIGHTS {
            assert_eq!(w, expected);
            w = w * 3 % 31;
        }
    }

    #[test]
    fn published_example() {
        // The example most references print for GB 32100-2015.
        let c = parse("91350100M000100Y43").unwrap();
        assert_eq!(c.registration_authority, '9');
        assert_eq!(c.division_code, "350100");
        assert_eq!(c.organization_code, "M000100Y4");
        assert!(c.organization_code_check_ok);
        assert_eq!(parse("91350100M000100Y44"), Err(UsccError::Checksum));
        assert_eq!(
            parse("91350100M000100I43"),
            Err(UsccError::BadCharacter { position: 16 })
        );
        assert_eq!(parse("B1350100M000100Y43"), Err(UsccError::BadAuthority));
    }

    fn body() -> impl Strategy<Value = String> {
        (
            prop::sample::select(REGISTRATION_AUTHORITIES.to_vec()),
            1u8..10,
            proptest::collection::vec(0u8..10, 6),
            proptest::collection::vec(0usize..31, 9),
        )
            .prop_map(|(a, c, div, org)| {
                let mut s = String::new();
                s.push(char::from(a));
                s.push(char::from(b'0' + c));
                s.extend(div.iter().map(|d| char::from(b'0' + d)));
                s.extend(org.iter().map(|&i| char::from(ALPHABET[i])));
                s
            })
    }

    proptest! {
        #[test]
        fn computed_check_character_validates(first17 in body()) {
            let c = check_char(&first17).unwrap();
            let full = format!("{first17}{c}");
            prop_assert!(is_valid(&full));
        }

        #[test]
        fn any_single_substitution_is_detected(first17 in body(), pos in 0usize..18, delta in 1usize..31) {
            let c = check_char(&first17).unwrap();
            let mut b = format!("{first17}{c}").into_bytes();
            let cur = ALPHABET.iter().position(|&a| a == b[pos]).unwrap();
            b[pos] = ALPHABET[(cur + delta) % 31];
            prop_assert!(!is_valid(&String::from_utf8(b).unwrap()));
        }
    }
}
