// `tcpeek query`'s rules, each the same at every bucket size, in every
// format and for every spelling a user may type: which empty buckets are
// listed, how addresses and networks match, what an empty answer says,
// filter names in any case, and the zone of the table's times. Over a
// database of seven sessions written in-process, a year apart.
import Foundation
import GRDB
import TCPeekCore
import Testing
@testable import TCPeekStore

@Suite("tcpeek query: one rule each")
struct QueryRulesTests {
    /// 2012-03-29T10:00:00Z and 2013-03-07T12:00:00Z.
    static let first: Int64 = 1_333_015_200, second: Int64 = 1_362_657_600

    static func v6(_ high: UInt64, _ low: UInt64) -> IPAddress { IPAddress(high: high, low: low) }

    /// Five sessions a minute apart on 2012-03-29 (two IPv4, three IPv6),
    /// two on 2013-03-07 three minutes apart, all counted by `web`.
    static let sessions: [Session] = {
        let client4 = IPAddress(ipv4: 0xC633_6407)  // 198.51.100.7
        let other4 = IPAddress(ipv4: 0xC633_64C8)  // 198.51.100.200
        let server4 = IPAddress(ipv4: 0xCB00_7105), later4 = IPAddress(ipv4: 0xCB00_7109)  // 203.0.113.5, .9
        let db8 = 0x2001_0DB8_0000_0000 as UInt64
        func session(_ client: IPAddress, _ server: IPAddress, port: UInt16, at start: Int64, _ outcome: Outcome) -> Session {
            Session(client: client, server: server, clientPort: UInt16(40_000 + start % 1000), serverPort: port,
                    startedAt: Timestamp(microseconds: start * 1_000_000), duration: .init(microseconds: 2_000),
                    outcome: outcome, filters: FilterMask(rawValue: 1))
        }
        return [
            session(client4, server4, port: 80, at: first, .success),
            session(other4, server4, port: 80, at: first + 60, .reject),
            session(v6(0x2001_0DB8_0001_0000, 7), v6(db8, 1), port: 443, at: first + 120, .success),  // to 2001:db8::1
            session(v6(0x2001_0DB8_0001_0000, 8), v6(db8, 0x0001_0000_0000_0005), port: 443, at: first + 180, .timeout),
            session(v6(0x2001_0DB8_0001_0000, 9), v6(db8 | 1, 5), port: 443, at: first + 240, .success),  // 2001:db8:0:1::5
            session(client4, later4, port: 80, at: second, .success),
            session(client4, later4, port: 80, at: second + 180, .success),
        ]
    }()

    static func database(_ folder: TemporaryFolder, sessions: [Session] = sessions) throws -> String {
        let path = folder.file("history.db")
        var options = RecorderOptions()
        options.retentionDays = 100_000
        options.rollupRetentionDays = 100_000
        try recordInProcess(into: path, filters: ["web:ANY@*:*"], options: options, feed: { recorder in
            if !sessions.isEmpty { recorder.queue.push(sessions, waitWhenFull: true) }
        })
        return path
    }

    static func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    /// The `from` column of a CSV answer.
    static func froms(_ result: RunResult) -> [String] {
        lines(result.stdout).dropFirst().map { String($0.split(separator: ",")[1]) }
    }

    @Test func emptyBucketsAreListedOnlyInsideShortGapsAtEveryBucketSize() async throws {
        let folder = try TemporaryFolder("query-buckets")
        defer { folder.remove() }
        let db = try Self.database(folder)

        // A year apart: one row per day or hour holding data, not the 343
        // days or 8,000 hours between (as --by minute already did).
        let days = try await query(db: db, in: folder.path, ["--since", "all", "--by", "day", "--format", "csv"])
        try #require(days.status == 0, "\(days)")
        #expect(Self.froms(days) == ["2012-03-29T00:00:00Z", "2013-03-07T00:00:00Z"], "\(Self.lines(days.stdout).count) lines")
        let hours = try await query(db: db, in: folder.path, ["--since", "all", "--by", "hour", "--format", "csv"])
        #expect(Self.froms(hours) == ["2012-03-29T10:00:00Z", "2013-03-07T12:00:00Z"], "\(Self.lines(hours.stdout).count) lines")
        // By minute: the two empty minutes between 12:00 and 12:03 are listed
        // (zeros), the year between the sessions is not.
        let minutes = try await query(db: db, in: folder.path, ["--since", "all", "--by", "minute", "--format", "csv"])
        #expect(Self.froms(minutes) == ["2012-03-29T10:00:00Z", "2012-03-29T10:01:00Z", "2012-03-29T10:02:00Z",
                                        "2012-03-29T10:03:00Z", "2012-03-29T10:04:00Z", "2013-03-07T12:00:00Z",
                                        "2013-03-07T12:01:00Z", "2013-03-07T12:02:00Z", "2013-03-07T12:03:00Z"])
        #expect(Self.lines(minutes.stdout)[7].hasPrefix("web,2013-03-07T12:01:00Z,2013-03-07T12:02:00Z,0,0,0,0,"))

        // No bucket before the first or after the last data of the range,
        // however much of the range is empty, in every format.
        let hour = ["--since", "2012-03-29T09:30:00Z", "--until", "2012-03-29T11:30:00Z", "--by", "minute"]
        let csv = try await query(db: db, in: folder.path, hour + ["--format", "csv"])
        #expect(Self.froms(csv) == ["2012-03-29T10:00:00Z", "2012-03-29T10:01:00Z", "2012-03-29T10:02:00Z",
                                    "2012-03-29T10:03:00Z", "2012-03-29T10:04:00Z"])
        let json = try await query(db: db, in: folder.path, hour + ["--format", "json"])
        #expect(try parseJSONArray(json.stdout).map { $0["from"] as? String } == Self.froms(csv))
        let table = try await query(db: db, in: folder.path, hour)
        #expect(Self.lines(table.stdout).count == 1 + 5, "\(table.stdout)")
    }

    @Test func theGapRuleAtItsLimit() {
        let limit = HistoryQuery.maximumEmptyBucketsListed
        let filled = HistoryQuery.bucketStarts(holdingData: [0, Double(limit + 1) * 60], size: 60)
        #expect(filled == (0...(limit + 1)).map { Double($0) * 60 })
        let apart = HistoryQuery.bucketStarts(holdingData: [0, Double(limit + 2) * 3600, Double(limit + 3) * 3600], size: 3600)
        #expect(apart == [0, Double(limit + 2) * 3600, Double(limit + 3) * 3600])
        #expect(HistoryQuery.bucketStarts(holdingData: [], size: 86400).isEmpty)
    }

    @Test func addressesMatchHoweverTheyAreWrittenAndNetworksMatchTheirAddresses() async throws {
        let folder = try TemporaryFolder("query-addresses")
        defer { folder.remove() }
        let db = try Self.database(folder)
        func servers(_ arguments: [String]) async throws -> [String] {
            let result = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--format", "csv"] + arguments)
            try #require(result.status == 0, "\(arguments): \(result)")
            return Self.lines(result.stdout).dropFirst().map { String($0.split(separator: ",")[4]) }
        }
        func clients(_ arguments: [String]) async throws -> [String] {
            let result = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--format", "csv"] + arguments)
            try #require(result.status == 0, "\(arguments): \(result)")
            return Self.lines(result.stdout).dropFirst().map { String($0.split(separator: ",")[2]) }
        }
        for spelling in ["2001:db8::1", "2001:0db8::1", "[2001:db8::1]", "2001:DB8:0:0:0:0:0:1", "2001:db8::0:1", "[2001:db8::1]/128"] {
            #expect(try await servers(["--server", spelling]) == ["2001:db8::1"], "--server \(spelling)")
        }
        // 2001:db8::/64 holds 2001:db8::1 and 2001:db8::1:0:0:5, not 2001:db8:0:1::5.
        for network in ["2001:db8::/64", "[2001:db8::]/64", "[2001:0DB8::/64]"] {
            #expect(try await servers(["--server", network]) == ["2001:db8::1:0:0:5", "2001:db8::1"], "--server \(network)")
        }
        #expect(try await servers(["--server", "2001:db8::/32"]).count == 3)
        #expect(try await clients(["--client", "2001:db8:1::/48", "--server", "2001:db8:0:1::/64"]) == ["2001:db8:1::9"])
        // IPv4: a prefix that is not a whole number of octets, and the
        // IPv4-mapped spelling of an address.
        #expect(try await clients(["--client", "198.51.100.0/25"]) == ["198.51.100.7", "198.51.100.7", "198.51.100.7"])
        #expect(try await clients(["--client", "198.51.100.128/25"]) == ["198.51.100.200"])
        #expect(try await clients(["--client", "::ffff:198.51.100.200"]) == ["198.51.100.200"])
        #expect(try await servers(["--server", "203.0.113.0/24", "--client", "198.51.100.7"]) == ["203.0.113.9", "203.0.113.9",
                                                                                                   "203.0.113.5"])
        // No IPv4 address is in an IPv6 network, nor the reverse.
        #expect(try await servers(["--server", "::/0"]).count == 3)
        #expect(try await servers(["--server", "0.0.0.0/0"]).count == 4)

        // Anything else is refused as a bad option, saying what to write.
        for (value, words) in [("nonsense", "'nonsense' is not an IPv4 or IPv6 address"),
                               ("198.51.100.0/33", "/33 is longer than 32 bits"),
                               ("2001:db8::1/129", "/129 is longer than 128 bits"),
                               ("[2001:db8::1]:443", "--port"),
                               ("198.51.100.7:80", "--port"),
                               ("[2001:db8::1", "unclosed bracket"),
                               ("", "missing address")] {
            let result = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--server", value])
            #expect(result.status == 64, "--server '\(value)': \(result)")
            #expect(result.stderr.contains("--server '\(value)'") && result.stderr.contains(words), "\(result)")
            #expect(result.stdout.isEmpty)
        }
        let client = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--client", "example.com"])
        #expect(client.status == 64 && client.stderr.contains("--client 'example.com'"), "\(client)")
    }

    @Test func anEmptyRangeSaysWhereTheDataIsAndACutListSaysSo() async throws {
        let folder = try TemporaryFolder("query-empty")
        defer { folder.remove() }
        let db = try Self.database(folder)
        let span = "this database holds 2012-03-29 10:00:00Z .. 2013-03-07 12:03:00Z"
        for mode in [[], ["--by", "minute"], ["--sessions"], ["--top", "server"]] {
            let result = try await query(db: db, in: folder.path, ["--since", "1h"] + mode)
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.contains("no sessions in the last 1h; \(span)"), "\(mode): \(result)")
        }
        let range = try await query(db: db, in: folder.path, ["--since", "2012-04-01T00:00:00Z", "--until", "2012-05-01T00:00:00Z",
                                                              "--format", "json"])
        #expect(range.stderr.contains("no sessions from 2012-04-01 00:00:00Z to 2012-05-01 00:00:00Z; \(span)"), "\(range)")
        // The times it names are read back by --since and --until.
        let back = try await query(db: db, in: folder.path, ["--since", "2012-03-29 10:00:00Z", "--until", "2012-03-29 10:01:00Z",
                                                             "--sessions", "--format", "csv"])
        #expect(back.status == 0 && Self.lines(back.stdout).count == 2, "\(back)")
        // A range holding data, a server it does not hold: no note.
        let none = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--server", "192.0.2.1"])
        #expect(none.status == 0 && none.stderr.isEmpty, "\(none)")

        // A list stopped by --limit says so; one that ends by itself does not.
        let cut = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--limit", "3", "--format", "csv"])
        #expect(Self.lines(cut.stdout).count == 1 + 3)
        #expect(cut.stderr == "showing the newest 3 sessions; --limit N for more\n", "\(cut)")
        let whole = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--limit", "7", "--format", "csv"])
        #expect(Self.lines(whole.stdout).count == 1 + 7 && whole.stderr.isEmpty, "\(whole)")
        let top = try await query(db: db, in: folder.path, ["--since", "all", "--top", "client", "--limit", "1"])
        #expect(top.stderr == "showing the top 1 of the clients with failures; --limit N for more\n", "\(top)")

        let emptyFolder = try TemporaryFolder("query-nothing")
        defer { emptyFolder.remove() }
        let empty = try Self.database(emptyFolder, sessions: [])
        let nothing = try await query(db: empty, in: emptyFolder.path, ["--since", "all", "--sessions"])
        #expect(nothing.status == 0 && nothing.stderr.contains("no sessions: this database holds none yet"), "\(nothing)")
    }

    @Test func filterNamesAreComparedIgnoringCaseAsRecordDoes() async throws {
        let folder = try TemporaryFolder("query-names")
        defer { folder.remove() }
        let db = try Self.database(folder)
        let range = ["--since", "all", "--until", "2014-01-01T00:00:00Z", "--format", "csv"]
        let exact = try await query(db: db, in: folder.path, range + ["--filter", "web"])
        try #require(exact.status == 0, "\(exact)")
        for spelling in ["WEB", "Web"] {
            let result = try await query(db: db, in: folder.path, range + ["--filter", spelling])
            #expect(result.status == 0 && result.stdout == exact.stdout, "--filter \(spelling): \(result)")
        }
        let unknown = try await query(db: db, in: folder.path, ["--since", "all", "--filter", "web", "--filter", "mail"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no filter named 'mail' in the database; known filters: web"),
                "\(unknown)")
        // record refuses two filters whose names differ only in case.
        #expect(throws: FilterParseError.self) {
            try FilterSet(filters: [try Filter.parse("web:ANY@*:80"), try Filter.parse("WEB:ANY@*:443")], hasLocalNotion: false)
        }
        #expect(Filter.nameKey("ALL") == Filter.nameKey("all"))
    }

    @Test func theTableShowsUTCWithItsZoneAndLocalTimeOnRequest() async throws {
        let tcpeek = try StorePaths.requireTCPeek()
        let folder = try TemporaryFolder("query-zone")
        defer { folder.remove() }
        let db = try Self.database(folder)
        // A zone five and a half hours east of UTC (POSIX TZ, no tzdata needed).
        let zone = ["TZ": "IST-5:30"]
        let range = ["--since", "2012-03-29T10:00:00Z", "--until", "2012-03-29T10:01:00Z"]
        func firstRow(_ arguments: [String]) async throws -> [String] {
            let result = try await run([tcpeek, "query", "--db", db] + range + arguments, in: folder.path, environment: zone)
            try #require(result.status == 0, "\(result)")
            return Self.lines(result.stdout).dropFirst().first?.split(separator: " ").map(String.init) ?? []
        }
        #expect(try await firstRow([]).prefix(5) == ["web", "2012-03-29", "10:00:00Z", "2012-03-29", "10:01:00Z"])
        #expect(try await firstRow(["--local"]).prefix(5) == ["web", "2012-03-29", "15:30:00+05:30", "2012-03-29", "15:31:00+05:30"])
        #expect(try await firstRow(["--sessions"]).prefix(2) == ["2012-03-29", "10:00:00Z"])
        #expect(try await firstRow(["--sessions", "--local"]).prefix(2) == ["2012-03-29", "15:30:00+05:30"])
        // CSV and JSON stay UTC, --local or not.
        let csv = try await run([tcpeek, "query", "--db", db, "--format", "csv", "--local"] + range, in: folder.path, environment: zone)
        #expect(Self.lines(csv.stdout).last?.hasPrefix("web,2012-03-29T10:00:00Z,2012-03-29T10:01:00Z,") == true, "\(csv)")
        // A table time pasted into --since means the same instant.
        let local = try await run([tcpeek, "query", "--db", db, "--since", "2012-03-29 15:30:00+05:30", "--until",
                                   "2012-03-29 15:31:00+05:30", "--sessions", "--format", "csv"], in: folder.path, environment: zone)
        #expect(Self.lines(local.stdout).count == 2, "\(local)")
    }
}
