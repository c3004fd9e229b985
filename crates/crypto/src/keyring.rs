//! Versioned master keys: rotation without re-encrypting data — T/CI 857-2024 6.3 (key lifecycle:
//! generation, storage, rotation, destruction), 7.1.1; DMS 7.2.4; GB/T 39725-2020 §10.1 i).
//!
//! A keyring file holds every master-key version the node still needs, one per line:
//!
//! ```text
//! v1 <64 hex characters>
//! v2 <64 hex characters>
//! ```
//!
//! The highest version is active: it wraps every new data key. Older versions only unwrap, chosen
//! by the key id in the wrapped key's header (`file:v1:…`), so after [`Keyring::rotate`] the node
//! rewraps its data keys under the new version at its own pace and then [`Keyring::retire`]s the
//! old one. A file holding a single bare line of 64 hex characters (the format `init` wrote before
//! keyrings) reads as version 1.
//!
//! The file is rewritten atomically (temporary file, `fsync`, rename, directory `fsync`), with mode
//! 0600, so a crash during rotation leaves either the old or the new keyring, never a partial one.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::keys::{
    parse_key_hex, read_private_file, wrapped_key_id, FileKeyProvider, KeyProvider, SecretKey,
};
use crate::profile::CryptoProfile;
use crate::CryptoError;

/// Longest keyring file accepted: 1,000 versions.
const KEYRING_MAX: u64 = 1000 * 80;

/// A master-key version held in the keyring.
struct Version {
    number: u32,
    provider: FileKeyProvider,
}

/// The node's master keys, read from a keyring file (see the module documentation).
pub struct Keyring {
    path: PathBuf,
    profile: CryptoProfile,
    /// Ascending by version number; never empty.
    versions: Vec<Version>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("profile", &self.profile)
            .field("versions", &self.version_ids())
            .finish()
    }
}

fn keyring_error(path: &Path, problem: impl Into<String>) -> CryptoError {
    CryptoError::KeyFile {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

impl Keyring {
    /// Creates a keyring file with one fresh version (`v1`). Refuses to overwrite an existing file.
    pub fn create(path: &Path, profile: CryptoProfile) -> Result<Self, CryptoError> {
        let ring = Keyring {
            path: path.to_path_buf(),
            profile,
            versions: vec![Version::new(1, SecretKey::generate(), profile)],
        };
        ring.write(true)?;
        Ok(ring)
    }

    /// Opens a keyring file. Refuses anything but a private regular file (mode 0600 or stricter)
    /// and names the line and what was expected when the content is malformed — never echoing it.
    pub fn open(path: &Path, profile: CryptoProfile) -> Result<Self, CryptoError> {
        let raw = read_private_file(path, KEYRING_MAX)?;
        if raw.len() as u64 > KEYRING_MAX {
            return Err(keyring_error(
                path,
                format!("longer than {KEYRING_MAX} bytes"),
            ));
        }
        let text = std::str::from_utf8(&raw)
            .map_err(|_| keyring_error(path, "not UTF-8 text; expected lines `v<N> <64 hex>`"))?;
        let versions = parse_versions(text, profile).map_err(|p| keyring_error(path, p))?;
        Ok(Keyring {
            path: path.to_path_buf(),
            profile,
            versions,
        })
    }

    /// The keyring file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Key ids of every held version, oldest first (e.g. `file:v1:1a2b3c4d`).
    pub fn version_ids(&self) -> Vec<String> {
        self.versions
            .iter()
            .map(|v| v.provider.key_id().to_string())
            .collect()
    }

    /// The active version's number.
    pub fn active_version(&self) -> u32 {
        self.active().number
    }

    fn active(&self) -> &Version {
        // `versions` is never empty: every constructor and `retire` keep at least one.
        &self.versions[self.versions.len() - 1]
    }

    /// Adds a fresh version and makes it active; the file is rewritten atomically before this
    /// returns. Existing wrapped keys still unwrap with their version until it is retired.
    pub fn rotate(&mut self) -> Result<String, CryptoError> {
        let number = self.active().number.checked_add(1).ok_or_else(|| {
            CryptoError::Format("master key version numbers are exhausted".into())
        })?;
        self.versions
            .push(Version::new(number, SecretKey::generate(), self.profile));
        if let Err(e) = self.write(false) {
            self.versions.pop();
            return Err(e);
        }
        Ok(self.active().provider.key_id().to_string())
    }

    /// Removes a non-active version from the keyring file. The caller must first check that no
    /// wrapped key still names it ([`wrapped_key_id`]): whatever it wrapped becomes undecryptable.
    pub fn retire(&mut self, key_id: &str) -> Result<(), CryptoError> {
        let Some(pos) = self
            .versions
            .iter()
            .position(|v| v.provider.key_id() == key_id)
        else {
            return Err(CryptoError::Format(format!(
                "the keyring holds no master key `{key_id}`"
            )));
        };
        if pos == self.versions.len() - 1 {
            return Err(CryptoError::Format(format!(
                "`{key_id}` is the active master key; rotate first, then retire it"
            )));
        }
        let removed = self.versions.remove(pos);
        if let Err(e) = self.write(false) {
            self.versions.insert(pos, removed);
            return Err(e);
        }
        Ok(())
    }

    fn write(&self, create_new: bool) -> Result<(), CryptoError> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut text = Zeroizing::new(String::new());
        for v in &self.versions {
            text.push_str(&format!(
                "v{} {}\n",
                v.number,
                hex::encode(v.key().expose())
            ));
        }
        if create_new {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&self.path)
                .map_err(|e| keyring_error(&self.path, format!("cannot create: {e}")))?;
            if let Err(e) = f.write_all(text.as_bytes()).and_then(|()| f.sync_all()) {
                drop(f);
                let _ = std::fs::remove_file(&self.path);
                return Err(keyring_error(&self.path, format!("cannot write: {e}")));
            }
            return sync_parent(&self.path);
        }
        let file_name = self
            .path
            .file_name()
            .ok_or_else(|| keyring_error(&self.path, "not a file path"))?;
        let mut tmp_name = file_name.to_os_string();
        tmp_name.push(".rotating");
        let tmp = self.path.with_file_name(tmp_name);
        let _ = std::fs::remove_file(&tmp);
        let result = (|| -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(keyring_error(&self.path, format!("cannot rewrite: {e}")));
        }
        sync_parent(&self.path)
    }

    fn version_for(&self, key_id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.provider.key_id() == key_id)
    }
}

fn sync_parent(path: &Path) -> Result<(), CryptoError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| keyring_error(path, format!("cannot sync its directory: {e}")))?;
    }
    Ok(())
}

impl Version {
    fn new(number: u32, key: SecretKey, profile: CryptoProfile) -> Self {
        Version {
            number,
            provider: FileKeyProvider::from_key(key, &format!("file:v{number}"))
                .with_profile(profile),
        }
    }

    fn key(&self) -> &SecretKey {
        self.provider.secret()
    }
}

fn parse_versions(text: &str, profile: CryptoProfile) -> Result<Vec<Version>, String> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    let expected = "expected `v<N> <64 hex characters>` (or one bare line of 64 hex characters)";
    if lines.is_empty() {
        return Err(format!("empty; {expected}"));
    }
    if let [(line, only)] = lines.as_slice() {
        if !only.contains(char::is_whitespace) {
            let key = parse_key_hex(only).map_err(|p| format!("line {line}: {p}"))?;
            return Ok(vec![Version::new(1, key, profile)]);
        }
    }
    let mut versions: Vec<Version> = Vec::with_capacity(lines.len());
    for (line, l) in lines {
        let (label, hex_part) = l
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("line {line}: {expected}"))?;
        let number: u32 = label
            .strip_prefix('v')
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                format!("line {line}: version label must be `v1`, `v2` …; {expected}")
            })?;
        if versions.last().is_some_and(|v| v.number >= number) {
            return Err(format!(
                "line {line}: version v{number} is not above the previous line's; versions must ascend"
            ));
        }
        let key = parse_key_hex(hex_part.trim()).map_err(|p| format!("line {line}: {p}"))?;
        versions.push(Version::new(number, key, profile));
    }
    Ok(versions)
}

impl KeyProvider for Keyring {
    fn key_id(&self) -> &str {
        self.active().provider.key_id()
    }

    fn wrap(&self, dek: &SecretKey, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.active().provider.wrap(dek, context)
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<SecretKey, CryptoError> {
        let id = wrapped_key_id(wrapped)?;
        match self.version_for(id) {
            Some(v) => v.provider.unwrap(wrapped, context),
            None => Err(CryptoError::UnknownKey {
                found: id.to_string(),
                available: self.version_ids().join(", "),
            }),
        }
    }

    /// Derivation always uses the oldest held version, so that a derived key survives rotation
    /// until that version is retired. Keys that must outlive every rotation (pseudonym keys) are
    /// stored wrapped instead of derived.
    fn derive(&self, purpose: &str, context: &[u8]) -> Result<SecretKey, CryptoError> {
        self.versions[0].provider.derive(purpose, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn ring(dir: &Path) -> Keyring {
        Keyring::create(&dir.join("node.masterkey"), CryptoProfile::International).unwrap()
    }

    #[test]
    fn rotation_keeps_old_wraps_readable_and_wraps_new_keys_under_the_new_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = ring(dir.path());
        let dek = SecretKey::generate();
        let old = ring.wrap(&dek, b"ds-1").unwrap();
        assert!(wrapped_key_id(&old).unwrap().starts_with("file:v1:"));
        let new_id = ring.rotate().unwrap();
        assert!(new_id.starts_with("file:v2:"));
        let reopened = Keyring::open(ring.path(), CryptoProfile::International).unwrap();
        assert_eq!(reopened.version_ids().len(), 2);
        assert_eq!(reopened.unwrap(&old, b"ds-1").unwrap(), dek);
        let rewrapped = reopened.wrap(&dek, b"ds-1").unwrap();
        assert_eq!(wrapped_key_id(&rewrapped).unwrap(), new_id);
        let mode = std::fs::metadata(ring.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn retired_versions_no_longer_unwrap_and_the_active_one_cannot_be_retired() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = ring(dir.path());
        let dek = SecretKey::generate();
        let old = ring.wrap(&dek, b"x").unwrap();
        let v1 = ring.key_id().to_string();
        ring.rotate().unwrap();
        let active = ring.key_id().to_string();
        assert!(ring.retire(&active).is_err());
        ring.retire(&v1).unwrap();
        let reopened = Keyring::open(ring.path(), CryptoProfile::International).unwrap();
        assert!(matches!(
            reopened.unwrap(&old, b"x"),
            Err(CryptoError::UnknownKey { .. })
        ));
        assert_eq!(reopened.active_version(), 2);
    }

    #[test]
    fn a_legacy_single_key_file_reads_as_version_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy.key");
        let file = FileKeyProvider::create(&path).unwrap();
        let dek = SecretKey::generate();
        let wrapped = file.wrap(&dek, b"c").unwrap();
        let ring = Keyring::open(&path, CryptoProfile::International).unwrap();
        assert_eq!(ring.key_id(), file.key_id());
        assert_eq!(ring.unwrap(&wrapped, b"c").unwrap(), dek);
        assert_eq!(
            ring.derive("pseudonym", b"p").unwrap(),
            file.derive("pseudonym", b"p").unwrap()
        );
    }

    #[test]
    fn malformed_keyrings_name_the_line_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        for (content, needle) in [
            ("v1 abc\n", "line 1"),
            (
                &*format!("v2 {}\nv1 {}\n", "a".repeat(64), "b".repeat(64)),
                "line 2",
            ),
            (&*format!("x1 {}\n", "c".repeat(64)), "version label"),
            ("", "empty"),
        ] {
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let err = Keyring::open(&path, CryptoProfile::International)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{content:?}: {err}");
            assert!(!err.contains("aaaa") && !err.contains("cccc"), "{err}");
        }
        std::fs::write(&path, format!("v1 {}\n", "d".repeat(64))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Keyring::open(&path, CryptoProfile::International)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
    }

    #[test]
    fn national_profile_wraps_with_sm4_in_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = Keyring::create(&dir.path().join("n.key"), CryptoProfile::National).unwrap();
        ring.rotate().unwrap();
        let dek = SecretKey::generate();
        let w = ring.wrap(&dek, b"n").unwrap();
        assert_eq!(w[5], crate::AeadAlgorithm::Sm4Gcm.id());
        assert_eq!(ring.unwrap(&w, b"n").unwrap(), dek);
    }
}
