-- Gateway API keys: only a SHA-256 of the key is stored (keys are 256-bit random, so a fast
-- hash is enough); the prefix identifies a key in lists without revealing it.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix       TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    revoked_at   INTEGER,
    revoked_by   TEXT,
    last_used_at INTEGER
);

-- Operator-controlled settings, e.g. the shield mode.
CREATE TABLE settings (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NOT NULL
);

-- Traffic is read by time and by window; bypassed text is kept for the review.
CREATE INDEX traffic_api_key ON traffic (api_key_id, at);
