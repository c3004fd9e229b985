-- The audit log as an RFC 9162 Merkle tree with signed checkpoints (T/CI 857-2024 7.2.6, 7.2.9 e)).
-- See migrations/sqlite/0004_audit_tree.sql for the design; same tables and columns.

CREATE TABLE audit_tree_nodes (
    level BIGINT NOT NULL CHECK (level >= 0 AND level < 64),
    idx   BIGINT NOT NULL CHECK (idx >= 0),
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE audit_tree_state (
    id     BIGINT PRIMARY KEY CHECK (id = 1),
    size   BIGINT NOT NULL CHECK (size >= 0),
    alg    TEXT,
    border BYTEA NOT NULL
);
INSERT INTO audit_tree_state (id, size, alg, border) VALUES (1, 0, NULL, '\x'::bytea);

CREATE TABLE audit_checkpoints (
    size       BIGINT PRIMARY KEY CHECK (size >= 0),
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE FUNCTION medspace_audit_tree_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_tree_nodes_no_change BEFORE UPDATE OR DELETE ON audit_tree_nodes
    FOR EACH ROW EXECUTE FUNCTION medspace_audit_tree_append_only();
CREATE TRIGGER audit_tree_nodes_no_truncate BEFORE TRUNCATE ON audit_tree_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION medspace_audit_tree_append_only();
CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION medspace_audit_tree_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION medspace_audit_tree_append_only();
