// WINDOW and QUERY in process against a real history database written by
// the real Recorder: older sessions from the database, the newest from the
// in-memory ring (those not written yet included), nothing counted twice.
import Foundation
import TCPeekCore
import TCPeekServer
import TCPeekStore
import TCPeekWire
import Testing

@Suite("socket WINDOW and QUERY against known data")
struct SocketWindowTests {
    /// Writes `sessions` as one run of `filters` into the database at `path`.
    private func record(_ sessions: [Session], filters: [Filter], into path: String) throws {
        let database = try HistoryDatabase.openForRecording(path: path)
        defer { database.close() }
        let run = RunInfo(startedAt: Date().timeIntervalSince1970, sourceKind: "interface", source: "test", filters: filters,
                          host: nil, version: "0.1.0", libpcap: nil)
        let recorder = try Recorder(database: database, run: run, options: RecorderOptions(), logger: socketQuietLogger)
        recorder.start()
        recorder.queue.push(sessions, waitWhenFull: true)
        recorder.queue.close()
        recorder.finish(RunEnd(endedAt: Date().timeIntervalSince1970, capture: nil, evicted: 0, stillOpen: 0))
        #expect(recorder.recorded == UInt64(sessions.count))
    }

    private func rows(_ answer: String) throws -> [String: [String: Any]] {
        let elements = try #require(try socketJSON(answer) as? [[String: Any]], "answer: \(answer)")
        var rows: [String: [String: Any]] = [:]
        for element in elements { rows[element["filter"] as? String ?? "?"] = element }
        return rows
    }

    private func counts(_ row: [String: Any]?) -> [String: Int] {
        var result: [String: Int] = [:]
        for section in ["success", "failure"] {
            for (key, value) in row?[section] as? [String: Int] ?? [:] { result["\(section).\(key)"] = value }
        }
        return result
    }

    private func counts(_ row: AggregateRow?) -> [String: Int] {
        let c = row?.counters ?? FilterCounters()
        return ["success.total": Int(c.success), "success.dupsyn": Int(c.successWithDupSYN),
                "success.dupsynack": Int(c.successWithDupSYNACK), "failure.total": Int(c.failure),
                "failure.timeout": Int(c.timeout), "failure.reject": Int(c.reject), "failure.unreach": Int(c.unreach),
                "failure.abort": Int(c.abort)]
    }

    private func causes(_ row: [String: Any]?) -> [String: Int] {
        row?["causes"] as? [String: Int] ?? [:]
    }

    private func causes(_ row: AggregateRow?) -> [String: Int] {
        var result: [String: Int] = [:]
        for (key, count) in row?.causes.counts ?? [:] { result[key.cause.description, default: 0] += Int(count) }
        return result
    }

    private func percentiles(_ row: [String: Any]?) -> [Double?] {
        let times = row?["handshake_ms"] as? [String: Any] ?? [:]
        return ["p50", "p95", "p99"].map { (times[$0] as? NSNumber)?.doubleValue }
    }

    private func percentiles(_ row: AggregateRow?) -> [Double?] {
        // Rounded as the JSON prints them.
        [row?.p50, row?.p95, row?.p99].map { value in value.map { (($0 * 1000).rounded()) / 1000 } }
    }

    @Test("WINDOW: the database before the ring's coverage, the ring after it, unwritten sessions included, none twice")
    func windowJoinsDatabaseAndMemory() async throws {
        let folder = try SocketTempFolder()
        let live = folder.file("live.db"), reference = folder.file("reference.db")
        let capture = try SocketFakeCapture(filterNames: ["RX", "web"], databasePath: live)
        let now = Date().timeIntervalSince1970
        func at(_ seconds: Double) -> Timestamp { Timestamp(microseconds: Int64(seconds * 1_000_000)) }
        // A previous run, in the database only, all of it 15 minutes or more ago.
        let previous = [
            socketSession(.success, at: at(now - 2400), ms: 12, mask: 0b11),
            socketSession(.success, at: at(now - 1800), ms: 30, mask: 0b01, dupSYN: 2),
            socketSession(.reject, at: at(now - 1200), mask: 0b11),
            socketSession(.timeout, at: at(now - 1000), ms: 60_000, mask: 0b01),
            socketSession(.unreach, at: at(now - 950), mask: 0b10),
            socketSession(.success, at: at(now - 900), ms: 8, mask: 0b10, dupSYNACK: 1),
        ]
        try record(previous, filters: capture.filters, into: live)

        let server = try socketStart(capture, path: folder.file("s.sock")) { $0.recent = SocketRecentSessions(capacity: 3) }
        defer { server.stop() }
        let start = server.responder.startedAt
        func later(_ milliseconds: Int64) -> Timestamp { Timestamp(microseconds: start.microseconds + milliseconds * 1000) }
        // This run, in closing order: the first five reach the database and
        // leave the ring; the last three are only in the ring (not written yet).
        func caused(_ session: Session, _ cause: Cause) -> Session {
            var session = session
            session.cause = Causes(cause)
            return session
        }
        let current = [
            socketSession(.success, at: later(1), ms: 20, mask: 0b11),
            caused(socketSession(.reject, at: later(2), mask: 0b01), .closedPort),
            caused(socketSession(.success, at: later(3), ms: 40, mask: 0b11, dupSYN: 1), .afterRetries),
            caused(socketSession(.abort, at: later(4), mask: 0b10), .clientGaveUp),
            socketSession(.success, at: later(5), ms: 5, mask: 0b01),
            caused(socketSession(.timeout, at: later(6), ms: 3000, mask: 0b11), .droppedWhileServing),
            caused(socketSession(.success, at: later(7), ms: 90, mask: 0b10), .inferred),
            caused(socketSession(.unreach, at: later(8), mask: 0b01), .filtered),
        ]
        try record(Array(current.prefix(5)), filters: capture.filters, into: live)
        try #require(server.feed).push(current, waitWhenFull: true)
        try record(previous + current, filters: capture.filters, into: reference)
        try await Task.sleep(for: .milliseconds(50))  // the window must end after the last start

        let referenceDatabase = try HistoryDatabase.openForReading(path: reference)
        defer { referenceDatabase.close() }
        let expected = try HistoryQuery.aggregate(referenceDatabase, since: 0, until: now + 60, filters: ["RX", "web"], by: .total)
        func expectedRow(_ name: String) -> AggregateRow? { expected.first { $0.filter == name } }

        var answer = try rows(try await socketAskAsync(server.path, "WINDOW 1h"))
        for _ in 0..<100 where counts(answer["web"]) != counts(expectedRow("web")) {  // the feed thread may lag a moment
            try await Task.sleep(for: .milliseconds(20))
            answer = try rows(try await socketAskAsync(server.path, "WINDOW 1h"))
        }
        for name in ["RX", "web"] {
            #expect(counts(answer[name]) == counts(expectedRow(name)), "\(name)")
            // Causes too: the unwritten sessions' from the ring.
            #expect(causes(answer[name]) == causes(expectedRow(name)), "\(name)")
        }
        #expect(causes(answer["RX"])["filtered"] == 1 && causes(answer["web"])["inferred"] == 1)
        // RX's successes are all in the database part: its percentiles are exact.
        #expect(percentiles(answer["RX"]) == percentiles(expectedRow("RX")))
        // web has successes on both sides, one of them not written yet: the
        // two parts' handshake histograms add up, so its percentiles are
        // exact too (the database alone would lack the unwritten one).
        let liveDatabase = try HistoryDatabase.openForReading(path: live)
        defer { liveDatabase.close() }
        let written = try HistoryQuery.aggregate(liveDatabase, since: now - 3600, until: now + 60, filters: ["web"], by: .total)
        #expect(percentiles(written.first) != percentiles(expectedRow("web")), "the case must tell the two apart")
        #expect(percentiles(answer["web"]) == percentiles(expectedRow("web")))
        #expect(answer["RX"]?["from"] as? String != nil)

        // Once the last three are written too, nothing counts twice and the
        // percentiles are exact everywhere.
        try record(Array(current.suffix(3)), filters: capture.filters, into: live)
        let after = try rows(try await socketAskAsync(server.path, "WINDOW 1h"))
        for name in ["RX", "web"] {
            #expect(counts(after[name]) == counts(expectedRow(name)), "\(name)")
            #expect(percentiles(after[name]) == percentiles(expectedRow(name)), "\(name)")
        }
        // A window that starts after the previous run sees this run only
        // (10 minutes: this test may run that slowly under a sanitizer).
        let recent = try rows(try await socketAskAsync(server.path, "WINDOW 10m"))
        #expect(counts(recent["RX"])["success.total"] == 3)  // this run's three; the previous run is older
        #expect(counts(recent["web"])["failure.total"] == 2)
    }

    @Test("WINDOW without a database counts what memory holds and says from when")
    func windowWithoutDatabase() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["ALL"])
        let server = try socketStart(capture, path: folder.file("s.sock")) { $0.recent = SocketRecentSessions(capacity: 2) }
        defer { server.stop() }
        let start = server.responder.startedAt
        let sessions = (1...5).map { socketSession(.success, at: Timestamp(microseconds: start.microseconds + Int64($0) * 1000), ms: Double($0)) }
        try #require(server.feed).push(sessions, waitWhenFull: true)
        try await Task.sleep(for: .milliseconds(50))
        var row = try rows(try await socketAskAsync(server.path, "WINDOW 1h"))["ALL"]
        for _ in 0..<100 where counts(row)["success.total"] != 2 {
            try await Task.sleep(for: .milliseconds(20))
            row = try rows(try await socketAskAsync(server.path, "WINDOW 1h"))["ALL"]
        }
        #expect(counts(row)["success.total"] == 2)  // the ring holds the last two
        // The window starts where memory's coverage does: just after the third session's start.
        #expect(row?["from"] as? String == WireTime.text(Double(start.microseconds + 3001) / 1_000_000))
    }

    @Test("QUERY answers from the database in tcpeek query's JSON, with its errors")
    func queryAnswersFromDatabase() async throws {
        let folder = try SocketTempFolder()
        let path = folder.file("h.db")
        let capture = try SocketFakeCapture(filterNames: ["RX", "web"], databasePath: path)
        let now = (Date().timeIntervalSince1970).rounded(.down)
        func at(_ seconds: Double) -> Timestamp { Timestamp(microseconds: Int64(seconds * 1_000_000)) }
        try record([
            socketSession(.success, at: at(now - 3000), ms: 12, mask: 0b11),
            socketSession(.reject, at: at(now - 2950), mask: 0b01),
            socketSession(.success, at: at(now - 700), ms: 250, mask: 0b10),
            socketSession(.timeout, at: at(now - 30), ms: 60_000, mask: 0b11),
            socketSession(.success, at: at(now - 60 * 86400), ms: 3, mask: 0b11),
        ] + stride(from: now - 60 * 86400, to: now - 2 * 86400, by: 3600).map {
            // One an hour for 58 days, to the minute: a gap of 59 empty
            // minutes is listed, so per-minute answers are long.
            socketSession(.success, at: at(($0 / 60).rounded(.down) * 60), ms: 3, mask: 0b11)
        }, filters: capture.filters, into: path)
        let server = try socketStart(capture, path: folder.file("s.sock"))
        defer { server.stop() }
        let database = try HistoryDatabase.openForReading(path: path)
        defer { database.close() }
        let since = WireTime.text(now - 3600), until = WireTime.text(now + 60)

        let total = try await socketAskAsync(server.path, #"QUERY {"since":"\#(since)","until":"\#(until)"}"#)
        #expect(total == HistoryJSON.aggregates(try HistoryQuery.aggregate(database, since: now - 3600, until: now + 60,
                                                                          filters: nil, by: .total)) + "\n")
        let web = try await socketAskAsync(server.path, #"QUERY {"since":"\#(since)","until":"\#(until)","filter":"web","by":"minute"}"#)
        #expect(web == HistoryJSON.aggregates(try HistoryQuery.aggregate(database, since: now - 3600, until: now + 60,
                                                                        filters: ["web"], by: .minute)) + "\n")
        let both = try rows(try await socketAskAsync(server.path, #"QUERY {"since":"1h","filter":["RX","web"]}"#))
        #expect(counts(both["RX"])["success.total"] == 1 && counts(both["RX"])["failure.reject"] == 1)
        #expect(counts(both["web"])["success.total"] == 2 && counts(both["web"])["failure.timeout"] == 1)

        let unknown = try await socketAskAsync(server.path, #"QUERY {"since":"1h","filter":["web","nope"]}"#)
        #expect(socketError(unknown) == "QUERY: no filter named 'nope' in the database; known filters: RX, web")
        let backwards = try await socketAskAsync(server.path, #"QUERY {"since":"1h","until":"2h"}"#)
        #expect(socketError(backwards) == "QUERY: 'until' must be after 'since'")
        // 2 filters x about 83,510 minutes (58 days and the last hour): more
        // rows than a socket answer may hold. Counting them takes a while
        // under a sanitizer with every suite running.
        let huge = try await socketAskAsync(server.path, #"QUERY {"since":"61d","by":"minute"}"#, timeout: 60)
        #expect(socketError(huge)?.hasPrefix("QUERY: the answer would hold 1670") == true, "\(huge.prefix(300))")
        let daily = try rows(try await socketAskAsync(server.path, #"QUERY {"since":"61d","by":"day","filter":"web"}"#))
        #expect(daily.count == 1)  // one filter (rows keyed by filter)
        let badTime = try await socketAskAsync(server.path, #"QUERY {"since":"yesterday"}"#)
        #expect(socketError(badTime)?.hasPrefix("QUERY: cannot read the time 'yesterday'") == true)
    }
}
