-- The audit trail as a hash chain: each audit row's hash covers its canonical content and the
-- row before it, with a keyed MAC when BREAKGLASS_AUDIT_KEY is set. Appended in the audit
-- insert's transaction (which holds the 'audit' turn); like the trail, never updated or
-- deleted.
CREATE TABLE audit_chain (
    audit_id  BIGINT PRIMARY KEY REFERENCES audit_log (id),
    prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),
    row_hash  TEXT NOT NULL CHECK (length(row_hash) = 64),
    mac       TEXT CHECK (mac IS NULL OR length(mac) = 64)
);
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
