//! Throughput of the node's primitives, for comparison with `openssl speed` on the same machine
//! (`scripts/bench-crypto.sh` runs both): AES-256-GCM and SM4-GCM through the at-rest envelope
//! (64 KiB STREAM segments, as data is stored), the bare AEADs on 8 KiB buffers in place (as
//! `openssl speed -bytes 8192` measures them, to separate the primitive from the envelope),
//! SHA-256 and SM3, signatures per second for Ed25519 and SM2-with-SM3, and SM2 key exchanges
//! (GB/T 32918.3, both parties, with confirmation) per second.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark code")]

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, AesGcm, Nonce};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::Write as _;

use medspace_crypto::{
    encrypt_bytes_with, encrypt_writer_with, CryptoProfile, HashAlgorithm, NodeSigningKey,
    SecretKey, SignatureScheme, Sm2DecryptionKey, Sm2KeyExchange,
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
    // The streaming writer (as ingest uses it), written in 1 MiB pieces into a reused buffer:
    // one copy more per segment than `encrypt_bytes_with`, which seals in place in its output.
    let mut out = Vec::with_capacity(data.len() + (8 << 10));
    g.bench_function("AES-256-GCM writer", |b| {
        b.iter(|| {
            out.clear();
            let mut w = encrypt_writer_with(CryptoProfile::International, &dek, b"bench", &mut out)
                .unwrap();
            for piece in data.chunks(1 << 20) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap();
        })
    });
    g.finish();
}

/// The AEAD alone, 8 KiB in place, fresh nonce per call as in `openssl speed -evp`.
fn aead_primitive(c: &mut Criterion) {
    let mut buf = vec![0x5au8; 8192];
    let aes = Aes256Gcm::new(&[7u8; 32].into());
    let sm4 = AesGcm::<sm4::Sm4, aes_gcm::aead::consts::U12>::new(&[7u8; 16].into());
    let nonce = Nonce::from([1u8; 12]);
    let mut g = c.benchmark_group("aead_primitive_8KiB");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("AES-256-GCM", |b| {
        b.iter(|| aes.encrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into()))
    });
    g.bench_function("SM4-GCM", |b| {
        b.iter(|| sm4.encrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into()))
    });
    g.finish();

    // AES-GCM's two passes apart: `aes-gcm` runs the CTR keystream over the message, then GHASH
    // over the ciphertext (not interleaved), so its rate is at most 1 / (1/CTR + 1/GHASH).
    use aes_gcm::aes::cipher::{KeyIvInit, StreamCipher};
    use ghash::universal_hash::UniversalHash;
    let ghash_key = ghash::GHash::new(&[3u8; 16].into());
    let mut g = c.benchmark_group("aead_parts_8KiB");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("AES-256-CTR", |b| {
        b.iter(|| {
            ctr::Ctr32BE::<aes_gcm::aes::Aes256>::new(&[7u8; 32].into(), &[1u8; 16].into())
                .apply_keystream(&mut buf)
        })
    });
    g.bench_function("GHASH", |b| {
        b.iter(|| {
            let mut h = ghash_key.clone();
            h.update_padded(&buf);
            h.finalize()
        })
    });
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

fn key_exchange(c: &mut Criterion) {
    let (a, b) = (
        Sm2DecryptionKey::generate().unwrap(),
        Sm2DecryptionKey::generate().unwrap(),
    );
    let (pa, pb) = (a.encryption_key(), b.encryption_key());
    let mut g = c.benchmark_group("key_exchange");
    g.bench_function("sm2_kx_both_parties", |bench| {
        bench.iter(|| {
            let i = Sm2KeyExchange::initiator(&a, b"A", &pb, b"B", 32).unwrap();
            let (r, reply) =
                Sm2KeyExchange::responder(&b, b"B", &pa, b"A", 32, &i.ephemeral_public()).unwrap();
            let done = i
                .finish(&reply.ephemeral, Some(&reply.confirmation))
                .unwrap();
            r.confirm(&done.confirmation).unwrap()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    aead,
    aead_primitive,
    hashes,
    signatures,
    key_exchange
);
criterion_main!(benches);
