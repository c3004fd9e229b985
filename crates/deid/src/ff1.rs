//! GB/T 39725-2020 §10.2 f) and Table 6 (假名化): format-preserving pseudonyms. The digits of a
//! value are encrypted as one numeral string with FF1 (NIST SP 800-38G) over AES-256, from the
//! `fpe` crate; every other character stays where it was. An 18-digit number stays 18 digits, a
//! `P-000123` stays `P-` and six digits, so downstream schemas and validators keep working.
//!
//! The FF1 key is derived from the project's pseudonym key (HMAC-SHA-256 with a fixed label), so
//! pseudonyms are deterministic within a project — joins across its datasets still work — and
//! unrelated across projects. The tweak is fixed for the same reason. NIST's minimum domain for
//! FF1 is one million values: fewer than six digits is refused, never encrypted weakly.

use aes::Aes256;
use fpe::ff1::{FlexibleNumeralString, FF1};

use crate::transform::hmac_sha256;

/// Fewest digits FF1 accepts here: 10^6 ≥ the NIST SP 800-38G minimum domain size.
pub const MIN_DIGITS: usize = 6;
const KEY_LABEL: &[u8] = b"medspace/deid/ff1/v1";
const TWEAK: &[u8] = b"medspace-pseudonym";

/// Why a value cannot get a format-preserving pseudonym.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ff1Error {
    /// Too few digits for a safe FF1 domain.
    #[error("has {digits} digits; format-preserving pseudonyms need at least {MIN_DIGITS}")]
    TooFewDigits {
        /// Digits found.
        digits: usize,
    },
    /// The cipher refused the input (a bug: inputs are checked first).
    #[error("FF1 failed: {0}")]
    Cipher(String),
}

/// Format-preserving pseudonyms under one project's key.
pub struct Ff1Pseudonymizer {
    ff1: FF1<Aes256>,
}

impl std::fmt::Debug for Ff1Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ff1Pseudonymizer(..)")
    }
}

impl Ff1Pseudonymizer {
    /// The pseudonymizer of a project's pseudonym key.
    pub fn new(pseudonym_key: &[u8; 32]) -> Result<Self, Ff1Error> {
        let mut key = hmac_sha256(pseudonym_key, KEY_LABEL);
        let ff1 = FF1::<Aes256>::new(&key, 10).map_err(|e| Ff1Error::Cipher(e.to_string()));
        zeroize::Zeroize::zeroize(&mut key);
        Ok(Self { ff1: ff1? })
    }

    /// The pseudonym of `value`: its ASCII digits encrypted in place, everything else kept.
    pub fn pseudonymize(&self, value: &str) -> Result<String, Ff1Error> {
        let digits: Vec<u16> = value
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| u16::from(b - b'0'))
            .collect();
        if digits.len() < MIN_DIGITS {
            return Err(Ff1Error::TooFewDigits {
                digits: digits.len(),
            });
        }
        let encrypted: Vec<u16> = self
            .ff1
            .encrypt(TWEAK, &FlexibleNumeralString::from(digits))
            .map_err(|e| Ff1Error::Cipher(e.to_string()))?
            .into();
        let mut next = encrypted.into_iter();
        Ok(value
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    next.next()
                        .and_then(|d| char::from_digit(u32::from(d), 10))
                        .unwrap_or(c)
                } else {
                    c
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// NIST SP 800-38G FF1 samples 7 and 8 (AES-256, radix 10): the `fpe` crate as we call it.
    #[test]
    fn nist_ff1_aes256_samples() {
        let key = hex("2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94");
        let ff1 = FF1::<Aes256>::new(&key, 10).unwrap();
        let pt: Vec<u16> = (0..10).collect();
        for (tweak, expected) in [
            (Vec::new(), [6, 6, 5, 7, 6, 6, 7, 0, 0, 9]),
            (hex("39383736353433323130"), [1, 0, 0, 1, 6, 2, 3, 4, 6, 3]),
        ] {
            let ct: Vec<u16> = ff1
                .encrypt(&tweak, &FlexibleNumeralString::from(pt.clone()))
                .unwrap()
                .into();
            assert_eq!(ct, expected);
        }
    }

    #[test]
    fn short_values_are_refused_and_the_key_is_not_shown() {
        let p = Ff1Pseudonymizer::new(&[7; 32]).unwrap();
        assert_eq!(
            p.pseudonymize("P-123"),
            Err(Ff1Error::TooFewDigits { digits: 3 })
        );
        assert_eq!(format!("{p:?}"), "Ff1Pseudonymizer(..)");
    }

    proptest! {
        /// Length, digit positions and every other character are kept; the same key gives the
        /// same pseudonym, another key another one.
        #[test]
        fn format_is_preserved_and_pseudonyms_are_deterministic(
            value in "[0-9A-Za-z-]{0,4}[0-9]{6,20}[X-]{0,2}"
        ) {
            let a = Ff1Pseudonymizer::new(&[1; 32]).unwrap();
            let b = Ff1Pseudonymizer::new(&[2; 32]).unwrap();
            let pa = a.pseudonymize(&value).unwrap();
            prop_assert_eq!(pa.len(), value.len());
            for (x, y) in value.chars().zip(pa.chars()) {
                prop_assert_eq!(x.is_ascii_digit(), y.is_ascii_digit());
                if !x.is_ascii_digit() {
                    prop_assert_eq!(x, y);
                }
            }
            prop_assert_eq!(&pa, &a.pseudonymize(&value).unwrap());
            prop_assert_ne!(pa, b.pseudonymize(&value).unwrap());
        }
    }
}
