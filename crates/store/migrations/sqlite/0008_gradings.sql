-- Approved gradings (GB/T 39725-2020 §6, §9.2 a) 8); T/CI 857-2024 6.2): the classification and
-- grading of every column of a dataset is a draft until the data security officer confirms it and
-- the data security committee approves it. Every step — the scanner's proposal at ingest, each
-- officer override, the confirmation, the committee's approval or rejection — is one row, never
-- changed or deleted: the history of a dataset's grading is the list of its rows by seq, and its
-- current grading is the row with the largest seq. seq counts from 1 per dataset with no gaps; a
-- writer appends seq = (its view of the last seq) + 1, so two concurrent changes from the same
-- state cannot both succeed (primary key).

CREATE TABLE dataset_gradings (
    dataset_id   TEXT NOT NULL REFERENCES datasets (id),
    seq          BIGINT NOT NULL CHECK (seq >= 1),
    -- propose | override | confirm | approve | reject
    action       TEXT NOT NULL CHECK (action IN ('propose', 'override', 'confirm', 'approve', 'reject')),
    -- proposed | confirmed | approved | rejected (state after this row)
    status       TEXT NOT NULL CHECK (status IN ('proposed', 'confirmed', 'approved', 'rejected')),
    actor_id     TEXT NOT NULL REFERENCES users (id),
    reason       TEXT NOT NULL,
    -- The whole grading after this row: a JSON array of per-column reports (the keys of
    -- `medspace scan --format json`). Column names and gradings only, never values.
    columns_json TEXT NOT NULL,
    -- What this row changed: JSON array of {column, field, before, after}.
    changes_json TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (dataset_id, seq)
);

CREATE TRIGGER dataset_gradings_no_update BEFORE UPDATE ON dataset_gradings
    BEGIN SELECT RAISE(ABORT, 'dataset_gradings is append-only'); END;
CREATE TRIGGER dataset_gradings_no_delete BEFORE DELETE ON dataset_gradings
    BEGIN SELECT RAISE(ABORT, 'dataset_gradings is append-only'); END;
