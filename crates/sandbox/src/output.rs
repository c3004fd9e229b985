//! Converting an allowed result to JSON rows and CSV.
//!
//! T/CI 857-2024 7.2.1: only the result of an analysis leaves the sandbox, in the two forms the
//! node hands out (JSON for the API, CSV for a download). Both come from the same record batches.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::error::SandboxError;

fn output_err(what: &str) -> SandboxError {
    SandboxError::Execution {
        message: format!(
            "the result could not be written as {what}: a result column has a type (a list or \
             a struct, say) that has no {what} form; select plain values"
        ),
    }
}

/// Column names of the result.
pub(crate) fn column_names(schema: &SchemaRef) -> Vec<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

/// Rows as JSON values, in column order (NULL → `null`).
pub(crate) fn json_rows(
    batches: &[RecordBatch],
    columns: &[String],
) -> Result<Vec<Vec<serde_json::Value>>, SandboxError> {
    let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .map_err(|_| output_err("JSON"))?;
    writer.finish().map_err(|_| output_err("JSON"))?;
    let bytes = writer.into_inner();
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = if bytes.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(&bytes).map_err(|_| output_err("JSON"))?
    };
    Ok(objects
        .into_iter()
        .map(|mut o| {
            columns
                .iter()
                .map(|c| o.remove(c).unwrap_or(serde_json::Value::Null))
                .collect()
        })
        .collect())
}

/// The result as CSV with a header row.
pub(crate) fn csv_bytes(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, SandboxError> {
    let mut out = Vec::new();
    {
        let mut w = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut out);
        if batches.is_empty() {
            w.write(&RecordBatch::new_empty(schema.clone()))
                .map_err(|_| output_err("CSV"))?;
        }
        for b in batches {
            w.write(b).map_err(|_| output_err("CSV"))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("sex", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("avg_fee", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("女"), None])),
                Arc::new(Int64Array::from(vec![20, 5])),
                Arc::new(Float64Array::from(vec![Some(1.5), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn json_rows_keep_column_order_and_nulls() {
        let b = batch();
        let columns = column_names(&b.schema());
        let rows = json_rows(&[b], &columns).unwrap();
        assert_eq!(
            rows,
            vec![
                vec![
                    serde_json::json!("女"),
                    serde_json::json!(20),
                    serde_json::json!(1.5)
                ],
                vec![
                    serde_json::Value::Null,
                    serde_json::json!(5),
                    serde_json::Value::Null
                ],
            ]
        );
    }

    #[test]
    fn csv_has_a_header_even_when_empty() {
        let b = batch();
        let text =
            String::from_utf8(csv_bytes(&b.schema(), std::slice::from_ref(&b)).unwrap()).unwrap();
        assert_eq!(text, "sex,n,avg_fee\n女,20,1.5\n,5,\n");
        let empty = String::from_utf8(csv_bytes(&b.schema(), &[]).unwrap()).unwrap();
        assert_eq!(empty, "sex,n,avg_fee\n");
        assert!(json_rows(&[], &column_names(&b.schema()))
            .unwrap()
            .is_empty());
    }
}
