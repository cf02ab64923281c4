-- Per (host, filter, minute of `started`): the states the materialized view
-- `sessions_minute_mv` adds up as sessions arrive, read with the -Merge
-- functions (`countMerge(success)`, `quantilesTDigestIfMerge(0.5, 0.9,
-- 0.99)(handshake)`). For dashboards and fast minute answers: a view counts
-- every inserted block, so a batch shipped twice would count twice here;
-- the shipper never resends a batch ClickHouse has (docs/fleet-design.md,
-- "Exactly once"), and `sessions FINAL` stays the exact source.
CREATE TABLE IF NOT EXISTS tcpeek.sessions_minute (
    host       String,
    filter     String,
    minute     DateTime('UTC'),
    attempts   AggregateFunction(count),
    success    AggregateFunction(countIf, UInt8),
    reject     AggregateFunction(countIf, UInt8),
    abort      AggregateFunction(countIf, UInt8),
    timeout    AggregateFunction(countIf, UInt8),
    unreach    AggregateFunction(countIf, UInt8),
    dup_syn    AggregateFunction(sum, UInt32),
    dup_synack AggregateFunction(sum, UInt32),
    handshake  AggregateFunction(quantilesTDigestIf(0.5, 0.9, 0.99), Float64, UInt8)  -- duration of successes
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (host, filter, minute);
