//! Typed errors of the PKCS#11 provider. No message carries a PIN, key bytes or derived keys: PINs
//! are named by their source (environment variable name or file path), keys by their labels.

use cryptoki::error::{Error as Pkcs11Error, RvError};
use medspace_crypto::CryptoError;

/// Failures of the PKCS#11 (HSM) master-key provider.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The configuration is unusable (empty or over-long labels, ids that do not fit a header).
    #[error("HSM configuration: {0}")]
    Config(String),
    /// The PKCS#11 module could not be loaded or initialised (`C_Initialize`).
    #[error("PKCS#11 module {path}: {source}")]
    Module {
        /// The module (shared library) path.
        path: String,
        /// The loader's or the module's error.
        #[source]
        source: Pkcs11Error,
    },
    /// No initialised token carries the configured label.
    #[error("no PKCS#11 token labelled `{label}` (tokens present: {available})")]
    TokenNotFound {
        /// The configured token label.
        label: String,
        /// The labels of the tokens present, comma-separated (or `none`).
        available: String,
    },
    /// More than one token carries the configured label.
    #[error("{count} PKCS#11 tokens are labelled `{label}`; token labels must be unique")]
    TokenAmbiguous {
        /// The configured token label.
        label: String,
        /// How many tokens carry it.
        count: usize,
    },
    /// The user PIN could not be read from its source (never echoes the PIN).
    #[error("HSM user PIN from {source_name}: {problem}")]
    Pin {
        /// `environment variable NAME` or `file PATH`.
        source_name: String,
        /// What is wrong.
        problem: String,
    },
    /// `C_Login` failed (wrong PIN, locked PIN, ...).
    #[error("login to PKCS#11 token `{token}` failed: {source}")]
    Login {
        /// The token label.
        token: String,
        /// The module's error (a return code, never the PIN).
        #[source]
        source: Pkcs11Error,
    },
    /// The token does not offer a mechanism the provider needs.
    #[error("PKCS#11 token `{token}` does not support {mechanism}")]
    MechanismUnsupported {
        /// The token label.
        token: String,
        /// The missing mechanism (`CKM_AES_GCM`, ...).
        mechanism: &'static str,
    },
    /// The key object is not in the token.
    #[error(
        "no secret key labelled `{label}` in PKCS#11 token `{token}` \
         (create it with `Pkcs11KeyProvider::generate_key`, e.g. `medspace init --hsm`)"
    )]
    KeyNotFound {
        /// The token label.
        token: String,
        /// The missing object's label.
        label: String,
    },
    /// More than one secret key object carries the label.
    #[error("{count} secret keys are labelled `{label}` in PKCS#11 token `{token}`; labels must be unique")]
    KeyAmbiguous {
        /// The token label.
        token: String,
        /// The object label.
        label: String,
        /// How many objects carry it.
        count: usize,
    },
    /// The key object exists but does not meet the custody requirements (extractable, not
    /// sensitive, wrong type or length, missing usage flags). The provider refuses to use it.
    #[error("secret key `{label}` in PKCS#11 token `{token}` is refused: {problem}")]
    KeyPolicy {
        /// The token label.
        token: String,
        /// The object label.
        label: String,
        /// Which requirement fails.
        problem: String,
    },
    /// After reconnecting, the token's key no longer has the id this provider was opened with
    /// (the key was replaced underneath a running node).
    #[error("master key in the HSM changed from `{expected}` to `{found}` while in use")]
    KeyChanged {
        /// The key id at open.
        expected: String,
        /// The key id found after reconnecting.
        found: String,
    },
    /// Any other PKCS#11 call failed.
    #[error("PKCS#11 {operation} failed: {source}")]
    Pkcs11 {
        /// The operation (`C_Encrypt`, `C_FindObjects`, ...).
        operation: &'static str,
        /// The module's error.
        #[source]
        source: Pkcs11Error,
    },
}

impl HsmError {
    pub(crate) fn pkcs11(operation: &'static str) -> impl FnOnce(Pkcs11Error) -> HsmError {
        move |source| HsmError::Pkcs11 { operation, source }
    }

    /// The PKCS#11 return code, when the failure came from a module call.
    pub fn return_code(&self) -> Option<RvError> {
        match self {
            HsmError::Module { source, .. }
            | HsmError::Login { source, .. }
            | HsmError::Pkcs11 { source, .. } => match source {
                Pkcs11Error::Pkcs11(rv, _) => Some(*rv),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Maps a provider failure to the [`CryptoError`] the [`medspace_crypto::KeyProvider`] trait
/// returns. A ciphertext the token rejects is [`CryptoError::Integrity`]; device, session and
/// configuration failures travel as [`CryptoError::Io`] wrapping the [`HsmError`] (recoverable
/// with `io::Error::get_ref` and `downcast_ref::<HsmError>()`).
impl From<HsmError> for CryptoError {
    fn from(e: HsmError) -> Self {
        match e.return_code() {
            Some(RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange) => {
                CryptoError::Integrity
            }
            _ => CryptoError::Io(std::io::Error::other(e)),
        }
    }
}
