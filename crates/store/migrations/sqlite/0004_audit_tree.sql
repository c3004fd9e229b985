-- The audit log as an RFC 9162 Merkle tree with signed checkpoints (T/CI 857-2024 7.2.6, 7.2.9 e)).
--
-- Entries are sequenced into audit_log first (durable, hash-chained); integration then adds their
-- leaves to the tree. audit_tree_nodes holds every complete subtree hash — the leaf hashes at level
-- 0 and each interior node once both its halves exist — so any inclusion or consistency proof is
-- O(log n) lookups. audit_tree_state is the integrated size and the tree's right border.

CREATE TABLE audit_tree_nodes (
    level BIGINT NOT NULL CHECK (level >= 0 AND level < 64),
    idx   BIGINT NOT NULL CHECK (idx >= 0),
    hash  BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

CREATE TABLE audit_tree_state (
    id     BIGINT PRIMARY KEY CHECK (id = 1),
    size   BIGINT NOT NULL CHECK (size >= 0),
    -- `sha256` or `sm3`, fixed when the first leaf is integrated.
    alg    TEXT,
    -- The right border: concatenated hashes of the complete subtrees, largest first.
    border BLOB NOT NULL
);
INSERT INTO audit_tree_state (id, size, alg, border) VALUES (1, 0, NULL, X'');

-- Signed checkpoints (C2SP tlog-checkpoint notes), one per tree size, never changed.
CREATE TABLE audit_checkpoints (
    size       BIGINT PRIMARY KEY CHECK (size >= 0),
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TRIGGER audit_tree_nodes_no_update BEFORE UPDATE ON audit_tree_nodes
    BEGIN SELECT RAISE(ABORT, 'audit_tree_nodes is append-only'); END;
CREATE TRIGGER audit_tree_nodes_no_delete BEFORE DELETE ON audit_tree_nodes
    BEGIN SELECT RAISE(ABORT, 'audit_tree_nodes is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
