-- `INSERT OR REPLACE` (and `REPLACE INTO`) naming an existing id would delete that row to make
-- room, and SQLite fires no delete trigger for it unless recursive triggers are on: refuse any
-- insert whose id is taken, before the conflict is resolved.
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- The trail is paged by id (a keyset cursor): filtered listings walk these.
CREATE INDEX audit_log_action_id ON audit_log (action, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor, id);

-- Break-glass transitions take this row's turn on PostgreSQL; SQLite's single writer already
-- runs them one after the other. The row exists on both stores so that they stay alike.
INSERT INTO store_locks (name) VALUES ('break_glass'), ('audit');
