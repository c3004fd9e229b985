//! The sandbox's row filter: which rows of a granted table a query may see, decided by the Cedar
//! access policies (issue 7 item 4; Apache Ranger's row-level filters are the model).
//!
//! Clauses: GB/T 39725-2020 §6.2 e) and Table 3 第5级 (special-disease data only for a very small
//! group), §11.1.2.3 (the eight special-disease classes), §11.4.2.2 (only what the approved
//! application covers); T/CI 857-2024 6.4.2 (least privilege).
//!
//! Rows are grouped by their access labels — the special-disease classes found in the table's
//! diagnosis columns (codes and names) and the department — and each group becomes one `Row`
//! entity. One batch call decides every group (no per-row round trip), so the cost grows with the
//! number of distinct labels, not of rows. Rows of denied groups are removed before the query
//! engine sees the table. The label columns are read inside the node even when they are not
//! granted, and never reach the query.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use medspace_authz::{AccessContext, ConsentState, Network};
use medspace_classify::{special_disease_of_code, special_diseases_in_name, SpecialDiseaseClass};
use medspace_core::{classification::SemanticType, DatasetMeta};
use medspace_sandbox::arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use medspace_sandbox::arrow::compute::filter_record_batch;
use serde::Serialize;
use serde_json::{json, Value};

use crate::access::Caller;
use crate::error::{Result, ServiceError};
use crate::node::Node;
use crate::patients::{local_hour, uid};
use crate::sandbox::GrantedTable;

/// What the row filter did to one table (reported to the data user and audited).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RowFilterReport {
    /// SQL table name.
    pub table: String,
    /// Rows the query may see.
    pub rows_visible: u64,
    /// Rows withheld by the policies.
    pub rows_withheld: u64,
    /// Distinct label groups decided.
    pub groups: usize,
    /// Policies that withheld rows (forbids that applied; empty when only no permit applied).
    pub withheld_by: BTreeSet<String>,
}

/// The access labels of a group of rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Labels {
    special_diseases: Vec<&'static str>,
    department: String,
}

/// The Cedar vocabulary name of a special-disease class (`crate::patients::SPECIAL_DISEASES`).
fn access_label(class: SpecialDiseaseClass) -> &'static str {
    match class {
        SpecialDiseaseClass::OtherIncurable => "incurable",
        other => other.name(),
    }
}

/// The columns the labels are read from: diagnosis codes and names, and the department.
pub(crate) fn label_columns(meta: &DatasetMeta) -> Vec<String> {
    meta.classification
        .iter()
        .filter(|c| {
            matches!(
                c.semantic_type,
                SemanticType::DiagnosisCode
                    | SemanticType::DiagnosisName
                    | SemanticType::Department
            )
        })
        .filter(|c| meta.schema.iter().any(|s| s.name == c.name))
        .map(|c| c.name.clone())
        .collect()
}

/// One label column of a batch.
enum LabelColumn<'a> {
    Code(&'a StringArray),
    Name(&'a StringArray),
    Department(&'a StringArray),
}

fn string_column<'a>(batch: &'a RecordBatch, name: &str, table: &str) -> Result<&'a StringArray> {
    let column = batch.column_by_name(name).ok_or_else(|| {
        ServiceError::Internal(format!("label column `{name}` of `{table}` was not loaded"))
    })?;
    column
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| {
            ServiceError::Internal(format!(
                "label column `{name}` of `{table}` is not text; its rows cannot be labelled"
            ))
        })
}

/// Assigns every row of `batches` to a label group; returns the groups and, per batch, each
/// row's group index.
fn group_rows(
    meta: &DatasetMeta,
    batches: &[RecordBatch],
) -> Result<(Vec<Labels>, Vec<Vec<usize>>)> {
    let mut groups: Vec<Labels> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    // Diagnosis values repeat: look each distinct value up once.
    let mut by_code: HashMap<String, Option<&'static str>> = HashMap::new();
    let mut by_name: HashMap<String, Vec<&'static str>> = HashMap::new();
    let kinds: Vec<(String, SemanticType)> = label_columns(meta)
        .into_iter()
        .filter_map(|c| meta.column_class(&c).map(|k| (c, k.semantic_type)))
        .collect();
    let mut per_batch = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut columns = Vec::new();
        for (name, kind) in &kinds {
            let array = string_column(batch, name, &meta.name)?;
            columns.push(match kind {
                SemanticType::DiagnosisCode => LabelColumn::Code(array),
                SemanticType::DiagnosisName => LabelColumn::Name(array),
                _ => LabelColumn::Department(array),
            });
        }
        let mut rows = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let mut fine: Vec<&'static str> = Vec::new();
            let mut department = String::new();
            for column in &columns {
                match column {
                    LabelColumn::Code(a) if a.is_valid(row) => {
                        let v = a.value(row);
                        let hit = match by_code.get(v) {
                            Some(h) => *h,
                            None => {
                                let h = special_disease_of_code(v);
                                by_code.insert(v.to_string(), h);
                                h
                            }
                        };
                        fine.extend(hit);
                    }
                    LabelColumn::Name(a) if a.is_valid(row) => {
                        let v = a.value(row);
                        if let Some(h) = by_name.get(v) {
                            fine.extend(h.iter().copied());
                        } else {
                            let h = special_diseases_in_name(v);
                            fine.extend(h.iter().copied());
                            by_name.insert(v.to_string(), h);
                        }
                    }
                    LabelColumn::Department(a) if a.is_valid(row) && department.is_empty() => {
                        department = a.value(row).to_string();
                    }
                    _ => {}
                }
            }
            let mut special_diseases: Vec<&'static str> =
                medspace_classify::report::special_classes(&fine)
                    .into_iter()
                    .map(access_label)
                    .collect();
            special_diseases.sort_unstable();
            special_diseases.dedup();
            let labels = Labels {
                special_diseases,
                department,
            };
            let next = groups.len();
            let g = *index.entry(labels.clone()).or_insert(next);
            if g == next {
                groups.push(labels);
            }
            rows.push(g);
        }
        per_batch.push(rows);
    }
    Ok((groups, per_batch))
}

impl Node {
    /// Removes the rows of `batches` (one granted table, loaded with its granted and label
    /// columns) that the access policies do not let `caller` query, deciding all label groups in
    /// one batch call.
    pub(crate) async fn filter_rows(
        &self,
        caller: &Caller,
        meta: &DatasetMeta,
        table: &GrantedTable,
        batches: Vec<RecordBatch>,
    ) -> Result<(Vec<RecordBatch>, RowFilterReport)> {
        let (groups, per_batch) = group_rows(meta, &batches)?;
        let attrs = self.attributes_of(caller.id()).await?;
        let dataset_id = &meta.id;
        let mut entities: Vec<Value> = vec![attrs.entity(caller.id())];
        entities.push(json!({
            "uid": {"type": "Dataset", "id": dataset_id},
            "attrs": {
                "owner": {"__entity": {"type": "User", "id": meta.owner}},
                "category": "deidentified",
                "level": i64::from(table.level.get()),
                "dms_class": if table.important { "C2" } else { "C1" },
                // The caller holds an approved, current application for this dataset (that is
                // what made it a granted table).
                "authorised_users": [{"__entity": {"type": "User", "id": caller.id()}}],
            },
            "parents": [],
        }));
        let mut resources = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            let id = format!("{dataset_id}/{i}");
            let level = if g.special_diseases.is_empty() {
                i64::from(table.level.get())
            } else {
                5
            };
            entities.push(json!({
                "uid": {"type": "Row", "id": id},
                "attrs": {
                    "dataset": {"__entity": {"type": "Dataset", "id": dataset_id}},
                    "special_diseases": g.special_diseases,
                    "department": g.department,
                    "level": level,
                },
                "parents": [{"type": "Dataset", "id": dataset_id}],
            }));
            resources.push(uid("Row", &id)?);
        }
        let authz = self.authorizer().await?;
        let entities = authz
            .parse_entities(Value::Array(entities))
            .map_err(|e| ServiceError::Internal(format!("row-filter entities: {e}")))?;
        let now = Utc::now();
        let context = AccessContext {
            purpose: Some(table.purpose.clone()).filter(|p| !p.is_empty()),
            hour: local_hour(now),
            network: Network {
                internal: self.config.accounts.is_internal(caller.address)?,
                address: caller.address.map(|a| a.to_string()).unwrap_or_default(),
            },
            // De-identified data under an approved application (§11.4.2.2, broad consent).
            consent: ConsentState::NotRequired,
            emergency: false,
            legal_basis: None,
            approval_id: table.application_ids.first().cloned(),
            approved_special_diseases: Some(table.special_diseases.clone()),
        };
        let decisions = authz
            .decide_batch_in(
                &entities,
                &uid("User", caller.id())?,
                &uid("Action", "query")?,
                &resources,
                &context,
            )
            .map_err(|e| ServiceError::Internal(format!("row-filter decision: {e}")))?;
        let mut report = RowFilterReport {
            table: table.table.clone(),
            groups: groups.len(),
            ..RowFilterReport::default()
        };
        for d in decisions.iter().filter(|d| !d.allowed) {
            report
                .withheld_by
                .extend(d.determining_policies.iter().cloned());
        }
        let mut out = Vec::with_capacity(batches.len());
        for (batch, rows) in batches.into_iter().zip(per_batch) {
            let keep: BooleanArray = rows
                .iter()
                .map(|&g| Some(decisions.get(g).is_some_and(|d| d.allowed)))
                .collect();
            let visible = keep.true_count() as u64;
            report.rows_visible += visible;
            report.rows_withheld += batch.num_rows() as u64 - visible;
            let filtered = filter_record_batch(&batch, &keep)
                .map_err(|e| ServiceError::Internal(format!("row filter: {e}")))?;
            out.push(filtered);
        }
        Ok((out, report))
    }
}
