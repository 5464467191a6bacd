-- What a key may do, until when, and how fast. Keys made before scopes existed keep what
-- they could do then (everything but reading the audit trail).
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL
    DEFAULT 'gateway ingest shield:scan break_glass:read';
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN rate_limit_per_minute INTEGER NOT NULL DEFAULT 600
    CHECK (rate_limit_per_minute BETWEEN 1 AND 100000);
