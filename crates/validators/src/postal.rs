//! Postal codes of mainland China (邮政编码, GB/T 39725-2020 Appendix G: postal codes are
//! quasi-identifiers because they locate a person to a delivery area).
//!
//! China Post codes have six digits (国家邮政局 邮政编码编制规则, four-level structure): digits
//! 1–2 the province-level area, digit 3 the postal zone, digit 4 the county office, digits 5–6
//! the delivery office. The allocated two-digit area prefixes lie in `01`–`86` (`01`–`02`
//! 内蒙古 … `85`–`86` 西藏; Hong Kong, Macao and Taiwan have no mainland postal codes, and the
//! `999077` sometimes written for Hong Kong is a placeholder). Anything outside `01`–`86` is
//! rejected as implausible. No list of issued codes is checked, so this is a plausibility
//! test: every 6-digit string in range passes.

/// True if `s` is six ASCII digits whose first two digits lie in `01`–`86`.
pub fn is_postal_code(s: &str) -> bool {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    s.get(..2)
        .and_then(|p| p.parse::<u8>().ok())
        .is_some_and(|p| (1..=86).contains(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(is_postal_code("100000"));
        assert!(is_postal_code("010010"));
        assert!(is_postal_code("850000"));
        assert!(!is_postal_code("000000"));
        assert!(!is_postal_code("999077"));
        assert!(!is_postal_code("10000"));
    }
}
