-- tcpeek schema, version 4: which filters counted a session is a bit mask
-- on its row.
--
-- Up to version 3 every session had one `session_filters` row per filter
-- that counted it, kept in two B-trees: three of a session's four B-tree
-- inserts went to saying "ALL" or "http-rx" again. Now `sessions.filter_bits`
-- holds bit i for the run's filter i, and `run_filters` names each run's
-- bits once. `session_filters` stays as a view with the same rows, so
-- queries written for it keep working.

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

-- Bit i set: filter i of the session's run (see `run_filters`) counted it.
-- Bit 63 makes the value negative; `(filter_bits >> bit) & 1` still tests it.
ALTER TABLE sessions ADD COLUMN filter_bits INTEGER NOT NULL DEFAULT 0;

UPDATE sessions SET filter_bits = coalesce((
    SELECT sum(1 << f.bit)
    FROM session_filters AS sf JOIN run_filters AS f ON f.run_id = sessions.run_id AND f.filter = sf.filter
    WHERE sf.session_id = sessions.id), 0);

DROP TABLE session_filters;

CREATE VIEW session_filters (session_id, filter) AS
SELECT s.id, f.filter
FROM sessions AS s JOIN run_filters AS f ON f.run_id = s.run_id AND (s.filter_bits >> f.bit) & 1;
