-- Audit ids in commit order. A sequence hands out ids when rows are inserted, not when they
-- commit, so a reader paging by id could pass an id whose transaction was still open and never
-- see that row. Each insert takes the 'audit' row's lock (held to commit) and only then its id,
-- so ids become visible in order and a pull that resumes after the last id misses nothing.
-- An audit insert is the last statement of its transaction, so the lock is held briefly and is
-- always taken after any other.
INSERT INTO store_locks (name) VALUES ('break_glass'), ('audit');

CREATE FUNCTION audit_log_in_turn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM store_locks WHERE name = 'audit' FOR UPDATE;
    NEW.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_log_in_turn BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_in_turn();

CREATE INDEX audit_log_action_id ON audit_log (action, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor, id);

-- Every break-glass transition (an activation's insert, a close's update) first takes the
-- 'break_glass' row's lock, held to commit. The cool-down check below then runs after any
-- close that committed before it, instead of on a snapshot that cannot see a close still in
-- flight (which let an activation slip in right after a deactivation).
CREATE FUNCTION break_glass_in_turn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM store_locks WHERE name = 'break_glass' FOR UPDATE;
    RETURN NEW;
END;
$$;
CREATE TRIGGER break_glass_in_turn BEFORE UPDATE ON break_glass_windows
    FOR EACH ROW EXECUTE FUNCTION break_glass_in_turn();

-- The cool-down trigger takes the same turn before it looks; each statement of a PL/pgSQL
-- function reads a fresh snapshot, so the check sees every close committed before the lock.
CREATE OR REPLACE FUNCTION break_glass_cool_down() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM store_locks WHERE name = 'break_glass' FOR UPDATE;
    IF EXISTS (
        SELECT 1 FROM break_glass_windows
        WHERE ended_at IS NOT NULL AND ended_at + 900000 > NEW.activated_at
    ) THEN
        RAISE EXCEPTION 'break-glass cool-down in progress';
    END IF;
    RETURN NEW;
END;
$$;
