-- Each extension of a break-glass window: who moved its end, by how much, and why. The window's
-- own row holds its current end (expires_at = activated_at + duration_minutes, at most 4 hours).
CREATE TABLE break_glass_extensions (
    id             INTEGER PRIMARY KEY,
    window_id      INTEGER NOT NULL REFERENCES break_glass_windows (id),
    at             INTEGER NOT NULL,
    extended_by    TEXT    NOT NULL,
    minutes        INTEGER NOT NULL CHECK (minutes BETWEEN 1 AND 225),
    reason         TEXT    NOT NULL CHECK (length(reason) BETWEEN 10 AND 500),
    expires_before INTEGER NOT NULL,
    expires_after  INTEGER NOT NULL,
    CHECK (expires_after = expires_before + minutes * 60000),
    CHECK (at < expires_before)
);
CREATE INDEX break_glass_extensions_window ON break_glass_extensions (window_id);
