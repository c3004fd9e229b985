#!/usr/bin/env bash
# Crypto throughput, medspace beside OpenSSL on the same machine in one run (issue 3, item 10).
#
# 1. criterion bench `throughput` of medspace-crypto, wall clock: AES-256-GCM and SM4-GCM through
#    the at-rest envelope (8 MiB object, 64 KiB STREAM segments; `encrypt_bytes_with` and the
#    streaming writer), as bare AEADs on 8 KiB buffers, AES-GCM's two passes (CTR, GHASH) apart;
#    SHA-256, SM3; Ed25519 and SM2 signatures; SM2 key exchange.
# 2. bench `cpu_throughput`: the same primitives per CPU-second of the benchmark thread.
# 3. `openssl speed` (8 KiB blocks for ciphers and hashes), which divides by CPU user time.
#
# The medspace/OpenSSL ratios in docs/benchmarks.md compare 2 with 3: both per CPU-second, so they
# hold on a machine other work shares, where wall-clock figures drop by a different amount for each
# program. The machine, the CPU features the AES/GHASH backends detect at run time and the load
# average before and after are printed as well.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/medspace-target}"
out="${1:-/tmp/medspace-bench-crypto}"
mkdir -p "$out"
: >"$out/openssl.txt"

echo "== machine"
{
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
  echo "cpu features: $(grep -m1 -o -w -E 'aes|pclmulqdq|avx2|avx512f|vaes|vpclmulqdq' /proc/cpuinfo \
    | sort -u | tr '\n' ' ')"
  echo "$(rustc --version); $(openssl version)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt"

echo "== medspace (criterion, wall clock)"
cargo bench -p medspace-crypto --bench throughput -- --noplot 2>&1 | tee "$out/medspace.txt" \
  | grep -E "^(aead|hash|signature|key_exchange)|time:|thrpt:"

echo "== medspace per CPU-second"
cargo bench -p medspace-crypto --bench cpu_throughput 2>&1 | tee "$out/medspace-cpu.txt" \
  | grep -E "CPU-second|NOTICE|^1 MB"

echo "== openssl $(openssl version | cut -d' ' -f2) (per CPU-second: its default divisor is user time)"
# OpenSSL 3.0 has no SM4-GCM in `speed`; SM4-CTR (the keystream half of GCM, without GHASH) is the
# closest it measures, so the SM4 ratio is conservative.
for alg in aes-256-gcm sm4-ctr sha256 sm3; do
  (openssl speed -seconds 3 -bytes 8192 -evp "$alg" 2>/dev/null || echo "$alg: not available") \
    | tail -1 | tee -a "$out/openssl.txt"
done
for alg in ed25519 sm2; do
  (openssl speed -seconds 3 "$alg" 2>/dev/null || echo "$alg: not available") | tail -1 \
    | tee -a "$out/openssl.txt"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt"
