-- tcpeek schema, version 4: `sessions` rebuilt for the rate at which a busy
-- host closes attempts.
--
-- 1. Which filters counted a session is a bit mask on its row. Up to
--    version 3 every session had one `session_filters` row per filter that
--    counted it, kept in two B-trees: three of a session's four B-tree
--    inserts went to saying "ALL" or "http-rx" again. Now
--    `sessions.filter_bits` holds bit i for the run's filter i, and
--    `run_filters` names each run's bits once. `session_filters` stays as a
--    view with the same rows, so queries written for it keep working.
-- 2. The CHECK constraints say the same without `IN (...)` lists: SQLite
--    evaluates a constant list of three or more values through a temporary
--    index built for every row, which took a third of the insert.
--
-- SQLite cannot change a table's constraints in place, so the table is
-- copied (a one-time cost of the order of a minute for 10 million sessions).

-- The counting filters of each run: bit `bit` of `sessions.filter_bits`
-- stands for `filter` in the sessions of run `run_id`.
CREATE TABLE run_filters (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    bit    INTEGER NOT NULL CHECK (bit BETWEEN 0 AND 63),
    filter TEXT    NOT NULL,
    PRIMARY KEY (run_id, bit),
    UNIQUE (run_id, filter)
) WITHOUT ROWID;
CREATE INDEX run_filters_by_filter ON run_filters (filter, run_id);

-- `runs.filters` has always listed a run's counting filters in bit order.
INSERT INTO run_filters (run_id, bit, filter)
SELECT runs.id, entry.key, json_extract(entry.value, '$.name')
FROM runs, json_each(runs.filters) AS entry;

-- One row per closed connection attempt.
CREATE TABLE sessions_v4 (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    started_at  REAL    NOT NULL,
    duration    REAL    NOT NULL CHECK (duration >= 0),
    family      INTEGER NOT NULL CHECK (family = 4 OR family = 6),
    client_addr TEXT    NOT NULL,
    client_port INTEGER NOT NULL CHECK (client_port BETWEEN 0 AND 65535),
    server_addr TEXT    NOT NULL,
    server_port INTEGER NOT NULL CHECK (server_port BETWEEN 0 AND 65535),
    vlan        TEXT,                                  -- "42" or "10.20" (outermost first), NULL untagged
    direction   TEXT    CHECK (direction = 'RX' OR direction = 'TX'),
    outcome     TEXT    NOT NULL CHECK (outcome = 'success' OR outcome = 'reject' OR outcome = 'abort'
                                        OR outcome = 'timeout' OR outcome = 'unreach'),
    dup_syn     INTEGER NOT NULL DEFAULT 0,
    dup_synack  INTEGER NOT NULL DEFAULT 0,
    icmp_type   INTEGER,
    icmp_code   INTEGER,
    evicted     INTEGER NOT NULL DEFAULT 0 CHECK (evicted = 0 OR evicted = 1),
    -- Bit i set: filter i of the session's run (see `run_filters`) counted
    -- it. Bit 63 makes the value negative; `(filter_bits >> bit) & 1` still
    -- tests it.
    filter_bits INTEGER NOT NULL DEFAULT 0,
    CHECK ((outcome = 'unreach') = (icmp_type IS NOT NULL))
);

INSERT INTO sessions_v4 (id, run_id, started_at, duration, family, client_addr, client_port, server_addr, server_port,
                         vlan, direction, outcome, dup_syn, dup_synack, icmp_type, icmp_code, evicted, filter_bits)
SELECT s.id, s.run_id, s.started_at, s.duration, s.family, s.client_addr, s.client_port, s.server_addr, s.server_port,
       s.vlan, s.direction, s.outcome, s.dup_syn, s.dup_synack, s.icmp_type, s.icmp_code, s.evicted,
       coalesce((SELECT sum(1 << f.bit)
                 FROM session_filters AS sf JOIN run_filters AS f ON f.run_id = s.run_id AND f.filter = sf.filter
                 WHERE sf.session_id = s.id), 0)
FROM sessions AS s;

DROP TABLE session_filters;
DROP TABLE sessions;
ALTER TABLE sessions_v4 RENAME TO sessions;
CREATE INDEX sessions_by_time ON sessions (started_at);

CREATE VIEW session_filters (session_id, filter) AS
SELECT s.id, f.filter
FROM sessions AS s JOIN run_filters AS f ON f.run_id = s.run_id AND (s.filter_bits >> f.bit) & 1;
