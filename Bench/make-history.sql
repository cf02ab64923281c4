-- Bench/make-history.sql: a history database of :sessions sessions spread
-- evenly over the 30 days before now, for timing `tcpeek query` on a
-- database of the size an operator keeps (10,000,000 sessions by default).
-- Written in the layout of schema version 4: Bench/run.sh applies
-- Schema/0001-0004 to an empty file, then
--   sqlite3 -cmd ".parameter set :sessions N" DB < Bench/make-history.sql
-- then the later migrations, as a recorder opening the file would.
-- Rollups are computed from the sessions with the recorder's rules (minute
-- of the start, 1.02-log handshake buckets), so queries see a consistent
-- database. Mix: 91 % success, 4 % reject, 1 % abort, 3 % timeout, 1 %
-- unreach; every session is in filter ALL, those to ports 80 and 443 in web.
-- A throw-away file: no journal, no syncs (a crash here means "make it again").
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
BEGIN;
INSERT INTO runs (id, started_at, source_kind, source, filters, version)
VALUES (1, unixepoch('now') - 30 * 86400, 'file', 'Bench/make-history.sql',
        '[{"name":"ALL","expression":"ALL:ANY@*:*"},{"name":"web","expression":"web:ANY@*:80:443"}]', 'bench');
INSERT INTO run_filters (run_id, bit, filter) VALUES (1, 0, 'ALL'), (1, 1, 'web');
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :sessions),
params(start, step) AS (SELECT unixepoch('now') - 30 * 86400, 30.0 * 86400 / :sessions)
INSERT INTO sessions (id, run_id, started_at, duration, family, client_addr, client_port, server_addr, server_port,
                      direction, outcome, dup_syn, dup_synack, icmp_type, icmp_code, evicted, filter_bits)
SELECT i + 1, 1, start + i * step,
       CASE WHEN i % 100 < 91 THEN 0.0002 + (abs(random()) % 40000) / 1e6 ELSE 0.001 END,
       CASE WHEN i % 5 = 0 THEN 6 ELSE 4 END,
       CASE WHEN i % 5 = 0 THEN '2001:db8:1::' || printf('%x', i % 4096) ELSE '198.51.100.' || (i % 250 + 1) END,
       1024 + i % 60000,
       CASE WHEN i % 5 = 0 THEN '2001:db8:2::' || printf('%x', i % 64) ELSE '203.0.113.' || (i % 64 + 1) END,
       CASE i % 4 WHEN 0 THEN 80 WHEN 1 THEN 443 WHEN 2 THEN 22 ELSE 5432 END,
       NULL,
       CASE WHEN i % 100 < 91 THEN 'success' WHEN i % 100 < 95 THEN 'reject' WHEN i % 100 < 96 THEN 'abort'
            WHEN i % 100 < 99 THEN 'timeout' ELSE 'unreach' END,
       CASE WHEN i % 33 = 0 THEN 1 ELSE 0 END, CASE WHEN i % 37 = 0 THEN 1 ELSE 0 END,
       CASE WHEN i % 100 = 99 THEN 3 END, CASE WHEN i % 100 = 99 THEN 1 END, 0,
       CASE WHEN i % 4 < 2 THEN 3 ELSE 1 END
FROM n, params;
INSERT INTO rollups_minute (minute, filter, success, success_dup_syn, success_dup_synack, failure, timeout, reject,
                            unreach, abort, dup_syn, dup_synack, handshake_sum)
SELECT CAST(s.started_at / 60 AS INTEGER) * 60 AS minute, f.filter,
       sum(s.outcome = 'success'), sum(s.outcome = 'success' AND s.dup_syn > 0),
       sum(s.outcome = 'success' AND s.dup_synack > 0), sum(s.outcome <> 'success'),
       sum(s.outcome = 'timeout'), sum(s.outcome = 'reject'), sum(s.outcome = 'unreach'), sum(s.outcome = 'abort'),
       sum(s.dup_syn), sum(s.dup_synack), total(CASE WHEN s.outcome = 'success' THEN s.duration END)
FROM sessions AS s JOIN run_filters AS f ON f.run_id = s.run_id AND (s.filter_bits >> f.bit) & 1
GROUP BY minute, f.filter;
INSERT INTO rollup_handshake_buckets (minute, filter, bucket, count)
SELECT CAST(s.started_at / 60 AS INTEGER) * 60 AS minute, f.filter,
       CASE WHEN s.duration * 1e6 < 1 THEN 0 ELSE CAST(floor(ln(s.duration * 1e6) / ln(1.02)) AS INTEGER) + 1 END AS bucket,
       count(*)
FROM sessions AS s JOIN run_filters AS f ON f.run_id = s.run_id AND (s.filter_bits >> f.bit) & 1
WHERE s.outcome = 'success'
GROUP BY minute, f.filter, bucket;
INSERT INTO rollup_handshake_buckets_hour (hour, filter, bucket, count)
SELECT minute / 3600 * 3600, filter, bucket, sum(count)
FROM rollup_handshake_buckets
GROUP BY minute / 3600, filter, bucket;
UPDATE runs SET sessions_recorded = (SELECT count(*) FROM sessions), ended_at = unixepoch('now') WHERE id = 1;
COMMIT;
