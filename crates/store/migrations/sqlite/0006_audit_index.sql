-- Indexes over the audit log (T/CI 857-2024 7.2.6; GB/T 39725-2020 §7 g)).
--
-- audit_index: one row per (key, entry) where key is `actor:<id>`, `action:<name>`,
-- `dataset:<id>`, `application:<id>` or `subject:<pseudonym>`; written in the same transaction that
-- integrates the entry into the Merkle tree (searches integrate first), which keeps the durable
-- appends at the head of the log free of random index writes. `ts` is the entry's RFC 3339 UTC time with
-- microseconds, so text order is time order. The index is derived data: every entry it returns is
-- re-read from audit_log, re-checked against the filter and proven in the Merkle tree.
--
-- subject_datasets: which datasets hold a data subject, by keyed pseudonym (HMAC under a node key;
-- the identifier itself is never stored), written with the dataset's catalogue entry.
--
-- Both are append-only: nothing is removed (GB/T 39725-2020 §7 g): six years of disclosures must
-- stay answerable, and the log itself is never pruned).

CREATE TABLE audit_index (
    k   TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts  TEXT NOT NULL,
    PRIMARY KEY (k, seq)
) WITHOUT ROWID;

CREATE TABLE subject_datasets (
    pseudonym  TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    PRIMARY KEY (pseudonym, dataset_id)
) WITHOUT ROWID;

CREATE TRIGGER audit_index_no_update BEFORE UPDATE ON audit_index
    BEGIN SELECT RAISE(ABORT, 'audit_index is append-only'); END;
CREATE TRIGGER audit_index_no_delete BEFORE DELETE ON audit_index
    BEGIN SELECT RAISE(ABORT, 'audit_index is append-only'); END;
CREATE TRIGGER subject_datasets_no_update BEFORE UPDATE ON subject_datasets
    BEGIN SELECT RAISE(ABORT, 'subject_datasets is append-only'); END;
CREATE TRIGGER subject_datasets_no_delete BEFORE DELETE ON subject_datasets
    BEGIN SELECT RAISE(ABORT, 'subject_datasets is append-only'); END;
