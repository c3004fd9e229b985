//! Destroying a dataset by crypto-shredding, with a signed destruction certificate — GB/T
//! 39725-2020 §11.4.2.6 (destruction at the end of use, with a record), DMS 6.2.3 (irreversible
//! erasure of electronic data), T/CI 857-2024 6.3.
//!
//! Every copy of a dataset's content — the object, staging leftovers, backups that hold the object —
//! is ciphertext under the dataset's own data key, and that key exists only wrapped, in the
//! metadata store and in the key vault (backups leave keys out, see [`crate::backup`]). Destruction erases the wrapped key and records the destruction (with the
//! certificate) in one audited transaction, then deletes the objects. Once the transaction commits,
//! no key that could decrypt any copy exists any more.
//!
//! The certificate names what was destroyed, when, by whom and under which agreement, and is
//! signed by the node identity key (Ed25519, or SM2-with-SM3 in the national profile), so it can be
//! checked without trusting the node's database.

use chrono::{DateTime, SecondsFormat, Utc};
use medspace_core::{new_id, Outcome};
use medspace_crypto::{NodeVerifyingKey, SignatureScheme};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::{Action, Caller};
use crate::error::{Result, ServiceError};
use crate::node::Node;

/// What was destroyed, signed by the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestructionCertificate {
    /// Certificate id (`dc-…`).
    pub certificate_id: String,
    /// The node that destroyed it.
    pub node_id: String,
    /// Dataset id.
    pub dataset_id: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Dataset version.
    pub version: i64,
    /// SHA-256 of the destroyed plaintext (identifies the content without holding it).
    pub content_sha256: String,
    /// Rows it held.
    pub row_count: i64,
    /// When the data key was destroyed (RFC 3339, UTC).
    pub destroyed_at: String,
    /// Who destroyed it.
    pub destroyed_by: String,
    /// The agreement, approval or retention rule under which it was destroyed.
    pub agreement: String,
    /// How: the data key was erased and the objects deleted.
    pub method: String,
    /// Signature scheme of the node identity key.
    pub signature_scheme: String,
    /// The node identity public key (hex).
    pub public_key: String,
    /// Signature (hex) over [`DestructionCertificate::signed_bytes`].
    pub signature: String,
}

impl DestructionCertificate {
    /// The bytes the signature covers: every field but the signature, as canonical JSON (fields
    /// in declaration order, no whitespace).
    pub fn signed_bytes(&self) -> Result<Vec<u8>> {
        let mut unsigned = self.clone();
        unsigned.signature = String::new();
        serde_json::to_vec(&unsigned)
            .map_err(|e| ServiceError::Internal(format!("certificate encoding: {e}")))
    }

    /// Checks the signature against the public key the certificate names. The caller must also
    /// check that this key is the node's published identity key.
    pub fn verify(&self) -> Result<()> {
        let scheme: SignatureScheme = self
            .signature_scheme
            .parse()
            .map_err(|_| ServiceError::BadRequest("unknown signature scheme".into()))?;
        let public = hex::decode(&self.public_key)
            .map_err(|_| ServiceError::BadRequest("public key is not hex".into()))?;
        let signature = hex::decode(&self.signature)
            .map_err(|_| ServiceError::BadRequest("signature is not hex".into()))?;
        NodeVerifyingKey::from_bytes(scheme, &public)?
            .verify(&self.signed_bytes()?, &signature)
            .map_err(|_| {
                ServiceError::BadRequest(
                    "the destruction certificate's signature is invalid".into(),
                )
            })
    }
}

/// The approval subject of a dataset's destruction.
fn destruction_subject(dataset_id: &str) -> String {
    format!("dataset.destroy:{dataset_id}")
}

/// One committee member, or two distinct ones when a column is important (C2) data.
fn destruction_approvals_needed(meta: &medspace_core::DatasetMeta) -> usize {
    if crate::dual_control::covers_important_data(meta, meta.schema.iter().map(|c| &c.name)) {
        2
    } else {
        1
    }
}

impl Node {
    /// A committee member approves the destruction of a dataset, which the security officer then
    /// carries out (T/CI 857-2024 6.4.3). Returns how many approvals are recorded and needed.
    pub async fn approve_destruction(
        &self,
        caller: &Caller,
        dataset_id: &str,
        reason: &str,
    ) -> Result<(usize, usize)> {
        self.require(caller, Action::ApproveDestruction).await?;
        let reason = reason.trim();
        if reason.chars().count() < 3 {
            return Err(ServiceError::BadRequest(
                "reason: name the agreement or retention rule that ends".into(),
            ));
        }
        let meta = self
            .store
            .dataset(dataset_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("dataset `{dataset_id}`")))?;
        if meta.is_destroyed() {
            return Err(ServiceError::Conflict(format!(
                "dataset `{}` was already destroyed",
                meta.name
            )));
        }
        let row = medspace_store::DualApprovalRow {
            subject: destruction_subject(&meta.id),
            approver_id: caller.id().to_string(),
            reason: reason.to_string(),
            decided_at: Utc::now(),
        };
        let needed = destruction_approvals_needed(&meta);
        self.store
            .insert_dual_approval(
                &row,
                &caller
                    .event("dataset.destroy.approve", &meta.id, Outcome::Success)
                    .with_detail(json!({"reason": reason, "needed": needed})),
            )
            .await?;
        let have = self.store.dual_approvals(&row.subject).await?.len();
        Ok((have, needed))
    }

    /// Destroys a dataset (security officers): erases its data key in one audited transaction that
    /// also records the signed certificate, then deletes its objects.
    pub async fn destroy_dataset(
        &self,
        caller: &Caller,
        dataset_id: &str,
        agreement: &str,
    ) -> Result<DestructionCertificate> {
        self.require(caller, Action::DestroyDataset).await?;
        let agreement = agreement.trim();
        if agreement.len() < 3 {
            return Err(ServiceError::BadRequest(
                "name the agreement, approval or retention rule under which the data is destroyed"
                    .into(),
            ));
        }
        let meta = self
            .store
            .dataset(dataset_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("dataset `{dataset_id}`")))?;
        if meta.is_destroyed() {
            return Err(ServiceError::Conflict(format!(
                "dataset `{}` was already destroyed",
                meta.name
            )));
        }
        // T/CI 857-2024 6.4.3: a bulk modification only after an internal approval; important
        // (C2) data needs two distinct approvers (DMS 4.3.2). The officer never approves.
        let approvers: Vec<String> = self
            .store
            .dual_approvals(&destruction_subject(&meta.id))
            .await?
            .into_iter()
            .map(|a| a.approver_id)
            .filter(|a| a != caller.id())
            .collect();
        let needed = destruction_approvals_needed(&meta);
        if approvers.len() < needed {
            self.audit(
                caller
                    .event("dataset.destroy", &meta.id, Outcome::Denied)
                    .with_detail(json!({
                        "reason": "approval missing", "approvals": approvers.len(),
                        "needed": needed,
                    })),
            )
            .await?;
            return Err(ServiceError::Forbidden(format!(
                "destroying dataset `{}` needs the approval of {needed} committee member(s) first \
                 (T/CI 857-2024 6.4.3{}); {} so far: POST /api/v1/datasets/{}/destruction-approvals",
                meta.name,
                if needed > 1 { "; important (C2) data: DMS 4.3.2" } else { "" },
                approvers.len(),
                meta.id
            )));
        }
        let identity = self.identity_key().await?;
        let node_id = self.store.setting("node_id").await?.unwrap_or_default();
        let at: DateTime<Utc> = Utc::now();
        let mut cert = DestructionCertificate {
            certificate_id: new_id("dc"),
            node_id,
            dataset_id: meta.id.clone(),
            dataset_name: meta.name.clone(),
            version: meta.version,
            content_sha256: meta.content_sha256.clone(),
            row_count: meta.row_count,
            destroyed_at: at.to_rfc3339_opts(SecondsFormat::Nanos, true),
            destroyed_by: caller.user.username.clone(),
            agreement: agreement.to_string(),
            method: "crypto-shredding: the dataset's data key was erased from the key store; \
                     its encrypted objects were deleted"
                .into(),
            signature_scheme: identity.scheme().to_string(),
            public_key: hex::encode(identity.public_key_bytes()),
            signature: String::new(),
        };
        cert.signature = hex::encode(identity.sign(&cert.signed_bytes()?)?);
        let event = caller
            .event("dataset.destroy", &meta.id, Outcome::Success)
            .with_detail(json!({ "certificate": cert, "approved_by": approvers }));
        // Backups hold no keys; the key vault beside them does. It drops this key first, so the
        // moment the destruction commits, no copy anywhere — earlier backups included — has a key.
        let vault_kept = self.key_vault_path().exists();
        if vault_kept {
            self.write_key_vault(Some(&meta.id)).await?;
        }
        if let Err(e) = self.store.destroy_dataset(&meta.id, at, &event).await {
            if vault_kept {
                // Not destroyed after all: the vault must hold the key again.
                let _ = self.write_key_vault(None).await;
            }
            return Err(e.into());
        }

        // The key is gone; deleting the ciphertext is hygiene. A failure here leaves only
        // undecryptable bytes, and is recorded so an operator can remove them.
        let objects = self.objects.clone();
        let object_key = meta.object_key.clone();
        let deleted = tokio::task::spawn_blocking(move || objects.delete(&object_key)).await;
        if !matches!(deleted, Ok(Ok(()))) {
            self.audit(
                caller
                    .event("dataset.destroy.objects", &meta.id, Outcome::Error)
                    .with_detail(json!({"object_key": meta.object_key})),
            )
            .await?;
        }
        Ok(cert)
    }
}
