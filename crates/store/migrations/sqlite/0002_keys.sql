-- Per-project keys (pseudonymisation, date shift) stored wrapped by the master key, so they stay
-- the same across master-key rotations (T/CI 857-2024 6.3; GB/T 39725-2020 §10.2 f)).
CREATE TABLE project_keys (
    project     TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (project, purpose)
);
