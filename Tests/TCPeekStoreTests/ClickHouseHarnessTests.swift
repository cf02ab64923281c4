// The real-ClickHouse harness (issue 16) against Debian's 18.16: a private
// server starts and stops, takes TSV and JSONEachRow inserts over HTTP,
// deduplicates replayed rows with ReplacingMergeTree + FINAL, and refuses
// wrong credentials and missing tables with the statuses recorded here
// (docs/clickhouse-notes.md): what `tcpeek ship` will be built on.
import Foundation
import Testing

@Suite(.serialized) struct ClickHouseHarnessTests {
    /// The shape of tcpeek's sessions, keyed by (host, run id, session id).
    static let createSessions = """
        CREATE TABLE sessions (
            host String, run_id UInt64, session_id UInt64,
            started_at DateTime, started_us UInt32, duration Float64,
            server_addr String, server_port UInt16,
            outcome Enum8('success' = 1, 'reject' = 2, 'abort' = 3, 'timeout' = 4, 'unreach' = 5),
            vlan Nullable(String), filters Array(String),
            shipped_at DateTime DEFAULT now()
        ) ENGINE = ReplacingMergeTree(shipped_at)
        PARTITION BY toDate(started_at) ORDER BY (host, run_id, session_id)
        """

    static let insertTSV = "INSERT INTO sessions (host, run_id, session_id, started_at, started_us, duration, "
        + "server_addr, server_port, outcome, vlan, filters) FORMAT TSV"

    /// Two sessions of host a, as TSV: epoch seconds for DateTime (no time zone
    /// to agree on), `\N` for NULL, arrays in ClickHouse's literal syntax.
    static let tsvRows = "a\t1\t1\t1796644800\t250000\t0.0012\t198.51.100.2\t80\tsuccess\t\\N\t['all','web']\n"
        + "a\t1\t2\t1796644801\t0\t3\t198.51.100.2\t81\ttimeout\t42\t['all']\n"

    @Test func startsInsertsReadsBackAndRefusesWrongCredentials() throws {
        let server = try ClickHouseTestServer(label: "ch-harness")
        defer { server.stop() }
        #expect(server.startupSeconds < 10, "startup took \(server.startupSeconds) s")
        #expect(try server.execute("SELECT version()") == "18.16.1\n")

        try server.execute(Self.createSessions)
        // No background merge may fold the replay below before count() sees it.
        try server.execute("SYSTEM STOP MERGES")
        try server.execute(Self.insertTSV, body: Self.tsvRows)
        // JSONEachRow: omitted columns take their type's default (0, ''),
        // not the DEFAULT expression, in 18.16: shipped_at would be 0 here.
        let json = #"{"host":"b","run_id":7,"session_id":1,"started_at":1796644802,"started_us":5,"duration":0.5,"#
            + #""server_addr":"2001:db8::2","server_port":443,"outcome":"reject","vlan":null,"filters":["all"],"#
            + #""shipped_at":1796644900}"# + "\n"
        try server.execute("INSERT INTO sessions FORMAT JSONEachRow", body: json)

        let rows = try server.execute(
            "SELECT host, run_id, session_id, started_at, started_us, outcome, vlan, filters FROM sessions "
                + "ORDER BY host, run_id, session_id FORMAT TSV")
        #expect(rows == """
            a\t1\t1\t2026-12-07 12:00:00\t250000\tsuccess\t\\N\t['all','web']
            a\t1\t2\t2026-12-07 12:00:01\t0\ttimeout\t42\t['all']
            b\t7\t1\t2026-12-07 12:00:02\t5\treject\t\\N\t['all']

            """)

        // A replayed batch adds parts (count() doubles) but FINAL sees each key once.
        try server.execute(Self.insertTSV, body: Self.tsvRows)
        #expect(try server.execute("SELECT count() FROM sessions") == "5\n")
        #expect(try server.execute("SELECT count() FROM sessions FINAL") == "3\n")

        // Unknown JSON fields are refused unless the setting says to skip them.
        let extra = #"{"host":"c","run_id":1,"session_id":1,"started_at":1796644800,"outcome":"abort","future":1}"# + "\n"
        let refused = try server.post("INSERT INTO sessions FORMAT JSONEachRow", body: extra)
        #expect(refused.status == 500 && refused.body.contains("Code: 117"), "\(refused)")
        try server.execute("INSERT INTO sessions FORMAT JSONEachRow", body: extra,
                           settings: ["input_format_skip_unknown_fields": "1"])
        #expect(try server.execute("SELECT count() FROM sessions FINAL") == "4\n")

        // The X-ClickHouse-User/Key headers are the other way in.
        let byHeaders = try server.post("SELECT 1", credentials: .headers(user: ClickHouseTestServer.user,
                                                                          password: server.password))
        #expect(byHeaders.status == 200 && byHeaders.body == "1\n", "\(byHeaders)")

        // What 18.16 answers to wrong credentials: 401 and a Code in the body.
        let wrongPassword = try server.post("SELECT 1", credentials: .basic(user: ClickHouseTestServer.user, password: "wrong"))
        #expect(wrongPassword.status == 401 && wrongPassword.body.contains("Code: 193")
                && wrongPassword.body.contains("Wrong password for user tcpeek"), "\(wrongPassword)")
        let unknownUser = try server.post("SELECT 1", credentials: .basic(user: "nobody", password: server.password))
        #expect(unknownUser.status == 401 && unknownUser.body.contains("Code: 192"), "\(unknownUser)")
        let anonymous = try server.post("SELECT 1", credentials: ClickHouseCredentials.none)
        #expect(anonymous.status == 401 && anonymous.body.contains("Unknown user default"), "\(anonymous)")
        let wrongKey = try server.post("SELECT 1", credentials: .headers(user: ClickHouseTestServer.user, password: "wrong"))
        #expect(wrongKey.status == 401 && wrongKey.body.contains("Code: 193"), "\(wrongKey)")

        // A missing table: 404 and Code 60, the body naming it.
        let missing = try server.post("INSERT INTO nowhere FORMAT TSV", body: "1\n")
        #expect(missing.status == 404 && missing.body.contains("Code: 60")
                && missing.body.contains("default.nowhere"), "\(missing)")

        // The password file is what a shipper reads: only root may.
        let mode = try FileManager.default.attributesOfItem(atPath: server.passwordFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try String(contentsOfFile: server.passwordFile, encoding: .utf8) == server.password)
    }

    @Test func killedServerRestartsWithItsRowsOnTheSamePorts() throws {
        let server = try ClickHouseTestServer(label: "ch-restart")
        defer { server.stop() }
        try server.execute(Self.createSessions)
        try server.execute(Self.insertTSV, body: Self.tsvRows)
        server.kill()
        #expect(!server.isRunning)
        #expect((try? clickHouseHTTP(port: server.httpPort, method: "GET", path: "/ping")) == nil)
        let seconds = try server.restart()
        #expect(seconds < 10, "restart took \(seconds) s")
        #expect(try server.execute("SELECT count() FROM sessions FINAL") == "2\n")
    }

    @Test func stopRemovesTheFolderAndFreesThePort() throws {
        let server = try ClickHouseTestServer(label: "ch-stop")
        let folder = server.folder.path
        let port = server.httpPort
        server.stop()
        #expect(!FileManager.default.fileExists(atPath: folder))
        #expect((try? clickHouseHTTP(port: port, method: "GET", path: "/ping")) == nil)
    }
}
