#!/usr/bin/env python3
"""Independent k-anonymity check of a CSV file (GB/T 39725-2020 §10.2 e), §11.4.2.4).

Uses only the Python standard library, none of medspace's code:

    check_kanon.py FILE --qi a,b,c --k 5 [--delimiter ,]

Groups the records by the values of the quasi-identifier columns and exits 0 when every group
has at least k records, 1 otherwise (printing the smallest group size), 2 on usage errors.
"""
import argparse
import collections
import csv
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--qi", required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--delimiter", default=",")
    a = ap.parse_args()
    qis = [q for q in a.qi.split(",") if q]
    csv.field_size_limit(1 << 30)
    with open(a.file, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter=a.delimiter)
        missing = [q for q in qis if q not in (reader.fieldnames or [])]
        if missing:
            print(f"missing columns: {missing}", file=sys.stderr)
            return 2
        groups = collections.Counter(tuple(row[q] for q in qis) for row in reader)
    records = sum(groups.values())
    smallest = min(groups.values()) if groups else 0
    below = sum(1 for n in groups.values() if n < a.k)
    print(f"records={records} classes={len(groups)} smallest={smallest} below_k={below}")
    return 0 if below == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
