-- Feeds `sessions_minute` from every block inserted into `sessions`: one
-- row per filter that counted a session (arrayJoin), so a session counted
-- by no filter adds nothing here.
CREATE MATERIALIZED VIEW IF NOT EXISTS tcpeek.sessions_minute_mv TO tcpeek.sessions_minute AS
SELECT
    host,
    arrayJoin(filters) AS filter,
    toStartOfMinute(started) AS minute,
    countState() AS attempts,
    countIfState(outcome = 'success') AS success,
    countIfState(outcome = 'reject') AS reject,
    countIfState(outcome = 'abort') AS abort,
    countIfState(outcome = 'timeout') AS timeout,
    countIfState(outcome = 'unreach') AS unreach,
    sumState(dup_syn) AS dup_syn,
    sumState(dup_synack) AS dup_synack,
    quantilesTDigestIfState(0.5, 0.9, 0.99)(duration, outcome = 'success') AS handshake
FROM tcpeek.sessions
GROUP BY host, filter, minute;
