-- tcpeek schema, version 5: per-hour rollups, one row an hour and filter.
--
-- "The last 30 days by hour" read every minute row of the month (43,200 a
-- filter) and, from version 3, every hourly handshake-time bucket (some 250
-- an hour for a busy filter): hundreds of thousands of rows, each costing
-- SQLite more than the sums it carries. `rollups_hour` holds an hour's
-- figures in one row, the handshake-time histogram included as a JSON object
-- (bucket number, as text, JSON's only key type, to count): a month is 720
-- rows a filter. The recorder adds to an hour's row in the same transaction
-- as the minute rows it sums. `rollup_handshake_buckets_hour` stays as a
-- view with the same rows, so queries written for it keep working.
CREATE TABLE rollups_hour (
    hour               INTEGER NOT NULL,               -- epoch seconds of the hour's start
    filter             TEXT    NOT NULL,
    success            INTEGER NOT NULL DEFAULT 0,     -- the columns of rollups_minute, summed over the hour
    success_dup_syn    INTEGER NOT NULL DEFAULT 0,
    success_dup_synack INTEGER NOT NULL DEFAULT 0,
    failure            INTEGER NOT NULL DEFAULT 0,
    timeout            INTEGER NOT NULL DEFAULT 0,
    reject             INTEGER NOT NULL DEFAULT 0,
    unreach            INTEGER NOT NULL DEFAULT 0,
    abort              INTEGER NOT NULL DEFAULT 0,
    dup_syn            INTEGER NOT NULL DEFAULT 0,
    dup_synack         INTEGER NOT NULL DEFAULT 0,
    handshake_sum      REAL    NOT NULL DEFAULT 0,
    -- {"bucket": count, ...}: the non-zero buckets of rollup_handshake_buckets, summed over the hour
    handshake_buckets  TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(handshake_buckets)),
    PRIMARY KEY (hour, filter)
) WITHOUT ROWID;

INSERT INTO rollups_hour (hour, filter, success, success_dup_syn, success_dup_synack, failure, timeout, reject,
                          unreach, abort, dup_syn, dup_synack, handshake_sum)
SELECT minute / 3600 * 3600, filter, sum(success), sum(success_dup_syn), sum(success_dup_synack), sum(failure),
       sum(timeout), sum(reject), sum(unreach), sum(abort), sum(dup_syn), sum(dup_synack), sum(handshake_sum)
FROM rollups_minute
GROUP BY minute / 3600, filter;

-- Hours whose minute rows were pruned while their buckets were kept.
INSERT OR IGNORE INTO rollups_hour (hour, filter)
SELECT DISTINCT hour, filter FROM rollup_handshake_buckets_hour;

UPDATE rollups_hour SET handshake_buckets = coalesce(
    (SELECT json_group_object(bucket, count)
     FROM (SELECT b.bucket, b.count FROM rollup_handshake_buckets_hour b
           WHERE b.hour = rollups_hour.hour AND b.filter = rollups_hour.filter AND b.count != 0
           ORDER BY b.bucket)),
    '{}');

DROP TABLE rollup_handshake_buckets_hour;

CREATE VIEW rollup_handshake_buckets_hour (hour, filter, bucket, count) AS
SELECT h.hour, h.filter, CAST(b.key AS INTEGER), b.value
FROM rollups_hour h, json_each(h.handshake_buckets) b;
