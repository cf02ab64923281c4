// `tcpeek ship` sends the minute rollups after the sessions, into
// ClickHouse's `rollups_minute`, against a real ClickHouse 18.16: the rows
// equal the local ones (FINAL, one row per host, database, filter and
// minute), minutes older than every session still in the database go too, a
// minute that changes after it was shipped is shipped again, and a cursor
// deleted by hand changes no answer.
import Foundation
import GRDB
import NIOCore
import Testing
@testable import TCPeekFleet
@testable import TCPeekStore

@Suite(.serialized) struct FleetRollupTests {
    static let figures = "success, success_dup_syn, success_dup_synack, failure, timeout, reject, unreach, abort, dup_syn, dup_synack"

    /// Every local `rollups_minute` row as `minute filter figures... handshake_sum`.
    static func localRows(_ db: String) throws -> [String] {
        try inspect(db) { db in
            try Row.fetchAll(db, sql: "SELECT minute, filter, \(figures), handshake_sum FROM rollups_minute ORDER BY minute, filter")
                .map { row in line([String(row[0] as Int64), row[1] as String] + (2..<12).map { String(row[$0] as Int64) }, handshake: row[12]) }
        }
    }

    /// The same rows from ClickHouse's `rollups_minute FINAL` for one host.
    static func shippedRows(_ server: ClickHouseTestServer, host: String, final: Bool = true) throws -> [String] {
        let answer = try server.execute("""
            SELECT toUInt32(minute), filter, \(figures), handshake_sum
            FROM tcpeek.rollups_minute \(final ? "FINAL" : "") WHERE host = '\(host)' ORDER BY minute, filter FORMAT TSV
            """)
        return TabSeparated.rows(ByteBuffer(string: answer)).map { fields in
            Self.line(Array(fields.prefix(12)), handshake: Double(fields.last ?? "") ?? -1)
        }
    }

    static func line(_ fields: [String], handshake: Double) -> String {
        (fields + [String(format: "%.6f", handshake)]).joined(separator: " ")
    }

    /// Per filter, the sums of the figures: what the brief's operator asks.
    static func localTotals(_ db: String) throws -> [String] {
        try inspect(db) { db in
            try String.fetchAll(db, sql: """
                SELECT filter || ' ' || sum(success) || ' ' || sum(timeout) || ' ' || sum(reject) || ' ' || sum(unreach)
                       || ' ' || sum(abort) || ' ' || sum(dup_syn) FROM rollups_minute GROUP BY filter ORDER BY filter
                """)
        }
    }

    static func shippedTotals(_ server: ClickHouseTestServer, host: String) throws -> [String] {
        TabSeparated.rows(ByteBuffer(string: try server.execute("""
            SELECT concat(filter, ' ', toString(sum(success)), ' ', toString(sum(timeout)), ' ', toString(sum(reject)), ' ',
                          toString(sum(unreach)), ' ', toString(sum(abort)), ' ', toString(sum(dup_syn)))
            FROM tcpeek.rollups_minute FINAL WHERE host = '\(host)' GROUP BY filter ORDER BY filter FORMAT TSV
            """))).map { $0.joined() }
    }

    static func rollupCursor(_ db: String) throws -> [Int64] {
        try inspect(db) { db in
            try Row.fetchOne(db, sql: "SELECT rollup_minute, rollup_session_id FROM ship_cursors").map { [$0[0], $0[1]] } ?? []
        }
    }

    /// Five captures into one database, with two filters beside `ALL`: 25
    /// rollup rows, 11 minutes from minute 60 (a clock that started at 0)
    /// to 2021, some in 2010 and 2015 with a session or five.
    static func recordMix(db: String, in folder: TemporaryFolder) async throws {
        for capture in ["ndpi__gnutella", "ndpi__rtsp", "ndpi__instagram", "ndpi__synscan", "zeek__echo-connections"] {
            let recorded = try await FleetShipTests.record(capture, db: db, in: folder, ["web:ANY@*:80:443:554", "all2:ANY@*:*"])
            #expect(recorded.status == 0, "\(recorded)")
        }
    }

    static func ship(_ server: ClickHouseTestServer, _ folder: TemporaryFolder, db: String, host: String = "h",
                     _ extra: [String] = []) async throws -> RunResult {
        let shipped = try await FleetShipTests.ship(server, in: folder, extra + ["--once", "--db", db, "--host", host])
        #expect(shipped.status == 0, "\(shipped)")
        return shipped
    }

    /// A capture's rollups, every minute of every filter, arrive as they
    /// are; the per-filter sums equal the local ones; the cursor is at the
    /// last minute and the last session.
    @Test func shippedRollupsEqualTheLocalOnes() async throws {
        let server = try ClickHouseTestServer(label: "ch-rollups")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-rollups")
        defer { folder.remove() }
        let db = folder.file("h.db")
        try await Self.recordMix(db: db, in: folder)
        let local = try Self.localRows(db)
        #expect(local.count == 25, "\(local)")
        let shipped = try await Self.ship(server, folder, db: db, ["--init"])
        #expect(shipped.stderr.contains("and \(local.count) minute rollup rows"), "\(shipped)")
        #expect(try Self.shippedRows(server, host: "h") == local)
        #expect(try Self.shippedTotals(server, host: "h") == Self.localTotals(db))
        let last = try inspect(db) { db in
            [try Int64.fetchOne(db, sql: "SELECT max(minute) FROM rollups_minute") ?? 0,
             try Int64.fetchOne(db, sql: "SELECT max(id) FROM sessions") ?? 0]
        }
        #expect(try Self.rollupCursor(db) == last)

        // Nothing changed: nothing is sent again.
        let again = try await Self.ship(server, folder, db: db)
        #expect(again.stderr.contains("and 0 minute rollup rows"), "\(again)")
        #expect(try FleetShipTests.count(server, "SELECT count() FROM tcpeek.rollups_minute") == local.count)
    }

    /// With `--batch-size 4` the rows go four at a time, each INSERT made
    /// of whole minutes (a minute's three filters together, the fourth row
    /// notwithstanding), and arrive all the same; `record --ship` ships them
    /// too, from inside the recorder.
    @Test func smallBatchesOfWholeMinutesAndRecordShip() async throws {
        let server = try ClickHouseTestServer(label: "ch-rollups-small")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-rollups-small")
        defer { folder.remove() }
        #expect(try await FleetShipTests.ship(server, in: folder, ["--init"]).status == 0)
        let db = folder.file("h.db")
        for capture in ["ndpi__gnutella", "ndpi__rtsp", "ndpi__instagram"] {
            let recorded = try await FleetShipTests.record(capture, db: db, in: folder, ["web:ANY@*:80:443:554", "all2:ANY@*:*"])
            #expect(recorded.status == 0, "\(recorded)")
        }
        let local = try Self.localRows(db)
        #expect(local.count == 20, "\(local)")
        try server.execute("SYSTEM STOP MERGES")
        let shipped = try await Self.ship(server, folder, db: db, ["--batch-size", "4"])
        #expect(shipped.stderr.contains("and 20 minute rollup rows"), "\(shipped)")
        #expect(try Self.shippedRows(server, host: "h") == local)
        // INSERTs (merges stopped: a part per INSERT and month): minutes 60
        // and 120 (4 rows); 2015's three filters, then 2019's three, though
        // the fourth row is 2019's first (6 rows, 2 months); the five minutes
        // of 2021, two filters each (4, 4, 2 rows).
        let parts = try server.execute("""
            SELECT count() FROM system.parts WHERE database = 'tcpeek' AND table = 'rollups_minute' AND active FORMAT TSV
            """).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(parts == "6", "\(parts)")

        let live = folder.file("live.db")
        let recorded = try await FleetShipTests.record("ndpi__gnutella", db: live, in: folder,
                                                       ["--host-label", "rec", "--ship", server.url,
                                                        "--clickhouse-password-file", server.passwordFile],
                                                       environment: FleetShipTests.environment(server))
        #expect(recorded.status == 0, "\(recorded)")
        #expect(try Self.shippedRows(server, host: "rec") == Self.localRows(live))
    }

    /// A host keeps its rollups longer than its sessions: minutes whose
    /// sessions are gone (deleted here, as retention would) are shipped too,
    /// from minute 0 on (the capture's clock starts at 0, which ClickHouse
    /// must not misread), with filter names holding a tab and a backslash.
    @Test func rollupsOlderThanEverySessionAreShippedToo() async throws {
        let server = try ClickHouseTestServer(label: "ch-rollups-old")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-rollups-old")
        defer { folder.remove() }
        let db = folder.file("h.db")
        try await Self.recordMix(db: db, in: folder)
        let queue = try DatabaseQueue(path: db)
        try await queue.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE started_at < 1300000000")
            try db.execute(sql: """
                INSERT INTO rollups_minute (minute, filter, success, timeout, failure, handshake_sum)
                VALUES (0, 'tab\there', 3, 1, 1, 0.25), (120, 'back\\slash', 2, 0, 0, 1.5e-05)
                """)
        }
        try queue.close()
        let firstSession = try inspect(db) { try Double.fetchOne($0, sql: "SELECT min(started_at) FROM sessions") ?? 0 }
        #expect(firstSession >= 1_300_000_000)
        let sessionless = try inspect(db) {
            try Int.fetchOne($0, sql: """
                SELECT count(*) FROM rollups_minute WHERE minute < 1300000000 AND filter NOT IN ('tab\there', 'back\\slash')
                """) ?? 0
        }
        #expect(sessionless > 0)
        let local = try Self.localRows(db)
        _ = try await Self.ship(server, folder, db: db, ["--init"])
        let shipped = try Self.shippedRows(server, host: "h")
        #expect(shipped == local)
        #expect(shipped.contains("0 tab\there 3 0 0 1 1 0 0 0 0 0 0.250000"), "\(shipped)")
        #expect(try Self.shippedTotals(server, host: "h") == Self.localTotals(db))
    }

    /// A minute's row changes after it was shipped (the same captures
    /// recorded again into the same database, and a row changed by hand in
    /// a minute below the cursor along with a new session started in it):
    /// the next ship sends it again, and FINAL reads the new figures, one
    /// row per (host, database, filter, minute).
    @Test func aMinuteThatChangesAfterItsShipIsShippedAgain() async throws {
        let server = try ClickHouseTestServer(label: "ch-rollups-change")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-rollups-change")
        defer { folder.remove() }
        let db = folder.file("h.db")
        try await Self.recordMix(db: db, in: folder)
        _ = try await Self.ship(server, folder, db: db, ["--init"])
        let before = try Self.localRows(db)
        #expect(try Self.shippedRows(server, host: "h") == before)
        try server.execute("SYSTEM STOP MERGES")

        // The same minutes again: every row changes, none is new.
        try await Self.recordMix(db: db, in: folder)
        let after = try Self.localRows(db)
        #expect(after.count == before.count && after != before)
        let shipped = try await Self.ship(server, folder, db: db)
        #expect(shipped.stderr.contains("and \(after.count) minute rollup rows"), "\(shipped)")
        #expect(try Self.shippedRows(server, host: "h") == after)
        #expect(try Self.shippedTotals(server, host: "h") == Self.localTotals(db))
        #expect(try FleetShipTests.count(server, "SELECT count() FROM tcpeek.rollups_minute") == 2 * after.count)
        #expect(try FleetShipTests.count(server, "SELECT count() FROM tcpeek.rollups_minute FINAL") == after.count)
        #expect(try FleetShipTests.count(server, """
            SELECT count() FROM (SELECT host, database_id, filter, minute FROM tcpeek.rollups_minute FINAL
                                 GROUP BY host, database_id, filter, minute HAVING count() > 1)
            """) == 0)

        // One session committed late into the first minute (below the
        // cursor), as a file read out of order would: only that minute's
        // rows go again.
        let queue = try DatabaseQueue(path: db)
        try await queue.write { db in
            let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('sessions') WHERE name <> 'id'")
                .joined(separator: ", ")
            try db.execute(sql: """
                INSERT INTO sessions (\(columns)) SELECT \(columns) FROM sessions
                WHERE id = (SELECT id FROM sessions ORDER BY started_at LIMIT 1)
                """)
            try db.execute(sql: """
                UPDATE rollups_minute SET timeout = timeout + 1, failure = failure + 1
                WHERE minute = (SELECT CAST(min(started_at) / 60 AS INTEGER) * 60 FROM sessions)
                """)
        }
        try queue.close()
        let minute = try inspect(db) { try Int64.fetchOne($0, sql: "SELECT CAST(min(started_at) / 60 AS INTEGER) * 60 FROM sessions") ?? -1 }
        let late = try Self.localRows(db)
        #expect(late != after)
        let firstMinute = late.filter { $0.hasPrefix("\(minute) ") }.count
        #expect(firstMinute > 0)
        let lateShip = try await Self.ship(server, folder, db: db)
        #expect(lateShip.stderr.contains("shipped 1 sessions"), "\(lateShip)")
        #expect(lateShip.stderr.contains("and \(firstMinute) minute rollup rows"), "\(lateShip)")
        #expect(try Self.shippedRows(server, host: "h") == late)
    }

    /// The sessions acknowledged, their rollups refused (a ClickHouse whose
    /// tables predate them: `rollups_minute` missing): `ship --once` exits 1
    /// naming `--init`, the session cursor has moved, and once the table is
    /// there the next ship sends the minutes those sessions changed, though
    /// it ships no session: what changed is read from the database, not
    /// remembered by the pass that failed.
    @Test func rollupsRefusedAfterTheirSessionsGoWithTheNextShip() async throws {
        let server = try ClickHouseTestServer(label: "ch-rollups-refused")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-rollups-refused")
        defer { folder.remove() }
        let db = folder.file("h.db")
        try await Self.recordMix(db: db, in: folder)
        _ = try await Self.ship(server, folder, db: db, ["--init"])
        try await Self.recordMix(db: db, in: folder)
        try server.execute("DROP TABLE tcpeek.rollups_minute")
        let refused = try await FleetShipTests.ship(server, in: folder, ["--once", "--db", db, "--host", "h"])
        #expect(refused.status == 1 && refused.stderr.contains("tcpeek ship --init"), "\(refused)")
        let sessions = try inspect(db) { try Int64.fetchOne($0, sql: "SELECT max(id) FROM sessions") ?? 0 }
        #expect(try FleetShipTests.cursor(db) == sessions)
        let local = try Self.localRows(db)
        let shipped = try await Self.ship(server, folder, db: db, ["--init"])
        #expect(shipped.stderr.contains("shipped 0 sessions") && shipped.stderr.contains("and \(local.count) minute rollup rows"),
                "\(shipped)")
        #expect(try Self.shippedRows(server, host: "h") == local)
        let lastMinute = try inspect(db) { try Int64.fetchOne($0, sql: "SELECT max(minute) FROM rollups_minute") ?? 0 }
        #expect(try Self.rollupCursor(db) == [lastMinute, sessions])
    }

    /// `ship_cursors` deleted by hand: everything is sent again, and no
    /// FINAL answer changes (the sessions' nor the rollups').
    @Test func aDeletedCursorChangesNoFinalAnswer() async throws {
        let server = try ClickHouseTestServer(label: "ch-rollups-reset")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-rollups-reset")
        defer { folder.remove() }
        let db = folder.file("h.db")
        try await Self.recordMix(db: db, in: folder)
        _ = try await Self.ship(server, folder, db: db, ["--init"])
        let local = try Self.localRows(db)
        let totals = try Self.localTotals(db)
        let cursor = try Self.rollupCursor(db)
        #expect(try Self.shippedRows(server, host: "h") == local)
        try server.execute("SYSTEM STOP MERGES")

        let queue = try DatabaseQueue(path: db)
        try await queue.write { try $0.execute(sql: "DELETE FROM ship_cursors") }
        try queue.close()
        let again = try await Self.ship(server, folder, db: db)
        #expect(again.stderr.contains("shipped 0 sessions"), "\(again)")
        #expect(again.stderr.contains("and \(local.count) minute rollup rows"), "\(again)")
        #expect(try FleetShipTests.count(server, "SELECT count() FROM tcpeek.rollups_minute") == 2 * local.count)
        #expect(try Self.shippedRows(server, host: "h") == local)
        #expect(try Self.shippedTotals(server, host: "h") == totals)
        #expect(try Self.rollupCursor(db) == cursor)
    }

    @Test func minutesAreWrittenAsUTCTextAndFieldsEscaped() {
        #expect(RollupShipper.dateTime(0) == "1970-01-01 00:00:00")
        #expect(RollupShipper.dateTime(1_796_644_800) == "2026-12-07 12:00:00")
        #expect(RollupShipper.dateTime(951_782_400) == "2000-02-29 00:00:00")
        #expect(RollupShipper.dateTime(-60) == "1970-01-01 00:00:00")
        #expect(RollupShipper.field("a\tb\\c\nd\r\n") == "a\\tb\\\\c\\nd\\r\\n")
        #expect(RollupShipper.field("ALL") == "ALL")
    }
}
