//! Creating and opening a node: directory layout, master key, metadata store, TLS certificate and the
//! first administrator.
//!
//! Layout of a node directory `D`:
//! - `D/medspace.toml` — configuration;
//! - `D/medspace.db` — SQLite metadata (when no PostgreSQL URL is configured);
//! - `D/objects/` — encrypted dataset content and query results;
//! - `D/tls/` — the HTTPS certificate and key.
//!
//! The master key never lives inside `D` (T/CI 857-2024 6.3; DMS 7.2.4): by default it is
//! `D.masterkey` beside the directory, created with mode 0600.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use medspace_core::{new_id, AuditEvent, Outcome, Role, User};
use medspace_crypto::{CryptoProfile, KeyProvider, Keyring, SecretKey};
use medspace_objects::ObjectStore;
use medspace_store::{AuditCommitter, PgStore, SqliteStore, Store};
use serde_json::json;

use crate::accounts::{generate_one_time_password, hash_password};
use crate::config::{ConfigOverrides, NodeConfig, CONFIG_FILE, SQLITE_FILE};
use crate::error::{Result, ServiceError};

pub(crate) const KEY_CHECK_CONTEXT: &[u8] = b"medspace/key-check/v1";

/// A running node: configuration, metadata store, master key and object store.
#[derive(Debug, Clone)]
pub struct Node {
    pub(crate) dir: PathBuf,
    pub(crate) config: NodeConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Arc<dyn KeyProvider>,
    pub(crate) objects: Arc<dyn ObjectStore>,
    pub(crate) profile: CryptoProfile,
    /// Group commit of standalone audit events (reads, denials, logins).
    pub(crate) committer: AuditCommitter,
    /// The access-policy decision point, reloaded when the stored policy version changes.
    pub(crate) policies: Arc<crate::patients::PolicyCache>,
    /// Recent record reads per account, for the frequency and volume rules.
    pub(crate) access_window: Arc<crate::anomaly::AccessWindow>,
    /// Where patients' login codes are sent.
    pub(crate) sms: Arc<dyn crate::self_service::SmsGateway>,
}

/// Options of `medspace init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Node directory to create.
    pub dir: PathBuf,
    /// PostgreSQL URL; `None` for the embedded SQLite file.
    pub database_url: Option<String>,
    /// Crypto profile.
    pub profile: Option<String>,
    /// Master key file; `None` uses `MEDSPACE_MASTER_KEY_FILE` or `<dir>.masterkey`.
    pub master_key_file: Option<PathBuf>,
    /// Login name of the first administrator.
    pub admin_username: String,
    /// HTTPS listen address to record.
    pub listen: Option<String>,
    /// Keep the master key in a PKCS#11 token instead of a key file (created there if missing).
    pub hsm: Option<crate::config::HsmSettings>,
}

/// What `init` did; the one-time password is shown once and stored only as a hash.
#[derive(Debug)]
pub struct InitOutcome {
    /// Administrator login.
    pub admin_username: String,
    /// One-time password, to be changed at first login.
    pub admin_password: String,
    /// Where the master key is.
    pub master_key_file: PathBuf,
    /// Whether `init` created the key file (or found an existing one).
    pub master_key_created: bool,
    /// Database description (password removed).
    pub database: String,
    /// The TLS certificate.
    pub tls_cert: PathBuf,
}

pub(crate) fn system_event(action: &str, target: &str) -> AuditEvent {
    AuditEvent::new("system", action, target, Outcome::Success)
}

/// The PKCS#11 master key. Its mechanisms are AES-GCM and HMAC-SHA-256, which the national
/// profile does not allow for key wrapping, so that combination is refused rather than silently
/// weakened.
fn open_hsm(
    hsm: &crate::config::HsmSettings,
    profile: CryptoProfile,
    create: bool,
) -> Result<medspace_hsm::Pkcs11KeyProvider> {
    if profile == CryptoProfile::National {
        return Err(ServiceError::Config(
            "an HSM master key is supported with the international profile only (SM4 key \
             wrapping needs vendor PKCS#11 mechanisms); use a key file or the international profile"
                .into(),
        ));
    }
    let cfg = hsm.pkcs11()?;
    let provider = if create {
        medspace_hsm::Pkcs11KeyProvider::generate_key(&cfg)
    } else {
        medspace_hsm::Pkcs11KeyProvider::open(&cfg)
    };
    provider.map_err(|e| ServiceError::Crypto(format!("HSM master key: {e}")))
}

fn open_objects(dir: &Path, config: &NodeConfig) -> Result<Arc<dyn ObjectStore>> {
    let location = config.object_store_location(dir);
    if !location.contains("://") {
        std::fs::create_dir_all(&location)?;
    }
    medspace_objects::open_object_store(&location)
        .map_err(|e| ServiceError::Config(format!("object_store `{}`: {e}", config.object_store)))
}

async fn open_store(dir: &Path, config: &NodeConfig) -> Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if config.database_url == "sqlite" {
        Arc::new(SqliteStore::open(&dir.join(SQLITE_FILE)).await?)
    } else if config.database_url.starts_with("postgres://")
        || config.database_url.starts_with("postgresql://")
    {
        Arc::new(PgStore::connect(&config.database_url).await?)
    } else {
        return Err(ServiceError::Config(format!(
            "database_url `{}` is not understood; expected `sqlite` or a postgres:// URL",
            medspace_store::redact_url(&config.database_url)
        )));
    };
    store.migrate().await?;
    Ok(store)
}

pub(crate) fn is_inside(dir: &Path, file: &Path) -> bool {
    let abs = |p: &Path| -> PathBuf {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    };
    abs(file).starts_with(abs(dir))
}

impl Node {
    /// Creates a node in `opts.dir`.
    pub async fn init(opts: InitOptions) -> Result<(Node, InitOutcome)> {
        let dir = opts.dir.clone();
        if dir.join(CONFIG_FILE).exists() {
            return Err(ServiceError::Conflict(format!(
                "{} already holds a medspace node",
                dir.display()
            )));
        }
        let mut config = NodeConfig::defaults(&dir);
        if let Some(url) = &opts.database_url {
            config.database_url = url.clone();
        }
        if let Some(p) = &opts.profile {
            config.profile = p.clone();
        }
        if let Some(l) = &opts.listen {
            config.listen = l.clone();
        }
        let env = ConfigOverrides::default().from_env();
        if let Some(k) = opts.master_key_file.clone().or(env.master_key_file) {
            config.master_key_file = k;
        }
        config.hsm = opts.hsm.clone();
        config.validate()?;
        if config.hsm.is_none() && is_inside(&dir, &config.master_key_file) {
            return Err(ServiceError::Config(format!(
                "the master key file {} must not be inside the node directory {}",
                config.master_key_file.display(),
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir.join("tls"))?;

        let profile = config.crypto_profile()?;
        let (keys, created): (Arc<dyn KeyProvider>, bool) = match &config.hsm {
            Some(hsm) => (Arc::new(open_hsm(hsm, profile, true)?), false),
            None if config.master_key_file.exists() => (
                Arc::new(Keyring::open(&config.master_key_file, profile)?),
                false,
            ),
            None => (
                Arc::new(Keyring::create(&config.master_key_file, profile)?),
                true,
            ),
        };
        // An absolute path, so the node opens from any working directory.
        if let Ok(abs) = std::fs::canonicalize(&config.master_key_file) {
            config.master_key_file = abs;
        }

        let (cert_pem, key_pem) = self_signed_certificate(&config.node_name)?;
        let cert_path = NodeConfig::resolve(&dir, &config.tls_cert);
        let key_path = NodeConfig::resolve(&dir, &config.tls_key);
        std::fs::write(&cert_path, cert_pem)?;
        write_private(&key_path, key_pem.as_bytes())?;
        config.save(&dir)?;

        let store = open_store(&dir, &config).await?;
        if store.setting("node_id").await?.is_some() {
            return Err(ServiceError::Conflict(
                "the database already holds a medspace node; use an empty database or schema"
                    .into(),
            ));
        }
        let node_id = new_id("node");
        store
            .put_setting("node_id", &node_id, &system_event("node.init", &node_id))
            .await?;
        store
            .put_setting(
                "profile",
                &config.profile,
                &system_event("node.profile", &config.profile),
            )
            .await?;
        let check = keys.wrap(&SecretKey::generate(), KEY_CHECK_CONTEXT)?;
        store
            .put_setting(
                "master_key_check",
                &hex::encode(check),
                &system_event("keys.master.register", keys.key_id()),
            )
            .await?;

        let objects = open_objects(&dir, &config)?;
        let node = Node {
            dir,
            config,
            committer: AuditCommitter::start(store.clone()),
            policies: Default::default(),
            access_window: Default::default(),
            sms: Arc::new(crate::self_service::LogSmsGateway),
            store,
            keys,
            objects,
            profile,
        };
        // Created now, not on first use, so concurrent first uses cannot race to create two.
        node.identity_key().await?;

        let password = generate_one_time_password();
        let admin = User {
            id: new_id("u"),
            username: opts.admin_username.clone(),
            role: Role::Administrator,
            password_hash: hash_password(&password)?,
            must_change_password: true,
            failed_logins: 0,
            locked: false,
            disabled: false,
            created_at: Utc::now(),
        };
        node.store
            .insert_user(
                &admin,
                &system_event("account.create", &admin.id)
                    .with_detail(json!({"role": "administrator"})),
            )
            .await?;

        let outcome = InitOutcome {
            admin_username: admin.username.clone(),
            admin_password: password,
            master_key_file: node.config.master_key_file.clone(),
            master_key_created: created,
            database: if node.config.database_url == "sqlite" {
                node.dir.join(SQLITE_FILE).display().to_string()
            } else {
                medspace_store::redact_url(&node.config.database_url)
            },
            tls_cert: cert_path,
        };
        Ok((node, outcome))
    }

    /// Opens an existing node.
    pub async fn open(dir: &Path, overrides: &ConfigOverrides) -> Result<Node> {
        let config = NodeConfig::load(dir, overrides)?;
        let profile = config.crypto_profile()?;
        let keys: Arc<dyn KeyProvider> = match &config.hsm {
            Some(hsm) => Arc::new(open_hsm(hsm, profile, false)?),
            None => Arc::new(Keyring::open(&config.master_key_file, profile)?),
        };
        let store = open_store(dir, &config).await?;
        // The profile is fixed at init: a changed configuration must not silently switch
        // algorithms (and with them every derived key and pseudonym).
        if let Some(recorded) = store.setting("profile").await? {
            if recorded != config.profile {
                return Err(ServiceError::Config(format!(
                    "this node was initialised with the `{recorded}` crypto profile; the \
                     configuration asks for `{}`. A node's profile cannot change",
                    config.profile
                )));
            }
        }
        let check = store.setting("master_key_check").await?.ok_or_else(|| {
            ServiceError::Config("the database holds no node; run `medspace init` first".into())
        })?;
        let check = hex::decode(check)
            .map_err(|_| ServiceError::Config("stored master key check is corrupt".into()))?;
        keys.unwrap(&check, KEY_CHECK_CONTEXT).map_err(|_| {
            ServiceError::Config(format!(
                "the master key {} does not belong to this node",
                config.master_key_file.display()
            ))
        })?;
        let objects = open_objects(dir, &config)?;
        Ok(Node {
            dir: dir.to_path_buf(),
            config,
            committer: AuditCommitter::start(store.clone()),
            policies: Default::default(),
            access_window: Default::default(),
            sms: Arc::new(crate::self_service::LogSmsGateway),
            store,
            keys,
            objects,
            profile,
        })
    }

    /// Closes the metadata store cleanly; call before the process exits.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The node's crypto profile.
    pub fn profile(&self) -> CryptoProfile {
        self.profile
    }

    /// The node directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The effective configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The metadata store (for the server's health check and for tests).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// TLS certificate and key paths.
    pub fn tls_paths(&self) -> (PathBuf, PathBuf) {
        (
            NodeConfig::resolve(&self.dir, &self.config.tls_cert),
            NodeConfig::resolve(&self.dir, &self.config.tls_key),
        )
    }

    /// Appends an audit event on its own; the caller's operation must fail if this fails.
    pub(crate) async fn audit(&self, event: AuditEvent) -> Result<()> {
        self.committer.append(event).await?;
        Ok(())
    }

    /// Appends a standalone audit event through the group committer and returns its receipt once
    /// it is durable (for callers outside this crate: the server's TLS reload, load tests).
    pub async fn append_audit_event(
        &self,
        event: AuditEvent,
    ) -> Result<medspace_store::AuditReceipt> {
        Ok(self.committer.append(event).await?)
    }
}

fn self_signed_certificate(node_name: &str) -> Result<(String, String)> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let sanitized: String = node_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    if !sanitized.is_empty() && sanitized != "localhost" {
        names.push(sanitized);
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| ServiceError::Crypto(format!("TLS certificate generation failed: {e}")))?;
    Ok((certified.cert.pem(), certified.key_pair.serialize_pem()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_inside_node_dir_is_detected() {
        assert!(is_inside(Path::new("/srv/n"), Path::new("/srv/n/key")));
        assert!(is_inside(Path::new("/srv/n"), Path::new("/srv/x/../n/key")));
        assert!(!is_inside(
            Path::new("/srv/n"),
            Path::new("/srv/n.masterkey")
        ));
    }
}
