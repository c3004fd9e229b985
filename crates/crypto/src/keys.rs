//! Secret keys, the master-key provider seam and the key-file provider — T/CI 857-2024 6.3 and
//! 7.1.1 (key hierarchy, custody and separation), DMS 7.2.4 (key management), GB/T 39725-2020
//! §10.1 g)–i); national profile: GB/T 39786-2021 (SM4 key wrapping, HMAC-SM3 derivation).
//!
//! Hierarchy: a master key (key-encryption key) held by a [`KeyProvider`] wraps one fresh data key
//! per stored object, and derives purpose-bound keys (per-project pseudonym and date-shift keys,
//! audit keys) with the keyed hash of its [`CryptoProfile`] (HMAC-SHA-256, or HMAC-SM3 in the
//! national profile). The master key never encrypts content directly.
//!
//! Wrapped key format (version 1):
//!
//! ```text
//! "MSWK" | version u8 = 1 | algorithm u8 | key id length u8 | key id (UTF-8)
//!        | nonce [12] | AEAD(KEK, data key) [32 + 16 tag]
//! ```
//!
//! Algorithm 1 = AES-256-GCM with the 256-bit master key as KEK; algorithm 2 = SM4-GCM with KEK
//! [`Sm4Key::derive`]`(master, "key-wrap")` (first 16 bytes of HMAC-SM3(master,
//! `"medspace/v1/sm4/key-wrap"`)). The provider's profile picks the algorithm for new wraps;
//! unwrapping follows the header, so keys wrapped under either profile stay readable.
//!
//! The header followed by the caller's context (object id) is the associated data, so a wrapped key
//! is bound both to its master key id and to the object it belongs to. The key id in the header
//! ([`wrapped_key_id`]) is what a later rotation or HSM provider dispatches on; the algorithm byte is
//! where the national (SM4) profile plugs in.
//!
//! The key file holds 64 hex characters, is created with mode 0600 and is refused when group or
//! other users have any access to it.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::national::Sm4Key;
use crate::profile::{AeadAlgorithm, CryptoProfile};
use crate::CryptoError;

/// A 256-bit secret key, zeroized on drop.
///
/// It has no `Display`; `Debug` prints `SecretKey(..)`; equality is constant-time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        SecretKey(k)
    }

    /// Takes ownership of existing key bytes (the caller should zeroize its own copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// The key bytes — only for handing the key to a cryptographic primitive. Never log, store,
    /// print or compare them (use `==`, which is constant-time).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretKey {}

/// Source of the master key (key-encryption key).
///
/// Implemented today by [`FileKeyProvider`] (key file or in-memory key, either
/// [`CryptoProfile`]); a PKCS#11 HSM provider and a rotating provider holding several key versions
/// are meant to implement the same trait, the wrapped-key header telling them which key and
/// algorithm to use.
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// Versioned id of the current master key (e.g. `file:v1:1a2b3c4d`), written into every
    /// wrapped key. Not secret.
    fn key_id(&self) -> &str;
    /// Encrypts a data key under the master key, bound to `context` (the owning object's id).
    fn wrap(&self, dek: &SecretKey, context: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Decrypts a wrapped data key. Fails with [`CryptoError::UnknownKey`] when it names another
    /// master key, and [`CryptoError::Integrity`] on a wrong context or modified bytes.
    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<SecretKey, CryptoError>;
    /// Derives a purpose-bound key:
    /// HMAC(master, `"medspace/v1/"` ‖ purpose ‖ 0x00 ‖ context), with HMAC-SHA-256 (international
    /// profile, the default) or HMAC-SM3 (national profile). Deterministic, so the same project
    /// always gets the same pseudonym key — as long as the profile does not change: switching it
    /// changes every derived key. `purpose` must be non-empty without NUL bytes.
    fn derive(&self, purpose: &str, context: &[u8]) -> Result<SecretKey, CryptoError>;
}

/// Domain-separation prefix of [`KeyProvider::derive`].
const DERIVE_PREFIX: &[u8] = b"medspace/v1/";
const WRAP_MAGIC: &[u8; 4] = b"MSWK";
const WRAP_VERSION: u8 = 1;
/// Purpose label of the SM4 key-encryption key derived from the master key.
const SM4_WRAP_PURPOSE: &str = "key-wrap";
const WRAP_NONCE: usize = 12;
/// Longest key file accepted (64 hex characters, line ending, some whitespace).
const KEY_FILE_MAX: u64 = 256;

/// The fields of a wrapped key's header (`"MSWK"` ‖ version ‖ algorithm ‖ id length ‖ key id).
///
/// Public so that other key providers (the PKCS#11 one) write and read the same format.
#[derive(Debug)]
pub struct WrappedHeader<'a> {
    /// The whole header, bound as associated data.
    pub bytes: &'a [u8],
    /// Algorithm id ([`AeadAlgorithm::id`]), not yet checked against the known ones.
    pub algorithm: u8,
    /// Id of the master key that wrapped it.
    pub key_id: &'a [u8],
    /// nonce ‖ ciphertext ‖ tag.
    pub body: &'a [u8],
}

/// The header of a new wrapped key: `"MSWK"` ‖ version ‖ algorithm ‖ id length ‖ key id.
pub fn wrapped_key_header(algorithm: AeadAlgorithm, key_id: &str) -> Result<Vec<u8>, CryptoError> {
    let id = key_id.as_bytes();
    let id_len = u8::try_from(id.len()).map_err(|_| {
        CryptoError::Format(format!(
            "key id is {} bytes long; wrapped key headers hold at most 255",
            id.len()
        ))
    })?;
    let mut out = Vec::with_capacity(7 + id.len() + WRAP_NONCE + 32 + 16);
    out.extend_from_slice(WRAP_MAGIC);
    out.push(WRAP_VERSION);
    out.push(algorithm.id());
    out.push(id_len);
    out.extend_from_slice(id);
    Ok(out)
}

/// The associated data of a wrapped key: its header followed by the caller's context.
pub fn wrapped_key_aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + context.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(context);
    aad
}

/// Splits a wrapped key into header fields and body, checking magic, version and lengths.
pub fn parse_wrapped(wrapped: &[u8]) -> Result<WrappedHeader<'_>, CryptoError> {
    let short = || CryptoError::Format("wrapped key: shorter than its header".into());
    if wrapped.get(..4).ok_or_else(short)? != WRAP_MAGIC {
        return Err(CryptoError::Format(
            "wrapped key: expected magic \"MSWK\" (not a medspace wrapped key)".into(),
        ));
    }
    let version = *wrapped.get(4).ok_or_else(short)?;
    if version != WRAP_VERSION {
        return Err(CryptoError::Format(format!(
            "wrapped key: format version {version}, expected {WRAP_VERSION}"
        )));
    }
    let algorithm = *wrapped.get(5).ok_or_else(short)?;
    let id_len = usize::from(*wrapped.get(6).ok_or_else(short)?);
    let header_len = 7 + id_len;
    let bytes = wrapped.get(..header_len).ok_or_else(short)?;
    let key_id = bytes.get(7..).ok_or_else(short)?;
    let body = wrapped.get(header_len..).ok_or_else(short)?;
    Ok(WrappedHeader {
        bytes,
        algorithm,
        key_id,
        body,
    })
}

/// The id of the master key that wrapped `wrapped`, read from its header without unwrapping.
///
/// Lets a node holding several master keys (rotation, HSM migration) pick the right
/// [`KeyProvider`], and lets a re-wrap job find keys still under a retired master key.
pub fn wrapped_key_id(wrapped: &[u8]) -> Result<&str, CryptoError> {
    let header = parse_wrapped(wrapped)?;
    std::str::from_utf8(header.key_id)
        .map_err(|_| CryptoError::Format("wrapped key: key id is not UTF-8".into()))
}

/// Reads a master-key file of at most `max` bytes (one more is read, so the caller can tell an
/// over-long file). Refuses anything but a regular file, and files that group or others may access
/// (`mode & 0o077 != 0`), naming the path and the `chmod 600` fix; the metadata is that of the opened
/// file itself, so it cannot be swapped in between.
pub(crate) fn read_private_file(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    let file =
        std::fs::File::open(path).map_err(|e| key_file_error(path, format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| key_file_error(path, format!("cannot inspect: {e}")))?;
    if !meta.is_file() {
        return Err(key_file_error(path, "not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(key_file_error(
            path,
            format!(
                "permissions {mode:03o} give group or other users access to the master key; \
                 run `chmod 600 {}` (and check who may have copied it)",
                path.display()
            ),
        ));
    }
    let mut raw = Zeroizing::new(Vec::new());
    file.take(max + 1)
        .read_to_end(&mut raw)
        .map_err(|e| key_file_error(path, format!("cannot read: {e}")))?;
    Ok(raw)
}

/// Parses 64 hexadecimal characters into a key; the error describes the problem without echoing
/// the input.
pub(crate) fn parse_key_hex(text: &str) -> Result<SecretKey, String> {
    let expected = "expected exactly 64 hexadecimal characters (0-9, a-f)";
    if text.len() != 64 {
        return Err(format!("found {} characters; {expected}", text.len()));
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text, &mut *bytes).map_err(|e| match e {
        hex::FromHexError::InvalidHexCharacter { index, .. } => {
            format!("{expected} (invalid character at offset {index})")
        }
        _ => expected.to_string(),
    })?;
    Ok(SecretKey::from_bytes(*bytes))
}

/// The master key read from a key file of 64 hex characters, or held in memory.
///
/// New providers use the international profile; [`FileKeyProvider::with_profile`] switches key
/// wrapping to SM4-GCM and derivation to HMAC-SM3. The key id does not depend on the profile.
pub struct FileKeyProvider {
    key: SecretKey,
    key_id: String,
    profile: CryptoProfile,
}

impl fmt::Debug for FileKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKeyProvider")
            .field("key_id", &self.key_id)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

fn key_file_error(path: &Path, problem: impl Into<String>) -> CryptoError {
    CryptoError::KeyFile {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

impl FileKeyProvider {
    /// Creates a new random master key file: 64 lowercase hex characters and a newline, mode 0600.
    /// Refuses to overwrite an existing file (or follow a planted symlink).
    pub fn create(path: &Path) -> Result<Self, CryptoError> {
        use std::os::unix::fs::OpenOptionsExt;
        let key = SecretKey::generate();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| key_file_error(path, format!("cannot create: {e}")))?;
        let mut text = Zeroizing::new(hex::encode(key.expose()));
        text.push('\n');
        if let Err(e) = f.write_all(text.as_bytes()).and_then(|()| f.sync_all()) {
            drop(f);
            // Do not leave a partial key behind; a half-written file would be refused by `open`.
            let _ = std::fs::remove_file(path);
            return Err(key_file_error(path, format!("cannot write: {e}")));
        }
        Ok(Self::from_key(key, "file:v1"))
    }

    /// Opens an existing master key file.
    ///
    /// Refuses anything but a regular file, and files that group or others may access
    /// (`mode & 0o077 != 0`), naming the path and the `chmod 600` fix. Malformed content is reported
    /// by length and expected shape, never echoed.
    pub fn open(path: &Path) -> Result<Self, CryptoError> {
        let raw = read_private_file(path, KEY_FILE_MAX)?;
        let expected =
            "expected exactly 64 hexadecimal characters (0-9, a-f) and an optional newline";
        if raw.len() as u64 > KEY_FILE_MAX {
            return Err(key_file_error(
                path,
                format!("file is longer than {KEY_FILE_MAX} bytes; {expected}"),
            ));
        }
        let trimmed = raw.trim_ascii();
        if trimmed.len() != 64 {
            return Err(key_file_error(
                path,
                format!("found {} non-blank bytes; {expected}", trimmed.len()),
            ));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(trimmed, &mut *bytes).map_err(|e| {
            let at = match e {
                hex::FromHexError::InvalidHexCharacter { index, .. } => {
                    format!(" (invalid character at offset {index})")
                }
                _ => String::new(),
            };
            key_file_error(path, format!("{expected}{at}"))
        })?;
        Ok(Self::from_key(SecretKey::from_bytes(*bytes), "file:v1"))
    }

    /// A provider over a key held in memory (environment variables, tests).
    ///
    /// The key id becomes `"{key_id}:{fingerprint}"`, the fingerprint being the first 4 bytes (hex)
    /// of HMAC-SHA-256(key, "medspace/v1/key-id"), so wrapped keys name the exact master key and a
    /// wrong key is reported as such before any decryption is attempted. `key_id` should be short:
    /// the whole id must fit in 255 bytes, or [`KeyProvider::wrap`] fails.
    pub fn from_key(key: SecretKey, key_id: &str) -> Self {
        let fingerprint = crate::hmac_sha256(&key, b"medspace/v1/key-id");
        let key_id = format!("{key_id}:{}", hex::encode(&fingerprint[..4]));
        FileKeyProvider {
            key,
            key_id,
            profile: CryptoProfile::International,
        }
    }

    /// The same master key under `profile`: new wraps use its key-wrap cipher and
    /// [`KeyProvider::derive`] its keyed hash. Existing wrapped keys of either algorithm still
    /// unwrap. The key id is unchanged (its fingerprint always uses HMAC-SHA-256: it names the key,
    /// it protects nothing).
    pub fn with_profile(mut self, profile: CryptoProfile) -> Self {
        self.profile = profile;
        self
    }

    /// The profile used for new wraps and for derivation.
    pub fn profile(&self) -> CryptoProfile {
        self.profile
    }

    /// The key itself, for the keyring that persists it.
    pub(crate) fn secret(&self) -> &SecretKey {
        &self.key
    }

    fn seal_wrapped(
        &self,
        algorithm: AeadAlgorithm,
        nonce: &[u8; WRAP_NONCE],
        payload: Payload<'_, '_>,
    ) -> Result<Vec<u8>, CryptoError> {
        let nonce = &Nonce::from(*nonce);
        match algorithm {
            AeadAlgorithm::Aes256Gcm => {
                Aes256Gcm::new(self.key.expose().into()).encrypt(nonce, payload)
            }
            AeadAlgorithm::Sm4Gcm => Sm4Key::derive(&self.key, SM4_WRAP_PURPOSE)
                .gcm()
                .encrypt(nonce, payload),
        }
        .map_err(|_| CryptoError::Integrity)
    }

    fn open_wrapped(
        &self,
        algorithm: AeadAlgorithm,
        nonce: &[u8; WRAP_NONCE],
        payload: Payload<'_, '_>,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let nonce = &Nonce::from(*nonce);
        match algorithm {
            AeadAlgorithm::Aes256Gcm => {
                Aes256Gcm::new(self.key.expose().into()).decrypt(nonce, payload)
            }
            AeadAlgorithm::Sm4Gcm => Sm4Key::derive(&self.key, SM4_WRAP_PURPOSE)
                .gcm()
                .decrypt(nonce, payload),
        }
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Integrity)
    }
}

impl KeyProvider for FileKeyProvider {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn wrap(&self, dek: &SecretKey, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let algorithm = self.profile.key_wrap_cipher();
        let mut out = wrapped_key_header(algorithm, &self.key_id)?;
        let mut nonce = [0u8; WRAP_NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = wrapped_key_aad(&out, context);
        let ct = self.seal_wrapped(
            algorithm,
            &nonce,
            Payload {
                msg: dek.expose(),
                aad: &aad,
            },
        )?;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<SecretKey, CryptoError> {
        let header = parse_wrapped(wrapped)?;
        let algorithm = AeadAlgorithm::from_id(header.algorithm).ok_or_else(|| {
            CryptoError::Format(format!(
                "wrapped key: algorithm id {} not supported (known: 1 = AES-256-GCM, 2 = SM4-GCM)",
                header.algorithm
            ))
        })?;
        if header.key_id != self.key_id.as_bytes() {
            return Err(CryptoError::UnknownKey {
                found: String::from_utf8_lossy(header.key_id).into_owned(),
                available: self.key_id.clone(),
            });
        }
        if header.body.len() != WRAP_NONCE + 32 + 16 {
            return Err(CryptoError::Integrity);
        }
        let (nonce, ct) = header.body.split_at(WRAP_NONCE);
        let nonce: &[u8; WRAP_NONCE] = nonce.try_into().map_err(|_| CryptoError::Integrity)?;
        let aad = wrapped_key_aad(header.bytes, context);
        let plain = self.open_wrapped(algorithm, nonce, Payload { msg: ct, aad: &aad })?;
        let bytes = <[u8; 32]>::try_from(plain.as_slice()).map_err(|_| CryptoError::Integrity)?;
        Ok(SecretKey::from_bytes(bytes))
    }

    fn derive(&self, purpose: &str, context: &[u8]) -> Result<SecretKey, CryptoError> {
        if purpose.is_empty() || purpose.as_bytes().contains(&0) {
            return Err(CryptoError::Format(
                "key derivation purpose must be non-empty and contain no NUL byte".into(),
            ));
        }
        let mut input = Zeroizing::new(Vec::with_capacity(13 + purpose.len() + context.len()));
        input.extend_from_slice(DERIVE_PREFIX);
        input.extend_from_slice(purpose.as_bytes());
        input.push(0);
        input.extend_from_slice(context);
        Ok(SecretKey::from_bytes(self.profile.mac(&self.key, &input)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn wrap_round_trips_and_is_bound_to_context_and_master_key() {
        let p = FileKeyProvider::from_key(SecretKey::generate(), "test");
        let dek = SecretKey::generate();
        let w = p.wrap(&dek, b"ds-1").unwrap();
        assert_eq!(p.unwrap(&w, b"ds-1").unwrap(), dek);
        assert!(matches!(p.unwrap(&w, b"ds-2"), Err(CryptoError::Integrity)));
        assert!(matches!(p.unwrap(&w, b""), Err(CryptoError::Integrity)));
        // Another master key with the same label has another fingerprint: refused by id.
        let other = FileKeyProvider::from_key(SecretKey::generate(), "test");
        assert_ne!(other.key_id(), p.key_id());
        let err = other.unwrap(&w, b"ds-1").unwrap_err();
        assert!(
            matches!(&err, CryptoError::UnknownKey { found, available }
                if found == p.key_id() && available == other.key_id()),
            "{err}"
        );
        // Two wraps of the same key differ (fresh nonce) and both unwrap.
        let w2 = p.wrap(&dek, b"ds-1").unwrap();
        assert_ne!(w, w2);
        assert_eq!(p.unwrap(&w2, b"ds-1").unwrap(), dek);
        // The data key bytes do not appear in the wrapped form.
        assert!(!w.windows(8).any(|x| x == &dek.expose()[..8]));
    }

    #[test]
    fn wrapped_key_header_carries_version_algorithm_and_key_id() {
        let p = FileKeyProvider::from_key(SecretKey::from_bytes([3; 32]), "file:v1");
        let w = p.wrap(&SecretKey::generate(), b"ds-1").unwrap();
        let id = p.key_id().as_bytes();
        assert!(p.key_id().starts_with("file:v1:"));
        assert_eq!(p.key_id().len(), "file:v1:".len() + 8);
        assert_eq!(&w[..4], b"MSWK");
        assert_eq!(w[4], 1, "version");
        assert_eq!(w[5], 1, "algorithm id 1 = AES-256-GCM");
        assert_eq!(usize::from(w[6]), id.len());
        assert_eq!(&w[7..7 + id.len()], id);
        assert_eq!(w.len(), 7 + id.len() + 12 + 32 + 16);
        assert_eq!(wrapped_key_id(&w).unwrap(), p.key_id());
    }

    #[test]
    fn any_modified_byte_of_a_wrapped_key_fails() {
        let p = FileKeyProvider::from_key(SecretKey::generate(), "t");
        let dek = SecretKey::generate();
        let w = p.wrap(&dek, b"ds").unwrap();
        for pos in 0..w.len() {
            let mut bad = w.clone();
            bad[pos] ^= 0x01;
            assert!(p.unwrap(&bad, b"ds").is_err(), "flip at {pos}");
        }
        for cut in 0..w.len() {
            assert!(p.unwrap(&w[..cut], b"ds").is_err(), "cut at {cut}");
        }
        let mut longer = w.clone();
        longer.push(0);
        assert!(p.unwrap(&longer, b"ds").is_err());
    }

    #[test]
    fn unsupported_wrapped_key_headers_are_format_errors() {
        let p = FileKeyProvider::from_key(SecretKey::generate(), "t");
        let w = p.wrap(&SecretKey::generate(), b"ds").unwrap();
        for (pos, what) in [(0, "magic"), (4, "version"), (5, "algorithm")] {
            let mut bad = w.clone();
            bad[pos] = 7;
            let err = p.unwrap(&bad, b"ds").unwrap_err();
            assert!(matches!(err, CryptoError::Format(_)), "{what}: {err}");
            assert!(err.to_string().contains(what), "{err}");
        }
        assert!(matches!(
            wrapped_key_id(b"MSWK"),
            Err(CryptoError::Format(_))
        ));
    }

    #[test]
    fn derive_is_deterministic_and_separates_purposes_and_contexts() {
        let p = FileKeyProvider::from_key(SecretKey::from_bytes([1; 32]), "t");
        let k = p.derive("pseudonym", b"p1").unwrap();
        assert_eq!(k, p.derive("pseudonym", b"p1").unwrap());
        assert_ne!(k, p.derive("pseudonym", b"p2").unwrap());
        assert_ne!(k, p.derive("date-shift", b"p1").unwrap());
        // Another master key gives other derived keys.
        let q = FileKeyProvider::from_key(SecretKey::from_bytes([2; 32]), "t");
        assert_ne!(k, q.derive("pseudonym", b"p1").unwrap());
        // The NUL separator cannot be forged through the purpose.
        assert!(matches!(
            p.derive("pseudonym\0p", b"1"),
            Err(CryptoError::Format(_))
        ));
        assert!(p.derive("", b"p1").is_err());
    }

    #[test]
    fn derive_is_hmac_sha256_of_the_documented_input() {
        // Pins the derivation so stored pseudonyms stay stable across releases.
        let p = FileKeyProvider::from_key(SecretKey::from_bytes([1; 32]), "t");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[1; 32]).unwrap();
        mac.update(b"medspace/v1/pseudonym\x00project-7");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(
            p.derive("pseudonym", b"project-7").unwrap().expose(),
            &expected
        );
    }

    #[test]
    fn key_file_is_private_hex_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let created = FileKeyProvider::create(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        assert!(text[..64].bytes().all(|b| b.is_ascii_hexdigit()));

        let err = FileKeyProvider::create(&path).unwrap_err();
        assert!(matches!(err, CryptoError::KeyFile { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "not overwritten"
        );

        let opened = FileKeyProvider::open(&path).unwrap();
        assert_eq!(opened.key_id(), created.key_id());
        let dek = SecretKey::generate();
        let w = created.wrap(&dek, b"obj").unwrap();
        assert_eq!(opened.unwrap(&w, b"obj").unwrap(), dek);
    }

    #[test]
    fn key_file_readable_by_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        FileKeyProvider::create(&path).unwrap();
        for m in [0o644, 0o640, 0o604, 0o620, 0o601] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();
            let err = FileKeyProvider::open(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{m:o}: {err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(
            FileKeyProvider::open(&path).is_ok(),
            "owner-only read is fine"
        );
    }

    #[test]
    fn symlinked_target_is_checked_and_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.key");
        FileKeyProvider::create(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(FileKeyProvider::open(&link).is_err(), "link to 0644 file");
        assert!(
            FileKeyProvider::create(&link).is_err(),
            "no write through link"
        );

        let missing = dir.path().join("missing.key");
        let err = FileKeyProvider::open(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.key"), "{err}");
        assert!(FileKeyProvider::open(dir.path()).is_err(), "a directory");
    }

    #[test]
    fn malformed_key_file_error_does_not_echo_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let secretish = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeZ";
        for content in [
            "zz-secret-looking-content-zz\n".to_string(),
            format!("{secretish}\n"),
            format!("{secretish}{secretish}"),
            "a".repeat(1000),
            String::new(),
        ] {
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, &content).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let err = FileKeyProvider::open(&path).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, CryptoError::KeyFile { .. }), "{text}");
            assert!(text.contains("64 hex"), "{text}");
            assert!(!text.contains("secret-looking"), "{text}");
            assert!(!text.contains("0123456789abcdef"), "{text}");
            assert!(!text.contains("aaaaaaaa"), "{text}");
        }
        // The position of a bad character is reported, not the character.
        std::fs::write(&path, format!("{secretish}\n")).unwrap();
        let text = FileKeyProvider::open(&path).unwrap_err().to_string();
        assert!(text.contains("offset 63"), "{text}");
    }

    #[test]
    fn key_file_with_crlf_or_uppercase_hex_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let hex_key = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
        std::fs::write(&path, format!("{hex_key}\r\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let opened = FileKeyProvider::open(&path).unwrap();
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_key, &mut bytes).unwrap();
        let direct = FileKeyProvider::from_key(SecretKey::from_bytes(bytes), "file:v1");
        assert_eq!(opened.key_id(), direct.key_id());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let k = SecretKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{k:?}"), "SecretKey(..)");
        let p = FileKeyProvider::from_key(k.clone(), "t");
        let shown = format!("{p:?}");
        assert!(!shown.contains("ab, ") && !shown.contains("abab") && !shown.contains("171"));
        assert!(shown.contains(p.key_id()));
    }

    #[test]
    fn secret_key_equality_compares_all_bytes() {
        let mut b = [5u8; 32];
        assert_eq!(SecretKey::from_bytes(b), SecretKey::from_bytes(b));
        b[31] = 6;
        assert_ne!(SecretKey::from_bytes([5; 32]), SecretKey::from_bytes(b));
        assert_ne!(SecretKey::generate(), SecretKey::generate());
    }
}
