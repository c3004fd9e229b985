-- Approved gradings (GB/T 39725-2020 §6, §9.2 a) 8); T/CI 857-2024 6.2).
-- See migrations/sqlite/0008_gradings.sql for the design; same table and columns.

CREATE TABLE dataset_gradings (
    dataset_id   TEXT NOT NULL REFERENCES datasets (id),
    seq          BIGINT NOT NULL CHECK (seq >= 1),
    action       TEXT NOT NULL CHECK (action IN ('propose', 'override', 'confirm', 'approve', 'reject')),
    status       TEXT NOT NULL CHECK (status IN ('proposed', 'confirmed', 'approved', 'rejected')),
    actor_id     TEXT NOT NULL REFERENCES users (id),
    reason       TEXT NOT NULL,
    columns_json TEXT NOT NULL,
    changes_json TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (dataset_id, seq)
);

CREATE FUNCTION medspace_gradings_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dataset_gradings is append-only';
END;
$$;
CREATE TRIGGER dataset_gradings_no_change BEFORE UPDATE OR DELETE ON dataset_gradings
    FOR EACH ROW EXECUTE FUNCTION medspace_gradings_append_only();
CREATE TRIGGER dataset_gradings_no_truncate BEFORE TRUNCATE ON dataset_gradings
    FOR EACH STATEMENT EXECUTE FUNCTION medspace_gradings_append_only();
