//! Encrypted Parquet objects per crypto profile — T/CI 857-2024 6.3 and 7.2.5 c); DMS 4.3.1 /
//! 7.2.4 (AES-256 or SM4 at rest): round trips, keys, tampering, projection, no plaintext in the
//! stored bytes, and typed conversion over random data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::sync::Arc;

use medspace_columnar::arrow::array::RecordBatch;
use medspace_columnar::parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use medspace_columnar::parquet::encryption::decrypt::FileDecryptionProperties;
use medspace_columnar::{
    csv_batches, read, write, Bytes, ColumnarError, CsvText, ObjectKey, ParquetObjectWriter,
};
use medspace_core::{ColumnSchema, DataType};
use medspace_crypto::{CryptoProfile, SecretKey};
use proptest::prelude::*;

const ID_NUMBER: &str = "110105194912310020";
const NAME: &str = "欧阳明华";
const PHONE: &str = "13812345678";

fn col(name: &str, t: DataType) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        data_type: t,
    }
}

fn schema() -> Vec<ColumnSchema> {
    vec![
        col("id_number", DataType::Text),
        col("name", DataType::Text),
        col("phone", DataType::Text),
        col("age", DataType::Integer),
        col("fee", DataType::Float),
        col("diagnosis", DataType::Text),
    ]
}

/// `rows` settlement-like records; the first holds the identifiers searched for below.
fn csv(rows: usize) -> String {
    let mut s = String::from("id_number,name,phone,age,fee,diagnosis\n");
    s.push_str(&format!("{ID_NUMBER},{NAME},{PHONE},74,1234.5,I10\n"));
    for i in 1..rows {
        let age = if i % 7 == 0 {
            String::new()
        } else {
            (i % 90).to_string()
        };
        s.push_str(&format!(
            "3301{i:014},患者{i},139{i:08},{age},{}.{},E1{}\n",
            i * 3,
            i % 100,
            i % 10
        ));
    }
    s
}

fn batches(rows: usize) -> Vec<RecordBatch> {
    csv_batches("claims", &schema(), None, csv(rows).as_bytes())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn write_object(profile: CryptoProfile, dek: &SecretKey, context: &str, rows: usize) -> Vec<u8> {
    let b = batches(rows);
    let (out, n) = write(
        Vec::new(),
        medspace_columnar::arrow_schema(&schema()),
        b.into_iter().map(Ok),
        profile,
        ObjectKey { dek, context },
    )
    .unwrap();
    assert_eq!(n, rows as u64);
    out
}

fn read_all(
    object: &[u8],
    dek: &SecretKey,
    context: &str,
    projection: Option<&[String]>,
) -> Result<Vec<RecordBatch>, ColumnarError> {
    read(
        Bytes::copy_from_slice(object),
        ObjectKey { dek, context },
        projection,
    )?
    .collect()
}

fn concat(b: &[RecordBatch]) -> RecordBatch {
    medspace_columnar::arrow::compute::concat_batches(&b[0].schema(), b).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn round_trip_per_profile() {
    for profile in CryptoProfile::ALL {
        let dek = SecretKey::generate();
        let object = write_object(profile, &dek, "ds-1", 20_000);
        let expected = match profile {
            CryptoProfile::International => b"PARE",
            CryptoProfile::National => b"MSE1",
        };
        assert_eq!(&object[..4], expected, "{profile}");
        let back = read_all(&object, &dek, "ds-1", None).unwrap();
        assert_eq!(concat(&back), concat(&batches(20_000)), "{profile}");
        let reader = read(
            Bytes::from(object),
            ObjectKey {
                dek: &dek,
                context: "ds-1",
            },
            None,
        )
        .unwrap();
        assert_eq!(reader.rows(), 20_000);
    }
}

#[test]
fn an_empty_dataset_round_trips() {
    for profile in CryptoProfile::ALL {
        let dek = SecretKey::generate();
        let (object, rows) = write(
            Vec::new(),
            medspace_columnar::arrow_schema(&schema()),
            std::iter::empty(),
            profile,
            ObjectKey {
                dek: &dek,
                context: "ds-empty",
            },
        )
        .unwrap();
        assert_eq!(rows, 0);
        let reader = read(
            Bytes::from(object),
            ObjectKey {
                dek: &dek,
                context: "ds-empty",
            },
            None,
        )
        .unwrap();
        assert_eq!(reader.schema(), medspace_columnar::arrow_schema(&schema()));
        assert_eq!(reader.collect_batches().unwrap().len(), 0);
    }
}

#[test]
fn only_the_right_key_and_dataset_open_an_object() {
    for profile in CryptoProfile::ALL {
        let dek = SecretKey::generate();
        let object = write_object(profile, &dek, "ds-1", 100);
        let other = SecretKey::generate();
        assert!(
            matches!(
                read_all(&object, &other, "ds-1", None),
                Err(ColumnarError::Integrity)
            ),
            "{profile}: wrong key"
        );
        // The same key presented for another dataset (an object moved between datasets).
        assert!(
            matches!(
                read_all(&object, &dek, "ds-2", None),
                Err(ColumnarError::Integrity)
            ),
            "{profile}: wrong dataset"
        );
    }
}

#[test]
fn the_parquet_crate_reads_the_international_file_only_with_its_key() {
    let dek = SecretKey::generate();
    let object = Bytes::from(write_object(
        CryptoProfile::International,
        &dek,
        "ds-1",
        500,
    ));
    // The parquet crate's own reader, given the key as plain FileDecryptionProperties.
    let props = FileDecryptionProperties::builder(dek.expose().to_vec())
        .build()
        .unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(
        object.clone(),
        ArrowReaderOptions::new().with_file_decryption_properties(props),
    )
    .unwrap()
    .build()
    .unwrap();
    let read: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(concat(&read), concat(&batches(500)));

    // Without a key: the footer cannot even be parsed.
    assert!(ParquetRecordBatchReaderBuilder::try_new(object.clone()).is_err());
    // With a wrong key: refused.
    let wrong = FileDecryptionProperties::builder(SecretKey::generate().expose().to_vec())
        .build()
        .unwrap();
    let attempt = ParquetRecordBatchReaderBuilder::try_new_with_options(
        object,
        ArrowReaderOptions::new().with_file_decryption_properties(wrong),
    )
    .and_then(|b| b.build())
    .map(|r| r.collect::<Result<Vec<_>, _>>());
    assert!(!matches!(attempt, Ok(Ok(_))), "a wrong key read data");
}

#[test]
fn every_single_byte_flip_is_refused() {
    for profile in CryptoProfile::ALL {
        let dek = SecretKey::generate();
        let object = write_object(profile, &dek, "ds-1", 40);
        let mut refused = 0usize;
        for i in 0..object.len() {
            let mut bad = object.clone();
            bad[i] ^= 0x01;
            match read_all(&bad, &dek, "ds-1", None) {
                Ok(_) => panic!(
                    "{profile}: flipping byte {i} of {} went unnoticed",
                    object.len()
                ),
                Err(ColumnarError::Integrity | ColumnarError::Format(_)) => refused += 1,
                Err(other) => panic!("{profile}: byte {i}: unexpected error {other:?}"),
            }
        }
        assert_eq!(refused, object.len());
        // Truncation anywhere is refused too.
        for cut in [1, 4, 8, 17, object.len() / 2, object.len() - 1] {
            assert!(
                read_all(&object[..cut], &dek, "ds-1", None).is_err(),
                "{profile}: cut at {cut}"
            );
        }
    }
}

#[test]
fn projection_returns_only_granted_columns_in_grant_order() {
    for profile in CryptoProfile::ALL {
        let dek = SecretKey::generate();
        let object = write_object(profile, &dek, "ds-1", 3000);
        let granted = vec!["fee".to_string(), "age".to_string(), "fee".to_string()];
        let got = read_all(&object, &dek, "ds-1", Some(&granted)).unwrap();
        let names: Vec<String> = got[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, vec!["fee", "age"], "{profile}");
        let full = concat(&batches(3000));
        let want = full.project(&[4, 3]).unwrap();
        assert_eq!(concat(&got), want, "{profile}");
        let unknown = read_all(&object, &dek, "ds-1", Some(&["secret".to_string()]));
        assert!(
            matches!(unknown, Err(ColumnarError::Schema(ref m)) if m.contains("`secret`")),
            "{profile}: {unknown:?}"
        );
    }
}

#[test]
fn columns_are_encrypted_separately_and_any_corruption_is_refused() {
    // International profile: each column chunk is its own set of encrypted modules. Corrupt the
    // middle of the `id_number` chunk.
    let dek = SecretKey::generate();
    let object = write_object(CryptoProfile::International, &dek, "ds-1", 3000);
    let props = || {
        ArrowReaderOptions::new().with_file_decryption_properties(
            FileDecryptionProperties::builder(dek.expose().to_vec())
                .build()
                .unwrap(),
        )
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(Bytes::from(object.clone()), props())
            .unwrap();
    let meta = builder.metadata().clone();
    let (start, len) = meta.row_group(0).column(0).byte_range();
    assert_eq!(
        meta.row_group(0).column(0).column_path().string(),
        "id_number"
    );
    let mut bad = object.clone();
    bad[(start + len / 2) as usize] ^= 0x80;

    // The parquet crate reading only `age` and `fee` never decrypts the corrupted chunk…
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(Bytes::from(bad.clone()), props())
            .unwrap();
    let mask =
        medspace_columnar::parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), [3, 4]);
    let projected: Vec<RecordBatch> = builder
        .with_projection(mask)
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        concat(&projected),
        concat(&batches(3000)).project(&[3, 4]).unwrap()
    );
    // …and fails when it does.
    let full =
        ParquetRecordBatchReaderBuilder::try_new_with_options(Bytes::from(bad.clone()), props())
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>();
    assert!(full.is_err());

    // The medspace reader also checks the footer's digest of every byte before the footer, so
    // it refuses the file even for a projection that leaves the corrupted chunk out.
    let granted = ["age".to_string(), "fee".to_string()];
    assert!(read_all(&object, &dek, "ds-1", Some(&granted)).is_ok());
    assert!(matches!(
        read_all(&bad, &dek, "ds-1", Some(&granted)),
        Err(ColumnarError::Integrity)
    ));
}

#[test]
fn no_plaintext_value_or_column_name_is_in_the_stored_bytes() {
    // Control: a plain, uncompressed Parquet file of the same batches does contain them.
    let mut plain = Vec::new();
    let props = medspace_columnar::parquet::file::properties::WriterProperties::builder().build();
    let mut w = medspace_columnar::parquet::arrow::ArrowWriter::try_new(
        &mut plain,
        medspace_columnar::arrow_schema(&schema()),
        Some(props),
    )
    .unwrap();
    for b in batches(2000) {
        w.write(&b).unwrap();
    }
    w.close().unwrap();
    let needles: [&[u8]; 4] = [
        ID_NUMBER.as_bytes(),
        NAME.as_bytes(),
        PHONE.as_bytes(),
        b"id_number",
    ];
    for n in needles {
        assert!(
            contains(&plain, n),
            "control lacks {:?}",
            String::from_utf8_lossy(n)
        );
    }
    for profile in CryptoProfile::ALL {
        let dek = SecretKey::generate();
        let object = write_object(profile, &dek, "ds-1", 2000);
        for n in needles {
            assert!(
                !contains(&object, n),
                "{profile}: {:?} is readable in the object",
                String::from_utf8_lossy(n)
            );
        }
        assert!(
            !contains(&object, dek.expose()),
            "{profile}: the key is in the object"
        );
    }
}

#[test]
fn plain_parquet_and_unknown_layouts_are_refused() {
    let dek = SecretKey::generate();
    let mut plain = Vec::new();
    let mut w = medspace_columnar::parquet::arrow::ArrowWriter::try_new(
        &mut plain,
        medspace_columnar::arrow_schema(&schema()),
        None,
    )
    .unwrap();
    w.write(&batches(10)[0]).unwrap();
    w.close().unwrap();
    let err = read_all(&plain, &dek, "ds-1", None).unwrap_err();
    assert!(
        matches!(err, ColumnarError::Format(ref m) if m.contains("unencrypted")),
        "{err:?}"
    );
    assert!(matches!(
        read_all(b"id,name\n1,x\n", &dek, "ds-1", None),
        Err(ColumnarError::Format(_))
    ));
    assert!(matches!(
        read_all(b"", &dek, "ds-1", None),
        Err(ColumnarError::Format(_))
    ));
}

#[test]
fn a_writer_takes_batches_one_at_a_time() {
    let dek = SecretKey::generate();
    let b = batches(20_000);
    let mut w = ParquetObjectWriter::new(
        Vec::new(),
        b[0].schema(),
        CryptoProfile::National,
        ObjectKey {
            dek: &dek,
            context: "ds-1",
        },
    )
    .unwrap();
    for batch in &b {
        w.write(batch).unwrap();
    }
    assert_eq!(w.rows(), 20_000);
    let object = w.finish().unwrap();
    assert_eq!(
        concat(&read_all(&object, &dek, "ds-1", None).unwrap()),
        concat(&b)
    );
}

/// A random cell of a declared type, as CSV text (possibly empty = NULL).
fn cell(t: DataType) -> BoxedStrategy<String> {
    let empty = Just(String::new());
    match t {
        DataType::Integer => prop_oneof![1 => empty, 6 => any::<i32>().prop_map(|v| v.to_string())].boxed(),
        DataType::Float => prop_oneof![
            1 => empty,
            6 => (-1_000_000_000i64..1_000_000_000, 0u32..100_000).prop_map(|(i, f)| format!("{i}.{f}")),
        ]
        .boxed(),
        DataType::Text => prop_oneof![
            1 => empty,
            6 => "[a-z0-9 ,\"\u{4e00}-\u{4e20}]{1,12}",
        ]
        .boxed(),
    }
}

fn table() -> impl Strategy<Value = (Vec<ColumnSchema>, Vec<Vec<String>>)> {
    let types = proptest::collection::vec(
        prop_oneof![
            Just(DataType::Integer),
            Just(DataType::Float),
            Just(DataType::Text)
        ],
        1..5,
    );
    types.prop_flat_map(|types| {
        let schema: Vec<ColumnSchema> = types
            .iter()
            .enumerate()
            .map(|(i, t)| col(&format!("c{i}"), *t))
            .collect();
        let row: Vec<BoxedStrategy<String>> = types.iter().map(|t| cell(*t)).collect();
        (Just(schema), proptest::collection::vec(row, 0..40))
    })
}

fn to_csv(schema: &[ColumnSchema], rows: &[Vec<String>]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(schema.iter().map(|c| c.name.as_str()))
        .unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

/// The value a cell denotes: numbers compared as numbers, text as text, empty = NULL.
fn denotes(t: DataType, v: &str) -> Option<String> {
    if v.is_empty() {
        return None;
    }
    Some(match t {
        DataType::Integer => v.parse::<i64>().unwrap().to_string(),
        DataType::Float => v.parse::<f64>().unwrap().to_string(),
        DataType::Text => v.to_string(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// CSV → typed batches → encrypted Parquet (both profiles) → batches → CSV keeps every value.
    #[test]
    fn typed_conversion_round_trips((schema, rows) in table()) {
        let text = to_csv(&schema, &rows);
        let typed: Vec<RecordBatch> = csv_batches("t", &schema, None, text.as_bytes())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for profile in CryptoProfile::ALL {
            let dek = SecretKey::generate();
            let arrow_schema = medspace_columnar::arrow_schema(&schema);
            let (object, n) = write(
                Vec::new(),
                Arc::clone(&arrow_schema),
                typed.clone().into_iter().map(Ok),
                profile,
                ObjectKey { dek: &dek, context: "ds-p" },
            )
            .unwrap();
            prop_assert_eq!(n, rows.len() as u64);
            let reader = read(Bytes::from(object), ObjectKey { dek: &dek, context: "ds-p" }, None).unwrap();
            let mut back = String::new();
            std::io::Read::read_to_string(&mut CsvText::new(reader.schema(), reader).unwrap(), &mut back).unwrap();
            let mut r = csv::ReaderBuilder::new().from_reader(back.as_bytes());
            let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
            prop_assert_eq!(header, schema.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
            let got: Vec<Vec<String>> = r
                .records()
                .map(|rec| rec.unwrap().iter().map(String::from).collect())
                .collect();
            prop_assert_eq!(got.len(), rows.len());
            for (g, want) in got.iter().zip(&rows) {
                for ((c, gv), wv) in schema.iter().zip(g).zip(want) {
                    prop_assert_eq!(denotes(c.data_type, gv), denotes(c.data_type, wv));
                }
            }
        }
    }
}
