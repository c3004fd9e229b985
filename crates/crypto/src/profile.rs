//! Crypto profiles: the international (AES/SHA-2/Ed25519) and national (SM2/SM3/SM4) algorithm
//! suites — T/CI 857-2024 6.3 (encrypted storage with approved algorithms), GB/T 39786-2021 (use of
//! commercial cryptography: SM2 / SM3 / SM4), GB/T 39725-2020 §10.1 g)–i), DMS 7.2.4.
//!
//! A [`CryptoProfile`] is a deployment choice that names one algorithm for each job:
//!
//! | job | `international` | `national` |
//! |---|---|---|
//! | content encryption (STREAM envelope) | AES-256-GCM | SM4-GCM (GB/T 32907, GCM per RFC 8998) |
//! | key wrapping | AES-256-GCM | SM4-GCM |
//! | hash | SHA-256 | SM3 (GB/T 32905) |
//! | keyed hash (pseudonyms, tokens, derivation) | HMAC-SHA-256 | HMAC-SM3 |
//! | signatures | Ed25519 (RFC 8032) | SM2 with SM3 and a distinguishing ID (GB/T 32918.2, GB/T 35276) |
//! | node-to-node key exchange | — (TLS 1.3 through rustls) | SM2 key exchange with confirmation (GB/T 32918.3, [`crate::Sm2KeyExchange`]) |
//!
//! Stored ciphertexts and wrapped keys name their algorithm in their header ([`AeadAlgorithm::id`]),
//! so decryption never depends on the profile currently configured: a node switched to the
//! national profile still reads its AES-256-GCM objects.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sm3::Sm3;

use crate::sign::SignatureScheme;
use crate::{CryptoError, SecretKey};

/// Header algorithm id of AES-256-GCM (envelope objects and wrapped keys).
pub(crate) const ALG_AES256GCM: u8 = 1;
/// Header algorithm id of SM4-GCM (envelope objects and wrapped keys).
pub(crate) const ALG_SM4GCM: u8 = 2;

/// The algorithm suite a node uses for new data. Serialized as `"international"` / `"national"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CryptoProfile {
    /// AES-256-GCM, SHA-256, HMAC-SHA-256, Ed25519 (the default).
    #[default]
    International,
    /// SM4-GCM, SM3, HMAC-SM3, SM2-with-SM3 (Chinese commercial cryptography, GB/T 39786-2021).
    National,
}

impl CryptoProfile {
    /// Every profile, for listings and tests.
    pub const ALL: [CryptoProfile; 2] = [CryptoProfile::International, CryptoProfile::National];

    /// The configuration name: `"international"` or `"national"`.
    pub const fn name(self) -> &'static str {
        match self {
            CryptoProfile::International => "international",
            CryptoProfile::National => "national",
        }
    }

    /// AEAD for content encryption (the STREAM envelope).
    pub const fn content_cipher(self) -> AeadAlgorithm {
        match self {
            CryptoProfile::International => AeadAlgorithm::Aes256Gcm,
            CryptoProfile::National => AeadAlgorithm::Sm4Gcm,
        }
    }

    /// AEAD for wrapping data keys under the master key.
    pub const fn key_wrap_cipher(self) -> AeadAlgorithm {
        match self {
            CryptoProfile::International => AeadAlgorithm::Aes256Gcm,
            CryptoProfile::National => AeadAlgorithm::Sm4Gcm,
        }
    }

    /// Hash function (content digests, fingerprints, audit chains).
    pub const fn hash(self) -> HashAlgorithm {
        match self {
            CryptoProfile::International => HashAlgorithm::Sha256,
            CryptoProfile::National => HashAlgorithm::Sm3,
        }
    }

    /// Keyed hash for pseudonyms, token digests and key derivation.
    pub const fn keyed_hash(self) -> MacAlgorithm {
        match self {
            CryptoProfile::International => MacAlgorithm::HmacSha256,
            CryptoProfile::National => MacAlgorithm::HmacSm3,
        }
    }

    /// Signature scheme for node keys (signed checkpoints, exports).
    pub const fn signature_scheme(self) -> SignatureScheme {
        match self {
            CryptoProfile::International => SignatureScheme::Ed25519,
            CryptoProfile::National => SignatureScheme::Sm2Sm3,
        }
    }

    /// Key exchange between nodes outside TLS, when the profile prescribes one: SM2 key
    /// exchange (GB/T 32918.3, [`crate::Sm2KeyExchange`]) for the national profile; none for the
    /// international profile, whose nodes agree keys inside TLS 1.3.
    pub const fn key_exchange(self) -> Option<KeyExchangeScheme> {
        match self {
            CryptoProfile::International => None,
            CryptoProfile::National => Some(KeyExchangeScheme::Sm2),
        }
    }

    /// [`Self::hash`] of `data`.
    pub fn digest(self, data: &[u8]) -> [u8; 32] {
        self.hash().digest(data)
    }

    /// [`Self::hash`] of `data`, lowercase hex.
    pub fn digest_hex(self, data: &[u8]) -> String {
        hex::encode(self.digest(data))
    }

    /// [`Self::keyed_hash`] of `data` under `key`.
    pub fn mac(self, key: &SecretKey, data: &[u8]) -> [u8; 32] {
        self.keyed_hash().mac(key.expose(), data)
    }
}

impl fmt::Display for CryptoProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CryptoProfile {
    type Err = CryptoError;

    /// Parses `"international"` or `"national"` (exactly, as in configuration files).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CryptoProfile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                CryptoError::Format(format!(
                    "unknown crypto profile {s:?}; expected \"international\" or \"national\""
                ))
            })
    }
}

/// An authenticated key exchange between two parties with static key pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyExchangeScheme {
    /// SM2 key exchange with SM3 and optional key confirmation (GB/T 32918.3-2016 §6.1),
    /// [`crate::Sm2KeyExchange`].
    Sm2,
}

impl KeyExchangeScheme {
    /// `"sm2-kx"`.
    pub const fn name(self) -> &'static str {
        match self {
            KeyExchangeScheme::Sm2 => "sm2-kx",
        }
    }
}

impl fmt::Display for KeyExchangeScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An authenticated cipher with a 96-bit nonce and a 128-bit tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AeadAlgorithm {
    /// AES-256-GCM (NIST SP 800-38D), 256-bit key. Header id 1.
    Aes256Gcm,
    /// SM4-GCM (GB/T 32907 block cipher in GCM, as in RFC 8998), 128-bit key. Header id 2.
    Sm4Gcm,
}

impl AeadAlgorithm {
    /// The id written into envelope and wrapped-key headers.
    pub const fn id(self) -> u8 {
        match self {
            AeadAlgorithm::Aes256Gcm => ALG_AES256GCM,
            AeadAlgorithm::Sm4Gcm => ALG_SM4GCM,
        }
    }

    /// The algorithm with header id `id`, if this version knows it.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            ALG_AES256GCM => Some(AeadAlgorithm::Aes256Gcm),
            ALG_SM4GCM => Some(AeadAlgorithm::Sm4Gcm),
            _ => None,
        }
    }

    /// Human-readable name (`"AES-256-GCM"`, `"SM4-GCM"`).
    pub const fn name(self) -> &'static str {
        match self {
            AeadAlgorithm::Aes256Gcm => "AES-256-GCM",
            AeadAlgorithm::Sm4Gcm => "SM4-GCM",
        }
    }
}

impl fmt::Display for AeadAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A 256-bit hash function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SM3 (GB/T 32905-2016).
    Sm3,
}

impl HashAlgorithm {
    /// Digest of `data`.
    pub fn digest(self, data: &[u8]) -> [u8; 32] {
        match self {
            HashAlgorithm::Sha256 => Sha256::digest(data).into(),
            HashAlgorithm::Sm3 => Sm3::digest(data).into(),
        }
    }

    /// Human-readable name (`"SHA-256"`, `"SM3"`).
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sm3 => "SM3",
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A keyed hash (HMAC, RFC 2104) with a 256-bit output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacAlgorithm {
    /// HMAC-SHA-256 (RFC 2104 / RFC 4231).
    HmacSha256,
    /// HMAC-SM3 (RFC 2104 over GB/T 32905 SM3).
    HmacSm3,
}

impl MacAlgorithm {
    /// HMAC of `data` under `key` (any key length, as RFC 2104 allows). Prefer
    /// [`CryptoProfile::mac`] with a [`SecretKey`]; raw keys are for interoperability and tests.
    pub fn mac(self, key: &[u8], data: &[u8]) -> [u8; 32] {
        match self {
            MacAlgorithm::HmacSha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                mac.update(data);
                mac.finalize().into_bytes().into()
            }
            MacAlgorithm::HmacSm3 => {
                let mut mac = <Hmac<Sm3> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                mac.update(data);
                mac.finalize().into_bytes().into()
            }
        }
    }

    /// Human-readable name (`"HMAC-SHA-256"`, `"HMAC-SM3"`).
    pub const fn name(self) -> &'static str {
        match self {
            MacAlgorithm::HmacSha256 => "HMAC-SHA-256",
            MacAlgorithm::HmacSm3 => "HMAC-SM3",
        }
    }
}

impl fmt::Display for MacAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_fromstr_and_serde() {
        for p in CryptoProfile::ALL {
            assert_eq!(p.to_string().parse::<CryptoProfile>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name()));
            assert_eq!(serde_json::from_str::<CryptoProfile>(&json).unwrap(), p);
        }
        assert_eq!(CryptoProfile::default(), CryptoProfile::International);
        for bad in ["", "National", "sm", "intl", " national"] {
            let err = bad.parse::<CryptoProfile>().unwrap_err();
            assert!(matches!(err, CryptoError::Format(_)), "{bad:?}");
        }
        assert!(serde_json::from_str::<CryptoProfile>("\"gm\"").is_err());
    }

    #[test]
    fn profiles_pick_their_algorithms() {
        use CryptoProfile::*;
        assert_eq!(International.content_cipher(), AeadAlgorithm::Aes256Gcm);
        assert_eq!(National.content_cipher(), AeadAlgorithm::Sm4Gcm);
        assert_eq!(International.key_wrap_cipher(), AeadAlgorithm::Aes256Gcm);
        assert_eq!(National.key_wrap_cipher(), AeadAlgorithm::Sm4Gcm);
        assert_eq!(International.hash(), HashAlgorithm::Sha256);
        assert_eq!(National.hash(), HashAlgorithm::Sm3);
        assert_eq!(International.keyed_hash(), MacAlgorithm::HmacSha256);
        assert_eq!(National.keyed_hash(), MacAlgorithm::HmacSm3);
        assert_eq!(International.signature_scheme(), SignatureScheme::Ed25519);
        assert_eq!(National.signature_scheme(), SignatureScheme::Sm2Sm3);
    }

    #[test]
    fn algorithm_ids_are_stable() {
        assert_eq!(AeadAlgorithm::Aes256Gcm.id(), 1);
        assert_eq!(AeadAlgorithm::Sm4Gcm.id(), 2);
        for a in [AeadAlgorithm::Aes256Gcm, AeadAlgorithm::Sm4Gcm] {
            assert_eq!(AeadAlgorithm::from_id(a.id()), Some(a));
        }
        assert_eq!(AeadAlgorithm::from_id(0), None);
        assert_eq!(AeadAlgorithm::from_id(3), None);
    }

    #[test]
    fn profile_digest_and_mac_dispatch() {
        assert_eq!(
            CryptoProfile::International.digest_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            CryptoProfile::National.digest_hex(b"abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        let k = SecretKey::from_bytes([9; 32]);
        assert_eq!(
            CryptoProfile::International.mac(&k, b"x"),
            crate::hmac_sha256(&k, b"x")
        );
        assert_eq!(
            CryptoProfile::National.mac(&k, b"x"),
            crate::hmac_sm3(&k, b"x")
        );
        assert_ne!(
            CryptoProfile::National.mac(&k, b"x"),
            CryptoProfile::International.mac(&k, b"x")
        );
    }
}
