//! Dataset content as typed Arrow batches and encrypted Parquet objects.
//!
//! T/CI 857-2024 6.3 and 7.2.5 c) (encrypted storage of data in circulation); DMS 4.3.1 / 7.2.4
//! (AES-256 or SM4 at rest); GB/T 39725-2020 §10.1 g)–i); GB/T 39786-2021 (SM4, national profile).
//! Nothing personal is ever written unencrypted: this crate writes no file of its own, its writer
//! emits only ciphertext, and plaintext (CSV text, Arrow batches, decrypted Parquet) exists only
//! in memory.
//!
//! * [`csv_batches`] — CSV text with a declared schema ([`medspace_core::ColumnSchema`]) → typed
//!   batches (`Integer` → Int64, `Float` → Float64, `Text` → Utf8, empty → NULL), with errors
//!   that name table, column and record but never the value (module `convert`).
//! * [`ParquetObjectWriter`] / [`write`] — batches → one Parquet object, encrypted per
//!   [`medspace_crypto::CryptoProfile`]: Parquet modular encryption (AES-256-GCM, encrypted
//!   footer) in the international profile, plain Parquet inside the SM4-GCM envelope in the
//!   national one (module `object`).
//! * [`read`] / [`read_from`] — an object → batches of the requested columns only, decrypted and
//!   authenticated; a wrong key or a modified byte is an error, never data.
//! * [`CsvText`] — batches → CSV text as a [`std::io::Read`], in memory, for stream consumers
//!   such as de-identification (module `csv_out`).
//! * [`plain_parquet_as_csv`] / [`plain_parquet_batches`] — a plain Parquet file given to the
//!   command line → CSV text or typed batches, other column types cast to text (module `plain`).
//! * [`TextBatchIter`] — typed batches → batches of text columns rendered as [`CsvText`] renders
//!   them, for the columnar de-identification engine (module `text`).
#![deny(missing_docs)]

mod convert;
mod csv_out;
mod error;
mod object;
mod plain;
mod text;

pub use convert::{arrow_schema, arrow_type, csv_batches, expected, CsvBatches, BATCH_ROWS};
pub use csv_out::CsvText;
pub use error::ColumnarError;
pub use object::{
    read, read_from, write, ObjectKey, ParquetObjectReader, ParquetObjectWriter, READ_BATCH_ROWS,
    ROW_GROUP_ROWS,
};
pub use plain::{
    is_parquet_file, plain_parquet_as_csv, plain_parquet_batches, PlainParquetBatches,
    PARQUET_MAGIC,
};
pub use text::{text_batch, text_schema, TextBatchIter};

/// Re-exported so callers use the same Arrow and Parquet as this crate.
pub use arrow;
pub use bytes::Bytes;
pub use parquet;
