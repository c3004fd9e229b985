-- Dual control ("双人双锁", DMS 4.3.2): an operation on important (C2) data needs two distinct
-- authorised people. The first approval of a subject (`application:<id>`, `export:<id>`) is kept
-- here until a second, different person decides; rows are never updated or deleted, so the
-- record of who unlocked what stays complete.
CREATE TABLE dual_approvals (
    subject     TEXT NOT NULL,
    approver_id TEXT NOT NULL REFERENCES users (id),
    reason      TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    PRIMARY KEY (subject, approver_id)
);
CREATE TRIGGER dual_approvals_no_update BEFORE UPDATE ON dual_approvals
    BEGIN SELECT RAISE(ABORT, 'dual_approvals is append-only'); END;
CREATE TRIGGER dual_approvals_no_delete BEFORE DELETE ON dual_approvals
    BEGIN SELECT RAISE(ABORT, 'dual_approvals is append-only'); END;
