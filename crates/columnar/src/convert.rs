//! CSV text with a known schema → typed Arrow record batches.
//!
//! T/CI 857-2024 6.2.2 (the catalog schema governs the stored content) and 7.2.1 (usable but not
//! visible: errors never quote stored values). Each declared [`ColumnSchema`] maps to one nullable
//! Arrow column: `Integer` → Int64, `Float` → Float64, `Text` → Utf8; an empty field is NULL.
//!
//! The CSV is first read as text (arrow-csv, whose structural errors name lines and fields only)
//! and then converted column by column with a safe cast. Converting ourselves lets a bad cell be
//! reported by table, column and record number without quoting it: arrow's own typed reader puts
//! the value and the whole row into its error message.

use std::io::Read;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use medspace_core::{ColumnSchema, DataType};

use crate::error::ColumnarError;

/// Rows per record batch produced by [`csv_batches`].
pub const BATCH_ROWS: usize = 8192;

/// The Arrow type a declared column type is stored as.
pub fn arrow_type(t: DataType) -> ArrowType {
    match t {
        DataType::Integer => ArrowType::Int64,
        DataType::Float => ArrowType::Float64,
        DataType::Text => ArrowType::Utf8,
    }
}

/// The Arrow schema of a declared schema, in the same order, every column nullable.
pub fn arrow_schema(schema: &[ColumnSchema]) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.data_type), true))
            .collect::<Vec<_>>(),
    ))
}

/// The declared type in words, for error messages.
pub fn expected(t: DataType) -> &'static str {
    match t {
        DataType::Integer => "a whole number (Integer)",
        DataType::Float => "a decimal number (Float)",
        DataType::Text => "text",
    }
}

fn csv_err(table: &str, e: impl std::fmt::Display) -> ColumnarError {
    ColumnarError::Csv {
        table: table.to_string(),
        message: e.to_string(),
    }
}

/// Typed record batches read from CSV text: an iterator of `Result<RecordBatch, ColumnarError>`
/// over [`BATCH_ROWS`]-row batches, see [`csv_batches`].
pub struct CsvBatches<R: Read> {
    table: String,
    reader: arrow::csv::reader::Reader<R>,
    columns: Vec<ColumnSchema>,
    schema: SchemaRef,
    next_record: u64,
    failed: bool,
}

impl<R: Read> std::fmt::Debug for CsvBatches<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvBatches")
            .field("table", &self.table)
            .field("schema", &self.schema)
            .field("next_record", &self.next_record)
            .finish_non_exhaustive()
    }
}

impl<R: Read> CsvBatches<R> {
    /// The typed schema of the batches (the projected columns, in projection order).
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// Reads CSV text with a header row whose names must equal `schema`'s, converting each record to
/// the declared types. With `projection` (indices into `schema`), only those columns are
/// converted — the others are neither parsed nor looked at — and batches hold them in that order.
///
/// Errors name the table, the column and the record number (1 = the first record after the
/// header), or the line and field of a structural fault; never a cell's value.
pub fn csv_batches<R: Read>(
    table: &str,
    schema: &[ColumnSchema],
    projection: Option<&[usize]>,
    input: R,
) -> Result<CsvBatches<R>, ColumnarError> {
    let indices: Vec<usize> = match projection {
        Some(p) => p.to_vec(),
        None => (0..schema.len()).collect(),
    };
    let mut columns = Vec::with_capacity(indices.len());
    for &i in &indices {
        let col = schema.get(i).ok_or_else(|| {
            ColumnarError::Schema(format!(
                "table `{table}`: projection index {i} is outside its {} columns",
                schema.len()
            ))
        })?;
        columns.push(col.clone());
    }
    if columns.is_empty() {
        return Err(ColumnarError::Schema(format!(
            "table `{table}`: no column to read"
        )));
    }
    let text_schema = Arc::new(Schema::new(
        schema
            .iter()
            .map(|c| Field::new(&c.name, ArrowType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = arrow::csv::ReaderBuilder::new(text_schema)
        .with_header(true)
        .with_header_validation(true)
        .with_batch_size(BATCH_ROWS)
        .with_projection(indices)
        .build(input)
        .map_err(|e| csv_err(table, e))?;
    Ok(CsvBatches {
        table: table.to_string(),
        reader,
        schema: arrow_schema(&columns),
        columns,
        next_record: 1,
        failed: false,
    })
}

impl<R: Read> Iterator for CsvBatches<R> {
    type Item = Result<RecordBatch, ColumnarError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = self.reader.next()?.map_err(|e| csv_err(&self.table, e));
        let typed = result.and_then(|text| {
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
            for (col, array) in self.columns.iter().zip(text.columns()) {
                arrays.push(convert(&self.table, col, array, self.next_record)?);
            }
            RecordBatch::try_new(Arc::clone(&self.schema), arrays)
                .map_err(|e| csv_err(&self.table, e))
        });
        match &typed {
            Ok(b) => self.next_record += b.num_rows() as u64,
            Err(_) => self.failed = true,
        }
        Some(typed)
    }
}

/// Converts one text column to its declared type; a cell that does not convert is reported by
/// column and record number, never by value.
fn convert(
    table: &str,
    col: &ColumnSchema,
    text: &ArrayRef,
    first_record: u64,
) -> Result<ArrayRef, ColumnarError> {
    let target = arrow_type(col.data_type);
    if text.data_type() == &target {
        return Ok(Arc::clone(text));
    }
    // Safe cast: a value that does not parse becomes NULL, which is then detected.
    let typed = cast(text, &target).map_err(|_| {
        ColumnarError::Schema(format!(
            "table `{table}`: column `{}` cannot be converted to {}",
            col.name,
            expected(col.data_type)
        ))
    })?;
    if typed.null_count() != text.null_count() {
        if let Some(i) = (0..text.len()).find(|&i| text.is_valid(i) && typed.is_null(i)) {
            return Err(ColumnarError::Cell {
                table: table.to_string(),
                column: col.name.clone(),
                record: first_record + i as u64,
                expected: expected(col.data_type),
            });
        }
    }
    Ok(typed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};

    fn schema() -> Vec<ColumnSchema> {
        let col = |n: &str, t| ColumnSchema {
            name: n.into(),
            data_type: t,
        };
        vec![
            col("phone", DataType::Text),
            col("n", DataType::Integer),
            col("fee", DataType::Float),
        ]
    }

    fn all(csv: &str, projection: Option<&[usize]>) -> Result<Vec<RecordBatch>, ColumnarError> {
        csv_batches("t", &schema(), projection, csv.as_bytes())?.collect()
    }

    #[test]
    fn converts_to_declared_types_with_empty_as_null() {
        let b = all("phone,n,fee\n13800138000,1,2.50\n,,3\n", None).unwrap();
        assert_eq!(b.len(), 1);
        let b = &b[0];
        assert_eq!(b.schema(), arrow_schema(&schema()));
        let phone = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(phone.value(0), "13800138000");
        assert!(phone.is_null(1));
        let n = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!((n.value(0), n.is_null(1)), (1, true));
        let fee = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!((fee.value(0), fee.value(1)), (2.5, 3.0));
    }

    #[test]
    fn projection_orders_and_skips_columns() {
        let b = all("phone,n,fee\nx,not-a-number,1\n", Some(&[2, 0])).unwrap();
        let names: Vec<_> = b[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, vec!["fee", "phone"]);
        assert!(all("phone,n,fee\n", Some(&[3])).is_err());
        assert!(all("phone,n,fee\n", Some(&[])).is_err());
    }

    #[test]
    fn bad_cell_names_table_column_and_record_not_the_value() {
        let mut csv = String::from("phone,n,fee\n");
        for i in 0..BATCH_ROWS + 5 {
            csv.push_str(&format!("1390013{i:04},{i},1.5\n"));
        }
        csv.push_str("13900139000,2,13700137000x\n");
        let err = all(&csv, None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("column `fee`, record {}", BATCH_ROWS + 6)),
            "{text}"
        );
        assert!(
            text.contains("table `t`") && text.contains("decimal number"),
            "{text}"
        );
        assert!(
            !text.contains("13700137000") && !text.contains("13900139000"),
            "{text}"
        );
    }

    #[test]
    fn structural_errors_name_lines() {
        let ragged = all("phone,n,fee\n1,2\n", None).unwrap_err();
        assert!(matches!(ragged, ColumnarError::Csv { .. }));
        assert!(ragged.to_string().contains("line"), "{ragged}");
        assert!(all("phone,count,fee\n1,2,3\n", None).is_err());
    }
}
