//! Adult (ARX) benchmarks: optimal global recoding with 0 % and 5 % suppression, and local
//! recoding, k = 5 over 9 quasi-identifiers (GB/T 39725-2020 §10.2 e), §11.4.2.4).
//!
//! `cargo bench -p medspace-deid --bench adult`; data from `shared/data/arx-adult` beside the
//! repository or `$MEDSPACE_ARX_ADULT`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use medspace_deid::{
    local_recoding, search_optimal, AnonConfig, AnonData, Hierarchy, QuasiIdentifier,
};

const QIS: [&str; 9] = [
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
    "salary-class",
];

fn data_dir() -> PathBuf {
    if let Ok(d) = std::env::var("MEDSPACE_ARX_ADULT") {
        return PathBuf::from(d);
    }
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/arx-adult");
    if beside.join("adult.csv").exists() {
        return beside;
    }
    PathBuf::from("/work/shared/data/arx-adult")
}

fn adult() -> AnonData {
    let dir = data_dir();
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_path(dir.join("adult.csv"))
        .unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let qis: Vec<QuasiIdentifier> = QIS
        .iter()
        .map(|a| QuasiIdentifier {
            column: a.to_string(),
            hierarchy: Hierarchy::from_csv_path(&dir.join(format!("adult_hierarchy_{a}.csv")))
                .unwrap(),
        })
        .collect();
    AnonData::new(&header, &rows, &qis, None).unwrap()
}

fn bench(c: &mut Criterion) {
    let data = adult();
    let mut g = c.benchmark_group("adult_k5");
    g.sample_size(10);
    let zero = AnonConfig::k_anonymity(5, 0.0);
    g.bench_function("global_0pct", |b| {
        b.iter(|| search_optimal(&data, &zero).unwrap())
    });
    let five = AnonConfig::k_anonymity(5, 0.05);
    g.bench_function("global_5pct", |b| {
        b.iter(|| search_optimal(&data, &five).unwrap())
    });
    let mut local = AnonConfig::k_anonymity(5, 0.05);
    local.suppression_weight = 0.0;
    g.bench_function("local_recoding", |b| {
        b.iter(|| local_recoding(&data, &local, 0.9, 100).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
