-- Accounts that resist attack (GB/T 39725-2020 §11.1.2.4, §11.6.2.2, Appendix F; DMS 5.2.1).
-- See migrations/sqlite/0007_accounts.sql for the design; same tables and columns.
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
    wrapped_secret BYTEA NOT NULL,
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
