//! Typed record batches → batches of text columns, for the columnar de-identification engine.
//!
//! GB/T 39725-2020 §10.2 (de-identification of columnar data without a detour through CSV):
//! the node's encrypted Parquet objects and Parquet files given to the command line reach
//! `medspace_deid::deidentify_batches_with` as Arrow batches. Its transforms read text, so each
//! batch's Int64 and Float64 columns are rendered exactly as [`crate::CsvText`] renders them
//! (decimal integers; floats in Rust's shortest round-trip form, `2.5`, `3`), NULL stays NULL,
//! and Utf8 columns pass through without a copy. The engine's output is therefore byte for byte
//! that of the CSV path over the same data.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};

use crate::error::ColumnarError;

/// The all-text schema of `schema` (Int64, Float64 or Utf8 columns), or an error naming the
/// first column of another type.
pub fn text_schema(schema: &SchemaRef) -> Result<SchemaRef, ColumnarError> {
    let fields = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            ArrowType::Int64 | ArrowType::Float64 | ArrowType::Utf8 => {
                Ok(Field::new(f.name(), ArrowType::Utf8, true))
            }
            other => Err(ColumnarError::Schema(format!(
                "column `{}` has type {other}, not Int64, Float64 or Utf8",
                f.name()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// One batch with every column as text (see the module documentation).
pub fn text_batch(
    text_schema: &SchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch, ColumnarError> {
    if batch.num_columns() != text_schema.fields().len() {
        return Err(ColumnarError::Schema(format!(
            "a batch has {} columns, the schema {}",
            batch.num_columns(),
            text_schema.fields().len()
        )));
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (column, field) in batch.columns().iter().zip(text_schema.fields()) {
        let rendered: ArrayRef = match column.data_type() {
            ArrowType::Utf8 => column.clone(),
            ArrowType::Int64 => match column.as_any().downcast_ref::<Int64Array>() {
                Some(a) => Arc::new(render(a.len(), |row, out| {
                    a.is_valid(row).then(|| {
                        let _ = write!(out, "{}", a.value(row));
                    })
                })),
                None => return Err(mismatch(field.name())),
            },
            ArrowType::Float64 => match column.as_any().downcast_ref::<Float64Array>() {
                Some(a) => Arc::new(render(a.len(), |row, out| {
                    a.is_valid(row).then(|| {
                        let _ = write!(out, "{}", a.value(row));
                    })
                })),
                None => return Err(mismatch(field.name())),
            },
            other => {
                return Err(ColumnarError::Schema(format!(
                    "column `{}` has type {other}, not Int64, Float64 or Utf8",
                    field.name()
                )))
            }
        };
        columns.push(rendered);
    }
    RecordBatch::try_new(text_schema.clone(), columns)
        .map_err(|e| ColumnarError::Schema(e.to_string()))
}

fn mismatch(name: &str) -> ColumnarError {
    ColumnarError::Schema(format!("column `{name}` does not match its declared type"))
}

/// A text array of `rows` values; `cell` writes a row's text and returns `None` for NULL.
fn render(
    rows: usize,
    mut cell: impl FnMut(usize, &mut String) -> Option<()>,
) -> arrow::array::StringArray {
    let mut builder = StringBuilder::with_capacity(rows, rows * 8);
    let mut text = String::new();
    for row in 0..rows {
        text.clear();
        match cell(row, &mut text) {
            Some(()) => builder.append_value(&text),
            None => builder.append_null(),
        }
    }
    builder.finish()
}

/// The batches of `batches` (columns of `schema`) as text batches, one at a time.
pub struct TextBatchIter<I> {
    batches: I,
    schema: SchemaRef,
}

impl<I> std::fmt::Debug for TextBatchIter<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextBatchIter")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl<I> TextBatchIter<I>
where
    I: Iterator<Item = Result<RecordBatch, ColumnarError>>,
{
    /// Text batches of `batches`, whose columns are those of `schema` (Int64, Float64 or Utf8;
    /// another type is an error here, before any batch is read).
    pub fn new(schema: &SchemaRef, batches: I) -> Result<Self, ColumnarError> {
        Ok(TextBatchIter {
            batches,
            schema: text_schema(schema)?,
        })
    }

    /// The column names, in order.
    pub fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }
}

impl<I> Iterator for TextBatchIter<I>
where
    I: Iterator<Item = Result<RecordBatch, ColumnarError>>,
{
    type Item = Result<RecordBatch, ColumnarError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(
            self.batches
                .next()?
                .and_then(|b| text_batch(&self.schema, &b)),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use std::io::Read;

    use super::*;
    use crate::convert::csv_batches;
    use crate::CsvText;
    use arrow::array::StringArray;
    use medspace_core::{ColumnSchema, DataType};
    use proptest::prelude::*;

    fn schema() -> Vec<ColumnSchema> {
        vec![
            ColumnSchema {
                name: "name".into(),
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

    /// The text batches, written back as CSV the way CsvText writes text.
    fn as_csv(input: &str) -> (String, String) {
        let batches = csv_batches("t", &schema(), None, input.as_bytes()).unwrap();
        let typed_schema = batches.schema();
        let text = TextBatchIter::new(&typed_schema, batches).unwrap();
        let names = text.column_names();
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(&names).unwrap();
        for batch in text {
            let batch = batch.unwrap();
            let cols: Vec<&StringArray> = batch
                .columns()
                .iter()
                .map(|c| c.as_any().downcast_ref::<StringArray>().unwrap())
                .collect();
            for row in 0..batch.num_rows() {
                w.write_record(
                    cols.iter()
                        .map(|c| if c.is_valid(row) { c.value(row) } else { "" }),
                )
                .unwrap();
            }
        }
        let via_text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let batches = csv_batches("t", &schema(), None, input.as_bytes()).unwrap();
        let mut via_csv = String::new();
        CsvText::new(batches.schema(), batches)
            .unwrap()
            .read_to_string(&mut via_csv)
            .unwrap();
        (via_text, via_csv)
    }

    #[test]
    fn text_columns_render_as_csv_text_does_and_keep_nulls() {
        let (via_text, via_csv) = as_csv("name,n,fee\n\"张, 三\",1,2.50\n,,3\nx,-7,0.0000001\n");
        assert_eq!(
            via_text,
            "name,n,fee\n\"张, 三\",1,2.5\n,,3\nx,-7,0.0000001\n"
        );
        assert_eq!(via_text, via_csv);
        let batches = csv_batches("t", &schema(), None, "name,n,fee\n,,\n".as_bytes()).unwrap();
        let s = batches.schema();
        let batch = TextBatchIter::new(&s, batches)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert!(batch.columns().iter().all(|c| c.is_null(0)));
    }

    #[test]
    fn a_column_of_another_type_is_refused_by_name() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new(
            "flag",
            ArrowType::Boolean,
            true,
        )]));
        let err = text_schema(&schema).unwrap_err();
        assert!(err.to_string().contains("`flag`"), "{err}");
    }

    proptest! {
        #[test]
        fn any_typed_values_render_as_csv_text_renders_them(
            rows in proptest::collection::vec(
                (proptest::option::of("[a-z,\" 张]{0,6}"), proptest::option::of(any::<i64>()),
                 proptest::option::of(-1e12f64..1e12)),
                0..40,
            )
        ) {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["name", "n", "fee"]).unwrap();
            for (name, n, fee) in &rows {
                w.write_record([
                    name.clone().unwrap_or_default(),
                    n.map(|v| v.to_string()).unwrap_or_default(),
                    fee.map(|v| v.to_string()).unwrap_or_default(),
                ])
                .unwrap();
            }
            let input = String::from_utf8(w.into_inner().unwrap()).unwrap();
            let (via_text, via_csv) = as_csv(&input);
            prop_assert_eq!(via_text, via_csv);
        }
    }
}
