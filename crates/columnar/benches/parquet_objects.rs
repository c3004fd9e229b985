//! Writing and reading 200,000 settlement-like rows as encrypted Parquet, per crypto profile
//! (T/CI 857-2024 6.3; DMS 4.3.1 / 7.2.4): international = Parquet modular encryption
//! (AES-256-GCM), national = plain Parquet in the SM4-GCM envelope. Also a two-column projection
//! read and the CSV → typed batches conversion. Run with
//! `cargo bench -p medspace-columnar --bench parquet_objects`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark code")]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medspace_columnar::arrow::array::RecordBatch;
use medspace_columnar::{arrow_schema, csv_batches, read, write, Bytes, ObjectKey};
use medspace_core::{ColumnSchema, DataType};
use medspace_crypto::{CryptoProfile, SecretKey};

const ROWS: usize = 200_000;

fn schema() -> Vec<ColumnSchema> {
    let col = |n: &str, t| ColumnSchema {
        name: n.into(),
        data_type: t,
    };
    vec![
        col("id_number", DataType::Text),
        col("sex", DataType::Text),
        col("age", DataType::Integer),
        col("county", DataType::Text),
        col("diagnosis_code", DataType::Text),
        col("admission_time", DataType::Text),
        col("total_fee", DataType::Float),
        col("fund_paid", DataType::Float),
    ]
}

fn csv() -> String {
    let mut s = String::from(
        "id_number,sex,age,county,diagnosis_code,admission_time,total_fee,fund_paid\n",
    );
    for i in 0..ROWS {
        s.push_str(&format!(
            "3301{:014},{},{},3301{:02},{}{:02}.{},2024-{:02}-{:02} 08:{:02}:00,{}.{:02},{}.{:02}\n",
            i * 7919 % 100_000_000_000_000,
            if i % 2 == 0 { "男" } else { "女" },
            i % 97,
            i % 12,
            ["I", "E", "J", "K"][i % 4],
            i % 100,
            i % 10,
            i % 12 + 1,
            i % 28 + 1,
            i % 60,
            i % 50_000,
            i % 100,
            i % 30_000,
            i % 97,
        ));
    }
    s
}

fn batches(text: &str) -> Vec<RecordBatch> {
    csv_batches("bench", &schema(), None, text.as_bytes())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn objects(c: &mut Criterion) {
    let text = csv();
    let typed = batches(&text);
    let dek = SecretKey::generate();
    let key = ObjectKey {
        dek: &dek,
        context: "ds-bench",
    };

    let mut g = c.benchmark_group("columnar_200k_rows");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("csv_to_typed_batches", |b| b.iter(|| batches(&text)));
    for profile in CryptoProfile::ALL {
        let write_object = || {
            write(
                Vec::with_capacity(8 << 20),
                arrow_schema(&schema()),
                typed.iter().cloned().map(Ok),
                profile,
                key,
            )
            .unwrap()
            .0
        };
        let object = Bytes::from(write_object());
        eprintln!(
            "{profile}: {} rows, CSV {} bytes, object {} bytes",
            ROWS,
            text.len(),
            object.len()
        );
        g.bench_function(format!("{profile}_write"), |b| b.iter(write_object));
        g.bench_function(format!("{profile}_read_all"), |b| {
            b.iter(|| {
                read(object.clone(), key, None)
                    .unwrap()
                    .collect_batches()
                    .unwrap()
            })
        });
        let granted = ["sex".to_string(), "total_fee".to_string()];
        g.bench_function(format!("{profile}_read_2_columns"), |b| {
            b.iter(|| {
                read(object.clone(), key, Some(&granted))
                    .unwrap()
                    .collect_batches()
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, objects);
criterion_main!(benches);
