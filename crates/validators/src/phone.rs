//! Mainland China mobile numbers (GB/T 39725-2020 Appendix G: telephone numbers are direct
//! identifiers).
//!
//! A mobile number is 11 digits `1[3-9]xxxxxxxxx` (MIIT 电信网码号资源 numbering plan). Written
//! forms accepted: an optional country prefix `+86`, `86` or `0086`, and spaces or dashes
//! between digits (`+86 139-1234-5678`).

/// The 11-digit form of a mobile number, or `None` if `s` is not one.
pub fn normalize_mobile(s: &str) -> Option<String> {
    let s = s.trim();
    let (plus, rest) = match s.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let mut digits = String::with_capacity(15);
    let mut last_was_sep = true; // no separator first
    for c in rest.chars() {
        match c {
            '0'..='9' => {
                digits.push(c);
                last_was_sep = false;
            }
            ' ' | '-' if !last_was_sep => last_was_sep = true,
            _ => return None,
        }
    }
    if last_was_sep || digits.len() > 15 {
        return None;
    }
    let national = if plus || digits.len() == 13 {
        digits.strip_prefix("86")?
    } else if digits.len() == 15 {
        digits.strip_prefix("0086")?
    } else {
        digits.as_str()
    };
    let b = national.as_bytes();
    if b.len() == 11
        && b.first() == Some(&b'1')
        && b.get(1).is_some_and(|d| (b'3'..=b'9').contains(d))
    {
        Some(national.to_string())
    } else {
        None
    }
}

/// True if `s` is a mainland mobile number in one of the accepted written forms.
pub fn is_mobile(s: &str) -> bool {
    normalize_mobile(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_written_forms() {
        for ok in [
            "13912345678",
            "199 0000 1111",
            "139-1234-5678",
            "+8613912345678",
            "+86 139 1234 5678",
            "+86-139-1234-5678",
            "8613912345678",
            "008613912345678",
            " 17712345678 ",
        ] {
            assert!(is_mobile(ok), "{ok}");
        }
        assert_eq!(
            normalize_mobile("+86 139-1234-5678").as_deref(),
            Some("13912345678")
        );
    }

    #[test]
    fn rejects_other_numbers() {
        for bad in [
            "",
            "1391234567",      // 10 digits
            "139123456789",    // 12 digits
            "12912345678",     // second digit 2
            "23912345678",     // not starting with 1
            "010-12345678",    // landline
            "+85213912345678", // Hong Kong prefix
            "+1 13912345678",
            "139 1234 567a",
            "139--1234-5678",
            "-13912345678",
            "13912345678-",
            "１３９１２３４５６７８",
        ] {
            assert!(!is_mobile(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_11_digit_1x_number_is_accepted_with_and_without_prefix(second in 3u8..10, rest in proptest::collection::vec(0u8..10, 9)) {
            let mut n = format!("1{second}");
            n.extend(rest.iter().map(|d| char::from(b'0' + d)));
            prop_assert!(is_mobile(&n));
            prop_assert_eq!(normalize_mobile(&format!("+86 {n}")), Some(n.clone()));
            let with_cc = format!("86{n}");
            prop_assert!(is_mobile(&with_cc));
            let bad = format!("1{}{}", second % 3, &n[2..]);
            prop_assert!(!is_mobile(&bad));
        }
    }
}
