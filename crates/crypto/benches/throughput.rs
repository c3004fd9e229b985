//! Throughput of the node's primitives, for comparison with `openssl speed` on the same machine
//! (`scripts/bench-crypto.sh` runs both): AES-256-GCM and SM4-GCM through the at-rest envelope
//! (64 KiB STREAM segments, as data is stored), SHA-256 and SM3, and signatures per second for
//! Ed25519 and SM2-with-SM3.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark code")]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medspace_crypto::{
    encrypt_bytes_with, CryptoProfile, HashAlgorithm, NodeSigningKey, SecretKey, SignatureScheme,
};

fn aead(c: &mut Criterion) {
    let data = vec![0x5au8; 8 << 20];
    let dek = SecretKey::generate();
    let mut g = c.benchmark_group("aead_8MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    for profile in CryptoProfile::ALL {
        g.bench_function(profile.content_cipher().name(), |b| {
            b.iter(|| encrypt_bytes_with(profile, &dek, b"bench", &data).unwrap())
        });
    }
    g.finish();
}

fn hashes(c: &mut Criterion) {
    let data = vec![0x33u8; 8 << 20];
    let mut g = c.benchmark_group("hash_8MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    for alg in [HashAlgorithm::Sha256, HashAlgorithm::Sm3] {
        g.bench_function(alg.name(), |b| b.iter(|| alg.digest(&data)));
    }
    g.finish();
}

fn signatures(c: &mut Criterion) {
    let msg = [7u8; 256];
    let mut g = c.benchmark_group("signature");
    for scheme in [SignatureScheme::Ed25519, SignatureScheme::Sm2Sm3] {
        let key = NodeSigningKey::generate(scheme).unwrap();
        let sig = key.sign(&msg).unwrap();
        let vk = key.verifying_key();
        g.bench_function(format!("{}_sign", scheme.name()), |b| {
            b.iter(|| key.sign(&msg).unwrap())
        });
        g.bench_function(format!("{}_verify", scheme.name()), |b| {
            b.iter(|| vk.verify(&msg, &sig).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, aead, hashes, signatures);
criterion_main!(benches);
