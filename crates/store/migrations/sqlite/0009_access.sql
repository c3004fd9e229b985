-- Access control, patient records and consent (GB/T 39725-2020 §7, §11.1, §11.2; T/CI 857-2024
-- 6.4, 7.2.4 b), c)).
--
-- access_policy_versions: the Cedar policies administrators added on top of the built-in defaults.
-- Each change is a new row holding the whole added text, never changed or deleted, so the policy
-- history (who changed what, when, why, before and after) is the list of rows by version.
-- user_attributes: the Cedar attributes of an account (organisation, department, title, treatment
-- groups, supervised accounts, clinical roles, employment status) as JSON.
-- patient_records: records that doctors and patients read through the policies. The patient is a
-- keyed pseudonym (never the identifier); `labels` holds the access labels only (department,
-- treatment group, attending account, special-disease categories, granularity, level); the record
-- itself is AEAD ciphertext under the node's record key.
-- consents: the consent registry (§7 a), c), h)); the subject is a keyed pseudonym, `terms` the
-- grantee, purposes, scope, manner, period, rights and safeguards as JSON.

CREATE TABLE access_policy_versions (
    version    BIGINT PRIMARY KEY CHECK (version >= 1),
    policies   TEXT NOT NULL,
    actor_id   TEXT NOT NULL REFERENCES users (id),
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TRIGGER access_policy_versions_no_update BEFORE UPDATE ON access_policy_versions
    BEGIN SELECT RAISE(ABORT, 'access_policy_versions is append-only'); END;
CREATE TRIGGER access_policy_versions_no_delete BEFORE DELETE ON access_policy_versions
    BEGIN SELECT RAISE(ABORT, 'access_policy_versions is append-only'); END;

CREATE TABLE user_attributes (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    attributes TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE patient_records (
    id          TEXT PRIMARY KEY,
    patient_key TEXT NOT NULL,
    labels      TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX patient_records_by_patient ON patient_records (patient_key);

CREATE TABLE consents (
    id            TEXT PRIMARY KEY,
    subject_key   TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('general', 'marketing', 'research', 'restriction')),
    terms         TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    recorded_by   TEXT NOT NULL REFERENCES users (id),
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    revoke_reason TEXT
);
CREATE INDEX consents_by_subject ON consents (subject_key);

-- Abnormal-access alerts (GB/T 39725-2020 §11.1.2.5; Table 5 online-query rows): who, from where,
-- when, which rule, what was accessed (patient pseudonym, record count), and the review that
-- closes it. Break-glass accesses are alerts too, queued for review afterwards.
CREATE TABLE access_alerts (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    rule        TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    address     TEXT,
    detail      TEXT NOT NULL,
    raised_at   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'reviewed')),
    reviewed_by TEXT REFERENCES users (id),
    reviewed_at TEXT,
    review_note TEXT
);
CREATE INDEX access_alerts_by_status ON access_alerts (status, raised_at);

-- Requests for access beyond the normal scope (T/CI 857-2024 6.4.2: approved by the personal
-- information protection officer, recorded and archived; DMS 4.3.2: two distinct authorised
-- people). `approvals` is the JSON list of {by, at, reason}; the request is approved at the second
-- distinct approval and is valid until `valid_until`.
CREATE TABLE access_requests (
    id           TEXT PRIMARY KEY,
    requester_id TEXT NOT NULL REFERENCES users (id),
    patient_key  TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    days         BIGINT NOT NULL CHECK (days BETWEEN 1 AND 30),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    approvals    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    decided_at   TEXT,
    valid_until  TEXT
);
CREATE INDEX access_requests_by_requester ON access_requests (requester_id, patient_key);

-- Patient self-service (GB/T 39725-2020 §7 d)-h), §11.2): a patient account is a users row of role
-- `patient` mapped to the keyed pseudonyms of its mobile number and of the patient; it logs in
-- only with a one-time code sent by SMS (stored as a hash, with an expiry and an attempt count).
-- A guardian account may act for the patients linked to it by an officer. Correction and
-- restriction requests wait in a work queue; their text is AEAD ciphertext.
CREATE TABLE patient_accounts (
    user_id     TEXT PRIMARY KEY REFERENCES users (id),
    mobile_key  TEXT NOT NULL UNIQUE,
    patient_key TEXT NOT NULL,
    created_by  TEXT NOT NULL REFERENCES users (id),
    created_at  TEXT NOT NULL
);
CREATE TABLE patient_guardians (
    guardian_id TEXT NOT NULL REFERENCES users (id),
    patient_key TEXT NOT NULL,
    created_by  TEXT NOT NULL REFERENCES users (id),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (guardian_id, patient_key)
);
CREATE TABLE sms_codes (
    mobile_key TEXT PRIMARY KEY,
    code_hash  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    attempts   BIGINT NOT NULL
);
CREATE TABLE subject_requests (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    patient_key TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('correction', 'restriction')),
    sealed      BLOB NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'declined')),
    created_at  TEXT NOT NULL,
    resolved_by TEXT REFERENCES users (id),
    resolved_at TEXT,
    resolution  TEXT
);
