#!/usr/bin/env bash
# Audit-log benchmarks (issue 4): durable appends per second with concurrent writers, integration and
# checkpoint signing, inclusion-proof generation and full verification of a 1,000,000-entry log.
# Usage: scripts/bench-audit.sh [ENTRIES]   (default 1000000). Needs a release build and hyperfine
# (falls back to `time` without it). Writes only under a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES="${1:-1000000}"
BIN="${CARGO_TARGET_DIR:-$HOME/.cache/medspace-target}/release/medspace"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK" "$WORK.masterkey"' EXIT
N="$WORK/n"
"$BIN" init --dir "$N" >/dev/null

echo "== durable appends (group commit, SQLite WAL, synchronous=FULL)"
for w in 1 16 64 256; do
  "$BIN" audit bench --dir "$N" --writers "$w" --entries $((w == 1 ? 5000 : 100000))
done

echo "== fill to $ENTRIES entries"
have=$("$BIN" audit verify --dir "$N" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])')
"$BIN" audit bench --dir "$N" --writers 64 --entries $((ENTRIES - have))

echo "== integrate all entries into the Merkle tree and sign a checkpoint"
/usr/bin/time -f "%e s, %M KiB max RSS" "$BIN" audit checkpoint --dir "$N" | head -2

if command -v hyperfine >/dev/null 2>&1; then
  hyperfine -w 1 -r 5 "$BIN audit verify --dir $N" \
    "$BIN audit proof --dir $N --entry $((ENTRIES / 2)) --format json" \
    "$BIN audit consistency --dir $N --from $((ENTRIES / 3)) --format json"
else
  for cmd in "audit verify --dir $N" "audit proof --dir $N --entry $((ENTRIES / 2)) --format json"; do
    /usr/bin/time -f "$cmd: %e s, %M KiB" "$BIN" $cmd >/dev/null
  done
fi
