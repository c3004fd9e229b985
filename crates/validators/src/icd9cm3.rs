//! ICD-9-CM-3 operation and procedure codes (手术操作分类代码: ICD-9-CM Volume 3 as adopted by
//! the National Health Commission, 国家临床版 3.0, and the NHSA 医保版 2.0 edition). Operation
//! records are health data of GB/T 39725-2020 §6 (level 4 and up when linked to a person).
//!
//! Accepted forms (two-digit chapter `00`–`99`, then an optional dot and digits):
//! - `NN` category (`36`), `NN.N` subcategory (`36.1`), `NN.NN` full code (`36.10`);
//! - the national extensions written as `NN.NNNN` or `NN.NNNNN` (e.g. `36.1000`);
//! - the 国家临床版 / NHSA extension with an `x` marker: `NN.NN` or `NN.NNNN` + `x` + 3 digits
//!   (`47.09x001`, `81.5100x001`).
//!
//! The `x` may be written upper case. The codes are not looked up in a code list, so any
//! two-digit chapter passes; on its own a bare `NN` or `NN.N` is a weak signal.

/// True if `s` is an ICD-9-CM-3 code in one of the accepted forms.
pub fn is_code(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || !b.iter().take(2).all(u8::is_ascii_digit) {
        return false;
    }
    match b.get(2) {
        None => true,
        Some(b'.') => {
            let rest = b.get(3..).unwrap_or_default();
            let x = rest.iter().position(|c| *c == b'x' || *c == b'X');
            match x {
                None => (1..=5).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit),
                Some(i) => {
                    let (head, tail) = rest.split_at(i);
                    (head.len() == 2 || head.len() == 4)
                        && head.iter().all(u8::is_ascii_digit)
                        && tail.len() == 4
                        && tail.iter().skip(1).all(u8::is_ascii_digit)
                }
            }
        }
        Some(_) => false,
    }
}

/// True if `s` has an extension beyond the international `NN.NN` (more digits or an `x`
/// marker) — a much stronger signal than the short forms.
pub fn is_extended(s: &str) -> bool {
    is_code(s) && s.len() > 5
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms() {
        for ok in [
            "36",
            "36.1",
            "36.10",
            "36.1000",
            "47.09x001",
            "81.5100x001",
            "00.66",
            "81.51001",
        ] {
            assert!(is_code(ok), "{ok}");
        }
        for bad in [
            "3",
            "361",
            "36.",
            "36.123456",
            "36.1x001",
            "36.10x01",
            "A6.10",
            "36,10",
        ] {
            assert!(!is_code(bad), "{bad}");
        }
        assert!(is_extended("81.5100x001"));
        assert!(!is_extended("36.10"));
    }

    proptest! {
        #[test]
        fn generated_codes_are_accepted(ch in 0u8..100, sub in 0u16..100, ext in 0u16..1000) {
            let code = format!("{ch:02}.{sub:02}");
            prop_assert!(is_code(&code));
            let x = format!("{code}00x{ext:03}");
            prop_assert!(is_code(&x));
            let longer = format!("{x}0");
            prop_assert!(!is_code(&longer));
        }
    }
}
