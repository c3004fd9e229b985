//! Loading a granted table into memory, projected to its granted columns.
//!
//! T/CI 857-2024 5.2 and 7.2.1 (the plaintext is used inside the sandbox, held in memory only,
//! never written out); GB/T 39725-2020 Table 2 (数据分析平台: access limited to what was approved).
//! Rule 2 of the sandbox: columns that are not granted are dropped *before* the table is
//! registered, so the SQL planner never sees them.
//!
//! Tables arrive as typed Arrow record batches (the node decrypts them from its Parquet objects,
//! reading only the granted columns; [`SandboxTable::from_csv`] converts CSV with
//! medspace-columnar). Each granted column is taken by name from the batches and must have the
//! Arrow type of its declared type (`Integer` → Int64, `Float` → Float64, `Text` → Utf8).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::{provider_as_source, MemTable};
use datafusion::logical_expr::TableSource;
use medspace_columnar::{arrow_schema, arrow_type};
use medspace_core::Level;

use crate::error::SandboxError;
use crate::SandboxTable;

/// Name of the record-number column of a table's traced copy (see [`LoadedTable::traced`]).
pub(crate) const RID_COLUMN: &str = "__medspace_rid";

/// A table ready for registration.
pub(crate) struct LoadedTable {
    /// SQL name.
    pub name: String,
    /// Highest level among the granted columns.
    pub level: Level,
    /// The granted columns, registered under `name`.
    pub provider: Arc<dyn TableProvider>,
    /// The same rows plus [`RID_COLUMN`] (record number, from 0). Never registered: only the
    /// small-group check scans it, so the query itself cannot see it.
    pub traced: Arc<dyn TableSource>,
}

impl std::fmt::Debug for LoadedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedTable")
            .field("name", &self.name)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

/// Whether `name` is a valid sandbox table name: `[a-z_][a-z0-9_]*`.
pub(crate) fn valid_table_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some('a'..='z' | '_'))
        && c.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
}

fn data_err(table: &str, what: impl std::fmt::Display) -> SandboxError {
    SandboxError::Data {
        message: format!("table `{table}`: {what}"),
    }
}

/// Checks and projects one table (rule 2).
pub(crate) fn load_table(t: &SandboxTable) -> Result<LoadedTable, SandboxError> {
    if !valid_table_name(&t.name) {
        return Err(SandboxError::Data {
            message: format!(
                "table name `{}` is not valid: expected [a-z_][a-z0-9_]*",
                t.name
            ),
        });
    }
    // Granted columns, in grant order, each once.
    let mut granted: Vec<(usize, &medspace_core::ColumnSchema)> = Vec::new();
    for g in &t.granted_columns {
        let Some((idx, col)) = t.schema.iter().enumerate().find(|(_, c)| &c.name == g) else {
            return Err(data_err(
                &t.name,
                format_args!("granted column `{g}` is not in the table's schema"),
            ));
        };
        if !granted.iter().any(|(i, _)| *i == idx) {
            granted.push((idx, col));
        }
    }
    if granted.is_empty() {
        return Err(data_err(&t.name, "no column is granted"));
    }
    let declared: Vec<medspace_core::ColumnSchema> =
        granted.iter().map(|(_, c)| (*c).clone()).collect();
    let typed_schema: SchemaRef = arrow_schema(&declared);

    let mut batches = Vec::with_capacity(t.batches.len());
    for batch in &t.batches {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(declared.len());
        for col in &declared {
            let Some((i, field)) = batch.schema_ref().column_with_name(&col.name) else {
                return Err(data_err(
                    &t.name,
                    format_args!(
                        "granted column `{}` is missing from the loaded content",
                        col.name
                    ),
                ));
            };
            let want = arrow_type(col.data_type);
            if field.data_type() != &want {
                return Err(data_err(
                    &t.name,
                    format_args!(
                        "column `{}` is stored as {} but declared {}",
                        col.name,
                        field.data_type(),
                        want
                    ),
                ));
            }
            columns.push(Arc::clone(batch.column(i)));
        }
        let projected = RecordBatch::try_new(Arc::clone(&typed_schema), columns)
            .map_err(|e| data_err(&t.name, e))?;
        if projected.num_rows() > 0 {
            batches.push(projected);
        }
    }

    let traced = traced_copy(&t.name, &typed_schema, &batches)?;
    let provider =
        MemTable::try_new(typed_schema, vec![batches]).map_err(|e| data_err(&t.name, e))?;
    Ok(LoadedTable {
        name: t.name.clone(),
        level: t.level,
        provider: Arc::new(provider),
        traced,
    })
}

/// The same batches with a record-number column appended.
fn traced_copy(
    table: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Arc<dyn TableSource>, SandboxError> {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(RID_COLUMN, ArrowType::Int64, false));
    let traced_schema = Arc::new(Schema::new(fields));
    let mut next: i64 = 0;
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let n = i64::try_from(b.num_rows()).map_err(|e| data_err(table, e))?;
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(next..next + n));
        next += n;
        let mut columns = b.columns().to_vec();
        columns.push(ids);
        out.push(
            RecordBatch::try_new(Arc::clone(&traced_schema), columns)
                .map_err(|e| data_err(table, e))?,
        );
    }
    let mem = MemTable::try_new(traced_schema, vec![out]).map_err(|e| data_err(table, e))?;
    Ok(provider_as_source(Arc::new(mem)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use super::*;
    use medspace_core::{ColumnSchema, DataType};

    fn schema() -> Vec<ColumnSchema> {
        vec![
            ColumnSchema {
                name: "phone".into(),
                data_type: DataType::Text,
            },
            ColumnSchema {
                name: "n".into(),
                data_type: DataType::Integer,
            },
            ColumnSchema {
                name: "fee".into(),
                data_type: DataType::Float,
            },
        ]
    }

    fn table(csv: &str, granted: &[&str]) -> Result<SandboxTable, SandboxError> {
        SandboxTable::from_csv(
            "t",
            csv.as_bytes(),
            schema(),
            granted.iter().map(|s| s.to_string()).collect(),
            Level::L3,
        )
    }

    fn load(csv: &str, granted: &[&str]) -> Result<LoadedTable, SandboxError> {
        load_table(&table(csv, granted)?)
    }

    #[test]
    fn projects_to_granted_columns_with_declared_types() {
        let t = load(
            "phone,n,fee\n13800138000,1,2.5\n13900139000,,3\n",
            &["fee", "n"],
        )
        .unwrap();
        let schema = t.provider.schema();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, vec!["fee", "n"]);
        assert_eq!(schema.field(0).data_type(), &ArrowType::Float64);
        assert_eq!(schema.field(1).data_type(), &ArrowType::Int64);
        let traced = t.traced.schema();
        assert_eq!(traced.fields().len(), 3);
        assert_eq!(traced.field(2).name(), RID_COLUMN);
    }

    #[test]
    fn ungranted_columns_in_the_batches_are_dropped() {
        // Batches holding every column (as from a full read): only the granted one survives.
        let mut t = table("phone,n,fee\n13800138000,1,2.5\n", &["phone", "n", "fee"]).unwrap();
        t.granted_columns = vec!["n".into()];
        let l = load_table(&t).unwrap();
        assert_eq!(l.provider.schema().fields().len(), 1);
        assert_eq!(l.provider.schema().field(0).name(), "n");
    }

    #[test]
    fn batches_must_match_the_declared_types() {
        let mut t = table("phone,n,fee\n13800138000,1,2.5\n", &["phone", "n"]).unwrap();
        t.schema[1].data_type = DataType::Text;
        let err = load_table(&t).unwrap_err().to_string();
        assert!(err.contains("column `n` is stored as Int64"), "{err}");
        assert!(!err.contains("13800138000"), "{err}");
        let mut t = table("phone,n,fee\n1,1,2.5\n", &["n"]).unwrap();
        t.granted_columns = vec!["fee".into()];
        let err = load_table(&t).unwrap_err().to_string();
        assert!(err.contains("`fee` is missing"), "{err}");
    }

    #[test]
    fn bad_cell_names_column_and_record_but_not_the_value() {
        let err = load(
            "phone,n,fee\n13800138000,1,2.5\n13900139000,2,13700137000x\n",
            &["phone", "fee"],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SandboxError::Data { .. }), "{err:?}");
        assert!(text.contains("column `fee`, record 2"), "{text}");
        assert!(text.contains("decimal number"), "{text}");
        assert!(!text.contains("13700137000"), "{text}");
        assert!(!text.contains("13900139000"), "{text}");
    }

    #[test]
    fn ungranted_bad_cells_are_never_parsed() {
        // Column `n` is not granted: its content is neither converted nor looked at.
        assert!(load("phone,n,fee\nx,not-a-number,1\n", &["fee"]).is_ok());
    }

    #[test]
    fn structural_errors_are_reported() {
        let wrong_header = load("phone,count,fee\n1,2,3\n", &["fee"]).unwrap_err();
        assert!(matches!(wrong_header, SandboxError::Data { .. }));
        let ragged = load("phone,n,fee\n1,2\n", &["fee"]).unwrap_err();
        assert!(ragged.to_string().contains("line"), "{ragged}");
        let unknown = load("phone,n,fee\n", &["secret"]).unwrap_err();
        assert!(unknown.to_string().contains("`secret`"));
    }

    #[test]
    fn table_names_are_validated() {
        assert!(valid_table_name("claims_2024"));
        assert!(valid_table_name("_t"));
        assert!(!valid_table_name("Claims"));
        assert!(!valid_table_name("1t"));
        assert!(!valid_table_name("a-b"));
        assert!(!valid_table_name(""));
        let mut t = table("phone,n,fee\n", &["fee"]).unwrap();
        t.name = "x; DROP".into();
        assert!(load_table(&t).is_err());
    }
}
