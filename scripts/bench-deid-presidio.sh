#!/usr/bin/env bash
# Record-level de-identification on a 1,000,000-row × 6-column CSV, side by side in one run:
#   1. plain read-and-write floor (same binary, same CSV reader/writer, no transforms)
#   2. medspace: mask, keyed pseudonym, age band, date shift, postal truncation (+ drop)
#   3. Presidio's presidio-structured (installed from PyPI into a throwaway venv) with the same
#      operators: mask, hash (SHA-256; Presidio has no keyed pseudonym), custom age band,
#      custom date shift, custom postal truncation.
# Presidio needs no spaCy model here: the column → entity mapping is given explicitly
# (StructuredAnalysis), so the NLP analyzer is never loaded.
#
# Usage: scripts/bench-deid-presidio.sh [ROWS] [PRESIDIO_ROWS]
# Best of 3 runs each, timed with `date +%s.%N`; prints the machine, the load average around each
# measurement and the two ratios of issue 6 item 11 (medspace / floor, medspace / Presidio).
# Record-level transforms use every core (rayon; RAYON_NUM_THREADS=1 for a one-core figure).
set -euo pipefail
ROWS=${1:-1000000}
PRESIDIO_ROWS=${2:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-$(mktemp -d /tmp/medspace-bench.XXXXXX)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/medspace-target}
echo "work dir: $WORK"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"

cargo build --release -q -p medspace-deid --example deid_file --manifest-path "$ROOT/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/examples/deid_file

python3 - "$WORK/in.csv" "$ROWS" <<'PY'
import random, sys, datetime
path, n = sys.argv[1], int(sys.argv[2])
r = random.Random(42)
surn = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
base = datetime.date(1930, 1, 1)
with open(path, "w", encoding="utf-8") as f:
    f.write("name,id_number,mobile,birth_date,admission_date,postal_code\n")
    for i in range(n):
        b = base + datetime.timedelta(days=r.randrange(0, 30000))
        a = datetime.date(2020, 1, 1) + datetime.timedelta(days=r.randrange(0, 1800))
        idn = "%06d%s%03d%s" % (r.choice([110101, 310104, 330106, 440305, 510107]), b.strftime("%Y%m%d"), r.randrange(1000), r.choice("0123456789X"))
        f.write("%s%s,%s,1%d%09d,%s,%s,%d\n" % (r.choice(surn), r.choice(given), idn, r.choice([3,5,8]), r.randrange(10**9), b.isoformat(), a.isoformat(), r.choice([100080,100190,200030,310012,510630])))
PY
head -n $((PRESIDIO_ROWS + 1)) "$WORK/in.csv" > "$WORK/in_small.csv"

cat > "$WORK/policy.toml" <<'TOML'
name = "bench"
k = 2
quasi_identifiers = ["birth_date", "postal_code"]
subject_column = "id_number"
date_shift_max_days = 30
[columns.name]
action = "drop"
[columns.id_number]
action = "pseudonymize"
[columns.mobile]
action = "mask"
keep_first = 3
keep_last = 4
[columns.birth_date]
action = "age_band"
reference_column = "admission_date"
[columns.admission_date]
action = "date_shift"
[columns.postal_code]
action = "truncate"
length = 4
pad = "0"
TOML

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q presidio-structured pandas >"$WORK/pip.log" 2>&1 || { echo "pip install failed, see $WORK/pip.log"; tail -5 "$WORK/pip.log"; }
cat > "$WORK/presidio_bench.py" <<'PY'
import sys, time, hashlib, datetime
import pandas as pd
from presidio_anonymizer.entities import OperatorConfig
from presidio_structured import StructuredEngine, PandasDataProcessor
from presidio_structured.config import StructuredAnalysis

src, dst = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
df = pd.read_csv(src, dtype=str)
analysis = StructuredAnalysis(entity_mapping={
    "name": "PERSON", "id_number": "ID", "mobile": "PHONE_NUMBER",
    "birth_date": "BIRTH", "admission_date": "DATE_TIME", "postal_code": "ZIP"})
ref = datetime.date(2024, 1, 1)
def band(v):
    b = datetime.date.fromisoformat(v); a = ref.year - b.year - ((ref.month, ref.day) < (b.month, b.day))
    return "<25" if a < 25 else (">89" if a > 89 else "%d-%d" % (a // 5 * 5, a // 5 * 5 + 4))
def shift(v):  # Presidio has no per-subject shift: a fixed offset stands in for it
    return (datetime.date.fromisoformat(v) + datetime.timedelta(days=17)).isoformat()
operators = {
    "PERSON": OperatorConfig("redact", {}),
    "ID": OperatorConfig("hash", {"hash_type": "sha256"}),
    "PHONE_NUMBER": OperatorConfig("mask", {"masking_char": "*", "chars_to_mask": 4, "from_end": False}),
    "BIRTH": OperatorConfig("custom", {"lambda": band}),
    "DATE_TIME": OperatorConfig("custom", {"lambda": shift}),
    "ZIP": OperatorConfig("custom", {"lambda": lambda v: v[:4] + "00"}),
}
out = StructuredEngine(data_processor=PandasDataProcessor()).anonymize(df, analysis, operators)
out.to_csv(dst, index=False)
dt = time.perf_counter() - t0
print("presidio-structured: %d rows in %.2f s = %.0f rows/s" % (len(df), dt, len(df) / dt))
PY

timeit() { # var name cmd...: best of 3 into $var
  local var=$1 name=$2; shift 2
  local best=999999
  for i in 1 2 3; do
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    best=$(python3 -c "print(min($best, $e - $s))")
  done
  printf -v "$var" '%s' "$best"
  echo "$name: best of 3 = ${best}s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
}

timeit FLOOR "read-and-write floor ($ROWS rows)" "$BIN" --copy "$WORK/in.csv" "$WORK/copy.csv"
timeit MEDSPACE "medspace record-level ($ROWS rows)" "$BIN" "$WORK/policy.toml" "$WORK/in.csv" "$WORK/out.csv"
timeit SMALL "medspace record-level ($PRESIDIO_ROWS rows)" "$BIN" "$WORK/policy.toml" "$WORK/in_small.csv" "$WORK/out_small.csv"
python3 -c "print('medspace: %.0f rows/s = %.0f %% of the floor (goal >= 50 %%)' % ($ROWS / $MEDSPACE, 100 * $FLOOR / $MEDSPACE))"
if "$WORK/venv/bin/python" -c "import presidio_structured" 2>"$WORK/import.log"; then
  PRESIDIO=$("$WORK/venv/bin/python" "$WORK/presidio_bench.py" "$WORK/in_small.csv" "$WORK/presidio_out.csv") || echo "presidio run failed"
  echo "$PRESIDIO (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  PRATE=$(echo "$PRESIDIO" | sed -n 's/.*= \([0-9]*\) rows\/s/\1/p')
  [ -n "$PRATE" ] && python3 -c "print('medspace / presidio-structured: %.0fx (goal >= 100x)' % ($ROWS / $MEDSPACE / $PRATE))"
else
  echo "presidio-structured cannot be imported:"; tail -3 "$WORK/import.log"
fi
