//! The cost of encryption in the ingest path (issue 3, item 10): the same validation and profiling
//! of 200,000 generated settlement rows, once writing the normalised records nowhere, once through
//! the AES-256-GCM envelope and once through the SM4-GCM envelope (both into a sink, so disk speed
//! does not enter). Classification of the sample is outside all three.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark code")]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medspace_service::csvio::profile_csv;
use medspace_service::reexports::crypto::{encrypt_writer_with, CryptoProfile, SecretKey};
use medspace_service::reexports::gen::{generate, GenOptions, Table};

fn ingest(c: &mut Criterion) {
    let mut csv = Vec::new();
    generate(
        &GenOptions {
            rows: 200_000,
            seed: 3,
            table: Table::Settlements,
            persons: None,
        },
        &mut csv,
        &mut |_| {},
    )
    .unwrap();
    let dek = SecretKey::generate();
    let mut g = c.benchmark_group("ingest_200k_rows");
    g.throughput(Throughput::Bytes(csv.len() as u64));
    g.sample_size(10);
    g.bench_function("validate_profile_no_output", |b| {
        b.iter(|| profile_csv("bench.csv", &csv[..], None, 1000, &mut |_| {}).unwrap())
    });
    for profile in CryptoProfile::ALL {
        g.bench_function(format!("validate_profile_encrypt_{profile}"), |b| {
            b.iter(|| {
                let mut enc = encrypt_writer_with(profile, &dek, b"ds", std::io::sink()).unwrap();
                profile_csv("bench.csv", &csv[..], Some(&mut enc), 1000, &mut |_| {}).unwrap();
                enc.finish().unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
