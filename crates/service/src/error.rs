//! Service errors. Messages name files, lines, columns, ids and fields — never personal data values.

use medspace_store::StoreError;

/// What went wrong in a service call. The server maps each kind to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No valid session.
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    /// The caller's role or grants do not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Unknown id or name.
    #[error("{0} not found")]
    NotFound(String),
    /// The request itself is wrong.
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// An input file is malformed; nothing was stored.
    #[error("{file}:{line}:{column}: {message}")]
    InvalidInput {
        /// File (or upload) name.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column (field number).
        column: u64,
        /// What was expected.
        message: String,
    },
    /// The request conflicts with current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The sandbox refused or failed a query.
    #[error("query refused: {0}")]
    Query(#[from] medspace_sandbox::SandboxError),
    /// Metadata store failure (includes failed audit appends: the operation did not happen).
    #[error(transparent)]
    Store(StoreError),
    /// Encryption or key failure.
    #[error("cryptography error: {0}")]
    Crypto(String),
    /// Configuration problem.
    #[error("configuration error: {0}")]
    Config(String),
    /// I/O failure.
    #[error("I/O error: {0}")]
    Io(String),
    /// Broken invariant; a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists { what } => {
                ServiceError::Conflict(format!("{what} already exists"))
            }
            StoreError::NotFound { what } => ServiceError::NotFound(what),
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            other => ServiceError::Store(other),
        }
    }
}

impl From<medspace_crypto::CryptoError> for ServiceError {
    fn from(e: medspace_crypto::CryptoError) -> Self {
        ServiceError::Crypto(e.to_string())
    }
}

impl From<medspace_objects::ObjectError> for ServiceError {
    fn from(e: medspace_objects::ObjectError) -> Self {
        ServiceError::Io(e.to_string())
    }
}

impl From<std::io::Error> for ServiceError {
    fn from(e: std::io::Error) -> Self {
        ServiceError::Io(e.to_string())
    }
}

impl From<tokio::task::JoinError> for ServiceError {
    fn from(e: tokio::task::JoinError) -> Self {
        ServiceError::Internal(format!("background task failed: {e}"))
    }
}

/// Result alias.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
