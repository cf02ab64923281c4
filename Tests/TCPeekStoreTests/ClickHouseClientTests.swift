// TCPeekFleet's ClickHouse client and schema against the real server
// (Debian's 18.16, started by ClickHouseTestServer): the tables of
// contrib/clickhouse/ are created (twice: --init is idempotent) under any
// database name, rows go in as TabSeparated and come back, and each failure
// is classified the way the shipper acts on it.
import Foundation
import NIOCore
import Testing
@testable import TCPeekFleet

/// `contrib/clickhouse/` is the one definition of the fleet's tables; the
/// binary carries a generated copy. This fails when the copy is stale: run `make schema`.
@Test func generatedClickHouseSchemaMatchesContribFolder() throws {
    let folder = StorePaths.repository.appendingPathComponent("contrib/clickhouse")
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
    #expect(files == ClickHouseSchema.files.map(\.name))
    for (file, compiled) in zip(files, ClickHouseSchema.files) {
        let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
        let normalise = { (s: String) in
            s.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
                .joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(normalise(text) == normalise(compiled.sql), "\(file) differs from the compiled copy: run make schema")
    }
}

@Suite struct ClickHouseEndpointTests {
    @Test func defaultsPortsAndDestination() throws {
        let plain = try ClickHouseEndpoint.parse(url: "http://127.0.0.1", environment: [:])
        #expect(plain.url == "http://127.0.0.1:8123/")
        #expect(plain.destination == "http://127.0.0.1:8123/tcpeek")
        #expect(plain.user == "default")
        #expect(plain.password == nil)
        let tls = try ClickHouseEndpoint.parse(url: "https://ch.example.org/", database: "fleet",
                                               environment: ["TCPEEK_CLICKHOUSE_USER": "ship", "TCPEEK_CLICKHOUSE_PASSWORD": "s3"])
        #expect(tls.url == "https://ch.example.org:8443/")
        #expect(tls.destination == "https://ch.example.org:8443/fleet")
        #expect(tls.user == "ship")
        #expect(tls.password == "s3")
        #expect(try ClickHouseEndpoint.parse(url: "http://[2001:db8::5]:9000/", environment: [:]).url == "http://[2001:db8::5]:9000/")
    }

    @Test func refusesCredentialsInTheURLAndSaysWhereTheyGo() {
        for url in ["http://tcpeek:secret@127.0.0.1:8123/", "http://tcpeek@127.0.0.1/"] {
            #expect {
                try ClickHouseEndpoint.parse(url: url, environment: [:])
            } throws: { error in
                let text = "\(error)"
                return text.contains("must not hold credentials") && text.contains("--clickhouse-password-file")
                    && text.contains("TCPEEK_CLICKHOUSE_USER") && !text.contains("secret")
            }
        }
    }

    @Test func refusesOtherSchemesPathsAndNames() {
        #expect(throws: ClickHouseEndpoint.Problem.self) { try ClickHouseEndpoint.parse(url: "tcp://127.0.0.1:9000", environment: [:]) }
        #expect(throws: ClickHouseEndpoint.Problem.self) { try ClickHouseEndpoint.parse(url: "http://127.0.0.1/tcpeek", environment: [:]) }
        #expect(throws: ClickHouseEndpoint.Problem.self) { try ClickHouseEndpoint.parse(url: "http://127.0.0.1/", database: "a;DROP", environment: [:]) }
        #expect(throws: ClickHouseEndpoint.Problem.self) { try ClickHouseEndpoint.parse(url: "http://127.0.0.1/", passwordFile: "/nonexistent/pw", environment: [:]) }
    }

    @Test func passwordFileFirstLineOverTheEnvironment() throws {
        let folder = try TemporaryFolder("ch-endpoint")
        defer { folder.remove() }
        try "from-file\nsecond line\n".write(toFile: folder.file("pw"), atomically: true, encoding: .utf8)
        let endpoint = try ClickHouseEndpoint.parse(url: "http://127.0.0.1/", passwordFile: folder.file("pw"),
                                                    environment: ["TCPEEK_CLICKHOUSE_PASSWORD": "from-env"])
        #expect(endpoint.password == "from-file")
    }

    @Test func renamesTheDatabaseOnlyWhereItIsTheDatabase() {
        let statements = ClickHouseSchema.statements(database: "fleet_a")
        #expect(statements[0].contains("CREATE DATABASE IF NOT EXISTS fleet_a;"))
        #expect(statements.allSatisfy { !$0.contains(" tcpeek.sessions") })
        #expect(statements[3].contains("TO fleet_a.sessions_minute"))
        #expect(statements[3].contains("FROM fleet_a.sessions"))
        #expect(ClickHouseSchema.statements(database: "tcpeek") == ClickHouseSchema.files.map(\.sql))
    }
}

@Suite(.serialized) struct ClickHouseClientTests {
    static func endpoint(_ server: ClickHouseTestServer, database: String = "tcpeek", password: String? = nil) throws -> ClickHouseEndpoint {
        try ClickHouseEndpoint.parse(url: server.url, database: database, environment: [
            "TCPEEK_CLICKHOUSE_USER": ClickHouseTestServer.user, "TCPEEK_CLICKHOUSE_PASSWORD": password ?? server.password])
    }

    static let columns = ["host", "database_id", "run_id", "session_id", "started", "started_at", "duration", "family",
                          "client_addr", "client_port", "server_addr", "server_port", "vlan", "direction", "outcome",
                          "dup_syn", "dup_synack", "icmp_type", "icmp_code", "evicted", "filters", "cause",
                          "syn_ttl", "synack_ttl", "rst_ttl", "synack_seen", "icmp_sender", "icmp_ttl", "synack_mss",
                          "synack_wscale", "syn_to_synack", "synack_to_ack", "syn_retry_time", "ignored_rst",
                          "ignored_rst_ttl", "capture_dropped"]

    static let rows = """
        h1\tdb1\t1\t1\t1796644800\t1796644800.25\t0.0012\t4\t198.51.100.7\t40000\t198.51.100.2\t80\t\\N\tRX\tsuccess\t0\t0\t\\N\t\\N\t0\t['all','web']\t\\N\t64\t60\t\\N\t1\t\\N\t\\N\t1460\t7\t0.001\t0.0002\t0\t0\t\\N\t0
        h1\tdb1\t1\t2\t1796644801\t1796644801.5\t3\t6\t2001:db8::7\t40001\t2001:db8::2\t81\t10.20\t\\N\ttimeout\t2\t0\t\\N\t\\N\t0\t['all']\tafter-retries,server-silent\t64\t\\N\t\\N\t0\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t2\t0\t\\N\t1

        """

    /// --init's statements run on 18.16, twice, under the default and
    /// another database name; the view counts what `sessions` receives.
    @Test func createsTablesTwiceInsertsAndSelects() async throws {
        let server = try ClickHouseTestServer(label: "ch-client")
        defer { server.stop() }
        for database in ["tcpeek", "fleet_b"] {
            let client = ClickHouseClient(endpoint: try Self.endpoint(server, database: database))
            do {
                try await ClickHouseSchema.create(with: client)
                try await ClickHouseSchema.create(with: client)
                try await client.insert(into: "sessions", columns: Self.columns, format: .tabSeparated, rows: ByteBuffer(string: Self.rows))
                let back = try await client.select("""
                    SELECT session_id, outcome, vlan, filters, cause, toUnixTimestamp(shipped_at) > 0
                    FROM sessions FINAL ORDER BY session_id FORMAT TabSeparated
                    """)
                #expect(back == [["1", "success", "\\N", "['all','web']", "\\N", "1"],
                                 ["2", "timeout", "10.20", "['all']", "after-retries,server-silent", "1"]])
                let minutes = try await client.select("""
                    SELECT filter, countMerge(attempts), countIfMerge(success), countIfMerge(timeout), sumMerge(dup_syn)
                    FROM sessions_minute GROUP BY filter ORDER BY filter FORMAT TabSeparated
                    """)
                #expect(minutes == [["all", "2", "1", "1", "2"], ["web", "1", "1", "0", "0"]])
            } catch {
                await client.shutdown()
                throw error
            }
            await client.shutdown()
        }
        let tables = try server.execute("SELECT database, name FROM system.tables WHERE database IN ('tcpeek', 'fleet_b') ORDER BY database, name FORMAT TSV")
        #expect(tables == """
            fleet_b\trollups_minute
            fleet_b\tsessions
            fleet_b\tsessions_minute
            fleet_b\tsessions_minute_mv
            tcpeek\trollups_minute
            tcpeek\tsessions
            tcpeek\tsessions_minute
            tcpeek\tsessions_minute_mv

            """)
    }

    /// Each failure lands in the class the shipper acts on, with a message
    /// naming the URL and what to do.
    @Test func classifiesRefusalsUnavailabilityAndRejections() async throws {
        let server = try ClickHouseTestServer(label: "ch-errors")
        defer { server.stop() }
        func failure(_ endpoint: ClickHouseEndpoint, _ body: (ClickHouseClient) async throws -> Void) async -> ClickHouseError? {
            let client = ClickHouseClient(endpoint: endpoint, timeout: .seconds(5))
            var caught: ClickHouseError?
            do { try await body(client) } catch { caught = error as? ClickHouseError }
            await client.shutdown()
            return caught
        }
        let wrongPassword = await failure(try Self.endpoint(server, password: "wrong")) { try await $0.execute("SELECT 1") }
        guard case .refused(_, 401, 193?, _)? = wrongPassword else { Issue.record("wrong password: \(String(describing: wrongPassword))"); return }
        #expect(wrongPassword!.description.contains("refused the credentials"))
        #expect(wrongPassword!.description.contains(server.url))
        #expect(wrongPassword!.description.contains("--clickhouse-password-file"))

        let missing = await failure(try Self.endpoint(server)) {
            try await $0.insert(into: "sessions", columns: ["host"], format: .tabSeparated, rows: ByteBuffer(string: "a\n"))
        }
        guard case .refused(_, 404, let code?, _)? = missing, code == 60 || code == 81 else { Issue.record("missing: \(String(describing: missing))"); return }
        #expect(missing!.description.contains("tcpeek ship --init"))

        let endpoint = try Self.endpoint(server)
        let setup = ClickHouseClient(endpoint: endpoint)
        try await ClickHouseSchema.create(with: setup)
        await setup.shutdown()
        let garbage = await failure(endpoint) {
            try await $0.insert(into: "sessions", columns: Self.columns, format: .tabSeparated, rows: ByteBuffer(string: "not\ta\trow\n"))
        }
        guard case .rejected(_, 500, 27?, _)? = garbage else { Issue.record("garbage: \(String(describing: garbage))"); return }
        #expect(garbage!.description.contains("a bug in tcpeek"))

        server.kill()
        let down = await failure(endpoint) { try await $0.execute("SELECT 1") }
        guard case .unavailable? = down else { Issue.record("down: \(String(describing: down))"); return }
        #expect(down!.description.contains(server.url))
    }
}
