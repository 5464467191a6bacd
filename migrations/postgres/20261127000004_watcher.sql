-- The Session Watcher: how far it has read each transcript file, so that after a restart no
-- message is scanned twice and none is skipped.
CREATE TABLE watcher_files (
    path        TEXT    PRIMARY KEY,
    -- The file's identity (device:inode) and a hash of its first line: a file replaced under
    -- the same path, or moved to a new one, is recognised.
    identity    TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    "offset"    BIGINT  NOT NULL CHECK ("offset" >= 0),
    session_id  TEXT,
    messages    BIGINT  NOT NULL DEFAULT 0,
    malformed   BIGINT  NOT NULL DEFAULT 0,
    size        BIGINT  NOT NULL DEFAULT 0,
    updated_at  BIGINT  NOT NULL
);

-- A watcher record of a transcript message is unique per session and message id; a rescan of
-- bypassed traffic is unique per original record.
ALTER TABLE traffic ADD COLUMN rescan_of BIGINT REFERENCES traffic (id);
ALTER TABLE traffic ADD COLUMN direction TEXT CHECK (direction IN ('inbound', 'outbound'));
CREATE UNIQUE INDEX traffic_one_rescan ON traffic (rescan_of) WHERE rescan_of IS NOT NULL;
CREATE UNIQUE INDEX traffic_watched_message ON traffic (session_id, request_id)
    WHERE source = 'session-watcher' AND rescan_of IS NULL;

-- Where an alert points to (the Traffic Monitor filtered to a finding, a window's review).
ALTER TABLE alerts ADD COLUMN link TEXT;

-- The post-break-glass review, kept with its window.
ALTER TABLE break_glass_windows ADD COLUMN reviewed_at BIGINT;
ALTER TABLE break_glass_windows ADD COLUMN reviewed_by TEXT;
ALTER TABLE break_glass_windows ADD COLUMN review_notes TEXT
    CHECK (review_notes IS NULL OR length(review_notes) BETWEEN 10 AND 10000);
