-- A window may bypass only some API keys and/or models: `scope` is its JSON
-- ({"keys":[{"id":..,"name":..}],"models":[..]}); NULL bypasses everything. A request
-- carries the scope it will open with.
ALTER TABLE break_glass_windows ADD COLUMN scope TEXT CHECK (scope IS NULL OR length(scope) <= 20000);
ALTER TABLE break_glass_requests ADD COLUMN scope TEXT CHECK (scope IS NULL OR length(scope) <= 20000);

-- A drill is a window that rehearses the procedure and bypasses nothing: it starts no
-- cool-down and waits on none.
ALTER TABLE break_glass_windows ADD COLUMN drill INTEGER NOT NULL DEFAULT 0 CHECK (drill IN (0, 1));
CREATE INDEX break_glass_windows_drill ON break_glass_windows (drill, activated_at);

DROP TRIGGER break_glass_cool_down;
CREATE TRIGGER break_glass_cool_down
BEFORE INSERT ON break_glass_windows
WHEN NEW.drill = 0 AND EXISTS (
    SELECT 1 FROM break_glass_windows
    WHERE drill = 0 AND ended_at IS NOT NULL AND ended_at + 900000 > NEW.activated_at
)
BEGIN
    SELECT RAISE(ABORT, 'break-glass cool-down in progress');
END;
