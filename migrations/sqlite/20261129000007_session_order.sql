-- Sessions get an id in the order they were created, so that "the newest few" is well defined
-- when logins share a millisecond, on both stores (SQLite's rowid has no PostgreSQL twin).
CREATE TABLE sessions_ordered (
    id          INTEGER PRIMARY KEY,
    token_hash  TEXT    NOT NULL UNIQUE,
    operator_id INTEGER NOT NULL REFERENCES operators (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
INSERT INTO sessions_ordered (id, token_hash, operator_id, created_at, expires_at)
    SELECT rowid, token_hash, operator_id, created_at, expires_at FROM sessions ORDER BY rowid;
DROP TABLE sessions;
ALTER TABLE sessions_ordered RENAME TO sessions;
CREATE INDEX sessions_operator ON sessions (operator_id);
