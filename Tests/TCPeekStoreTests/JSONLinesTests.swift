// `tcpeek record --json-lines` (issue 13): one JSON object per closed
// attempt on standard output, with the sessions table's columns and values;
// live lines stay on standard error; a reader that goes away stops the
// capture cleanly, every closed attempt still recorded.
import Foundation
import GRDB
import TCPeekCore
import TCPeekWire
import Testing
@testable import TCPeekStore

@Suite("tcpeek record --json-lines")
struct JSONLinesTests {
    static let columns = ["started_at", "duration", "family", "client_addr", "client_port", "server_addr", "server_port",
                          "vlan", "direction", "outcome", "dup_syn", "dup_synack", "icmp_type", "icmp_code", "evicted",
                          // The evidence and cause (issue 15, Schema/0006), in the lines' order.
                          "cause", "syn_ttl", "synack_ttl", "rst_ttl", "synack_seen", "icmp_sender", "icmp_ttl",
                          "synack_mss", "synack_wscale", "syn_to_synack", "synack_to_ack", "syn_retry_time",
                          "ignored_rst", "ignored_rst_ttl", "capture_dropped"]

    /// A row or a JSON object as comparable text, column by column.
    static func fingerprint(_ values: [String: Any?]) -> String {
        columns.map { column in
            switch values[column] ?? nil {
            case nil, is NSNull: return "null"
            case let number as NSNumber: return String(format: "%.6f", number.doubleValue)
            case let text as String: return text
            case let other?: return "\(other)"
            }
        }.joined(separator: "|")
    }

    @Test(arguments: ["ndpi__gnutella.pcap", "arkime__ospf.pcap", "zeek__ssh-ssh.pcap"])
    func everyLineIsARowOfTheSessionsTable(_ name: String) async throws {
        let folder = try TemporaryFolder("json-lines")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let tcpeek = try StorePaths.requireTCPeek()
        let result = try await run([tcpeek, "record", "-r", StorePaths.capture(name), "--json-lines", "--db", db,
                                    "web:ANY@*:80"], in: folder.path)
        try #require(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n")
        var fromLines: [String] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(Set(object.keys) == Set(Self.columns + ["filters"]), "\(line)")
            let filters = try #require(object["filters"] as? [String])
            #expect(filters.first == "ALL", "every attempt counts in ALL: \(line)")
            fromLines.append(Self.fingerprint(object) + "|" + filters.joined(separator: ","))
        }
        let fromRows = try inspect(db) { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.columns.joined(separator: ", ")),
                       (SELECT group_concat(filter, ',') FROM (SELECT filter FROM session_filters WHERE session_id = s.id
                        ORDER BY filter <> 'ALL', filter)) AS names
                FROM sessions s
                """).map { row in
                var values: [String: Any?] = [:]
                for column in Self.columns {
                    switch row[column] as DatabaseValue {
                    case let value where value.isNull: values[column] = nil
                    case let value: values[column] = Double.fromDatabaseValue(value).map { NSNumber(value: $0) } as Any? ?? String.fromDatabaseValue(value)
                    }
                }
                return Self.fingerprint(values) + "|" + (row["names"] as String? ?? "")
            }
        }
        #expect(fromLines.count > 0)
        #expect(fromLines.sorted() == fromRows.sorted(), "the lines and the rows hold the same attempts")
        // Live lines stay on standard error.
        #expect(result.stderr.contains("TIME(s) |"))
        #expect(result.stderr.split(separator: "\n").filter { $0.contains("|      success      |") || $0.contains("| failure (") }.count
            == lines.count)
    }

    /// A line's evidence keys come after `evicted` and before `filters`,
    /// in the columns' order, with the values the row holds: one session
    /// of each kind, built by hand, its line against its row.
    @Test func evidenceKeysHoldTheRowsValuesInColumnOrder() throws {
        let folder = try TemporaryFolder("json-lines-evidence")
        defer { folder.remove() }
        let sessions = EvidenceSessions.kinds(at: 1_333_015_200)
        let db = folder.file("history.db")
        try recordInProcess(into: db, feed: { $0.queue.push(sessions, waitWhenFull: true) })
        let rows = try inspect(db) { db in
            try Row.fetchAll(db, sql: "SELECT \(StoredEvidence.columns) FROM sessions ORDER BY started_at").map(StoredEvidence.init)
        }
        try #require(rows.count == sessions.count)
        for (session, row) in zip(sessions, rows) {
            let line = SessionJSON.line(session, filterNames: ["all"])
            // The keys in the order the text writes them.
            let keys = line.split(separator: "\"").enumerated().compactMap { index, part in
                index % 2 == 1 && Self.columns.contains(String(part)) || part == "filters" ? String(part) : nil
            }
            #expect(keys == Self.columns + ["filters"], "\(line)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            func value<T>(_ key: String) -> T? { object[key] as? T }
            var fromLine = row
            fromLine.cause = value("cause")
            fromLine.synTTL = value("syn_ttl"); fromLine.synackTTL = value("synack_ttl"); fromLine.rstTTL = value("rst_ttl")
            fromLine.synackSeen = value("synack_seen"); fromLine.icmpSender = value("icmp_sender")
            fromLine.icmpTTL = value("icmp_ttl"); fromLine.synackMSS = value("synack_mss")
            fromLine.synackWscale = value("synack_wscale"); fromLine.synToSynack = value("syn_to_synack")
            fromLine.synackToAck = value("synack_to_ack"); fromLine.synRetryTime = value("syn_retry_time") ?? -1
            fromLine.ignoredRST = value("ignored_rst") ?? -1; fromLine.ignoredRSTTTL = value("ignored_rst_ttl")
            fromLine.captureDropped = value("capture_dropped") ?? -1
            #expect(fromLine == row, "\(line)")
        }
    }

    @Test func aReaderThatGoesAwayStopsTheCaptureAndLosesNothing() async throws {
        let folder = try TemporaryFolder("json-lines-pipe")
        defer { folder.remove() }
        let capture = folder.file("mix.pcap")
        _ = try await synthesize(capture, in: folder.path, ["--mode", "mix", "--attempts", "200000", "--duration", "60"])
        let db = folder.file("history.db")
        let tcpeek = try StorePaths.requireTCPeek()
        let script = "'\(tcpeek)' record -q -r '\(capture)' --json-lines --json-summary --db '\(db)' | head -n 1; "
            + "echo \"status ${PIPESTATUS[0]}\" >&2"
        let result = try await run(["/bin/bash", "-c", script], in: folder.path, timeout: 120)
        #expect(result.stdout.split(separator: "\n").count == 1, "head printed its one line")
        #expect(result.stderr.contains("status 0"), "tcpeek exits 0, not by SIGPIPE: \(result.stderr.suffix(2000))")
        #expect(result.stderr.contains("notice: standard output was closed; stopping"), "\(result.stderr.suffix(2000))")
        #expect(result.stderr.contains("TCPEEK SUMMARY"))
        let recorded = try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") } ?? 0
        // The summary's ALL block (the only filter): its successes and failures.
        let counted = result.stderr.matches(of: #/(?:Success|Failure): (\d+) session/#).compactMap { Int($0.1) }.reduce(0, +)
        #expect(recorded > 0)
        #expect(recorded == counted, "every attempt the summary counts is recorded")
        #expect(recorded < 200_000, "the capture stopped early")
    }
}
