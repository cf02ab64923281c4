// `tcpeek query --by cause` and the causes of `query`'s aggregates (issue
// 15), over a real database of sessions built by hand with their causes:
// the counts are the sessions', whichever tables (hours, minutes, the
// sessions at the range's ends) answer.
import Foundation
import GRDB
import TCPeekCore
import TCPeekWire
import Testing
@testable import TCPeekStore

@Suite("tcpeek query: causes")
struct CauseQueryTests {
    /// What `--by cause` must say for the sessions started in `[from, until)`:
    /// per outcome (in `Outcome` order) each cause, then those without one.
    static func expected(from: Double, until: Double) -> [String] {
        let chosen = EvidenceStoreTests.sessions.filter {
            let start = Double($0.startedAt.microseconds) / 1_000_000
            return start >= from && start < until
        }
        var lines: [String] = []
        for outcome in Outcome.allCases {
            let ofOutcome = chosen.filter { $0.outcome == outcome }
            guard !ofOutcome.isEmpty else { continue }
            func line(_ cause: String?, _ count: Int) -> String {
                "web \(outcome) \(cause ?? "null") \(count) \(ofOutcome.count) \(String(format: "%.4f", Double(count) / Double(ofOutcome.count)))"
            }
            for cause in Cause.allCases {
                let count = ofOutcome.filter { $0.cause.contains(cause) }.count
                if count > 0 { lines.append(line(cause.description, count)) }
            }
            let without = ofOutcome.filter { $0.cause.isEmpty }.count
            if without > 0 { lines.append(line(nil, without)) }
        }
        return lines
    }

    static func answerLines(_ text: String) throws -> [String] {
        try WireJSON.decode([CauseAnswer].self, from: text).map {
            "\($0.filter) \($0.outcome) \($0.cause ?? "null") \($0.count) \($0.outcomeTotal) \(String(format: "%.4f", $0.share.value))"
        }
    }

    @Test func byCauseCountsEachOutcomesCausesAndShares() async throws {
        let folder = try TemporaryFolder("query-causes")
        defer { folder.remove() }
        let db = try EvidenceStoreTests.database(folder)
        let start = Double(EvidenceStoreTests.start)
        // All of it (whole hours), and a range cut inside minutes at both
        // ends (minutes from the minute rollups, the ends from the sessions).
        for (since, until) in [(0.0, start + 7200), (start + 30.5, start + 400.3), (start + 61, start + 119)] {
            let result = try await query(db: db, in: folder.path, ["--by", "cause", "--since", WireTime.text(since),
                                                                   "--until", WireTime.text(until), "--format", "json"])
            try #require(result.status == 0, "\(result)")
            #expect(try Self.answerLines(result.stdout) == Self.expected(from: since, until: until), "\(since) .. \(until)")
        }
        let all = try await query(db: db, in: folder.path, ["--by", "cause", "--since", "all", "--format", "json"])
        #expect(try Self.answerLines(all.stdout) == [
            "web success after-retries 40 160 0.2500", "web success server-dropped-ack 40 160 0.2500",
            "web success inferred 40 160 0.2500", "web success injected-reset 40 160 0.2500",
            "web success null 40 160 0.2500", "web reject closed-port 40 80 0.5000",
            "web reject reset-by-middlebox 40 80 0.5000", "web abort client-refused-synack 40 40 1.0000",
            "web unreach filtered 40 80 0.5000", "web unreach port-unreachable 40 80 0.5000",
            "web timeout no-answer 40 80 0.5000", "web timeout uncertain 40 80 0.5000",
        ])
        #expect(all.stdout.hasPrefix(#"[{"filter":"web","from":"1970-01-01T00:00:00Z","to":"#), "\(all.stdout)")
        #expect(all.stdout.contains(#""outcome":"success","cause":null,"count":40,"outcome_total":160,"share":0.2500}"#))

        let csv = try await query(db: db, in: folder.path, ["--by", "cause", "--since", "all", "--format", "csv"])
        let csvLines = csv.stdout.split(separator: "\n")
        #expect(csvLines.first == "filter,from,to,outcome,cause,count,outcome_total,share")
        #expect(csvLines.count == 13)
        #expect(csvLines.contains { $0.hasSuffix(",reject,closed-port,40,80,0.5000") }, "\(csv.stdout)")
        #expect(csvLines.contains { $0.hasSuffix(",success,,40,160,0.2500") }, "\(csv.stdout)")

        let table = try await query(db: db, in: folder.path, ["--by", "cause", "--since", "all"])
        let tableLines = table.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(tableLines.first == "FILTER OUTCOME CAUSE COUNT SHARE")
        #expect(tableLines.contains("web timeout no-answer 40 50.0%"), "\(table.stdout)")
        #expect(tableLines.contains("web success - 40 25.0%"), "\(table.stdout)")
    }

    @Test func byCauseExcludesSessionsAndTop() async throws {
        let folder = try TemporaryFolder("query-causes-usage")
        defer { folder.remove() }
        let db = try EvidenceStoreTests.database(folder)
        let result = try await query(db: db, in: folder.path, ["--by", "cause", "--sessions", "--since", "all"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--by cause counts attempts per cause; it excludes --sessions and --top"), "\(result)")
    }

    /// The aggregate answer (`query`'s JSON, and the socket's `WINDOW` and
    /// `QUERY`, which share it) carries a `causes` object after its other
    /// keys; the table a line of them under it.
    @Test func aggregatesCarryTheirCauses() async throws {
        let folder = try TemporaryFolder("query-causes-aggregate")
        defer { folder.remove() }
        let db = try EvidenceStoreTests.database(folder)
        let start = Double(EvidenceStoreTests.start)
        let json = try await query(db: db, in: folder.path, ["--since", "all", "--format", "json"])
        try #require(json.status == 0, "\(json)")
        let rows = try WireJSON.decode([AggregateAnswer].self, from: json.stdout)
        try #require(rows.count == 1)
        #expect(rows[0].causes == CausesAnswer([
            ("closed-port", 40), ("reset-by-middlebox", 40), ("filtered", 40), ("port-unreachable", 40), ("no-answer", 40),
            ("uncertain", 40), ("client-refused-synack", 40), ("after-retries", 40), ("server-dropped-ack", 40),
            ("inferred", 40), ("injected-reset", 40),
        ]))
        #expect(json.stdout.contains(#""handshake_ms":{"#) && json.stdout.contains(#"},"causes":{"closed-port":40,"reset-by-middlebox":40,"#),
                "\(json.stdout)")

        // By minute, the answer of the socket's QUERY: each minute's own causes.
        let reader = try HistoryDatabase.openForReading(path: db)
        defer { reader.close() }
        let minutes = try HistoryQuery.aggregate(reader, since: start + 30, until: start + 200, filters: nil, by: .minute)
        let answers = try WireJSON.decode([AggregateAnswer].self, from: HistoryJSON.aggregates(minutes))
        for answer in answers {
            let from = try #require(WireTime.seconds(answer.from)), to = try #require(WireTime.seconds(answer.to))
            let sessions = EvidenceStoreTests.sessions.filter {
                let start = Double($0.startedAt.microseconds) / 1_000_000
                return start >= from && start < to
            }
            let flagged = sessions.filter { $0.cause.contains(.noAnswer) }.count
            #expect(answer.causes.counts.first { $0.name == "no-answer" }?.count ?? 0 == UInt64(flagged), "\(answer.from)")
            #expect(answer.causes.counts.reduce(0) { $0 + $1.count }
                    == UInt64(sessions.reduce(0) { $0 + $1.cause.rawValue.nonzeroBitCount }), "\(answer.from)")
        }
        #expect(answers.count == 4)

        let table = try await query(db: db, in: folder.path, ["--since", "all"])
        #expect(table.stdout.contains("\ncauses web: closed-port 40, reset-by-middlebox 40, filtered 40,"), "\(table.stdout)")
        let csv = try await query(db: db, in: folder.path, ["--since", "all", "--format", "csv"])
        #expect(!csv.stdout.contains("causes"), "the CSV keeps its columns")
    }
}
