//! Node configuration: `medspace.toml` in the node directory, overridden by `MEDSPACE_*` environment
//! variables, overridden by command-line flags.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, ServiceError};

/// Name of the configuration file inside the node directory.
pub const CONFIG_FILE: &str = "medspace.toml";
/// Name of the embedded SQLite database inside the node directory.
pub const SQLITE_FILE: &str = "medspace.db";

/// Settings of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Human name of the node (appears in audit origin and TLS certificate).
    pub node_name: String,
    /// `sqlite` for the embedded file, or a `postgres://…` URL.
    pub database_url: String,
    /// HTTPS listen address.
    pub listen: String,
    /// Crypto profile: `international` (AES-256-GCM, SHA-256, Ed25519) or `national` (SM4-GCM,
    /// SM3, SM2). Fixed at `init`; opening a node under another profile is refused.
    pub profile: String,
    /// Master key file (outside the node directory).
    pub master_key_file: PathBuf,
    /// TLS certificate (PEM), relative to the node directory unless absolute.
    pub tls_cert: PathBuf,
    /// TLS private key (PEM), relative to the node directory unless absolute.
    pub tls_key: PathBuf,
    /// Session idle timeout in minutes (GB/T 39725 §11.1.2.4: 10).
    pub session_idle_minutes: i64,
    /// Failed logins before an account locks.
    pub lockout_threshold: i64,
    /// Smallest group a sandbox result may show (GB/T 39725 §11.4.2.4: 5).
    pub min_group_size: usize,
    /// Smallest k a de-identification policy may declare.
    pub min_k: usize,
    /// Longest period, in days, an application may ask for.
    pub max_application_days: i64,
    /// Where encrypted objects live: a directory (relative to the node directory unless absolute,
    /// or `file:///…`), or `s3://bucket/prefix?endpoint=…&region=…` with credentials from
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (never in this file).
    #[serde(default = "default_object_store")]
    pub object_store: String,
    /// Master key held in a PKCS#11 token (HSM or cipher machine) instead of the key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsm: Option<HsmSettings>,
    /// Certificate reload, the mutual-TLS peer listener and the GM/T (RFC 8998) listener.
    #[serde(default, skip_serializing_if = "TlsSettings::is_default")]
    pub tls: TlsSettings,
    /// Scheduled backups and the key vault that backups rely on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSettings>,
    /// Signed checkpoints of the audit log.
    #[serde(default, skip_serializing_if = "AuditSettings::is_default")]
    pub audit: AuditSettings,
    /// Password, lockout, session, second-factor and account-sweep rules (GB/T 39725-2020
    /// §11.1.2.4, §11.6.2.2).
    #[serde(
        default,
        skip_serializing_if = "crate::identity::AccountSettings::is_default"
    )]
    pub accounts: crate::identity::AccountSettings,
    /// Abnormal-access rules, alert channels and automatic lock (GB/T 39725-2020 §11.1.2.5).
    #[serde(
        default,
        skip_serializing_if = "crate::anomaly::AnomalySettings::is_default"
    )]
    pub anomaly: crate::anomaly::AnomalySettings,
    /// Patient self-service: login codes and the default query window (GB/T 39725-2020 §11.2).
    #[serde(
        default,
        skip_serializing_if = "crate::self_service::PatientSettings::is_default"
    )]
    pub patients: crate::self_service::PatientSettings,
}

/// `[audit]` in medspace.toml — T/CI 857-2024 7.2.6, 7.2.9 e) (checkpoints others can check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Seconds between signed checkpoints while serving (a checkpoint is only signed when the log
    /// grew); 0 turns the timer off (checkpoints then come on demand only).
    #[serde(default = "default_checkpoint_seconds")]
    pub checkpoint_interval_seconds: u64,
    /// Witness cosignatures each checkpoint needs (default: every witness in `witnesses`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_quorum: Option<usize>,
    /// `[[audit.witnesses]]`: witnesses asked to cosign this node's checkpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<crate::witness::WitnessSettings>,
    /// `[[audit.witness_logs]]`: other nodes' logs this node witnesses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witness_logs: Vec<crate::witness::WitnessLogSettings>,
}

fn default_checkpoint_seconds() -> u64 {
    60
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            checkpoint_interval_seconds: default_checkpoint_seconds(),
            witness_quorum: None,
            witnesses: Vec::new(),
            witness_logs: Vec::new(),
        }
    }
}

impl AuditSettings {
    fn is_default(&self) -> bool {
        *self == AuditSettings::default()
    }
}

/// `[tls]` in medspace.toml — DMS 6.2.2 and 7.2.4 (TLS 1.2+, SM2/SM4 in transit); T/CI 857-2024 7.2
/// (identity of the nodes of a data space).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Seconds between checks of the certificate files for changes (0: reload on SIGHUP only).
    #[serde(default = "default_reload_check")]
    pub reload_check_seconds: u64,
    /// Listen address of the mutual-TLS listener for inter-node calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_listen: Option<String>,
    /// CA bundle (PEM) that issues the certificates of peer nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_ca: Option<PathBuf>,
    /// This node's certificate towards peers (default: the API certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_cert: Option<PathBuf>,
    /// Its private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_key: Option<PathBuf>,
    /// Listen address of the RFC 8998 listener (TLS_SM4_GCM_SM3; needs the `gm-tls` build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gm_listen: Option<String>,
    /// Its SM2 certificate (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gm_cert: Option<PathBuf>,
    /// Its SM2 private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gm_key: Option<PathBuf>,
}

fn default_reload_check() -> u64 {
    60
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            reload_check_seconds: default_reload_check(),
            peer_listen: None,
            peer_ca: None,
            peer_cert: None,
            peer_key: None,
            gm_listen: None,
            gm_cert: None,
            gm_key: None,
        }
    }
}

impl TlsSettings {
    /// Whether nothing differs from the defaults (then `[tls]` is not written).
    pub fn is_default(&self) -> bool {
        *self == TlsSettings::default()
    }

    fn validate(&self) -> Result<()> {
        if self.peer_listen.is_some() && self.peer_ca.is_none() {
            return Err(ServiceError::Config(
                "[tls] peer_listen needs peer_ca (the CA bundle that issues peer certificates)"
                    .into(),
            ));
        }
        if self.peer_cert.is_some() != self.peer_key.is_some() {
            return Err(ServiceError::Config(
                "[tls] peer_cert and peer_key go together".into(),
            ));
        }
        if self.gm_listen.is_some() && (self.gm_cert.is_none() || self.gm_key.is_none()) {
            return Err(ServiceError::Config(
                "[tls] gm_listen needs gm_cert and gm_key (an SM2 certificate and key)".into(),
            ));
        }
        Ok(())
    }
}

/// `[backup]` in medspace.toml — DMS 7.2.4.3 (off-site backup, recovery point at most 15 minutes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Directory receiving scheduled backups (ideally another disk or a mounted off-site share).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Minutes between scheduled backups; at most 15 (the recovery point objective).
    #[serde(default = "default_backup_interval")]
    pub interval_minutes: u64,
    /// Hours after which the next scheduled backup is a full one instead of an increment.
    #[serde(default = "default_full_every")]
    pub full_every_hours: u64,
    /// The key vault: the wrapped data keys that backups leave out. Default `<dir>.keyvault`
    /// beside the node directory; keep it apart from the backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_vault: Option<PathBuf>,
}

fn default_backup_interval() -> u64 {
    15
}

fn default_full_every() -> u64 {
    24
}

/// `[hsm]` in medspace.toml: where the non-extractable master key lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmSettings {
    /// PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// Token label.
    pub token_label: String,
    /// Label of the master key object.
    pub key_label: String,
    /// Environment variable holding the user PIN (the PIN itself is never written here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_env: Option<String>,
    /// Or a file (mode 0600) holding the user PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
}

impl HsmSettings {
    /// The provider configuration; exactly one PIN source must be given.
    pub fn pkcs11(&self) -> Result<medspace_hsm::Pkcs11Config> {
        let pin = match (&self.pin_env, &self.pin_file) {
            (Some(var), None) => medspace_hsm::PinSource::Env(var.clone()),
            (None, Some(file)) => medspace_hsm::PinSource::File(file.clone()),
            _ => {
                return Err(ServiceError::Config(
                    "[hsm] needs exactly one of `pin_env` or `pin_file`".into(),
                ))
            }
        };
        Ok(medspace_hsm::Pkcs11Config::new(
            &self.module,
            &self.token_label,
            pin,
            &self.key_label,
        ))
    }
}

fn default_object_store() -> String {
    "objects".into()
}

impl NodeConfig {
    /// Defaults for a node in `dir`.
    pub fn defaults(dir: &Path) -> Self {
        NodeConfig {
            node_name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "medspace".into()),
            database_url: "sqlite".into(),
            listen: "127.0.0.1:8443".into(),
            profile: "international".into(),
            master_key_file: default_master_key_path(dir),
            tls_cert: PathBuf::from("tls/cert.pem"),
            tls_key: PathBuf::from("tls/key.pem"),
            session_idle_minutes: 10,
            lockout_threshold: 5,
            min_group_size: 5,
            min_k: 5,
            max_application_days: 366,
            object_store: default_object_store(),
            hsm: None,
            tls: TlsSettings::default(),
            backup: None,
            audit: AuditSettings::default(),
            accounts: crate::identity::AccountSettings::default(),
            anomaly: crate::anomaly::AnomalySettings::default(),
            patients: crate::self_service::PatientSettings::default(),
        }
    }

    /// Reads `dir/medspace.toml`, then applies environment and flag overrides.
    pub fn load(dir: &Path, overrides: &ConfigOverrides) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ServiceError::Config(format!(
                "cannot read {}: {e}; is `{}` a medspace node directory (run `medspace init --dir {}`)?",
                path.display(),
                dir.display(),
                dir.display()
            ))
        })?;
        let mut config: NodeConfig = toml::from_str(&text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((0, 0));
            ServiceError::Config(format!("{}:{line}:{col}: {}", path.display(), e.message()))
        })?;
        overrides.from_env().apply(&mut config);
        overrides.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Writes `dir/medspace.toml`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| ServiceError::Internal(format!("config encode: {e}")))?;
        let header = "# medspace node configuration. Environment variables MEDSPACE_* and command-line flags override these values.\n";
        std::fs::write(dir.join(CONFIG_FILE), format!("{header}{text}"))?;
        Ok(())
    }

    /// The object store location with a relative directory resolved against the node directory.
    pub fn object_store_location(&self, dir: &Path) -> String {
        let loc = self.object_store.trim();
        if loc.contains("://") {
            loc.to_string()
        } else {
            NodeConfig::resolve(dir, Path::new(loc))
                .display()
                .to_string()
        }
    }

    /// The parsed crypto profile.
    pub fn crypto_profile(&self) -> Result<medspace_crypto::CryptoProfile> {
        self.profile.parse().map_err(|_| {
            ServiceError::Config(format!(
                "profile `{}` is not known; expected `international` or `national`",
                self.profile
            ))
        })
    }

    /// Checks value ranges.
    pub fn validate(&self) -> Result<()> {
        self.crypto_profile()?;
        self.accounts.validate()?;
        self.anomaly.validate()?;
        self.patients.validate()?;
        if self.min_group_size < 5 {
            return Err(ServiceError::Config(
                "min_group_size must be at least 5 (GB/T 39725-2020 §11.4.2.4)".into(),
            ));
        }
        if self.min_k < 2 {
            return Err(ServiceError::Config("min_k must be at least 2".into()));
        }
        if !(1..=24 * 60).contains(&self.session_idle_minutes) {
            return Err(ServiceError::Config(
                "session_idle_minutes must be between 1 and 1440".into(),
            ));
        }
        if self.lockout_threshold < 1 {
            return Err(ServiceError::Config(
                "lockout_threshold must be at least 1".into(),
            ));
        }
        self.tls.validate()?;
        self.audit.validate_witnesses()?;
        if let Some(b) = &self.backup {
            if !(1..=15).contains(&b.interval_minutes) {
                return Err(ServiceError::Config(
                    "[backup] interval_minutes must be between 1 and 15 (recovery point of at \
                     most 15 minutes, DMS 7.2.4.3)"
                        .into(),
                ));
            }
            if b.full_every_hours == 0 {
                return Err(ServiceError::Config(
                    "[backup] full_every_hours must be at least 1".into(),
                ));
            }
        }
        Ok(())
    }

    /// A path from the configuration, resolved against the node directory.
    pub fn resolve(dir: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    }
}

/// `<dir>.keyvault`, beside (never inside) the node directory: where the keys left out of backups
/// are kept.
pub fn default_key_vault_path(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "medspace".into());
    let parent = dir.parent().unwrap_or_else(|| Path::new("."));
    parent.join(format!("{name}.keyvault"))
}

/// `<dir>.masterkey`, beside (never inside) the node directory.
pub fn default_master_key_path(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "medspace".into());
    let parent = dir.parent().unwrap_or_else(|| Path::new("."));
    parent.join(format!("{name}.masterkey"))
}

/// Values that win over the configuration file.
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    /// `--database-url` / `MEDSPACE_DATABASE_URL`.
    pub database_url: Option<String>,
    /// `--listen` / `MEDSPACE_LISTEN`.
    pub listen: Option<String>,
    /// `MEDSPACE_MASTER_KEY_FILE`.
    pub master_key_file: Option<PathBuf>,
    /// `MEDSPACE_SESSION_IDLE_MINUTES`.
    pub session_idle_minutes: Option<i64>,
    /// `MEDSPACE_OBJECT_STORE`.
    pub object_store: Option<String>,
}

impl ConfigOverrides {
    /// Overrides read from `MEDSPACE_*` environment variables.
    pub fn from_env(&self) -> ConfigOverrides {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        ConfigOverrides {
            database_url: var("MEDSPACE_DATABASE_URL"),
            listen: var("MEDSPACE_LISTEN"),
            master_key_file: var("MEDSPACE_MASTER_KEY_FILE").map(PathBuf::from),
            session_idle_minutes: var("MEDSPACE_SESSION_IDLE_MINUTES").and_then(|v| v.parse().ok()),
            object_store: var("MEDSPACE_OBJECT_STORE"),
        }
    }

    /// Applies the values that are set.
    pub fn apply(&self, c: &mut NodeConfig) {
        if let Some(v) = &self.database_url {
            c.database_url = v.clone();
        }
        if let Some(v) = &self.listen {
            c.listen = v.clone();
        }
        if let Some(v) = &self.master_key_file {
            c.master_key_file = v.clone();
        }
        if let Some(v) = self.session_idle_minutes {
            c.session_idle_minutes = v;
        }
        if let Some(v) = &self.object_store {
            c.object_store = v.clone();
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_key_defaults_beside_the_node_directory() {
        let p = default_master_key_path(Path::new("/srv/node-a"));
        assert_eq!(p, PathBuf::from("/srv/node-a.masterkey"));
        assert!(!p.starts_with("/srv/node-a/"));
    }

    #[test]
    fn file_then_flags_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = NodeConfig::defaults(dir.path());
        c.listen = "127.0.0.1:9000".into();
        c.save(dir.path()).unwrap();
        let flags = ConfigOverrides {
            listen: Some("127.0.0.1:9443".into()),
            ..Default::default()
        };
        let loaded = NodeConfig::load(dir.path(), &flags).unwrap();
        assert_eq!(loaded.listen, "127.0.0.1:9443");
        let loaded = NodeConfig::load(dir.path(), &ConfigOverrides::default()).unwrap();
        assert!(loaded.listen == "127.0.0.1:9000" || std::env::var("MEDSPACE_LISTEN").is_ok());
    }

    #[test]
    fn bad_config_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "node_name = \"x\"\nlisten = 5\n",
        )
        .unwrap();
        let err = NodeConfig::load(dir.path(), &ConfigOverrides::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("medspace.toml:"), "{msg}");
    }

    #[test]
    fn tls_section_is_optional_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let c = NodeConfig::defaults(dir.path());
        c.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
        assert!(!text.contains("[tls]"), "{text}");
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            format!("{text}\n[tls]\npeer_listen = \"127.0.0.1:8444\"\npeer_ca = \"tls/peers.pem\"\nreload_check_seconds = 5\n"),
        )
        .unwrap();
        let loaded = NodeConfig::load(dir.path(), &ConfigOverrides::default()).unwrap();
        assert_eq!(loaded.tls.reload_check_seconds, 5);
        assert_eq!(loaded.tls.peer_ca, Some(PathBuf::from("tls/peers.pem")));
        let mut bad = loaded.clone();
        bad.tls.peer_ca = None;
        assert!(bad.validate().unwrap_err().to_string().contains("peer_ca"));
        let mut bad = loaded;
        bad.tls.gm_listen = Some("127.0.0.1:8445".into());
        assert!(bad.validate().unwrap_err().to_string().contains("gm_cert"));
    }

    #[test]
    fn small_group_size_below_five_is_refused() {
        let mut c = NodeConfig::defaults(Path::new("/tmp/x"));
        c.min_group_size = 3;
        assert!(c.validate().is_err());
    }
}
