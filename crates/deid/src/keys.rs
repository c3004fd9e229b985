//! Per-project de-identification keys.
//!
//! GB/T 39725-2020 §10.2 g): the parameters of de-identification — pseudonym rules, time-shift
//! ranges — are kept secret by the controller. The keys therefore come from the caller (derived
//! per project from the node's master key), never from the policy, never appear in a report or a
//! `Debug` line, and are overwritten when dropped.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The keyed MAC behind pseudonyms, date-shift offsets and noise, chosen by the node's crypto
/// profile (T/CI 857-2024 6.5; GB/T 39786-2021 for the national profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MacAlgorithm {
    /// HMAC-SHA-256 (international profile).
    #[default]
    #[serde(rename = "HMAC-SHA-256")]
    HmacSha256,
    /// HMAC-SM3 (national profile, GB/T 32905 SM3).
    #[serde(rename = "HMAC-SM3")]
    HmacSm3,
}

impl MacAlgorithm {
    /// The name written in reports (`HMAC-SHA-256`, `HMAC-SM3`).
    pub fn name(self) -> &'static str {
        match self {
            MacAlgorithm::HmacSha256 => "HMAC-SHA-256",
            MacAlgorithm::HmacSm3 => "HMAC-SM3",
        }
    }
}

/// The two 32-byte keys one project's de-identification runs under, and their MAC.
///
/// Pseudonyms and date offsets are stable for a given pair of keys (the same patient gets the
/// same code and the same shift in every file of the project) and unlinkable across projects.
pub struct DeidKeys {
    /// Key for `pseudonymize`.
    pub pseudonym_key: [u8; 32],
    /// Key for the per-subject `date_shift` offsets (and `noise`).
    pub date_shift_key: [u8; 32],
    /// The MAC both keys are used with.
    pub mac: MacAlgorithm,
}

impl Zeroize for DeidKeys {
    fn zeroize(&mut self) {
        self.pseudonym_key.zeroize();
        self.date_shift_key.zeroize();
    }
}

impl Drop for DeidKeys {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for DeidKeys {}

impl fmt::Debug for DeidKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeidKeys(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_keys() {
        let keys = DeidKeys {
            pseudonym_key: [0xab; 32],
            date_shift_key: [0xcd; 32],
            mac: MacAlgorithm::HmacSha256,
        };
        let shown = format!("{keys:?} {keys:#?}");
        assert_eq!(format!("{keys:?}"), "DeidKeys(..)");
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab"),
            "{shown}"
        );
    }

    #[test]
    fn zeroize_clears_both_keys() {
        let mut keys = DeidKeys {
            pseudonym_key: [1; 32],
            date_shift_key: [2; 32],
            mac: MacAlgorithm::HmacSha256,
        };
        keys.zeroize();
        assert_eq!(keys.pseudonym_key, [0; 32]);
        assert_eq!(keys.date_shift_key, [0; 32]);
    }
}
