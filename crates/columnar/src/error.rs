//! Errors of the columnar layer. Messages name tables, columns, record numbers and lines — never a
//! stored value, and never key material (T/CI 857-2024 7.2.1: usable but not visible, error
//! messages included).

/// What went wrong converting, writing or reading dataset content.
#[derive(Debug, thiserror::Error)]
pub enum ColumnarError {
    /// The CSV text is structurally wrong (header, field count, UTF-8). The message names lines
    /// and fields only.
    #[error("table `{table}`: {message}")]
    Csv {
        /// Table (dataset) name.
        table: String,
        /// Where and what was expected.
        message: String,
    },
    /// A cell does not convert to its column's declared type. The value itself is withheld.
    #[error("table `{table}`: column `{column}`, record {record}: expected {expected}")]
    Cell {
        /// Table (dataset) name.
        table: String,
        /// Column name.
        column: String,
        /// Record number, 1 = the first record after the header.
        record: u64,
        /// The declared type, in words.
        expected: &'static str,
    },
    /// A schema or projection problem: an unknown or duplicate column, a batch whose columns do
    /// not match the declared schema.
    #[error("schema: {0}")]
    Schema(String),
    /// Decryption failed: the wrong key, an object that belongs to another dataset, or bytes that
    /// were modified or truncated. Nothing was returned.
    #[error(
        "integrity check failed: wrong key, another dataset's object, or modified or truncated data"
    )]
    Integrity,
    /// Not an encrypted medspace Parquet object (plain Parquet, another format, a truncated file).
    #[error("not an encrypted Parquet object: {0}")]
    Format(String),
    /// Parquet encoding or decoding failed on data that was authenticated (or is being written).
    #[error("Parquet: {0}")]
    Parquet(String),
    /// Writing to or reading from the underlying stream failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<medspace_crypto::CryptoError> for ColumnarError {
    fn from(e: medspace_crypto::CryptoError) -> Self {
        match e {
            medspace_crypto::CryptoError::Integrity => ColumnarError::Integrity,
            medspace_crypto::CryptoError::Io(io) => ColumnarError::Io(io),
            other => ColumnarError::Format(other.to_string()),
        }
    }
}
