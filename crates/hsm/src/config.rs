//! Provider configuration and the user PIN source.
//!
//! The PIN is never part of the configuration itself: the configuration names where to read it
//! (an environment variable or a file readable by the owner only), and it is read at login into a
//! zeroizing buffer, handed to `C_Login` and dropped. Errors name the source, never the content.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::HsmError;

/// Default location of the SoftHSM2 module on Debian and Ubuntu (package `softhsm2`).
pub const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Suffix appended to the key label to name the HMAC derivation key object.
pub const DERIVE_LABEL_SUFFIX: &str = "/derive";

/// Longest PIN file accepted, in bytes.
const PIN_FILE_MAX: u64 = 256;

/// Where the token's user PIN comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinSource {
    /// The value of this environment variable (its name, not the PIN).
    Env(String),
    /// The content of this file (a trailing newline is ignored). The file must be a regular file
    /// that group and other users cannot access (mode `0600` or `0400`).
    File(PathBuf),
}

impl PinSource {
    fn describe(&self) -> String {
        match self {
            PinSource::Env(name) => format!("environment variable {name}"),
            PinSource::File(path) => format!("file {}", path.display()),
        }
    }

    /// Reads the PIN. The returned buffer is zeroized on drop.
    pub(crate) fn read(&self) -> Result<Zeroizing<String>, HsmError> {
        let fail = |problem: String| HsmError::Pin {
            source_name: self.describe(),
            problem,
        };
        let pin = match self {
            PinSource::Env(name) => match std::env::var(name) {
                Ok(v) => Zeroizing::new(v),
                Err(std::env::VarError::NotPresent) => return Err(fail("not set".into())),
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(fail("not valid UTF-8".into()))
                }
            },
            PinSource::File(path) => read_pin_file(path).map_err(fail)?,
        };
        if pin.is_empty() {
            return Err(fail("empty".into()));
        }
        Ok(pin)
    }
}

fn read_pin_file(path: &Path) -> Result<Zeroizing<String>, String> {
    use std::os::unix::fs::PermissionsExt;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot inspect: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "permissions {mode:03o} give group or other users access to the PIN; run `chmod 600 {}`",
            path.display()
        ));
    }
    let mut raw = Zeroizing::new(Vec::with_capacity(PIN_FILE_MAX as usize + 1));
    file.take(PIN_FILE_MAX + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("cannot read: {e}"))?;
    if raw.len() as u64 > PIN_FILE_MAX {
        return Err(format!("longer than {PIN_FILE_MAX} bytes"));
    }
    let mut end = raw.len();
    while end > 0 && matches!(raw[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    let text = std::str::from_utf8(&raw[..end]).map_err(|_| "not valid UTF-8".to_string())?;
    let mut pin = Zeroizing::new(String::with_capacity(text.len()));
    pin.push_str(text);
    Ok(pin)
}

/// Where the master key lives: module, token, PIN source and key label.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (e.g. [`SOFTHSM2_MODULE`]).
    pub module: PathBuf,
    /// Label of the token holding the key (at most 32 bytes, as PKCS#11 token labels).
    pub token_label: String,
    /// Where the user PIN is read from.
    pub pin: PinSource,
    /// Label (`CKA_LABEL`) of the AES-256 key-encryption key. The HMAC derivation key is the
    /// object labelled [`Pkcs11Config::derive_key_label`].
    pub key_label: String,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &self.pin)
            .field("key_label", &self.key_label)
            .finish()
    }
}

impl Pkcs11Config {
    /// A configuration from its four parts.
    pub fn new(
        module: impl Into<PathBuf>,
        token_label: impl Into<String>,
        pin: PinSource,
        key_label: impl Into<String>,
    ) -> Self {
        Pkcs11Config {
            module: module.into(),
            token_label: token_label.into(),
            pin,
            key_label: key_label.into(),
        }
    }

    /// Label of the HMAC-SHA-256 derivation key: the key label followed by
    /// [`DERIVE_LABEL_SUFFIX`] (`"medspace-kek/derive"` for `"medspace-kek"`).
    pub fn derive_key_label(&self) -> String {
        format!("{}{DERIVE_LABEL_SUFFIX}", self.key_label)
    }

    pub(crate) fn validate(&self) -> Result<(), HsmError> {
        if self.token_label.is_empty() || self.token_label.len() > 32 {
            return Err(HsmError::Config(format!(
                "token label must be 1 to 32 bytes long (PKCS#11 limit), got {} bytes",
                self.token_label.len()
            )));
        }
        if self.key_label.is_empty() || self.key_label.len() > 128 {
            return Err(HsmError::Config(format!(
                "key label must be 1 to 128 bytes long, got {} bytes",
                self.key_label.len()
            )));
        }
        if self.module.as_os_str().is_empty() {
            return Err(HsmError::Config("PKCS#11 module path is empty".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn private_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn pin_file_is_trimmed_of_line_endings_only() {
        let dir = tempfile::tempdir().unwrap();
        for (content, expected) in [
            (&b"5678\n"[..], "5678"),
            (b"5678\r\n", "5678"),
            (b"5678", "5678"),
            (b" 56 78 \n", " 56 78 "),
        ] {
            let path = private_file(dir.path(), "pin", content);
            assert_eq!(PinSource::File(path).read().unwrap().as_str(), expected);
        }
    }

    #[test]
    fn pin_file_problems_are_named_without_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = private_file(dir.path(), "pin", b"secret-pin-9\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = PinSource::File(path.clone())
            .read()
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod 600") && err.contains("pin"), "{err}");
        assert!(!err.contains("secret-pin"), "{err}");

        for (content, problem) in [
            (&b"\n"[..], "empty"),
            (&[0xff, 0xfe][..], "UTF-8"),
            (&[b'1'; 300][..], "longer than"),
        ] {
            let path = private_file(dir.path(), "bad", content);
            let err = PinSource::File(path).read().unwrap_err().to_string();
            assert!(err.contains(problem), "{err}");
            assert!(!err.contains("111"), "{err}");
        }
        let err = PinSource::File(dir.path().join("missing"))
            .read()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing") && err.contains("cannot open"),
            "{err}"
        );
        assert!(PinSource::File(dir.path().to_path_buf()).read().is_err());
    }

    #[test]
    fn missing_env_pin_is_reported_by_name() {
        let err = PinSource::Env("MEDSPACE_HSM_UNIT_TEST_NO_SUCH_VAR".into())
            .read()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MEDSPACE_HSM_UNIT_TEST_NO_SUCH_VAR") && err.contains("not set"),
            "{err}"
        );
    }

    #[test]
    fn config_validation_and_derive_label() {
        let pin = PinSource::Env("X".into());
        let ok = Pkcs11Config::new(SOFTHSM2_MODULE, "tok", pin.clone(), "kek");
        assert!(ok.validate().is_ok());
        assert_eq!(ok.derive_key_label(), "kek/derive");
        for bad in [
            Pkcs11Config::new(SOFTHSM2_MODULE, "", pin.clone(), "kek"),
            Pkcs11Config::new(SOFTHSM2_MODULE, "t".repeat(33), pin.clone(), "kek"),
            Pkcs11Config::new(SOFTHSM2_MODULE, "tok", pin.clone(), ""),
            Pkcs11Config::new(SOFTHSM2_MODULE, "tok", pin.clone(), "k".repeat(129)),
            Pkcs11Config::new("", "tok", pin.clone(), "kek"),
        ] {
            assert!(
                matches!(bad.validate(), Err(HsmError::Config(_))),
                "{bad:?}"
            );
        }
    }
}
