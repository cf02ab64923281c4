// `tcpeek query` over a known capture (ndpi__gnutella.pcap: 139 attempts,
// 56 success, 26 reject, 67 timeout, 4 ICMP unreachable, all in the first
// three minutes of 1970), checked against figures worked out by hand from
// the capture's attempts; and while `tcpeek record` writes the same file.
import Foundation
import GRDB
import Testing
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("tcpeek query")
struct QueryTests {
    /// The gnutella database with the implicit ALL filter and `p6346` (the
    /// Gnutella port: 8 attempts, 4 successes, 4 timeouts).
    static func gnutellaDatabase(_ folder: TemporaryFolder) async throws -> String {
        let db = folder.file("gnutella.db")
        let result = try await record(StorePaths.capture("ndpi__gnutella.pcap"), db: db, in: folder.path, ["p6346:ANY@*:6346"])
        try #require(result.status == 0, "\(result)")
        let summary = try parseSummary(result.stdout)
        #expect(summary["ALL"] == SummaryCounts(success: 56, dupsyn: 2, dupsynack: 0, timeout: 67, reject: 12, unreach: 4, abort: 0))
        #expect(summary["p6346"] == SummaryCounts(success: 4, dupsyn: 0, dupsynack: 0, timeout: 4, reject: 0, unreach: 0, abort: 0))
        return db
    }

    /// What the query shows for a success whose exact nearest-rank
    /// handshake time is `microseconds`: the middle of its histogram bucket.
    static func shown(_ microseconds: Int64) -> String {
        String(format: "%.3f", Schema.handshakeBucketMiddle(Schema.handshakeBucket(microseconds: microseconds)) / 1000)
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init)
    }

    @Test func aggregatesInEachFormat() async throws {
        let folder = try TemporaryFolder("query")
        defer { folder.remove() }
        let db = try await Self.gnutellaDatabase(folder)

        // The 56 successes sorted by handshake time (ms), from the capture:
        // p50 is rank 28 (139.368), p95 rank 54 (1154.308), p99 rank 56 (15651.169).
        let total = try await query(db: db, in: folder.path, ["--since", "all", "--format", "json"])
        try #require(total.status == 0, "\(total)")
        let rows = try parseJSONArray(total.stdout)
        #expect(rows.map { $0["filter"] as? String } == ["ALL", "p6346"])
        let all = rows[0]
        #expect(all["from"] as? String == "1970-01-01T00:00:00Z")
        #expect((all["to"] as? String)?.hasPrefix("20") == true, "the range ends now")
        #expect(all["success"] as? [String: Int] == ["total": 56, "dupsyn": 2, "dupsynack": 0])
        #expect(all["failure"] as? [String: Int] == ["total": 83, "timeout": 67, "reject": 12, "unreach": 4, "abort": 0])
        let handshake = try #require(all["handshake_ms"] as? [String: NSNumber])
        #expect(String(format: "%.3f", handshake["p50"]?.doubleValue ?? 0) == Self.shown(139_368))
        #expect(String(format: "%.3f", handshake["p95"]?.doubleValue ?? 0) == Self.shown(1_154_308))
        #expect(String(format: "%.3f", handshake["p99"]?.doubleValue ?? 0) == Self.shown(15_651_169))
        for (value, exact) in [(handshake["p50"], 139.368), (handshake["p95"], 1154.308), (handshake["p99"], 15651.169)] {
            #expect(abs((value?.doubleValue ?? 0) - exact) / exact < 0.01)
        }
        // p6346: successes of 26.621, 56.061, 198.088 and 400.165 ms.
        #expect(rows[1]["success"] as? [String: Int] == ["total": 4, "dupsyn": 0, "dupsynack": 0])
        #expect(rows[1]["failure"] as? [String: Int] == ["total": 4, "timeout": 4, "reject": 0, "unreach": 0, "abort": 0])
        #expect(String(format: "%.3f", (rows[1]["handshake_ms"] as? [String: NSNumber])?["p50"]?.doubleValue ?? 0) == Self.shown(56_061))

        // Whole minutes (from the rollups): minute 1 holds everything but the
        // last success (126.831784 s, 112.040 ms); without it, p50 is rank 28
        // of 55 (153.184), p95 rank 53 (1154.308), p99 rank 55 (15651.169).
        let minutes = try await query(db: db, in: folder.path, [
            "--since", "1970-01-01T00:01:00Z", "--until", "1970-01-01T00:03:00Z", "--by", "minute", "--format", "csv",
        ])
        try #require(minutes.status == 0, "\(minutes)")
        let header = "filter,from,to,success,dupsyn,dupsynack,failure,timeout,reject,unreach,abort,p50_ms,p95_ms,p99_ms"
        #expect(Self.lines(minutes.stdout) == [
            header,
            "ALL,1970-01-01T00:01:00Z,1970-01-01T00:02:00Z,55,2,0,83,67,12,4,0,\(Self.shown(153_184)),\(Self.shown(1_154_308)),\(Self.shown(15_651_169))",
            "ALL,1970-01-01T00:02:00Z,1970-01-01T00:03:00Z,1,0,0,0,0,0,0,0,\(Self.shown(112_040)),\(Self.shown(112_040)),\(Self.shown(112_040))",
            "p6346,1970-01-01T00:01:00Z,1970-01-01T00:02:00Z,4,0,0,4,4,0,0,0,\(Self.shown(56_061)),\(Self.shown(400_165)),\(Self.shown(400_165))",
            "p6346,1970-01-01T00:02:00Z,1970-01-01T00:03:00Z,0,0,0,0,0,0,0,0,,,",
        ])

        // Partial minutes at both ends (from the sessions): 90 s to 130 s.
        // 90..120 s: 31 successes (one with a retransmitted SYN; rank 16 is
        // 56.061, rank 30 334.796, rank 31 15651.169 ms), 5 timeouts and the
        // unreachable of 94.638352 s; 120..130 s: the last success.
        let window = ["--since", "1970-01-01T00:01:30Z", "--until", "1970-01-01T00:02:10Z", "--by", "minute"]
        let partialCSV = try await query(db: db, in: folder.path, window + ["--format", "csv"])
        try #require(partialCSV.status == 0, "\(partialCSV)")
        let first = "\(Self.shown(56_061)),\(Self.shown(334_796)),\(Self.shown(15_651_169))"
        let last = "\(Self.shown(112_040)),\(Self.shown(112_040)),\(Self.shown(112_040))"
        #expect(Self.lines(partialCSV.stdout) == [
            header,
            "ALL,1970-01-01T00:01:30Z,1970-01-01T00:02:00Z,31,1,0,6,5,0,1,0,\(first)",
            "ALL,1970-01-01T00:02:00Z,1970-01-01T00:02:10Z,1,0,0,0,0,0,0,0,\(last)",
            "p6346,1970-01-01T00:01:30Z,1970-01-01T00:02:00Z,1,0,0,0,0,0,0,0,\(Self.shown(56_061)),\(Self.shown(56_061)),\(Self.shown(56_061))",
            "p6346,1970-01-01T00:02:00Z,1970-01-01T00:02:10Z,0,0,0,0,0,0,0,0,,,",
        ])
        // The same window as JSON and as a table.
        let partialJSON = try await query(db: db, in: folder.path, window + ["--format", "json", "--filter", "ALL"])
        try #require(partialJSON.status == 0, "\(partialJSON)")
        let buckets = try parseJSONArray(partialJSON.stdout)
        #expect(buckets.map { $0["from"] as? String } == ["1970-01-01T00:01:30Z", "1970-01-01T00:02:00Z"])
        #expect(buckets.map { $0["to"] as? String } == ["1970-01-01T00:02:00Z", "1970-01-01T00:02:10Z"])
        #expect(buckets[0]["failure"] as? [String: Int] == ["total": 6, "timeout": 5, "reject": 0, "unreach": 1, "abort": 0])
        #expect(buckets[1]["success"] as? [String: Int] == ["total": 1, "dupsyn": 0, "dupsynack": 0])
        let table = try await query(db: db, in: folder.path, window)
        try #require(table.status == 0, "\(table)")
        let cells = Self.lines(table.stdout).map { $0.split(separator: " ").map(String.init) }
        // Two rows per filter, and under them the line of the causes counted.
        #expect(cells.count == 6, "\(table.stdout)")
        #expect(cells.last?.first == "causes", "\(table.stdout)")
        #expect(cells.first == ["FILTER", "FROM", "TO", "SUCCESS", "DUPSYN", "DUPS/A", "FAILURE", "TIMEOUT", "REJECT", "UNREACH",
                                "ABORT", "P50", "ms", "P95", "ms", "P99", "ms"])
        #expect(cells.dropFirst().first == ["ALL", "1970-01-01", "00:01:30Z", "1970-01-01", "00:02:00Z", "31", "1", "0", "6", "5", "0",
                                            "1", "0", Self.shown(56_061), Self.shown(334_796), Self.shown(15_651_169)])
        #expect(cells.dropLast().last == ["p6346", "1970-01-01", "00:02:00Z", "1970-01-01", "00:02:10Z", "0", "0", "0", "0", "0", "0", "0", "0",
                               "-", "-", "-"])

        // Over everything by minute or hour: only the minutes that exist,
        // not one row per minute since 1970.
        let allMinutes = try await query(db: db, in: folder.path, ["--since", "all", "--by", "minute", "--format", "csv", "--filter", "ALL"])
        try #require(allMinutes.status == 0, "\(allMinutes)")
        try #require(Self.lines(allMinutes.stdout).count == 3, "\(Self.lines(allMinutes.stdout).count) lines: \(allMinutes.stdout.prefix(500))")
        #expect(Self.lines(allMinutes.stdout).dropFirst().map { $0.split(separator: ",").prefix(4).joined(separator: ",") } == [
            "ALL,1970-01-01T00:01:00Z,1970-01-01T00:02:00Z,55", "ALL,1970-01-01T00:02:00Z,1970-01-01T00:03:00Z,1",
        ])
        let allHours = try await query(db: db, in: folder.path, ["--since", "all", "--by", "hour", "--format", "csv"])
        try #require(allHours.status == 0, "\(allHours)")
        try #require(Self.lines(allHours.stdout).count == 3, "\(Self.lines(allHours.stdout).count) lines: \(allHours.stdout.prefix(500))")
        #expect(Self.lines(allHours.stdout).dropFirst().map { $0.split(separator: ",").prefix(7).joined(separator: ",") } == [
            "ALL,1970-01-01T00:00:00Z,1970-01-01T01:00:00Z,56,2,0,83", "p6346,1970-01-01T00:00:00Z,1970-01-01T01:00:00Z,4,0,0,4",
        ])
    }

    @Test func sessionsAndTop() async throws {
        let folder = try TemporaryFolder("sessions")
        defer { folder.remove() }
        let db = try await Self.gnutellaDatabase(folder)

        // The four ICMP host unreachables (type 3 code 1), newest first: two
        // attempts to each of two servers, the earlier one with a SYN retransmitted.
        let unreach = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--outcome", "unreach", "--format", "csv"])
        try #require(unreach.status == 0, "\(unreach)")
        #expect(Self.lines(unreach.stdout) == [
            "started_at,duration_ms,client,client_port,server,server_port,direction,outcome,dupsyn,dupsynack,filters",
            "1970-01-01T00:01:34.638352Z,851.189,10.0.2.15,50275,122.117.100.78,9010,,unreach,0,0,ALL",
            "1970-01-01T00:01:25.608077Z,3289.329,10.0.2.15,50275,122.117.100.78,9010,,unreach,1,0,ALL",
            "1970-01-01T00:01:17.138828Z,3108.786,10.0.2.15,50231,76.68.138.207,45079,,unreach,0,0,ALL",
            "1970-01-01T00:01:08.110677Z,3105.979,10.0.2.15,50231,76.68.138.207,45079,,unreach,1,0,ALL",
        ])

        // Two attempts to 14.200.255.229, both successful.
        let server = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--server", "14.200.255.229", "--format", "json"])
        try #require(server.status == 0, "\(server)")
        let serverRows = try parseJSONArray(server.stdout)
        #expect(serverRows.map { $0["server_port"] as? Int } == [45710, 37058])
        #expect(serverRows.map { $0["started_at"] as? String } == ["1970-01-01T00:01:30.741572Z", "1970-01-01T00:01:30.740151Z"])
        #expect(serverRows.map { ($0["duration_ms"] as? NSNumber)?.doubleValue } == [334.428, 334.796])
        #expect(serverRows.allSatisfy { $0["outcome"] as? String == "success" && $0["client"] as? String == "10.0.2.15" })
        #expect(serverRows.allSatisfy { $0["direction"] is NSNull && $0["filters"] as? [String] == ["ALL"] })

        // Port 6346: four timeouts, the two newest with --limit 2; each
        // counted by both filters and with two retransmitted SYNs.
        let port = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--port", "6346", "--outcome", "timeout",
                                                             "--limit", "2", "--format", "json"])
        try #require(port.status == 0, "\(port)")
        let portRows = try parseJSONArray(port.stdout)
        #expect(portRows.map { $0["started_at"] as? String } == ["1970-01-01T00:01:10.172361Z", "1970-01-01T00:01:07.094863Z"])
        #expect(portRows.map { $0["server"] as? String } == ["109.210.203.131", "78.125.63.97"])
        #expect(portRows.allSatisfy { Set($0["filters"] as? [String] ?? []) == ["ALL", "p6346"] && $0["dupsyn"] as? Int == 2 })
        let allPort = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--port", "6346", "--format", "csv"])
        #expect(Self.lines(allPort.stdout).count == 1 + 8)

        // The client's three newest attempts, as a table.
        let client = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--client", "10.0.2.15", "--limit", "3"])
        try #require(client.status == 0, "\(client)")
        let clientCells = Self.lines(client.stdout).map { $0.split(separator: " ").map(String.init) }
        #expect(clientCells.first == ["STARTED", "TIME", "ms", "CLIENT", "SERVER", "DIR", "OUTCOME", "DUPSYN", "DUPS/A", "FILTERS"])
        #expect(clientCells.dropFirst().map { $0.count > 3 ? $0[3] : "" } == ["10.0.2.15:50330", "10.0.2.15:50328", "10.0.2.15:50327"])
        #expect(clientCells.dropFirst().first == ["1970-01-01", "00:02:06Z", "112.040", "10.0.2.15:50330", "69.118.162.229:46906", "-",
                                                  "success", "0", "0", "ALL"])
        let nobody = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--client", "192.0.2.99", "--format", "json"])
        #expect(nobody.status == 0 && nobody.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(nobody)")

        // --top: two servers have two unreachables each (ICMP host
        // unreachable, SYNs more than 3 s apart: two attempts), one two
        // timeouts (ties in text order; the five servers refusing a Windows
        // connect() three times are one reject each), port 6346 has four
        // timeouts, and the one client all 83 failures.
        let topServer = try await query(db: db, in: folder.path, ["--since", "all", "--top", "server", "--limit", "3", "--format", "csv"])
        try #require(topServer.status == 0, "\(topServer)")
        #expect(Self.lines(topServer.stdout) == [
            "server,failures,timeout,reject,unreach,abort,attempts",
            "122.117.100.78,2,0,0,2,0,2", "76.68.138.207,2,0,0,2,0,2", "95.10.205.67,2,2,0,0,0,2",
        ])
        let topPort = try await query(db: db, in: folder.path, ["--since", "all", "--top", "port", "--limit", "2", "--format", "json"])
        try #require(topPort.status == 0, "\(topPort)")
        let ports = try parseJSONArray(topPort.stdout)
        #expect(ports.map { $0["port"] as? String } == ["6346", "45079"])
        #expect(ports.first?["failures"] as? Int == 4 && ports.first?["timeout"] as? Int == 4 && ports.first?["attempts"] as? Int == 8)
        let topClient = try await query(db: db, in: folder.path, ["--since", "all", "--top", "client"])
        try #require(topClient.status == 0, "\(topClient)")
        #expect(Self.lines(topClient.stdout).map { $0.split(separator: " ").map(String.init) } == [
            ["CLIENT", "FAILURES", "TIMEOUT", "REJECT", "UNREACH", "ABORT", "ATTEMPTS"],
            ["10.0.2.15", "83", "67", "12", "4", "0", "139"],
        ])
        let topFiltered = try await query(db: db, in: folder.path, ["--since", "all", "--top", "server", "--filter", "p6346",
                                                                    "--limit", "1", "--format", "csv"])
        #expect(Self.lines(topFiltered.stdout) == ["server,failures,timeout,reject,unreach,abort,attempts", "109.210.203.131,1,1,0,0,0,1"])
    }

    @Test func mistakesGetAClearMessage() async throws {
        let folder = try TemporaryFolder("mistakes")
        defer { folder.remove() }
        let db = try await Self.gnutellaDatabase(folder)

        let unknown = try await query(db: db, in: folder.path, ["--since", "all", "--filter", "http-rx"])
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stderr.contains("no filter named 'http-rx' in the database; known filters: ALL, p6346"), "\(unknown)")
        #expect(unknown.stdout.isEmpty)

        let missing = folder.file("nowhere/none.db")
        let absent = try await query(db: missing, in: folder.path, ["--since", "all"])
        #expect(absent.status == 1, "\(absent)")
        #expect(absent.stderr.contains("no database at '\(missing)'"), "\(absent)")
        #expect(!FileManager.default.fileExists(atPath: missing) && !FileManager.default.fileExists(atPath: folder.file("nowhere")),
                "a query must not create anything")

        for (arguments, words) in [(["--since", "yesterday"], "cannot read the time 'yesterday'"),
                                   (["--since=-5m"], "cannot read the time '-5m'"),
                                   (["--since", "1h", "--until", "2h"], "--until must be after --since"),
                                   (["--since", "1h", "--by", "week"], "week")] {
            let result = try await query(db: db, in: folder.path, arguments)
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains(words), "\(arguments): \(result)")
        }
        // The time forms that are accepted.
        for since in ["90s", "15m", "1h", "2d", "2026-11-27T10:00:00Z", "1970-01-01 00:01", "all"] {
            let result = try await query(db: db, in: folder.path, ["--since", since, "--format", "csv"])
            #expect(result.status == 0, "--since \(since): \(result)")
        }
    }

    @Test func queriesWorkWhileRecordingWritesTheSameFile() async throws {
        let tcpeek = try StorePaths.requireTCPeek()
        let folder = try TemporaryFolder("concurrent")
        defer { folder.remove() }
        let capture = folder.file("big.pcap")
        let expected = try await synthesize(capture, in: folder.path, ["--mode", "mix", "--attempts", "50000", "--duration", "300",
                                                                       "--snaplen", "128"])
        // The capture reaches the recorder through a FIFO, a fifth at a time, so
        // the recorder is still writing while each round of queries runs, however
        // fast or loaded the machine is.
        let fifo = try CaptureFIFO(capture: capture, at: folder.file("capture.fifo"))
        let db = folder.file("shared.db")
        let recorder = try Child([tcpeek, "record", "-q", "-r", fifo.path, "--db", db, "--batch-size", "100", "--batch-ms", "20",
                                  "--json-summary"], outputIn: folder.path)
        defer { if recorder.isRunning { recorder.signal(SIGKILL) } }
        let rounds = 5

        var duringRecording = 0
        var lastTotal = 0
        var failures: [String] = []
        for round in 0..<rounds {
            try fifo.feed(upTo: Double(round + 1) / Double(rounds + 1))
            if round == 0 {
                let ready = await recorder.wait(timeout: 30) { FileManager.default.fileExists(atPath: db + "-wal") }
                try #require(ready, "\(recorder.transcript)")
            }
            for arguments in [["--since", "all", "--by", "minute", "--format", "json"],
                              ["--since", "all", "--sessions", "--limit", "5", "--format", "json"],
                              ["--since", "all", "--top", "server", "--format", "csv"]] {
                let result = try await query(db: db, in: folder.path, arguments)
                guard result.status == 0 else {
                    failures.append("\(result)")
                    continue
                }
                if arguments.contains("minute") {
                    let rows = try parseJSONArray(result.stdout)
                    let total = rows.reduce(0) { sum, row in
                        sum + ((row["success"] as? [String: Int])?["total"] ?? 0) + ((row["failure"] as? [String: Int])?["total"] ?? 0)
                    }
                    #expect(total >= lastTotal, "the totals went back")
                    lastTotal = total
                }
            }
            if recorder.isRunning { duringRecording += 1 }
        }
        try fifo.feed(upTo: 1)
        fifo.finish()
        try #require(await recorder.waitForExit(timeout: 60), "\(recorder.transcript)")
        #expect(failures.isEmpty, "\(failures.prefix(3).joined(separator: "\n"))")
        #expect(duringRecording == rounds, "only \(duringRecording) rounds of queries ran while recording")
        #expect(recorder.status == 0, "\(recorder.transcript)")

        let final = try await query(db: db, in: folder.path, ["--since", "all", "--format", "json"])
        let row = try #require(try parseJSONArray(final.stdout).first)
        let all = try #require(try parseSummary(recorder.stdout)["ALL"])
        #expect((row["success"] as? [String: Int])?["total"] == all.success)
        #expect((row["failure"] as? [String: Int])?["total"] == all.failure)
        #expect(Double(all.total) == expected["attempts"])
        try inspect(db) { (db) throws in #expect(try rollupInconsistencies(db).isEmpty) }
    }
}

