//! Key lifecycle of a node: per-project keys, master-key rotation and retirement — T/CI 857-2024
//! 6.3 (key generation, storage, rotation, destruction) and 7.1.1; DMS 7.2.4; GB/T 39725-2020
//! §10.1 i), §10.2 f) (pseudonymisation keys kept separately from the data).
//!
//! Per-project keys (pseudonym, date shift) are random and stored wrapped by the master key, not
//! derived from it, so rotating the master key never changes a pseudonym. Rotation adds a master
//! key version to the keyring file, then rewraps every wrapped key the store holds under it in one
//! audited transaction: data is never re-encrypted. A version can be retired once no wrapped key
//! names it.

use std::collections::BTreeMap;

use medspace_core::{AuditEvent, Outcome};
use medspace_crypto::{
    decrypt_bytes, encrypt_bytes_with, wrapped_key_id, KeyProvider, Keyring, NodeSigningKey,
    SecretKey,
};
use medspace_store::{KeyOwner, StoreError, WrappedKeyRef};
use serde::Serialize;
use serde_json::json;

use crate::error::{Result, ServiceError};
use crate::node::{system_event, Node, KEY_CHECK_CONTEXT};

/// The context a wrapped key is bound to, by where it is stored.
pub(crate) fn wrap_context(owner: &KeyOwner) -> Vec<u8> {
    match owner {
        KeyOwner::Dataset(id) | KeyOwner::QueryResult(id) => id.as_bytes().to_vec(),
        KeyOwner::ProjectKey { project, purpose } => project_key_context(project, purpose),
        KeyOwner::Setting(key) if key == "master_key_check" => KEY_CHECK_CONTEXT.to_vec(),
        KeyOwner::Setting(key) => format!("medspace/setting/{key}").into_bytes(),
    }
}

fn project_key_context(project: &str, purpose: &str) -> Vec<u8> {
    format!("medspace/project-key/{purpose}/{project}").into_bytes()
}

/// Master-key versions and how many wrapped keys each still protects.
#[derive(Debug, Clone, Serialize)]
pub struct KeyStatus {
    /// Crypto profile of the node.
    pub profile: String,
    /// The version that wraps new keys.
    pub active: String,
    /// Every version in the keyring, oldest first, with the number of wrapped keys naming it.
    pub versions: Vec<KeyVersionUse>,
    /// Wrapped keys naming a version the keyring no longer holds (undecryptable).
    pub orphaned: usize,
}

/// One master-key version's use.
#[derive(Debug, Clone, Serialize)]
pub struct KeyVersionUse {
    /// Key id (`file:v2:…`).
    pub key_id: String,
    /// Wrapped keys naming it.
    pub wrapped_keys: usize,
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    /// The previous active version.
    pub previous: String,
    /// The new active version.
    pub active: String,
    /// Wrapped keys rewrapped under it.
    pub rewrapped: usize,
}

impl Node {
    /// The per-project key for `purpose`, created (random) and stored wrapped on first use.
    pub(crate) async fn project_key(&self, project: &str, purpose: &str) -> Result<SecretKey> {
        let context = project_key_context(project, purpose);
        if let Some(wrapped) = self.store.project_key(project, purpose).await? {
            return Ok(self.keys.unwrap(&wrapped, &context)?);
        }
        let key = SecretKey::generate();
        let wrapped = self.keys.wrap(&key, &context)?;
        let event = system_event("keys.project.create", project)
            .with_detail(json!({"purpose": purpose, "master_key": self.keys.key_id()}));
        match self
            .store
            .insert_project_key(project, purpose, &wrapped, &event)
            .await
        {
            Ok(_) => Ok(key),
            // Another request created it first: use theirs.
            Err(StoreError::AlreadyExists { .. }) => {
                let wrapped = self
                    .store
                    .project_key(project, purpose)
                    .await?
                    .ok_or_else(|| ServiceError::Internal("project key vanished".into()))?;
                Ok(self.keys.unwrap(&wrapped, &context)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The node identity key (Ed25519, or SM2 in the national profile), created on first use.
    ///
    /// Its PKCS#8 form is stored encrypted under a data key that is itself stored wrapped by the
    /// master key (setting `wrapped_key.identity`), so it follows master-key rotation like every
    /// other key and never exists in plaintext at rest.
    pub async fn identity_key(&self) -> Result<NodeSigningKey> {
        const CONTEXT: &[u8] = b"medspace/setting/wrapped_key.identity";
        if let (Some(wrapped), Some(sealed)) = (
            self.store.setting("wrapped_key.identity").await?,
            self.store.setting("identity_key").await?,
        ) {
            let corrupt =
                || ServiceError::Internal("the stored node identity key is corrupt".into());
            let wrapped = hex::decode(wrapped).map_err(|_| corrupt())?;
            let sealed = hex::decode(sealed).map_err(|_| corrupt())?;
            let dek = self.keys.unwrap(&wrapped, CONTEXT)?;
            let der = zeroize::Zeroizing::new(decrypt_bytes(&dek, CONTEXT, &sealed)?);
            return Ok(NodeSigningKey::from_pkcs8_der(&der)?);
        }
        let key = NodeSigningKey::generate(self.profile.signature_scheme())?;
        let dek = SecretKey::generate();
        let sealed = encrypt_bytes_with(self.profile, &dek, CONTEXT, &key.to_pkcs8_der()?)?;
        let wrapped = self.keys.wrap(&dek, CONTEXT)?;
        let public = hex::encode(key.public_key_bytes());
        let event = |what: &str| {
            system_event("keys.identity.create", what).with_detail(
                json!({"scheme": key.scheme().to_string(), "public_key": public.clone()}),
            )
        };
        // Sealed key first, wrapped data key last: `identity_key` is only read once both exist.
        self.store
            .put_setting("identity_key", &hex::encode(sealed), &event("sealed"))
            .await?;
        self.store
            .put_setting("identity_public", &public, &event("public"))
            .await?;
        self.store
            .put_setting(
                "wrapped_key.identity",
                &hex::encode(wrapped),
                &event("wrapped"),
            )
            .await?;
        Ok(key)
    }

    /// [`Node::key_status`] for an API caller (security officers and auditors), audited.
    pub async fn key_status_for(&self, caller: &crate::access::Caller) -> Result<KeyStatus> {
        self.require(caller, crate::access::Action::ViewKeyStatus)
            .await?;
        let status = self.key_status().await?;
        self.audit(caller.event("keys.status", &status.active, Outcome::Success))
            .await?;
        Ok(status)
    }

    /// Master-key versions in the keyring and their use.
    pub async fn key_status(&self) -> Result<KeyStatus> {
        let (active, held) = self.held_key_ids()?;
        let mut uses: BTreeMap<String, usize> = BTreeMap::new();
        for k in self.store.wrapped_keys().await? {
            *uses
                .entry(wrapped_key_id(&k.wrapped)?.to_string())
                .or_default() += 1;
        }
        let versions = held
            .iter()
            .map(|id| KeyVersionUse {
                key_id: id.clone(),
                wrapped_keys: uses.get(id).copied().unwrap_or(0),
            })
            .collect();
        let orphaned = uses
            .iter()
            .filter(|(id, _)| !held.contains(id))
            .map(|(_, n)| n)
            .sum();
        Ok(KeyStatus {
            profile: self.profile.to_string(),
            active,
            versions,
            orphaned,
        })
    }

    /// Creates a new master-key version and rewraps every stored data key under it, in one
    /// audited transaction. Data objects are not touched. If the rewrap fails, the new version
    /// stays in the keyring unused and everything still unwraps with the old one.
    pub async fn rotate_master_key(&mut self) -> Result<RotationReport> {
        let mut ring = self.open_keyring()?;
        let previous = ring.key_id().to_string();
        let active = ring.rotate()?;
        let stored = self.store.wrapped_keys().await?;
        let mut rewrapped = Vec::with_capacity(stored.len());
        for k in &stored {
            let context = wrap_context(&k.owner);
            let key = ring.unwrap(&k.wrapped, &context)?;
            rewrapped.push(WrappedKeyRef {
                owner: k.owner.clone(),
                wrapped: ring.wrap(&key, &context)?,
            });
        }
        let event = AuditEvent::new("system", "keys.rotate", &active, Outcome::Success)
            .with_detail(json!({"previous": previous, "rewrapped": rewrapped.len()}));
        self.store.replace_wrapped_keys(&rewrapped, &event).await?;
        self.keys = std::sync::Arc::new(ring);
        // The vault must follow, or retiring the old version would void every backup.
        if self.key_vault_path().exists() {
            self.write_key_vault(None).await.map_err(|e| {
                ServiceError::Internal(format!(
                    "the keys were rewrapped under {active}, but the key vault was not updated \
                     ({e}); run `medspace backup` before retiring {previous}"
                ))
            })?;
        }
        Ok(RotationReport {
            previous,
            active,
            rewrapped: rewrapped.len(),
        })
    }

    /// Removes a master-key version from the keyring once no wrapped key names it.
    pub async fn retire_master_key(&mut self, key_id: &str) -> Result<()> {
        let mut ring = self.open_keyring()?;
        let in_use = self
            .store
            .wrapped_keys()
            .await?
            .iter()
            .filter(|k| wrapped_key_id(&k.wrapped).is_ok_and(|id| id == key_id))
            .count();
        if in_use > 0 {
            return Err(ServiceError::Conflict(format!(
                "master key `{key_id}` still protects {in_use} wrapped keys; run `medspace keys \
                 rotate` first"
            )));
        }
        // Audited first: if the record cannot be written, the key is not removed.
        self.audit(AuditEvent::new(
            "system",
            "keys.retire",
            key_id,
            Outcome::Success,
        ))
        .await?;
        ring.retire(key_id)?;
        self.keys = std::sync::Arc::new(ring);
        Ok(())
    }

    fn open_keyring(&self) -> Result<Keyring> {
        if self.config.hsm.is_some() {
            return Err(ServiceError::Conflict(
                "the master key is held in the HSM: rotate it there (a new key object and \
                 `key_label`); medspace rotates and retires key-file keyrings only"
                    .into(),
            ));
        }
        Ok(Keyring::open(&self.config.master_key_file, self.profile)?)
    }

    /// The active master-key id and every version this node holds.
    fn held_key_ids(&self) -> Result<(String, Vec<String>)> {
        if self.config.hsm.is_some() {
            let id = self.keys.key_id().to_string();
            return Ok((id.clone(), vec![id]));
        }
        let ring = self.open_keyring()?;
        Ok((ring.key_id().to_string(), ring.version_ids()))
    }
}
