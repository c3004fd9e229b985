#!/usr/bin/env bash
# `medspace scan` on an outside corpus (issue 5): Faker's zh_CN and mimesis's zh values (installed from PyPI into a
# throwaway virtual environment), written by scripts/faker_corpus.py with a seed other than the one
# of the copy under crates/classify/tests/faker/, scored column by column against the truth the
# generator wrote (semantic type and identifier kind, as `medspace scan --format json` gives them).
#
# Usage: scripts/eval-scan-faker.sh [ROWS] [SEED]
set -euo pipefail
ROWS=${1:-300}
SEED=${2:-7}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/medspace-faker.XXXXXX)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/medspace-target}
cargo build --release -q -p medspace --manifest-path "$ROOT/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/medspace
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q faker mimesis >"$WORK/pip.log" 2>&1 || { echo "pip install faker mimesis failed, see $WORK/pip.log"; exit 1; }
echo "faker $("$WORK/venv/bin/python" -c 'import faker; print(faker.VERSION)'), mimesis $("$WORK/venv/bin/python" -c 'import mimesis; print(mimesis.__version__)'), $ROWS rows, seed $SEED"
"$WORK/venv/bin/python" "$ROOT/scripts/faker_corpus.py" "$WORK/corpus" "$ROWS" "$SEED"
python3 - "$BIN" "$WORK/corpus" <<'PY'
import csv, json, subprocess, sys
bin_, corpus = sys.argv[1], sys.argv[2]
truth = list(csv.DictReader(open(corpus + "/truth.csv", encoding="utf-8")))
got = {}
for name in sorted({t["file"] for t in truth}):
    out = subprocess.run([bin_, "scan", corpus + "/" + name, "--format", "json"],
                         capture_output=True, text=True, check=True)
    for c in json.loads(out.stdout)["columns"]:
        got[(name, c["name"])] = (c["semantic_type"], c["identifier_kind"])
right = 0
for t in truth:
    pair = got[(t["file"], t["column"])]
    if pair == (t["semantic_type"], t["identifier_kind"]):
        right += 1
    else:
        print("wrong: %s:%s truth %s/%s got %s/%s" % (t["file"], t["column"], t["semantic_type"],
                                                      t["identifier_kind"], pair[0], pair[1]))
direct = [t for t in truth if t["identifier_kind"] == "direct"]
found = sum(got[(t["file"], t["column"])][1] == "direct" for t in direct)
print("columns right: %d/%d = %.1f %% (goal >= 95 %%); direct identifiers found as direct: %d/%d"
      % (right, len(truth), 100.0 * right / len(truth), found, len(direct)))
PY
rm -rf "$WORK"
