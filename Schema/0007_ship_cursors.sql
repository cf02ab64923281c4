-- tcpeek schema, version 7: shipping the history to ClickHouse (issue 16,
-- `tcpeek ship`; docs/fleet-design.md).
--
-- 1. The database's identity: ClickHouse keys every shipped session by
--    (host, database_id, run_id, session_id), and a host's database may be
--    replaced (a new file starts its ids at 1 again): its random identity
--    keeps the two histories apart. One row, made once here.
-- 2. One cursor per destination: the highest session id that ClickHouse
--    acknowledged. `tcpeek ship` sends only sessions above it and moves it
--    only after ClickHouse answered, so a crash resends at most the batch
--    in flight (which it first asks ClickHouse about). Retention keeps the
--    sessions above the lowest cursor.
CREATE TABLE database_identity (
    id TEXT NOT NULL                                    -- 32 lowercase hex digits
);
INSERT INTO database_identity (id) VALUES (lower(hex(randomblob(16))));

CREATE TABLE ship_cursors (
    destination TEXT    PRIMARY KEY,                    -- ClickHouse URL (no credentials) and database: http://host:8123/tcpeek
    session_id  INTEGER NOT NULL DEFAULT 0,             -- last session id ClickHouse acknowledged
    shipped_at  REAL                                    -- wall clock of that acknowledgement, epoch seconds
) WITHOUT ROWID;
