-- tcpeek schema, version 8: shipping the minute rollups to ClickHouse too
-- (issue 16; docs/fleet-design.md, "Minute rollups into ClickHouse").
--
-- Rollups are kept longer than sessions (--rollup-retention-days), so the
-- fleet gets them as they are, into ClickHouse's `rollups_minute`. A
-- minute's row keeps changing while sessions that started in it are
-- committed (a timeout closes a minute later, a file read commits out of
-- order), so a cursor per destination says which rows ClickHouse has, and
-- as of which sessions:
-- 1. rollup_minute: every row up to this minute was acknowledged (-1: none
--    yet); the rows after it are shipped next.
-- 2. rollup_session_id: the session cursor those rows were read after; the
--    minutes in which sessions above it started are shipped again, since
--    their rows changed (or may have) since.
-- Both move only after ClickHouse answered.
ALTER TABLE ship_cursors ADD COLUMN rollup_minute INTEGER NOT NULL DEFAULT -1;
ALTER TABLE ship_cursors ADD COLUMN rollup_session_id INTEGER NOT NULL DEFAULT 0;
