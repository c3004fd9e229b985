//! [`Pkcs11KeyProvider`]: the process-wide PKCS#11 context, the token session and the
//! [`KeyProvider`] implementation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use medspace_crypto::{
    parse_wrapped, wrapped_key_aad, wrapped_key_header, AeadAlgorithm, CryptoError, KeyProvider,
    SecretKey,
};
use zeroize::{Zeroize, Zeroizing};

use crate::{HsmError, Pkcs11Config};

/// The token wraps with AES-256-GCM, in `medspace_crypto`'s wrapped-key format.
const WRAP_ALGORITHM: AeadAlgorithm = AeadAlgorithm::Aes256Gcm;
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;
const TAG_LEN: usize = 16;
const DEK_LEN: usize = 32;
/// Length of the random `CKA_ID` given to a new key pair; its hex form ends the key id.
const KEY_ID_BYTES: usize = 8;
/// Domain-separation prefix of [`KeyProvider::derive`] (same input as the key-file provider).
const DERIVE_PREFIX: &[u8] = b"medspace/v1/";

/// Process-wide PKCS#11 contexts, one per module path. `C_Initialize` runs once per module and
/// process; the context is never finalized (the module is unloaded at process exit), so providers
/// opened and dropped at any time share it.
static CONTEXTS: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

/// The process-wide PKCS#11 context of `module`: loaded and `C_Initialize`d (with OS locking) on
/// first use, shared afterwards. A module already initialised by other code in the process
/// (`CKR_CRYPTOKI_ALREADY_INITIALIZED`) is used as it is.
pub fn pkcs11_context(module: &Path) -> Result<Pkcs11, HsmError> {
    let mut contexts = CONTEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, ctx)) = contexts.iter().find(|(p, _)| p == module) {
        return Ok(ctx.clone());
    }
    let module_error = |source| HsmError::Module {
        path: module.display().to_string(),
        source,
    };
    let ctx = Pkcs11::new(module).map_err(module_error)?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(module_error(e)),
    }
    contexts.push((module.to_path_buf(), ctx.clone()));
    Ok(ctx)
}

/// The slot of the single initialised token labelled `label`.
pub fn find_token_slot(ctx: &Pkcs11, label: &str) -> Result<Slot, HsmError> {
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(HsmError::pkcs11("C_GetSlotList"))?;
    let mut found = Vec::new();
    let mut labels = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(HsmError::pkcs11("C_GetTokenInfo"))?;
        if info.label() == label {
            found.push(slot);
        }
        labels.push(format!("`{}`", info.label()));
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(HsmError::TokenNotFound {
            label: label.to_string(),
            available: if labels.is_empty() {
                "none".into()
            } else {
                labels.join(", ")
            },
        }),
        many => Err(HsmError::TokenAmbiguous {
            label: label.to_string(),
            count: many.len(),
        }),
    }
}

/// Which of the two key objects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// AES-256 key-encryption key (`CKM_AES_GCM` encrypt/decrypt).
    Kek,
    /// HMAC-SHA-256 derivation key (`CKM_SHA256_HMAC` sign).
    Derive,
}

/// A logged-in session with the two key objects located and checked.
struct Connection {
    session: Session,
    kek: ObjectHandle,
    mac: ObjectHandle,
    key_id: String,
}

/// Opens a session on the configured token and logs the user in (re-reading the PIN).
fn login(ctx: &Pkcs11, config: &Pkcs11Config, rw: bool) -> Result<(Slot, Session), HsmError> {
    let slot = find_token_slot(ctx, &config.token_label)?;
    let mechanisms = ctx
        .get_mechanism_list(slot)
        .map_err(HsmError::pkcs11("C_GetMechanismList"))?;
    for (mechanism, name) in [
        (MechanismType::AES_GCM, "CKM_AES_GCM"),
        (MechanismType::SHA256_HMAC, "CKM_SHA256_HMAC"),
    ] {
        if !mechanisms.contains(&mechanism) {
            return Err(HsmError::MechanismUnsupported {
                token: config.token_label.clone(),
                mechanism: name,
            });
        }
    }
    let session = if rw {
        ctx.open_rw_session(slot)
    } else {
        ctx.open_ro_session(slot)
    }
    .map_err(HsmError::pkcs11("C_OpenSession"))?;
    let pin = config.pin.read()?;
    let auth = AuthPin::from(pin.as_str());
    drop(pin);
    match session.login(UserType::User, Some(&auth)) {
        // Login state is shared by all sessions of the application on a token.
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok((slot, session)),
        Err(source) => Err(HsmError::Login {
            token: config.token_label.clone(),
            source,
        }),
    }
}

/// The single secret key object labelled `label`, if any.
fn find_key(
    session: &Session,
    config: &Pkcs11Config,
    label: &str,
) -> Result<Option<ObjectHandle>, HsmError> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(HsmError::pkcs11("C_FindObjects"))?;
    match found.as_slice() {
        [] => Ok(None),
        [handle] => Ok(Some(*handle)),
        many => Err(HsmError::KeyAmbiguous {
            token: config.token_label.clone(),
            label: label.to_string(),
            count: many.len(),
        }),
    }
}

/// Checks the custody attributes of a key object and returns its `CKA_ID`.
fn check_key(
    session: &Session,
    config: &Pkcs11Config,
    label: &str,
    handle: ObjectHandle,
    role: Role,
) -> Result<Vec<u8>, HsmError> {
    let refuse = |problem: &str| HsmError::KeyPolicy {
        token: config.token_label.clone(),
        label: label.to_string(),
        problem: problem.to_string(),
    };
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Encrypt,
                AttributeType::Decrypt,
                AttributeType::Sign,
                AttributeType::Id,
            ],
        )
        .map_err(HsmError::pkcs11("C_GetAttributeValue"))?;
    let (mut key_type, mut len, mut id) = (None, None, Vec::new());
    let (mut sensitive, mut extractable) = (false, true);
    let (mut encrypt, mut decrypt, mut sign) = (false, false, false);
    for attr in attrs {
        match attr {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::ValueLen(l) => len = Some(u64::from(l)),
            Attribute::Sensitive(b) => sensitive = b,
            Attribute::Extractable(b) => extractable = b,
            Attribute::Encrypt(b) => encrypt = b,
            Attribute::Decrypt(b) => decrypt = b,
            Attribute::Sign(b) => sign = b,
            Attribute::Id(v) => id = v,
            _ => {}
        }
    }
    if !sensitive {
        return Err(refuse(
            "CKA_SENSITIVE is false (the key value could be read)",
        ));
    }
    if extractable {
        return Err(refuse(
            "CKA_EXTRACTABLE is true (the key could be exported); use a non-extractable key",
        ));
    }
    match role {
        Role::Kek => {
            if key_type != Some(KeyType::AES) {
                return Err(refuse("not an AES key (CKK_AES)"));
            }
            if len != Some(32) {
                return Err(refuse("not a 256-bit AES key (CKA_VALUE_LEN must be 32)"));
            }
            if !(encrypt && decrypt) {
                return Err(refuse("CKA_ENCRYPT and CKA_DECRYPT must both be true"));
            }
        }
        Role::Derive => {
            if key_type != Some(KeyType::GENERIC_SECRET) && key_type != Some(KeyType::SHA256_HMAC) {
                return Err(refuse(
                    "not an HMAC key (CKK_GENERIC_SECRET or CKK_SHA256_HMAC)",
                ));
            }
            if len.is_none_or(|l| l < 32) {
                return Err(refuse("HMAC key shorter than 256 bits"));
            }
            if !sign {
                return Err(refuse("CKA_SIGN must be true"));
            }
        }
    }
    Ok(id)
}

/// `hsm:<token label>:<key label>:v1[:<CKA_ID hex>]`.
fn make_key_id(config: &Pkcs11Config, id: &[u8]) -> Result<String, HsmError> {
    let mut key_id = format!("hsm:{}:{}:v1", config.token_label, config.key_label);
    if !id.is_empty() {
        key_id.push(':');
        for b in id {
            key_id.push_str(&format!("{b:02x}"));
        }
    }
    if key_id.len() > 255 {
        return Err(HsmError::Config(format!(
            "key id `{key_id}` is {} bytes long; wrapped key headers hold at most 255",
            key_id.len()
        )));
    }
    Ok(key_id)
}

impl Connection {
    fn open(ctx: &Pkcs11, config: &Pkcs11Config) -> Result<Self, HsmError> {
        let (_, session) = login(ctx, config, false)?;
        Self::locate(session, config)
    }

    fn locate(session: Session, config: &Pkcs11Config) -> Result<Self, HsmError> {
        let derive_label = config.derive_key_label();
        let not_found = |label: &str| HsmError::KeyNotFound {
            token: config.token_label.clone(),
            label: label.to_string(),
        };
        let kek = find_key(&session, config, &config.key_label)?
            .ok_or_else(|| not_found(&config.key_label))?;
        let mac =
            find_key(&session, config, &derive_label)?.ok_or_else(|| not_found(&derive_label))?;
        let kek_id = check_key(&session, config, &config.key_label, kek, Role::Kek)?;
        let mac_id = check_key(&session, config, &derive_label, mac, Role::Derive)?;
        if kek_id != mac_id {
            return Err(HsmError::KeyPolicy {
                token: config.token_label.clone(),
                label: derive_label,
                problem: format!(
                    "its CKA_ID differs from that of `{}`: the two keys are not a pair",
                    config.key_label
                ),
            });
        }
        let key_id = make_key_id(config, &kek_id)?;
        Ok(Connection {
            session,
            kek,
            mac,
            key_id,
        })
    }
}

/// Session failures after which the provider logs in again once and retries.
fn session_lost(e: &HsmError) -> bool {
    matches!(
        e.return_code(),
        Some(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid
        )
    )
}

/// Master key (key-encryption key) held in a PKCS#11 token and never extracted.
///
/// Wrapping runs `CKM_AES_GCM` `C_Encrypt`/`C_Decrypt` with the token's AES-256 key; derivation
/// runs `CKM_SHA256_HMAC` `C_Sign` with the token's HMAC key (see the crate documentation). One
/// logged-in read-only session per provider serves all calls, serialised by a mutex; after a lost
/// session (token removed and reinserted, module restarted) the provider logs in again once,
/// re-reading the PIN from its source, and refuses to continue if the key it finds has another id.
pub struct Pkcs11KeyProvider {
    config: Pkcs11Config,
    ctx: Pkcs11,
    key_id: String,
    conn: Mutex<Connection>,
}

impl fmt::Debug for Pkcs11KeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11KeyProvider")
            .field("key_id", &self.key_id)
            .field("module", &self.config.module)
            .field("token_label", &self.config.token_label)
            .field("key_label", &self.config.key_label)
            .finish_non_exhaustive()
    }
}

impl Pkcs11KeyProvider {
    /// Opens the provider over existing key objects: loads and initialises the module (once per
    /// process), finds the token by label, logs in with the PIN from its source, finds the AES-256
    /// key-encryption key and the HMAC derivation key by label and checks them (secret, sensitive,
    /// not extractable, right type, length and usage). Fails with [`HsmError::KeyNotFound`] when
    /// the keys do not exist yet.
    pub fn open(config: &Pkcs11Config) -> Result<Self, HsmError> {
        config.validate()?;
        let ctx = pkcs11_context(&config.module)?;
        let conn = Connection::open(&ctx, config)?;
        Ok(Pkcs11KeyProvider {
            config: config.clone(),
            ctx,
            key_id: conn.key_id.clone(),
            conn: Mutex::new(conn),
        })
    }

    /// Creates the key objects in the token if they are missing, then opens the provider
    /// (idempotent: existing keys are kept and checked, never replaced).
    ///
    /// Generated inside the token (`C_GenerateKey`), as token objects with `CKA_PRIVATE`,
    /// `CKA_SENSITIVE` true, `CKA_EXTRACTABLE` false and `CKA_MODIFIABLE` false:
    /// - `key_label`: `CKK_AES`, 32 bytes, `CKA_ENCRYPT`/`CKA_DECRYPT` only (`CKM_AES_KEY_GEN`);
    /// - [`Pkcs11Config::derive_key_label`]: `CKK_GENERIC_SECRET`, 32 bytes, `CKA_SIGN` only
    ///   (`CKM_GENERIC_SECRET_KEY_GEN`).
    ///
    /// Both share a random 8-byte `CKA_ID` (from the token's RNG) that ends the key id, so a key
    /// regenerated under the same labels is told apart from the one it replaced.
    pub fn generate_key(config: &Pkcs11Config) -> Result<Self, HsmError> {
        config.validate()?;
        let ctx = pkcs11_context(&config.module)?;
        let (_, session) = login(&ctx, config, true)?;
        let derive_label = config.derive_key_label();
        let kek = find_key(&session, config, &config.key_label)?;
        let mac = find_key(&session, config, &derive_label)?;
        let id = match (kek, mac) {
            (Some(h), _) => check_key(&session, config, &config.key_label, h, Role::Kek)?,
            (None, Some(h)) => check_key(&session, config, &derive_label, h, Role::Derive)?,
            (None, None) => session
                .generate_random_vec(KEY_ID_BYTES as u32)
                .map_err(HsmError::pkcs11("C_GenerateRandom"))?,
        };
        let common = |label: &str| {
            vec![
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Modifiable(false),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.clone()),
                Attribute::ValueLen(32.into()),
            ]
        };
        if kek.is_none() {
            let mut template = common(&config.key_label);
            template.extend([
                Attribute::KeyType(KeyType::AES),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Wrap(false),
                Attribute::Unwrap(false),
                Attribute::Sign(false),
                Attribute::Verify(false),
                Attribute::Derive(false),
            ]);
            session
                .generate_key(&Mechanism::AesKeyGen, &template)
                .map_err(HsmError::pkcs11("C_GenerateKey (AES-256)"))?;
        }
        if mac.is_none() {
            let mut template = common(&derive_label);
            template.extend([
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Sign(true),
                Attribute::Verify(false),
                Attribute::Encrypt(false),
                Attribute::Decrypt(false),
                Attribute::Wrap(false),
                Attribute::Unwrap(false),
                Attribute::Derive(false),
            ]);
            session
                .generate_key(&Mechanism::GenericSecretKeyGen, &template)
                .map_err(HsmError::pkcs11("C_GenerateKey (HMAC)"))?;
        }
        // Keep this session (and so the login) until the provider's own session is open.
        let provider = Self::open(config);
        drop(session);
        provider
    }

    /// The configuration this provider was opened with.
    pub fn config(&self) -> &Pkcs11Config {
        &self.config
    }

    /// Runs `f` on the session; after a lost session, logs in again once and retries.
    fn run<T>(&self, f: impl Fn(&Connection) -> Result<T, HsmError>) -> Result<T, HsmError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        match f(&conn) {
            Err(e) if session_lost(&e) => {
                let fresh = Connection::open(&self.ctx, &self.config)?;
                if fresh.key_id != self.key_id {
                    return Err(HsmError::KeyChanged {
                        expected: self.key_id.clone(),
                        found: fresh.key_id,
                    });
                }
                *conn = fresh;
                f(&conn)
            }
            result => result,
        }
    }
}

/// Whether the token still encrypts and decrypts a random 32-byte value under the KEK.
fn gcm_probe(conn: &Connection) -> bool {
    let run = || -> Result<bool, Pkcs11Error> {
        let mut value = Zeroizing::new([0u8; DEK_LEN]);
        let mut iv = [0u8; IV_LEN];
        conn.session.generate_random_slice(&mut *value)?;
        conn.session.generate_random_slice(&mut iv)?;
        let mut iv_enc = iv;
        let params = GcmParams::new(&mut iv_enc, b"medspace/v1/probe", TAG_BITS.into())?;
        let ct = conn
            .session
            .encrypt(&Mechanism::AesGcm(params), conn.kek, &*value)?;
        let mut iv_dec = iv;
        let params = GcmParams::new(&mut iv_dec, b"medspace/v1/probe", TAG_BITS.into())?;
        let back = Zeroizing::new(conn.session.decrypt(
            &Mechanism::AesGcm(params),
            conn.kek,
            &ct,
        )?);
        Ok(back.as_slice() == value.as_slice())
    };
    run().unwrap_or(false)
}

/// The parts of a wrapped key.
struct Parsed<'a> {
    /// The whole header, bound as associated data.
    header: &'a [u8],
    iv: &'a [u8],
    /// Ciphertext ‖ tag.
    ct: &'a [u8],
}

/// Splits a wrapped key after the same checks, in the same order, as the key-file provider:
/// magic, version, algorithm, key id, body length.
fn parse<'a>(wrapped: &'a [u8], expected_id: &str) -> Result<Parsed<'a>, CryptoError> {
    let parts = parse_wrapped(wrapped)?;
    if parts.algorithm != WRAP_ALGORITHM.id() {
        return Err(CryptoError::Format(format!(
            "wrapped key: algorithm id {} not supported by the PKCS#11 provider \
             (known: 1 = AES-256-GCM)",
            parts.algorithm
        )));
    }
    if parts.key_id != expected_id.as_bytes() {
        return Err(CryptoError::UnknownKey {
            found: String::from_utf8_lossy(parts.key_id).into_owned(),
            available: expected_id.to_string(),
        });
    }
    if parts.body.len() != IV_LEN + DEK_LEN + TAG_LEN {
        return Err(CryptoError::Integrity);
    }
    let (iv, ct) = parts.body.split_at(IV_LEN);
    Ok(Parsed {
        header: parts.bytes,
        iv,
        ct,
    })
}

impl KeyProvider for Pkcs11KeyProvider {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn wrap(&self, dek: &SecretKey, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = wrapped_key_header(WRAP_ALGORITHM, &self.key_id)?;
        let aad = wrapped_key_aad(&out, context);
        let (iv, ct) = self.run(|conn| {
            let mut iv = [0u8; IV_LEN];
            conn.session
                .generate_random_slice(&mut iv)
                .map_err(HsmError::pkcs11("C_GenerateRandom"))?;
            let mut iv_param = iv;
            let params = GcmParams::new(&mut iv_param, &aad, TAG_BITS.into())
                .map_err(HsmError::pkcs11("CK_GCM_PARAMS"))?;
            let ct = conn
                .session
                .encrypt(&Mechanism::AesGcm(params), conn.kek, dek.expose())
                .map_err(HsmError::pkcs11("C_Encrypt (CKM_AES_GCM)"))?;
            Ok((iv, ct))
        })?;
        if ct.len() != DEK_LEN + TAG_LEN {
            return Err(CryptoError::Format(format!(
                "PKCS#11 CKM_AES_GCM returned {} bytes, expected {}",
                ct.len(),
                DEK_LEN + TAG_LEN
            )));
        }
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<SecretKey, CryptoError> {
        let Parsed { header, iv, ct } = parse(wrapped, &self.key_id)?;
        let aad = wrapped_key_aad(header, context);
        let plain = self.run(|conn| {
            let mut iv = iv.to_vec();
            let params = GcmParams::new(&mut iv, &aad, TAG_BITS.into())
                .map_err(HsmError::pkcs11("CK_GCM_PARAMS"))?;
            match conn
                .session
                .decrypt(&Mechanism::AesGcm(params), conn.kek, ct)
            {
                Ok(plain) => Ok(Some(Zeroizing::new(plain))),
                Err(Pkcs11Error::Pkcs11(
                    RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange,
                    _,
                )) => Ok(None),
                // SoftHSM2 (2.6) reports a failed GCM tag check as CKR_GENERAL_ERROR. Tell it
                // from a device fault by a probe: if the token still round-trips a random value,
                // the ciphertext was at fault.
                Err(
                    e @ Pkcs11Error::Pkcs11(RvError::GeneralError | RvError::FunctionFailed, _),
                ) => {
                    if gcm_probe(conn) {
                        Ok(None)
                    } else {
                        Err(HsmError::Pkcs11 {
                            operation: "C_Decrypt (CKM_AES_GCM)",
                            source: e,
                        })
                    }
                }
                Err(e) => Err(HsmError::Pkcs11 {
                    operation: "C_Decrypt (CKM_AES_GCM)",
                    source: e,
                }),
            }
        })?;
        let plain = plain.ok_or(CryptoError::Integrity)?;
        let mut bytes =
            <[u8; DEK_LEN]>::try_from(plain.as_slice()).map_err(|_| CryptoError::Integrity)?;
        let key = SecretKey::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// HMAC-SHA-256 inside the token, keyed with the derivation key object, over
    /// `"medspace/v1/"` ‖ purpose ‖ 0x00 ‖ context (the same input as the key-file provider).
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
        let mac = self.run(|conn| {
            conn.session
                .sign(&Mechanism::Sha256Hmac, conn.mac, &input)
                .map(Zeroizing::new)
                .map_err(HsmError::pkcs11("C_Sign (CKM_SHA256_HMAC)"))
        })?;
        let mut bytes = <[u8; 32]>::try_from(mac.as_slice()).map_err(|_| {
            CryptoError::Format(format!(
                "PKCS#11 CKM_SHA256_HMAC returned {} bytes, expected 32",
                mac.len()
            ))
        })?;
        let key = SecretKey::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }
}
