//! Signed notes: text signed by one or more keys.
//!
//! C2SP signed-note (c2sp.org/signed-note, commit 5ba5ee8): a note is a UTF-8 text ending in a
//! newline, a blank line, then one or more signature lines `— <key name> base64(key ID || signature)`
//! (the dash is U+2014). Key IDs are `SHA-256(key name || 0x0A || signature type || public key)[:4]`;
//! verifier keys ("vkeys") are `<key name>+hex(key ID)+base64(signature type || public key)`.
//!
//! Verification follows the spec's rules: signatures from unknown keys (name and ID not both
//! matching a configured verifier) are ignored; a signature from a known key that fails makes the
//! whole note invalid; a note with no verified signature from a known key is rejected.
//!
//! Signature types are pluggable through [`NoteSigner`] and [`NoteVerifier`]: this crate provides
//! Ed25519 (type `0x01`, [`Ed25519Signer`] / [`Ed25519Verifier`]) and, in [`crate::witness`], the
//! timestamped Ed25519 cosignature (type `0x04`). The identifier medspace uses for SM2-with-SM3
//! ([`SM2_SM3_TYPE`]) is documented in `SIGNATURE-TYPES.md`; its implementation belongs in another
//! crate (the primitive comes from an SM2 crate, never from here).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte of Ed25519 note signatures (C2SP signed-note).
pub const ED25519_TYPE: u8 = 0x01;

/// Signature type prefix medspace uses for SM2-with-SM3 note signatures: the byte `0xff` that C2SP
/// signed-note reserves for "signature types without an identifier byte assigned by this
/// specification", followed by a NUL-terminated identifier (see `SIGNATURE-TYPES.md`).
pub const SM2_SM3_TYPE: &[u8] = b"\xffmedspace/sm2-sm3/v1\0";

/// Most signatures a note may carry (the spec requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Most bytes a note may have (text and signatures).
pub const MAX_NOTE_LEN: usize = 1 << 20;

const SIG_PREFIX: &str = "\u{2014} ";

/// Errors parsing, signing or verifying notes and verifier keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is longer than [`MAX_NOTE_LEN`].
    #[error("note is longer than {MAX_NOTE_LEN} bytes")]
    TooLong,
    /// The note is not UTF-8.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// The note contains an ASCII control character other than newline.
    #[error("note contains a control character (U+{code:04X}) at byte {offset}")]
    ControlCharacter {
        /// Byte offset.
        offset: usize,
        /// The character.
        code: u32,
    },
    /// The note text is empty.
    #[error("note text is empty")]
    EmptyText,
    /// The note text does not end with a newline.
    #[error("note text does not end with a newline")]
    TextNotTerminated,
    /// No blank line separates the text from the signatures.
    #[error("note has no blank line before its signatures")]
    MissingSeparator,
    /// The note has no signature line.
    #[error("note has no signatures")]
    NoSignatures,
    /// More than [`MAX_SIGNATURES`] signatures.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A signature line is malformed.
    #[error("signature line {line}: {reason}")]
    BadSignatureLine {
        /// 1-based number of the line among the signature lines.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key name is empty or contains a space or `+`.
    #[error("invalid key name `{0}` (must be non-empty, without spaces or '+')")]
    InvalidKeyName(String),
    /// A verifier key string is malformed.
    #[error("invalid verifier key: {0}")]
    BadVerifierKey(&'static str),
    /// The key ID written in a verifier key is not the one computed from its name and key.
    #[error("verifier key `{name}`: key ID does not match the key")]
    KeyIdMismatch {
        /// Key name.
        name: String,
    },
    /// The verifier key's signature type is not supported here.
    #[error("unsupported signature type 0x{0:02x}")]
    UnsupportedKeyType(u8),
    /// Two verifiers share a key name and key ID.
    #[error("duplicate verifier `{name}` {key_id:08x}")]
    DuplicateVerifier {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// A signature from a known key does not verify: the note is invalid.
    #[error("signature by `{name}` ({key_id:08x}) does not verify")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// No signature from a known key.
    #[error("note has no verified signature from a known key")]
    NoVerifiedSignature,
    /// A signer failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// `SHA-256(key name || 0x0A || key_material)[:4]` as a big-endian integer, where `key_material` is
/// the signature type identifier followed by the public key.
pub fn key_id(name: &str, key_material: &[u8]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update(key_material)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Whether `name` is a valid key name: non-empty, no Unicode spaces, no `+`, no control characters.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn check_key_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName(name.to_string()))
    }
}

fn check_chars(s: &str) -> Result<(), NoteError> {
    match s.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
        Some((offset, c)) => Err(NoteError::ControlCharacter {
            offset,
            code: u32::from(c),
        }),
        None => Ok(()),
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() {
        return Err(NoteError::EmptyText);
    }
    check_chars(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotTerminated);
    }
    Ok(())
}

/// Signs note texts under one key.
pub trait NoteSigner: std::fmt::Debug + Send + Sync {
    /// Key name.
    fn name(&self) -> &str;
    /// Key ID.
    fn key_id(&self) -> u32;
    /// The signature bytes (without the key ID) over `msg`, the note text.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError>;
}

/// Verifies note signatures of one key.
pub trait NoteVerifier: std::fmt::Debug + Send + Sync {
    /// Key name.
    fn name(&self) -> &str;
    /// Key ID.
    fn key_id(&self) -> u32;
    /// Whether `signature` (the bytes after the key ID) is valid over `msg`, the note text.
    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool;
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub key_id: u32,
    /// Signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line `— <name> base64(key ID || signature)\n`.
    pub fn to_line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(bytes))
    }

    /// Parses one signature line without its newline; `line` (1-based) is used in errors.
    pub fn parse_line(text: &str, line: usize) -> Result<Self, NoteError> {
        let bad = |reason| NoteError::BadSignatureLine { line, reason };
        let rest = text
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| bad("does not start with an em dash (U+2014) and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| bad("no space between key name and signature"))?;
        if !is_valid_key_name(name) {
            return Err(bad("invalid key name"));
        }
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| bad("signature is not valid base64"))?;
        let (id, signature) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("signature is shorter than a key ID"))?;
        if signature.is_empty() {
            return Err(bad("signature is empty"));
        }
        Ok(NoteSignature {
            name: name.to_string(),
            key_id: u32::from_be_bytes(*id),
            signature: signature.to_vec(),
        })
    }

    /// Parses a block of signature lines, each ending in a newline (e.g. a tlog-witness response).
    pub fn parse_lines(block: &str) -> Result<Vec<Self>, NoteError> {
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        check_chars(block)?;
        let body = block
            .strip_suffix('\n')
            .ok_or(NoteError::BadSignatureLine {
                line: block.split('\n').count(),
                reason: "does not end with a newline",
            })?;
        let sigs = body
            .split('\n')
            .enumerate()
            .map(|(i, l)| NoteSignature::parse_line(l, i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        if sigs.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        Ok(sigs)
    }
}

/// A set of trusted verifiers, looked up by key name and key ID.
#[derive(Debug, Default)]
pub struct Verifiers {
    keys: Vec<Box<dyn NoteVerifier>>,
}

impl Verifiers {
    /// No verifiers.
    pub fn new() -> Self {
        Verifiers::default()
    }

    /// Adds a verifier; refuses a second one with the same name and key ID.
    pub fn add(&mut self, verifier: Box<dyn NoteVerifier>) -> Result<(), NoteError> {
        if self.get(verifier.name(), verifier.key_id()).is_some() {
            return Err(NoteError::DuplicateVerifier {
                name: verifier.name().to_string(),
                key_id: verifier.key_id(),
            });
        }
        self.keys.push(verifier);
        Ok(())
    }

    /// Builder form of [`Verifiers::add`].
    pub fn with(mut self, verifier: Box<dyn NoteVerifier>) -> Result<Self, NoteError> {
        self.add(verifier)?;
        Ok(self)
    }

    /// The verifier for a key name and ID.
    pub fn get(&self, name: &str, key_id: u32) -> Option<&dyn NoteVerifier> {
        self.keys
            .iter()
            .find(|v| v.name() == name && v.key_id() == key_id)
            .map(|v| v.as_ref())
    }

    /// Number of verifiers.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A signed (or not yet signed) note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// An unsigned note with `text` (non-empty, ending in a newline, no control characters).
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Note {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note from bytes (which must be UTF-8).
    pub fn parse_bytes(input: &[u8]) -> Result<Self, NoteError> {
        if input.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLong);
        }
        Note::parse(std::str::from_utf8(input).map_err(|_| NoteError::NotUtf8)?)
    }

    /// Parses a signed note: text, blank line, signature lines. The text is separated from the
    /// signatures by the last blank line.
    pub fn parse(input: &str) -> Result<Self, NoteError> {
        if input.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLong);
        }
        check_chars(input)?;
        let split = input.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
        let (text, sigs) = (&input[..=split], &input[split + 2..]);
        check_text(text)?;
        let signatures = NoteSignature::parse_lines(sigs)?;
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// The note text (including its final newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All signature lines, known or not.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Appends a signature line (e.g. a cosignature returned by a witness).
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        check_key_name(&signature.name)?;
        if signature.signature.is_empty() {
            return Err(NoteError::Signing("empty signature".into()));
        }
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// Signs the text with `signer` and appends the signature.
    pub fn sign(&mut self, signer: &dyn NoteSigner) -> Result<(), NoteError> {
        check_key_name(signer.name())?;
        let signature = signer.sign(self.text.as_bytes())?;
        self.add_signature(NoteSignature {
            name: signer.name().to_string(),
            key_id: signer.key_id(),
            signature,
        })
    }

    /// Verifies the note against trusted `verifiers` and returns the verified signatures.
    ///
    /// Unknown keys are ignored; a failing signature from a known key rejects the note
    /// ([`NoteError::InvalidSignature`]); no verified known signature rejects it
    /// ([`NoteError::NoVerifiedSignature`]).
    pub fn verify(&self, verifiers: &Verifiers) -> Result<Vec<NoteSignature>, NoteError> {
        let mut verified = Vec::new();
        for sig in &self.signatures {
            let Some(v) = verifiers.get(&sig.name, sig.key_id) else {
                continue;
            };
            if !v.verify(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            verified.push(sig.clone());
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(verified)
    }
}

impl std::fmt::Display for Note {
    /// The serialized note: text, blank line, signature lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            f.write_str(&s.to_line())?;
        }
        Ok(())
    }
}

/// A parsed verifier key: `<name>+<hex key ID>+base64(type || public key)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// Key name.
    pub name: String,
    /// Key ID as written.
    pub key_id: u32,
    /// Signature type identifier followed by the public key.
    pub key_material: Vec<u8>,
}

impl VerifierKey {
    /// Parses a vkey (syntax only; [`verifier_from_vkey`] checks the key ID and builds a verifier).
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        // The key name and the hex key ID cannot contain '+'; the base64 key can.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadVerifierKey(
                "expected three '+'-separated parts",
            ));
        };
        check_key_name(name)?;
        if id.len() != 8
            || !id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(NoteError::BadVerifierKey(
                "key ID is not 8 lowercase hex digits",
            ));
        }
        let key_id = u32::from_str_radix(id, 16)
            .map_err(|_| NoteError::BadVerifierKey("key ID is not hex"))?;
        let key_material = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::BadVerifierKey("key is not valid base64"))?;
        if key_material.len() < 2 {
            return Err(NoteError::BadVerifierKey("key is too short"));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            key_id,
            key_material,
        })
    }

    /// The signature type byte.
    pub fn key_type(&self) -> u8 {
        self.key_material.first().copied().unwrap_or(0)
    }

    /// Whether the written key ID is the one computed from the name and key material.
    pub fn key_id_matches(&self) -> bool {
        key_id(&self.name, &self.key_material) == self.key_id
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(&self.key_material)
        )
    }
}

/// Builds a verifier from a vkey of a type this crate implements (`0x01` Ed25519, `0x04`
/// cosignature/v1). Other crates parse other types with [`VerifierKey::parse`].
pub fn verifier_from_vkey(vkey: &str) -> Result<Box<dyn NoteVerifier>, NoteError> {
    let key = VerifierKey::parse(vkey)?;
    match key.key_type() {
        ED25519_TYPE => Ok(Box::new(Ed25519Verifier::from_key(&key)?)),
        crate::witness::COSIGNATURE_V1_TYPE => Ok(Box::new(
            crate::witness::CosignatureV1Verifier::from_key(&key)?,
        )),
        other => Err(NoteError::UnsupportedKeyType(other)),
    }
}

/// Ed25519 public key from vkey material `type || 32-byte key`, after checking type and key ID.
pub(crate) fn ed25519_key_from(key: &VerifierKey, key_type: u8) -> Result<VerifyingKey, NoteError> {
    let Some((&t, public)) = key.key_material.split_first() else {
        return Err(NoteError::BadVerifierKey("key is empty"));
    };
    if t != key_type {
        return Err(NoteError::UnsupportedKeyType(t));
    }
    let public: &[u8; 32] = public
        .try_into()
        .map_err(|_| NoteError::BadVerifierKey("Ed25519 public key is not 32 bytes"))?;
    if !key.key_id_matches() {
        return Err(NoteError::KeyIdMismatch {
            name: key.name.clone(),
        });
    }
    VerifyingKey::from_bytes(public)
        .map_err(|_| NoteError::BadVerifierKey("not a valid Ed25519 public key"))
}

/// Ed25519 signature check (RFC 8032, strict: canonical encodings, no small-order keys).
pub(crate) fn ed25519_verify(key: &VerifyingKey, msg: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
        return false;
    };
    key.verify_strict(msg, &sig).is_ok()
}

pub(crate) fn key_material(key_type: u8, public: &VerifyingKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(33);
    m.push(key_type);
    m.extend_from_slice(public.as_bytes());
    m
}

/// Verifies Ed25519 note signatures (type `0x01`).
#[derive(Debug, Clone)]
pub struct Ed25519Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// A verifier for `name` and `key`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        check_key_name(name)?;
        Ok(Ed25519Verifier {
            name: name.to_string(),
            key_id: key_id(name, &key_material(ED25519_TYPE, &key)),
            key,
        })
    }

    /// From a vkey string.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        Ed25519Verifier::from_key(&VerifierKey::parse(vkey)?)
    }

    /// From a parsed vkey (type must be `0x01`, key ID must match).
    pub fn from_key(key: &VerifierKey) -> Result<Self, NoteError> {
        let public = ed25519_key_from(key, ED25519_TYPE)?;
        Ok(Ed25519Verifier {
            name: key.name.clone(),
            key_id: key.key_id,
            key: public,
        })
    }

    /// The vkey string.
    pub fn vkey(&self) -> String {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key_material: key_material(ED25519_TYPE, &self.key),
        }
        .to_string()
    }
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        ed25519_verify(&self.key, msg, signature)
    }
}

/// Signs notes with Ed25519 (type `0x01`). `Debug` never shows the private key.
pub struct Ed25519Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl Ed25519Signer {
    /// A signer for `name` from a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(Ed25519Signer {
            name: name.to_string(),
            key_id: key_id(name, &key_material(ED25519_TYPE, &key.verifying_key())),
            key,
        })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, NoteError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    fn spec_verifiers() -> Verifiers {
        Verifiers::new()
            .with(verifier_from_vkey(SPEC_VKEY).unwrap())
            .unwrap()
    }

    #[test]
    fn the_spec_example_verifies_and_round_trips() {
        let note = Note::parse(SPEC_NOTE).unwrap();
        assert_eq!(note.text(), "This is an example message.\n");
        assert_eq!(note.signatures()[0].key_id, 0x530d903a);
        let ok = note.verify(&spec_verifiers()).unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(note.to_string(), SPEC_NOTE);
        assert_eq!(
            Ed25519Verifier::from_vkey(SPEC_VKEY).unwrap().vkey(),
            SPEC_VKEY
        );
    }

    #[test]
    fn vkeys_whose_base64_contains_plus_round_trip() {
        // Standard base64 uses '+': only the first two '+' separate the vkey's fields.
        let with_plus = (0u8..=255)
            .map(|seed| Ed25519Signer::from_seed("medspace.example/log", &[seed; 32]).unwrap())
            .map(|s| s.verifier().vkey())
            .find(|v| v.matches('+').count() > 2)
            .unwrap();
        let parsed = VerifierKey::parse(&with_plus).unwrap();
        assert!(parsed.key_id_matches());
        assert_eq!(parsed.to_string(), with_plus);
        assert_eq!(
            Ed25519Verifier::from_vkey(&with_plus).unwrap().vkey(),
            with_plus
        );
        assert!(VerifierKey::parse("name+0102").is_err());
    }

    #[test]
    fn sign_then_verify_and_unknown_keys_are_ignored() {
        let a = Ed25519Signer::from_seed("medspace.example/log", &[7; 32]).unwrap();
        let b = Ed25519Signer::from_seed("other.example/x", &[8; 32]).unwrap();
        let mut note = Note::new("line one\n\nline three\n").unwrap();
        note.sign(&a).unwrap();
        note.sign(&b).unwrap();
        let text = note.to_string();
        let parsed = Note::parse(&text).unwrap();
        assert_eq!(parsed, note);
        let only_a = Verifiers::new().with(Box::new(a.verifier())).unwrap();
        let verified = parsed.verify(&only_a).unwrap();
        assert_eq!(verified.len(), 1);
        assert_eq!(verified[0].name, "medspace.example/log");
        // A key with the same name but another ID is unknown, hence ignored.
        let c = Ed25519Signer::from_seed("medspace.example/log", &[9; 32]).unwrap();
        let only_c = Verifiers::new().with(Box::new(c.verifier())).unwrap();
        assert_eq!(parsed.verify(&only_c), Err(NoteError::NoVerifiedSignature));
        assert!(format!("{a:?}").contains("key_id"));
        assert!(!format!("{a:?}").contains("0707"));
    }

    #[test]
    fn malformed_notes_are_refused() {
        let cases: &[(&str, NoteError)] = &[
            ("text\n", NoteError::MissingSeparator),
            ("text\n\n", NoteError::NoSignatures),
            (
                "text\n\n\u{2014} a AAAAAAA=",
                NoteError::BadSignatureLine {
                    line: 1,
                    reason: "does not end with a newline",
                },
            ),
            (
                "text\n\n- a AAAAAAA=\n",
                NoteError::BadSignatureLine {
                    line: 1,
                    reason: "does not start with an em dash (U+2014) and a space",
                },
            ),
            (
                "text\n\n\u{2014} a AAAAAA==\n",
                NoteError::BadSignatureLine {
                    line: 1,
                    reason: "signature is empty",
                },
            ),
            (
                "text\n\n\u{2014} a+b AAAAAAA=\n",
                NoteError::BadSignatureLine {
                    line: 1,
                    reason: "invalid key name",
                },
            ),
            (
                "text\n\n\u{2014} a !!\n",
                NoteError::BadSignatureLine {
                    line: 1,
                    reason: "signature is not valid base64",
                },
            ),
            (
                "te\txt\n\n\u{2014} a AAAAAAA=\n",
                NoteError::ControlCharacter { offset: 2, code: 9 },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Note::parse(input).as_ref(), Err(want), "{input:?}");
        }
        assert_eq!(Note::parse_bytes(b"\xff\n\n"), Err(NoteError::NotUtf8));
        assert_eq!(Note::new("no newline"), Err(NoteError::TextNotTerminated));
        assert_eq!(Note::new(""), Err(NoteError::EmptyText));
        // A text of one empty line is still a text ending in a newline.
        assert_eq!(
            Note::parse("\n\n\u{2014} a AAAAAAA=\n").unwrap().text(),
            "\n"
        );
    }

    #[test]
    fn vkeys_are_checked() {
        assert!(matches!(
            verifier_from_vkey(
                "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
            ),
            Err(NoteError::KeyIdMismatch { .. })
        ));
        assert!(matches!(
            verifier_from_vkey(
                "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
            ),
            Err(NoteError::BadVerifierKey(_))
        ));
        assert!(matches!(
            verifier_from_vkey("example.com/foo+530d903a"),
            Err(NoteError::BadVerifierKey(_))
        ));
        let k = VerifierKey::parse("n+00000000+BwEC").unwrap();
        assert_eq!(k.key_type(), 7);
        assert_eq!(
            verifier_from_vkey("n+00000000+BwEC").unwrap_err(),
            NoteError::UnsupportedKeyType(7)
        );
        let dup = Verifiers::new()
            .with(verifier_from_vkey(SPEC_VKEY).unwrap())
            .unwrap();
        assert!(matches!(
            dup.with(verifier_from_vkey(SPEC_VKEY).unwrap()),
            Err(NoteError::DuplicateVerifier { .. })
        ));
    }
}
