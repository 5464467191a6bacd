-- How a gateway exchange ended (docs/SECURITY.md, "What a traffic record's outcome means").
-- NULL for records that did not pass through this gateway: the Session Watcher's and those
-- ingested from another proxy.
ALTER TABLE traffic ADD COLUMN outcome TEXT CHECK (outcome IN ('pending', 'completed', 'refused',
    'client_closed_before_response', 'client_closed_during_response', 'upstream_error',
    'upstream_timeout', 'shutdown', 'interrupted'));
-- The gateway process that wrote a pending record: a record still pending when its process is
-- gone (killed, crashed) is marked interrupted by the next process that looks.
ALTER TABLE traffic ADD COLUMN gateway_instance BIGINT;
-- Kept request or response text longer than the cap was cut there (docs/SECURITY.md, caps).
ALTER TABLE traffic ADD COLUMN text_truncated INTEGER NOT NULL DEFAULT 0 CHECK (text_truncated IN (0, 1));
CREATE INDEX traffic_outcome_at ON traffic (outcome, at);
CREATE INDEX traffic_pending ON traffic (gateway_instance) WHERE outcome = 'pending';
