//! Plain (unencrypted) Parquet files handed to the command line, read as CSV text.
//!
//! GB/T 39725-2020 §10.2 (de-identification of the files a controller already holds): hospitals
//! export from their warehouses as Parquet as often as CSV, so `medspace deid` and `medspace risk`
//! take either. The file is read batch by batch (bounded memory) and each batch is rendered by
//! [`CsvText`], so the de-identification engine sees exactly the text a CSV export would have
//! given it. Columns that [`CsvText`] does not render directly are cast with Arrow's cast kernel:
//! other integer widths to Int64, `Float32` to Float64, and dates, timestamps, times, decimals,
//! booleans and large or view strings to text (dates as `2024-03-15`, timestamps in ISO 8601,
//! decimals with their exact digits). Nested and binary columns are refused, naming the column.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::csv_out::CsvText;
use crate::error::ColumnarError;

/// The four magic bytes that open (and close) every Parquet file.
pub const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// Rows per batch read from a plain Parquet file.
const PLAIN_BATCH_ROWS: usize = 8192;

/// Whether `path` starts with the Parquet magic bytes (a file shorter than four bytes is not
/// Parquet). Decided by content, not by the file name.
pub fn is_parquet_file(path: &std::path::Path) -> std::io::Result<bool> {
    let mut head = [0u8; 4];
    let mut file = File::open(path)?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => return Ok(false),
            n => filled += n,
        }
    }
    Ok(&head == PARQUET_MAGIC)
}

/// The Arrow type a column of `data_type` is rendered as, or `None` when it cannot be.
fn rendered_type(data_type: &DataType) -> Option<DataType> {
    use DataType as T;
    match data_type {
        T::Int64 | T::Float64 | T::Utf8 => Some(data_type.clone()),
        T::Int8 | T::Int16 | T::Int32 | T::UInt8 | T::UInt16 | T::UInt32 => Some(T::Int64),
        T::Float16 | T::Float32 => Some(T::Float64),
        // UInt64 may not fit in Int64; text keeps every value exactly.
        T::UInt64
        | T::Boolean
        | T::LargeUtf8
        | T::Utf8View
        | T::Date32
        | T::Date64
        | T::Timestamp(_, _)
        | T::Time32(_)
        | T::Time64(_)
        | T::Decimal32(_, _)
        | T::Decimal64(_, _)
        | T::Decimal128(_, _)
        | T::Decimal256(_, _)
        | T::Dictionary(_, _) => Some(T::Utf8),
        T::Null => Some(T::Utf8),
        _ => None,
    }
}

/// Batches of a plain Parquet file, each cast to the rendered schema.
pub struct PlainParquetBatches {
    reader: ParquetRecordBatchReader,
    schema: SchemaRef,
}

impl std::fmt::Debug for PlainParquetBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainParquetBatches")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Iterator for PlainParquetBatches {
    type Item = Result<RecordBatch, ColumnarError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.reader.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(ColumnarError::Parquet(e.to_string()))),
        };
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (column, field) in batch.columns().iter().zip(self.schema.fields()) {
            if column.data_type() == field.data_type() {
                columns.push(column.clone());
                continue;
            }
            match cast(column, field.data_type()) {
                Ok(c) => columns.push(c),
                Err(e) => {
                    return Some(Err(ColumnarError::Schema(format!(
                        "column `{}`: cannot convert {} to {}: {e}",
                        field.name(),
                        column.data_type(),
                        field.data_type()
                    ))))
                }
            }
        }
        Some(
            RecordBatch::try_new(self.schema.clone(), columns)
                .map_err(|e| ColumnarError::Schema(e.to_string())),
        )
    }
}

/// Opens a plain Parquet file and returns its rows as CSV text (header first). The schema is
/// checked before any row is read: a nested or binary column is an error naming it.
pub fn plain_parquet_as_csv(file: File) -> Result<CsvText<PlainParquetBatches>, ColumnarError> {
    let batches = plain_parquet_batches(file)?;
    CsvText::new(batches.schema(), batches)
}

impl PlainParquetBatches {
    /// The rendered schema (Int64, Float64 and Utf8 columns).
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Opens a plain Parquet file and returns its batches, each column cast to the type
/// [`CsvText`] renders (Int64, Float64 or Utf8). The schema is checked before any row is read:
/// a nested or binary column is an error naming it.
pub fn plain_parquet_batches(file: File) -> Result<PlainParquetBatches, ColumnarError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| ColumnarError::Format(format!("not a readable Parquet file: {e}")))?;
    let fields = builder
        .schema()
        .fields()
        .iter()
        .map(|f| match rendered_type(f.data_type()) {
            Some(t) => Ok(Field::new(f.name(), t, true)),
            None => Err(ColumnarError::Schema(format!(
                "column `{}` has type {}, which has no text form (expected numbers, text, dates, \
                 times, decimals or booleans)",
                f.name(),
                f.data_type()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let reader = builder
        .with_batch_size(PLAIN_BATCH_ROWS)
        .build()
        .map_err(|e| ColumnarError::Parquet(e.to_string()))?;
    Ok(PlainParquetBatches { reader, schema })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use arrow::array::{
        BooleanArray, Date32Array, Decimal128Array, Float32Array, Int32Array, ListArray,
        StringArray,
    };
    use arrow::datatypes::Int32Type;
    use parquet::arrow::ArrowWriter;

    fn write_parquet(batch: &RecordBatch) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut w = ArrowWriter::try_new(file.reopen().unwrap(), batch.schema(), None).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
        file
    }

    #[test]
    fn typed_columns_render_as_the_csv_a_warehouse_export_would_give() {
        let batch = RecordBatch::try_from_iter([
            (
                "name",
                Arc::new(StringArray::from(vec![Some("张三"), None, Some("a,\"b\"")])) as _,
            ),
            ("age", Arc::new(Int32Array::from(vec![38, 7, 90])) as _),
            (
                "weight",
                Arc::new(Float32Array::from(vec![61.5, 20.0, 55.25])) as _,
            ),
            (
                "birth_date",
                // 1986-03-15, 2017-01-01, 1934-12-31 as days since 1970-01-01.
                Arc::new(Date32Array::from(vec![5917, 17167, -12785])) as _,
            ),
            (
                "amount",
                Arc::new(
                    Decimal128Array::from(vec![12345, -5, 100])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ) as _,
            ),
            (
                "insured",
                Arc::new(BooleanArray::from(vec![true, false, true])) as _,
            ),
        ])
        .unwrap();
        let file = write_parquet(&batch);
        let assert_parquet = is_parquet_file(file.path()).unwrap();
        assert!(assert_parquet);
        let mut text = String::new();
        plain_parquet_as_csv(File::open(file.path()).unwrap())
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(
            text,
            "name,age,weight,birth_date,amount,insured\n\
             张三,38,61.5,1986-03-15,123.45,true\n\
             ,7,20,2017-01-01,-0.05,false\n\
             \"a,\"\"b\"\"\",90,55.25,1934-12-31,1.00,true\n"
        );
    }

    #[test]
    fn nested_columns_are_refused_by_name_and_csv_is_not_parquet() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
        let batch = RecordBatch::try_from_iter([("codes", Arc::new(list) as _)]).unwrap();
        let file = write_parquet(&batch);
        let err = plain_parquet_as_csv(File::open(file.path()).unwrap()).unwrap_err();
        assert!(err.to_string().contains("`codes`"), "{err}");

        let csv = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(csv.path(), "PA").unwrap();
        assert!(!is_parquet_file(csv.path()).unwrap());
        std::fs::write(csv.path(), "a,b\n1,2\n").unwrap();
        assert!(!is_parquet_file(csv.path()).unwrap());
        let err = plain_parquet_as_csv(File::open(csv.path()).unwrap()).unwrap_err();
        assert!(matches!(err, ColumnarError::Format(_)), "{err}");
    }
}
