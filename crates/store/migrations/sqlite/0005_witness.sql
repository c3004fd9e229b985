-- Witnesses of audit logs (C2SP tlog-witness; T/CI 857-2024 7.2.1 a), 7.2.6, 7.2.9 e)).
--
-- Witness side: witness_heads holds, per log origin this node witnesses, the size and root of the
-- last checkpoint it cosigned. It only moves forward (compare-and-set in the same transaction as
-- the audit entry recording the cosignature); a row is never deleted and never moves back.
-- witness_history keeps every head it moved to, append-only.
--
-- Client side: audit_cosignatures holds the verified cosignatures witnesses returned for this
-- node's own checkpoints, append-only.

CREATE TABLE witness_heads (
    origin     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL CHECK (size >= 0),
    root       BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE witness_history (
    origin      TEXT NOT NULL,
    size        BIGINT NOT NULL CHECK (size >= 0),
    root        BLOB NOT NULL,
    cosigned_at TEXT NOT NULL,
    PRIMARY KEY (origin, size)
);

CREATE TABLE audit_cosignatures (
    size        BIGINT NOT NULL CHECK (size >= 0),
    -- The witness's key name (from its cosignature/v1 vkey).
    witness     TEXT NOT NULL,
    -- The signed-note signature line the witness returned.
    signature   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (size, witness)
);

CREATE TRIGGER witness_heads_forward_only BEFORE UPDATE ON witness_heads
    WHEN NEW.origin <> OLD.origin OR NEW.size < OLD.size
         OR (NEW.size = OLD.size AND NEW.root <> OLD.root)
    BEGIN SELECT RAISE(ABORT, 'witness_heads only moves forward'); END;
CREATE TRIGGER witness_heads_no_delete BEFORE DELETE ON witness_heads
    BEGIN SELECT RAISE(ABORT, 'witness_heads only moves forward'); END;
CREATE TRIGGER witness_history_no_update BEFORE UPDATE ON witness_history
    BEGIN SELECT RAISE(ABORT, 'witness_history is append-only'); END;
CREATE TRIGGER witness_history_no_delete BEFORE DELETE ON witness_history
    BEGIN SELECT RAISE(ABORT, 'witness_history is append-only'); END;
CREATE TRIGGER audit_cosignatures_no_update BEFORE UPDATE ON audit_cosignatures
    BEGIN SELECT RAISE(ABORT, 'audit_cosignatures is append-only'); END;
CREATE TRIGGER audit_cosignatures_no_delete BEFORE DELETE ON audit_cosignatures
    BEGIN SELECT RAISE(ABORT, 'audit_cosignatures is append-only'); END;
