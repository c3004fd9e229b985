//! Loading a granted table into memory, projected to its granted columns.
//!
//! T/CI 857-2024 5.2 and 7.2.1 (the plaintext is used inside the sandbox, held in memory only,
//! never written out); GB/T 39725-2020 Table 2 (数据分析平台: access limited to what was approved).
//! Rule 2 of the sandbox: columns that are not granted are dropped *before* the table is
//! registered, so the SQL planner never sees them.
//!
//! The CSV is read as text and then converted column by column (`Integer` → Int64, `Float` →
//! Float64, `Text` → Utf8, all nullable, empty field = NULL). Converting ourselves lets a bad cell be
//! reported by table, column and record number without quoting it: arrow's own typed reader puts
//! the value and the whole row into its error message.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::{provider_as_source, MemTable};
use datafusion::logical_expr::TableSource;
use medspace_core::{DataType, Level};

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

fn arrow_type(t: DataType) -> ArrowType {
    match t {
        DataType::Integer => ArrowType::Int64,
        DataType::Float => ArrowType::Float64,
        DataType::Text => ArrowType::Utf8,
    }
}

fn expected(t: DataType) -> &'static str {
    match t {
        DataType::Integer => "a whole number (Integer)",
        DataType::Float => "a decimal number (Float)",
        DataType::Text => "text",
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

/// Reads, converts and projects one table (rule 2).
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

    // The whole file as text; the header must match the schema's names.
    let text_schema = Arc::new(Schema::new(
        t.schema
            .iter()
            .map(|c| Field::new(&c.name, ArrowType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = datafusion::arrow::csv::ReaderBuilder::new(text_schema)
        .with_header(true)
        .with_header_validation(true)
        .with_batch_size(8192)
        .with_projection(granted.iter().map(|(i, _)| *i).collect())
        .build(std::io::Cursor::new(&t.csv[..]))
        .map_err(|e| data_err(&t.name, e))?;

    let typed_schema: SchemaRef = Arc::new(Schema::new(
        granted
            .iter()
            .map(|(_, c)| Field::new(&c.name, arrow_type(c.data_type), true))
            .collect::<Vec<_>>(),
    ));
    let mut batches = Vec::new();
    let mut first_record = 1usize;
    for batch in reader {
        // arrow-csv's structural errors (field counts, UTF-8, header) name lines and fields only.
        let batch = batch.map_err(|e| data_err(&t.name, e))?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(granted.len());
        for ((_, col), text) in granted.iter().zip(batch.columns()) {
            columns.push(convert(&t.name, col, text, first_record)?);
        }
        let typed = RecordBatch::try_new(Arc::clone(&typed_schema), columns)
            .map_err(|e| data_err(&t.name, e))?;
        first_record += typed.num_rows();
        batches.push(typed);
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

/// Converts one text column to its declared type; a cell that does not convert is reported by
/// column and record number (1 = first record after the header), never by value.
fn convert(
    table: &str,
    col: &medspace_core::ColumnSchema,
    text: &ArrayRef,
    first_record: usize,
) -> Result<ArrayRef, SandboxError> {
    let target = arrow_type(col.data_type);
    if text.data_type() == &target {
        return Ok(Arc::clone(text));
    }
    // Safe cast: a value that does not parse becomes NULL, which we then detect.
    let typed = cast(text, &target).map_err(|e| data_err(table, e))?;
    if typed.null_count() != text.null_count() {
        if let Some(i) = (0..text.len()).find(|&i| text.is_valid(i) && typed.is_null(i)) {
            return Err(data_err(
                table,
                format_args!(
                    "column `{}`, record {}: expected {}",
                    col.name,
                    first_record + i,
                    expected(col.data_type)
                ),
            ));
        }
    }
    Ok(typed)
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
    use medspace_core::ColumnSchema;

    fn table(csv: &str, granted: &[&str]) -> SandboxTable {
        SandboxTable {
            name: "t".into(),
            csv: csv.as_bytes().to_vec(),
            schema: vec![
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
            ],
            granted_columns: granted.iter().map(|s| s.to_string()).collect(),
            level: Level::L3,
        }
    }

    #[test]
    fn projects_to_granted_columns_with_declared_types() {
        let t = load_table(&table(
            "phone,n,fee\n13800138000,1,2.5\n13900139000,,3\n",
            &["fee", "n"],
        ))
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
    fn bad_cell_names_column_and_record_but_not_the_value() {
        let err = load_table(&table(
            "phone,n,fee\n13800138000,1,2.5\n13900139000,2,13700137000x\n",
            &["phone", "fee"],
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("column `fee`, record 2"), "{text}");
        assert!(text.contains("decimal number"), "{text}");
        assert!(!text.contains("13700137000"), "{text}");
        assert!(!text.contains("13900139000"), "{text}");
    }

    #[test]
    fn ungranted_bad_cells_are_never_parsed() {
        // Column `n` is not granted: its content is neither converted nor looked at.
        let t = load_table(&table("phone,n,fee\nx,not-a-number,1\n", &["fee"]));
        assert!(t.is_ok());
    }

    #[test]
    fn structural_errors_are_reported() {
        let wrong_header = load_table(&table("phone,count,fee\n1,2,3\n", &["fee"])).unwrap_err();
        assert!(matches!(wrong_header, SandboxError::Data { .. }));
        let ragged = load_table(&table("phone,n,fee\n1,2\n", &["fee"])).unwrap_err();
        assert!(ragged.to_string().contains("line"), "{ragged}");
        let unknown = load_table(&table("phone,n,fee\n", &["secret"])).unwrap_err();
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
        let mut t = table("phone,n,fee\n", &["fee"]);
        t.name = "x; DROP".into();
        assert!(load_table(&t).is_err());
    }
}
