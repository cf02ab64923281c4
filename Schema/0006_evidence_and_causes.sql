-- tcpeek schema, version 6: why each attempt ended (issue 15).
--
-- 1. The evidence of each attempt, beyond its outcome, and the cause decided
--    from it: new `sessions` columns, named as the `--json-lines` keys.
--    ALTER TABLE ... ADD COLUMN changes no stored row (SQLite reads a
--    missing trailing column as its default), so upgrading costs nothing
--    but the one UPDATE below. No CHECK constraints: each is evaluated on
--    every insert, and these values come from tcpeek alone.
-- 2. Per-cause counts per minute and per hour, so `tcpeek query --by cause`
--    over a month reads rollups, not sessions.
ALTER TABLE sessions ADD COLUMN cause           TEXT;              -- Causes' names, comma-separated; NULL: none
ALTER TABLE sessions ADD COLUMN syn_ttl         INTEGER;           -- the client's first SYN
ALTER TABLE sessions ADD COLUMN synack_ttl      INTEGER;           -- the server's first SYN/ACK
ALTER TABLE sessions ADD COLUMN rst_ttl         INTEGER;           -- the deciding RST
ALTER TABLE sessions ADD COLUMN synack_seen     INTEGER;           -- 0 or 1
ALTER TABLE sessions ADD COLUMN icmp_sender     TEXT;              -- who sent the deciding ICMP error
ALTER TABLE sessions ADD COLUMN icmp_ttl        INTEGER;
ALTER TABLE sessions ADD COLUMN synack_mss      INTEGER;
ALTER TABLE sessions ADD COLUMN synack_wscale   INTEGER;
ALTER TABLE sessions ADD COLUMN syn_to_synack   REAL;              -- seconds
ALTER TABLE sessions ADD COLUMN synack_to_ack   REAL;              -- seconds
ALTER TABLE sessions ADD COLUMN syn_retry_time  REAL    NOT NULL DEFAULT 0;   -- seconds, first SYN to last
ALTER TABLE sessions ADD COLUMN ignored_rst     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN ignored_rst_ttl INTEGER;
ALTER TABLE sessions ADD COLUMN capture_dropped INTEGER NOT NULL DEFAULT 0;   -- 0 or 1

-- Rows from before: the one cause their columns prove is `after-retries`, a
-- success that sent more than one SYN. Every other cause needs evidence they
-- never kept, so theirs stays NULL (unknown for a failure, no flag known for
-- a success).
UPDATE sessions SET cause = 'after-retries' WHERE outcome = 'success' AND dup_syn > 0;

-- Attempts per (minute of their start, filter, outcome, cause): `cause` is
-- the sessions' `cause` as written, a combination of names ('' where the
-- session's is NULL), so each attempt counts in exactly one row and the rows
-- of a (minute, filter, outcome) add up to rollups_minute's figure for it.
CREATE TABLE rollup_causes_minute (
    minute  INTEGER NOT NULL,                           -- epoch seconds of the minute's start
    filter  TEXT    NOT NULL,
    outcome TEXT    NOT NULL,
    cause   TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (minute, filter, outcome, cause)
) WITHOUT ROWID;

-- The same per hour, written in the same transaction as the minute rows.
CREATE TABLE rollup_causes_hour (
    hour    INTEGER NOT NULL,                           -- epoch seconds of the hour's start
    filter  TEXT    NOT NULL,
    outcome TEXT    NOT NULL,
    cause   TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (hour, filter, outcome, cause)
) WITHOUT ROWID;

-- Filled from the existing rollups (a few rows a minute, not a pass over the
-- sessions), with what the UPDATE above derived: successes with a
-- retransmitted SYN are `after-retries`, the rest have no cause.
INSERT INTO rollup_causes_minute (minute, filter, outcome, cause, count)
SELECT minute, filter, 'success', 'after-retries', success_dup_syn FROM rollups_minute WHERE success_dup_syn > 0
UNION ALL SELECT minute, filter, 'success', '', success - success_dup_syn FROM rollups_minute WHERE success > success_dup_syn
UNION ALL SELECT minute, filter, 'timeout', '', timeout FROM rollups_minute WHERE timeout > 0
UNION ALL SELECT minute, filter, 'reject', '', reject FROM rollups_minute WHERE reject > 0
UNION ALL SELECT minute, filter, 'unreach', '', unreach FROM rollups_minute WHERE unreach > 0
UNION ALL SELECT minute, filter, 'abort', '', abort FROM rollups_minute WHERE abort > 0;

INSERT INTO rollup_causes_hour (hour, filter, outcome, cause, count)
SELECT hour, filter, 'success', 'after-retries', success_dup_syn FROM rollups_hour WHERE success_dup_syn > 0
UNION ALL SELECT hour, filter, 'success', '', success - success_dup_syn FROM rollups_hour WHERE success > success_dup_syn
UNION ALL SELECT hour, filter, 'timeout', '', timeout FROM rollups_hour WHERE timeout > 0
UNION ALL SELECT hour, filter, 'reject', '', reject FROM rollups_hour WHERE reject > 0
UNION ALL SELECT hour, filter, 'unreach', '', unreach FROM rollups_hour WHERE unreach > 0
UNION ALL SELECT hour, filter, 'abort', '', abort FROM rollups_hour WHERE abort > 0;
