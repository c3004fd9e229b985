//! A tiny fixed-length pattern matcher for the identifier formats of this crate (no regex
//! dependency). Pattern characters:
//!
//! - `9`: an ASCII digit;
//! - `a`: an ASCII upper-case letter;
//! - `b`: an ASCII upper-case letter other than `I` and `O` (the letters most Chinese document
//!   numbers leave out because they read as 1 and 0);
//! - `c`: a digit or a `b` letter;
//! - `x`: a digit or an upper-case letter;
//! - anything else (upper-case letters in particular): that character literally.

/// True if `s` has exactly the pattern's length (in characters) and every character matches.
pub(crate) fn matches(s: &str, pattern: &str) -> bool {
    let mut chars = s.chars();
    for p in pattern.chars() {
        let Some(c) = chars.next() else {
            return false;
        };
        let ok = match p {
            '9' => c.is_ascii_digit(),
            'a' => c.is_ascii_uppercase(),
            'b' => c.is_ascii_uppercase() && c != 'I' && c != 'O',
            'c' => c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O'),
            'x' => c.is_ascii_digit() || c.is_ascii_uppercase(),
            lit => c == lit,
        };
        if !ok {
            return false;
        }
    }
    chars.next().is_none()
}

/// True if `s` is non-empty and all ASCII digits.
pub(crate) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_classes() {
        assert!(matches("E12345678", "E99999999"));
        assert!(!matches("E1234567", "E99999999"));
        assert!(!matches("E123456789", "E99999999"));
        assert!(matches("EA1234567", "Eb9999999"));
        assert!(!matches("EI1234567", "Eb9999999"));
        assert!(matches("Z9", "xc"));
        assert!(!matches("z9", "xc"));
        assert!(matches("CA1234567", "Cc9999999"));
        assert!(!matches("QA1234567", "Cc9999999"));
        assert!(matches("", ""));
        assert!(all_digits("0123"));
        assert!(!all_digits(""));
        assert!(!all_digits("１"));
    }
}
