//! PKCS#11 (HSM) master-key provider — T/CI 857-2024 6.3 and 7.1.1 (key hierarchy, custody and
//! separation: the key-encryption key is generated and kept in a cryptographic module), DMS 7.2.4
//! (key management), GB/T 39725-2020 §10.1 g)–i) (key generation, storage and use protected by a
//! cryptographic device).
//!
//! [`Pkcs11KeyProvider`] implements [`medspace_crypto::KeyProvider`] with the master key inside a
//! PKCS#11 token (a hardware security module, or SoftHSM2 for development and tests). The key is
//! generated in the token and never leaves it: every wrap, unwrap and derivation is a token
//! operation, and the provider refuses key objects that are extractable or not sensitive.
//!
//! # Key objects
//!
//! Two secret-key token objects per master key, created by [`Pkcs11KeyProvider::generate_key`]
//! (both `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE` true, `CKA_EXTRACTABLE` false, sharing one
//! random 8-byte `CKA_ID`):
//!
//! | label | type | use |
//! |---|---|---|
//! | `key_label` | `CKK_AES`, 256 bit, `CKA_ENCRYPT`/`CKA_DECRYPT` | key-encryption key, `CKM_AES_GCM` |
//! | `key_label` + `"/derive"` | `CKK_GENERIC_SECRET`, 256 bit, `CKA_SIGN` | derivation, `CKM_SHA256_HMAC` |
//!
//! Two keys rather than one, because using one key with two algorithms (GCM and CMAC, say)
//! breaks key separation (T/CI 857-2024 7.1.1); and HMAC-SHA-256 rather than AES-CMAC because its
//! 32-byte output is a whole derived key in one call, and its input is exactly the key-file
//! provider's: HMAC(k, `"medspace/v1/"` ‖ purpose ‖ 0x00 ‖ context).
//!
//! # Wrapped keys
//!
//! The same format as `medspace_crypto::FileKeyProvider` (version 1), so
//! [`medspace_crypto::wrapped_key_id`] reads HSM-wrapped keys and a node can dispatch on it:
//!
//! ```text
//! "MSWK" | version u8 = 1 | algorithm u8 = 1 (AES-256-GCM) | key id length u8 | key id (UTF-8)
//!        | IV [12] | CKM_AES_GCM(KEK, data key) [32 + 16 tag]
//! ```
//!
//! The IV comes from the token's RNG (`C_GenerateRandom`) and is passed in `CK_GCM_PARAMS`; the
//! additional authenticated data is the header followed by the caller's context (the owning
//! object's id), and the tag is 128 bits. The key id is
//! `hsm:<token label>:<key label>:v1:<CKA_ID hex>` (`v1` is this provider's scheme version; the
//! `CKA_ID` part is left out for keys created without one), so a key from another token, another
//! label, or a key regenerated under the same labels is refused as
//! [`medspace_crypto::CryptoError::UnknownKey`] before the token is asked to decrypt.
//!
//! # Sessions
//!
//! The module is loaded and `C_Initialize`d once per process ([`pkcs11_context`]) and never
//! finalized. Each provider holds one logged-in read-only session behind a mutex; PKCS#11 login
//! state is per application and token, so several providers on one token share it. The PIN is
//! read from its [`PinSource`] at login (and again only if the session is lost), in a zeroizing
//! buffer, and never stored in the provider nor written into an error. Because login state is
//! per process, a provider opened while another session of the process is logged in to the same
//! token is accepted without its PIN being checked again (`CKR_USER_ALREADY_LOGGED_IN`).
//! After a lost session or login (`CKR_SESSION_HANDLE_INVALID`, `CKR_USER_NOT_LOGGED_IN`, object
//! handles gone, token removed) a call logs in again once and retries, and fails with
//! [`HsmError::KeyChanged`] if the key found then has another id.
//!
//! # Errors
//!
//! [`HsmError`] is typed; as [`medspace_crypto::CryptoError`] (the trait's error) a ciphertext the
//! token rejects is `Integrity` and everything else `Io` wrapping the [`HsmError`]. SoftHSM2 2.6
//! reports a failed GCM tag check as `CKR_GENERAL_ERROR`; the provider then checks the token with a
//! random encrypt/decrypt probe and reports `Integrity` only if the token works.
//!
//! # Not covered
//!
//! The national profile (SM4 wrapping, HMAC-SM3 derivation) needs a token with the vendor SM
//! mechanisms and is not implemented here; tokens that insist on generating GCM IVs themselves
//! (some FIPS-mode HSMs refuse caller IVs in `C_Encrypt`) would need the PKCS#11 3.0 message API.

mod config;
mod error;
mod provider;

pub use config::{PinSource, Pkcs11Config, DERIVE_LABEL_SUFFIX, SOFTHSM2_MODULE};
pub use error::HsmError;
pub use provider::{find_token_slot, pkcs11_context, Pkcs11KeyProvider};

/// The `cryptoki` crate this provider is built on, for callers that need the token directly
/// (for example to inspect key attributes).
pub use cryptoki;
