//! Sandbox analysis: SQL over the caller's granted columns only, inside the node.
//!
//! T/CI 857-2024 5.2 and 7.2.1 ("raw data stays in the domain; usable but not visible"),
//! GB/T 39725-2020 Table 2 (data analysis platform) and §11.4.2.4 (groups under 5 refused). The
//! tables visible to a query are exactly the datasets of the caller's approved, current
//! applications, each projected to the granted columns before the engine sees it — only those
//! columns' chunks are decrypted from the dataset's Parquet object — results are kept encrypted in
//! the node and leave only through an approved export.

use std::collections::BTreeMap;

use chrono::Utc;
use medspace_core::{new_id, Application, Level, Outcome, QueryRecord};
use medspace_crypto::{encrypt_bytes_with, SecretKey};
use medspace_sandbox::{run_query, SandboxOptions, SandboxTable};
use serde::Serialize;
use serde_json::json;

use crate::access::{Action, Caller};
use crate::error::{Result, ServiceError};
use crate::node::Node;
use crate::row_filter::RowFilterReport;

/// A query result as returned to the data user (inside the node's UI/API, never downloadable).
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// Id to request an export with.
    pub query_id: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Smallest group behind any aggregate.
    pub smallest_group: Option<u64>,
    /// Rows each table's row filter let through and withheld.
    pub row_filter: Vec<RowFilterReport>,
}

/// A table the caller may query, with its granted columns.
#[derive(Debug, Clone, Serialize)]
pub struct GrantedTable {
    /// SQL table name (the dataset name).
    pub table: String,
    /// Dataset id.
    pub dataset_id: String,
    /// Granted columns.
    pub columns: Vec<String>,
    /// Highest level among them.
    pub level: Level,
    /// Applications granting them.
    pub application_ids: Vec<String>,
    /// Whether a granted column is important (C2) data (DMS 4.3.2: results leave only with two
    /// approvers).
    pub important: bool,
    /// Special-disease classes whose rows the approved applications include; rows of any other
    /// special disease are withheld (`row_filter`).
    pub special_diseases: Vec<String>,
    /// Purpose of the first application (the row filter's context).
    #[serde(skip)]
    pub purpose: String,
}

impl Node {
    /// The tables a data user may query now.
    pub async fn granted_tables(&self, caller: &Caller) -> Result<Vec<GrantedTable>> {
        let now = Utc::now();
        let apps: Vec<Application> = self
            .store
            .list_applications(Some(caller.id()))
            .await?
            .into_iter()
            .filter(|a| a.grants_access_at(now))
            .collect();
        let mut by_dataset: BTreeMap<String, GrantedTable> = BTreeMap::new();
        for app in apps {
            let Some(meta) = self.store.dataset(&app.dataset_id).await? else {
                continue;
            };
            if meta.is_destroyed() {
                continue;
            }
            let entry = by_dataset
                .entry(meta.id.clone())
                .or_insert_with(|| GrantedTable {
                    table: meta.name.clone(),
                    dataset_id: meta.id.clone(),
                    columns: Vec::new(),
                    level: Level::L1,
                    application_ids: Vec::new(),
                    important: false,
                    special_diseases: Vec::new(),
                    purpose: app.purpose.clone(),
                });
            for d in &app.special_diseases {
                if !entry.special_diseases.contains(d) {
                    entry.special_diseases.push(d.clone());
                }
            }
            if crate::dual_control::covers_important_data(&meta, &app.columns) {
                // Listed first, so the query records it.
                entry.important = true;
                entry.application_ids.insert(0, app.id.clone());
            } else {
                entry.application_ids.push(app.id.clone());
            }
            for c in app.columns {
                if !entry.columns.contains(&c) {
                    if let Some(class) = meta.column_class(&c) {
                        entry.level = entry.level.max(class.level);
                    }
                    entry.columns.push(c);
                }
            }
        }
        Ok(by_dataset.into_values().collect())
    }

    /// Runs one SQL query in the sandbox. Refusals are audited; a result is stored (encrypted) and
    /// audited before it is returned.
    pub async fn query(&self, caller: &Caller, sql: &str) -> Result<QueryResult> {
        self.require(caller, Action::Query).await?;
        let sql_sha256 = medspace_crypto::sha256_hex(sql.as_bytes());
        let granted = self.granted_tables(caller).await?;
        if granted.is_empty() {
            self.audit(
                caller
                    .event("sandbox.query", "sandbox", Outcome::Denied)
                    .with_detail(
                        json!({"reason": "no approved application", "sql_sha256": sql_sha256}),
                    ),
            )
            .await?;
            return Err(ServiceError::Forbidden(
                "no approved, current application grants you any data; apply first".into(),
            ));
        }
        let mut tables = Vec::new();
        let mut row_filter = Vec::new();
        for g in &granted {
            let meta = self
                .store
                .dataset(&g.dataset_id)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("dataset `{}`", g.dataset_id)))?;
            // GB/T 39725-2020 §9.2 a) 8), T/CI 857-2024 6.2: only committee-approved gradings.
            if let Err(e) = self.require_approved_grading(&meta).await {
                self.audit(
                    caller
                        .event("sandbox.query", &meta.id, Outcome::Denied)
                        .with_detail(json!({
                            "reason": "grading not approved", "sql_sha256": sql_sha256,
                        })),
                )
                .await?;
                return Err(e);
            }
            // Only the granted columns are decrypted; a granted name the schema lacks is left to
            // the sandbox, which refuses it.
            let mut columns: Vec<String> = g
                .columns
                .iter()
                .filter(|c| meta.schema.iter().any(|s| &s.name == *c))
                .cloned()
                .collect();
            // The row filter's label columns are read too; the sandbox drops them before the
            // query engine sees the table.
            for c in crate::row_filter::label_columns(&meta) {
                if !columns.contains(&c) {
                    columns.push(c);
                }
            }
            let loaded = self.load_batches(&meta, Some(columns)).await?;
            let (batches, report) = self.filter_rows(caller, &meta, g, loaded).await?;
            row_filter.push(report);
            tables.push(SandboxTable {
                name: g.table.clone(),
                batches,
                schema: meta.schema.clone(),
                granted_columns: g.columns.clone(),
                level: g.level,
            });
        }
        let opts = SandboxOptions {
            min_group_size: self.config.min_group_size,
            ..SandboxOptions::default()
        };
        // The result may come from any granted table, so it is recorded under an application
        // that opens important (C2) data if the caller holds one: its export then needs two
        // approvers (DMS 4.3.2).
        let application_id = granted
            .iter()
            .filter(|g| g.important)
            .chain(granted.iter())
            .flat_map(|g| g.application_ids.iter())
            .next()
            .cloned()
            .unwrap_or_default();
        let output = match run_query(tables, sql, &opts).await {
            Ok(o) => o,
            Err(e) => {
                self.audit(
                    caller
                        .event("sandbox.query", "sandbox", Outcome::Denied)
                        .with_detail(json!({
                            "refusal": e.code(),
                            "policy_refusal": e.is_policy_refusal(),
                            "sql_sha256": sql_sha256,
                        })),
                )
                .await?;
                return Err(ServiceError::Query(e));
            }
        };
        let id = new_id("q");
        let dek = SecretKey::generate();
        let wrapped_key = self.keys.wrap(&dek, id.as_bytes())?;
        let ciphertext = encrypt_bytes_with(self.profile, &dek, id.as_bytes(), &output.csv)?;
        let object_key = format!("results/{id}.enc");
        let objects = self.objects.clone();
        let key = object_key.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut pending = objects.create(&key)?;
            std::io::Write::write_all(&mut pending, &ciphertext)?;
            pending.commit()?;
            Ok(())
        })
        .await??;
        let record = QueryRecord {
            id: id.clone(),
            user_id: caller.id().to_string(),
            application_id,
            sql_sha256: sql_sha256.clone(),
            row_count: output.rows.len() as i64,
            object_key: object_key.clone(),
            wrapped_key,
            created_at: Utc::now(),
        };
        let mut event = caller
            .event("sandbox.query", &id, Outcome::Success)
            .with_detail(json!({
                "sql_sha256": sql_sha256, "rows": record.row_count,
                "tables": granted.iter().map(|g| g.dataset_id.clone()).collect::<Vec<_>>(),
                "smallest_group": output.smallest_group,
                "row_filter": row_filter,
            }));
        // T/CI 857-2024 7.2.6: which data (datasets, columns, labels) and on what approval.
        let context = event.context_mut();
        for g in &granted {
            context.entities.push(medspace_core::EntityRef {
                kind: medspace_core::EntityKind::Dataset,
                id: g.dataset_id.clone(),
                columns: g.columns.clone(),
                labels: vec![format!("level:{}", g.level.get())],
            });
            for app in &g.application_ids {
                context.entities.push(medspace_core::EntityRef::new(
                    medspace_core::EntityKind::Application,
                    app.clone(),
                ));
            }
        }
        context.approval = Some(record.application_id.clone()).filter(|a| !a.is_empty());
        if let Err(e) = self.store.insert_query(&record, &event).await {
            let _ = self.objects.delete(&object_key);
            return Err(e.into());
        }
        Ok(QueryResult {
            query_id: id,
            columns: output.columns,
            rows: output.rows,
            smallest_group: output.smallest_group,
            row_filter,
        })
    }

    /// Reads audit entries (auditors).
    pub async fn audit_entries(
        &self,
        caller: &Caller,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<medspace_audit::AuditEntry>> {
        self.require(caller, Action::ReadAudit).await?;
        let stored = self
            .store
            .audit_entries(from_seq.max(1), limit.clamp(1, 1000))
            .await?;
        self.audit(
            caller
                .event("audit.read", "audit_log", Outcome::Success)
                .with_detail(json!({
                    "from_seq": from_seq, "count": stored.len(),
                })),
        )
        .await?;
        stored
            .iter()
            .map(|s| {
                serde_json::from_str(&s.entry).map_err(|_| {
                    ServiceError::Internal(format!(
                        "audit entry {} is not readable; run `medspace audit verify`",
                        s.seq
                    ))
                })
            })
            .collect()
    }

    /// Recomputes the whole audit chain and compares it with the recorded head. Verifying is not
    /// itself audited, so an auditor can verify a read-only copy.
    pub async fn verify_audit(
        &self,
    ) -> Result<std::result::Result<medspace_audit::VerifyReport, medspace_audit::ChainBreak>> {
        let mut verifier = medspace_audit::ChainVerifier::new();
        let mut next = 1;
        loop {
            let page = self.store.audit_entries(next, 1000).await?;
            if page.is_empty() {
                break;
            }
            for entry in &page {
                if let Err(b) = verifier.push(entry) {
                    return Ok(Err(b));
                }
                next = entry.seq + 1;
            }
        }
        let head = self.store.audit_head().await?.map(|h| (h.seq, h.hash));
        Ok(verifier.finish(head))
    }
}
