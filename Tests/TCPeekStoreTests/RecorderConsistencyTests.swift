// `tcpeek record` into a database with small batches: every attempt of the
// summary is a row, the rollups equal a GROUP BY over the sessions, and
// `tcpeek query` percentiles agree with exact ones.
import Foundation
import TCPeekWire
import GRDB
import Testing
@testable import TCPeekStore

@Suite("Recorder consistency")
struct RecorderConsistencyTests {
    static let corpusCaptures = [
        "ndpi__gnutella.pcap",                  // success, reject, timeout, ICMP unreachable, dup SYNs
        "ndpi__synscan.pcap",                   // 1,994 attempts of a scan
        "zeek__echo-connections.pcap",          // 500 loopback connections, SYN retransmissions
        "zeek__ssh-ssh.pcap",                   // retransmitted SYN and SYN/ACK
        "arkime__ospf.pcap",                    // IPv6 unreachables
        "zeek__http-vnd.ms-cab-compressed-multi-conn.pcap",  // dup SYN and dup SYN/ACK on every connection
    ]
    /// Filters beside the implicit ALL: by port, and IPv6 only.
    static let filters = ["web:ANY@*:80:443", "v6:ANY@[::/0]:*"]
    static let keepEverything = ["--retention-days", "100000", "--rollup-retention-days", "100000"]

    @Test func rowsAndRollupsMatchTheSummaryForTheCorpusAndAGeneratedMix() async throws {
        let folder = try TemporaryFolder("consistency")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let mix = folder.file("mix.pcap")
        // 20,000 attempts over 7.5 minutes of packet time, so that there are many minutes.
        let expected = try await synthesize(mix, in: folder.path, ["--mode", "mix", "--attempts", "20000", "--duration", "450",
                                                                   "--seed", "7"])
        var recordedRuns = 0
        for capture in Self.corpusCaptures.map(StorePaths.capture) + [mix] {
            let result = try await record(capture, db: db, in: folder.path,
                                          ["--batch-size", "100", "--batch-ms", "50"] + Self.keepEverything + Self.filters)
            try #require(result.status == 0, "\(result)")
            recordedRuns += 1
            let summary = try parseSummary(result.stdout)
            let all = try #require(summary["ALL"], "\(result.stdout)")
            try inspect(db) { (db) throws in
                let runID = try #require(try Int64.fetchOne(db, sql: "SELECT max(id) FROM runs"))
                let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions WHERE run_id = ?", arguments: [runID])
                #expect(rows == all.total, "\(capture): rows vs attempts of the summary")
                #expect(try outcomeCounts(db, runID: runID) == all, "\(capture): outcomes")
                for (name, counts) in summary {
                    #expect(try outcomeCounts(db, runID: runID, filter: name) == counts, "\(capture): filter \(name)")
                }
                let run = try #require(try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [runID]))
                #expect(run["sessions_recorded"] as Int == all.total)
                #expect(run["sessions_not_recorded"] as Int == 0)
                #expect(run["ended_at"] as Double? != nil)
                #expect(run["source"] as String == capture)
            }
            if capture == mix {
                // tcpeek-synth's own expectations.
                #expect(Double(all.total) == expected["attempts"])
                #expect(Double(all.success) == expected["success"])
                #expect(Double(all.reject) == expected["reject"])
                #expect(Double(all.abort) == expected["abort"])
            }
        }
        try inspect(db) { (db) throws in
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") == recordedRuns)
            let minutes = try Int.fetchOne(db, sql: "SELECT count(DISTINCT minute) FROM rollups_minute") ?? 0
            #expect(minutes >= 8, "the rollups should span many minutes")
            let problems = try rollupInconsistencies(db)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
            #expect(try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok")
            #expect(try Int.fetchOne(db, sql: "PRAGMA foreign_key_check") == nil)
        }

        // Percentiles from `tcpeek query` against exact nearest-rank ones
        // over the same sessions: whole minutes (rollups), and a window with
        // partial minutes at both ends (sessions).
        let start = 1_704_067_200.0  // tcpeek-synth's default first attempt
        let windows: [(Double, Double)] = [(start, start + 480), (start + 17.25, start + 301.5), (start + 60, start + 120)]
        for (since, until) in windows {
            let result = try await query(db: db, in: folder.path, [
                "--since", WireTime.text(since), "--until", WireTime.text(until), "--format", "json",
            ])
            try #require(result.status == 0, "\(result)")
            let rows = try parseJSONArray(result.stdout)
            #expect(Set(rows.compactMap { $0["filter"] as? String }) == ["ALL", "web", "v6"])
            for row in rows {
                let filter = try #require(row["filter"] as? String)
                let durations = try inspect(db) { (db) throws in
                    try Double.fetchAll(db, sql: """
                        SELECT s.duration * 1000 FROM sessions s JOIN session_filters f ON f.session_id = s.id
                        WHERE f.filter = ? AND s.outcome = 'success' AND s.started_at >= ? AND s.started_at < ?
                        ORDER BY s.duration
                        """, arguments: [filter, since, until])
                }
                let success = try #require(row["success"] as? [String: Any])
                #expect(success["total"] as? Int == durations.count, "\(filter) \(since)..\(until)")
                let counts = try inspect(db) { (db) throws in
                    try Row.fetchOne(db, sql: """
                        SELECT sum(s.outcome <> 'success') AS failure, sum(s.outcome = 'timeout') AS timeout,
                               sum(s.outcome = 'success' AND s.dup_syn > 0) AS dupsyn
                        FROM sessions s JOIN session_filters f ON f.session_id = s.id
                        WHERE f.filter = ? AND s.started_at >= ? AND s.started_at < ?
                        """, arguments: [filter, since, until])!
                }
                let failure = try #require(row["failure"] as? [String: Any])
                #expect(failure["total"] as? Int == counts["failure"], "\(filter) failures \(since)..\(until)")
                #expect(failure["timeout"] as? Int == counts["timeout"])
                #expect(success["dupsyn"] as? Int == counts["dupsyn"])
                guard !durations.isEmpty else { continue }
                let handshake = try #require(row["handshake_ms"] as? [String: Any])
                for (key, fraction) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
                    let exact = nearestRank(durations, fraction)
                    let reported = try #require((handshake[key] as? NSNumber)?.doubleValue, "\(key) of \(filter)")
                    #expect(abs(reported - exact) <= 0.05 * exact, "\(filter) \(key): query \(reported) ms, exact \(exact) ms")
                }
            }
        }
    }

    /// The batch size and interval only change how the work is cut, never the result.
    @Test func batchingDoesNotChangeWhatIsRecorded() async throws {
        let folder = try TemporaryFolder("batching")
        defer { folder.remove() }
        let capture = StorePaths.capture("ndpi__gnutella.pcap")
        var fingerprints: [String] = []
        for (index, options) in [["--batch-size", "1"], ["--batch-size", "7", "--batch-ms", "1"], []].enumerated() {
            let db = folder.file("b\(index).db")
            let result = try await record(capture, db: db, in: folder.path, options + Self.keepEverything)
            try #require(result.status == 0, "\(result)")
            fingerprints.append(try inspect(db) { (db) throws in
                let sessions = try String.fetchAll(db, sql: """
                    SELECT printf('%.6f %.6f %s %d %s %d %s %d %d', started_at, duration, client_addr, client_port,
                                  server_addr, server_port, outcome, dup_syn, dup_synack)
                    FROM sessions ORDER BY started_at, client_port
                    """)
                let rollups = try String.fetchAll(db, sql: "SELECT printf('%d %s %d %d %d %d', minute, filter, success, failure, timeout, dup_syn) FROM rollups_minute ORDER BY 1")
                let buckets = try String.fetchAll(db, sql: "SELECT printf('%d %s %d %d', minute, filter, bucket, count) FROM rollup_handshake_buckets ORDER BY 1")
                #expect(try rollupInconsistencies(db).isEmpty)
                return (sessions + rollups + buckets).joined(separator: "\n")
            })
        }
        #expect(Set(fingerprints).count == 1, "different batching gave different databases")
    }
}
