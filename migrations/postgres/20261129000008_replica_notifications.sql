-- Replicas on one database learn of each other's changes through NOTIFY on the channel
-- `breakglass`, sent by these triggers when the writing transaction commits (so a rolled-back
-- change is never announced). Payloads name what changed; a replica reads the new state from
-- the tables, so a payload never has to carry it. SQLite serves one replica: no twin.

CREATE FUNCTION breakglass_notify_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('breakglass', 'state');
    RETURN NULL;
END;
$$;
CREATE TRIGGER break_glass_windows_notify AFTER INSERT OR UPDATE ON break_glass_windows
    FOR EACH STATEMENT EXECUTE FUNCTION breakglass_notify_state();

CREATE FUNCTION breakglass_notify_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('breakglass', 'alert:' || NEW.id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER alerts_notify AFTER INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION breakglass_notify_alert();

CREATE FUNCTION breakglass_notify_setting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('breakglass', 'setting:' || NEW.name);
    RETURN NULL;
END;
$$;
CREATE TRIGGER settings_notify AFTER INSERT OR UPDATE ON settings
    FOR EACH ROW EXECUTE FUNCTION breakglass_notify_setting();

CREATE FUNCTION breakglass_notify_key_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('breakglass', 'key_revoked:' || NEW.id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER api_keys_notify_revoked AFTER UPDATE OF revoked_at ON api_keys
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION breakglass_notify_key_revoked();

CREATE FUNCTION breakglass_notify_sessions_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('breakglass', 'sessions_ended:' || OLD.operator_id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER sessions_notify_ended AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION breakglass_notify_sessions_ended();
