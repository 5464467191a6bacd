-- Times are milliseconds since the Unix epoch (UTC), the same on SQLite and PostgreSQL.

CREATE TABLE operators (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL
        CHECK (role IN ('admin', 'security_manager', 'operator', 'viewer', 'auditor')),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT    PRIMARY KEY,
    operator_id INTEGER NOT NULL REFERENCES operators (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_operator ON sessions (operator_id);

CREATE TABLE break_glass_windows (
    id               INTEGER PRIMARY KEY,
    activated_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 15 AND 240),
    reason           TEXT    NOT NULL CHECK (length(reason) BETWEEN 10 AND 500),
    activated_by     TEXT    NOT NULL,
    ended_at         INTEGER,
    end_kind         TEXT    CHECK (end_kind IN ('expired', 'deactivated')),
    ended_by         TEXT,
    unscanned_count  INTEGER,
    CHECK (expires_at = activated_at + duration_minutes * 60000),
    CHECK ((ended_at IS NULL) = (end_kind IS NULL)),
    CHECK ((ended_at IS NULL) = (ended_by IS NULL)),
    CHECK ((ended_at IS NULL) = (unscanned_count IS NULL)),
    CHECK (ended_at IS NULL OR (ended_at >= activated_at AND ended_at <= expires_at))
);
-- The database itself allows at most one open window.
CREATE UNIQUE INDEX break_glass_one_open_window
    ON break_glass_windows ((ended_at IS NULL)) WHERE ended_at IS NULL;
CREATE INDEX break_glass_windows_ended ON break_glass_windows (ended_at);

-- The 15-minute cool-down, enforced by the database as well as by the service.
CREATE TRIGGER break_glass_cool_down
BEFORE INSERT ON break_glass_windows
WHEN EXISTS (
    SELECT 1 FROM break_glass_windows
    WHERE ended_at IS NOT NULL AND ended_at + 900000 > NEW.activated_at
)
BEGIN
    SELECT RAISE(ABORT, 'break-glass cool-down in progress');
END;

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    details     TEXT    NOT NULL DEFAULT '{}',
    source_addr TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action_at ON audit_log (action, at);
CREATE INDEX audit_log_actor_at ON audit_log (actor, at);

-- Append-only: the audit trail cannot be edited or deleted through the database.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    created_at      INTEGER NOT NULL,
    severity        TEXT    NOT NULL CHECK (severity IN ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFO')),
    source          TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'ACKNOWLEDGED', 'RESOLVED')),
    window_id       INTEGER REFERENCES break_glass_windows (id),
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER,
    resolved_by     TEXT
);
CREATE INDEX alerts_created ON alerts (created_at);
CREATE INDEX alerts_status ON alerts (status, created_at);

CREATE TABLE traffic (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    source        TEXT    NOT NULL CHECK (source IN ('litellm', 'session-watcher', 'break-glass')),
    model         TEXT,
    provider      TEXT,
    verdict       TEXT    NOT NULL CHECK (verdict IN ('ALLOW', 'REVIEW', 'BLOCK', 'BYPASSED')),
    score         INTEGER CHECK (score BETWEEN 0 AND 100),
    detections    TEXT    NOT NULL DEFAULT '[]',
    latency_ms    INTEGER,
    tokens_in     INTEGER,
    tokens_out    INTEGER,
    http_status   INTEGER,
    api_key_id    INTEGER,
    session_id    TEXT,
    request_id    TEXT,
    request_text  TEXT,
    response_text TEXT,
    CHECK ((verdict = 'BYPASSED') = (score IS NULL))
);
CREATE INDEX traffic_at ON traffic (at);
CREATE INDEX traffic_verdict_at ON traffic (verdict, at);
CREATE INDEX traffic_source_at ON traffic (source, at);
