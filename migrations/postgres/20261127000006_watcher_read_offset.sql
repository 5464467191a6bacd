-- `offset` is a reserved word in PostgreSQL; the same name in both stores keeps one SQL text.
ALTER TABLE watcher_files RENAME COLUMN "offset" TO read_offset;
