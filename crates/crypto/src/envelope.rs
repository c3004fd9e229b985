//! Streaming authenticated encryption of stored objects — T/CI 857-2024 6.3 (encrypted storage),
//! DMS 4.3.1 and 7.2.4 (AES-256 for sensitive data at rest), GB/T 39725-2020 §10.1 g)–i).
//!
//! National profile: GB/T 39786-2021 (SM4 for confidentiality and integrity of stored data),
//! GB/T 32907-2016 (SM4), RFC 8998 (SM4-GCM).
//!
//! Each object is encrypted with its own data key (wrapped by the master key through a
//! [`KeyProvider`](crate::KeyProvider)) using AES-256-GCM or SM4-GCM (per
//! [`CryptoProfile::content_cipher`]) in the STREAM construction
//! (the `aead-stream` crate's `StreamBE32`, big-endian 32-bit counter plus last-segment flag,
//! Hoang–Reyhanitabar–Rogaway–Vizár).
//!
//! Format (version 1):
//!
//! ```text
//! "MSE1" | version u8 = 1 | algorithm u8 | nonce prefix [7] | segment* | last segment
//! ```
//!
//! * algorithm 1 = AES-256-GCM keyed with the 256-bit data key; algorithm 2 = SM4-GCM keyed with
//!   [`Sm4Key::derive`]`(data key, "content")` (the first 16 bytes of HMAC-SM3(data key,
//!   `"medspace/v1/sm4/content"`)); both use 96-bit nonces and 128-bit tags, so the layout is the
//!   same. Decryption reads the algorithm from the header: objects written under either profile
//!   stay readable whatever the node's current profile;
//! * every segment except the last carries exactly 64 KiB of plaintext plus a 16-byte tag; the last
//!   carries 0–64 KiB and is sealed with the STREAM last-segment flag, so cutting the object at any
//!   segment boundary, dropping, reordering or appending segments all fail verification;
//! * the 13-byte header followed by the caller's context (e.g. the object id) is the associated data
//!   of every segment, so a header edit or moving a ciphertext to another object is detected.
//!
//! Writer and reader hold one segment in memory whatever the object size, and the reader only ever
//! returns plaintext of segments whose tag has verified. [`encrypt_bytes_with`] and
//! [`decrypt_bytes`] write the same format without that buffer: each segment is sealed or opened
//! in place in their output (one copy of the data fewer; see `docs/benchmarks.md`).

use std::io::{self, Read, Write};

use aead_stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{Buffer, KeyInit};
use aes_gcm::Aes256Gcm;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::keys::SecretKey;
use crate::national::{Sm4Gcm, Sm4Key};
use crate::profile::{AeadAlgorithm, CryptoProfile};
use crate::CryptoError;

const MAGIC: &[u8; 4] = b"MSE1";
const VERSION: u8 = 1;
const NONCE_PREFIX: usize = 7;
/// Length of the object header: magic, version, algorithm id, nonce prefix.
pub(crate) const HEADER_LEN: usize = 4 + 1 + 1 + NONCE_PREFIX;
/// Plaintext bytes per segment.
pub(crate) const SEGMENT: usize = 64 * 1024;
/// Plaintext bytes per STREAM segment (64 KiB): every segment but the last holds exactly this many.
pub const SEGMENT_LEN: usize = SEGMENT;
/// GCM tag bytes per segment.
pub(crate) const TAG: usize = 16;
/// Purpose label of the SM4 content key derived from a data key ([`Sm4Key::derive`]).
const SM4_CONTENT_PURPOSE: &str = "content";

/// The STREAM encryptor of either algorithm.
enum StreamEncryptor {
    // Both boxed: the cipher states (key schedule, GHASH key powers) are several hundred bytes.
    Aes(Box<EncryptorBE32<Aes256Gcm>>),
    Sm4(Box<EncryptorBE32<Sm4Gcm>>),
}

impl StreamEncryptor {
    fn new(algorithm: AeadAlgorithm, dek: &SecretKey, nonce: &[u8; NONCE_PREFIX]) -> Self {
        match algorithm {
            AeadAlgorithm::Aes256Gcm => StreamEncryptor::Aes(Box::new(EncryptorBE32::from_aead(
                Aes256Gcm::new(dek.expose().into()),
                nonce.into(),
            ))),
            AeadAlgorithm::Sm4Gcm => StreamEncryptor::Sm4(Box::new(EncryptorBE32::from_aead(
                Sm4Key::derive(dek, SM4_CONTENT_PURPOSE).gcm(),
                nonce.into(),
            ))),
        }
    }

    fn encrypt_next(&mut self, aad: &[u8], buffer: &mut dyn Buffer) -> aes_gcm::aead::Result<()> {
        match self {
            StreamEncryptor::Aes(e) => e.encrypt_next_in_place(aad, buffer),
            StreamEncryptor::Sm4(e) => e.encrypt_next_in_place(aad, buffer),
        }
    }

    fn encrypt_last(self, aad: &[u8], buffer: &mut dyn Buffer) -> aes_gcm::aead::Result<()> {
        match self {
            StreamEncryptor::Aes(e) => e.encrypt_last_in_place(aad, buffer),
            StreamEncryptor::Sm4(e) => e.encrypt_last_in_place(aad, buffer),
        }
    }
}

/// The STREAM decryptor of either algorithm.
enum StreamDecryptor {
    // Both boxed: the cipher states (key schedule, GHASH key powers) are several hundred bytes.
    Aes(Box<DecryptorBE32<Aes256Gcm>>),
    Sm4(Box<DecryptorBE32<Sm4Gcm>>),
}

impl StreamDecryptor {
    fn new(algorithm: AeadAlgorithm, dek: &SecretKey, nonce: &[u8; NONCE_PREFIX]) -> Self {
        match algorithm {
            AeadAlgorithm::Aes256Gcm => StreamDecryptor::Aes(Box::new(DecryptorBE32::from_aead(
                Aes256Gcm::new(dek.expose().into()),
                nonce.into(),
            ))),
            AeadAlgorithm::Sm4Gcm => StreamDecryptor::Sm4(Box::new(DecryptorBE32::from_aead(
                Sm4Key::derive(dek, SM4_CONTENT_PURPOSE).gcm(),
                nonce.into(),
            ))),
        }
    }

    fn decrypt_next(&mut self, aad: &[u8], buffer: &mut dyn Buffer) -> aes_gcm::aead::Result<()> {
        match self {
            StreamDecryptor::Aes(d) => d.decrypt_next_in_place(aad, buffer),
            StreamDecryptor::Sm4(d) => d.decrypt_next_in_place(aad, buffer),
        }
    }

    fn decrypt_last(self, aad: &[u8], buffer: &mut dyn Buffer) -> aes_gcm::aead::Result<()> {
        match self {
            StreamDecryptor::Aes(d) => d.decrypt_last_in_place(aad, buffer),
            StreamDecryptor::Sm4(d) => d.decrypt_last_in_place(aad, buffer),
        }
    }
}

fn integrity_io() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, CryptoError::Integrity)
}

/// Turns an I/O error from [`DecryptedReader`] / [`EncryptedWriter`] back into the
/// [`CryptoError`] it carries, or [`CryptoError::Io`] for a genuine I/O failure.
pub(crate) fn crypto_from_io(e: io::Error) -> CryptoError {
    if !e.get_ref().is_some_and(|inner| inner.is::<CryptoError>()) {
        return CryptoError::Io(e);
    }
    match e.into_inner().map(|inner| inner.downcast::<CryptoError>()) {
        Some(Ok(c)) => *c,
        // Checked above: the inner error is a CryptoError.
        _ => CryptoError::Integrity,
    }
}

/// Encrypts everything written to it, one 64 KiB segment at a time.
///
/// Call [`EncryptedWriter::finish`] to seal the last segment: an object whose writer was dropped
/// without `finish` has no last segment and will never decrypt. After any error the writer refuses
/// further use (the object is incomplete and must be discarded).
pub struct EncryptedWriter<W: Write> {
    inner: W,
    algorithm: AeadAlgorithm,
    encryptor: StreamEncryptor,
    aad: Vec<u8>,
    /// Plaintext of the segment being filled (at most [`SEGMENT`] bytes, room for the tag).
    buffer: Zeroizing<Vec<u8>>,
    failed: bool,
}

impl<W: Write> std::fmt::Debug for EncryptedWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedWriter")
            .field("algorithm", &self.algorithm)
            .field("buffered", &self.buffer.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Starts an encrypted object under the data key `dek`, bound to `aad` (e.g. the object id):
/// writes the header to `out` and returns a writer for the plaintext. Uses AES-256-GCM (the
/// international profile); see [`encrypt_writer_with`].
pub fn encrypt_writer<W: Write>(
    dek: &SecretKey,
    aad: &[u8],
    out: W,
) -> Result<EncryptedWriter<W>, CryptoError> {
    encrypt_writer_with(CryptoProfile::International, dek, aad, out)
}

/// [`encrypt_writer`] with the content cipher of `profile` (AES-256-GCM or SM4-GCM), recorded in
/// the header so that [`decrypt_reader`] needs no profile.
pub fn encrypt_writer_with<W: Write>(
    profile: CryptoProfile,
    dek: &SecretKey,
    aad: &[u8],
    mut out: W,
) -> Result<EncryptedWriter<W>, CryptoError> {
    let algorithm = profile.content_cipher();
    let (nonce, full_aad) = new_header(algorithm, aad);
    out.write_all(&full_aad[..HEADER_LEN])?;
    Ok(EncryptedWriter {
        inner: out,
        algorithm,
        encryptor: StreamEncryptor::new(algorithm, dek, &nonce),
        aad: full_aad,
        buffer: Zeroizing::new(Vec::with_capacity(SEGMENT + TAG)),
        failed: false,
    })
}

/// A fresh random nonce prefix, and the associated data of every segment: the header (magic,
/// version, algorithm id, nonce prefix) followed by the caller's context.
fn new_header(algorithm: AeadAlgorithm, aad: &[u8]) -> ([u8; NONCE_PREFIX], Vec<u8>) {
    let mut nonce = [0u8; NONCE_PREFIX];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut full_aad = Vec::with_capacity(HEADER_LEN + aad.len());
    full_aad.extend_from_slice(MAGIC);
    full_aad.push(VERSION);
    full_aad.push(algorithm.id());
    full_aad.extend_from_slice(&nonce);
    full_aad.extend_from_slice(aad);
    (nonce, full_aad)
}

/// The part of a `Vec` from `start` on, as an AEAD in-place buffer: [`encrypt_bytes_with`] and
/// [`decrypt_bytes`] seal and open each segment where it lies in their output, without the
/// writer's and reader's intermediate segment buffer (one copy of the data fewer).
struct TailBuffer<'a> {
    vec: &'a mut Vec<u8>,
    start: usize,
}

impl AsRef<[u8]> for TailBuffer<'_> {
    fn as_ref(&self) -> &[u8] {
        self.vec.get(self.start..).unwrap_or_default()
    }
}

impl AsMut<[u8]> for TailBuffer<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.vec.get_mut(self.start..).unwrap_or_default()
    }
}

impl Buffer for TailBuffer<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aes_gcm::aead::Result<()> {
        self.vec.extend_from_slice(other);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.vec.truncate(self.start + len);
    }
}

fn stream_limit() -> io::Error {
    io::Error::other("object exceeds the STREAM limit of 2^32 segments")
}

fn writer_failed() -> io::Error {
    io::Error::other("an earlier write failed; the encrypted object is incomplete")
}

impl<W: Write> EncryptedWriter<W> {
    /// Seals the full buffer as a non-last segment and writes it out.
    fn seal_segment(&mut self) -> io::Result<()> {
        self.encryptor
            .encrypt_next(&self.aad, &mut *self.buffer)
            .map_err(|_| stream_limit())?;
        self.inner.write_all(&self.buffer)?;
        self.buffer.clear();
        Ok(())
    }

    /// The content cipher of this object.
    pub fn algorithm(&self) -> AeadAlgorithm {
        self.algorithm
    }

    /// Seals the last segment, flushes and returns the inner writer.
    pub fn finish(self) -> Result<W, CryptoError> {
        let EncryptedWriter {
            mut inner,
            algorithm: _,
            encryptor,
            aad,
            mut buffer,
            failed,
        } = self;
        if failed {
            return Err(CryptoError::Io(writer_failed()));
        }
        encryptor
            .encrypt_last(&aad, &mut *buffer)
            .map_err(|_| CryptoError::Io(io::Error::other("sealing the last segment failed")))?;
        inner.write_all(&buffer)?;
        inner.flush()?;
        Ok(inner)
    }
}

impl<W: Write> Write for EncryptedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(writer_failed());
        }
        let mut rest = buf;
        while !rest.is_empty() {
            // A full buffer is sealed only once more data arrives: the last segment is sealed by
            // `finish`, with the last-segment flag.
            if self.buffer.len() >= SEGMENT {
                if let Err(e) = self.seal_segment() {
                    self.failed = true;
                    return Err(e);
                }
            }
            let n = rest.len().min(SEGMENT - self.buffer.len());
            let (head, tail) = rest.split_at(n);
            self.buffer.extend_from_slice(head);
            rest = tail;
        }
        Ok(buf.len())
    }

    /// Flushes the segments sealed so far. The partly filled segment stays buffered: sealing it
    /// early would change the segment layout.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts and verifies an encrypted object while it is read.
///
/// Each segment is verified before any of its plaintext is returned. A modified, truncated,
/// extended or reordered object, a wrong key or a wrong context makes `read` fail with an
/// [`io::Error`] of kind `InvalidData` wrapping [`CryptoError::Integrity`]; later reads keep failing.
/// Plaintext already returned from earlier segments was authentic, but the object as a whole is
/// not: callers must discard it on error (or use [`decrypt_bytes`] for small objects).
pub struct DecryptedReader<R: Read> {
    inner: R,
    algorithm: AeadAlgorithm,
    /// `None` once the last segment has been decrypted.
    decryptor: Option<StreamDecryptor>,
    aad: Vec<u8>,
    /// Plaintext of the current segment (ciphertext while it is being read).
    buffer: Zeroizing<Vec<u8>>,
    pos: usize,
    /// First byte of the next segment, read to find out whether the current one is the last.
    lookahead: Option<u8>,
    failed: bool,
}

impl<R: Read> std::fmt::Debug for DecryptedReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedReader")
            .field("algorithm", &self.algorithm)
            .field("finished", &self.decryptor.is_none())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Reads one byte, retrying on interruption; `None` at end of input.
fn read_byte(r: &mut impl Read) -> io::Result<Option<u8>> {
    let mut b = [0u8; 1];
    loop {
        match r.read(&mut b) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(b[0])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Checks magic and format version and returns the algorithm named by an object header (at least
/// the first 6 bytes of the object).
fn parse_header(header: &[u8]) -> Result<AeadAlgorithm, CryptoError> {
    let short = || CryptoError::Format("object header: shorter than 6 bytes".into());
    if header.get(..MAGIC.len()).ok_or_else(short)? != MAGIC {
        return Err(CryptoError::Format(
            "object header: expected magic \"MSE1\" (not a medspace encrypted object)".into(),
        ));
    }
    let version = *header.get(MAGIC.len()).ok_or_else(short)?;
    if version != VERSION {
        return Err(CryptoError::Format(format!(
            "object header: format version {version}, expected {VERSION}"
        )));
    }
    let id = *header.get(MAGIC.len() + 1).ok_or_else(short)?;
    AeadAlgorithm::from_id(id).ok_or_else(|| {
        CryptoError::Format(format!(
            "object header: algorithm id {id} not supported (known: 1 = AES-256-GCM, 2 = SM4-GCM)"
        ))
    })
}

/// The content cipher named by an encrypted object's header, read without any key (for
/// inventories and re-encryption jobs). `object` needs only its first 6 bytes; nothing is
/// authenticated until the object is decrypted.
pub fn object_algorithm(object: &[u8]) -> Result<AeadAlgorithm, CryptoError> {
    parse_header(object)
}

/// Opens an encrypted object for reading under the data key `dek` and context `aad`: reads and
/// checks the header, whose algorithm id selects AES-256-GCM or SM4-GCM. Segments are verified as
/// they are read.
pub fn decrypt_reader<R: Read>(
    dek: &SecretKey,
    aad: &[u8],
    mut input: R,
) -> Result<DecryptedReader<R>, CryptoError> {
    let mut header = [0u8; HEADER_LEN];
    input.read_exact(&mut header).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            CryptoError::Integrity
        } else {
            CryptoError::Io(e)
        }
    })?;
    let algorithm = parse_header(&header)?;
    let nonce: [u8; NONCE_PREFIX] = header
        .get(HEADER_LEN - NONCE_PREFIX..)
        .and_then(|n| n.try_into().ok())
        .ok_or(CryptoError::Integrity)?;
    let mut full_aad = Vec::with_capacity(HEADER_LEN + aad.len());
    full_aad.extend_from_slice(&header);
    full_aad.extend_from_slice(aad);
    Ok(DecryptedReader {
        inner: input,
        algorithm,
        decryptor: Some(StreamDecryptor::new(algorithm, dek, &nonce)),
        aad: full_aad,
        buffer: Zeroizing::new(Vec::with_capacity(SEGMENT + TAG)),
        pos: 0,
        lookahead: None,
        failed: false,
    })
}

impl<R: Read> DecryptedReader<R> {
    /// The content cipher named in the object's header.
    pub fn algorithm(&self) -> AeadAlgorithm {
        self.algorithm
    }

    /// Reads, verifies and decrypts the next segment into `buffer`.
    fn next_segment(&mut self) -> io::Result<()> {
        self.buffer.clear();
        self.pos = 0;
        if let Some(b) = self.lookahead.take() {
            self.buffer.push(b);
        }
        let want = (SEGMENT + TAG - self.buffer.len()) as u64;
        (&mut self.inner).take(want).read_to_end(&mut self.buffer)?;
        // A full-size chunk is the last one only if nothing follows it.
        let is_last = self.buffer.len() < SEGMENT + TAG || {
            self.lookahead = read_byte(&mut self.inner)?;
            self.lookahead.is_none()
        };
        let verified = if is_last {
            match self.decryptor.take() {
                Some(dec) => dec.decrypt_last(&self.aad, &mut *self.buffer),
                None => return Err(integrity_io()),
            }
        } else {
            match self.decryptor.as_mut() {
                Some(dec) => dec.decrypt_next(&self.aad, &mut *self.buffer),
                None => return Err(integrity_io()),
            }
        };
        if verified.is_err() {
            self.buffer.clear();
            return Err(integrity_io());
        }
        Ok(())
    }
}

impl<R: Read> Read for DecryptedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(integrity_io());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos >= self.buffer.len() {
            if self.decryptor.is_none() {
                return Ok(0);
            }
            if let Err(e) = self.next_segment() {
                self.failed = true;
                self.buffer.clear();
                return Err(e);
            }
        }
        let available = self.buffer.get(self.pos..).unwrap_or_default();
        let n = buf.len().min(available.len());
        let (dst, _) = buf.split_at_mut(n);
        let (src, _) = available.split_at(n);
        dst.copy_from_slice(src);
        self.pos += n;
        Ok(n)
    }
}

/// Encrypts a whole buffer in the stream format with AES-256-GCM (see [`encrypt_writer`]).
pub fn encrypt_bytes(dek: &SecretKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    encrypt_bytes_with(CryptoProfile::International, dek, aad, plain)
}

/// Encrypts a whole buffer in the stream format with the content cipher of `profile` (see
/// [`encrypt_writer_with`]). Produces the same layout as the writer; each segment is sealed in
/// place in the output, so the plaintext is copied once.
pub fn encrypt_bytes_with(
    profile: CryptoProfile,
    dek: &SecretKey,
    aad: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let algorithm = profile.content_cipher();
    let (nonce, full_aad) = new_header(algorithm, aad);
    // As the writer seals them: every segment but the last is full, the last holds 0..=SEGMENT
    // bytes (a full one when the length is a non-zero multiple of SEGMENT).
    let segments = plain.len().div_ceil(SEGMENT).max(1);
    let (body, last) = plain.split_at((segments - 1) * SEGMENT);
    // Zeroizing: until a segment is sealed, its plaintext lies in `out`.
    let mut out = Zeroizing::new(Vec::with_capacity(
        HEADER_LEN + plain.len() + TAG * segments,
    ));
    out.extend_from_slice(&full_aad[..HEADER_LEN]);
    let mut encryptor = StreamEncryptor::new(algorithm, dek, &nonce);
    for segment in body.chunks_exact(SEGMENT) {
        let start = out.len();
        out.extend_from_slice(segment);
        encryptor
            .encrypt_next(
                &full_aad,
                &mut TailBuffer {
                    vec: &mut out,
                    start,
                },
            )
            .map_err(|_| CryptoError::Io(stream_limit()))?;
    }
    let start = out.len();
    out.extend_from_slice(last);
    encryptor
        .encrypt_last(
            &full_aad,
            &mut TailBuffer {
                vec: &mut out,
                start,
            },
        )
        .map_err(|_| CryptoError::Io(io::Error::other("sealing the last segment failed")))?;
    Ok(std::mem::take(&mut *out))
}

/// Decrypts a whole buffer in the stream format (see [`decrypt_reader`], whose checks and errors
/// it shares). Returns nothing unless the entire object verified; each segment is opened in place
/// in the output, and the output is zeroized if a later segment fails.
pub fn decrypt_bytes(
    dek: &SecretKey,
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let (header, body) = ciphertext
        .split_at_checked(HEADER_LEN)
        .ok_or(CryptoError::Integrity)?;
    let algorithm = parse_header(header)?;
    let nonce: [u8; NONCE_PREFIX] = header
        .get(HEADER_LEN - NONCE_PREFIX..)
        .and_then(|n| n.try_into().ok())
        .ok_or(CryptoError::Integrity)?;
    let mut full_aad = Vec::with_capacity(HEADER_LEN + aad.len());
    full_aad.extend_from_slice(header);
    full_aad.extend_from_slice(aad);
    // The last segment is the one nothing follows, whether short or full-size.
    let segments = body.len().div_ceil(SEGMENT + TAG).max(1);
    let (body, last) = body.split_at((segments - 1) * (SEGMENT + TAG));
    let mut out = Zeroizing::new(Vec::with_capacity(body.len() + last.len()));
    let mut decryptor = StreamDecryptor::new(algorithm, dek, &nonce);
    for segment in body.chunks_exact(SEGMENT + TAG) {
        let start = out.len();
        out.extend_from_slice(segment);
        decryptor
            .decrypt_next(
                &full_aad,
                &mut TailBuffer {
                    vec: &mut out,
                    start,
                },
            )
            .map_err(|_| CryptoError::Integrity)?;
    }
    let start = out.len();
    out.extend_from_slice(last);
    decryptor
        .decrypt_last(
            &full_aad,
            &mut TailBuffer {
                vec: &mut out,
                start,
            },
        )
        .map_err(|_| CryptoError::Integrity)?;
    Ok(std::mem::take(&mut *out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, Payload};
    use proptest::prelude::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn is_integrity(r: Result<Vec<u8>, CryptoError>) -> bool {
        matches!(r, Err(CryptoError::Integrity))
    }

    #[test]
    fn round_trips_at_segment_boundaries() {
        let k = SecretKey::generate();
        for n in [
            0,
            1,
            SEGMENT - 1,
            SEGMENT,
            SEGMENT + 1,
            2 * SEGMENT,
            1 << 20,
        ] {
            let p = data(n);
            let c = encrypt_bytes(&k, b"obj", &p).unwrap();
            let segments = if n == 0 { 1 } else { n.div_ceil(SEGMENT) };
            assert_eq!(c.len(), HEADER_LEN + n + TAG * segments, "size {n}");
            assert_eq!(decrypt_bytes(&k, b"obj", &c).unwrap(), p, "size {n}");
        }
    }

    #[test]
    fn whole_buffer_and_streaming_paths_write_and_read_the_same_layout() {
        // `encrypt_bytes_with` / `decrypt_bytes` seal and open segments in place in their output;
        // the writer and reader go through a segment buffer. Each must read what the other wrote.
        let k = SecretKey::generate();
        for profile in CryptoProfile::ALL {
            for n in [
                0,
                1,
                SEGMENT - 1,
                SEGMENT,
                SEGMENT + 1,
                2 * SEGMENT,
                2 * SEGMENT + 7,
            ] {
                let p = data(n);
                let whole = encrypt_bytes_with(profile, &k, b"obj", &p).unwrap();
                let mut w = encrypt_writer_with(profile, &k, b"obj", Vec::new()).unwrap();
                w.write_all(&p).unwrap();
                let streamed = w.finish().unwrap();
                assert_eq!(whole.len(), streamed.len(), "{profile} {n}");
                assert_eq!(whole[..6], streamed[..6], "{profile} {n}");
                assert_eq!(decrypt_bytes(&k, b"obj", &streamed).unwrap(), p);
                let mut back = Vec::new();
                decrypt_reader(&k, b"obj", &whole[..])
                    .unwrap()
                    .read_to_end(&mut back)
                    .unwrap();
                assert_eq!(back, p, "{profile} {n}");
                // The last segment is flagged in both: cutting the last segment off fails.
                if n > SEGMENT {
                    let cut = HEADER_LEN + (n - 1) / SEGMENT * (SEGMENT + TAG);
                    assert!(is_integrity(decrypt_bytes(&k, b"obj", &whole[..cut])));
                    assert!(is_integrity(decrypt_bytes(&k, b"obj", &streamed[..cut])));
                }
            }
        }
    }

    #[test]
    fn header_layout_is_magic_version_algorithm_nonce() {
        let k = SecretKey::generate();
        let a = encrypt_bytes(&k, b"obj", b"x").unwrap();
        let b = encrypt_bytes(&k, b"obj", b"x").unwrap();
        assert_eq!(&a[..4], b"MSE1");
        assert_eq!(a[4], 1, "version");
        assert_eq!(a[5], 1, "algorithm id 1 = AES-256-GCM");
        assert_ne!(a[6..13], b[6..13], "nonce prefix is random per object");
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_key_or_context_fails() {
        let k = SecretKey::generate();
        let c = encrypt_bytes(&k, b"obj", b"hello").unwrap();
        assert!(is_integrity(decrypt_bytes(
            &SecretKey::generate(),
            b"obj",
            &c
        )));
        assert!(is_integrity(decrypt_bytes(&k, b"other", &c)));
        assert!(is_integrity(decrypt_bytes(&k, b"", &c)));
        assert_eq!(decrypt_bytes(&k, b"obj", &c).unwrap(), b"hello");
    }

    #[test]
    fn unknown_format_version_or_algorithm_is_a_format_error() {
        let k = SecretKey::generate();
        let c = encrypt_bytes(&k, b"obj", b"hello").unwrap();
        for (pos, what) in [(0, "magic"), (4, "version"), (5, "algorithm")] {
            let mut bad = c.clone();
            bad[pos] = 9;
            let err = decrypt_bytes(&k, b"obj", &bad).unwrap_err();
            assert!(matches!(err, CryptoError::Format(_)), "{what}: {err}");
            assert!(err.to_string().contains(what), "{err}");
        }
    }

    #[test]
    fn every_flipped_byte_of_a_small_object_fails() {
        let k = SecretKey::generate();
        let c = encrypt_bytes(&k, b"obj", b"patient 110105194912310020").unwrap();
        for pos in 0..c.len() {
            for bit in [0x01, 0x80] {
                let mut bad = c.clone();
                bad[pos] ^= bit;
                assert!(decrypt_bytes(&k, b"obj", &bad).is_err(), "flip at {pos}");
            }
        }
    }

    #[test]
    fn flips_in_header_middle_and_last_segment_fail() {
        let k = SecretKey::generate();
        let p = data(2 * SEGMENT + 100);
        let c = encrypt_bytes(&k, b"obj", &p).unwrap();
        let seg = SEGMENT + TAG;
        for pos in [
            6,                        // nonce prefix
            12,                       // last header byte
            HEADER_LEN,               // first segment, first byte
            HEADER_LEN + seg - 1,     // first segment tag
            HEADER_LEN + seg + 7,     // middle segment
            HEADER_LEN + 2 * seg - 1, // middle segment tag
            HEADER_LEN + 2 * seg,     // last segment
            c.len() - 1,              // last tag
        ] {
            let mut bad = c.clone();
            bad[pos] ^= 0x40;
            assert!(
                is_integrity(decrypt_bytes(&k, b"obj", &bad)),
                "flip at {pos}"
            );
        }
    }

    #[test]
    fn truncation_at_every_segment_boundary_fails() {
        let k = SecretKey::generate();
        // Exactly 3 full segments: the last segment is full-size, so each cut leaves whole segments.
        let p = data(3 * SEGMENT);
        let c = encrypt_bytes(&k, b"obj", &p).unwrap();
        assert_eq!(c.len(), HEADER_LEN + 3 * (SEGMENT + TAG));
        for segments in 0..3 {
            let cut = HEADER_LEN + segments * (SEGMENT + TAG);
            assert!(
                is_integrity(decrypt_bytes(&k, b"obj", &c[..cut])),
                "cut after {segments} segments"
            );
        }
        assert!(is_integrity(decrypt_bytes(&k, b"obj", &c[..c.len() - 1])));
        assert!(is_integrity(decrypt_bytes(
            &k,
            b"obj",
            &c[..HEADER_LEN - 1]
        )));
        assert!(is_integrity(decrypt_bytes(&k, b"obj", &[])));
    }

    #[test]
    fn truncated_stream_never_yields_the_cut_segment() {
        // The reader hands out verified segments as it goes; the segment before the cut must not be
        // returned as if it were the end of the object.
        let k = SecretKey::generate();
        let p = data(2 * SEGMENT + 10);
        let c = encrypt_bytes(&k, b"obj", &p).unwrap();
        let cut = &c[..HEADER_LEN + 2 * (SEGMENT + TAG)];
        let mut r = decrypt_reader(&k, b"obj", cut).unwrap();
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(matches!(crypto_from_io(err), CryptoError::Integrity));
        assert!(
            out.len() < 2 * SEGMENT,
            "the unflagged second segment was returned"
        );
        // Errors are sticky.
        assert!(r.read(&mut [0u8; 8]).is_err());
    }

    #[test]
    fn reordered_appended_or_dropped_segments_fail() {
        let k = SecretKey::generate();
        let p = data(3 * SEGMENT + 5);
        let c = encrypt_bytes(&k, b"obj", &p).unwrap();
        let seg = SEGMENT + TAG;
        let s = |i: usize| &c[HEADER_LEN + i * seg..(HEADER_LEN + (i + 1) * seg).min(c.len())];
        let header = &c[..HEADER_LEN];
        let swapped = [header, s(1), s(0), s(2), s(3)].concat();
        let dropped_middle = [header, s(0), s(2), s(3)].concat();
        let mut appended = c.clone();
        appended.push(0);
        let duplicated_last = [&c[..], s(3)].concat();
        for (name, bad) in [
            ("swapped", swapped),
            ("dropped", dropped_middle),
            ("appended", appended),
            ("duplicated", duplicated_last),
        ] {
            assert!(is_integrity(decrypt_bytes(&k, b"obj", &bad)), "{name}");
        }
    }

    #[test]
    fn header_from_another_object_fails() {
        let k = SecretKey::generate();
        let a = encrypt_bytes(&k, b"obj", b"first object").unwrap();
        let b = encrypt_bytes(&k, b"obj", b"other object").unwrap();
        let spliced = [&b[..HEADER_LEN], &a[HEADER_LEN..]].concat();
        assert!(is_integrity(decrypt_bytes(&k, b"obj", &spliced)));
    }

    #[test]
    fn unfinished_writer_leaves_an_undecryptable_object() {
        let k = SecretKey::generate();
        let mut out = Vec::new();
        {
            let mut w = encrypt_writer(&k, b"obj", &mut out).unwrap();
            w.write_all(&data(2 * SEGMENT + 3)).unwrap();
        }
        assert_eq!(out.len(), HEADER_LEN + 2 * (SEGMENT + TAG));
        assert!(is_integrity(decrypt_bytes(&k, b"obj", &out)));
    }

    #[test]
    fn writer_streams_segments_and_keeps_one_segment_in_memory() {
        let k = SecretKey::generate();
        let mut w = encrypt_writer(&k, b"obj", Vec::new()).unwrap();
        w.write_all(&data(1 << 20)).unwrap();
        w.write_all(b"!").unwrap();
        assert!(
            w.buffer.capacity() <= SEGMENT + TAG,
            "{}",
            w.buffer.capacity()
        );
        assert_eq!(w.inner.len(), HEADER_LEN + 16 * (SEGMENT + TAG));
        let c = w.finish().unwrap();
        let mut r = decrypt_reader(&k, b"obj", &c[..]).unwrap();
        let mut one = [0u8; 1];
        r.read_exact(&mut one).unwrap();
        assert!(r.buffer.capacity() <= SEGMENT + TAG + 64);
    }

    #[test]
    fn byte_by_byte_reads_round_trip() {
        let k = SecretKey::generate();
        let p = data(SEGMENT + 3);
        let c = encrypt_bytes(&k, b"obj", &p).unwrap();
        let mut r = decrypt_reader(&k, b"obj", &c[..]).unwrap();
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while r.read(&mut b).unwrap() == 1 {
            out.push(b[0]);
        }
        assert_eq!(out, p);
        assert_eq!(r.read(&mut b).unwrap(), 0, "end of object stays at end");
    }

    #[test]
    fn plaintext_does_not_appear_in_ciphertext() {
        let k = SecretKey::generate();
        let marker = "110105194912310020,13912345678,张三".as_bytes();
        let p = marker.repeat(5000);
        let c = encrypt_bytes(&k, b"obj", &p).unwrap();
        assert!(!c.windows(marker.len()).any(|w| w == marker));
        assert!(!c.windows(8).any(|w| w == b"11010519"));
        assert_eq!(decrypt_bytes(&k, b"obj", &c).unwrap(), p);
    }

    #[test]
    fn aes_256_gcm_matches_the_gcm_spec_test_case_16() {
        // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test case 16 (AES-256,
        // 60-byte plaintext, 20-byte AAD, 96-bit IV).
        let key = hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .unwrap();
        let iv = hex::decode("cafebabefacedbaddecaf888").unwrap();
        let pt = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .unwrap();
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
        let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
        let out = cipher
            .encrypt(
                &aes_gcm::Nonce::try_from(&iv[..]).unwrap(),
                Payload {
                    msg: &pt,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(
            hex::encode(&out[..pt.len()]),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        );
        assert_eq!(
            hex::encode(&out[pt.len()..]),
            "76fc6ece0f4e1768cddf8853bb2d551b"
        );
        let back = cipher
            .decrypt(
                &aes_gcm::Nonce::try_from(&iv[..]).unwrap(),
                Payload {
                    msg: &out,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(back, pt);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn round_trips_with_arbitrary_write_splits(
            len in 0usize..300_000,
            splits in proptest::collection::vec(1usize..100_000, 1..8),
            read_size in 1usize..70_000,
        ) {
            let k = SecretKey::generate();
            let p = data(len);
            let mut w = encrypt_writer(&k, b"ctx", Vec::new()).unwrap();
            let mut rest = &p[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = splits[i % splits.len()].min(rest.len());
                w.write_all(&rest[..n]).unwrap();
                rest = &rest[n..];
                i += 1;
            }
            let c = w.finish().unwrap();
            let mut r = decrypt_reader(&k, b"ctx", &c[..]).unwrap();
            let mut out = Vec::new();
            let mut chunk = vec![0u8; read_size];
            loop {
                let n = r.read(&mut chunk).unwrap();
                if n == 0 { break; }
                out.extend_from_slice(&chunk[..n]);
            }
            prop_assert_eq!(out, p);
        }

        #[test]
        fn any_single_bit_flip_is_detected(len in 0usize..200_000, at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let k = SecretKey::generate();
            let c = encrypt_bytes(&k, b"ctx", &data(len)).unwrap();
            let mut bad = c.clone();
            let pos = at.index(bad.len());
            bad[pos] ^= 1 << bit;
            prop_assert!(decrypt_bytes(&k, b"ctx", &bad).is_err());
        }

        #[test]
        fn any_truncation_is_detected(len in 0usize..200_000, at in any::<prop::sample::Index>()) {
            let k = SecretKey::generate();
            let c = encrypt_bytes(&k, b"ctx", &data(len)).unwrap();
            let cut = at.index(c.len());
            prop_assert!(decrypt_bytes(&k, b"ctx", &c[..cut]).is_err());
        }
    }
}
