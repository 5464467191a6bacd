-- Where notifications go (configured by admins on the Configuration panel), and the outbox:
-- one row per notification and channel, written in the transaction of the event it tells of,
-- delivered at least once by a worker on some replica (a lease claims it), retried with
-- backoff, and kept as the delivery log the Alerts page shows.
CREATE TABLE notification_channels (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    kind       TEXT    NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    -- What may be shown back: a webhook's URL, an SMTP server's host:port; NULL for Slack,
    -- whose URL is the secret.
    endpoint   TEXT    CHECK (endpoint IS NULL OR length(endpoint) <= 2048),
    -- 'sealed:v1:…' (encrypted with BREAKGLASS_SECRETS_KEY) or 'env:NAME'; never shown back.
    secret     TEXT    CHECK (secret IS NULL OR length(secret) <= 4096),
    -- Email only: the sender, the recipients (comma-separated) and the SMTP login.
    mail_from  TEXT    CHECK (mail_from IS NULL OR length(mail_from) <= 254),
    mail_to    TEXT    CHECK (mail_to IS NULL OR length(mail_to) <= 2048),
    smtp_user  TEXT    CHECK (smtp_user IS NULL OR length(smtp_user) <= 254),
    topics     TEXT    NOT NULL CHECK (length(topics) <= 1024),
    created_at INTEGER  NOT NULL,
    created_by TEXT    NOT NULL
);

CREATE TABLE notification_outbox (
    id              INTEGER PRIMARY KEY,
    -- NULL once the channel is removed; its undelivered rows then fail, its log stays.
    channel_id      INTEGER REFERENCES notification_channels (id) ON DELETE SET NULL,
    channel_name    TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    topic           TEXT    NOT NULL CHECK (length(topic) <= 32),
    created_at      INTEGER  NOT NULL,
    severity        TEXT    NOT NULL,
    title           TEXT    NOT NULL CHECK (length(title) <= 300),
    message         TEXT    NOT NULL CHECK (length(message) <= 4000),
    window_id       INTEGER,
    link            TEXT    CHECK (link IS NULL OR length(link) <= 2048),
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER  NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_attempt_at INTEGER,
    last_error      TEXT    CHECK (last_error IS NULL OR length(last_error) <= 500),
    delivered_at    INTEGER
);
CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_at);
CREATE INDEX notification_outbox_created ON notification_outbox (created_at);
