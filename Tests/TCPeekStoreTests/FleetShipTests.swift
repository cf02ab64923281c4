// `tcpeek ship` and `tcpeek record --ship` against a real ClickHouse 18.16
// (ClickHouseTestServer), through the binary: three databases shipped as
// three hosts equal their local queries; ClickHouse killed mid-ship and
// restarted loses and doubles nothing; a database recorded while no shipper
// ran catches up; a cursor reset by hand resends nothing; refusals exit 1
// with a message naming the fix; credentials in the URL are a usage error.
import Foundation
import GRDB
import Testing
@testable import TCPeekFleet
@testable import TCPeekStore

/// Per filter: success, timeout, reject, unreach, abort.
typealias FilterTotals = [String: [Int]]

@Suite(.serialized) struct FleetShipTests {
    static let captures = ["zeek__echo-connections", "ndpi__gnutella", "ndpi__instagram"]

    static func environment(_ server: ClickHouseTestServer) -> [String: String] {
        ["TCPEEK_CLICKHOUSE_USER": ClickHouseTestServer.user]
    }

    /// `tcpeek ship ARGS --clickhouse-password-file P URL` to completion.
    static func ship(_ server: ClickHouseTestServer, in folder: TemporaryFolder, _ arguments: [String],
                     passwordFile: String? = nil, timeout: Double = 120) async throws -> RunResult {
        let tcpeek = try StorePaths.requireTCPeek()
        return try await ReapedChild.run([tcpeek, "ship"] + arguments + ["--clickhouse-password-file", passwordFile ?? server.passwordFile, server.url],
                                         in: folder.path, environment: environment(server), timeout: timeout)
    }

    /// `tcpeek record -q -r CAPTURE --db DB` to completion.
    static func record(_ capture: String, db: String, in folder: TemporaryFolder, _ extra: [String] = [],
                       environment: [String: String] = [:]) async throws -> RunResult {
        try await ReapedChild.run([try StorePaths.requireTCPeek(), "record", "-q", "-r", StorePaths.capture(capture + ".pcap"),
                                   "--db", db] + extra, in: folder.path, environment: environment)
    }

    /// The local answer: `tcpeek query --since all --format json`, per filter.
    static func localTotals(_ db: String, in folder: TemporaryFolder) async throws -> FilterTotals {
        let answer = try await ReapedChild.run([try StorePaths.requireTCPeek(), "query", "--db", db, "--since", "all", "--format", "json"],
                                               in: folder.path)
        guard answer.status == 0 else { throw StoreTestError("\(answer)") }
        var totals: FilterTotals = [:]
        for row in try parseJSONArray(answer.stdout) {
            let success = row["success"] as? [String: Any] ?? [:]
            let failure = row["failure"] as? [String: Any] ?? [:]
            totals[row["filter"] as? String ?? "?"] = [success["total"], failure["timeout"], failure["reject"],
                                                       failure["unreach"], failure["abort"]].map { ($0 as? Int) ?? -1 }
        }
        return totals
    }

    /// ClickHouse's answer for one host from `sessions FINAL`.
    static func clickhouseTotals(_ server: ClickHouseTestServer, host: String, final: Bool = true) throws -> FilterTotals {
        try totals(server.execute("""
            SELECT filter, countIf(outcome = 'success'), countIf(outcome = 'timeout'), countIf(outcome = 'reject'),
                   countIf(outcome = 'unreach'), countIf(outcome = 'abort')
            FROM tcpeek.sessions \(final ? "FINAL" : "") ARRAY JOIN filters AS filter
            WHERE host = '\(host)' GROUP BY filter FORMAT TSV
            """))
    }

    /// The same from the materialized view's per-minute states.
    static func minuteTotals(_ server: ClickHouseTestServer, host: String) throws -> FilterTotals {
        try totals(server.execute("""
            SELECT filter, countIfMerge(success), countIfMerge(timeout), countIfMerge(reject), countIfMerge(unreach),
                   countIfMerge(abort)
            FROM tcpeek.sessions_minute WHERE host = '\(host)' GROUP BY filter FORMAT TSV
            """))
    }

    static func totals(_ tsv: String) -> FilterTotals {
        var totals: FilterTotals = [:]
        for line in tsv.split(separator: "\n") {
            let fields = line.split(separator: "\t").map(String.init)
            totals[fields[0]] = fields.dropFirst().map { Int($0) ?? -1 }
        }
        return totals
    }

    static func count(_ server: ClickHouseTestServer, _ sql: String) throws -> Int {
        Int(try server.execute(sql + " FORMAT TSV").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static func cursor(_ db: String) throws -> Int64 {
        try inspect(db) { try Int64.fetchOne($0, sql: "SELECT session_id FROM ship_cursors") ?? 0 }
    }

    @Test func threeHostsShipIntoOneServerAndEqualTheirLocalQueries() async throws {
        let server = try ClickHouseTestServer(label: "ch-three")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-three")
        defer { folder.remove() }
        let created = try await Self.ship(server, in: folder, ["--init"])
        #expect(created.status == 0, "\(created)")
        var expected: [String: FilterTotals] = [:]
        for (index, capture) in Self.captures.enumerated() {
            let db = folder.file("\(capture).db")
            let recorded = try await Self.record(capture, db: db, in: folder)
            #expect(recorded.status == 0, "\(recorded)")
            let shipped = try await Self.ship(server, in: folder, ["--once", "--db", db, "--host", "host\(index)"])
            #expect(shipped.status == 0, "\(shipped)")
            let sessions = try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") ?? 0 }
            #expect(shipped.stderr.contains("shipped \(sessions) sessions"), "\(shipped)")
            expected["host\(index)"] = try await Self.localTotals(db, in: folder)
        }
        for (host, local) in expected {
            #expect(!local.isEmpty)
            #expect(try Self.clickhouseTotals(server, host: host) == local, "\(host) in sessions FINAL")
            #expect(try Self.minuteTotals(server, host: host) == local, "\(host) in sessions_minute")
        }
        // The fleet's total is the sum of the three.
        let fleet = try Self.count(server, "SELECT count() FROM tcpeek.sessions FINAL")
        var sum = 0
        for capture in Self.captures {
            sum += try inspect(folder.file("\(capture).db")) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") ?? 0 }
        }
        #expect(fleet == sum)

        // Shipping again sends nothing, and the answers stay.
        let again = try await Self.ship(server, in: folder, ["--once", "--db", folder.file("\(Self.captures[0]).db"), "--host", "host0"])
        #expect(again.status == 0 && again.stderr.contains("shipped 0 sessions"), "\(again)")
        #expect(try Self.count(server, "SELECT count() FROM tcpeek.sessions") == sum)
    }

    /// A database recorded while no shipper ran is caught up; then the
    /// cursor is reset to 0 by hand and the shipper asks ClickHouse before
    /// sending: no answer changes, the materialized view's included.
    @Test func catchesUpAndAResetCursorResendsNothing() async throws {
        let server = try ClickHouseTestServer(label: "ch-catchup")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-catchup")
        defer { folder.remove() }
        #expect(try await Self.ship(server, in: folder, ["--init"]).status == 0)
        let db = folder.file("h.db")
        #expect(try await Self.record("ndpi__gnutella", db: db, in: folder).status == 0)
        #expect(try await Self.ship(server, in: folder, ["--once", "--db", db, "--host", "h"]).status == 0)
        // Recorded while no shipper ran.
        #expect(try await Self.record("zeek__echo-connections", db: db, in: folder).status == 0)
        let caughtUp = try await Self.ship(server, in: folder, ["--once", "--db", db, "--host", "h"])
        #expect(caughtUp.status == 0, "\(caughtUp)")
        let local = try await Self.localTotals(db, in: folder)
        #expect(try Self.clickhouseTotals(server, host: "h") == local)
        #expect(try Self.minuteTotals(server, host: "h") == local)
        let rows = try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") ?? 0 }
        #expect(try Self.cursor(db) == Int64(rows))

        try server.execute("SYSTEM STOP MERGES")
        let queue = try DatabaseQueue(path: db)
        try await queue.write { try $0.execute(sql: "UPDATE ship_cursors SET session_id = 0") }
        try queue.close()
        let replay = try await Self.ship(server, in: folder, ["--once", "--db", db, "--host", "h"])
        #expect(replay.status == 0, "\(replay)")
        #expect(replay.stderr.contains("shipped 0 sessions"), "\(replay)")
        #expect(replay.stderr.contains("already has sessions up to \(rows)"), "\(replay)")
        #expect(try Self.cursor(db) == Int64(rows))
        #expect(try Self.count(server, "SELECT count() FROM tcpeek.sessions") == rows)
        #expect(try Self.count(server, "SELECT count() FROM tcpeek.sessions FINAL") == rows)
        #expect(try Self.clickhouseTotals(server, host: "h", final: false) == local)
        #expect(try Self.minuteTotals(server, host: "h") == local)
    }

    /// `--clickhouse-retention-days` (18.16 has no TTL): the captures are
    /// years old, so a generous limit keeps them and a short one drops their
    /// days and months once they are shipped; the cursor stays, so nothing
    /// is sent again; a bad value is a usage error.
    @Test func retentionDropsTheDaysOlderThanTheLimit() async throws {
        let server = try ClickHouseTestServer(label: "ch-retain")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-retain")
        defer { folder.remove() }
        let db = folder.file("h.db")
        #expect(try await Self.record("ndpi__gnutella", db: db, in: folder).status == 0)
        let rows = try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") ?? 0 }
        let kept = try await Self.ship(server, in: folder, ["--init", "--once", "--db", db, "--host", "h",
                                                           "--clickhouse-retention-days", "100000"])
        #expect(kept.status == 0, "\(kept)")
        #expect(try Self.count(server, "SELECT count() FROM tcpeek.sessions") == rows, "\(kept)")
        let dropped = try await Self.ship(server, in: folder, ["--once", "--db", db, "--host", "h",
                                                              "--clickhouse-retention-days", "30"])
        #expect(dropped.status == 0, "\(dropped)")
        #expect(dropped.stderr.contains("shipped 0 sessions"), "\(dropped)")
        #expect(dropped.stderr.contains("older than 30 days (--clickhouse-retention-days)"), "\(dropped)")
        #expect(try Self.count(server, "SELECT count() FROM tcpeek.sessions") == 0)
        #expect(try Self.count(server, "SELECT count() FROM tcpeek.sessions_minute") == 0)
        #expect(try Self.cursor(db) == Int64(rows))
        let bad = try await Self.ship(server, in: folder, ["--once", "--db", db, "--clickhouse-retention-days", "0"])
        #expect(bad.status == 64 && bad.stderr.contains("--clickhouse-retention-days must be a positive number"), "\(bad)")
    }

    /// ClickHouse killed in the middle of a long ship, restarted seconds
    /// later: the long-running shipper backs off, catches up, and every
    /// session is there once: `count()` (no duplicate even before a merge),
    /// `count() FINAL` and the view's `countMerge` all equal SQLite's.
    @Test func clickhouseKilledMidShipLosesAndDoublesNothing() async throws {
        let server = try ClickHouseTestServer(label: "ch-kill")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-kill")
        defer { folder.remove() }
        #expect(try await Self.ship(server, in: folder, ["--init"]).status == 0)
        let db = folder.file("big.db")
        #expect(try await Self.record("zeek__echo-connections", db: db, in: folder).status == 0)
        // 500 sessions doubled 8 times: 128,000 rows, shipped 1,000 at a time.
        let queue = try DatabaseQueue(path: db)
        try await queue.write { db in
            let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('sessions') WHERE name <> 'id'")
                .joined(separator: ", ")
            for _ in 0..<8 { try db.execute(sql: "INSERT INTO sessions (\(columns)) SELECT \(columns) FROM sessions ORDER BY id") }
        }
        try queue.close()
        let rows = try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") ?? 0 }
        #expect(rows == 128_000)
        try server.execute("SYSTEM STOP MERGES")

        let tcpeek = try StorePaths.requireTCPeek()
        let shipper = try ReapedChild([tcpeek, "ship", "--db", db, "--host", "k", "--batch-size", "1000", "--interval", "0.2",
                                       "--clickhouse-password-file", server.passwordFile, server.url],
                                      in: folder.path, environment: Self.environment(server))
        let started = await shipper.wait(timeout: 60) { ((try? Self.cursor(db)) ?? 0) >= 5000 }
        #expect(started, "\(shipper.transcript)")
        server.kill()
        let killedAt = try Self.cursor(db)
        #expect(killedAt < Int64(rows), "the ship ended before ClickHouse was killed: make it longer")
        try await Task.sleep(for: .seconds(3))
        try server.restart()
        try server.execute("SYSTEM STOP MERGES")
        let done = await shipper.wait(timeout: 120) { ((try? Self.cursor(db)) ?? 0) >= Int64(rows) }
        #expect(done, "\(shipper.transcript)")
        shipper.signal(SIGTERM)
        #expect(await shipper.waitForExit(timeout: 30), "\(shipper.transcript)")
        #expect(shipper.exitStatus == 0, "\(shipper.transcript)")
        #expect(shipper.stderr.contains("unavailable"), "\(shipper.transcript)")
        #expect(shipper.stderr.contains("is back after"), "\(shipper.transcript)")

        #expect(try Self.count(server, "SELECT count() FROM tcpeek.sessions") == rows)
        #expect(try Self.count(server, "SELECT count() FROM tcpeek.sessions FINAL") == rows)
        // The view is written after the table, so a server killed between
        // the two leaves it short of the batch in flight (1,000 sessions),
        // which ClickHouse's sessions already hold and is never resent.
        let viewed = try Self.count(server, "SELECT countMerge(attempts) FROM tcpeek.sessions_minute WHERE filter = 'ALL'")
        #expect(viewed <= rows && viewed >= rows - 1_000, "the minute view counts \(viewed) of \(rows)")
        let perOutcome = try inspect(db) {
            try String.fetchAll($0, sql: "SELECT outcome || ' ' || count(*) FROM sessions GROUP BY outcome ORDER BY outcome")
        }
        let shippedOutcomes = try server.execute("SELECT concat(toString(outcome), ' ', toString(count())) FROM tcpeek.sessions GROUP BY outcome ORDER BY toString(outcome) FORMAT TSV")
            .split(separator: "\n").map(String.init)
        #expect(shippedOutcomes == perOutcome)
        #expect(try Self.cursor(db) == Int64(rows))
    }

    @Test func refusalsExitOneNamingTheFixAndURLCredentialsAreAUsageError() async throws {
        let server = try ClickHouseTestServer(label: "ch-refuse")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-refuse")
        defer { folder.remove() }
        let db = folder.file("h.db")
        #expect(try await Self.record("ndpi__instagram", db: db, in: folder).status == 0)

        // No tables yet.
        let missing = try await Self.ship(server, in: folder, ["--once", "--db", db])
        #expect(missing.status == 1, "\(missing)")
        #expect(missing.stderr.contains("run 'tcpeek ship --init'"), "\(missing)")
        #expect(missing.stderr.contains(server.url), "\(missing)")
        #expect(try Self.cursor(db) == 0)

        try "wrong\n".write(toFile: folder.file("wrong"), atomically: true, encoding: .utf8)
        let wrong = try await Self.ship(server, in: folder, ["--once", "--db", db], passwordFile: folder.file("wrong"))
        #expect(wrong.status == 1, "\(wrong)")
        #expect(wrong.stderr.contains("refused the credentials"), "\(wrong)")
        #expect(wrong.stderr.contains("--clickhouse-password-file"), "\(wrong)")
        #expect(!wrong.stderr.contains(server.password))

        let initWrong = try await Self.ship(server, in: folder, ["--init"], passwordFile: folder.file("wrong"))
        #expect(initWrong.status == 1 && initWrong.stderr.contains("refused the credentials"), "\(initWrong)")

        // No database there (a new user's default path), or a folder: named
        // as such, and no lock file is left beside it.
        let none = try await Self.ship(server, in: folder, ["--once", "--db", folder.file("none.db")])
        #expect(none.status == 1 && none.stderr.contains("no database at"), "\(none)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("none.db") }.isEmpty)
        let folderDB = try await Self.ship(server, in: folder, ["--once", "--db", folder.path])
        #expect(folderDB.status == 1 && folderDB.stderr.contains("is a folder, not a database file"), "\(folderDB)")

        let tcpeek = try StorePaths.requireTCPeek()
        let inURL = try await ReapedChild.run([tcpeek, "ship", "--once", "--db", db, "http://tcpeek:\(server.password)@127.0.0.1:\(server.httpPort)/"],
                                  in: folder.path)
        #expect(inURL.status == 64, "\(inURL)")
        #expect(inURL.stderr.contains("must not hold credentials"), "\(inURL)")
        #expect(!inURL.stderr.contains(server.password))

        // Two shippers of one database to one destination: the second is refused.
        let first = try ReapedChild([tcpeek, "ship", "--db", db, "--clickhouse-password-file", server.passwordFile, server.url],
                                    in: folder.path, environment: Self.environment(server))
        try await Task.sleep(for: .seconds(1))
        let second = try await Self.ship(server, in: folder, ["--once", "--db", db])
        first.signal(SIGTERM)
        _ = await first.waitForExit(timeout: 30)
        #expect(second.status == 1 && second.stderr.contains("already being shipped"), "\(second)")
        #expect(first.exitStatus == 0, "\(first.transcript)")
    }

    /// `tcpeek record --ship URL`: the shipper runs inside the recorder and,
    /// stopping after it, ships the last sessions too.
    @Test func recordShipsAsItRecords() async throws {
        let server = try ClickHouseTestServer(label: "ch-record")
        defer { server.stop() }
        let folder = try TemporaryFolder("record-ship")
        defer { folder.remove() }
        #expect(try await Self.ship(server, in: folder, ["--init"]).status == 0)
        let db = folder.file("h.db")
        let recorded = try await Self.record("ndpi__gnutella", db: db, in: folder,
                                             ["--host-label", "rec", "--ship", server.url, "--clickhouse-password-file", server.passwordFile],
                                             environment: Self.environment(server))
        #expect(recorded.status == 0, "\(recorded)")
        let local = try await Self.localTotals(db, in: folder)
        #expect(try Self.clickhouseTotals(server, host: "rec") == local)
        let rows = try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") ?? 0 }
        #expect(try Self.cursor(db) == Int64(rows))
    }

    /// One INSERT holds one UTC day (ClickHouse writes a one-partition
    /// block atomically): a batch stops before the first session of
    /// another day, and the next starts there.
    @Test func aBatchNeverCrossesADay() throws {
        let folder = try TemporaryFolder("ship-days")
        defer { folder.remove() }
        let path = folder.file("days.db")
        try HistoryDatabase.openForRecording(path: path).close()
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO runs (id, started_at, source_kind, source, filters, version) VALUES
                    (1, 1, 'file', 'x', '[{"name":"ALL","expression":"ALL:ANY@*:*"},{"name":"we\\\\b''x","expression":"x"}]', 't');
                INSERT INTO run_filters (run_id, bit, filter) VALUES (1, 0, 'ALL'), (1, 1, 'we\\b''x');
                INSERT INTO sessions (id, run_id, started_at, duration, family, client_addr, client_port, server_addr,
                                      server_port, outcome, filter_bits, vlan, cause) VALUES
                    (1, 1, 86399.5, 0.25, 4, '192.0.2.1', 1, '192.0.2.2', 80, 'success', 3, '10.20', NULL),
                    (2, 1, 86399.9, 0.000001, 4, '192.0.2.1', 2, '192.0.2.2', 80, 'success', 1, NULL, 'a	b'),
                    (3, 1, 86400.0, 3, 6, '2001:db8::1', 3, '2001:db8::2', 443, 'timeout', 0, NULL, NULL),
                    (4, 1, 86399.0, 75, 4, '192.0.2.1', 4, '192.0.2.2', 80, 'timeout', 1, NULL, NULL);
                """)
        }
        try queue.close()
        let database = try HistoryDatabase.openForShipping(path: path)
        defer { database.close() }
        let reader = SessionBatchReader(database: database, host: "h\tx", databaseID: "d")
        let first = try #require(try reader.batch(after: 0, limit: 100))
        #expect((first.firstID, first.lastID, first.count, first.day) == (1, 2, 2, 0))
        // RowBinary, column by column (contrib/clickhouse/002_sessions.sql).
        func row(id: UInt64, startedAt: Double, duration: Double, port: UInt16, vlan: String?, filters: [String],
                 cause: String?) -> [UInt8] {
            var row = ExpectedRowBinary()
            row.string("h\tx"); row.string("d"); row.uint64(1); row.uint64(id); row.uint32(86399)
            row.float64(startedAt); row.float64(duration); row.bytes([4])
            row.string("192.0.2.1"); row.uint16(port); row.string("192.0.2.2"); row.uint16(80)
            row.nullableString(vlan); row.bytes([1])  // direction NULL
            row.bytes([1])  // outcome: Enum8 'success' = 1
            row.uint32(0); row.uint32(0); row.bytes([1, 1, 0])  // dup_syn, dup_synack, icmp NULL, NULL, evicted
            row.bytes([UInt8(filters.count)]); for filter in filters { row.string(filter) }
            row.nullableString(cause)
            row.bytes([1, 1, 1, 1, 1, 1, 1, 1, 1, 1])  // syn_ttl ... synack_to_ack all NULL
            row.float64(0); row.uint32(0); row.bytes([1, 0])  // syn_retry_time, ignored_rst, ignored_rst_ttl, capture_dropped
            return row.bytes
        }
        #expect(Array(buffer: first.rows) == row(id: 1, startedAt: 86399.5, duration: 0.25, port: 1, vlan: "10.20",
                                                 filters: ["ALL", "we\\b'x"], cause: nil)
                + row(id: 2, startedAt: 86399.9, duration: 0.000001, port: 2, vlan: nil, filters: ["ALL"], cause: "a\tb"))
        let second = try #require(try reader.batch(after: first.lastID, limit: 100))
        #expect((second.firstID, second.lastID, second.count, second.day) == (3, 3, 1, 1))
        let third = try #require(try reader.batch(after: second.lastID, limit: 100))
        #expect((third.firstID, third.lastID, third.count, third.day) == (4, 4, 1, 0))
        #expect(try reader.batch(after: third.lastID, limit: 100)?.count == nil)
        // The limit holds within a day.
        #expect(try reader.batch(after: 0, limit: 1)?.lastID == 1)
    }
}

/// RowBinary written by hand, to hold the shipper's encoder to the format.
struct ExpectedRowBinary {
    var bytes: [UInt8] = []
    mutating func bytes(_ values: [UInt8]) { bytes += values }
    mutating func uint16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func uint32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func uint64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func float64(_ value: Double) { uint64(value.bitPattern) }
    mutating func string(_ text: String) { bytes.append(UInt8(text.utf8.count)); bytes += Array(text.utf8) }
    mutating func nullableString(_ text: String?) {
        if let text { bytes.append(0); string(text) } else { bytes.append(1) }
    }
}
