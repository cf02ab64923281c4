-- tcpeek schema, version 3: handshake-time buckets per hour as well.
--
-- A busy filter fills ~100 buckets a minute, so a month of
-- `rollup_handshake_buckets` is millions of rows, too many to read for a
-- "last 30 days by hour" question. The recorder keeps this hourly copy in
-- the same transaction as the minute rows (the sums of the minute rows of
-- each hour); queries take whole hours from here, the rest from the minutes.
CREATE TABLE rollup_handshake_buckets_hour (
    hour   INTEGER NOT NULL,                            -- epoch seconds of the hour's start
    filter TEXT    NOT NULL,
    bucket INTEGER NOT NULL,                            -- as in rollup_handshake_buckets
    count  INTEGER NOT NULL,
    PRIMARY KEY (hour, filter, bucket)
) WITHOUT ROWID;

INSERT INTO rollup_handshake_buckets_hour (hour, filter, bucket, count)
SELECT minute / 3600 * 3600, filter, bucket, sum(count)
FROM rollup_handshake_buckets
GROUP BY minute / 3600, filter, bucket;
