//! Node signing keys — T/CI 857-2024 6.3 and 7.1.1 (key management), GB/T 39786-2021 (SM2
//! signatures for the national profile), GB/T 32918.2-2016 (SM2 digital signature) with SM3
//! (GB/T 32905-2016) and the distinguishing identifier of GB/T 35276-2017 (default
//! `1234567812345678`), RFC 8032 (Ed25519, international profile).
//!
//! [`NodeSigningKey`] and [`NodeVerifyingKey`] hide which scheme is in use behind one API, so
//! signed audit checkpoints and exports work under either [`crate::CryptoProfile`].
//!
//! Encodings:
//!
//! | | Ed25519 | SM2-with-SM3 |
//! |---|---|---|
//! | raw private key | 32-byte seed | 32-byte big-endian scalar |
//! | public key bytes | 32 bytes (RFC 8032) | 65-byte uncompressed SEC1 point |
//! | signature | 64 bytes `R ‖ S` | 64 bytes `r ‖ s` (big-endian); DER via [`sm2_signature_to_der`] |
//! | PKCS#8 / SPKI | OID 1.3.101.112 | id-ecPublicKey with curve OID 1.2.156.10197.1.301 (as OpenSSL 3) |
//!
//! Ed25519 signatures are verified strictly (`verify_strict`: no small-order keys, canonical `S`).
//! SM2 signing is hedged: the per-signature `k` comes from RFC 6979 HMAC-DRBG over the key, the
//! message hash and fresh OS randomness, as implemented by the `sm2` crate.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use serde::{Deserialize, Serialize};
use sm2::dsa::signature::{RandomizedSigner as _, Verifier as _};
use sm2::elliptic_curve::common::getrandom::SysRng;
use sm2::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use zeroize::Zeroizing;

use crate::national;
use crate::CryptoError;

/// Default SM2 distinguishing identifier (GB/T 35276-2017 §5.3 / GM/T 0009: the ASCII string
/// `1234567812345678`), used unless a key is given another with
/// [`NodeSigningKey::with_sm2_distid`].
pub const SM2_DEFAULT_DISTID: &str = "1234567812345678";

/// Longest SM2 distinguishing identifier: its bit length must fit the 16-bit ENTL field.
const SM2_DISTID_MAX: usize = 8191;

/// A signature scheme. Serialized as `"ed25519"` / `"sm2-sm3"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SignatureScheme {
    /// Ed25519 (RFC 8032).
    #[serde(rename = "ed25519")]
    Ed25519,
    /// SM2 digital signature with SM3 and a distinguishing identifier (GB/T 32918.2).
    #[serde(rename = "sm2-sm3")]
    Sm2Sm3,
}

impl SignatureScheme {
    /// `"ed25519"` or `"sm2-sm3"`.
    pub const fn name(self) -> &'static str {
        match self {
            SignatureScheme::Ed25519 => "ed25519",
            SignatureScheme::Sm2Sm3 => "sm2-sm3",
        }
    }
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SignatureScheme {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [SignatureScheme::Ed25519, SignatureScheme::Sm2Sm3]
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                CryptoError::Format(format!(
                    "unknown signature scheme {s:?}; expected \"ed25519\" or \"sm2-sm3\""
                ))
            })
    }
}

fn check_distid(distid: &str) -> Result<(), CryptoError> {
    if distid.len() > SM2_DISTID_MAX {
        return Err(CryptoError::Format(format!(
            "SM2 distinguishing identifier is {} bytes long; at most {SM2_DISTID_MAX}",
            distid.len()
        )));
    }
    Ok(())
}

enum SigningInner {
    /// `ed25519_dalek::SigningKey` zeroizes itself on drop.
    Ed25519(ed25519_dalek::SigningKey),
    Sm2 {
        /// `elliptic_curve::SecretKey` zeroizes itself on drop. The `sm2` crate's own
        /// `SigningKey` does not, so one is built for each signature and dropped at once.
        secret: sm2::SecretKey,
        distid: String,
    },
}

/// A node's private signing key (Ed25519 or SM2), zeroized on drop.
///
/// `Debug` shows the scheme and public key only.
pub struct NodeSigningKey {
    inner: SigningInner,
}

impl fmt::Debug for NodeSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeSigningKey")
            .field("scheme", &self.scheme())
            .field("public_key", &hex::encode(self.public_key_bytes()))
            .finish_non_exhaustive()
    }
}

impl NodeSigningKey {
    /// A fresh random key for `scheme` (SM2 keys get [`SM2_DEFAULT_DISTID`]).
    pub fn generate(scheme: SignatureScheme) -> Result<Self, CryptoError> {
        let inner = match scheme {
            SignatureScheme::Ed25519 => {
                SigningInner::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
            }
            SignatureScheme::Sm2Sm3 => SigningInner::Sm2 {
                secret: national::sm2_generate()?,
                distid: SM2_DEFAULT_DISTID.to_owned(),
            },
        };
        Ok(NodeSigningKey { inner })
    }

    /// From the raw private key (32-byte Ed25519 seed, or 32-byte big-endian SM2 scalar).
    pub fn from_raw(scheme: SignatureScheme, bytes: &[u8]) -> Result<Self, CryptoError> {
        let inner = match scheme {
            SignatureScheme::Ed25519 => {
                let seed = Zeroizing::new(<[u8; 32]>::try_from(bytes).map_err(|_| {
                    CryptoError::Format(format!(
                        "Ed25519 private key: expected 32 bytes, got {}",
                        bytes.len()
                    ))
                })?);
                SigningInner::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            SignatureScheme::Sm2Sm3 => SigningInner::Sm2 {
                secret: national::sm2_secret_from_raw(bytes)?,
                distid: SM2_DEFAULT_DISTID.to_owned(),
            },
        };
        Ok(NodeSigningKey { inner })
    }

    /// The raw private key (see [`Self::from_raw`]).
    pub fn to_raw(&self) -> Zeroizing<Vec<u8>> {
        match &self.inner {
            SigningInner::Ed25519(k) => Zeroizing::new(k.as_bytes().to_vec()),
            SigningInner::Sm2 { secret, .. } => {
                let bytes = Zeroizing::new(<[u8; 32]>::from(secret.to_bytes()));
                Zeroizing::new(bytes.to_vec())
            }
        }
    }

    /// From PKCS#8 DER; the scheme is read from the algorithm identifier (Ed25519, or EC on the
    /// SM2 curve as `openssl genpkey -algorithm SM2` writes it).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(NodeSigningKey {
                inner: SigningInner::Ed25519(k),
            });
        }
        let secret = national::sm2_secret_from_pkcs8_der(der)
            .map_err(|_| CryptoError::Format("not a PKCS#8 Ed25519 or SM2 private key".into()))?;
        Ok(NodeSigningKey {
            inner: SigningInner::Sm2 {
                secret,
                distid: SM2_DEFAULT_DISTID.to_owned(),
            },
        })
    }

    /// From PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, CryptoError> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(NodeSigningKey {
                inner: SigningInner::Ed25519(k),
            });
        }
        let secret = national::sm2_secret_from_pkcs8_pem(pem).map_err(|_| {
            CryptoError::Format("not a PKCS#8 PEM Ed25519 or SM2 private key".into())
        })?;
        Ok(NodeSigningKey {
            inner: SigningInner::Sm2 {
                secret,
                distid: SM2_DEFAULT_DISTID.to_owned(),
            },
        })
    }

    /// PKCS#8 DER (v1 for Ed25519; SEC1 `ECPrivateKey` inside for SM2).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match &self.inner {
            SigningInner::Ed25519(k) => {
                let doc = k.to_pkcs8_der().map_err(|_| {
                    CryptoError::Format("Ed25519 private key: PKCS#8 encoding failed".into())
                })?;
                Ok(Zeroizing::new(doc.as_bytes().to_vec()))
            }
            SigningInner::Sm2 { secret, .. } => national::sm2_secret_to_pkcs8_der(secret),
        }
    }

    /// PKCS#8 PEM.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, CryptoError> {
        match &self.inner {
            SigningInner::Ed25519(k) => k
                .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .map_err(|_| {
                    CryptoError::Format("Ed25519 private key: PKCS#8 encoding failed".into())
                }),
            SigningInner::Sm2 { secret, .. } => national::sm2_secret_to_pkcs8_pem(secret),
        }
    }

    /// The same SM2 key with another distinguishing identifier (signer and verifier must agree
    /// on it). Fails for Ed25519 keys, which have none, and for identifiers over 8191 bytes.
    pub fn with_sm2_distid(mut self, id: &str) -> Result<Self, CryptoError> {
        check_distid(id)?;
        match &mut self.inner {
            SigningInner::Sm2 { distid, .. } => {
                id.clone_into(distid);
                Ok(self)
            }
            SigningInner::Ed25519(_) => Err(CryptoError::Format(
                "Ed25519 keys have no distinguishing identifier".into(),
            )),
        }
    }

    /// The scheme of this key.
    pub fn scheme(&self) -> SignatureScheme {
        match self.inner {
            SigningInner::Ed25519(_) => SignatureScheme::Ed25519,
            SigningInner::Sm2 { .. } => SignatureScheme::Sm2Sm3,
        }
    }

    /// The public key bytes (32 bytes Ed25519, 65-byte uncompressed SEC1 point SM2).
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match &self.inner {
            SigningInner::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
            SigningInner::Sm2 { secret, .. } => secret.public_key().to_sec1_bytes().into_vec(),
        }
    }

    /// The matching verifying key (with the same SM2 distinguishing identifier).
    pub fn verifying_key(&self) -> NodeVerifyingKey {
        match &self.inner {
            SigningInner::Ed25519(k) => NodeVerifyingKey {
                inner: VerifyingInner::Ed25519(k.verifying_key()),
            },
            SigningInner::Sm2 { secret, distid } => NodeVerifyingKey {
                inner: VerifyingInner::Sm2 {
                    public: secret.public_key(),
                    distid: distid.clone(),
                },
            },
        }
    }

    /// Signs `msg`: 64 bytes (see the module documentation for the encoding).
    ///
    /// Ed25519 signing cannot fail; SM2 signing fails only if the operating system's random
    /// number generator does (or with negligible probability, on a rejected nonce).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match &self.inner {
            SigningInner::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                Ok(k.sign(msg).to_bytes().to_vec())
            }
            SigningInner::Sm2 { secret, distid } => {
                let key = sm2::dsa::SigningKey::new(distid, secret)
                    .map_err(|_| CryptoError::Format("SM2 signing key rejected".into()))?;
                let sig: sm2::dsa::Signature = key
                    .try_sign_with_rng(&mut SysRng, msg)
                    .map_err(|_| CryptoError::Io(std::io::Error::other("SM2 signing failed")))?;
                Ok(sig.to_bytes().to_vec())
            }
        }
    }
}

#[derive(Clone)]
enum VerifyingInner {
    Ed25519(ed25519_dalek::VerifyingKey),
    Sm2 {
        public: sm2::PublicKey,
        distid: String,
    },
}

/// A public key that verifies [`NodeSigningKey`] signatures.
#[derive(Clone)]
pub struct NodeVerifyingKey {
    inner: VerifyingInner,
}

impl fmt::Debug for NodeVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeVerifyingKey")
            .field("scheme", &self.scheme())
            .field("public_key", &hex::encode(self.to_bytes()))
            .finish()
    }
}

impl PartialEq for NodeVerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        match (&self.inner, &other.inner) {
            (VerifyingInner::Ed25519(a), VerifyingInner::Ed25519(b)) => a == b,
            (
                VerifyingInner::Sm2 {
                    public: a,
                    distid: x,
                },
                VerifyingInner::Sm2 {
                    public: b,
                    distid: y,
                },
            ) => a == b && x == y,
            _ => false,
        }
    }
}

impl Eq for NodeVerifyingKey {}

impl NodeVerifyingKey {
    /// From public key bytes (32 bytes Ed25519; SEC1 point SM2, with [`SM2_DEFAULT_DISTID`]).
    pub fn from_bytes(scheme: SignatureScheme, bytes: &[u8]) -> Result<Self, CryptoError> {
        let inner = match scheme {
            SignatureScheme::Ed25519 => {
                let arr = <[u8; 32]>::try_from(bytes).map_err(|_| {
                    CryptoError::Format(format!(
                        "Ed25519 public key: expected 32 bytes, got {}",
                        bytes.len()
                    ))
                })?;
                VerifyingInner::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(
                    |_| CryptoError::Format("Ed25519 public key: not a curve point".into()),
                )?)
            }
            SignatureScheme::Sm2Sm3 => VerifyingInner::Sm2 {
                public: sm2::PublicKey::from_sec1_bytes(bytes).map_err(|_| {
                    CryptoError::Format("not an SM2 public key (SEC1 point)".into())
                })?,
                distid: SM2_DEFAULT_DISTID.to_owned(),
            },
        };
        Ok(NodeVerifyingKey { inner })
    }

    /// From a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`, e.g. `openssl pkey -pubout`).
    pub fn from_public_key_pem(pem: &str) -> Result<Self, CryptoError> {
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Ok(NodeVerifyingKey {
                inner: VerifyingInner::Ed25519(k),
            });
        }
        let public = sm2::PublicKey::from_public_key_pem(pem).map_err(|_| {
            CryptoError::Format("not an Ed25519 or SM2 SubjectPublicKeyInfo PEM".into())
        })?;
        Ok(NodeVerifyingKey {
            inner: VerifyingInner::Sm2 {
                public,
                distid: SM2_DEFAULT_DISTID.to_owned(),
            },
        })
    }

    /// SubjectPublicKeyInfo PEM.
    pub fn to_public_key_pem(&self) -> Result<String, CryptoError> {
        let fail = |_| CryptoError::Format("public key: SPKI encoding failed".into());
        match &self.inner {
            VerifyingInner::Ed25519(k) => k
                .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .map_err(fail),
            VerifyingInner::Sm2 { public, .. } => public
                .to_public_key_pem(sm2::pkcs8::LineEnding::LF)
                .map_err(|_| CryptoError::Format("public key: SPKI encoding failed".into())),
        }
    }

    /// The same SM2 key with another distinguishing identifier. Fails for Ed25519 keys.
    pub fn with_sm2_distid(mut self, id: &str) -> Result<Self, CryptoError> {
        check_distid(id)?;
        match &mut self.inner {
            VerifyingInner::Sm2 { distid, .. } => {
                id.clone_into(distid);
                Ok(self)
            }
            VerifyingInner::Ed25519(_) => Err(CryptoError::Format(
                "Ed25519 keys have no distinguishing identifier".into(),
            )),
        }
    }

    /// The scheme of this key.
    pub fn scheme(&self) -> SignatureScheme {
        match self.inner {
            VerifyingInner::Ed25519(_) => SignatureScheme::Ed25519,
            VerifyingInner::Sm2 { .. } => SignatureScheme::Sm2Sm3,
        }
    }

    /// The public key bytes (see [`NodeSigningKey::public_key_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.inner {
            VerifyingInner::Ed25519(k) => k.to_bytes().to_vec(),
            VerifyingInner::Sm2 { public, .. } => public.to_sec1_bytes().into_vec(),
        }
    }

    /// Verifies a 64-byte signature over `msg`. Any failure — wrong length, malformed encoding,
    /// wrong key, modified message — is [`CryptoError::Signature`].
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        match &self.inner {
            VerifyingInner::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| CryptoError::Signature)?;
                k.verify_strict(msg, &sig)
                    .map_err(|_| CryptoError::Signature)
            }
            VerifyingInner::Sm2 { public, distid } => {
                let key = sm2::dsa::VerifyingKey::new(distid, *public)
                    .map_err(|_| CryptoError::Signature)?;
                let sig = sm2::dsa::Signature::from_slice(signature)
                    .map_err(|_| CryptoError::Signature)?;
                key.verify(msg, &sig).map_err(|_| CryptoError::Signature)
            }
        }
    }
}

/// Converts a 64-byte SM2 signature `r ‖ s` to the ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }`
/// used by OpenSSL and X.509.
pub fn sm2_signature_to_der(signature: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let sig = sm2::dsa::Signature::from_slice(signature)
        .map_err(|_| CryptoError::Format("SM2 signature: expected 64 bytes r ‖ s".into()))?;
    Ok(sig.to_der().to_vec())
}

/// Converts an ASN.1 DER SM2 signature (as `openssl pkeyutl -sign` writes it) to 64 bytes
/// `r ‖ s`, the form [`NodeVerifyingKey::verify`] takes.
pub fn sm2_signature_from_der(der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let sig = sm2::dsa::Signature::from_der(der)
        .map_err(|_| CryptoError::Format("SM2 signature: not a DER SEQUENCE { r, s }".into()))?;
    Ok(sig.to_bytes().to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
mod tests {
    use super::*;

    const SCHEMES: [SignatureScheme; 2] = [SignatureScheme::Ed25519, SignatureScheme::Sm2Sm3];

    #[test]
    fn sign_verify_round_trip_and_rejections() {
        for scheme in SCHEMES {
            let k = NodeSigningKey::generate(scheme).unwrap();
            assert_eq!(k.scheme(), scheme);
            let v = k.verifying_key();
            let sig = k.sign(b"checkpoint 1").unwrap();
            assert_eq!(sig.len(), 64);
            v.verify(b"checkpoint 1", &sig).unwrap();
            assert!(matches!(
                v.verify(b"checkpoint 2", &sig),
                Err(CryptoError::Signature)
            ));
            for i in 0..sig.len() {
                let mut bad = sig.clone();
                bad[i] ^= 0x01;
                assert!(
                    v.verify(b"checkpoint 1", &bad).is_err(),
                    "{scheme} flip {i}"
                );
            }
            assert!(v.verify(b"checkpoint 1", &sig[..63]).is_err());
            assert!(v.verify(b"checkpoint 1", &[]).is_err());
            let other = NodeSigningKey::generate(scheme).unwrap().verifying_key();
            assert!(other.verify(b"checkpoint 1", &sig).is_err());
        }
    }

    #[test]
    fn encodings_round_trip() {
        for scheme in SCHEMES {
            let k = NodeSigningKey::generate(scheme).unwrap();
            let pk = k.public_key_bytes();
            assert_eq!(
                pk.len(),
                if scheme == SignatureScheme::Ed25519 {
                    32
                } else {
                    65
                }
            );
            let raw = NodeSigningKey::from_raw(scheme, &k.to_raw()).unwrap();
            assert_eq!(raw.public_key_bytes(), pk);
            let der = NodeSigningKey::from_pkcs8_der(&k.to_pkcs8_der().unwrap()).unwrap();
            assert_eq!(der.scheme(), scheme);
            assert_eq!(der.public_key_bytes(), pk);
            let pem = NodeSigningKey::from_pkcs8_pem(&k.to_pkcs8_pem().unwrap()).unwrap();
            assert_eq!(pem.public_key_bytes(), pk);
            let v = NodeVerifyingKey::from_bytes(scheme, &pk).unwrap();
            assert_eq!(v, k.verifying_key());
            assert_eq!(v.to_bytes(), pk);
            let spki = v.to_public_key_pem().unwrap();
            assert!(spki.starts_with("-----BEGIN PUBLIC KEY-----"));
            assert_eq!(NodeVerifyingKey::from_public_key_pem(&spki).unwrap(), v);
            v.verify(b"m", &pem.sign(b"m").unwrap()).unwrap();
        }
        assert!(NodeSigningKey::from_pkcs8_der(b"not a key").is_err());
        assert!(NodeSigningKey::from_raw(SignatureScheme::Ed25519, &[1; 31]).is_err());
        assert!(NodeSigningKey::from_raw(SignatureScheme::Sm2Sm3, &[0; 32]).is_err());
        assert!(NodeVerifyingKey::from_bytes(SignatureScheme::Sm2Sm3, &[4; 65]).is_err());
    }

    #[test]
    fn sm2_distid_must_match() {
        let k = NodeSigningKey::generate(SignatureScheme::Sm2Sm3).unwrap();
        let sig = k.sign(b"m").unwrap();
        let v = k.verifying_key();
        v.verify(b"m", &sig).unwrap();
        let alice = v.clone().with_sm2_distid("ALICE123@YAHOO.COM").unwrap();
        assert!(alice.verify(b"m", &sig).is_err());
        let k = k.with_sm2_distid("ALICE123@YAHOO.COM").unwrap();
        alice.verify(b"m", &k.sign(b"m").unwrap()).unwrap();
        assert!(NodeSigningKey::generate(SignatureScheme::Ed25519)
            .unwrap()
            .with_sm2_distid("x")
            .is_err());
        assert!(NodeSigningKey::generate(SignatureScheme::Sm2Sm3)
            .unwrap()
            .with_sm2_distid(&"x".repeat(8192))
            .is_err());
    }

    #[test]
    fn sm2_signatures_are_randomized_and_der_round_trips() {
        let k = NodeSigningKey::generate(SignatureScheme::Sm2Sm3).unwrap();
        let a = k.sign(b"m").unwrap();
        let b = k.sign(b"m").unwrap();
        assert_ne!(a, b, "hedged signing draws fresh randomness");
        let der = sm2_signature_to_der(&a).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(sm2_signature_from_der(&der).unwrap(), a);
        assert!(sm2_signature_from_der(&a).is_err());
        assert!(sm2_signature_to_der(&der).is_err());
    }

    #[test]
    fn debug_shows_no_private_key() {
        for scheme in SCHEMES {
            let k = NodeSigningKey::generate(scheme).unwrap();
            let shown = format!("{k:?}");
            let raw = hex::encode(&*k.to_raw());
            assert!(!shown.contains(&raw[..16]), "{shown}");
            assert!(shown.contains(&hex::encode(k.public_key_bytes())));
        }
    }

    #[test]
    fn scheme_names() {
        for s in SCHEMES {
            assert_eq!(s.to_string().parse::<SignatureScheme>().unwrap(), s);
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()));
        }
        assert!("SM2".parse::<SignatureScheme>().is_err());
    }
}
