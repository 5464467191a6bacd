-- Consecutive failed logins per operator, and until when logins are refused.
ALTER TABLE operators ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operators ADD COLUMN locked_until BIGINT;
