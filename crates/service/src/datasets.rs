//! Ingest, classification, de-identification and the catalog.
//!
//! T/CI 857-2024 6.2.2 and 7.2.3 (catalog entries: name, type, format, owner, update frequency,
//! schema, rows, version), 6.3 (encryption at rest), 6.5 and GB/T 39725-2020 §10.2 (de-identification
//! with a k-anonymity check, lineage to the source version and policy hash, T/CI 7.2.5 b).

use std::io::{Read, Write};

use chrono::Utc;
use medspace_classify::{classify_column, ScanOptions, ScanReport};
use medspace_core::{
    new_id, AuditEvent, ColumnClassification, ColumnSchema, DatasetKind, DatasetMeta, Level,
    Lineage, Outcome,
};
use medspace_crypto::{decrypt_reader, encrypt_writer_with, SecretKey};
use medspace_deid::{DeidKeys, DeidPolicy, DeidReport};
use serde::Serialize;
use serde_json::json;

use crate::access::{Action, Caller};
use crate::csvio::{profile_csv, CsvProfile};
use crate::error::{Result, ServiceError};
use crate::node::Node;

/// Rows sampled for classification.
pub const SAMPLE_ROWS: usize = 1000;

/// What to ingest.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// Catalog name; also the sandbox table name.
    pub name: String,
    /// File or upload name, for error messages.
    pub source_name: String,
    /// Owner recorded in the catalog (defaults to the caller's username).
    pub owner: Option<String>,
    /// Declared update frequency.
    pub update_frequency: String,
}

/// A catalog entry as shown to callers: no object keys or wrapped keys.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Raw or de-identified.
    pub kind: DatasetKind,
    /// Content format.
    pub format: String,
    /// Owner.
    pub owner: String,
    /// Update frequency.
    pub update_frequency: String,
    /// Columns.
    pub schema: Vec<ColumnSchema>,
    /// Column classification.
    pub classification: Vec<ColumnClassification>,
    /// Highest column level.
    pub level: Level,
    /// Rows.
    pub row_count: i64,
    /// Version.
    pub version: i64,
    /// Lineage of derived datasets.
    pub lineage: Option<Lineage>,
    /// Created.
    pub created_at: chrono::DateTime<Utc>,
}

impl From<&DatasetMeta> for DatasetView {
    fn from(m: &DatasetMeta) -> Self {
        DatasetView {
            id: m.id.clone(),
            name: m.name.clone(),
            kind: m.kind,
            format: m.format.clone(),
            owner: m.owner.clone(),
            update_frequency: m.update_frequency.clone(),
            schema: m.schema.clone(),
            classification: m.classification.clone(),
            level: m.level,
            row_count: m.row_count,
            version: m.version,
            lineage: m.lineage.clone(),
            created_at: m.created_at,
        }
    }
}

/// Checks a dataset name: it doubles as an SQL table name in the sandbox.
pub fn check_dataset_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "dataset name `{name}`: expected a lower-case letter followed by up to 62 of a–z, 0–9, `_`"
        )))
    }
}

/// Classifies columns from profiled samples.
pub fn classify_profile(profile: &CsvProfile) -> Vec<ColumnClassification> {
    profile
        .schema
        .iter()
        .enumerate()
        .map(|(i, col)| {
            let values: Vec<&str> = profile
                .samples
                .iter()
                .filter_map(|row| row.get(i).map(String::as_str))
                .collect();
            classify_column(&col.name, &values)
        })
        .collect()
}

fn max_level(classes: &[ColumnClassification]) -> Level {
    classes.iter().map(|c| c.level).max().unwrap_or(Level::L1)
}

/// Scans a CSV file without a node (`medspace scan FILE`).
pub fn scan_file(
    input: impl Read,
) -> std::result::Result<ScanReport, medspace_classify::ScanError> {
    medspace_classify::scan_csv(
        input,
        &ScanOptions {
            sample_rows: SAMPLE_ROWS,
        },
    )
}

/// De-identifies a CSV stream without a node (`medspace deid FILE`).
pub fn deidentify_stream(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    input: impl Read,
    output: impl Write,
) -> std::result::Result<DeidReport, medspace_deid::DeidError> {
    medspace_deid::deidentify(policy, keys, input, output)
}

impl Node {
    pub(crate) fn data_key(&self, meta_id: &str, wrapped: &[u8]) -> Result<SecretKey> {
        Ok(self.keys.unwrap(wrapped, meta_id.as_bytes())?)
    }

    /// Decrypts a dataset's content into memory and checks its digest.
    pub(crate) async fn load_plaintext(&self, meta: &DatasetMeta) -> Result<Vec<u8>> {
        let dek = self.data_key(&meta.id, &meta.wrapped_key)?;
        let objects = self.objects.clone();
        let key = meta.object_key.clone();
        let aad = meta.id.clone();
        let expected = meta.content_sha256.clone();
        tokio::task::spawn_blocking(move || {
            let reader = objects.open(&key)?;
            let mut plain = Vec::new();
            decrypt_reader(&dek, aad.as_bytes(), reader)?.read_to_end(&mut plain)?;
            if medspace_crypto::sha256_hex(&plain) != expected {
                return Err(ServiceError::Crypto(format!(
                    "content of `{key}` does not match its catalog digest"
                )));
            }
            Ok(plain)
        })
        .await?
    }

    /// Ingests a CSV stream as a new dataset: validated, classified, encrypted, catalogued, audited.
    /// On any error nothing is left behind.
    pub async fn ingest(
        &self,
        caller: &Caller,
        req: IngestRequest,
        input: Box<dyn Read + Send>,
        mut progress: Box<dyn FnMut(u64) + Send>,
    ) -> Result<DatasetMeta> {
        self.require(caller, Action::IngestDataset).await?;
        check_dataset_name(&req.name)?;
        if self.store.dataset_by_name(&req.name).await?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "dataset name `{}` is taken",
                req.name
            )));
        }
        let id = new_id("ds");
        let object_key = format!("datasets/{id}/v1.enc");
        let dek = SecretKey::generate();
        let wrapped_key = self.keys.wrap(&dek, id.as_bytes())?;

        let objects = self.objects.clone();
        let crypto_profile = self.profile;
        let (key, aad, source) = (object_key.clone(), id.clone(), req.source_name.clone());
        let profile = tokio::task::spawn_blocking(move || -> Result<CsvProfile> {
            let pending = objects.create(&key)?;
            let mut enc = encrypt_writer_with(crypto_profile, &dek, aad.as_bytes(), pending)?;
            let profile = profile_csv(&source, input, Some(&mut enc), SAMPLE_ROWS, &mut *progress)?;
            enc.finish()?.commit()?;
            Ok(profile)
        })
        .await??;

        let classification = classify_profile(&profile);
        let meta = DatasetMeta {
            id: id.clone(),
            name: req.name.clone(),
            kind: DatasetKind::Raw,
            format: "csv".into(),
            owner: req.owner.unwrap_or_else(|| caller.user.username.clone()),
            update_frequency: req.update_frequency,
            level: max_level(&classification),
            schema: profile.schema,
            classification,
            row_count: profile.rows as i64,
            version: 1,
            object_key: object_key.clone(),
            wrapped_key,
            content_sha256: profile.sha256,
            lineage: None,
            created_at: Utc::now(),
            destroyed_at: None,
        };
        let event = AuditEvent::new(caller.id(), "dataset.ingest", &id, Outcome::Success)
            .with_detail(json!({
                "name": meta.name, "rows": meta.row_count, "columns": meta.schema.len(),
                "level": meta.level.get(), "version": 1, "content_sha256": meta.content_sha256,
            }));
        if let Err(e) = self.store.insert_dataset(&meta, &event).await {
            let _ = self.objects.delete(&object_key);
            return Err(e.into());
        }
        Ok(meta)
    }

    /// Catalog entries the caller may see: everything for officers, reviewers and auditors,
    /// published (de-identified) entries for data users.
    pub async fn list_datasets(&self, caller: &Caller) -> Result<Vec<DatasetView>> {
        self.require(caller, Action::ViewPublishedCatalog).await?;
        let full = crate::access::permits(caller.role(), Action::ViewFullCatalog);
        let all = self.store.list_datasets().await?;
        self.audit(AuditEvent::new(
            caller.id(),
            "catalog.list",
            "datasets",
            Outcome::Success,
        ))
        .await?;
        Ok(all
            .iter()
            .filter(|m| full || m.kind == DatasetKind::Deidentified)
            .map(DatasetView::from)
            .collect())
    }

    /// One catalog entry. Data users need an approved, current application for the dataset.
    pub async fn get_dataset(&self, caller: &Caller, id: &str) -> Result<DatasetView> {
        self.require(caller, Action::ViewPublishedCatalog).await?;
        let meta = self
            .store
            .dataset(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("dataset `{id}`")))?;
        if !crate::access::permits(caller.role(), Action::ViewFullCatalog) {
            let granted = self
                .store
                .list_applications(Some(caller.id()))
                .await?
                .iter()
                .any(|a| a.dataset_id == meta.id && a.grants_access_at(Utc::now()));
            if !granted {
                self.audit(
                    AuditEvent::new(caller.id(), "dataset.read", id, Outcome::Denied)
                        .with_detail(json!({"reason": "no approved application"})),
                )
                .await?;
                return Err(ServiceError::Forbidden(format!(
                    "no approved application grants access to dataset `{id}`"
                )));
            }
        }
        self.audit(AuditEvent::new(
            caller.id(),
            "dataset.read",
            id,
            Outcome::Success,
        ))
        .await?;
        Ok(DatasetView::from(&meta))
    }

    /// Finds a dataset id by name (any role that may see the catalog).
    pub async fn dataset_id_by_name(&self, caller: &Caller, name: &str) -> Result<String> {
        self.require(caller, Action::ViewPublishedCatalog).await?;
        self.store
            .dataset_by_name(name)
            .await?
            .map(|m| m.id)
            .ok_or_else(|| ServiceError::NotFound(format!("dataset `{name}`")))
    }

    /// Produces a de-identified dataset from a stored one under `policy_text`, with per-project keys.
    /// A failing k-anonymity check is reported and nothing is published.
    pub async fn deidentify_dataset(
        &self,
        caller: &Caller,
        source_id: &str,
        policy_text: &str,
        project: &str,
        new_name: &str,
    ) -> Result<(DatasetMeta, DeidReport)> {
        self.require(caller, Action::Deidentify).await?;
        check_dataset_name(new_name)?;
        if project.is_empty() || project.len() > 64 {
            return Err(ServiceError::BadRequest(
                "project: expected 1–64 characters".into(),
            ));
        }
        let source = self
            .store
            .dataset(source_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("dataset `{source_id}`")))?;
        if self.store.dataset_by_name(new_name).await?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "dataset name `{new_name}` is taken"
            )));
        }
        let policy = DeidPolicy::parse(policy_text)
            .map_err(|e| ServiceError::BadRequest(format!("de-identification policy: {e}")))?;
        if policy.k() < self.config.min_k {
            return Err(ServiceError::BadRequest(format!(
                "de-identification policy: k = {} is below the node minimum of {}",
                policy.k(),
                self.config.min_k
            )));
        }
        let pseudonym_key = self.project_key(project, "pseudonym").await?;
        let date_shift_key = self.project_key(project, "date-shift").await?;
        let deid_keys = DeidKeys {
            pseudonym_key: *pseudonym_key.expose(),
            date_shift_key: *date_shift_key.expose(),
        };
        drop((pseudonym_key, date_shift_key));

        let source_dek = self.data_key(&source.id, &source.wrapped_key)?;
        let id = new_id("ds");
        let object_key = format!("datasets/{id}/v1.enc");
        let dek = SecretKey::generate();
        let wrapped_key = self.keys.wrap(&dek, id.as_bytes())?;

        let objects = self.objects.clone();
        let crypto_profile = self.profile;
        let (src_key, src_aad) = (source.object_key.clone(), source.id.clone());
        let (key, aad, label) = (object_key.clone(), id.clone(), new_name.to_string());
        let result = tokio::task::spawn_blocking(move || -> Result<(DeidReport, CsvProfile)> {
            let reader = decrypt_reader(&source_dek, src_aad.as_bytes(), objects.open(&src_key)?)?;
            let pending = objects.create(&key)?;
            let mut enc = encrypt_writer_with(crypto_profile, &dek, aad.as_bytes(), pending)?;
            let report = medspace_deid::deidentify(&policy, &deid_keys, reader, &mut enc)
                .map_err(|e| ServiceError::BadRequest(format!("de-identification failed: {e}")))?;
            enc.finish()?.commit()?;
            // Second pass over the stored result: schema, digest and classification of what was written.
            let check = decrypt_reader(&dek, aad.as_bytes(), objects.open(&key)?)?;
            let profile = profile_csv(&label, check, None, SAMPLE_ROWS, &mut |_| {})?;
            Ok((report, profile))
        })
        .await?;
        let (report, profile) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = self.objects.delete(&object_key);
                return Err(e);
            }
        };
        let k = &report.k_anonymity;
        if !k.passed {
            let _ = self.objects.delete(&object_key);
            self.audit(
                AuditEvent::new(
                    caller.id(),
                    "dataset.deidentify",
                    source_id,
                    Outcome::Denied,
                )
                .with_detail(json!({
                    "reason": "k-anonymity check failed", "policy_sha256": report.policy_sha256,
                    "k": k.k, "classes_below_k": k.classes_below_k,
                    "records_in_classes_below_k": k.records_in_classes_below_k,
                })),
            )
            .await?;
            return Err(ServiceError::Conflict(format!(
                "k-anonymity check failed: {} of {} equivalence classes over ({}) have fewer than k = {} records ({} records); generalise further or add suppression — nothing was published",
                k.classes_below_k,
                k.equivalence_classes,
                k.quasi_identifiers.join(", "),
                k.k,
                k.records_in_classes_below_k
            )));
        }
        let classification = classify_profile(&profile);
        let meta = DatasetMeta {
            id: id.clone(),
            name: new_name.to_string(),
            kind: DatasetKind::Deidentified,
            format: "csv".into(),
            owner: caller.user.username.clone(),
            update_frequency: source.update_frequency.clone(),
            level: max_level(&classification),
            schema: profile.schema,
            classification,
            row_count: profile.rows as i64,
            version: 1,
            object_key: object_key.clone(),
            wrapped_key,
            content_sha256: profile.sha256,
            lineage: Some(Lineage {
                source_id: source.id.clone(),
                source_version: source.version,
                policy_hash: report.policy_sha256.clone(),
                project: project.to_string(),
            }),
            created_at: Utc::now(),
            destroyed_at: None,
        };
        let event = AuditEvent::new(caller.id(), "dataset.deidentify", &id, Outcome::Success).with_detail(json!({
            "source_id": source.id, "source_version": source.version, "policy_sha256": report.policy_sha256,
            "policy_name": report.policy_name, "project": project, "rows_in": report.rows_in, "rows_out": report.rows_out,
            "k": k.k, "smallest_class": k.smallest_class, "equivalence_classes": k.equivalence_classes,
        }));
        if let Err(e) = self.store.insert_dataset(&meta, &event).await {
            let _ = self.objects.delete(&object_key);
            return Err(e.into());
        }
        Ok((meta, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_are_sql_identifiers() {
        check_dataset_name("settlements_2024").unwrap();
        for bad in ["", "1abc", "Abc", "a-b", "a b", "表"] {
            assert!(check_dataset_name(bad).is_err(), "{bad}");
        }
    }
}
