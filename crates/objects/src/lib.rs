//! Object storage for dataset content, query results and exports.
//!
//! Objects are opaque (already encrypted by the caller, T/CI 857-2024 6.3; DMS 4.3.1) and written
//! atomically: a reader sees either no object or the complete one, never a half-written file, so a
//! failed ingest leaves nothing behind (DEVELOPERS.md, bad input). The local backend
//! ([`LocalObjectStore`]) is the embedded default; [`S3ObjectStore`] implements the same trait on
//! S3-compatible object storage, which lets the encrypted content live on separate, replicated or
//! off-site storage (T/CI 857-2024 7.2.5 c), storage and backup; DMS 7.2.4). [`open_object_store`]
//! picks the backend from a location string.
#![deny(missing_docs)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod s3;

pub use s3::{
    S3Config, S3Credentials, S3ObjectStore, DEFAULT_REGION, PARTS_IN_FLIGHT, PART_SIZE, READ_WINDOW,
};

/// Object store failures.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The key is not a safe relative name.
    #[error("invalid object key `{0}`: expected lowercase letters, digits, `-`, `_`, `.` and `/` between names")]
    InvalidKey(String),
    /// No object under that key.
    #[error("object `{0}` not found")]
    NotFound(String),
    /// An object already exists under that key.
    #[error("object `{0}` already exists")]
    Exists(String),
    /// Underlying I/O error.
    #[error("object store I/O error on `{key}`: {source}")]
    Io {
        /// Object key.
        key: String,
        /// Cause.
        source: io::Error,
    },
    /// The object store location or its settings are unusable.
    #[error("invalid object store configuration: {0}")]
    Config(String),
    /// A remote object store (S3) request failed.
    #[error("object store request on `{key}` failed: {source}")]
    Backend {
        /// Object key.
        key: String,
        /// Cause.
        source: object_store::Error,
    },
}

/// A staged object: write the content, then [`PendingObject::commit`] makes it visible atomically.
/// Dropping it without committing discards it.
pub trait PendingObject: Write + Send {
    /// Makes the object visible under its key.
    fn commit(self: Box<Self>) -> Result<(), ObjectError>;
}

/// Where encrypted objects live.
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Starts writing a new object; fails if the key exists.
    fn create(&self, key: &str) -> Result<Box<dyn PendingObject>, ObjectError>;
    /// Opens an object for reading.
    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, ObjectError>;
    /// Removes an object; removing a missing object is not an error.
    fn delete(&self, key: &str) -> Result<(), ObjectError>;
    /// Whether an object exists.
    fn exists(&self, key: &str) -> Result<bool, ObjectError>;
}

fn check_key(key: &str) -> Result<(), ObjectError> {
    let ok = !key.is_empty()
        && key.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
                })
        });
    if ok {
        Ok(())
    } else {
        Err(ObjectError::InvalidKey(key.to_string()))
    }
}

/// Objects as files under one directory.
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
}

impl LocalObjectStore {
    /// Uses (and creates) `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, ObjectError> {
        let root = root.into();
        fs::create_dir_all(root.join(".staging")).map_err(|source| ObjectError::Io {
            key: ".staging".into(),
            source,
        })?;
        Ok(LocalObjectStore { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, ObjectError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

struct LocalPending {
    key: String,
    staging: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl Write for LocalPending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.file.as_mut() {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("object already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl PendingObject for LocalPending {
    fn commit(mut self: Box<Self>) -> Result<(), ObjectError> {
        let io_err = |key: &str| {
            let key = key.to_string();
            move |source| ObjectError::Io { key, source }
        };
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(io_err(&self.key))?;
        }
        if self.target.exists() {
            return Err(ObjectError::Exists(self.key.clone()));
        }
        if let Some(parent) = self.target.parent() {
            fs::create_dir_all(parent).map_err(io_err(&self.key))?;
        }
        fs::rename(&self.staging, &self.target).map_err(io_err(&self.key))?;
        if let Some(parent) = self.target.parent() {
            // Persist the rename itself.
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for LocalPending {
    fn drop(&mut self) {
        // Not committed (or commit failed): discard the staged bytes.
        if self.staging.exists() {
            let _ = fs::remove_file(&self.staging);
        }
    }
}

impl ObjectStore for LocalObjectStore {
    fn create(&self, key: &str) -> Result<Box<dyn PendingObject>, ObjectError> {
        let target = self.path(key)?;
        if target.exists() {
            return Err(ObjectError::Exists(key.to_string()));
        }
        let staging = self
            .root
            .join(".staging")
            .join(uuid::Uuid::new_v4().simple().to_string());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
            .map_err(|source| ObjectError::Io {
                key: key.to_string(),
                source,
            })?;
        Ok(Box::new(LocalPending {
            key: key.to_string(),
            staging,
            target,
            file: Some(file),
        }))
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, ObjectError> {
        let path = self.path(key)?;
        match File::open(&path) {
            Ok(f) => Ok(Box::new(io::BufReader::new(f))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ObjectError::NotFound(key.to_string()))
            }
            Err(source) => Err(ObjectError::Io {
                key: key.to_string(),
                source,
            }),
        }
    }

    fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let path = self.path(key)?;
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(ObjectError::Io {
                key: key.to_string(),
                source,
            }),
        }
    }

    fn exists(&self, key: &str) -> Result<bool, ObjectError> {
        Ok(self.path(key)?.exists())
    }
}

/// Root directory of a local store (for diagnostics).
impl AsRef<Path> for LocalObjectStore {
    fn as_ref(&self) -> &Path {
        &self.root
    }
}

/// Opens the object store at `location`:
///
/// * `file:///srv/medspace/objects` or a plain path (`/srv/medspace/objects`, `objects`) — a
///   [`LocalObjectStore`] rooted there (created if missing);
/// * `s3://<bucket>[/<prefix>][?endpoint=<url>][&region=<region>]` — an [`S3ObjectStore`] for
///   that bucket, keys under `<prefix>/`. `endpoint` is the S3-compatible service's URL (percent-
///   encode it or not; it must be `https://`, `http://` is accepted only for a loopback host)
///   and is required: without it the client would use AWS's global regions, abroad, which GB/T
///   39725-2020 7 q) forbids for health data. `region` defaults to [`DEFAULT_REGION`].
///   Credentials come from the environment, never from the URL: `AWS_ACCESS_KEY_ID`,
///   `AWS_SECRET_ACCESS_KEY` and optionally `AWS_SESSION_TOKEN`.
///
/// Example: `s3://medspace/node-1?endpoint=https://oss-cn-beijing.aliyuncs.com&region=cn-beijing`.
/// No request is made: a wrong bucket or credentials show up on first use.
pub fn open_object_store(location: &str) -> Result<Arc<dyn ObjectStore>, ObjectError> {
    open_object_store_with(location, &|name| std::env::var(name).ok())
}

fn open_object_store_with(
    location: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn ObjectStore>, ObjectError> {
    let bad =
        |why: String| ObjectError::Config(format!("object store location `{location}`: {why}"));
    if location.is_empty() {
        return Err(bad("empty".into()));
    }
    if location.starts_with("s3://") {
        let credentials = S3Credentials::from_lookup(env)?;
        let config = S3Config::from_url(location, credentials)?;
        return Ok(Arc::new(S3ObjectStore::new(config)?));
    }
    let root = if location.starts_with("file:") {
        let url = url::Url::parse(location).map_err(|e| bad(e.to_string()))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a file: URL takes no query or fragment".into()));
        }
        url.to_file_path()
            .map_err(|()| bad("expected file:///absolute/path".into()))?
    } else if location.contains("://") {
        return Err(bad("unsupported scheme (expected file:// or s3://)".into()));
    } else {
        PathBuf::from(location)
    };
    Ok(Arc::new(LocalObjectStore::new(root)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_object_reads_back_and_uncommitted_vanishes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path()).unwrap();
        let mut w = store.create("datasets/ds-1/v1.bin").unwrap();
        w.write_all(b"ciphertext").unwrap();
        assert!(
            !store.exists("datasets/ds-1/v1.bin").unwrap(),
            "visible before commit"
        );
        w.commit().unwrap();
        let mut out = Vec::new();
        store
            .open("datasets/ds-1/v1.bin")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"ciphertext");

        let mut w = store.create("datasets/ds-2/v1.bin").unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert!(!store.exists("datasets/ds-2/v1.bin").unwrap());
        assert_eq!(
            fs::read_dir(dir.path().join(".staging")).unwrap().count(),
            0
        );
    }

    #[test]
    fn keys_cannot_escape_the_root_or_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path()).unwrap();
        for bad in ["../x", "/etc/passwd", "a//b", "A", "a/./b", ""] {
            assert!(
                matches!(store.create(bad), Err(ObjectError::InvalidKey(_))),
                "{bad}"
            );
        }
        store.create("x").unwrap().commit().unwrap();
        assert!(matches!(store.create("x"), Err(ObjectError::Exists(_))));
        store.delete("x").unwrap();
        store.delete("x").unwrap();
        assert!(matches!(store.open("x"), Err(ObjectError::NotFound(_))));
    }

    #[test]
    fn locations_select_the_backend() {
        let dir = tempfile::tempdir().unwrap();
        let no_env = |_: &str| None;
        let plain = dir.path().join("plain");
        let store = open_object_store_with(plain.to_str().unwrap(), &no_env).unwrap();
        store.create("a").unwrap().commit().unwrap();
        assert!(plain.join("a").is_file());

        let url = format!("file://{}", dir.path().join("url").display());
        let store = open_object_store_with(&url, &no_env).unwrap();
        store.create("b").unwrap().commit().unwrap();
        assert!(dir.path().join("url/b").is_file());
        assert!(format!("{store:?}").contains("LocalObjectStore"));

        let env = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("id".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("s3cr3t-value".to_string()),
            _ => None,
        };
        let store =
            open_object_store_with("s3://bkt/pre?endpoint=http://127.0.0.1:1", &env).unwrap();
        let shown = format!("{store:?}");
        assert!(
            shown.contains("S3ObjectStore") && shown.contains("bkt"),
            "{shown}"
        );
        assert!(!shown.contains("s3cr3t-value"));

        for (bad, why) in [
            ("s3://bkt/pre", &no_env as &dyn Fn(&str) -> Option<String>),
            ("s3://bkt?endpoint=http://192.0.2.1:9000", &env),
            ("gs://bkt", &env),
            ("file://relative", &env),
            ("", &env),
        ] {
            assert!(
                matches!(
                    open_object_store_with(bad, why),
                    Err(ObjectError::Config(_))
                ),
                "{bad}"
            );
        }
    }
}
