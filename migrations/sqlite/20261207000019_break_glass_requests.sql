-- Under the approval-required policy an activation is first a request: a second operator
-- approves it (the window opens then, window_id) or denies it, by decide_by; undecided by
-- then, it lapses. At most one request waits at a time, and none while a window is open.
CREATE TABLE break_glass_requests (
    id               INTEGER PRIMARY KEY,
    requested_at     INTEGER NOT NULL,
    decide_by        INTEGER NOT NULL CHECK (decide_by > requested_at),
    requested_by     TEXT    NOT NULL,
    reason           TEXT    NOT NULL CHECK (length(reason) BETWEEN 10 AND 500),
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 15 AND 240),
    state            TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'approved', 'denied', 'lapsed')),
    decided_at       INTEGER,
    decided_by       TEXT,
    note             TEXT    CHECK (note IS NULL OR length(note) BETWEEN 10 AND 500),
    window_id        INTEGER REFERENCES break_glass_windows (id),
    CHECK ((state = 'pending') = (decided_at IS NULL)),
    CHECK (decided_by IS NULL OR decided_by <> requested_by)
);
CREATE UNIQUE INDEX break_glass_requests_one_pending
    ON break_glass_requests ((state = 'pending')) WHERE state = 'pending';
CREATE TRIGGER break_glass_requests_not_beside_a_window
BEFORE INSERT ON break_glass_requests
WHEN EXISTS (SELECT 1 FROM break_glass_windows WHERE ended_at IS NULL)
BEGIN
    SELECT RAISE(ABORT, 'break-glass window open');
END;
