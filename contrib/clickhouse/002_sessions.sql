-- One row per shipped SQLite `sessions` row: every SQLite column (see
-- Schema/README.md) plus the fleet key (host, database_id).
--
-- ReplacingMergeTree: every column of the key is a function of the row, so
-- a batch shipped twice (the shipper lost ClickHouse's answer) has the same
-- keys and merges away; `sessions FINAL` is exact before the merge too.
-- One partition per day of `started`: retention drops whole days
-- (`ALTER TABLE tcpeek.sessions DROP PARTITION 'YYYY-MM-DD'`; 18.16 has no
-- TTL), and the shipper never mixes days in one INSERT, which ClickHouse
-- then writes atomically. The key's prefix serves per-host and per-server
-- questions (hosts are few).
CREATE TABLE IF NOT EXISTS tcpeek.sessions (
    host            String,                 -- tcpeek ship --host, default the machine's host name
    database_id     String,                 -- the SQLite database's identity (database_identity.id)
    run_id          UInt64,
    session_id      UInt64,                 -- SQLite sessions.id
    started         DateTime('UTC'),        -- floor(started_at), for partitions (UTC days) and minutes
    started_at      Float64,                -- epoch seconds, microsecond precision
    duration        Float64,                -- seconds
    family          UInt8,
    client_addr     String,
    client_port     UInt16,
    server_addr     String,
    server_port     UInt16,
    vlan            Nullable(String),
    direction       Nullable(String),
    outcome         Enum8('success' = 1, 'reject' = 2, 'abort' = 3, 'timeout' = 4, 'unreach' = 5),
    dup_syn         UInt32,
    dup_synack      UInt32,
    icmp_type       Nullable(UInt8),
    icmp_code       Nullable(UInt8),
    evicted         UInt8,
    filters         Array(String),          -- names of the run's filters that counted it (filter_bits + run_filters)
    cause           Nullable(String),
    syn_ttl         Nullable(UInt8),
    synack_ttl      Nullable(UInt8),
    rst_ttl         Nullable(UInt8),
    synack_seen     Nullable(UInt8),
    icmp_sender     Nullable(String),
    icmp_ttl        Nullable(UInt8),
    synack_mss      Nullable(UInt16),
    synack_wscale   Nullable(UInt8),
    syn_to_synack   Nullable(Float64),
    synack_to_ack   Nullable(Float64),
    syn_retry_time  Float64,
    ignored_rst     UInt32,
    ignored_rst_ttl Nullable(UInt8),
    capture_dropped UInt8,
    shipped_at      DateTime DEFAULT now()  -- not sent: when ClickHouse received it
) ENGINE = ReplacingMergeTree()
PARTITION BY toDate(started)
ORDER BY (host, server_addr, server_port, database_id, run_id, session_id);
