// The socket protocol's plain values: request parsing, the line reader,
// and the in-memory ring of recent sessions.
import NIOCore
import TCPeekCore
import TCPeekServer
import TCPeekStore
import Testing

@Suite("socket requests, line reader and recent-session ring")
struct SocketRequestTests {
    @Test("requests are read with their arguments", arguments: [
        ("GET", SocketRequest.get),
        ("GET\r", .get),
        ("get", .get),
        ("  REFRESH  ", .refresh),
        ("FILTERS", .filters),
        ("HELP", .help),
        ("STATUS", .status),
        ("status\r", .status),
        ("\tStatus  ", .status),
        ("WINDOW 5m", .window(seconds: 300)),
        ("window 90s\r", .window(seconds: 90)),
        ("WINDOW 1.5h", .window(seconds: 5400)),
        ("WINDOW 2d", .window(seconds: 172_800)),
        ("QUERY {}", .query(SocketQuery())),
        (#"QUERY {"since":"2h","until":"30m","filter":"web","by":"minute"}"#,
         .query(SocketQuery(since: "2h", until: "30m", filters: ["web"], by: .minute))),
        (#"QUERY {"filter":["RX","TX"],"by":"day"}"#, .query(SocketQuery(filters: ["RX", "TX"], by: .day))),
        (#"QUERY {"since":"all","until":null,"filter":null}"#, .query(SocketQuery(since: "all"))),
    ])
    func parsesRequests(line: String, expected: SocketRequest) throws {
        #expect(try SocketRequest.parse(line) == expected)
    }

    @Test("bad requests are refused with a message naming the problem", arguments: [
        ("", "empty request"),
        ("\r", "empty request"),
        ("GETX", "unknown request 'GETX'"),
        ("GET extra", "GET takes no argument"),
        ("STATUS all", "STATUS takes no argument, got 'all'"),
        ("STATUS {}", "STATUS takes no argument"),
        ("STATUSES", "unknown request 'STATUSES'"),
        ("DELETE everything", "unknown request 'DELETE'"),
        ("WINDOW", "WINDOW needs a duration"),
        ("WINDOW 5", "cannot read the duration '5'"),
        ("WINDOW 5x", "cannot read the duration '5x'"),
        ("WINDOW -5m", "cannot read the duration '-5m'"),
        ("WINDOW 0s", "cannot read the duration '0s'"),
        ("QUERY", "QUERY needs a JSON object"),
        ("QUERY {", "not valid JSON"),
        ("QUERY [1,2]", "expected a JSON object"),
        (#"QUERY {"sinse":"1h"}"#, "unknown field 'sinse'"),
        (#"QUERY {"since":3600}"#, "'since' must be a string"),
        (#"QUERY {"filter":[1]}"#, "'filter' must be a name or a list of names"),
        (#"QUERY {"by":"week"}"#, "'by' must be minute, hour, day or total, not 'week'"),
        ("\u{FFFD}\u{FFFD}", "unknown request"),
    ])
    func refusesBadRequests(line: String, message: String) {
        #expect {
            try SocketRequest.parse(line)
        } throws: { error in
            (error as? SocketRequestError)?.description.contains(message) == true
        }
    }

    @Test("HELP's list names STATUS, before HELP")
    func helpListsStatus() {
        let names = SocketRequest.descriptions.map { $0.request.split(separator: " ").first.map(String.init) ?? "" }
        #expect(names == ["GET", "REFRESH", "WINDOW", "QUERY", "FILTERS", "STATUS", "HELP"])
        let status = SocketRequest.descriptions.first { $0.request == "STATUS" }?.answer ?? ""
        #expect(status.contains("evicted") && status.contains("--max-pending"), "\(status)")
    }

    @Test("a very long unknown verb is quoted shortened")
    func longVerbIsShortened() {
        let verb = String(repeating: "A", count: 500)
        #expect {
            try SocketRequest.parse(verb)
        } throws: { error in
            let text = (error as? SocketRequestError)?.description ?? ""
            return text.count < 150 && text.contains("AAA...")
        }
    }

    // MARK: Line reader

    private func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test("the line reader joins pieces and stops at the first line end")
    func lineReaderJoinsPieces() {
        var reader = SocketLineReader()
        #expect(reader.received(buffer("WIN")) == .needMore)
        #expect(reader.received(buffer("DOW 5")) == .needMore)
        #expect(reader.received(buffer("m\r\nGET\n")) == .line("WINDOW 5m\r"))
        #expect(reader.received(buffer("more\n")) == .needMore)  // one request per connection
    }

    @Test("a line of exactly the limit is taken; one byte more is too long")
    func lineReaderLimit() {
        var exact = SocketLineReader(limit: 16)
        #expect(exact.received(buffer(String(repeating: "x", count: 15) + "\n")) == .line(String(repeating: "x", count: 15)))
        var over = SocketLineReader(limit: 16)
        #expect(over.received(buffer(String(repeating: "x", count: 16) + "\n")) == .tooLong)
        var unended = SocketLineReader(limit: 16)
        #expect(unended.received(buffer(String(repeating: "x", count: 10))) == .needMore)
        #expect(unended.received(buffer(String(repeating: "x", count: 6))) == .tooLong)
        #expect(SocketRequest.maximumLineLength == 4096)
    }

    @Test("closing the write side sends what came without a line end")
    func lineReaderInputClosed() {
        var partial = SocketLineReader()
        #expect(partial.received(buffer("GET")) == .needMore)
        #expect(partial.inputClosed() == .line("GET"))
        var silent = SocketLineReader()
        #expect(silent.inputClosed() == .nothing)
    }

    // MARK: Ring

    private func session(at seconds: Int64, _ outcome: Outcome, ms: Int64 = 10, filters: UInt64 = 0b1, dupSYN: UInt32 = 0) -> Session {
        Session(client: .zero, server: .zero, clientPort: 1, serverPort: 80,
                startedAt: Timestamp(seconds: 1_000_000 + seconds), duration: .init(microseconds: ms * 1000),
                outcome: outcome, dupSYN: dupSYN, filters: FilterMask(rawValue: filters))
    }

    @Test("the ring counts by start time, per filter bit, with the rollups' percentiles")
    func ringAggregates() {
        var ring = SocketRecentSessions(capacity: 100, maximumAge: .seconds(3600))
        ring.append(contentsOf: [
            session(at: 0, .success, ms: 5, filters: 0b11, dupSYN: 1),
            session(at: 10, .success, ms: 50, filters: 0b01),
            session(at: 20, .reject, filters: 0b10),
            session(at: 30, .unreach, filters: 0b11),
            session(at: 40, .abort, filters: 0b01),
            session(at: 50, .timeout, ms: 60_000, filters: 0b100),  // bit 2: beyond filterCount 2, ignored
        ])
        let all = ring.aggregate(filterCount: 2, from: Timestamp(seconds: 1_000_000), until: Timestamp(seconds: 1_000_060))
        #expect(all[0].counters.success == 2)
        #expect(all[0].counters.successWithDupSYN == 1)
        #expect(all[0].counters.unreach == 1)
        #expect(all[0].counters.abort == 1)
        #expect(all[0].counters.reject == 0)
        #expect(all[1].counters.success == 1)
        #expect(all[1].counters.reject == 1)
        #expect(all[1].counters.timeout == 0)
        var expected = HandshakeTimes()
        expected.add(.init(microseconds: 5000))
        expected.add(.init(microseconds: 50_000))
        #expect(all[0].handshakes.quantile(0.5) == expected.quantile(0.5))
        #expect(all[0].handshakes.quantile(0.99) == expected.quantile(0.99))
        // [from, until): the session at exactly `until` is out, the one at `from` in.
        let part = ring.aggregate(filterCount: 2, from: Timestamp(seconds: 1_000_010), until: Timestamp(seconds: 1_000_030))
        #expect(part[0].counters.total == 1)
        #expect(part[1].counters.total == 1)
        #expect(ring.coveredFrom == Timestamp(microseconds: .min))
    }

    @Test("evicting by count moves the coverage past the evicted session's start")
    func ringEvictsByCount() {
        var ring = SocketRecentSessions(capacity: 3, maximumAge: .seconds(3600))
        ring.append(contentsOf: [session(at: 5, .success), session(at: 1, .timeout), session(at: 7, .reject)])
        #expect(ring.count == 3)
        ring.append(contentsOf: [session(at: 8, .success)])
        #expect(ring.count == 3)
        #expect(ring.coveredFrom == Timestamp(seconds: 1_000_005, microseconds: 1))
        ring.append(contentsOf: [session(at: 9, .success), session(at: 10, .success)])
        // Evicted: 5, 1, 7 (in closing order); the coverage never goes back.
        #expect(ring.coveredFrom == Timestamp(seconds: 1_000_007, microseconds: 1))
        let kept = ring.aggregate(filterCount: 1, from: Timestamp(seconds: 0), until: Timestamp(seconds: 2_000_000))
        #expect(kept[0].counters.success == 3)
        #expect(kept[0].counters.reject == 0)
    }

    @Test("evicting by age drops what closed more than the maximum age before the newest")
    func ringEvictsByAge() {
        var ring = SocketRecentSessions(capacity: 100, maximumAge: .seconds(60))
        ring.append(contentsOf: [session(at: 0, .success), session(at: 30, .success), session(at: 80, .reject)])
        // Closed at 0.01 s and 30.01 s; the newest closed at 80.01 s: only the first is over 60 s older.
        #expect(ring.count == 2)
        #expect(ring.coveredFrom == Timestamp(seconds: 1_000_000, microseconds: 1))
        // A timeout started at 40 s closes at 110 s: it stays, and the one
        // closed at 30.01 s is now too old.
        ring.append(contentsOf: [session(at: 40, .timeout, ms: 70_000)])
        #expect(ring.count == 2)
        #expect(ring.coveredFrom == Timestamp(seconds: 1_000_030, microseconds: 1))
    }

    @Test("sessions lost on the way make the ring answer only for what starts after them")
    func ringAfterLostSessions() {
        var ring = SocketRecentSessions(capacity: 100)
        ring.append(contentsOf: [session(at: 0, .success), session(at: 10, .reject, ms: 5000)])
        ring.lostSessions(closedBy: Timestamp(seconds: 1_000_012))
        #expect(ring.coveredFrom == Timestamp(seconds: 1_000_015, microseconds: 1))  // the newest close, 15 s
        ring.lostSessions(closedBy: Timestamp(seconds: 1_000_020))
        #expect(ring.coveredFrom == Timestamp(seconds: 1_000_020, microseconds: 1))
    }
}

