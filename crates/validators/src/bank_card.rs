//! Bank card numbers (ISO/IEC 7812-1 primary account numbers; GB/T 39725-2020 Appendix G and
//! T/CI 857-2024 list bank account numbers as direct identifiers).
//!
//! Accepted: 16 to 19 digits (the lengths issued by Chinese banks and by UnionPay, JR/T 0025
//! / ISO/IEC 7812-1) whose last digit is the Luhn check digit (ISO/IEC 7812-1 Annex B). Spaces
//! or dashes between digit groups are tolerated (`6222 0212 3456 7890 128`). The issuer network
//! is reported from the leading digits (the BIN / IIN prefix) as information only; an unknown
//! prefix does not make a number invalid.

/// Card network suggested by the leading digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardNetwork {
    /// 中国银联: IIN prefix 62 (and the 81 range used for newer UnionPay cards).
    UnionPay,
    /// Visa: 4.
    Visa,
    /// Mastercard: 51–55, 2221–2720.
    Mastercard,
    /// JCB: 3528–3589.
    Jcb,
    /// American Express: 34, 37.
    Amex,
    /// Discover / Diners: 6011, 644–649, 65.
    Discover,
}

/// The Luhn check digit for `payload` (all digits, the number without its last digit), or
/// `None` if `payload` is empty or has a non-digit.
pub fn luhn_check_digit(payload: &str) -> Option<char> {
    if payload.is_empty() {
        return None;
    }
    let mut sum = 0u32;
    for (i, b) in payload.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    char::from_digit((10 - sum % 10) % 10, 10)
}

/// True if `digits` (at least 2 ASCII digits) ends in its Luhn check digit.
pub fn luhn_valid(digits: &str) -> bool {
    let n = digits.len();
    if n < 2 || !digits.is_char_boundary(n - 1) {
        return false;
    }
    let (payload, check) = digits.split_at(n - 1);
    luhn_check_digit(payload).is_some_and(|c| check.starts_with(c))
}

/// Card network of a digit string by prefix, if one of the known ranges.
pub fn card_network(digits: &str) -> Option<CardNetwork> {
    let p = |n: usize| digits.get(..n).and_then(|s| s.parse::<u32>().ok());
    let (p1, p2, p3, p4) = (p(1)?, p(2)?, p(3), p(4));
    if p2 == 62 || p2 == 81 {
        return Some(CardNetwork::UnionPay);
    }
    if p1 == 4 {
        return Some(CardNetwork::Visa);
    }
    if (51..=55).contains(&p2) || p4.is_some_and(|p| (2221..=2720).contains(&p)) {
        return Some(CardNetwork::Mastercard);
    }
    if p4.is_some_and(|p| (3528..=3589).contains(&p)) {
        return Some(CardNetwork::Jcb);
    }
    if p2 == 34 || p2 == 37 {
        return Some(CardNetwork::Amex);
    }
    if p4 == Some(6011) || p3.is_some_and(|p| (644..=649).contains(&p)) || p2 == 65 {
        return Some(CardNetwork::Discover);
    }
    None
}

/// A valid bank card number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankCard {
    /// The digits without separators.
    pub number: String,
    /// Network by prefix, if known.
    pub network: Option<CardNetwork>,
}

/// Parses a bank card number: 16–19 digits after removing single spaces or dashes between
/// digits, passing the Luhn check.
pub fn parse(s: &str) -> Option<BankCard> {
    let s = s.trim();
    let mut digits = String::with_capacity(19);
    let mut last_sep = true;
    for c in s.chars() {
        match c {
            '0'..='9' => {
                digits.push(c);
                last_sep = false;
            }
            ' ' | '-' if !last_sep => last_sep = true,
            _ => return None,
        }
    }
    if last_sep || !(16..=19).contains(&digits.len()) || !luhn_valid(&digits) {
        return None;
    }
    let network = card_network(&digits);
    Some(BankCard {
        number: digits,
        network,
    })
}

/// True if `s` is a bank card number (16–19 digits, Luhn).
pub fn is_valid(s: &str) -> bool {
    parse(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn luhn_reference_values() {
        // ISO/IEC 7812-1 Annex B example and the well-known test PAN.
        assert_eq!(luhn_check_digit("7992739871"), Some('3'));
        assert!(luhn_valid("79927398713"));
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        assert_eq!(luhn_check_digit(""), None);
        assert_eq!(luhn_check_digit("12a"), None);
        assert!(!luhn_valid("0"));
    }

    #[test]
    fn networks() {
        assert_eq!(
            card_network("6222021234567890128"),
            Some(CardNetwork::UnionPay)
        );
        assert_eq!(card_network("4111111111111111"), Some(CardNetwork::Visa));
        assert_eq!(
            card_network("5500000000000004"),
            Some(CardNetwork::Mastercard)
        );
        assert_eq!(
            card_network("2221000000000009"),
            Some(CardNetwork::Mastercard)
        );
        assert_eq!(card_network("3530111333300000"), Some(CardNetwork::Jcb));
        assert_eq!(
            card_network("6011000990139424"),
            Some(CardNetwork::Discover)
        );
        assert_eq!(card_network("9558800000000000"), None);
    }

    proptest! {
        #[test]
        fn appended_check_digit_validates_and_one_change_rejects(
            len in 15usize..19,
            digits in proptest::collection::vec(0u8..10, 18),
            pos in 0usize..19,
            delta in 1u8..10,
        ) {
            let payload: String = digits[..len].iter().map(|d| char::from(b'0' + d)).collect();
            let full = format!("{payload}{}", luhn_check_digit(&payload).unwrap());
            prop_assert!(is_valid(&full));
            let pos = pos % full.len();
            let mut b = full.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            // Luhn detects every single-digit substitution.
            prop_assert!(!is_valid(&String::from_utf8(b).unwrap()));
        }
    }
}
