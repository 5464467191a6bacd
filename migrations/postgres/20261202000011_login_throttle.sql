-- Failed logins throttle (docs/SECURITY.md, "Logins"): escalating delays per account, per
-- source address and per account from one address; nothing disables or locks an account.
ALTER TABLE operators DROP COLUMN failed_logins;
ALTER TABLE operators DROP COLUMN locked_until;
CREATE TABLE login_throttle (
    scope           TEXT    NOT NULL CHECK (scope IN ('account', 'source', 'pair')),
    key             TEXT    NOT NULL CHECK (length(key) <= 200),
    failures        BIGINT  NOT NULL CHECK (failures > 0),
    last_failure_at BIGINT  NOT NULL,
    blocked_until   BIGINT  NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX login_throttle_recent ON login_throttle (last_failure_at);
-- Where each operator has logged in from: the account's throttle does not hold back an
-- address its owner has used, so a stranger hammering the account cannot keep them out.
CREATE TABLE login_known_sources (
    username      TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    last_login_at BIGINT  NOT NULL,
    PRIMARY KEY (username, source)
);
