-- The hosts' SQLite `rollups_minute` rows (Schema/README.md), shipped after
-- their sessions: per (host, database, filter, minute), the summary's
-- figures. A host keeps its rollups longer than its sessions
-- (--rollup-retention-days, default 400, against 30), so its first ship
-- brings minutes older than any session it still has.
--
-- A minute's row changes while sessions that started in it are committed,
-- and is shipped again each time: ReplacingMergeTree keeps, per key, the
-- row of the highest `version` (the host's session cursor when the row was
-- read), so `FINAL` reads each minute's latest figures and a row shipped
-- twice counts once. One partition per month, as `sessions_minute`:
-- retention drops whole months.
CREATE TABLE IF NOT EXISTS tcpeek.rollups_minute (
    host               String,
    database_id        String,
    minute             DateTime('UTC'),
    filter             String,
    success            UInt64,
    success_dup_syn    UInt64,          -- successes with >= 1 retransmitted SYN
    success_dup_synack UInt64,          -- successes with >= 1 retransmitted SYN/ACK
    failure            UInt64,          -- timeout + reject + unreach + abort
    timeout            UInt64,
    reject             UInt64,
    unreach            UInt64,
    abort              UInt64,
    dup_syn            UInt64,          -- retransmitted SYN segments, all outcomes
    dup_synack         UInt64,          -- retransmitted SYN/ACK segments, all outcomes
    handshake_sum      Float64,         -- seconds, successful sessions
    version            UInt64           -- the session cursor when it was read: the latest wins
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (host, database_id, filter, minute);
