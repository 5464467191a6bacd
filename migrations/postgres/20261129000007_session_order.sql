-- Sessions get an id in the order they were created, so that "the newest few" is well defined
-- when logins share a millisecond (the twin of the SQLite migration, which replaces rowid).
ALTER TABLE sessions ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE;
