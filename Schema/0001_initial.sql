-- tcpeek history database, version 1.
-- Never edit a migration once shipped: add the next numbered file instead.
-- Times are Unix epoch seconds (REAL, microsecond precision), durations are
-- seconds (REAL), addresses are text as users write them.

-- One row per `tcpeek record` run.
CREATE TABLE runs (
    id                    INTEGER PRIMARY KEY,
    started_at            REAL    NOT NULL,
    ended_at              REAL,
    source_kind           TEXT    NOT NULL CHECK (source_kind IN ('interface', 'file')),
    source                TEXT    NOT NULL,
    filters               TEXT    NOT NULL,           -- JSON array of {"name","expression"}
    host                  TEXT,
    version               TEXT    NOT NULL,
    libpcap               TEXT,
    pcap_recv             INTEGER,
    pcap_drop             INTEGER,
    pcap_ifdrop           INTEGER,
    sessions_recorded     INTEGER NOT NULL DEFAULT 0,
    sessions_not_recorded INTEGER NOT NULL DEFAULT 0,
    evicted               INTEGER NOT NULL DEFAULT 0,
    still_open            INTEGER
);

-- One row per closed connection attempt.
CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    started_at  REAL    NOT NULL,
    duration    REAL    NOT NULL CHECK (duration >= 0),
    family      INTEGER NOT NULL CHECK (family IN (4, 6)),
    client_addr TEXT    NOT NULL,
    client_port INTEGER NOT NULL CHECK (client_port BETWEEN 0 AND 65535),
    server_addr TEXT    NOT NULL,
    server_port INTEGER NOT NULL CHECK (server_port BETWEEN 0 AND 65535),
    vlan        TEXT,                                  -- "42" or "10.20" (outermost first), NULL untagged
    direction   TEXT    CHECK (direction IN ('RX', 'TX')),
    outcome     TEXT    NOT NULL CHECK (outcome IN ('success', 'reject', 'abort', 'timeout', 'unreach')),
    dup_syn     INTEGER NOT NULL DEFAULT 0,
    dup_synack  INTEGER NOT NULL DEFAULT 0,
    icmp_type   INTEGER,
    icmp_code   INTEGER,
    evicted     INTEGER NOT NULL DEFAULT 0 CHECK (evicted IN (0, 1)),
    CHECK ((outcome = 'unreach') = (icmp_type IS NOT NULL))
);
CREATE INDEX sessions_by_time ON sessions (started_at);
CREATE INDEX sessions_by_server ON sessions (server_addr, started_at);
CREATE INDEX sessions_by_client ON sessions (client_addr, started_at);
CREATE INDEX sessions_by_port ON sessions (server_port, started_at);

-- Which counting filters counted each session (one row per filter).
CREATE TABLE session_filters (
    filter     TEXT    NOT NULL,
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    PRIMARY KEY (filter, session_id)
) WITHOUT ROWID;
CREATE INDEX session_filters_by_session ON session_filters (session_id);

-- Per minute (of the attempt's start) and filter: the summary's figures.
CREATE TABLE rollups_minute (
    minute             INTEGER NOT NULL,               -- epoch seconds of the minute's start
    filter             TEXT    NOT NULL,
    success            INTEGER NOT NULL DEFAULT 0,
    success_dup_syn    INTEGER NOT NULL DEFAULT 0,     -- successes with >= 1 retransmitted SYN
    success_dup_synack INTEGER NOT NULL DEFAULT 0,     -- successes with >= 1 retransmitted SYN/ACK
    failure            INTEGER NOT NULL DEFAULT 0,     -- timeout + reject + unreach + abort
    timeout            INTEGER NOT NULL DEFAULT 0,
    reject             INTEGER NOT NULL DEFAULT 0,
    unreach            INTEGER NOT NULL DEFAULT 0,
    abort              INTEGER NOT NULL DEFAULT 0,
    dup_syn            INTEGER NOT NULL DEFAULT 0,     -- retransmitted SYN segments, all outcomes
    dup_synack         INTEGER NOT NULL DEFAULT 0,     -- retransmitted SYN/ACK segments, all outcomes
    handshake_sum      REAL    NOT NULL DEFAULT 0,     -- seconds, successful sessions
    PRIMARY KEY (minute, filter)
) WITHOUT ROWID;

-- The handshake-time distribution of successful sessions, per minute and
-- filter: bucket b holds durations d (microseconds) with
-- floor(ln(d) / ln(1.02)) = b - 1 for d >= 1, and bucket 0 holds d < 1 µs.
-- A bucket's midpoint is within 1 % of every duration it holds.
CREATE TABLE rollup_handshake_buckets (
    minute INTEGER NOT NULL,
    filter TEXT    NOT NULL,
    bucket INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (minute, filter, bucket)
) WITHOUT ROWID;
