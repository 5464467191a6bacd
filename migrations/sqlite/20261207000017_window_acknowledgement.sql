-- A second operator acknowledges each window by ack_due_at (the policy's deadline after the
-- activation); past it unacknowledged, the window is escalated once (ack_overdue_at), and it
-- can still be acknowledged late. Windows from before this migration count as due 15 minutes
-- after their activation.
ALTER TABLE break_glass_windows ADD COLUMN ack_due_at INTEGER;
UPDATE break_glass_windows SET ack_due_at = activated_at + 900000;
ALTER TABLE break_glass_windows ADD COLUMN acknowledged_at INTEGER;
ALTER TABLE break_glass_windows ADD COLUMN acknowledged_by TEXT;
ALTER TABLE break_glass_windows ADD COLUMN ack_note TEXT
    CHECK (ack_note IS NULL OR length(ack_note) BETWEEN 10 AND 500);
ALTER TABLE break_glass_windows ADD COLUMN ack_overdue_at INTEGER;
