// Retention (issue 13): it counts back from the wall clock, applies to live
// recording, never prunes on a file read unless asked, says what it removed,
// and never changes what a reader in the middle of a query sees.
import Foundation
import TCPeekWire
import GRDB
import Logging
import Testing
import TCPeekCore
@testable import TCPeekStore

@Suite("Retention", .serialized)
struct RetentionTests {
    static let day: UInt64 = 86400
    static var now: UInt64 { UInt64(Date().timeIntervalSince1970) }

    /// A generated capture of `attempts` attempts starting at `start` (Unix seconds).
    static func capture(_ name: String, start: UInt64, attempts: Int = 100, in folder: TemporaryFolder) async throws -> String {
        let path = folder.file(name)
        _ = try await synthesize(path, in: folder.path, ["--mode", "mix", "--attempts", "\(attempts)", "--duration", "5",
                                                         "--start", "\(start)", "--seed", "\(start % 1000)"])
        return path
    }

    static func sessions(_ db: String, from: UInt64, to: UInt64) throws -> Int {
        try inspect(db) { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions WHERE started_at >= ? AND started_at < ?",
                             arguments: [from, to]) ?? -1
        }
    }

    /// Reading files, whatever their dates and order, removes nothing: a
    /// 2024 capture read after a 1970 one, or one dated next year, once
    /// made the earlier history look old.
    @Test func fileReadsNeverPrune() async throws {
        let folder = try TemporaryFolder("retention-files")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let yesterday = try await Self.capture("yesterday.pcap", start: Self.now - Self.day, in: folder)
        let year2024 = try await Self.capture("2024.pcap", start: 1_704_067_200, in: folder)
        let nextYear = try await Self.capture("next-year.pcap", start: Self.now + 400 * Self.day, in: folder)
        var total = 0
        for capture in [yesterday, StorePaths.capture("ndpi__gnutella.pcap"), year2024, nextYear] {
            let result = try await record(capture, db: db, in: folder.path)
            try #require(result.status == 0, "\(result)")
            total += try #require(parseSummary(result.stdout)["ALL"]).total
            #expect(!result.stderr.contains("pruned"), "\(result)")
        }
        #expect(try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") } == total)
        #expect(try Self.sessions(db, from: 0, to: 1000) > 0, "the 1970 capture is kept")
        #expect(try Self.sessions(db, from: Self.now - 2 * Self.day, to: Self.now) == 100, "yesterday is kept")
    }

    /// `--retention-days` given to a file read prunes, counted back from
    /// now, and says what it removed; 0 keeps everything.
    @Test func explicitRetentionCountsBackFromNowAndSaysWhatItRemoved() async throws {
        let folder = try TemporaryFolder("retention-explicit")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let old = Self.now - 40 * Self.day
        let oldCapture = try await Self.capture("old.pcap", start: old, in: folder)
        let recent = try await Self.capture("recent.pcap", start: Self.now - Self.day, in: folder)
        for capture in [oldCapture, recent] {
            let result = try await record(capture, db: db, in: folder.path)
            try #require(result.status == 0, "\(result)")
        }
        let forever = try await record(recent, db: db, in: folder.path, ["--retention-days", "0", "--rollup-retention-days", "0"])
        try #require(forever.status == 0, "\(forever)")
        #expect(try Self.sessions(db, from: old - 10, to: old + 10) == 100, "--retention-days 0 keeps everything")

        let pruning = try await record(recent, db: db, in: folder.path, ["--retention-days", "30", "--rollup-retention-days", "0"])
        try #require(pruning.status == 0, "\(pruning)")
        #expect(try Self.sessions(db, from: old - 10, to: old + 10) == 0, "sessions over 30 days old are pruned")
        #expect(try Self.sessions(db, from: Self.now - 2 * Self.day, to: Self.now) == 300, "recent ones are kept")
        let line = try #require(pruning.stderr.split(separator: "\n").first { $0.contains("pruned 100 sessions") },
                                "the prune is logged: \(pruning.stderr)")
        #expect(line.contains("started \(WireTime.text(Double(old)))"), "with its time range: \(line)")
        #expect(line.contains("older than 30 days"))
        try inspect(db) { (db) throws in
            #expect(try Int.fetchOne(db, sql: "SELECT sum(success + failure) FROM rollups_minute WHERE minute < ?",
                                     arguments: [old + 60]) == 100, "--rollup-retention-days 0 keeps the rollups")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM session_filters WHERE session_id NOT IN (SELECT id FROM sessions)") == 0)
        }
    }

    /// A live recorder (the default retention) counts back from the wall
    /// clock: sessions dated in the future do not make today's look old.
    @Test func liveRetentionCountsBackFromTheWallClock() async throws {
        let folder = try TemporaryFolder("retention-live")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let old = Self.now - 40 * Self.day
        for (name, start) in [("old.pcap", old), ("recent.pcap", Self.now - Self.day), ("future.pcap", Self.now + 400 * Self.day)] {
            let result = try await record(try await Self.capture(name, start: start, in: folder), db: db, in: folder.path)
            try #require(result.status == 0, "\(result)")
        }
        _ = try recordInProcess(into: db, feed: { _ in })  // RecorderOptions(): 30 days
        #expect(try Self.sessions(db, from: old - 10, to: old + 10) == 0)
        #expect(try Self.sessions(db, from: Self.now - 2 * Self.day, to: Self.now) == 100)
        #expect(try Self.sessions(db, from: Self.now + 399 * Self.day, to: Self.now + 401 * Self.day) == 100)
    }

    /// A query reads one snapshot: a prune that commits in the middle of it
    /// changes nothing it sees.
    @Test func aReaderKeepsItsSnapshotWhileARecorderPrunes() async throws {
        let folder = try TemporaryFolder("retention-snapshot")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let old = Self.now - 40 * Self.day
        let result = try await record(try await Self.capture("old.pcap", start: old, in: folder), db: db, in: folder.path)
        try #require(result.status == 0, "\(result)")
        let reader = try HistoryDatabase.openForReading(path: db)
        defer { reader.close() }
        let (before, during) = try reader.read { (db) throws -> (Int, Int) in
            let before = try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") ?? -1
            _ = try recordInProcess(into: folder.file("history.db"), feed: { _ in })
            let during = try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") ?? -1
            return (before, during)
        }
        #expect(before == 100)
        #expect(during == before, "the prune committed under the reader, which still sees its snapshot")
        // Every old session but the newest (retention keeps the highest id: issue 16).
        #expect(try reader.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") } == 1,
                "the next read sees the prune")
    }

    /// Without --db a file read records nothing, and says how to keep it;
    /// above all it never writes the host's live database.
    @Test func aFileReadWithoutDBRecordsNothing() async throws {
        let folder = try TemporaryFolder("retention-nodb")
        defer { folder.remove() }
        let tcpeek = try StorePaths.requireTCPeek()
        let live = HistoryDatabase.defaultPath
        let before = try? FileManager.default.attributesOfItem(atPath: live)
        let result = try await run([tcpeek, "record", "-q", "-r", StorePaths.capture("ndpi__gnutella.pcap")],
                                   in: folder.path, environment: ["XDG_DATA_HOME": folder.path])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.components(separatedBy: "add --db FILE to keep its history").count == 2,
                "said once: \(result.stderr)")
        #expect(result.stderr.contains("TCPEEK SUMMARY"))
        let after = try? FileManager.default.attributesOfItem(atPath: live)
        #expect(before?[.modificationDate] as? Date == after?[.modificationDate] as? Date, "\(live) untouched")
        #expect(before?[.size] as? Int == after?[.size] as? Int)
        #expect(!FileManager.default.fileExists(atPath: folder.file("tcpeek/tcpeek.db")))
    }
}

/// Retention and the shippers (issue 16): sessions not yet shipped (above
/// the lowest ship cursor) outlive `--retention-days` up to
/// `--ship-keep-max` of them, and the session with the highest id is never
/// deleted (SQLite would give its id again, and a shipper would skip it).
@Suite("Retention and shipping", .serialized)
struct ShipRetentionTests {
    /// Ids 1...old are 40 days old, the rest recent; `cursors` are ship_cursors rows.
    static func database(in folder: TemporaryFolder, old: Int, recent: Int, cursors: [String: Int64]) throws -> HistoryDatabase {
        let database = try HistoryDatabase.openForRecording(path: folder.file("history.db"))
        let now = Date().timeIntervalSince1970
        try database.write { db in
            try db.execute(sql: "INSERT INTO runs (id, started_at, source_kind, source, filters, version) VALUES (1, 0, 'file', 'x', '[]', 't')")
            for id in 1...(old + recent) {
                let started = id <= old ? now - 40 * 86400 + Double(id) : now - 60 + Double(id)
                try db.execute(sql: """
                    INSERT INTO sessions (id, run_id, started_at, duration, family, client_addr, client_port, server_addr, server_port, outcome)
                    VALUES (?, 1, ?, 0.5, 4, '192.0.2.1', 1, '192.0.2.2', 80, 'success')
                    """, arguments: [id, started])
            }
            for (destination, cursor) in cursors {
                try db.execute(sql: "INSERT INTO ship_cursors (destination, session_id) VALUES (?, ?)", arguments: [destination, cursor])
            }
        }
        return database
    }

    static func ids(_ database: HistoryDatabase) throws -> [Int64] {
        try database.read { try Int64.fetchAll($0, sql: "SELECT id FROM sessions ORDER BY id") }
    }

    static func prune(_ database: HistoryDatabase, keepMax: Int = 10_000_000) {
        var pruner = HistoryPruner(database: database, retentionDays: 30, rollupRetentionDays: nil, shipKeepMax: keepMax,
                                   logger: Logger(label: "test"))
        for _ in 0..<5 { pruner.pruneIfDue() }
    }

    @Test func theNewestSessionIsNeverDeleted() throws {
        let folder = try TemporaryFolder("retention-newest")
        defer { folder.remove() }
        let database = try Self.database(in: folder, old: 10, recent: 0, cursors: [:])
        defer { database.close() }
        Self.prune(database)
        #expect(try Self.ids(database) == [10])
    }

    @Test func unshippedSessionsAreKeptUpToTheCap() throws {
        let folder = try TemporaryFolder("retention-unshipped")
        defer { folder.remove() }
        // Two destinations: the lowest cursor (4) decides.
        let database = try Self.database(in: folder, old: 10, recent: 10, cursors: ["http://a:8123/tcpeek": 7, "http://b:8123/tcpeek": 4])
        defer { database.close() }
        Self.prune(database)
        #expect(try Self.ids(database) == Array(5...20))
        // 16 wait above the cursor; with a cap of 12 the 4 oldest go anyway.
        Self.prune(database, keepMax: 12)
        #expect(try Self.ids(database) == Array(9...20))
        // Once shipped, the old ones go.
        try database.write { try $0.execute(sql: "UPDATE ship_cursors SET session_id = 20") }
        Self.prune(database)
        #expect(try Self.ids(database) == Array(11...20))
    }
}
