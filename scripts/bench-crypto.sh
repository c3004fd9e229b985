#!/usr/bin/env bash
# Crypto throughput, medspace beside OpenSSL on the same machine in one run (issue 3, item 10).
# medspace: criterion bench `throughput` of medspace-crypto (AES-256-GCM and SM4-GCM through the
# at-rest envelope, SHA-256, SM3, Ed25519 and SM2 signatures). OpenSSL: `openssl speed` with 8 KiB
# blocks (its largest default size, 16 KiB, is also printed).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/medspace-target}"
out="${1:-/tmp/medspace-bench-crypto}"
mkdir -p "$out"

echo "== medspace (criterion)"
cargo bench -p medspace-crypto --bench throughput -- --noplot 2>&1 | tee "$out/medspace.txt" \
  | grep -E "^(aead|hash|signature)|time:|thrpt:"

echo "== openssl $(openssl version | cut -d' ' -f2)"
# OpenSSL 3.0 has no SM4-GCM in `speed`; SM4-CTR (the keystream half of GCM, without GHASH) is the
# closest it measures, so the SM4 ratio is conservative.
for alg in aes-256-gcm sm4-ctr sha256 sm3; do
  (openssl speed -seconds 2 -bytes 8192 -evp "$alg" 2>/dev/null || echo "$alg: not available") \
    | tail -1 | tee -a "$out/openssl.txt"
done
for alg in ed25519 sm2; do
  (openssl speed -seconds 2 "$alg" 2>/dev/null || echo "$alg: not available") | tail -1 \
    | tee -a "$out/openssl.txt"
done
