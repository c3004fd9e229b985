-- Indexes over the audit log (T/CI 857-2024 7.2.6; GB/T 39725-2020 §7 g)).
-- See migrations/sqlite/0006_audit_index.sql for the design; same tables and columns.

CREATE TABLE audit_index (
    k   TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts  TEXT NOT NULL,
    PRIMARY KEY (k, seq)
);

CREATE TABLE subject_datasets (
    pseudonym  TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    PRIMARY KEY (pseudonym, dataset_id)
);

CREATE TRIGGER audit_index_no_change BEFORE UPDATE OR DELETE ON audit_index
    FOR EACH ROW EXECUTE FUNCTION medspace_audit_tree_append_only();
CREATE TRIGGER audit_index_no_truncate BEFORE TRUNCATE ON audit_index
    FOR EACH STATEMENT EXECUTE FUNCTION medspace_audit_tree_append_only();
CREATE TRIGGER subject_datasets_no_change BEFORE UPDATE OR DELETE ON subject_datasets
    FOR EACH ROW EXECUTE FUNCTION medspace_audit_tree_append_only();
CREATE TRIGGER subject_datasets_no_truncate BEFORE TRUNCATE ON subject_datasets
    FOR EACH STATEMENT EXECUTE FUNCTION medspace_audit_tree_append_only();
