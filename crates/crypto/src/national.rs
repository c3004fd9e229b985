//! National (ShangMi) primitives — GB/T 39786-2021 (commercial cryptography for information
//! systems), T/CI 857-2024 6.3: SM3 hash (GB/T 32905-2016), HMAC-SM3 (RFC 2104 over SM3), SM4
//! block cipher (GB/T 32907-2016) in GCM mode (NIST SP 800-38D, as RFC 8998 uses it) and SM2
//! public-key encryption (GB/T 32918.4-2016, ciphertext in the ASN.1 form of GB/T 35276-2017 /
//! GM/T 0009 that OpenSSL also uses).
//!
//! Every primitive comes from a RustCrypto crate (`sm3`, `sm4`, `aes-gcm`'s generic GCM, `sm2`);
//! this module only gives them a small API with typed errors and zeroized keys. SM2 signatures are
//! in [`crate::sign`].
//!
//! # SM4 keys from 256-bit keys
//!
//! SM4 takes 128-bit keys while the key hierarchy hands out 256-bit [`SecretKey`]s (data keys,
//! master key). [`Sm4Key::derive`] maps one to the other:
//!
//! ```text
//! SM4 key = first 16 bytes of HMAC-SM3(secret key, "medspace/v1/sm4/" ‖ purpose)
//! ```
//!
//! The envelope uses purpose `"content"` for object data keys, the key provider `"key-wrap"` for
//! the master key, so one 256-bit key never feeds two ciphers with the same key bytes.

use std::fmt;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::AesGcm;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sm2::elliptic_curve::common::getrandom::SysRng;
use sm2::elliptic_curve::Generate;
use sm2::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sm2::pke::{DecryptingKey, EncryptingKey, Mode};
use sm3::{Digest, Sm3};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, SecretKey};

/// SM4 in GCM mode with a 96-bit nonce and 128-bit tag (RFC 8998 `SM4_GCM`).
pub(crate) type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

/// Domain-separation prefix of [`Sm4Key::derive`].
const SM4_DERIVE_PREFIX: &[u8] = b"medspace/v1/sm4/";

/// SM3 digest of `data`.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    Sm3::digest(data).into()
}

/// SM3 digest of `data`, lowercase hex.
pub fn sm3_hex(data: &[u8]) -> String {
    hex::encode(sm3(data))
}

/// HMAC-SM3 of `data` under `key`.
pub fn hmac_sm3(key: &SecretKey, data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sm3> as Mac>::new_from_slice(key.expose())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A 128-bit SM4 key, zeroized on drop. `Debug` prints `Sm4Key(..)`; equality is constant-time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Sm4Key([u8; 16]);

impl Sm4Key {
    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut k = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Sm4Key(k)
    }

    /// Takes ownership of existing key bytes (the caller should zeroize its own copy).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Sm4Key(bytes)
    }

    /// Derives the SM4 key for `purpose` from a 256-bit key: the first 16 bytes of
    /// HMAC-SM3(`key`, `"medspace/v1/sm4/"` ‖ `purpose`). Deterministic.
    pub fn derive(key: &SecretKey, purpose: &str) -> Self {
        let mut input = Vec::with_capacity(SM4_DERIVE_PREFIX.len() + purpose.len());
        input.extend_from_slice(SM4_DERIVE_PREFIX);
        input.extend_from_slice(purpose.as_bytes());
        let mut full = Zeroizing::new(hmac_sm3(key, &input));
        let mut k = [0u8; 16];
        k.copy_from_slice(&full[..16]);
        full.zeroize();
        Sm4Key(k)
    }

    /// The key bytes — only for handing the key to a cryptographic primitive.
    pub fn expose(&self) -> &[u8; 16] {
        &self.0
    }

    pub(crate) fn gcm(&self) -> Sm4Gcm {
        Sm4Gcm::new(self.expose().into())
    }
}

impl fmt::Debug for Sm4Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sm4Key(..)")
    }
}

impl PartialEq for Sm4Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Sm4Key {}

/// SM4-GCM encryption of one message: returns ciphertext ‖ 16-byte tag.
///
/// The caller must never reuse a `nonce` under the same key (use a fresh random nonce per
/// message, or the streaming envelope, which manages nonces itself).
pub fn sm4_gcm_seal(
    key: &Sm4Key,
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    key.gcm()
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Format("SM4-GCM: message too long".into()))
}

/// SM4-GCM decryption of ciphertext ‖ tag; [`CryptoError::Integrity`] unless the tag verifies.
pub fn sm4_gcm_open(
    key: &Sm4Key,
    nonce: &[u8; 12],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    key.gcm()
        .decrypt(
            nonce.into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Integrity)
}

/// Parses an SM2 private key in PKCS#8 DER (as `openssl genpkey -algorithm SM2` writes it).
pub(crate) fn sm2_secret_from_pkcs8_der(der: &[u8]) -> Result<sm2::SecretKey, CryptoError> {
    sm2::SecretKey::from_pkcs8_der(der)
        .map_err(|_| CryptoError::Format("not a PKCS#8 SM2 private key".into()))
}

/// Encodes an SM2 private key as PKCS#8 DER.
pub(crate) fn sm2_secret_to_pkcs8_der(
    secret: &sm2::SecretKey,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let doc = secret
        .to_pkcs8_der()
        .map_err(|_| CryptoError::Format("SM2 private key: PKCS#8 encoding failed".into()))?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// Encodes an SM2 private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
pub(crate) fn sm2_secret_to_pkcs8_pem(
    secret: &sm2::SecretKey,
) -> Result<Zeroizing<String>, CryptoError> {
    secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| CryptoError::Format("SM2 private key: PKCS#8 encoding failed".into()))
}

/// Parses a raw 32-byte big-endian SM2 private scalar (1 ≤ d < n).
pub(crate) fn sm2_secret_from_raw(bytes: &[u8]) -> Result<sm2::SecretKey, CryptoError> {
    sm2::SecretKey::from_slice(bytes).map_err(|_| {
        CryptoError::Format("SM2 private key: expected 32 bytes encoding a scalar in [1, n)".into())
    })
}

/// A fresh SM2 private key from the operating system's CSPRNG.
pub(crate) fn sm2_generate() -> Result<sm2::SecretKey, CryptoError> {
    sm2::SecretKey::try_generate().map_err(|_| {
        CryptoError::Io(std::io::Error::other(
            "the operating system's random number generator failed",
        ))
    })
}

/// Parses an SM2 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
pub(crate) fn sm2_secret_from_pkcs8_pem(pem: &str) -> Result<sm2::SecretKey, CryptoError> {
    sm2::SecretKey::from_pkcs8_pem(pem)
        .map_err(|_| CryptoError::Format("not a PKCS#8 PEM SM2 private key".into()))
}

/// An SM2 public key for encryption (GB/T 32918.4).
#[derive(Clone, PartialEq, Eq)]
pub struct Sm2EncryptionKey {
    public: sm2::PublicKey,
}

impl fmt::Debug for Sm2EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sm2EncryptionKey")
            .field(&hex::encode(self.to_sec1_bytes()))
            .finish()
    }
}

impl Sm2EncryptionKey {
    /// Parses a SEC1 point (65-byte uncompressed `04 ‖ x ‖ y`, or 33-byte compressed).
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let public = sm2::PublicKey::from_sec1_bytes(bytes)
            .map_err(|_| CryptoError::Format("not an SM2 public key (SEC1 point)".into()))?;
        Ok(Sm2EncryptionKey { public })
    }

    /// Parses a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`, as `openssl pkey -pubout`
    /// writes it).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, CryptoError> {
        let public = sm2::PublicKey::from_public_key_pem(pem)
            .map_err(|_| CryptoError::Format("not an SM2 SubjectPublicKeyInfo PEM".into()))?;
        Ok(Sm2EncryptionKey { public })
    }

    /// The curve point (for the key exchange of [`crate::Sm2KeyExchange`]).
    pub(crate) fn public(&self) -> &sm2::PublicKey {
        &self.public
    }

    /// The uncompressed SEC1 point, 65 bytes.
    pub fn to_sec1_bytes(&self) -> Vec<u8> {
        self.public.to_sec1_bytes().into_vec()
    }

    /// SubjectPublicKeyInfo PEM.
    pub fn to_public_key_pem(&self) -> Result<String, CryptoError> {
        self.public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| CryptoError::Format("SM2 public key: SPKI encoding failed".into()))
    }

    /// SM2 public-key encryption of `plaintext` (C1 ‖ C3 ‖ C2 with SM3, encoded as the ASN.1
    /// `SEQUENCE { x, y, hash, ciphertext }` of GB/T 35276 that `openssl pkeyutl -decrypt` reads).
    /// Randomized: two encryptions of one message differ.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        EncryptingKey::new_with_mode(self.public, Mode::C1C3C2)
            .encrypt_der(&mut SysRng, plaintext)
            .map_err(|_| CryptoError::Format("SM2 encryption failed".into()))
    }
}

/// An SM2 private key for decryption, zeroized on drop. Keep signing keys
/// ([`crate::NodeSigningKey`]) and encryption keys separate.
#[derive(Clone)]
pub struct Sm2DecryptionKey {
    /// `elliptic_curve::SecretKey` zeroizes itself on drop.
    secret: sm2::SecretKey,
}

impl fmt::Debug for Sm2DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sm2DecryptionKey(..)")
    }
}

impl Sm2DecryptionKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Sm2DecryptionKey {
            secret: sm2_generate()?,
        })
    }

    /// From the raw 32-byte big-endian private scalar.
    pub fn from_raw(bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(Sm2DecryptionKey {
            secret: sm2_secret_from_raw(bytes)?,
        })
    }

    /// The private scalar (for the key exchange of [`crate::Sm2KeyExchange`]).
    pub(crate) fn secret(&self) -> &sm2::SecretKey {
        &self.secret
    }

    /// The raw 32-byte private scalar.
    pub fn to_raw(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes().into())
    }

    /// From PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        Ok(Sm2DecryptionKey {
            secret: sm2_secret_from_pkcs8_der(der)?,
        })
    }

    /// From PKCS#8 PEM (as `openssl genpkey -algorithm SM2` writes it).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, CryptoError> {
        Ok(Sm2DecryptionKey {
            secret: sm2_secret_from_pkcs8_pem(pem)?,
        })
    }

    /// PKCS#8 DER.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        sm2_secret_to_pkcs8_der(&self.secret)
    }

    /// PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        sm2_secret_to_pkcs8_pem(&self.secret)
    }

    /// The matching public key.
    pub fn encryption_key(&self) -> Sm2EncryptionKey {
        Sm2EncryptionKey {
            public: self.secret.public_key(),
        }
    }

    /// Decrypts an ASN.1-encoded SM2 ciphertext (see [`Sm2EncryptionKey::encrypt`]);
    /// [`CryptoError::Integrity`] when it is malformed, modified or for another key.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        DecryptingKey::new_with_mode(self.secret.to_nonzero_scalar(), Mode::C1C3C2)
            .decrypt_der(ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Integrity)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn sm4_key_derivation_is_documented_hmac_sm3_prefix() {
        let k = SecretKey::from_bytes([4; 32]);
        let full = hmac_sm3(&k, b"medspace/v1/sm4/content");
        assert_eq!(Sm4Key::derive(&k, "content").expose(), &full[..16]);
        assert_ne!(
            Sm4Key::derive(&k, "content"),
            Sm4Key::derive(&k, "key-wrap")
        );
        assert_ne!(
            Sm4Key::derive(&k, "content"),
            Sm4Key::derive(&SecretKey::from_bytes([5; 32]), "content")
        );
        assert_eq!(format!("{:?}", Sm4Key::generate()), "Sm4Key(..)");
    }

    #[test]
    fn sm4_gcm_round_trip_and_tamper() {
        let k = Sm4Key::generate();
        let n = [7u8; 12];
        let c = sm4_gcm_seal(&k, &n, b"ad", b"hello").unwrap();
        assert_eq!(c.len(), 5 + 16);
        assert_eq!(&*sm4_gcm_open(&k, &n, b"ad", &c).unwrap(), b"hello");
        assert!(matches!(
            sm4_gcm_open(&k, &n, b"AD", &c),
            Err(CryptoError::Integrity)
        ));
        for i in 0..c.len() {
            let mut bad = c.clone();
            bad[i] ^= 1;
            assert!(sm4_gcm_open(&k, &n, b"ad", &bad).is_err());
        }
    }

    #[test]
    fn sm2_encryption_round_trip() {
        let d = Sm2DecryptionKey::generate().unwrap();
        let e = d.encryption_key();
        let c1 = e.encrypt(b"data key").unwrap();
        let c2 = e.encrypt(b"data key").unwrap();
        assert_ne!(c1, c2, "randomized");
        assert_eq!(&*d.decrypt(&c1).unwrap(), b"data key");
        let other = Sm2DecryptionKey::generate().unwrap();
        assert!(matches!(other.decrypt(&c1), Err(CryptoError::Integrity)));
        let mut bad = c1.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(d.decrypt(&bad), Err(CryptoError::Integrity)));
        assert_eq!(format!("{d:?}"), "Sm2DecryptionKey(..)");
        // Key encodings round trip.
        let again = Sm2DecryptionKey::from_pkcs8_pem(&d.to_pkcs8_pem().unwrap()).unwrap();
        assert_eq!(&*again.decrypt(&c1).unwrap(), b"data key");
        let raw = Sm2DecryptionKey::from_raw(&*d.to_raw()).unwrap();
        assert_eq!(raw.encryption_key(), e);
        let pem = e.to_public_key_pem().unwrap();
        assert_eq!(Sm2EncryptionKey::from_public_key_pem(&pem).unwrap(), e);
        assert_eq!(
            Sm2EncryptionKey::from_sec1_bytes(&e.to_sec1_bytes()).unwrap(),
            e
        );
    }
}
