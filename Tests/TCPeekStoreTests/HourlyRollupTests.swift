// The hourly rollups of schema 5: the JSON form of an hour's handshake-time
// histogram, what happens to a row edited by hand, and the answer for a
// database of an older schema.
import Foundation
import GRDB
import Testing
@testable import TCPeekStore

@Suite("Hourly rollups")
struct HourlyRollupTests {
    static func histogram(_ counts: [Int: Int64]) -> HandshakeHistogram {
        var histogram = HandshakeHistogram()
        for (bucket, count) in counts { histogram.add(bucket: bucket, count: count) }
        return histogram
    }

    @Test func theBucketsJSONRoundTripsAndReadsWhatSQLiteWrites() throws {
        let histogram = Self.histogram([0: 2, 212: 3, 905: 1_000_000_000_000])
        #expect(histogram.bucketsJSON == #"{"0":2,"212":3,"905":1000000000000}"#)
        var back = HandshakeHistogram()
        let readBack = back.add(bucketsJSON: histogram.bucketsJSON)
        #expect(readBack)
        #expect(back == histogram)
        #expect(HandshakeHistogram().bucketsJSON == "{}")

        // SQLite's own rendering of the same buckets, and of the empty object.
        let queue = try DatabaseQueue()
        let made = try queue.read { db in
            try String.fetchOne(db, sql: """
                SELECT json_group_object(bucket, count) FROM (SELECT 905 AS bucket, 1000000000000 AS count
                    UNION ALL SELECT 0, 2 UNION ALL SELECT 212, 3)
                """)
        }
        var fromSQLite = HandshakeHistogram()
        let readSQLite = fromSQLite.add(bucketsJSON: try #require(made))
        #expect(readSQLite)
        #expect(fromSQLite == histogram)
        var spaced = HandshakeHistogram()
        let readSpaced = spaced.add(bucketsJSON: " { \"212\" : 3 ,\n\"0\":2, \"905\": 1000000000000 } ")
        #expect(readSpaced)
        #expect(spaced == histogram)
        var empty = HandshakeHistogram()
        let readEmpty = empty.add(bucketsJSON: "{}")
        #expect(readEmpty && empty == HandshakeHistogram())
        // Adding is adding: a second object sums into the first.
        let readMore = back.add(bucketsJSON: #"{"212":1}"#)
        #expect(readMore)
        #expect(back == Self.histogram([0: 2, 212: 4, 905: 1_000_000_000_000]))
    }

    @Test(arguments: [
        "", "{", "}", "[]", "null", #"{"1":2"#, #"{"1":2,}"#, #"{1:2}"#, #"{"a":2}"#, #"{"1":-2}"#, #"{"1":2.5}"#,
        #"{"1":"2"}"#, #"{"1":2} x"#, #"{"-1":2}"#, #"{"100001":1}"#, #"{"1":99999999999999999999}"#,
    ])
    func malformedBucketsAreRefusedAndLeaveTheHistogramAlone(_ text: String) {
        var histogram = Self.histogram([7: 1])
        let accepted = histogram.add(bucketsJSON: text)
        #expect(!accepted, "accepted \(text)")
        #expect(histogram == Self.histogram([7: 1]))
    }

    /// A recording of 20,000 attempts over 2 hours of packet time, then the
    /// same query answered from whole hours and from minutes only.
    @Test func wholeHoursAnswerAsTheMinutesDo() async throws {
        let folder = try TemporaryFolder("hourly")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let capture = folder.file("mix.pcap")
        _ = try await synthesize(capture, in: folder.path, ["--mode", "mix", "--attempts", "20000", "--duration", "7200",
                                                            "--seed", "11"])
        let recorded = try await record(capture, db: db, in: folder.path,
                                        ["--retention-days", "100000", "--rollup-retention-days", "100000"])
        try #require(recorded.status == 0, "\(recorded)")
        let (first, hours) = try inspect(db) { db in
            (try #require(try Double.fetchOne(db, sql: "SELECT min(started_at) FROM sessions")),
             try Int.fetchOne(db, sql: "SELECT count(*) FROM rollups_hour") ?? 0)
        }
        #expect(hours >= 2)
        #expect(try inspect(db) { try rollupInconsistencies($0) } == [])
        // From the first whole hour on, by hour (whole hours come from
        // rollups_hour) and by minute (rollups_minute only), then summed.
        let start = (first / 3600).rounded(.up) * 3600
        let iso = ISO8601DateFormatter()
        let range = ["--since", iso.string(from: Date(timeIntervalSince1970: start)),
                     "--until", iso.string(from: Date(timeIntervalSince1970: start + 3600)), "--format", "json"]
        let byHour = try await query(db: db, in: folder.path, range + ["--by", "hour"])
        let byMinute = try await query(db: db, in: folder.path, range + ["--by", "minute"])
        try #require(byHour.status == 0 && byMinute.status == 0, "\(byHour)\n\(byMinute)")
        let hourRows = try parseJSONArray(byHour.stdout)
        let minuteRows = try parseJSONArray(byMinute.stdout)
        #expect(hourRows.count == 1)  // one filter (ALL), one hour
        func figure(_ row: [String: Any], _ section: String, _ item: String) -> Int {
            (row[section] as? [String: Any])?[item] as? Int ?? -1
        }
        for (section, items) in [("success", ["total", "dupsyn", "dupsynack"]),
                                 ("failure", ["total", "timeout", "reject", "unreach", "abort"])] {
            for item in items {
                let sum = minuteRows.reduce(0) { $0 + figure($1, section, item) }
                #expect(figure(hourRows[0], section, item) == sum, "\(section).\(item)")
            }
        }
        #expect(figure(hourRows[0], "success", "total") > 1000)
    }

    /// A histogram edited by hand into something else: the query says which
    /// row is wrong; the next recording into that hour rebuilds it.
    @Test func anUnreadableHourIsReportedThenRebuiltByTheRecorder() async throws {
        let folder = try TemporaryFolder("hourly-bad")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let capture = StorePaths.capture("zeek__echo-connections.pcap")
        let first = try await record(capture, db: db, in: folder.path, ["--retention-days", "100000"])
        try #require(first.status == 0, "\(first)")
        let good = try inspect(db) { try String.fetchAll($0, sql: "SELECT handshake_buckets FROM rollups_hour ORDER BY 1") }
        let queue = try DatabaseQueue(path: db)
        try await queue.write { try $0.execute(sql: "UPDATE rollups_hour SET handshake_buckets = '[1, 2]'") }
        try queue.close()

        let refused = try await query(db: db, in: folder.path, ["--since", "all", "--by", "day"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("rollups_hour") && refused.stderr.contains("rebuilds"), "\(refused.stderr)")

        // The same capture again: the hour is rebuilt from its minutes, which
        // now hold both recordings.
        let second = try await record(capture, db: db, in: folder.path, ["--retention-days", "100000"])
        try #require(second.status == 0, "\(second)")
        #expect(second.stderr.contains("rebuilding an unreadable hourly handshake histogram"), "\(second.stderr)")
        try inspect(db) { db in
            #expect(try rollupInconsistencies(db) == [])
            let rebuilt = try String.fetchAll(db, sql: "SELECT handshake_buckets FROM rollups_hour ORDER BY 1")
            #expect(rebuilt.count == good.count)
            for (before, after) in zip(good, rebuilt) {
                var once = HandshakeHistogram(), twice = HandshakeHistogram()
                let read = once.add(bucketsJSON: before) && twice.add(bucketsJSON: after)
                #expect(read)
                let copy = once
                once.add(copy)
                #expect(twice == once)
            }
        }
        let answered = try await query(db: db, in: folder.path, ["--since", "all", "--by", "day"])
        #expect(answered.status == 0, "\(answered)")
    }

    /// `tcpeek query` does not upgrade: it names the version and what will.
    @Test func anOlderDatabaseIsReadByNoQueryAndLeftUntouched() async throws {
        let folder = try TemporaryFolder("older")
        defer { folder.remove() }
        let db = folder.file("v4.db")
        let queue = try DatabaseQueue(path: db)
        try await queue.writeWithoutTransaction { db in
            for migration in Schema.migrations where migration.version <= 4 {
                try db.execute(sql: migration.sql)
                try db.execute(sql: "PRAGMA user_version = \(migration.version)")
            }
        }
        try queue.close()
        let before = try #require(fileBytes(db))
        let result = try await query(db: db, in: folder.path, ["--since", "1h"])
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("older tcpeek (schema version 4") && result.stderr.contains("tcpeek record --db"),
                "\(result.stderr)")
        #expect(fileBytes(db) == before)
    }
}
