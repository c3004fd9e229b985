-- medspace metadata store, schema version 1 (SQLite).
--
-- Conventions shared with migrations/postgres/0001_init.sql, so both backends run the same
-- statements: integers are BIGINT, flags BOOLEAN (stored 0/1), timestamps RFC 3339 UTC text with
-- nanoseconds (fixed width, so text order is time order and values round-trip exactly), key
-- material BLOB, list/struct fields JSON text.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Append-only, hash-chained audit log (T/CI 857-2024 7.2.6; DMS 7.2.3.4).
CREATE TABLE audit_log (
    seq   BIGINT PRIMARY KEY CHECK (seq >= 1),
    entry TEXT NOT NULL,
    hash  TEXT NOT NULL
);
-- The recorded end of the chain; seq 0 with the genesis hash means "no entry yet".
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL CHECK (seq >= 0),
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
-- Defence in depth against accidental edits; deliberate tampering is caught by chain verification.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    role                 TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL,
    failed_logins        BIGINT NOT NULL,
    locked               BOOLEAN NOT NULL,
    disabled             BOOLEAN NOT NULL,
    created_at           TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE datasets (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    kind                TEXT NOT NULL CHECK (kind IN ('raw', 'deidentified')),
    format              TEXT NOT NULL,
    owner               TEXT NOT NULL,
    update_frequency    TEXT NOT NULL,
    schema_json         TEXT NOT NULL,
    classification_json TEXT NOT NULL,
    level               BIGINT NOT NULL CHECK (level BETWEEN 1 AND 5),
    row_count           BIGINT NOT NULL,
    version             BIGINT NOT NULL,
    object_key          TEXT NOT NULL,
    wrapped_key         BLOB NOT NULL,
    content_sha256      TEXT NOT NULL,
    lineage_json        TEXT,
    created_at          TEXT NOT NULL
);

CREATE TABLE applications (
    id              TEXT PRIMARY KEY,
    applicant_id    TEXT NOT NULL REFERENCES users (id),
    dataset_id      TEXT NOT NULL REFERENCES datasets (id),
    columns_json    TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    period_start    TEXT NOT NULL,
    period_end      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by      TEXT,
    decision_reason TEXT,
    decided_at      TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX applications_applicant ON applications (applicant_id);

CREATE TABLE query_results (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    application_id TEXT NOT NULL,
    sql_sha256     TEXT NOT NULL,
    row_count      BIGINT NOT NULL,
    object_key     TEXT NOT NULL,
    wrapped_key    BLOB NOT NULL,
    created_at     TEXT NOT NULL
);

CREATE TABLE exports (
    id              TEXT PRIMARY KEY,
    requester_id    TEXT NOT NULL REFERENCES users (id),
    query_id        TEXT NOT NULL REFERENCES query_results (id),
    justification   TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by      TEXT,
    decision_reason TEXT,
    decided_at      TEXT,
    downloads       BIGINT NOT NULL CHECK (downloads >= 0),
    created_at      TEXT NOT NULL
);
CREATE INDEX exports_requester ON exports (requester_id);
