-- Accounts that resist attack (GB/T 39725-2020 §11.1.2.4, §11.6.2.2, Appendix F identity rows;
-- DMS 5.2.1). Everything here is keyed by users.id; users itself (0001) is unchanged.
--
-- account_state: password age (maximum age), validity end, last login (unused-account sweep) and
--   when the account was locked (optional auto-unlock). A missing row means "created, never
--   changed": password age counts from users.created_at.
-- password_history: argon2id hashes of earlier passwords (reuse of the last N is refused).
-- login_failures: one row per failed login; failures inside the lockout window are counted.
-- totp_factors: RFC 6238 secret wrapped by the node master key (never stored in clear), confirmed
--   once the holder proved possession with one code.
-- totp_used_steps: time steps already accepted per account (RFC 6238 §5.2: a code is accepted once).
-- login_challenges: "second factor required" hand-offs between the password and the code step,
--   stored as SHA-256 of the challenge only.
-- api_tokens: tokens for systems, SHA-256 only, scoped to the role of the account they act as,
--   with expiry and revocation.
-- certificate_accounts: mutual-TLS client certificates (SHA-256 fingerprint) mapped to accounts.

CREATE TABLE account_state (
    user_id             TEXT PRIMARY KEY REFERENCES users (id),
    password_changed_at TEXT NOT NULL,
    valid_until         TEXT,
    last_login_at       TEXT,
    locked_at           TEXT
);

CREATE TABLE password_history (
    user_id       TEXT NOT NULL REFERENCES users (id),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, created_at);

CREATE TABLE login_failures (
    user_id TEXT NOT NULL REFERENCES users (id),
    at      TEXT NOT NULL
);
CREATE INDEX login_failures_user ON login_failures (user_id, at);

CREATE TABLE totp_factors (
    user_id        TEXT PRIMARY KEY REFERENCES users (id),
    wrapped_secret BLOB NOT NULL,
    confirmed      BOOLEAN NOT NULL,
    created_at     TEXT NOT NULL
);

CREATE TABLE totp_used_steps (
    user_id TEXT NOT NULL REFERENCES users (id),
    step    BIGINT NOT NULL,
    PRIMARY KEY (user_id, step)
);

CREATE TABLE login_challenges (
    challenge_hash TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    address        TEXT,
    expires_at     TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL,
    label      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE certificate_accounts (
    fingerprint TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
