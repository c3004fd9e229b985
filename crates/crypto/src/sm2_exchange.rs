//! SM2 key exchange — GB/T 32918.3-2016 §6 (GM/T 0003.3-2012), with the optional key confirmation
//! of steps B8, A9, A10 and B10; national profile of GB/T 39786-2021 (key agreement with SM2),
//! T/CI 857-2024 6.3 (key management).
//!
//! # Why the protocol is composed here
//!
//! No maintained Rust crate implements SM2 key exchange on the RustCrypto types the node already
//! uses (`sm2` 0.14 signs, verifies, encrypts and decrypts, but has no key exchange). The crates
//! on crates.io that do (`libsm`, `gm-sm2`, `smcrypto`, `sm-crypto`) carry their own field and
//! curve arithmetic on variable-time big integers, and `libsm` and `gm-sm2` hash the confirmation
//! prefix `0x02` / `0x03` as two bytes, so their S_A / S_B match no other implementation. This
//! module therefore composes only the *protocol* of §6.1 from RustCrypto primitives:
//!
//! * curve and scalar arithmetic — `sm2::{ProjectivePoint, AffinePoint, Scalar, NonZeroScalar}`
//!   (fiat-crypto field arithmetic, constant-time scalar multiplication through `primeorder`);
//!   the curve coefficients and base point of Z come from `primeorder::PrimeCurveParams`;
//! * point decoding and validation — `elliptic_curve`'s SEC1 decoding (on-curve check);
//! * hashing — `sm3` (Z, the KDF of §5.4.3 and the confirmation hashes); no own field, curve or
//!   hash code.
//!
//! # Protocol (h = 1, w = ⌈⌈log₂ n⌉ / 2⌉ − 1 = 127)
//!
//! ```text
//! A: r_A ∈ [1, n−1], R_A = [r_A]G                                   ──R_A──▶          (A1–A3)
//! B: r_B, R_B = [r_B]G, t_B = d_B + x̄₂·r_B mod n, check R_A on the curve,
//!    V = [t_B](P_A + [x̄₁]R_A) ≠ O, K_B = KDF(x_V‖y_V‖Z_A‖Z_B, klen),
//!    S_B = SM3(0x02‖y_V‖SM3(x_V‖Z_A‖Z_B‖x₁‖y₁‖x₂‖y₂))                ◀──R_B, S_B──     (B1–B9)
//! A: t_A = d_A + x̄₁·r_A mod n, check R_B on the curve, U = [t_A](P_B + [x̄₂]R_B) ≠ O,
//!    K_A = KDF(x_U‖y_U‖Z_A‖Z_B, klen), check S_1 = SM3(0x02‖y_U‖…) = S_B,
//!    S_A = SM3(0x03‖y_U‖SM3(x_U‖Z_A‖Z_B‖x₁‖y₁‖x₂‖y₂))                ──S_A──▶          (A4–A10)
//! B: check S_2 = SM3(0x03‖y_V‖…) = S_A                                                   (B10)
//! ```
//!
//! with x̄ = 2^w + (x mod 2^w) and Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x ‖ y) (§5.5). Z_A and
//! R_A are always the initiator's, whichever side computes. Points travel as SEC1 (65-byte
//! uncompressed on output; uncompressed or compressed accepted).
//!
//! # Keys
//!
//! The static key pair is an SM2 *encryption* key pair ([`Sm2DecryptionKey`] /
//! [`Sm2EncryptionKey`]): as in GM/T 0015 certificates and TLCP (GB/T 38636), key exchange uses
//! the encryption key pair, never a signing key.
//!
//! # Secrets
//!
//! Ephemeral scalars, t, the shared point's coordinates, the KDF state (the `sm3` crate with its
//! `zeroize` feature) and the session key are zeroized when dropped. Scalar multiplication and
//! scalar arithmetic are constant-time in `primeorder` / `primefield`; confirmation values are
//! compared in constant time. Only public values (ephemeral points, x̄ of public points) are
//! handled with ordinary byte operations.
//!
//! # Vectors
//!
//! Tested against the key exchange example of GM/T 0003.5-2012 on the recommended curve
//! (sm2p256v1) and, when `python3` with `sm-py-bc` and `gmalg` is installed, against those two
//! independent implementations (`tests/sm2_exchange.rs`).

use std::fmt;

use sm2::elliptic_curve::group::Group as _;
use sm2::elliptic_curve::sec1::{FromSec1Point as _, ToSec1Point as _};
use sm2::elliptic_curve::{Generate as _, PrimeField as _};
use sm2::{AffinePoint, FieldBytes, NonZeroScalar, ProjectivePoint, Scalar};
use sm3_kx::{Digest as _, Sm3};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, Zeroizing};

use crate::national::{Sm2DecryptionKey, Sm2EncryptionKey};
use crate::{CryptoError, SecretKey};

/// Longest session key [`Sm2KeyExchange`] derives, in bytes.
pub const SM2_KX_MAX_KEY_LEN: usize = 1024;

/// Longest distinguishing identifier: its bit length must fit the 16-bit ENTL field (§5.5).
const MAX_ID_LEN: usize = 8191;

/// Length of an uncompressed SEC1 point (`04 ‖ x ‖ y`).
const POINT_LEN: usize = 65;

/// Length of an SM3 digest (confirmation values S_A / S_B, Z).
const HASH_LEN: usize = 32;

/// Failures of the SM2 key exchange. Messages carry no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Sm2ExchangeError {
    /// The peer's ephemeral point is not a SEC1 encoding of a point (wrong length or tag).
    #[error("SM2 key exchange: the peer's ephemeral point is not a SEC1 point encoding")]
    MalformedPoint,
    /// The peer's ephemeral point does not satisfy the curve equation (steps B5 / A6).
    #[error("SM2 key exchange: the peer's ephemeral point is not on the SM2 curve")]
    NotOnCurve,
    /// The peer's ephemeral point is the point at infinity.
    #[error("SM2 key exchange: the peer's ephemeral point is the point at infinity")]
    EphemeralAtInfinity,
    /// The shared point U / V is the point at infinity (steps B6 / A7): the exchange failed.
    #[error("SM2 key exchange: the shared point is the point at infinity")]
    SharedPointAtInfinity,
    /// A confirmation value S_B (step A9) or S_A (step B10) did not match: the peer does not hold
    /// the same key, used other identities or keys, or the messages were altered.
    #[error("SM2 key exchange: key confirmation failed (the peer derived a different key)")]
    ConfirmationMismatch,
    /// A confirmation value is not 32 bytes long.
    #[error("SM2 key exchange: a confirmation value must be 32 bytes, got {0}")]
    ConfirmationLength(usize),
    /// The requested session key length is 0 or above [`SM2_KX_MAX_KEY_LEN`].
    #[error("SM2 key exchange: key length {0} bytes; expected 1 to {SM2_KX_MAX_KEY_LEN}")]
    KeyLength(usize),
    /// A distinguishing identifier is longer than 8191 bytes (ENTL is 16 bits).
    #[error("SM2 key exchange: distinguishing identifier of {0} bytes; at most 8191")]
    IdTooLong(usize),
    /// The operating system's random number generator failed.
    #[error("SM2 key exchange: the operating system's random number generator failed")]
    Rng,
}

/// A failed confirmation is an integrity failure; everything else is malformed input, except a
/// failed random number generator (an I/O failure).
impl From<Sm2ExchangeError> for CryptoError {
    fn from(e: Sm2ExchangeError) -> Self {
        match e {
            Sm2ExchangeError::ConfirmationMismatch => CryptoError::Integrity,
            Sm2ExchangeError::Rng => CryptoError::Io(std::io::Error::other(e.to_string())),
            other => CryptoError::Format(other.to_string()),
        }
    }
}

/// A session key agreed by SM2 key exchange, zeroized on drop. `Debug` prints only its length;
/// equality is constant-time.
#[derive(Clone)]
pub struct Sm2SessionKey(Zeroizing<Vec<u8>>);

impl Sm2SessionKey {
    /// The key bytes — only for handing the key to a cryptographic primitive.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (the `key_len` both parties asked for).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a session key has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key as a 256-bit [`SecretKey`] (for the key hierarchy: keyed hashes, envelope data
    /// keys); [`CryptoError::Format`] unless it is 32 bytes long.
    pub fn into_secret_key(self) -> Result<SecretKey, CryptoError> {
        let bytes: [u8; 32] = self.0.as_slice().try_into().map_err(|_| {
            CryptoError::Format(format!(
                "SM2 session key of {} bytes; a SecretKey needs 32",
                self.0.len()
            ))
        })?;
        Ok(SecretKey::from_bytes(bytes))
    }
}

impl fmt::Debug for Sm2SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sm2SessionKey({} bytes)", self.0.len())
    }
}

impl PartialEq for Sm2SessionKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for Sm2SessionKey {}

/// Entry points of the SM2 key exchange (GB/T 32918.3 §6.1). Each party knows its own static
/// key pair and identifier and the peer's static public key and identifier beforehand (from
/// certificates or configuration), and both ask for the same key length.
///
/// ```
/// use medspace_crypto::{Sm2DecryptionKey, Sm2KeyExchange};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (a, b) = (Sm2DecryptionKey::generate()?, Sm2DecryptionKey::generate()?);
/// let (id_a, id_b) = (b"hospital-a@node".as_slice(), b"insurer-b@node".as_slice());
///
/// let initiator = Sm2KeyExchange::initiator(&a, id_a, &b.encryption_key(), id_b, 32)?;
/// let r_a = initiator.ephemeral_public(); // A → B
/// let (responder, reply) =
///     Sm2KeyExchange::responder(&b, id_b, &a.encryption_key(), id_a, 32, &r_a)?; // B → A: R_B, S_B
/// let done = initiator.finish(&reply.ephemeral, Some(&reply.confirmation))?; // checks S_B
/// let key_b = responder.confirm(&done.confirmation)?; // A → B: S_A, checked here
/// assert_eq!(done.key, key_b);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Sm2KeyExchange {
    _private: (),
}

impl Sm2KeyExchange {
    /// Starts the exchange as initiator A (steps A1–A3): draws r_A and computes R_A, which
    /// [`Sm2Initiator::ephemeral_public`] returns for sending to B.
    pub fn initiator(
        own: &Sm2DecryptionKey,
        own_id: &[u8],
        peer: &Sm2EncryptionKey,
        peer_id: &[u8],
        key_len: usize,
    ) -> Result<Sm2Initiator, Sm2ExchangeError> {
        Sm2Initiator::with_ephemeral(own, own_id, peer, peer_id, key_len, random_scalar()?)
    }

    /// Answers initiator A's ephemeral point `initiator_ephemeral` as responder B (steps B1–B9):
    /// validates R_A, derives the session key, and returns R_B and S_B for sending to A. The key
    /// is released by [`Sm2Responder::confirm`] (with A's S_A) or
    /// [`Sm2Responder::finish_without_confirmation`].
    pub fn responder(
        own: &Sm2DecryptionKey,
        own_id: &[u8],
        peer: &Sm2EncryptionKey,
        peer_id: &[u8],
        key_len: usize,
        initiator_ephemeral: &[u8],
    ) -> Result<(Sm2Responder, Sm2ResponderReply), Sm2ExchangeError> {
        Sm2Responder::with_ephemeral(
            own,
            own_id,
            peer,
            peer_id,
            key_len,
            initiator_ephemeral,
            random_scalar()?,
        )
    }
}

/// Responder B's message to A: R_B and the confirmation value S_B.
#[derive(Clone, PartialEq, Eq)]
pub struct Sm2ResponderReply {
    /// R_B as an uncompressed SEC1 point.
    pub ephemeral: [u8; POINT_LEN],
    /// S_B (step B8); A may ignore it when the exchange runs without confirmation.
    pub confirmation: [u8; HASH_LEN],
}

impl fmt::Debug for Sm2ResponderReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2ResponderReply")
            .field("ephemeral", &hex::encode(self.ephemeral))
            .field("confirmation", &hex::encode(self.confirmation))
            .finish()
    }
}

/// What initiator A holds at the end: the session key and S_A, to send to B when B asks for
/// confirmation.
#[derive(Debug, Clone)]
pub struct Sm2InitiatorOutcome {
    /// The agreed key K_A.
    pub key: Sm2SessionKey,
    /// S_A (step A10), to send to B.
    pub confirmation: [u8; HASH_LEN],
}

/// The two parties' fixed inputs: identities (as Z) and the peer's static key.
struct Parties {
    own_secret: Zeroizing<NonZeroScalar>,
    peer_public: AffinePoint,
    z_initiator: [u8; HASH_LEN],
    z_responder: [u8; HASH_LEN],
    key_len: usize,
}

impl Parties {
    fn new(
        own: &Sm2DecryptionKey,
        own_id: &[u8],
        peer: &Sm2EncryptionKey,
        peer_id: &[u8],
        key_len: usize,
        own_is_initiator: bool,
    ) -> Result<Self, Sm2ExchangeError> {
        if key_len == 0 || key_len > SM2_KX_MAX_KEY_LEN {
            return Err(Sm2ExchangeError::KeyLength(key_len));
        }
        let own_public = *own.encryption_key().public().as_affine();
        let peer_public = *peer.public().as_affine();
        let z_own = identity_hash(own_id, &own_public)?;
        let z_peer = identity_hash(peer_id, &peer_public)?;
        let (z_initiator, z_responder) = if own_is_initiator {
            (z_own, z_peer)
        } else {
            (z_peer, z_own)
        };
        Ok(Parties {
            own_secret: Zeroizing::new(own.secret().to_nonzero_scalar()),
            peer_public,
            z_initiator,
            z_responder,
            key_len,
        })
    }

    /// t = (d + x̄·r) mod n, then the shared point [t](P_peer + [x̄_peer]R_peer) (steps A4–A7 /
    /// B3–B6), as an uncompressed encoding.
    fn shared_point(
        &self,
        own_ephemeral_scalar: &NonZeroScalar,
        own_ephemeral: &AffinePoint,
        peer_ephemeral: &AffinePoint,
    ) -> Result<Zeroizing<[u8; POINT_LEN]>, Sm2ExchangeError> {
        let x_own = x_bar(own_ephemeral)?;
        let x_peer = x_bar(peer_ephemeral)?;
        let t = Zeroizing::new(**self.own_secret + x_own * **own_ephemeral_scalar);
        let base = ProjectivePoint::from(self.peer_public)
            + ProjectivePoint::from(*peer_ephemeral) * x_peer;
        // Cofactor h = 1 for the recommended curve.
        let mut shared = base * *t;
        if bool::from(shared.is_identity()) {
            return Err(Sm2ExchangeError::SharedPointAtInfinity);
        }
        let mut affine = shared.to_affine();
        let encoded = Zeroizing::new(uncompressed(&affine));
        shared.zeroize();
        affine.zeroize();
        Ok(encoded)
    }

    /// K = KDF(x ‖ y ‖ Z_A ‖ Z_B, klen) (steps A8 / B7).
    fn session_key(&self, shared: &[u8; POINT_LEN]) -> Result<Sm2SessionKey, Sm2ExchangeError> {
        let mut key = Zeroizing::new(vec![0u8; self.key_len]);
        kdf(
            &[&shared[1..], &self.z_initiator, &self.z_responder],
            &mut key,
        )?;
        Ok(Sm2SessionKey(key))
    }

    /// SM3(x ‖ Z_A ‖ Z_B ‖ x₁ ‖ y₁ ‖ x₂ ‖ y₂), the inner hash of S_A / S_B.
    fn inner_hash(
        &self,
        shared: &[u8; POINT_LEN],
        r_initiator: &[u8; POINT_LEN],
        r_responder: &[u8; POINT_LEN],
    ) -> Zeroizing<[u8; HASH_LEN]> {
        let mut h = Sm3::new();
        h.update(&shared[1..33]);
        h.update(self.z_initiator);
        h.update(self.z_responder);
        h.update(&r_initiator[1..]);
        h.update(&r_responder[1..]);
        Zeroizing::new(h.finalize().into())
    }
}

/// S = SM3(prefix ‖ y ‖ inner) with prefix 0x02 (S_B, S_1) or 0x03 (S_A, S_2).
fn confirmation(prefix: u8, shared: &[u8; POINT_LEN], inner: &[u8; HASH_LEN]) -> [u8; HASH_LEN] {
    let mut h = Sm3::new();
    h.update([prefix]);
    h.update(&shared[33..]);
    h.update(inner);
    h.finalize().into()
}

/// Constant-time check of a received confirmation value.
fn check_confirmation(expected: &[u8; HASH_LEN], received: &[u8]) -> Result<(), Sm2ExchangeError> {
    if received.len() != HASH_LEN {
        return Err(Sm2ExchangeError::ConfirmationLength(received.len()));
    }
    if bool::from(expected.as_slice().ct_eq(received)) {
        Ok(())
    } else {
        Err(Sm2ExchangeError::ConfirmationMismatch)
    }
}

/// Initiator A between sending R_A and receiving B's reply. Holds r_A (zeroized on drop).
pub struct Sm2Initiator {
    parties: Parties,
    ephemeral_scalar: Zeroizing<NonZeroScalar>,
    ephemeral: AffinePoint,
}

impl fmt::Debug for Sm2Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2Initiator")
            .field("ephemeral", &hex::encode(self.ephemeral_public()))
            .field("key_len", &self.parties.key_len)
            .finish_non_exhaustive()
    }
}

impl Sm2Initiator {
    pub(crate) fn with_ephemeral(
        own: &Sm2DecryptionKey,
        own_id: &[u8],
        peer: &Sm2EncryptionKey,
        peer_id: &[u8],
        key_len: usize,
        r_a: NonZeroScalar,
    ) -> Result<Self, Sm2ExchangeError> {
        let parties = Parties::new(own, own_id, peer, peer_id, key_len, true)?;
        let ephemeral = ProjectivePoint::mul_by_generator(&*r_a).to_affine();
        Ok(Sm2Initiator {
            parties,
            ephemeral_scalar: Zeroizing::new(r_a),
            ephemeral,
        })
    }

    /// R_A as an uncompressed SEC1 point (65 bytes), to send to B.
    pub fn ephemeral_public(&self) -> [u8; POINT_LEN] {
        uncompressed(&self.ephemeral)
    }

    /// Completes the exchange with B's reply (steps A4–A10): validates R_B, derives the key and,
    /// when `responder_confirmation` (S_B) is given, checks it. Returns the key and S_A.
    pub fn finish(
        self,
        responder_ephemeral: &[u8],
        responder_confirmation: Option<&[u8]>,
    ) -> Result<Sm2InitiatorOutcome, Sm2ExchangeError> {
        let r_b = decode_ephemeral(responder_ephemeral)?;
        let shared = self
            .parties
            .shared_point(&self.ephemeral_scalar, &self.ephemeral, &r_b)?;
        let key = self.parties.session_key(&shared)?;
        let inner = self
            .parties
            .inner_hash(&shared, &self.ephemeral_public(), &uncompressed(&r_b));
        if let Some(s_b) = responder_confirmation {
            check_confirmation(&confirmation(0x02, &shared, &inner), s_b)?;
        }
        Ok(Sm2InitiatorOutcome {
            key,
            confirmation: confirmation(0x03, &shared, &inner),
        })
    }
}

/// Responder B after replying: holds the derived key until A's confirmation arrives.
pub struct Sm2Responder {
    key: Sm2SessionKey,
    /// S_2, the S_A that B expects.
    expected: [u8; HASH_LEN],
}

impl fmt::Debug for Sm2Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2Responder")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Sm2Responder {
    pub(crate) fn with_ephemeral(
        own: &Sm2DecryptionKey,
        own_id: &[u8],
        peer: &Sm2EncryptionKey,
        peer_id: &[u8],
        key_len: usize,
        initiator_ephemeral: &[u8],
        r_b: NonZeroScalar,
    ) -> Result<(Self, Sm2ResponderReply), Sm2ExchangeError> {
        let r_b = Zeroizing::new(r_b);
        let parties = Parties::new(own, own_id, peer, peer_id, key_len, false)?;
        let ephemeral = ProjectivePoint::mul_by_generator(&**r_b).to_affine();
        let r_a = decode_ephemeral(initiator_ephemeral)?;
        let shared = parties.shared_point(&r_b, &ephemeral, &r_a)?;
        let key = parties.session_key(&shared)?;
        let ephemeral = uncompressed(&ephemeral);
        let inner = parties.inner_hash(&shared, &uncompressed(&r_a), &ephemeral);
        let reply = Sm2ResponderReply {
            ephemeral,
            confirmation: confirmation(0x02, &shared, &inner),
        };
        let responder = Sm2Responder {
            key,
            expected: confirmation(0x03, &shared, &inner),
        };
        Ok((responder, reply))
    }

    /// Checks A's confirmation value S_A (step B10) and releases the key.
    pub fn confirm(self, initiator_confirmation: &[u8]) -> Result<Sm2SessionKey, Sm2ExchangeError> {
        check_confirmation(&self.expected, initiator_confirmation)?;
        Ok(self.key)
    }

    /// Releases the key without key confirmation (the optional steps skipped). Only for
    /// protocols that confirm the key otherwise, e.g. by a MAC over the first message.
    pub fn finish_without_confirmation(self) -> Sm2SessionKey {
        self.key
    }
}

/// A fresh ephemeral scalar in [1, n−1] from the operating system's CSPRNG.
fn random_scalar() -> Result<NonZeroScalar, Sm2ExchangeError> {
    NonZeroScalar::try_generate().map_err(|_| Sm2ExchangeError::Rng)
}

/// Decodes and validates a peer's ephemeral point: SEC1 encoding, on the curve, not infinity.
fn decode_ephemeral(bytes: &[u8]) -> Result<AffinePoint, Sm2ExchangeError> {
    let encoded =
        sm2::Sec1Point::from_bytes(bytes).map_err(|_| Sm2ExchangeError::MalformedPoint)?;
    let point: Option<AffinePoint> = AffinePoint::from_sec1_point(&encoded).into();
    let point = point.ok_or(Sm2ExchangeError::NotOnCurve)?;
    if bool::from(point.is_identity()) {
        return Err(Sm2ExchangeError::EphemeralAtInfinity);
    }
    Ok(point)
}

/// `04 ‖ x ‖ y`.
fn uncompressed(point: &AffinePoint) -> [u8; POINT_LEN] {
    let mut out = [0u8; POINT_LEN];
    out.copy_from_slice(point.to_sec1_point(false).as_bytes());
    out
}

/// x̄ = 2^w + (x mod 2^w), w = 127, of a (public) ephemeral point, as a scalar.
fn x_bar(point: &AffinePoint) -> Result<Scalar, Sm2ExchangeError> {
    let encoded = uncompressed(point);
    let mut repr = [0u8; 32];
    // x is bytes 1..33 big-endian; its low 128 bits are bytes 17..33. Clearing bit 127 takes
    // x mod 2^127, setting it adds 2^127.
    repr[16..].copy_from_slice(&encoded[17..33]);
    repr[16] |= 0x80;
    let scalar: Option<Scalar> = Scalar::from_repr(FieldBytes::from(repr)).into();
    // 2^127 ≤ x̄ < 2^128 < n, so the representation is always canonical.
    scalar.ok_or(Sm2ExchangeError::NotOnCurve)
}

/// Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x ‖ y) (GB/T 32918.3 §5.5, as GB/T 32918.2 §5.5).
fn identity_hash(id: &[u8], public: &AffinePoint) -> Result<[u8; HASH_LEN], Sm2ExchangeError> {
    use primeorder::PrimeCurveParams as _;
    if id.len() > MAX_ID_LEN {
        return Err(Sm2ExchangeError::IdTooLong(id.len()));
    }
    let entl = u16::try_from(id.len() * 8).map_err(|_| Sm2ExchangeError::IdTooLong(id.len()))?;
    let mut h = Sm3::new();
    h.update(entl.to_be_bytes());
    h.update(id);
    h.update(sm2::Sm2::EQUATION_A.to_repr());
    h.update(sm2::Sm2::EQUATION_B.to_repr());
    h.update(sm2::Sm2::GENERATOR.0.to_repr());
    h.update(sm2::Sm2::GENERATOR.1.to_repr());
    h.update(&uncompressed(public)[1..]);
    Ok(h.finalize().into())
}

/// The key derivation function of GB/T 32918.3 §5.4.3: K = H(Z ‖ 1) ‖ H(Z ‖ 2) ‖ …, truncated,
/// with a 32-bit big-endian counter (the same construction as ANSI X9.63 without SharedInfo).
fn kdf(z: &[&[u8]], out: &mut [u8]) -> Result<(), Sm2ExchangeError> {
    let len = out.len();
    for (i, chunk) in out.chunks_mut(HASH_LEN).enumerate() {
        let counter = u32::try_from(i + 1).map_err(|_| Sm2ExchangeError::KeyLength(len))?;
        let mut h = Sm3::new();
        for part in z {
            h.update(part);
        }
        h.update(counter.to_be_bytes());
        let mut block: Zeroizing<[u8; HASH_LEN]> = Zeroizing::new(h.finalize().into());
        chunk.copy_from_slice(&block[..chunk.len()]);
        block.zeroize();
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn scalar(s: &str) -> NonZeroScalar {
        let bytes: [u8; 32] = h(s).try_into().unwrap();
        Option::from(NonZeroScalar::from_repr(FieldBytes::from(bytes))).unwrap()
    }

    // GM/T 0003.5-2012 (SM2 parameter definition), key exchange example on the recommended
    // curve sm2p256v1, both identities "1234567812345678", klen = 128 bits. The same values are
    // the known answers of Tencent Kona SM Suite (`SM2KeyAgreementTest.testSM2KeyAgreement`) and
    // openHiTLS; S_B and S_A were reproduced with `sm-py-bc` 0.1.9 (a port of Bouncy Castle's
    // SM2KeyExchange) and K with `gmalg` 1.1.2.
    const ID: &[u8] = b"1234567812345678";
    const D_A: &str = "81eb26e941bb5af16df116495f90695272ae2cd63d6c4ae1678418be48230029";
    const P_A: &str = "04160e12897df4edb61dd812feb96748fbd3ccf4ffe26aa6f6db9540af49c94232\
                       4a7dad08bb9a459531694beb20aa489d6649975e1bfcf8c4741b78b4b223007f";
    const R_A_SCALAR: &str = "d4de15474db74d06491c440d305e012400990f3e390c7e87153c12db2ea60bb3";
    const R_A: &str = "0464ced1bdbc99d590049b434d0fd73428cf608a5db8fe5ce07f15026940bae40e\
                       376629c7ab21e7db260922499ddb118f07ce8eaae3e7720afef6a5cc062070c0";
    const D_B: &str = "785129917d45a9ea5437a59356b82338eaadda6ceb199088f14ae10defa229b5";
    const P_B: &str = "046ae848c57c53c7b1b5fa99eb2286af078ba64c64591b8b566f7357d576f16dfb\
                       ee489d771621a27b36c5c7992062e9cd09a9264386f3fbea54dff69305621c4d";
    const R_B_SCALAR: &str = "7e07124814b309489125eaed101113164ebf0f3458c5bd88335c1f9d596243d6";
    const R_B: &str = "04acc27688a6f7b706098bc91ff3ad1bff7dc2802cdb14ccccdb0a90471f9bd707\
                       2fedac0494b2ffc4d6853876c79b8f301c6573ad0aa50f39fc87181e1a1b46fe";
    const Z_A: &str = "3b85a57179e11e7e513aa622991f2ca74d1807a0bd4d4b38f90987a17ac245b1";
    const Z_B: &str = "79c988d63229d97ef19fe02ca1056e01e6a7411ed24694aa8f834f4a4ab022f7";
    const X_U: &str = "c558b44bee5301d9f52b44d939bb59584d75b9034dd6a9fc826872109a65739f";
    const Y_U: &str = "3252b35b191d8ae01cd122c025204334c5eacf68a0cb4854c6a7d367ecad4de7";
    const K: &str = "6c89347354de2484c60b4ab1fde4c6e5";
    const S_B: &str = "d3a0fe15dee185ceae907a6b595cc32a266ed7b3367e9983a896dc32fa20f8eb";
    const S_A: &str = "18c7894b3816df16cf07b05c5ec0bef5d655d58f779cc1b400a4f3884644db88";

    fn vector_keys() -> (Sm2DecryptionKey, Sm2DecryptionKey) {
        (
            Sm2DecryptionKey::from_raw(&h(D_A)).unwrap(),
            Sm2DecryptionKey::from_raw(&h(D_B)).unwrap(),
        )
    }

    #[test]
    fn gmt_0003_5_key_exchange_example() {
        let (a, b) = vector_keys();
        assert_eq!(hex::encode(a.encryption_key().to_sec1_bytes()), P_A);
        assert_eq!(hex::encode(b.encryption_key().to_sec1_bytes()), P_B);

        let initiator =
            Sm2Initiator::with_ephemeral(&a, ID, &b.encryption_key(), ID, 16, scalar(R_A_SCALAR))
                .unwrap();
        assert_eq!(hex::encode(initiator.ephemeral_public()), R_A);
        assert_eq!(hex::encode(initiator.parties.z_initiator), Z_A);
        assert_eq!(hex::encode(initiator.parties.z_responder), Z_B);

        let (responder, reply) = Sm2Responder::with_ephemeral(
            &b,
            ID,
            &a.encryption_key(),
            ID,
            16,
            &h(R_A),
            scalar(R_B_SCALAR),
        )
        .unwrap();
        assert_eq!(hex::encode(reply.ephemeral), R_B);
        assert_eq!(hex::encode(reply.confirmation), S_B);
        assert_eq!(hex::encode(responder.expected), S_A);

        let shared = initiator
            .parties
            .shared_point(
                &initiator.ephemeral_scalar,
                &initiator.ephemeral,
                &decode_ephemeral(&h(R_B)).unwrap(),
            )
            .unwrap();
        assert_eq!(hex::encode(&shared[1..33]), X_U);
        assert_eq!(hex::encode(&shared[33..]), Y_U);

        let done = initiator
            .finish(&reply.ephemeral, Some(&reply.confirmation))
            .unwrap();
        assert_eq!(hex::encode(done.key.expose()), K);
        assert_eq!(hex::encode(done.confirmation), S_A);
        let key_b = responder.confirm(&done.confirmation).unwrap();
        assert_eq!(hex::encode(key_b.expose()), K);
    }

    #[test]
    fn identity_hash_matches_the_sm2_signature_z() {
        // Z is also the prefix of the SM2 signature digest e = SM3(Z ‖ M) (GB/T 32918.2): a
        // signature by `sm2::dsa` with a distinguishing ID verifies as a prehash of SM3(Z ‖ M)
        // with our Z.
        use sm2::dsa::signature::hazmat::PrehashVerifier as _;
        use sm2::dsa::signature::Signer as _;
        let (a, _) = vector_keys();
        let secret = sm2::SecretKey::from_slice(&h(D_A)).unwrap();
        let signer = sm2::dsa::SigningKey::new("ALICE123@YAHOO.COM", &secret).unwrap();
        let sig: sm2::dsa::Signature = signer.sign(b"message digest");
        let z = identity_hash(
            b"ALICE123@YAHOO.COM",
            a.encryption_key().public().as_affine(),
        )
        .unwrap();
        let mut e = Sm3::new();
        e.update(z);
        e.update(b"message digest");
        let e: [u8; 32] = e.finalize().into();
        signer
            .verifying_key()
            .verify_prehash(&e, &sig)
            .expect("Z agrees with the sm2 crate's");
    }

    #[test]
    fn kdf_counter_starts_at_one_and_truncates() {
        let mut out = [0u8; 40];
        kdf(&[b"ab", b"c"], &mut out).unwrap();
        let block = |ct: u32| -> [u8; 32] {
            let mut h = Sm3::new();
            h.update(b"abc");
            h.update(ct.to_be_bytes());
            h.finalize().into()
        };
        assert_eq!(out[..32], block(1));
        assert_eq!(out[32..], block(2)[..8]);
    }

    #[test]
    fn x_bar_keeps_the_low_127_bits_and_sets_bit_127() {
        let (a, _) = vector_keys();
        let p = *a.encryption_key().public().as_affine();
        let x = uncompressed(&p);
        let bar = x_bar(&p).unwrap().to_repr();
        assert_eq!(bar[..16], [0u8; 16]);
        assert_eq!(bar[16], (x[17] & 0x7f) | 0x80);
        assert_eq!(bar[17..], x[18..33]);
    }
}
