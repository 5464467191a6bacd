-- Under the approval policy an extension is first asked for: it waits on the open window
-- until a second operator approves it (then it becomes a row of break_glass_extensions) or
-- denies it, or until ext_ask_decide_by passes.
ALTER TABLE break_glass_windows ADD COLUMN ext_ask_minutes INTEGER
    CHECK (ext_ask_minutes IS NULL OR ext_ask_minutes BETWEEN 1 AND 225);
ALTER TABLE break_glass_windows ADD COLUMN ext_ask_reason TEXT
    CHECK (ext_ask_reason IS NULL OR length(ext_ask_reason) BETWEEN 10 AND 500);
ALTER TABLE break_glass_windows ADD COLUMN ext_ask_by TEXT;
ALTER TABLE break_glass_windows ADD COLUMN ext_ask_at INTEGER;
ALTER TABLE break_glass_windows ADD COLUMN ext_ask_decide_by INTEGER;
