-- Under the review gate, a request made while an earlier window still waits for its review:
-- approving it overrides the gate, and the override names that window.
ALTER TABLE break_glass_requests ADD COLUMN overrides_review_of INTEGER REFERENCES break_glass_windows (id);
