//! Typed record batches → CSV text, produced in memory one batch at a time.
//!
//! T/CI 857-2024 6.3 and 7.2.1; DMS 4.3.1: the CSV exists only in memory, for stream consumers such
//! as de-identification (medspace-deid reads CSV), and never touches the disk. [`CsvText`] is a
//! [`Read`] over the CSV rendering of a batch iterator: a header row, then one line per record
//! (`\n` terminated); Int64 in decimal, Float64 in Rust's shortest round-trip form without an
//! exponent (`2.5`, `3`), Utf8 as is (quoted when needed); NULL is an empty field.

use std::fmt::Write as _;
use std::io::{self, Read};

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType as ArrowType, SchemaRef};
use zeroize::Zeroizing;

use crate::error::ColumnarError;

/// CSV text of a sequence of batches, read incrementally (see the module documentation).
pub struct CsvText<I> {
    batches: I,
    schema: SchemaRef,
    /// Rendered text not yet read (plaintext, wiped when dropped).
    pending: Zeroizing<Vec<u8>>,
    pos: usize,
    header_done: bool,
    done: bool,
}

impl<I> std::fmt::Debug for CsvText<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvText")
            .field("schema", &self.schema)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<I> CsvText<I>
where
    I: Iterator<Item = Result<RecordBatch, ColumnarError>>,
{
    /// CSV text of `batches`, whose columns are those of `schema` (Int64, Float64 or Utf8).
    pub fn new(schema: SchemaRef, batches: I) -> Result<Self, ColumnarError> {
        for f in schema.fields() {
            if !matches!(
                f.data_type(),
                ArrowType::Int64 | ArrowType::Float64 | ArrowType::Utf8
            ) {
                return Err(ColumnarError::Schema(format!(
                    "column `{}` has type {}, not Int64, Float64 or Utf8",
                    f.name(),
                    f.data_type()
                )));
            }
        }
        Ok(CsvText {
            batches,
            schema,
            pending: Zeroizing::new(Vec::new()),
            pos: 0,
            header_done: false,
            done: false,
        })
    }

    /// Renders the header or the next batch into `pending`; false when nothing is left.
    fn refill(&mut self) -> Result<bool, ColumnarError> {
        // The previous text is wiped before its buffer is reused by the new writer.
        let mut buffer = std::mem::take(&mut *self.pending);
        zeroize::Zeroize::zeroize(&mut buffer);
        buffer.clear();
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(buffer);
        if !self.header_done {
            self.header_done = true;
            let names: Vec<&str> = self
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            writer.write_record(&names).map_err(csv_io)?;
        } else {
            match self.batches.next() {
                None => return Ok(false),
                Some(batch) => render(&mut writer, &self.schema, &batch?)?,
            }
        }
        *self.pending = writer
            .into_inner()
            .map_err(|e| ColumnarError::Io(io::Error::other(e.to_string())))?;
        self.pos = 0;
        Ok(true)
    }
}

fn csv_io(e: csv::Error) -> ColumnarError {
    ColumnarError::Io(io::Error::other(e.to_string()))
}

fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    i: usize,
    name: &str,
) -> Result<&'a T, ColumnarError> {
    batch.column(i).as_any().downcast_ref::<T>().ok_or_else(|| {
        ColumnarError::Schema(format!("column `{name}` does not match its declared type"))
    })
}

/// One column of a batch, typed.
enum Col<'a> {
    Int(&'a Int64Array),
    Float(&'a Float64Array),
    Text(&'a StringArray),
}

fn render(
    writer: &mut csv::Writer<Vec<u8>>,
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> Result<(), ColumnarError> {
    if batch.num_columns() != schema.fields().len() {
        return Err(ColumnarError::Schema(format!(
            "a batch has {} columns, the schema {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let mut cols = Vec::with_capacity(batch.num_columns());
    for (i, f) in schema.fields().iter().enumerate() {
        cols.push(match f.data_type() {
            ArrowType::Int64 => Col::Int(column(batch, i, f.name())?),
            ArrowType::Float64 => Col::Float(column(batch, i, f.name())?),
            _ => Col::Text(column(batch, i, f.name())?),
        });
    }
    let mut cell = Zeroizing::new(String::new());
    for row in 0..batch.num_rows() {
        for c in &cols {
            cell.clear();
            match c {
                Col::Int(a) if a.is_valid(row) => {
                    let _ = write!(cell, "{}", a.value(row));
                }
                Col::Float(a) if a.is_valid(row) => {
                    let _ = write!(cell, "{}", a.value(row));
                }
                Col::Text(a) if a.is_valid(row) => cell.push_str(a.value(row)),
                _ => {}
            }
            writer.write_field(cell.as_bytes()).map_err(csv_io)?;
        }
        writer.write_record(None::<&[u8]>).map_err(csv_io)?;
    }
    Ok(())
}

impl<I> Read for CsvText<I>
where
    I: Iterator<Item = Result<RecordBatch, ColumnarError>>,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos >= self.pending.len() {
            if self.done {
                return Ok(0);
            }
            match self.refill() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    self.pending.clear();
                    return Ok(0);
                }
                Err(e) => {
                    self.done = true;
                    self.pending.clear();
                    return Err(match e {
                        ColumnarError::Io(io) => io,
                        other => io::Error::new(io::ErrorKind::InvalidData, other),
                    });
                }
            }
        }
        let available = self.pending.get(self.pos..).unwrap_or_default();
        let n = buf.len().min(available.len());
        let (dst, _) = buf.split_at_mut(n);
        let (src, _) = available.split_at(n);
        dst.copy_from_slice(src);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use super::*;
    use crate::convert::csv_batches;
    use medspace_core::{ColumnSchema, DataType};

    #[test]
    fn renders_typed_values_and_nulls() {
        let schema = vec![
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
        ];
        let input = "name,n,fee\n\"张, 三\",1,2.50\n,,3\nx,-7,0.0000001\n";
        let batches = csv_batches("t", &schema, None, input.as_bytes()).unwrap();
        let mut out = String::new();
        CsvText::new(batches.schema(), batches)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "name,n,fee\n\"张, 三\",1,2.5\n,,3\nx,-7,0.0000001\n");
    }

    #[test]
    fn an_error_in_the_batches_is_a_read_error() {
        let schema = vec![ColumnSchema {
            name: "n".into(),
            data_type: DataType::Integer,
        }];
        let batches = csv_batches("t", &schema, None, "n\n1\nx\n".as_bytes()).unwrap();
        let mut out = String::new();
        let err = CsvText::new(batches.schema(), batches)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("record 2"), "{err}");
    }
}
