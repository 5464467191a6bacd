-- Rows that transactions update first to take turns: checks that span several rows (at least
-- one enabled admin must remain) hold under concurrent transactions on both stores. On SQLite
-- the update takes the write lock; on PostgreSQL it takes the row's lock, and every later
-- statement of the transaction sees what the transaction before it committed.
CREATE TABLE store_locks (
    name  TEXT    PRIMARY KEY,
    taken BIGINT NOT NULL DEFAULT 0
);
INSERT INTO store_locks (name) VALUES ('operators');
