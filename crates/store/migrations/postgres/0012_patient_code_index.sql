-- Patient code index (GB/T 39725-2020 §10.2 f)–h)): when a de-identification must stay traceable
-- to the patient, the node keeps, per de-identified dataset and pseudonymised column, a keyed tag
-- of each pseudonym and the identity it replaced, sealed under a per-project key. Nothing here is
-- readable without the node's keys; rows leave only with their dataset.
CREATE TABLE patient_code_index (
    dataset_id  TEXT NOT NULL,
    column_name TEXT NOT NULL,
    tag         TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    sealed      BYTEA NOT NULL,
    PRIMARY KEY (dataset_id, column_name, tag)
);
-- Re-identification: the re-identification officer asks, a second person (a committee member)
-- approves or rejects, and the officer resolves an approved request once.
CREATE TABLE reidentification_requests (
    id              TEXT PRIMARY KEY,
    dataset_id      TEXT NOT NULL,
    column_name     TEXT NOT NULL,
    tag             TEXT NOT NULL,
    requester_id    TEXT NOT NULL REFERENCES users (id),
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'approved', 'rejected', 'resolved')),
    approver_id     TEXT REFERENCES users (id),
    decision_reason TEXT,
    decided_at      TEXT,
    resolved_at     TEXT,
    created_at      TEXT NOT NULL,
    CHECK (approver_id IS NULL OR approver_id <> requester_id)
);
