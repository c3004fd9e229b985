//! Throughput per CPU-second, the divisor `openssl speed` uses by default (user CPU time), so the
//! two can be compared on a machine that other work shares: wall-clock figures (criterion's, in
//! `benches/throughput.rs`) drop with every other process on the cores, by a different amount for
//! each program. CPU time is this thread's on-CPU time from `/proc/thread-self/schedstat` (Linux,
//! nanoseconds, kernel time on its behalf included — page faults of the 8 MiB outputs count
//! against medspace). Without that file the wall clock is used and the output says so.
//!
//! `scripts/bench-crypto.sh` runs it beside `openssl speed`; alone:
//! `cargo bench -p medspace-crypto --bench cpu_throughput` (`MEDSPACE_BENCH_SECONDS`, default 3).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark code")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, AesGcm, Nonce};
use medspace_crypto::{
    encrypt_bytes_with, CryptoProfile, HashAlgorithm, NodeSigningKey, SecretKey, SignatureScheme,
};

/// On-CPU time of this thread, if the kernel reports it.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `f` until it has used `seconds` of CPU time; returns (calls per CPU-second, calls per
/// wall-clock second). Calls run in batches of at least 10 ms, so reading the clocks costs
/// nothing measurable.
fn rate(seconds: f64, mut f: impl FnMut()) -> (f64, f64) {
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        if t.elapsed() >= Duration::from_millis(10) {
            break;
        }
        batch *= 2;
    }
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    let mut calls = 0u64;
    loop {
        for _ in 0..batch {
            f();
        }
        calls += batch;
        let spent = match (cpu0, cpu_time()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => wall0.elapsed(),
        };
        if spent.as_secs_f64() >= seconds {
            let wall = wall0.elapsed().as_secs_f64();
            return (calls as f64 / spent.as_secs_f64(), calls as f64 / wall);
        }
    }
}

fn throughput(name: &str, bytes: usize, seconds: f64, f: impl FnMut()) {
    let (cpu, wall) = rate(seconds, f);
    let mb = bytes as f64 / 1e6;
    println!(
        "{name:<40} {:>9.0} MB/s per CPU-second   (wall clock: {:.0} MB/s)",
        cpu * mb,
        wall * mb
    );
}

fn operations(name: &str, seconds: f64, f: impl FnMut()) {
    let (cpu, wall) = rate(seconds, f);
    println!("{name:<40} {cpu:>9.0} per CPU-second      (wall clock: {wall:.0} per s)");
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    let seconds: f64 = std::env::var("MEDSPACE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    if cpu_time().is_none() {
        println!("NOTICE: /proc/thread-self/schedstat unavailable; dividing by wall-clock time");
    }
    println!("1 MB = 10^6 bytes");

    let object = vec![0x5au8; 8 << 20];
    let dek = SecretKey::generate();
    for profile in CryptoProfile::ALL {
        let name = format!("envelope 8 MiB {}", profile.content_cipher());
        throughput(&name, object.len(), seconds, || {
            black_box(encrypt_bytes_with(profile, &dek, b"bench", &object).unwrap());
        });
    }

    let mut block = vec![0x5au8; 8192];
    let nonce = Nonce::from([1u8; 12]);
    let aes = Aes256Gcm::new(&[7u8; 32].into());
    throughput("AEAD 8 KiB in place AES-256-GCM", 8192, seconds, || {
        black_box(
            aes.encrypt_inout_detached(&nonce, b"", block.as_mut_slice().into())
                .unwrap(),
        );
    });
    let sm4 = AesGcm::<sm4::Sm4, aes_gcm::aead::consts::U12>::new(&[7u8; 16].into());
    throughput("AEAD 8 KiB in place SM4-GCM", 8192, seconds, || {
        black_box(
            sm4.encrypt_inout_detached(&nonce, b"", block.as_mut_slice().into())
                .unwrap(),
        );
    });

    for alg in [HashAlgorithm::Sha256, HashAlgorithm::Sm3] {
        throughput(&format!("hash 8 KiB {alg}"), 8192, seconds, || {
            black_box(alg.digest(&block));
        });
    }

    let msg = [7u8; 256];
    for scheme in [SignatureScheme::Ed25519, SignatureScheme::Sm2Sm3] {
        let key = NodeSigningKey::generate(scheme).unwrap();
        let sig = key.sign(&msg).unwrap();
        let vk = key.verifying_key();
        operations(&format!("{scheme} sign"), seconds, || {
            black_box(key.sign(&msg).unwrap());
        });
        operations(&format!("{scheme} verify"), seconds, || {
            vk.verify(&msg, &sig).unwrap();
        });
    }
}
