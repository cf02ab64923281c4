-- tcpeek schema, version 2: sessions keep only their time index.
--
-- Every index on `sessions` is maintained on every insert, and the three
-- endpoint indexes of version 1 (server address, client address, server
-- port, each with the time) cut the rate at which sessions are recorded to
-- about a quarter. Questions about an endpoint are asked over a time range
-- ("the last hour", "since yesterday"), which `sessions_by_time` narrows
-- first; the rollups answer everything else.
DROP INDEX IF EXISTS sessions_by_server;
DROP INDEX IF EXISTS sessions_by_client;
DROP INDEX IF EXISTS sessions_by_port;
