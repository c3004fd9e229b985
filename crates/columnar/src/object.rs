//! Encrypted Parquet objects: how dataset content is stored at rest.
//!
//! T/CI 857-2024 6.3 and 7.2.5 c) (encrypted storage); DMS 4.3.1 / 7.2.4 (AES-256 or SM4 for
//! sensitive data at rest); GB/T 39725-2020 §10.1 g)–i); GB/T 39786-2021 (SM4 in the national
//! profile). Nothing personal is written unencrypted: the writer only ever emits ciphertext (plus
//! the non-secret framing below) to its `Write`, and the reader holds plaintext in memory only.
//!
//! **International profile — Parquet modular encryption** (Apache Parquet encryption spec,
//! `AES_GCM_V1`), readable by Spark, Arrow C++/pyarrow or parquet-rs given the key:
//!
//! * uniform encryption: the footer and every column (page headers, data and dictionary pages)
//!   are encrypted and authenticated with AES-256-GCM under one key, the dataset's 256-bit data
//!   key itself — each dataset has its own random data key, so the key also binds the file to its
//!   dataset; the footer is encrypted (file magic `PARE`), so schema, column names, statistics and
//!   row counts are not readable without the key;
//! * the footer key metadata — the only cleartext besides the framing and Parquet's random 8-byte
//!   file identifier — names the key, never holds it: a key id (`medspace:<dataset id>`) in the
//!   JSON "key material" layout of the Parquet key-management tools (`PKMT1`, internal storage,
//!   no double wrapping; `masterKeyID` and `wrappedDEK` both carry the key id), so pyarrow's
//!   `CryptoFactory` with a KMS client that maps the id to the key can read the file;
//! * Parquet leaves a few bytes unauthenticated: the file crypto metadata in front of the
//!   encrypted footer, and the 4-byte length in front of every encrypted module (parquet-rs
//!   ignores several of them). So the reader first checks that the crypto metadata is exactly what
//!   the writer produces for this key and that the footer module's length is exact (before the
//!   parquet crate parses anything: an object moved from another dataset is refused here), then
//!   decrypts the footer, then checks the length and SHA-256 of every byte before the footer,
//!   which the writer records in the authenticated footer's key-value metadata
//!   (`medspace.data_sha256`), before any page is read. No page index is written, so those bytes
//!   are the whole file but the footer: any modified byte is refused, not only those that would
//!   change decrypted data.
//!
//! **National profile — SM4-GCM envelope**: Parquet modular encryption knows only AES, so the
//! plain Parquet bytes (`PAR1`) are streamed through the medspace-crypto STREAM envelope
//! (`MSE1`, SM4-GCM with a key derived from the data key, 64 KiB segments, AAD = the dataset id).
//! Writing holds one row group and one 64 KiB segment in memory; reading must decrypt the whole
//! envelope into memory (Parquet needs random access to its footer) before decoding the granted
//! columns.
//!
//! Reading picks the layout from the object's first bytes (`PARE` or `MSE1`), so objects of both
//! profiles stay readable whatever the node's profile; plain Parquet and anything else are refused.
//! A projection decrypts and decodes only the requested columns' chunks (the international digest
//! check still hashes the whole ciphertext, which is in memory anyway). A wrong key or a modified byte is [`ColumnarError::Integrity`] (or
//! [`ColumnarError::Format`] when the framing itself is broken); a reader never yields data that
//! did not authenticate.
//!
//! Key bytes handed to the parquet crate are plain `Vec<u8>`s that parquet does not zeroize; they
//! live only as long as the writer or reader.

use std::io::{Read, Write};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use bytes::Bytes;
use medspace_crypto::{
    decrypt_bytes, encrypt_writer_with, CryptoProfile, EncryptedWriter, SecretKey,
};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::encryption::decrypt::{FileDecryptionProperties, KeyRetriever};
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::ColumnarError;

/// Magic of a Parquet file with an encrypted footer (international profile).
const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";
/// Magic of a plain Parquet file (inside the national envelope only).
const PLAIN_MAGIC: &[u8; 4] = b"PAR1";
/// Magic of the medspace-crypto STREAM envelope (national profile).
const ENVELOPE_MAGIC: &[u8; 4] = b"MSE1";
/// Rows per row group: bounds the plaintext a writer buffers.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Rows per batch returned by a reader.
pub const READ_BATCH_ROWS: usize = 8192;
/// Marker of the key-retriever refusal, to tell it from other Parquet errors.
const KEY_MISMATCH: &str = "medspace: key metadata names another key";
/// Footer key-value entry: `<length>:<sha256 hex>` of the bytes before the footer.
const DATA_DIGEST_KEY: &str = "medspace.data_sha256";

/// The key of one stored object.
#[derive(Debug, Clone, Copy)]
pub struct ObjectKey<'a> {
    /// The dataset's 256-bit data key.
    pub dek: &'a SecretKey,
    /// The owning dataset's id: the key id in the Parquet key metadata (international) or the
    /// envelope's associated data (national).
    pub context: &'a str,
}

impl ObjectKey<'_> {
    /// The key id written into the key metadata: `medspace:<context>`.
    pub fn key_id(&self) -> String {
        format!("medspace:{}", self.context)
    }

    /// The footer key metadata: the key id in the Parquet key-tools `PKMT1` layout.
    fn key_metadata(&self) -> Vec<u8> {
        let id = json_string(&self.key_id());
        format!(
            "{{\"keyMaterialType\":\"PKMT1\",\"internalStorage\":true,\"isFooterKey\":true,\
             \"kmsInstanceID\":\"medspace\",\"kmsInstanceURL\":\"medspace-node\",\
             \"masterKeyID\":{id},\"wrappedDEK\":{id},\"doubleWrapping\":false}}"
        )
        .into_bytes()
    }
}

/// Lower-case hex of `bytes`.
fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The footer region of an encrypted Parquet file: `(start, end)` of the file crypto metadata
/// and encrypted footer, between the data and the trailing length and magic.
fn footer_region(object: &[u8]) -> Result<(usize, usize), ColumnarError> {
    let end = object
        .len()
        .checked_sub(8)
        .ok_or(ColumnarError::Integrity)?;
    let len = object
        .get(end..end + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(|b| u32::from_le_bytes(b) as usize)
        .ok_or(ColumnarError::Integrity)?;
    let start = end.checked_sub(len).ok_or(ColumnarError::Integrity)?;
    Ok((start, end))
}

/// Before anything is parsed: the file crypto metadata — the one part of the footer that is
/// neither encrypted nor authenticated — must be exactly what the writer produces for this key
/// (thrift compact: algorithm AES_GCM_V1 with an 8-byte `aad_file_unique` and nothing else, then
/// the key metadata); its only variable part, the random file identifier, is bound into every
/// GCM tag. The encrypted footer module's length prefix must cover exactly the rest.
fn check_crypto_metadata(object: &[u8], key_metadata: &[u8]) -> Result<(), ColumnarError> {
    let (start, end) = footer_region(object)?;
    let footer = object.get(start..end).ok_or(ColumnarError::Integrity)?;
    let mut expected = vec![0x1c, 0x1c, 0x28, 0x08];
    expected.extend_from_slice(footer.get(4..12).ok_or(ColumnarError::Integrity)?);
    expected.extend_from_slice(&[0x00, 0x00, 0x18]);
    let mut n = key_metadata.len();
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            expected.push(low);
            break;
        }
        expected.push(low | 0x80);
    }
    expected.extend_from_slice(key_metadata);
    expected.push(0x00);
    if footer.get(..expected.len()) != Some(expected.as_slice()) {
        return Err(ColumnarError::Integrity);
    }
    let module = footer.get(expected.len()..).unwrap_or_default();
    let module_len = module
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(|b| u32::from_le_bytes(b) as usize)
        .ok_or(ColumnarError::Integrity)?;
    if Some(module_len) != module.len().checked_sub(4) {
        return Err(ColumnarError::Integrity);
    }
    Ok(())
}

/// After the footer decrypted (and so authenticated), before any page is read: the length and
/// SHA-256 of every byte before the footer, as the footer records them.
fn check_data_digest(
    object: &[u8],
    metadata: &parquet::file::metadata::ParquetMetaData,
) -> Result<(), ColumnarError> {
    let entry = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == DATA_DIGEST_KEY))
        .and_then(|e| e.value.as_deref())
        .ok_or_else(|| ColumnarError::Format("the footer lacks the medspace data digest".into()))?;
    let (len, digest) = entry.split_once(':').ok_or(ColumnarError::Integrity)?;
    let len: usize = len.parse().map_err(|_| ColumnarError::Integrity)?;
    let (footer_start, _) = footer_region(object)?;
    let data = object.get(..len).ok_or(ColumnarError::Integrity)?;
    if len != footer_start || hex_lower(&Sha256::digest(data)) != digest {
        return Err(ColumnarError::Integrity);
    }
    Ok(())
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn parquet_err(e: ParquetError) -> ColumnarError {
    ColumnarError::Parquet(e.to_string())
}

fn writer_properties(encryption: Option<Arc<FileEncryptionProperties>>) -> WriterProperties {
    // Chunk statistics only and no offset index: no page index follows the column data.
    let builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true);
    match encryption {
        Some(e) => builder.with_file_encryption_properties(e),
        None => builder,
    }
    .build()
}

/// Passes bytes through, counting and hashing them.
struct HashingWrite<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWrite<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.hasher.update(written);
        self.len += written.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

enum Inner<W: Write + Send> {
    Modular(ArrowWriter<HashingWrite<W>>),
    Envelope(ArrowWriter<EncryptedWriter<W>>),
}

/// Writes record batches as one encrypted Parquet object (see the module documentation).
///
/// Call [`ParquetObjectWriter::finish`]: a writer dropped without it leaves an incomplete object
/// that never reads back.
pub struct ParquetObjectWriter<W: Write + Send> {
    inner: Inner<W>,
    rows: u64,
}

impl<W: Write + Send> std::fmt::Debug for ParquetObjectWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layout = match self.inner {
            Inner::Modular(_) => "parquet-modular-encryption",
            Inner::Envelope(_) => "sm4-gcm-envelope",
        };
        f.debug_struct("ParquetObjectWriter")
            .field("layout", &layout)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send> ParquetObjectWriter<W> {
    /// Starts an object of `schema` on `out`, encrypted as `profile` prescribes.
    pub fn new(
        out: W,
        schema: SchemaRef,
        profile: CryptoProfile,
        key: ObjectKey<'_>,
    ) -> Result<Self, ColumnarError> {
        let inner = match profile {
            CryptoProfile::International => {
                let encryption = FileEncryptionProperties::builder(key.dek.expose().to_vec())
                    .with_footer_key_metadata(key.key_metadata())
                    .build()
                    .map_err(parquet_err)?;
                let out = HashingWrite {
                    inner: out,
                    hasher: Sha256::new(),
                    len: 0,
                };
                Inner::Modular(
                    ArrowWriter::try_new(out, schema, Some(writer_properties(Some(encryption))))
                        .map_err(parquet_err)?,
                )
            }
            CryptoProfile::National => {
                let sealed = encrypt_writer_with(profile, key.dek, key.context.as_bytes(), out)?;
                Inner::Envelope(
                    ArrowWriter::try_new(sealed, schema, Some(writer_properties(None)))
                        .map_err(parquet_err)?,
                )
            }
        };
        Ok(ParquetObjectWriter { inner, rows: 0 })
    }

    /// Appends one batch (its schema must be the writer's).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ColumnarError> {
        match &mut self.inner {
            Inner::Modular(w) => w.write(batch),
            Inner::Envelope(w) => w.write(batch),
        }
        .map_err(parquet_err)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer (and seals the envelope) and returns the output.
    pub fn finish(self) -> Result<W, ColumnarError> {
        match self.inner {
            Inner::Modular(mut w) => {
                // Everything before the footer is out; record its length and digest in the footer.
                w.flush().map_err(parquet_err)?;
                w.sync()?;
                let data = w.inner();
                let entry = format!(
                    "{}:{}",
                    data.len,
                    hex_lower(&data.hasher.clone().finalize())
                );
                w.append_key_value_metadata(KeyValue::new(DATA_DIGEST_KEY.to_string(), entry));
                Ok(w.into_inner().map_err(parquet_err)?.inner)
            }
            Inner::Envelope(w) => Ok(w.into_inner().map_err(parquet_err)?.finish()?),
        }
    }
}

/// Writes `batches` (each of `schema`) as one encrypted Parquet object to `out`; returns `out`
/// and the number of rows. Stops at the first failing batch.
pub fn write<W, I>(
    out: W,
    schema: SchemaRef,
    batches: I,
    profile: CryptoProfile,
    key: ObjectKey<'_>,
) -> Result<(W, u64), ColumnarError>
where
    W: Write + Send,
    I: IntoIterator<Item = Result<RecordBatch, ColumnarError>>,
{
    let mut writer = ParquetObjectWriter::new(out, schema, profile, key)?;
    for batch in batches {
        writer.write(&batch?)?;
    }
    let rows = writer.rows();
    Ok((writer.finish()?, rows))
}

/// Hands the data key to the parquet reader only for the expected key metadata.
struct ExpectedKey {
    metadata: Vec<u8>,
    key: Zeroizing<[u8; 32]>,
}

impl KeyRetriever for ExpectedKey {
    fn retrieve_key(&self, key_metadata: &[u8]) -> parquet::errors::Result<Vec<u8>> {
        if key_metadata == self.metadata.as_slice() {
            Ok(self.key.to_vec())
        } else {
            Err(ParquetError::General(KEY_MISMATCH.into()))
        }
    }
}

/// Classifies a Parquet failure on an encrypted file: failed decryption (GCM tag, footer key,
/// key metadata) is [`ColumnarError::Integrity`]; anything else a [`ColumnarError::Format`].
fn read_err(message: &str) -> ColumnarError {
    let m = message.to_ascii_lowercase();
    let crypto = [
        "decrypt",
        "unspecified",
        "aad",
        "key metadata",
        "footer key",
        "encrypt",
    ];
    if crypto.iter().any(|c| m.contains(c)) {
        ColumnarError::Integrity
    } else {
        ColumnarError::Format(message.to_string())
    }
}

/// Record batches read from an encrypted Parquet object, only the projected columns, in the
/// requested order: an iterator of `Result<RecordBatch, ColumnarError>`. See [`read`].
pub struct ParquetObjectReader {
    reader: ParquetRecordBatchReader,
    /// For each requested column, its position in the reader's (file-ordered) output.
    order: Vec<usize>,
    schema: SchemaRef,
    rows: u64,
    failed: bool,
}

impl std::fmt::Debug for ParquetObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetObjectReader")
            .field("schema", &self.schema)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl ParquetObjectReader {
    /// Schema of the returned batches: the projected columns, in the requested order.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Rows in the object.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Every remaining batch.
    pub fn collect_batches(self) -> Result<Vec<RecordBatch>, ColumnarError> {
        self.collect()
    }
}

impl Iterator for ParquetObjectReader {
    type Item = Result<RecordBatch, ColumnarError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.reader.next()?.map_err(|e| read_err(&e.to_string()));
        let item = item.and_then(|b| {
            let columns = self
                .order
                .iter()
                .map(|&i| b.columns().get(i).cloned())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ColumnarError::Schema("projection out of range".into()))?;
            RecordBatch::try_new(Arc::clone(&self.schema), columns)
                .map_err(|e| ColumnarError::Schema(e.to_string()))
        });
        if item.is_err() {
            self.failed = true;
        }
        Some(item)
    }
}

/// Opens an encrypted Parquet object held in memory under `key`, for the columns named in
/// `projection` (all columns when `None`). Only the projected column chunks are decrypted and
/// decoded; an unknown column is a [`ColumnarError::Schema`].
pub fn read(
    object: Bytes,
    key: ObjectKey<'_>,
    projection: Option<&[String]>,
) -> Result<ParquetObjectReader, ColumnarError> {
    let head = object.get(..4).unwrap_or_default();
    let tail = object
        .len()
        .checked_sub(4)
        .and_then(|s| object.get(s..))
        .unwrap_or_default();
    if head == ENCRYPTED_MAGIC.as_slice() {
        if tail != ENCRYPTED_MAGIC.as_slice() {
            return Err(ColumnarError::Format(
                "the file does not end with the encrypted-footer magic `PARE` (truncated?)".into(),
            ));
        }
        let key_metadata = key.key_metadata();
        check_crypto_metadata(&object, &key_metadata)?;
        let retriever = ExpectedKey {
            metadata: key_metadata.clone(),
            key: Zeroizing::new(*key.dek.expose()),
        };
        let decryption = FileDecryptionProperties::with_key_retriever(Arc::new(retriever))
            .build()
            .map_err(parquet_err)?;
        let options = ArrowReaderOptions::new().with_file_decryption_properties(decryption);
        let builder =
            ParquetRecordBatchReaderBuilder::try_new_with_options(object.clone(), options)
                .map_err(|e| read_err(&e.to_string()))?;
        check_data_digest(&object, builder.metadata())?;
        drop(object);
        open(builder, projection)
    } else if head == ENVELOPE_MAGIC.as_slice() {
        let mut plain = Zeroizing::new(decrypt_bytes(
            key.dek,
            key.context.as_bytes(),
            object.as_ref(),
        )?);
        drop(object);
        let inner_tail = plain
            .len()
            .checked_sub(4)
            .and_then(|s| plain.get(s..))
            .unwrap_or_default();
        if plain.get(..4) != Some(PLAIN_MAGIC.as_slice()) || inner_tail != PLAIN_MAGIC.as_slice() {
            return Err(ColumnarError::Format(
                "the envelope does not hold a Parquet file".into(),
            ));
        }
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
            Bytes::from(std::mem::take(&mut *plain)),
            ArrowReaderOptions::new(),
        )
        .map_err(|e| ColumnarError::Format(e.to_string()))?;
        open(builder, projection)
    } else if head == PLAIN_MAGIC.as_slice() {
        Err(ColumnarError::Format(
            "plain (unencrypted) Parquet is refused: dataset objects are always encrypted".into(),
        ))
    } else {
        Err(ColumnarError::Format(
            "unknown object layout (expected `PARE` or `MSE1`)".into(),
        ))
    }
}

/// [`read`] from a stream: the whole object (ciphertext) is read into memory first.
pub fn read_from(
    mut input: impl Read,
    key: ObjectKey<'_>,
    projection: Option<&[String]>,
) -> Result<ParquetObjectReader, ColumnarError> {
    let mut object = Vec::new();
    input.read_to_end(&mut object)?;
    read(Bytes::from(object), key, projection)
}

fn open(
    builder: ParquetRecordBatchReaderBuilder<Bytes>,
    projection: Option<&[String]>,
) -> Result<ParquetObjectReader, ColumnarError> {
    let file_schema = Arc::clone(builder.schema());
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    // Requested root columns, each once, in request order.
    let mut wanted: Vec<usize> = Vec::new();
    match projection {
        None => wanted.extend(0..file_schema.fields().len()),
        Some(names) => {
            for name in names {
                let idx = file_schema.index_of(name).map_err(|_| {
                    ColumnarError::Schema(format!("column `{name}` is not in the stored object"))
                })?;
                if !wanted.contains(&idx) {
                    wanted.push(idx);
                }
            }
        }
    }
    if wanted.is_empty() {
        return Err(ColumnarError::Schema("no column to read".into()));
    }
    let mut sorted = wanted.clone();
    sorted.sort_unstable();
    let order: Vec<usize> = wanted
        .iter()
        .map(|w| sorted.iter().position(|s| s == w).unwrap_or(0))
        .collect();
    // The file's key-value metadata (the data digest) is not part of the returned schema.
    let schema = Arc::new(Schema::new(
        wanted
            .iter()
            .map(|&i| file_schema.field(i).clone())
            .collect::<Vec<_>>(),
    ));
    let mask = ProjectionMask::roots(builder.parquet_schema(), sorted);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(|e| read_err(&e.to_string()))?;
    Ok(ParquetObjectReader {
        reader,
        order,
        schema,
        rows,
        failed: false,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use super::*;

    #[test]
    fn key_metadata_is_pkmt1_json_with_the_key_id_only() {
        let dek = SecretKey::from_bytes([0x42; 32]);
        let key = ObjectKey {
            dek: &dek,
            context: "ds-\"x\\",
        };
        let text = String::from_utf8(key.key_metadata()).unwrap();
        assert!(text.starts_with("{\"keyMaterialType\":\"PKMT1\""), "{text}");
        assert!(
            text.contains("\"masterKeyID\":\"medspace:ds-\\\"x\\\\\""),
            "{text}"
        );
        assert!(!text.contains("4242"), "{text}");
        assert_eq!(json_string("a\u{1}"), "\"a\\u0001\"");
    }

    #[test]
    fn crypto_failures_are_integrity_errors() {
        assert!(matches!(
            read_err(
                "Parquet error: Provided footer key and AAD were unable to decrypt parquet footer"
            ),
            ColumnarError::Integrity
        ));
        assert!(matches!(read_err(KEY_MISMATCH), ColumnarError::Integrity));
        assert!(matches!(
            read_err("External: ring::error::Unspecified"),
            ColumnarError::Integrity
        ));
        assert!(matches!(
            read_err("EOF: file size of 3 is less than footer"),
            ColumnarError::Format(_)
        ));
    }
}
