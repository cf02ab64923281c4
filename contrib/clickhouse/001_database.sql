-- tcpeek's fleet history in ClickHouse (issue 16; docs/fleet-design.md).
-- `tcpeek ship --init` runs these files in order, with the database name
-- `tcpeek` replaced by `--clickhouse-database`; each statement is
-- idempotent, so --init may run again at any time. Written for ClickHouse
-- 18.16 (Debian's): no TTL, no DateTime64, no IPv6 type, no insert
-- deduplication outside Replicated tables (docs/clickhouse-notes.md).
-- By hand: clickhouse-client --multiquery < FILE, for each file in order.
CREATE DATABASE IF NOT EXISTS tcpeek;
