-- Witnesses of audit logs (C2SP tlog-witness; T/CI 857-2024 7.2.1 a), 7.2.6, 7.2.9 e)).
-- See migrations/sqlite/0005_witness.sql for the design; same tables and columns.

CREATE TABLE witness_heads (
    origin     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL CHECK (size >= 0),
    root       BYTEA NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE witness_history (
    origin      TEXT NOT NULL,
    size        BIGINT NOT NULL CHECK (size >= 0),
    root        BYTEA NOT NULL,
    cosigned_at TEXT NOT NULL,
    PRIMARY KEY (origin, size)
);

CREATE TABLE audit_cosignatures (
    size        BIGINT NOT NULL CHECK (size >= 0),
    witness     TEXT NOT NULL,
    signature   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (size, witness)
);

CREATE FUNCTION medspace_witness_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'witness_heads only moves forward';
    END IF;
    IF NEW.origin <> OLD.origin OR NEW.size < OLD.size
       OR (NEW.size = OLD.size AND NEW.root <> OLD.root) THEN
        RAISE EXCEPTION 'witness_heads only moves forward';
    END IF;
    RETURN NEW;
END;
$$;
CREATE FUNCTION medspace_witness_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER witness_heads_forward_only BEFORE UPDATE OR DELETE ON witness_heads
    FOR EACH ROW EXECUTE FUNCTION medspace_witness_head_forward_only();
CREATE TRIGGER witness_heads_no_truncate BEFORE TRUNCATE ON witness_heads
    FOR EACH STATEMENT EXECUTE FUNCTION medspace_witness_append_only();
CREATE TRIGGER witness_history_no_change BEFORE UPDATE OR DELETE ON witness_history
    FOR EACH ROW EXECUTE FUNCTION medspace_witness_append_only();
CREATE TRIGGER witness_history_no_truncate BEFORE TRUNCATE ON witness_history
    FOR EACH STATEMENT EXECUTE FUNCTION medspace_witness_append_only();
CREATE TRIGGER audit_cosignatures_no_change BEFORE UPDATE OR DELETE ON audit_cosignatures
    FOR EACH ROW EXECUTE FUNCTION medspace_witness_append_only();
CREATE TRIGGER audit_cosignatures_no_truncate BEFORE TRUNCATE ON audit_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION medspace_witness_append_only();
