//! Backup and restore — DMS 7.2.4.3 (off-site backup, recovery point at most 15 minutes), T/CI
//! 857-2024 7.2.5 c) (storage and backup of the data space), DMS 6.2.3 and GB/T 39725-2020
//! §11.4.2.6 (destroyed data must stay destroyed, backups included).
//!
//! A backup is a tar archive (`.msbk`) holding:
//! - the metadata database (a `VACUUM INTO` snapshot taken while the node serves, so it is
//!   consistent), the configuration and the TLS certificate and key, each encrypted under a fresh
//!   backup key that is wrapped by the master key (AES-256-GCM or SM4-GCM by profile);
//! - the encrypted data objects exactly as stored (they already are ciphertext under their own
//!   data keys); an incremental backup carries only the objects its base chain lacks;
//! - `manifest.json`, listing every entry with its size and digest (SHA-256 or SM3), and
//!   `manifest.sig`, the manifest signed by the node identity key (Ed25519 or SM2).
//!
//! **Keys are kept apart from backups.** The snapshot's wrapped data keys are blanked before it is
//! archived; the live wrapped keys go to the *key vault* (`<dir>.keyvault` by default), one signed
//! file that always holds exactly the keys the node holds now. Destroying a dataset removes its key
//! from the store and from the vault, so every earlier backup still holding the dataset's objects
//! is left without any key that opens them. A restore therefore needs three things: the backup
//! chain, the key vault and the master key.
//!
//! `restore` verifies the signature, the chain links and every entry's digest before it writes
//! anything final, restores into a new directory (removed again if anything fails), puts the
//! vault's keys back, marks datasets destroyed after the backup as destroyed, and checks the audit
//! chain.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use medspace_core::{new_id, AuditEvent, Outcome};
use medspace_crypto::{
    decrypt_bytes, encrypt_bytes_with, CryptoProfile, KeyProvider, Keyring, NodeVerifyingKey,
    SecretKey, SignatureScheme,
};
use medspace_objects::{LocalObjectStore, ObjectStore};
use medspace_store::{KeyOwner, WrappedKeyRef};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{
    default_key_vault_path, BackupSettings, ConfigOverrides, NodeConfig, CONFIG_FILE, SQLITE_FILE,
};
use crate::error::{Result, ServiceError};
use crate::node::{system_event, Node};

/// Format tag of a backup manifest.
pub const BACKUP_FORMAT: &str = "medspace-backup/v1";
/// Format tag of the key vault.
pub const VAULT_FORMAT: &str = "medspace-key-vault/v1";
/// File extension of backups written into a backup directory.
pub const BACKUP_EXTENSION: &str = "msbk";
const MANIFEST: &str = "manifest.json";
const SIGNATURE: &str = "manifest.sig";
/// Largest manifest or vault read into memory (a manifest lists every object key).
const MAX_MANIFEST: u64 = 64 << 20;

/// Full or incremental.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// Every object the metadata references.
    Full,
    /// Only objects the base chain does not hold; metadata in full.
    Incremental,
}

impl std::fmt::Display for BackupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackupKind::Full => "full",
            BackupKind::Incremental => "incremental",
        })
    }
}

/// What an archive entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The metadata database snapshot, wrapped keys blanked (encrypted).
    Metadata,
    /// `medspace.toml` (encrypted).
    Config,
    /// The TLS certificate (encrypted).
    TlsCert,
    /// The TLS private key (encrypted).
    TlsKey,
    /// A data object, as stored (already encrypted under its data key).
    Object,
}

/// One archive entry as listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupEntry {
    /// Name inside the archive.
    pub name: String,
    /// What it holds.
    pub kind: EntryKind,
    /// The object key, for objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    /// Size in bytes as archived.
    pub size: u64,
    /// Digest (hex) of the archived bytes, with the profile's hash.
    pub digest: String,
}

/// The backup an incremental builds on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRef {
    /// Its id.
    pub backup_id: String,
    /// Digest (hex) of its manifest bytes.
    pub manifest_digest: String,
}

/// The signed table of contents of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// [`BACKUP_FORMAT`].
    pub format: String,
    /// Backup id (`bk-…`).
    pub backup_id: String,
    /// The node it was taken from.
    pub node_id: String,
    /// Its name.
    pub node_name: String,
    /// Crypto profile.
    pub profile: String,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Full or incremental.
    pub kind: BackupKind,
    /// The previous backup of the chain (incremental only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseRef>,
    /// The master-key version wrapping the backup key.
    pub master_key_id: String,
    /// The backup key, wrapped by the master key (hex).
    pub wrapped_backup_key: String,
    /// Audit head contained in the snapshot.
    pub audit_seq: i64,
    /// Its hash.
    pub audit_hash: String,
    /// The entries of this archive.
    pub entries: Vec<BackupEntry>,
    /// Every object the snapshot references, with the id of the backup of the chain that holds it.
    pub objects: BTreeMap<String, String>,
    /// Signature scheme of the node identity key.
    pub signature_scheme: String,
    /// The node identity public key (hex).
    pub public_key: String,
}

impl BackupManifest {
    fn verifying_key(&self) -> Result<NodeVerifyingKey> {
        let scheme: SignatureScheme = self
            .signature_scheme
            .parse()
            .map_err(|_| bad_backup(&self.backup_id, "names an unknown signature scheme".into()))?;
        let public = hex::decode(&self.public_key)
            .map_err(|_| bad_backup(&self.backup_id, "public key is not hex".into()))?;
        Ok(NodeVerifyingKey::from_bytes(scheme, &public)?)
    }

    fn profile(&self) -> Result<CryptoProfile> {
        self.profile
            .parse()
            .map_err(|_| bad_backup(&self.backup_id, "names an unknown crypto profile".into()))
    }
}

/// A backup file whose manifest signature has been checked.
#[derive(Debug, Clone)]
pub struct VerifiedBackup {
    /// The file.
    pub path: PathBuf,
    /// Its manifest.
    pub manifest: BackupManifest,
    /// The manifest's bytes as signed.
    manifest_bytes: Vec<u8>,
}

impl VerifiedBackup {
    /// Digest of the manifest bytes (what an incremental names as its base).
    pub fn manifest_digest(&self) -> Result<String> {
        Ok(self.manifest.profile()?.digest_hex(&self.manifest_bytes))
    }
}

fn bad_backup(what: &str, problem: String) -> ServiceError {
    ServiceError::BadRequest(format!("backup {what}: {problem}"))
}

/// Reads a backup's manifest and checks its signature against the public key it names. Callers
/// must also check that key (see [`RestoreOptions::expect_public_key`]); the entries are checked
/// against the manifest when they are read.
pub fn read_backup_manifest(path: &Path) -> Result<VerifiedBackup> {
    let label = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| ServiceError::Io(format!("cannot open backup {label}: {e}")))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut manifest_bytes = None;
    let mut signature = None;
    let entries = archive
        .entries()
        .map_err(|e| bad_backup(&label, format!("is not a backup archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| bad_backup(&label, format!("is not a readable archive: {e}")))?;
        let name = entry_name(&entry, &label)?;
        if name == MANIFEST || name == SIGNATURE {
            if entry.size() > MAX_MANIFEST {
                return Err(bad_backup(&label, format!("`{name}` is too large")));
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| bad_backup(&label, format!("`{name}` cannot be read: {e}")))?;
            if name == MANIFEST {
                manifest_bytes = Some(bytes);
            } else {
                signature = Some(bytes);
            }
        }
    }
    let manifest_bytes =
        manifest_bytes.ok_or_else(|| bad_backup(&label, "has no manifest".into()))?;
    let signature = signature.ok_or_else(|| bad_backup(&label, "has no signature".into()))?;
    let manifest: BackupManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| bad_backup(&label, format!("manifest is not valid: {e}")))?;
    if manifest.format != BACKUP_FORMAT {
        return Err(bad_backup(
            &label,
            format!(
                "has format `{}`; this version reads `{BACKUP_FORMAT}`",
                manifest.format
            ),
        ));
    }
    let signature = hex::decode(signature.trim_ascii())
        .map_err(|_| bad_backup(&label, "signature is not hex".into()))?;
    manifest
        .verifying_key()?
        .verify(&manifest_bytes, &signature)
        .map_err(|_| {
            bad_backup(
                &label,
                "the manifest signature does not verify: the backup was modified".into(),
            )
        })?;
    Ok(VerifiedBackup {
        path: path.to_path_buf(),
        manifest,
        manifest_bytes,
    })
}

fn entry_name<R: Read>(entry: &tar::Entry<'_, R>, label: &str) -> Result<String> {
    let path = entry
        .path()
        .map_err(|e| bad_backup(label, format!("has an unreadable entry name: {e}")))?;
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| bad_backup(label, "has a non-UTF-8 entry name".into()))
}

/// What a backup did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// Backup id.
    pub backup_id: String,
    /// Full or incremental.
    pub kind: BackupKind,
    /// The incremental's base.
    pub base: Option<String>,
    /// The file written.
    pub path: PathBuf,
    /// Objects written into this file.
    pub objects_written: usize,
    /// Objects the snapshot references.
    pub objects_total: usize,
    /// Size of the file.
    pub bytes: u64,
    /// Audit head contained in the snapshot.
    pub audit_seq: i64,
    /// The key vault updated alongside.
    pub key_vault: PathBuf,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The backup restored (the tip of the chain).
    pub backup_id: String,
    /// Every backup of the chain, oldest first.
    pub chain: Vec<String>,
    /// When the tip was taken.
    pub created_at: String,
    /// Objects restored.
    pub objects: usize,
    /// Keys put back from the vault.
    pub keys_restored: usize,
    /// Datasets destroyed after the backup was taken: restored as destroyed, content removed.
    pub destroyed_since_backup: Vec<String>,
    /// Query results whose key the vault no longer holds (unreadable; kept as records).
    pub unreadable_results: Vec<String>,
    /// Audit entries in the restored chain (verified).
    pub audit_entries: i64,
    /// The identity public key that signed the backup (hex).
    pub public_key: String,
}

/// Options of [`restore`].
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Backup files or directories holding them; the newest backup and its chain are restored.
    pub sources: Vec<PathBuf>,
    /// New node directory (must not exist or be empty).
    pub target: PathBuf,
    /// Master key file; `None` uses the one named in the backed-up configuration.
    pub master_key_file: Option<PathBuf>,
    /// The key vault.
    pub key_vault: PathBuf,
    /// Refuse backups not signed by this identity public key (hex).
    pub expect_public_key: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Key vault

/// The keys backups leave out, signed by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeyVault {
    format: String,
    node_id: String,
    updated_at: String,
    keys: Vec<VaultKey>,
    destroyed: Vec<VaultTombstone>,
    signature_scheme: String,
    public_key: String,
    signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VaultKey {
    owner: String,
    wrapped: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VaultTombstone {
    dataset_id: String,
    destroyed_at: String,
}

impl KeyVault {
    fn signed_bytes(&self) -> Result<Vec<u8>> {
        let mut unsigned = self.clone();
        unsigned.signature = String::new();
        serde_json::to_vec(&unsigned).map_err(|e| ServiceError::Internal(format!("vault: {e}")))
    }
}

fn owner_label(owner: &KeyOwner) -> String {
    match owner {
        KeyOwner::Dataset(id) => format!("dataset:{id}"),
        KeyOwner::QueryResult(id) => format!("query:{id}"),
        KeyOwner::ProjectKey { project, purpose } => format!("project:{purpose}:{project}"),
        KeyOwner::Setting(key) => format!("setting:{key}"),
    }
}

fn read_vault(path: &Path, public_key: &str, node_id: &str) -> Result<KeyVault> {
    let label = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| ServiceError::Io(format!("cannot read the key vault {label}: {e}")))?;
    if meta.len() > MAX_MANIFEST {
        return Err(ServiceError::BadRequest(format!(
            "key vault {label} is too large"
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| ServiceError::Io(format!("cannot read the key vault {label}: {e}")))?;
    let vault: KeyVault = serde_json::from_slice(&bytes)
        .map_err(|e| ServiceError::BadRequest(format!("key vault {label} is not valid: {e}")))?;
    if vault.format != VAULT_FORMAT {
        return Err(ServiceError::BadRequest(format!(
            "key vault {label} has format `{}`; expected `{VAULT_FORMAT}`",
            vault.format
        )));
    }
    if vault.public_key != public_key || vault.node_id != node_id {
        return Err(ServiceError::BadRequest(format!(
            "key vault {label} belongs to another node than the backup"
        )));
    }
    let scheme: SignatureScheme = vault.signature_scheme.parse().map_err(|_| {
        ServiceError::BadRequest(format!("key vault {label}: unknown signature scheme"))
    })?;
    let public = hex::decode(&vault.public_key)
        .map_err(|_| ServiceError::BadRequest(format!("key vault {label}: bad public key")))?;
    let signature = hex::decode(&vault.signature)
        .map_err(|_| ServiceError::BadRequest(format!("key vault {label}: bad signature")))?;
    NodeVerifyingKey::from_bytes(scheme, &public)?
        .verify(&vault.signed_bytes()?, &signature)
        .map_err(|_| {
            ServiceError::BadRequest(format!(
                "key vault {label}: the signature does not verify: the vault was modified"
            ))
        })?;
    Ok(vault)
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the directory),
/// readable by the owner only.
fn write_atomic_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| ServiceError::Io(format!("cannot write {}: {e}", path.display())))
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Removes the snapshot files when dropped.
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Node {
    /// Where the key vault lives: `[backup] key_vault`, or `<dir>.keyvault`.
    pub fn key_vault_path(&self) -> PathBuf {
        self.config
            .backup
            .as_ref()
            .and_then(|b| b.key_vault.clone())
            .unwrap_or_else(|| default_key_vault_path(&self.dir))
    }

    /// Rewrites the key vault from the store's current keys. `destroying` leaves out a dataset
    /// whose destruction is about to be committed (and records it as destroyed).
    pub(crate) async fn write_key_vault(&self, destroying: Option<&str>) -> Result<PathBuf> {
        let path = self.key_vault_path();
        if crate::node::is_inside(&self.dir, &path) {
            return Err(ServiceError::Config(format!(
                "the key vault {} must not be inside the node directory: it must stay apart from \
                 the data and its backups",
                path.display()
            )));
        }
        let identity = self.identity_key().await?;
        let node_id = self.store.setting("node_id").await?.unwrap_or_default();
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let keys = self
            .store
            .wrapped_keys()
            .await?
            .into_iter()
            .filter(|k| !k.wrapped.is_empty())
            .filter(
                |k| !matches!((&k.owner, destroying), (KeyOwner::Dataset(id), Some(d)) if id == d),
            )
            .map(|k| VaultKey {
                owner: owner_label(&k.owner),
                wrapped: hex::encode(&k.wrapped),
            })
            .collect();
        let mut destroyed: Vec<VaultTombstone> = self
            .store
            .list_datasets()
            .await?
            .into_iter()
            .filter_map(|d| {
                d.destroyed_at.map(|at| VaultTombstone {
                    dataset_id: d.id,
                    destroyed_at: at.to_rfc3339_opts(SecondsFormat::Secs, true),
                })
            })
            .collect();
        if let Some(id) = destroying {
            destroyed.push(VaultTombstone {
                dataset_id: id.to_string(),
                destroyed_at: now.clone(),
            });
        }
        let mut vault = KeyVault {
            format: VAULT_FORMAT.into(),
            node_id,
            updated_at: now,
            keys,
            destroyed,
            signature_scheme: identity.scheme().to_string(),
            public_key: hex::encode(identity.public_key_bytes()),
            signature: String::new(),
        };
        vault.signature = hex::encode(identity.sign(&vault.signed_bytes()?)?);
        let bytes = serde_json::to_vec_pretty(&vault)
            .map_err(|e| ServiceError::Internal(format!("vault: {e}")))?;
        write_atomic_private(&path, &bytes)?;
        Ok(path)
    }

    /// Takes a backup into `output` (a new file). With `base`, an incremental backup holding only
    /// the objects the base chain lacks. Safe while the node serves.
    pub async fn backup(
        &self,
        output: &Path,
        base: Option<&Path>,
        trigger: &str,
    ) -> Result<BackupReport> {
        if output.exists() {
            return Err(ServiceError::Conflict(format!(
                "{} already exists; backups are never overwritten",
                output.display()
            )));
        }
        if self.store.backend() != medspace_store::Backend::Sqlite {
            return Err(ServiceError::Config(
                "medspace backups snapshot the embedded SQLite database; back up a PostgreSQL \
                 node's metadata with PostgreSQL's own point-in-time recovery (pg_basebackup and \
                 WAL archiving) and its objects with the object store's replication"
                    .into(),
            ));
        }
        let identity = self.identity_key().await?;
        let public_key = hex::encode(identity.public_key_bytes());
        let node_id = self.store.setting("node_id").await?.unwrap_or_default();
        let base = match base {
            Some(path) => {
                let b = read_backup_manifest(path)?;
                if b.manifest.public_key != public_key || b.manifest.node_id != node_id {
                    return Err(bad_backup(
                        &path.display().to_string(),
                        "was not taken from this node".into(),
                    ));
                }
                Some(b)
            }
            None => None,
        };
        let backup_id = new_id("bk");
        let kind = if base.is_some() {
            BackupKind::Incremental
        } else {
            BackupKind::Full
        };
        // Recorded first, so the snapshot holds its own record; no record, no backup.
        self.audit(
            system_event("backup.create", &backup_id).with_detail(json!({
                "kind": kind.to_string(),
                "base": base.as_ref().map(|b| b.manifest.backup_id.clone()),
                "trigger": trigger,
            })),
        )
        .await?;

        // Snapshot, then read its object list and audit head, then blank its keys.
        let snapshot = self.dir.join(format!(".{backup_id}.db"));
        let _cleanup = TempFiles(vec![
            snapshot.clone(),
            snapshot.with_extension("db-wal"),
            snapshot.with_extension("db-shm"),
        ]);
        self.store.snapshot_into(&snapshot).await?;
        let medspace_store::SnapshotInfo {
            object_keys,
            audit_head: head,
        } = medspace_store::detach_snapshot(&snapshot).await?;
        let metadata = std::fs::read(&snapshot)?;
        // The vault is written before the backup exists, so no backup needs a key it lacks.
        let key_vault = self.write_key_vault(None).await?;

        let backup_key = SecretKey::generate();
        let key_context = format!("medspace/backup/{backup_id}");
        let wrapped_backup_key = self.keys.wrap(&backup_key, key_context.as_bytes())?;
        let (audit_seq, audit_hash) = head.map(|h| (h.seq, h.hash)).unwrap_or((0, String::new()));
        let created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let (cert_path, key_path) = self.tls_paths();
        let sealed_files = vec![
            (
                "metadata.db.enc",
                EntryKind::Metadata,
                Some(metadata.as_slice().to_vec()),
            ),
            (
                "config.toml.enc",
                EntryKind::Config,
                std::fs::read(self.dir.join(CONFIG_FILE)).ok(),
            ),
            (
                "tls-cert.pem.enc",
                EntryKind::TlsCert,
                std::fs::read(&cert_path).ok(),
            ),
            (
                "tls-key.pem.enc",
                EntryKind::TlsKey,
                std::fs::read(&key_path)
                    .ok()
                    .map(zeroize::Zeroizing::new)
                    .map(|z| z.to_vec()),
            ),
        ];
        drop(metadata);

        let mut sealed = Vec::new();
        for (name, kind, plain) in sealed_files {
            let Some(plain) = plain else {
                continue;
            };
            let plain = zeroize::Zeroizing::new(plain);
            let aad = format!("{key_context}/{name}");
            sealed.push((
                name.to_string(),
                kind,
                encrypt_bytes_with(self.profile, &backup_key, aad.as_bytes(), &plain)?,
            ));
        }

        let mut objects: BTreeMap<String, String> = BTreeMap::new();
        let mut to_copy = Vec::new();
        for key in &object_keys {
            match base
                .as_ref()
                .and_then(|b| b.manifest.objects.get(key).cloned())
            {
                Some(holder) => {
                    objects.insert(key.clone(), holder);
                }
                None => {
                    objects.insert(key.clone(), backup_id.clone());
                    to_copy.push(key.clone());
                }
            }
        }
        let mut manifest = BackupManifest {
            format: BACKUP_FORMAT.into(),
            backup_id: backup_id.clone(),
            node_id,
            node_name: self.config.node_name.clone(),
            profile: self.profile.to_string(),
            created_at,
            kind,
            base: match &base {
                Some(b) => Some(BaseRef {
                    backup_id: b.manifest.backup_id.clone(),
                    manifest_digest: b.manifest_digest()?,
                }),
                None => None,
            },
            master_key_id: self.keys.key_id().to_string(),
            wrapped_backup_key: hex::encode(wrapped_backup_key),
            audit_seq,
            audit_hash,
            entries: Vec::new(),
            objects,
            signature_scheme: identity.scheme().to_string(),
            public_key,
        };

        let store = self.objects.clone();
        let profile = self.profile;
        let partial = output.with_extension("partial");
        let out = output.to_path_buf();
        let copied = to_copy.len();
        let manifest = tokio::task::spawn_blocking(move || -> Result<BackupManifest> {
            let result = write_archive(
                &partial,
                profile,
                &identity,
                &mut manifest,
                &sealed,
                &to_copy,
                store.as_ref(),
            );
            match result {
                Ok(()) => {
                    std::fs::rename(&partial, &out)?;
                    sync_parent(&out)?;
                    Ok(manifest)
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("backup task: {e}")))??;
        let bytes = std::fs::metadata(output)?.len();
        Ok(BackupReport {
            backup_id,
            kind,
            base: manifest.base.map(|b| b.backup_id),
            path: output.to_path_buf(),
            objects_written: copied,
            objects_total: manifest.objects.len(),
            bytes,
            audit_seq: manifest.audit_seq,
            key_vault,
        })
    }

    /// Takes the next backup of a backup directory: a full one when the directory holds none of
    /// this node's backups or the last full one is older than `full_every`, otherwise an
    /// increment on the newest backup.
    pub async fn backup_into(
        &self,
        dir: &Path,
        full_every: chrono::Duration,
        trigger: &str,
    ) -> Result<BackupReport> {
        std::fs::create_dir_all(dir)?;
        let identity = self.identity_key().await?;
        let public_key = hex::encode(identity.public_key_bytes());
        let mine: Vec<VerifiedBackup> = scan_backups(dir)?
            .into_iter()
            .filter(|b| b.manifest.public_key == public_key)
            .collect();
        let newest = mine
            .iter()
            .max_by(|a, b| a.manifest.created_at.cmp(&b.manifest.created_at));
        let base = match newest {
            Some(tip) => {
                let chain = chain_to(tip, &mine)?;
                let full_at = chain
                    .first()
                    .and_then(|f| DateTime::parse_from_rfc3339(&f.manifest.created_at).ok())
                    .map(|t| t.with_timezone(&Utc));
                match full_at {
                    Some(at) if Utc::now() - at < full_every => Some(tip.path.clone()),
                    _ => None,
                }
            }
            None => None,
        };
        let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let kind = if base.is_some() { "incr" } else { "full" };
        let output = dir.join(format!("{stamp}-{kind}.{BACKUP_EXTENSION}"));
        self.backup(&output, base.as_deref(), trigger).await
    }

    /// Starts the backup schedule of `[backup]` (if it names a directory): a backup every
    /// `interval_minutes`, so the recovery point is never older than that. A failed backup is
    /// logged and recorded in the audit log; the schedule carries on.
    pub fn spawn_backup_schedule(&self) -> Option<tokio::task::JoinHandle<()>> {
        let settings: BackupSettings = self.config.backup.clone()?;
        let dir = NodeConfig::resolve(&self.dir, settings.dir.as_ref()?);
        let node = self.clone();
        let period = std::time::Duration::from_secs(settings.interval_minutes * 60);
        let full_every = chrono::Duration::hours(settings.full_every_hours as i64);
        Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            loop {
                ticker.tick().await;
                match node.backup_into(&dir, full_every, "schedule").await {
                    Ok(r) => tracing::info!(
                        backup = %r.backup_id, kind = %r.kind, objects = r.objects_written,
                        "scheduled backup written"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "scheduled backup failed");
                        let _ = node
                            .audit(
                                AuditEvent::new(
                                    "system",
                                    "backup.create",
                                    "schedule",
                                    Outcome::Error,
                                )
                                .with_detail(json!({"error": e.to_string()})),
                            )
                            .await;
                    }
                }
            }
        }))
    }
}

fn write_archive(
    path: &Path,
    profile: CryptoProfile,
    identity: &medspace_crypto::NodeSigningKey,
    manifest: &mut BackupManifest,
    sealed: &[(String, EntryKind, Vec<u8>)],
    objects: &[String],
    store: &dyn ObjectStore,
) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ServiceError::Io(format!("cannot create {}: {e}", path.display())))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let append = |tar: &mut tar::Builder<_>, name: &str, bytes: &[u8]| -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
            .map_err(|e| ServiceError::Io(format!("cannot write {}: {e}", path.display())))
    };
    for (name, kind, bytes) in sealed {
        append(&mut tar, name, bytes)?;
        manifest.entries.push(BackupEntry {
            name: name.clone(),
            kind: *kind,
            object_key: None,
            size: bytes.len() as u64,
            digest: profile.digest_hex(bytes),
        });
    }
    for key in objects {
        let mut bytes = Vec::new();
        store
            .open(key)
            .and_then(|mut r| {
                r.read_to_end(&mut bytes)
                    .map_err(|source| medspace_objects::ObjectError::Io {
                        key: key.clone(),
                        source,
                    })
            })
            .map_err(|e| ServiceError::Io(format!("backup cannot read object: {e}")))?;
        let name = format!("objects/{key}");
        append(&mut tar, &name, &bytes)?;
        manifest.entries.push(BackupEntry {
            name,
            kind: EntryKind::Object,
            object_key: Some(key.clone()),
            size: bytes.len() as u64,
            digest: profile.digest_hex(&bytes),
        });
    }
    let manifest_bytes = serde_json::to_vec_pretty(&*manifest)
        .map_err(|e| ServiceError::Internal(format!("manifest: {e}")))?;
    let signature = hex::encode(identity.sign(&manifest_bytes)?);
    append(&mut tar, MANIFEST, &manifest_bytes)?;
    append(&mut tar, SIGNATURE, signature.as_bytes())?;
    let writer = tar
        .into_inner()
        .map_err(|e| ServiceError::Io(format!("cannot finish {}: {e}", path.display())))?;
    let file = writer
        .into_inner()
        .map_err(|e| ServiceError::Io(format!("cannot finish {}: {e}", path.display())))?;
    file.sync_all()?;
    Ok(())
}

/// Every backup file (`*.msbk`) in `dir` whose signature verifies. Files that fail are skipped
/// with a warning: one damaged file must not stop the schedule.
pub fn scan_backups(dir: &Path) -> Result<Vec<VerifiedBackup>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .map_err(|e| ServiceError::Io(format!("cannot list {}: {e}", dir.display())))?
    {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(BACKUP_EXTENSION) {
            continue;
        }
        match read_backup_manifest(&path) {
            Ok(b) => out.push(b),
            Err(e) => tracing::warn!(file = %path.display(), error = %e, "skipping backup"),
        }
    }
    out.sort_by(|a, b| a.manifest.created_at.cmp(&b.manifest.created_at));
    Ok(out)
}

/// The chain ending at `tip`, oldest (full) first; every link's manifest digest is checked.
fn chain_to(tip: &VerifiedBackup, pool: &[VerifiedBackup]) -> Result<Vec<VerifiedBackup>> {
    let mut chain = vec![tip.clone()];
    let mut seen = BTreeSet::new();
    seen.insert(tip.manifest.backup_id.clone());
    while let Some(base) = chain.last().and_then(|b| b.manifest.base.clone()) {
        let found = pool
            .iter()
            .find(|b| b.manifest.backup_id == base.backup_id)
            .ok_or_else(|| {
                bad_backup(
                    &chain
                        .last()
                        .map(|b| b.path.display().to_string())
                        .unwrap_or_default(),
                    format!("builds on backup {} which was not given", base.backup_id),
                )
            })?;
        if found.manifest_digest()? != base.manifest_digest {
            return Err(bad_backup(
                &found.path.display().to_string(),
                "is not the backup its increment was built on (manifest digest differs)".into(),
            ));
        }
        if !seen.insert(found.manifest.backup_id.clone()) {
            return Err(bad_backup(
                &found.path.display().to_string(),
                "chain loops".into(),
            ));
        }
        chain.push(found.clone());
    }
    chain.reverse();
    match chain.first() {
        Some(first) if first.manifest.kind == BackupKind::Full => Ok(chain),
        _ => Err(bad_backup(
            &tip.path.display().to_string(),
            "its chain does not start with a full backup".into(),
        )),
    }
}

/// Removes a half-restored directory unless disarmed.
struct RestoreGuard {
    dir: PathBuf,
    armed: bool,
}

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Restores the newest backup found in `opts.sources` (with its chain) into a new node directory,
/// verifying everything first. Returns the opened node.
pub async fn restore(opts: &RestoreOptions) -> Result<(Node, RestoreReport)> {
    // 1. Manifests, signatures and the chain.
    let mut pool = Vec::new();
    for source in &opts.sources {
        if source.is_dir() {
            pool.extend(scan_backups(source)?);
        } else {
            pool.push(read_backup_manifest(source)?);
        }
    }
    let tip = pool
        .iter()
        .max_by(|a, b| a.manifest.created_at.cmp(&b.manifest.created_at))
        .ok_or_else(|| ServiceError::BadRequest("no backup was found in the sources given".into()))?
        .clone();
    let chain = chain_to(&tip, &pool)?;
    for b in &chain {
        if b.manifest.public_key != tip.manifest.public_key
            || b.manifest.node_id != tip.manifest.node_id
        {
            return Err(bad_backup(
                &b.path.display().to_string(),
                "was signed by another node than the rest of the chain".into(),
            ));
        }
    }
    if let Some(expected) = &opts.expect_public_key {
        if !expected.eq_ignore_ascii_case(&tip.manifest.public_key) {
            return Err(bad_backup(
                &tip.path.display().to_string(),
                "is not signed by the expected node identity key".into(),
            ));
        }
    }
    let profile = tip.manifest.profile()?;

    // 2. The target directory: new or empty; removed again on failure.
    if opts.target.exists()
        && std::fs::read_dir(&opts.target)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ServiceError::Conflict(format!(
            "{} is not empty; restore into a new directory",
            opts.target.display()
        )));
    }
    std::fs::create_dir_all(opts.target.join("tls"))?;
    let mut guard = RestoreGuard {
        dir: opts.target.clone(),
        armed: true,
    };

    // 3. The entries: every digest checked; the tip's sealed files decrypted; objects restored.
    let objects_root = opts.target.join("objects");
    let objects = LocalObjectStore::new(&objects_root)
        .map_err(|e| ServiceError::Io(format!("cannot create {}: {e}", objects_root.display())))?;
    let mut sealed: BTreeMap<EntryKind, Vec<u8>> = BTreeMap::new();
    let mut restored_objects = 0usize;
    for b in &chain {
        let is_tip = b.manifest.backup_id == tip.manifest.backup_id;
        read_entries(b, profile, |entry, bytes| {
            match entry.kind {
                EntryKind::Object => {
                    let Some(key) = &entry.object_key else {
                        return Err(bad_backup(&entry.name, "object entry without a key".into()));
                    };
                    if tip.manifest.objects.get(key) == Some(&b.manifest.backup_id) {
                        let mut pending = objects
                            .create(key)
                            .map_err(|e| ServiceError::Io(format!("restore: {e}")))?;
                        pending.write_all(&bytes)?;
                        pending
                            .commit()
                            .map_err(|e| ServiceError::Io(format!("restore: {e}")))?;
                        restored_objects += 1;
                    }
                }
                kind if is_tip => {
                    sealed.insert(kind, bytes);
                }
                _ => {}
            }
            Ok(())
        })?;
    }
    if restored_objects != tip.manifest.objects.len() {
        return Err(bad_backup(
            &tip.path.display().to_string(),
            format!(
                "lists {} objects but its chain holds {restored_objects}",
                tip.manifest.objects.len()
            ),
        ));
    }

    // 4. The master key opens the backup key; the sealed files are decrypted.
    let wrapped = hex::decode(&tip.manifest.wrapped_backup_key)
        .map_err(|_| bad_backup(&tip.manifest.backup_id, "wrapped key is not hex".into()))?;
    let key_context = format!("medspace/backup/{}", tip.manifest.backup_id);
    let config_bytes = sealed
        .get(&EntryKind::Config)
        .ok_or_else(|| bad_backup(&tip.manifest.backup_id, "holds no configuration".into()))?
        .clone();
    // The configuration is needed to find the master key, so the key comes from the options when
    // given; otherwise from the configuration, decrypted only after the key opens it below.
    let master_key_file = match &opts.master_key_file {
        Some(p) => p.clone(),
        None => ConfigOverrides::default()
            .from_env()
            .master_key_file
            .ok_or_else(|| {
                ServiceError::Config(
                    "name the master key file (--master-key-file or MEDSPACE_MASTER_KEY_FILE)"
                        .into(),
                )
            })?,
    };
    let ring = Keyring::open(&master_key_file, profile)?;
    let backup_key = ring.unwrap(&wrapped, key_context.as_bytes()).map_err(|e| {
        ServiceError::Config(format!(
            "the master key {} cannot open backup {} ({e}); it needs master key `{}`",
            master_key_file.display(),
            tip.manifest.backup_id,
            tip.manifest.master_key_id
        ))
    })?;
    let decrypt = |name: &str, ciphertext: &[u8]| -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let aad = format!("{key_context}/{name}");
        decrypt_bytes(&backup_key, aad.as_bytes(), ciphertext)
            .map(zeroize::Zeroizing::new)
            .map_err(|_| {
                bad_backup(
                    &tip.manifest.backup_id,
                    format!("`{name}` does not decrypt"),
                )
            })
    };
    let config_text = decrypt("config.toml.enc", &config_bytes)?;
    let mut config: NodeConfig =
        toml::from_str(std::str::from_utf8(&config_text).map_err(|_| {
            bad_backup(&tip.manifest.backup_id, "configuration is not UTF-8".into())
        })?)
        .map_err(|e| bad_backup(&tip.manifest.backup_id, format!("configuration: {e}")))?;
    config.master_key_file = std::fs::canonicalize(&master_key_file).unwrap_or(master_key_file);
    config.hsm = None;
    config.database_url = "sqlite".into();
    config.object_store = "objects".into();
    config.tls_cert = PathBuf::from("tls/cert.pem");
    config.tls_key = PathBuf::from("tls/key.pem");
    if let Some(b) = config.backup.as_mut() {
        b.key_vault = Some(opts.key_vault.clone());
    }
    let metadata = sealed
        .get(&EntryKind::Metadata)
        .ok_or_else(|| bad_backup(&tip.manifest.backup_id, "holds no metadata".into()))?;
    let metadata = decrypt("metadata.db.enc", metadata)?;
    write_atomic_private(&opts.target.join(SQLITE_FILE), &metadata)?;
    drop(metadata);
    if let Some(c) = sealed.get(&EntryKind::TlsCert) {
        let cert = decrypt("tls-cert.pem.enc", c)?;
        std::fs::write(opts.target.join("tls/cert.pem"), &*cert)?;
    }
    if let Some(k) = sealed.get(&EntryKind::TlsKey) {
        let key = decrypt("tls-key.pem.enc", k)?;
        write_atomic_private(&opts.target.join("tls/key.pem"), &key)?;
    }
    config.save(&opts.target)?;

    // 5. Open the node; the vault's keys go back in; later destructions are honoured.
    let node = Node::open(&opts.target, &ConfigOverrides::default()).await?;
    let vault = read_vault(
        &opts.key_vault,
        &tip.manifest.public_key,
        &tip.manifest.node_id,
    )?;
    let by_owner: BTreeMap<&str, &str> = vault
        .keys
        .iter()
        .map(|k| (k.owner.as_str(), k.wrapped.as_str()))
        .collect();
    let tombstones: BTreeMap<&str, &str> = vault
        .destroyed
        .iter()
        .map(|t| (t.dataset_id.as_str(), t.destroyed_at.as_str()))
        .collect();
    let mut keys = Vec::new();
    let mut destroyed_since = Vec::new();
    let mut unreadable_results = Vec::new();
    for k in node.store.wrapped_keys().await? {
        if !k.wrapped.is_empty() {
            continue; // not stripped (the master-key check)
        }
        let label = owner_label(&k.owner);
        match (by_owner.get(label.as_str()), &k.owner) {
            (Some(hex_key), _) => {
                let wrapped = hex::decode(hex_key).map_err(|_| {
                    ServiceError::BadRequest(format!("key vault: key for {label} is not hex"))
                })?;
                node.keys
                    .unwrap(&wrapped, &crate::keys::wrap_context(&k.owner))
                    .map_err(|e| {
                        ServiceError::Config(format!(
                            "key vault: the key for {label} does not open with this master key: {e}"
                        ))
                    })?;
                keys.push(WrappedKeyRef {
                    owner: k.owner.clone(),
                    wrapped,
                });
            }
            (None, KeyOwner::Dataset(id)) => destroyed_since.push(id.clone()),
            (None, KeyOwner::QueryResult(id)) => unreadable_results.push(id.clone()),
            (None, _) => {
                return Err(ServiceError::Config(format!(
                    "the key vault {} has no key for {label}; is it this node's current vault?",
                    opts.key_vault.display()
                )))
            }
        }
    }
    let keys_restored = keys.len();
    node.store
        .replace_wrapped_keys(
            &keys,
            &system_event("backup.restore.keys", &tip.manifest.backup_id)
                .with_detail(json!({"keys": keys_restored})),
        )
        .await?;
    for id in &destroyed_since {
        let at = tombstones
            .get(id.as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now);
        let meta = node.store.dataset(id).await?;
        node.store
            .destroy_dataset(
                id,
                at,
                &system_event("dataset.destroy.restored", id).with_detail(json!({
                    "reason": "destroyed after the backup was taken; its key is not in the vault",
                    "backup": tip.manifest.backup_id,
                })),
            )
            .await?;
        if let Some(meta) = meta {
            let _ = node.objects.delete(&meta.object_key);
        }
    }

    // 6. The audit chain verifies and still holds the backup's head.
    let report = node.verify_audit().await?.map_err(|b| {
        ServiceError::BadRequest(format!("the restored audit log does not verify: {b}"))
    })?;
    if tip.manifest.audit_seq > 0 {
        let entry = node.store.audit_entries(tip.manifest.audit_seq, 1).await?;
        if entry.first().map(|e| e.hash.as_str()) != Some(tip.manifest.audit_hash.as_str()) {
            return Err(bad_backup(
                &tip.manifest.backup_id,
                "the restored audit log does not hold the head the manifest names".into(),
            ));
        }
    }
    node.audit(
        system_event("backup.restore", &tip.manifest.backup_id).with_detail(json!({
            "chain": chain.iter().map(|b| b.manifest.backup_id.clone()).collect::<Vec<_>>(),
            "objects": restored_objects,
            "destroyed_since_backup": destroyed_since,
        })),
    )
    .await?;
    guard.armed = false;
    Ok((
        node,
        RestoreReport {
            backup_id: tip.manifest.backup_id.clone(),
            chain: chain.iter().map(|b| b.manifest.backup_id.clone()).collect(),
            created_at: tip.manifest.created_at.clone(),
            objects: restored_objects,
            keys_restored,
            destroyed_since_backup: destroyed_since,
            unreadable_results,
            audit_entries: report.entries + 1,
            public_key: tip.manifest.public_key.clone(),
        },
    ))
}

/// Reads every entry of a verified backup, checks it is listed with the same size and digest, and
/// hands it to `each`. Entries the manifest does not list, and listed entries that are missing,
/// are refused.
fn read_entries(
    backup: &VerifiedBackup,
    profile: CryptoProfile,
    mut each: impl FnMut(&BackupEntry, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let label = backup.path.display().to_string();
    let listed: BTreeMap<&str, &BackupEntry> = backup
        .manifest
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e))
        .collect();
    let mut seen = BTreeSet::new();
    let file = std::fs::File::open(&backup.path)
        .map_err(|e| ServiceError::Io(format!("cannot open backup {label}: {e}")))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    for entry in archive
        .entries()
        .map_err(|e| bad_backup(&label, format!("is not a backup archive: {e}")))?
    {
        let mut entry =
            entry.map_err(|e| bad_backup(&label, format!("is not a readable archive: {e}")))?;
        let name = entry_name(&entry, &label)?;
        if name == MANIFEST || name == SIGNATURE {
            continue;
        }
        let listed_entry = listed.get(name.as_str()).ok_or_else(|| {
            bad_backup(
                &label,
                format!("holds `{name}`, which the manifest does not list"),
            )
        })?;
        if entry.size() != listed_entry.size || !seen.insert(name.clone()) {
            return Err(bad_backup(
                &label,
                format!("`{name}` does not match the manifest: the backup was modified"),
            ));
        }
        let mut bytes = Vec::with_capacity(listed_entry.size as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad_backup(&label, format!("`{name}` cannot be read: {e}")))?;
        if profile.digest_hex(&bytes) != listed_entry.digest {
            return Err(bad_backup(
                &label,
                format!("`{name}` does not match its digest: the backup was modified"),
            ));
        }
        each(listed_entry, bytes)?;
    }
    if seen.len() != listed.len() {
        return Err(bad_backup(
            &label,
            format!(
                "lists {} entries but holds {}: the backup is incomplete",
                listed.len(),
                seen.len()
            ),
        ));
    }
    Ok(())
}
