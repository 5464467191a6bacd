-- Replicas on one database learn of each other's changes through NOTIFY on the channel
-- `breakglass`, sent by these triggers when the writing transaction commits (so a rolled-back
-- change is never announced). A payload names what changed, `<kind>` or `<kind>:<id>`; a
-- replica reads the new state from the tables, so a payload never carries it. SQLite serves
-- one replica: no twin.

-- breakglass_notify('<kind>'[, '<column whose value follows the kind>'])
CREATE FUNCTION breakglass_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text := TG_ARGV[0];
BEGIN
    IF TG_NARGS > 1 THEN
        payload := payload || ':' || (to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END)
            ->> TG_ARGV[1]);
    END IF;
    PERFORM pg_notify('breakglass', payload);
    RETURN NULL;
END;
$$;

CREATE TRIGGER break_glass_windows_notify AFTER INSERT OR UPDATE ON break_glass_windows
    FOR EACH STATEMENT EXECUTE FUNCTION breakglass_notify('state');
CREATE TRIGGER alerts_notify AFTER INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION breakglass_notify('alert', 'id');
CREATE TRIGGER settings_notify AFTER INSERT OR UPDATE ON settings
    FOR EACH ROW EXECUTE FUNCTION breakglass_notify('setting', 'name');
CREATE TRIGGER api_keys_notify_revoked AFTER UPDATE OF revoked_at ON api_keys
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION breakglass_notify('key_revoked', 'id');
CREATE TRIGGER sessions_notify_ended AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION breakglass_notify('sessions_ended', 'operator_id');
