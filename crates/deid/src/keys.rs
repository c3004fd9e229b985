//! Per-project de-identification keys.
//!
//! GB/T 39725-2020 §10.2 g): the parameters of de-identification — pseudonym rules, time-shift
//! ranges — are kept secret by the controller. The keys therefore come from the caller (derived
//! per project from the node's master key), never from the policy, never appear in a report or a
//! `Debug` line, and are overwritten when dropped.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// The two 32-byte keys one project's de-identification runs under.
///
/// Pseudonyms and date offsets are stable for a given pair of keys (the same patient gets the
/// same code and the same shift in every file of the project) and unlinkable across projects.
pub struct DeidKeys {
    /// HMAC-SHA-256 key for `pseudonymize`.
    pub pseudonym_key: [u8; 32],
    /// HMAC-SHA-256 key for the per-subject `date_shift` offsets.
    pub date_shift_key: [u8; 32],
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
        };
        keys.zeroize();
        assert_eq!(keys.pseudonym_key, [0; 32]);
        assert_eq!(keys.date_shift_key, [0; 32]);
    }
}
