//! Ingest, classification, de-identification and the catalog.
//!
//! T/CI 857-2024 6.2.2 and 7.2.3 (catalog entries: name, type, format, owner, update frequency,
//! schema, rows, version), 6.3 (encryption at rest), 6.5 and GB/T 39725-2020 §10.2 (de-identification
//! with a k-anonymity check, lineage to the source version and policy hash, T/CI 7.2.5 b).
//!
//! Storage — T/CI 857-2024 6.3 and 7.2.5 c); DMS 4.3.1 / 7.2.4 (AES-256 or SM4 at rest): every
//! dataset is one encrypted Parquet object, `datasets/{id}/v1.parquet` (catalog `format`
//! `"parquet"`), written by medspace-columnar under the dataset's own data key — Parquet modular
//! encryption (AES-256-GCM) in the international profile, Parquet sealed in the SM4-GCM envelope in
//! the national one. Column types are known only after a whole pass over the CSV, so ingest and
//! de-identification first write the normalised CSV to a *spool*: an unnamed temporary file that
//! holds only ciphertext (the profile's STREAM envelope under a random key that exists only in
//! this process's memory), read back to build the Parquet object. Nothing personal reaches the disk
//! unencrypted. Readers decrypt only the columns they need (the sandbox: the granted ones); an
//! object of another format (`csv` objects of earlier versions) is refused with a clear error.
//!
//! `content_sha256` stays the SHA-256 of the normalised CSV text the content was built from: it
//! identifies the content independently of keys and encryption (destruction certificates, repeat
//! de-identification). Integrity on read comes from the authenticated encryption (GCM tags over
//! every page and the footer, or every envelope segment) and the row count in the catalog.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use chrono::Utc;
use medspace_classify::{ScanConfig, ScanResult};
use medspace_columnar::{ColumnarError, CsvText, ObjectKey, TextBatchIter};
use medspace_core::{
    new_id, ColumnClassification, ColumnSchema, DatasetKind, DatasetMeta, Level, Lineage, Outcome,
};
use medspace_crypto::{
    decrypt_reader, encrypt_writer_with, CryptoProfile, DecryptedReader, EncryptedWriter, SecretKey,
};
use medspace_deid::{DeidError, DeidKeys, DeidPolicy, DeidReport, TextBatches};
use medspace_objects::PendingObject;
use medspace_sandbox::arrow::array::RecordBatch;
use serde::Serialize;
use serde_json::json;

use crate::access::{Action, Caller};
use crate::csvio::{profile_csv, CsvProfile};
use crate::error::{Result, ServiceError};
use crate::node::Node;
use crate::reidentification::{
    check_indexable, code_index_rows, column_counts, DeidentifyOptions, IndexInputs,
};
use medspace_store::CodeIndexRow;

/// Rows sampled for classification: the default of `medspace scan`, drawn with the same seed, so
/// the grading proposed at ingest is the report `medspace scan` prints for the same file.
pub const SAMPLE_ROWS: usize = medspace_classify::DEFAULT_SAMPLE_ROWS;

/// Catalog `format` of dataset content written by this version: encrypted Parquet.
pub const DATASET_FORMAT: &str = "parquet";

/// Object key of a dataset's content.
fn dataset_object_key(id: &str) -> String {
    format!("datasets/{id}/v1.parquet")
}

/// Associated data of spool files (their key is random per spool).
const SPOOL_AAD: &[u8] = b"medspace/spool";

/// An unnamed temporary file holding CSV between passes, as ciphertext only: the crypto
/// profile's STREAM envelope under a random key that lives only in this struct. The file has no
/// name (or loses it at once) and disappears when dropped; if the process dies, its key dies with
/// it, so what remains on disk can never be decrypted.
struct Spool {
    file: File,
    key: SecretKey,
    profile: CryptoProfile,
}

impl Spool {
    fn create(dir: &Path, profile: CryptoProfile) -> Result<Self> {
        Ok(Spool {
            file: tempfile::tempfile_in(dir)?,
            key: SecretKey::generate(),
            profile,
        })
    }

    fn writer(&self) -> Result<EncryptedWriter<BufWriter<File>>> {
        let mut f = self.file.try_clone()?;
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        Ok(encrypt_writer_with(
            self.profile,
            &self.key,
            SPOOL_AAD,
            BufWriter::new(f),
        )?)
    }

    fn reader(&self) -> Result<DecryptedReader<BufReader<File>>> {
        let mut f = self.file.try_clone()?;
        f.seek(SeekFrom::Start(0))?;
        Ok(decrypt_reader(&self.key, SPOOL_AAD, BufReader::new(f))?)
    }
}

/// Maps a columnar failure on stored content. Messages never carry values.
fn columnar_err(dataset: &str, e: ColumnarError) -> ServiceError {
    match e {
        ColumnarError::Integrity => ServiceError::Crypto(format!(
            "the content of dataset `{dataset}` failed its integrity check (wrong key, another \
             dataset's object, or modified data)"
        )),
        ColumnarError::Format(m) => {
            ServiceError::Crypto(format!("the content of dataset `{dataset}`: {m}"))
        }
        ColumnarError::Io(io) => ServiceError::Io(io.to_string()),
        other => ServiceError::Internal(format!("content of dataset `{dataset}`: {other}")),
    }
}

/// Builds a dataset's encrypted Parquet object from the CSV in `spool` (typed by `profile`), checks
/// every profiled row was written, and commits it.
fn spool_to_parquet(
    spool: &Spool,
    label: &str,
    profile: &CsvProfile,
    out: Box<dyn PendingObject>,
    crypto_profile: CryptoProfile,
    dek: &SecretKey,
    id: &str,
) -> Result<()> {
    let batches = medspace_columnar::csv_batches(label, &profile.schema, None, spool.reader()?)
        .map_err(|e| columnar_err(label, e))?;
    let arrow_schema = batches.schema();
    let (pending, rows) = medspace_columnar::write(
        out,
        arrow_schema,
        batches,
        crypto_profile,
        ObjectKey { dek, context: id },
    )
    .map_err(|e| columnar_err(label, e))?;
    if rows != profile.rows {
        return Err(ServiceError::Internal(format!(
            "`{label}`: wrote {rows} of {} rows",
            profile.rows
        )));
    }
    pending.commit()?;
    Ok(())
}

/// Refuses content stored in a format this version does not read.
fn check_format(meta: &DatasetMeta) -> Result<()> {
    if meta.format == DATASET_FORMAT {
        Ok(())
    } else {
        Err(ServiceError::Conflict(format!(
            "dataset `{}` is stored as `{}`, a format this node version does not read (datasets \
             are stored as encrypted Parquet); ingest it again",
            meta.name, meta.format
        )))
    }
}

/// Checks an opened object against its catalog entry: row count, and each column's type.
fn check_object(meta: &DatasetMeta, reader: &medspace_columnar::ParquetObjectReader) -> Result<()> {
    if reader.rows() != u64::try_from(meta.row_count).unwrap_or(u64::MAX) {
        return Err(ServiceError::Crypto(format!(
            "the content of dataset `{}` holds {} rows, the catalog says {}",
            meta.name,
            reader.rows(),
            meta.row_count
        )));
    }
    for field in reader.schema().fields() {
        let declared = meta
            .schema
            .iter()
            .find(|c| c.name == *field.name())
            .map(|c| medspace_columnar::arrow_type(c.data_type));
        if declared.as_ref() != Some(field.data_type()) {
            return Err(ServiceError::Crypto(format!(
                "the content of dataset `{}` does not match its catalog schema (column `{}`)",
                meta.name,
                field.name()
            )));
        }
    }
    Ok(())
}

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

/// Classifies and grades every column from the profiled sample: the scan report proposed as the
/// dataset's grading (module `grading`) and the catalog classification.
pub fn classify_profile(profile: &CsvProfile) -> medspace_classify::SampleScan {
    let names: Vec<String> = profile.schema.iter().map(|c| c.name.clone()).collect();
    medspace_classify::scan_sample(
        &names,
        &profile.samples,
        profile.rows,
        medspace_classify::DEFAULT_MAX_SPANS,
    )
}

fn max_level(classes: &[ColumnClassification]) -> Level {
    classes.iter().map(|c| c.level).max().unwrap_or(Level::L1)
}

/// Scans a CSV file without a node (`medspace scan FILE`): the sampled report ingest proposes.
pub fn scan_file(
    input: impl Read + Send,
) -> std::result::Result<ScanResult, medspace_classify::ScanError> {
    medspace_classify::scan_report(
        input,
        &ScanConfig {
            sample_rows: SAMPLE_ROWS,
            ..ScanConfig::default()
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

    /// Decrypts the `columns` of a dataset's content (all when `None`) into memory as typed
    /// batches; the other column chunks are never decrypted.
    pub(crate) async fn load_batches(
        &self,
        meta: &DatasetMeta,
        columns: Option<Vec<String>>,
    ) -> Result<Vec<RecordBatch>> {
        check_format(meta)?;
        let dek = self.data_key(&meta.id, &meta.wrapped_key)?;
        let objects = self.objects.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || {
            let key = ObjectKey {
                dek: &dek,
                context: &meta.id,
            };
            let reader = medspace_columnar::read_from(
                objects.open(&meta.object_key)?,
                key,
                columns.as_deref(),
            )
            .map_err(|e| columnar_err(&meta.name, e))?;
            check_object(&meta, &reader)?;
            reader
                .collect_batches()
                .map_err(|e| columnar_err(&meta.name, e))
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
        let object_key = dataset_object_key(&id);
        let dek = SecretKey::generate();
        let wrapped_key = self.keys.wrap(&dek, id.as_bytes())?;

        // GB/T 39725-2020 §10.1 h): biometric columns are digested before anything is written.
        let biometric = crate::csvio::BiometricDigest {
            key: self.project_key("node", "biometric-digest").await?,
            profile: self.profile,
        };
        let objects = self.objects.clone();
        let crypto_profile = self.profile;
        let spool_dir = self.dir.clone();
        let (key, id2, source, label) = (
            object_key.clone(),
            id.clone(),
            req.source_name.clone(),
            req.name.clone(),
        );
        // GB/T 39725-2020 §7 g): the subjects a dataset holds are indexed by keyed pseudonym.
        let pseudonymizer = self.subject_pseudonymizer().await?;
        let (profile, subjects) =
            tokio::task::spawn_blocking(move || -> Result<(CsvProfile, Vec<String>)> {
                // Pass 1: validate, infer types, sample; the normalised CSV goes to the spool.
                let spool = Spool::create(&spool_dir, crypto_profile)?;
                let mut sealed = spool.writer()?;
                let mut subjects = crate::csvio::SubjectCollector {
                    pseudonymizer: &pseudonymizer,
                    found: Default::default(),
                };
                let profile = crate::csvio::profile_csv_indexed(
                    &source,
                    input,
                    Some(&mut sealed),
                    SAMPLE_ROWS,
                    &mut *progress,
                    Some(&biometric),
                    Some(&mut subjects),
                )?;
                let subjects: Vec<String> = subjects.found.into_iter().collect();
                sealed.finish()?;
                // Pass 2: typed batches into the encrypted Parquet object.
                spool_to_parquet(
                    &spool,
                    &label,
                    &profile,
                    objects.create(&key)?,
                    crypto_profile,
                    &dek,
                    &id2,
                )?;
                Ok((profile, subjects))
            })
            .await??;

        let scan = classify_profile(&profile);
        let classification = scan.classification;
        let meta = DatasetMeta {
            id: id.clone(),
            name: req.name.clone(),
            kind: DatasetKind::Raw,
            format: DATASET_FORMAT.into(),
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
        let event = caller
            .event("dataset.ingest", &id, Outcome::Success)
            .with_detail(json!({
                "name": meta.name, "rows": meta.row_count, "columns": meta.schema.len(),
                "level": meta.level.get(), "version": 1, "content_sha256": meta.content_sha256,
            }));
        // GB/T 39725-2020 §6, T/CI 857-2024 6.2: the scan is step 1 of the grading, a proposal
        // the officer confirms and the committee approves (module `grading`).
        let proposal = crate::grading::proposal(
            &id,
            caller.id(),
            scan.result.columns,
            scan.result.rows_scanned,
            scan.result.rows_total,
        )?;
        let mut event = event;
        event.detail["grading"] = json!({"status": "proposed", "max_level": scan.result.max_level});
        // Subjects first: a catalogued dataset is always in the disclosure index; an index row of a
        // dataset that then fails to be catalogued names no entry and is harmless.
        let index_event = caller
            .event("dataset.index_subjects", &id, Outcome::Success)
            .with_detail(json!({"subjects": subjects.len()}));
        if let Err(e) = self
            .store
            .index_dataset_subjects(&id, &subjects, &index_event)
            .await
        {
            let _ = self.objects.delete(&object_key);
            return Err(e.into());
        }
        if let Err(e) = self
            .store
            .insert_dataset_graded(&meta, &proposal, &event)
            .await
        {
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
        self.audit(caller.event("catalog.list", "datasets", Outcome::Success))
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
                    caller
                        .event("dataset.read", id, Outcome::Denied)
                        .with_detail(json!({"reason": "no approved application"})),
                )
                .await?;
                return Err(ServiceError::Forbidden(format!(
                    "no approved application grants access to dataset `{id}`"
                )));
            }
        }
        self.audit(caller.event("dataset.read", id, Outcome::Success))
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
        self.deidentify_dataset_with(
            caller,
            source_id,
            policy_text,
            project,
            new_name,
            DeidentifyOptions::default(),
        )
        .await
    }

    /// The re-identification risk of a stored dataset over `quasi_identifiers`, and the
    /// l-diversity of `sensitive` (GB/T 39725-2020 §11.4.2.4: the re-identification test, here
    /// on the node's own content, which never leaves it; the same figures as `medspace risk`).
    /// Only the named columns are decrypted. Only aggregate figures are returned, and the
    /// request with its figures is audited before they are.
    pub async fn dataset_risk(
        &self,
        caller: &Caller,
        id: &str,
        quasi_identifiers: &[String],
        sensitive: Option<&str>,
        population: Option<f64>,
    ) -> Result<medspace_deid::FileRisk> {
        self.require(caller, Action::Deidentify).await?;
        if quasi_identifiers.is_empty() || quasi_identifiers.len() > 64 {
            return Err(ServiceError::BadRequest(
                "quasi_identifiers: expected 1 to 64 column names".into(),
            ));
        }
        if population.is_some_and(|p| !(p.is_finite() && p >= 1.0)) {
            return Err(ServiceError::BadRequest(
                "population: expected a number of people of at least 1".into(),
            ));
        }
        let meta = self
            .store
            .dataset(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("dataset `{id}`")))?;
        if meta.destroyed_at.is_some() {
            return Err(ServiceError::Conflict(format!(
                "dataset `{}` was destroyed",
                meta.name
            )));
        }
        check_format(&meta)?;
        let mut columns: Vec<String> = quasi_identifiers.to_vec();
        columns.extend(sensitive.map(str::to_string));
        for c in &columns {
            if !meta.schema.iter().any(|s| &s.name == c) {
                let available: Vec<&str> = meta.schema.iter().map(|s| s.name.as_str()).collect();
                return Err(ServiceError::BadRequest(format!(
                    "dataset `{}` has no column `{c}`; its columns are: {}",
                    meta.name,
                    available.join(", ")
                )));
            }
        }
        let dek = self.data_key(&meta.id, &meta.wrapped_key)?;
        let objects = self.objects.clone();
        let source = meta.clone();
        let qis = quasi_identifiers.to_vec();
        let sensitive_column = sensitive.map(str::to_string);
        let risk = tokio::task::spawn_blocking(move || -> Result<medspace_deid::FileRisk> {
            let reader = medspace_columnar::read_from(
                objects.open(&source.object_key)?,
                ObjectKey {
                    dek: &dek,
                    context: &source.id,
                },
                Some(&columns),
            )
            .map_err(|e| columnar_err(&source.name, e))?;
            let csv =
                CsvText::new(reader.schema(), reader).map_err(|e| columnar_err(&source.name, e))?;
            medspace_deid::file_risk(
                csv,
                &qis,
                sensitive_column.as_deref(),
                Some(b','),
                medspace_deid::DEFAULT_RISK_THRESHOLD,
                population,
                &medspace_deid::NoProgress,
            )
            .map_err(|e| ServiceError::BadRequest(format!("risk of `{}`: {e}", source.name)))
        })
        .await??;
        self.audit(
            caller
                .event("dataset.risk", id, Outcome::Success)
                .with_detail(json!({
                    "quasi_identifiers": risk.quasi_identifiers,
                    "sensitive": sensitive,
                    "records": risk.records,
                    "equivalence_classes": risk.equivalence_classes,
                    "smallest_class": risk.smallest_class,
                    "prosecutor_highest": risk.risk.prosecutor_highest,
                })),
        )
        .await?;
        Ok(risk)
    }

    /// [`Node::deidentify_dataset`] with options: with `code_index`, the node also keeps the
    /// patient code index of the pseudonymised columns (GB/T 39725-2020 §10.2 f), see
    /// [`crate::reidentification`]), written and audited before the dataset is published.
    pub async fn deidentify_dataset_with(
        &self,
        caller: &Caller,
        source_id: &str,
        policy_text: &str,
        project: &str,
        new_name: &str,
        options: DeidentifyOptions,
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
            mac: if self.profile == CryptoProfile::National {
                medspace_deid::MacAlgorithm::HmacSm3
            } else {
                medspace_deid::MacAlgorithm::HmacSha256
            },
        };
        drop((pseudonym_key, date_shift_key));

        check_format(&source)?;
        let source_dek = self.data_key(&source.id, &source.wrapped_key)?;
        let id = new_id("ds");
        let object_key = dataset_object_key(&id);
        let dek = SecretKey::generate();
        let wrapped_key = self.keys.wrap(&dek, id.as_bytes())?;

        let index_inputs = if options.code_index {
            check_indexable(&policy)?;
            Some(IndexInputs {
                dataset_id: id.clone(),
                index_key: self.code_index_key(project).await?,
                subjects: self.subject_pseudonymizer().await?,
                profile: self.profile,
            })
        } else {
            None
        };
        let objects = self.objects.clone();
        let crypto_profile = self.profile;
        let spool_dir = self.dir.clone();
        let source_meta = source.clone();
        let (key, id2, label) = (object_key.clone(), id.clone(), new_name.to_string());
        type Produced = (DeidReport, CsvProfile, Option<Vec<CodeIndexRow>>);
        let result = tokio::task::spawn_blocking(move || -> Result<Produced> {
            // The source, decrypted column chunk by column chunk. It can be opened again (the
            // object is decrypted a second time, never spooled in plaintext), so a policy that
            // reads its input twice — `microaggregate` — works here on any size of dataset.
            let source_reader = || -> Result<_> {
                let reader = medspace_columnar::read_from(
                    objects.open(&source_meta.object_key)?,
                    ObjectKey {
                        dek: &source_dek,
                        context: &source_meta.id,
                    },
                    None,
                )
                .map_err(|e| columnar_err(&source_meta.name, e))?;
                check_object(&source_meta, &reader)?;
                Ok(reader)
            };
            // As CSV text in memory (the code index reads records).
            let source_csv = || -> Result<_> {
                let reader = source_reader()?;
                CsvText::new(reader.schema(), reader)
                    .map_err(|e| columnar_err(&source_meta.name, e))
            };
            // As Arrow batches of text columns, for the columnar de-identification engine.
            let source_batches = || -> Result<TextBatches<'static>> {
                let reader = source_reader()?;
                let batches = TextBatchIter::new(&reader.schema(), reader)
                    .map_err(|e| columnar_err(&source_meta.name, e))?;
                let name = source_meta.name.clone();
                Ok(TextBatches {
                    columns: batches.column_names(),
                    batches: Box::new(batches.map(move |b| {
                        b.map_err(|e| {
                            DeidError::Read(std::io::Error::other(
                                columnar_err(&name, e).to_string(),
                            ))
                        })
                    })),
                })
            };
            let mut first = Some(source_batches()?);
            let mut open_source = || -> std::result::Result<_, DeidError> {
                match first.take() {
                    Some(batches) => Ok(batches),
                    None => source_batches()
                        .map_err(|e| DeidError::Read(std::io::Error::other(e.to_string()))),
                }
            };
            // Pass 1: de-identify into the spool.
            let spool = Spool::create(&spool_dir, crypto_profile)?;
            let mut sealed = spool.writer()?;
            let report = medspace_deid::deidentify_batches(
                &policy,
                &deid_keys,
                &mut open_source,
                &mut sealed,
            )
            .map_err(|e| ServiceError::BadRequest(format!("de-identification failed: {e}")))?;
            sealed.finish()?;
            // Pass 2: schema, digest and classification sample of what was produced.
            let profile = profile_csv(&label, spool.reader()?, None, SAMPLE_ROWS, &mut |_| {})?;
            // Pass 3: typed batches into the encrypted Parquet object.
            spool_to_parquet(
                &spool,
                &label,
                &profile,
                objects.create(&key)?,
                crypto_profile,
                &dek,
                &id2,
            )?;
            // The code index, from a second read of the source (only when asked for and only
            // when the output is publishable).
            let index = match index_inputs {
                Some(inputs) if report.k_anonymity.passed => Some(code_index_rows(
                    &policy,
                    &deid_keys,
                    source_csv()?,
                    &inputs,
                )?),
                _ => None,
            };
            Ok((report, profile, index))
        })
        .await?;
        let (report, profile, index) = match result {
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
                caller
                    .event("dataset.deidentify", source_id, Outcome::Denied)
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
        let scan = classify_profile(&profile);
        let classification = scan.classification;
        let meta = DatasetMeta {
            id: id.clone(),
            name: new_name.to_string(),
            kind: DatasetKind::Deidentified,
            format: DATASET_FORMAT.into(),
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
        let code_index = index.as_deref().map(column_counts);
        let event = caller.event("dataset.deidentify", &id, Outcome::Success).with_detail(json!({
            "source_id": source.id, "source_version": source.version, "policy_sha256": report.policy_sha256,
            "policy_name": report.policy_name, "parameter_fingerprint": report.parameter_fingerprint, "mac": report.mac, "project": project, "rows_in": report.rows_in, "rows_out": report.rows_out,
            "k": k.k, "smallest_class": k.smallest_class, "equivalence_classes": k.equivalence_classes,
            "code_index": code_index,
        }));
        let proposal = crate::grading::proposal(
            &id,
            caller.id(),
            scan.result.columns,
            scan.result.rows_scanned,
            scan.result.rows_total,
        )?;
        if let Some(rows) = &index {
            let index_event = caller
                .event("reidentification.index.create", &id, Outcome::Success)
                .with_detail(json!({"source_id": source.id, "entries": code_index}));
            if let Err(e) = self.store.insert_code_index(rows, &index_event).await {
                let _ = self.objects.delete(&object_key);
                return Err(e.into());
            }
        }
        if let Err(e) = self
            .store
            .insert_dataset_graded(&meta, &proposal, &event)
            .await
        {
            let _ = self.objects.delete(&object_key);
            if index.is_some() {
                // The index of a dataset that was never published goes too.
                let discard = caller
                    .event("reidentification.index.delete", &id, Outcome::Success)
                    .with_detail(json!({"reason": "the dataset was not published"}));
                let _ = self.store.delete_code_index(&id, &discard).await;
            }
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
