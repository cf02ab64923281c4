// Every shape of the socket, `tcpeek query`, `--json-summary` and
// `--json-lines`: the documented examples (README.md, SPEC.md) read into the
// wire types and write back byte for byte, and values make the round trip.
import Foundation
import TCPeekCore
import Testing
import TCPeekWire

@Suite("wire answer shapes")
struct AnswerShapeTests {
    /// Reads `text` as `Answer` and checks that it writes back the same bytes.
    @discardableResult
    private func readsAndWritesBack<Answer: Codable & Equatable>(_ type: Answer.Type, _ text: String) throws -> Answer {
        let answer = try WireJSON.decode(type, from: text)
        #expect(WireJSON.text(answer) == text)
        #expect(try WireJSON.decode(type, from: WireJSON.text(answer)) == answer)
        return answer
    }

    @Test("GET (README's --json-summary example, TX filled in) and REFRESH")
    func counts() throws {
        let get = try readsAndWritesBack(CountsAnswer.self,
            #"[{"RX":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":10,"timeout":0,"reject":10,"unreach":0,"abort":0}}},"#
            + #"{"TX":{"success":{"total":3,"dupsyn":1,"dupsynack":2},"failure":{"total":0,"timeout":0,"reject":0,"unreach":0,"abort":0}}},"#
            + #"{"pcap":{"stats":{"recv":1234,"drop":0,"ifdrop":0}}}]"#)
        #expect(get.filters.map(\.name) == ["RX", "TX"])
        #expect(get.filters[0].failure == FailureCounts(total: 10, timeout: 0, reject: 10, unreach: 0, abort: 0))
        #expect(get.filters[1].success == SuccessCounts(total: 3, dupsyn: 1, dupsynack: 2))
        #expect(get.pcap == PcapStats(recv: 1234, drop: 0, ifdrop: 0))
        let refresh = try readsAndWritesBack(CountsAnswer.self,
            #"[{"ALL":{"success":{"total":1,"dupsyn":0,"dupsynack":1},"failure":{"total":4,"timeout":1,"reject":3}}}]"#)
        #expect(refresh.filters[0].failure.unreach == nil && refresh.pcap == nil)
        try readsAndWritesBack(CountsAnswer.self, "[]")
    }

    @Test("a filter named pcap is a filter; libpcap's element is the one with stats")
    func filterNamedPcap() throws {
        let answer = try readsAndWritesBack(CountsAnswer.self,
            #"[{"pcap":{"success":{"total":1,"dupsyn":0,"dupsynack":0},"failure":{"total":0,"timeout":0,"reject":0}}},"#
            + #"{"pcap":{"stats":{"recv":5,"drop":1,"ifdrop":2}}}]"#)
        #expect(answer.filters.map(\.name) == ["pcap"])
        #expect(answer.pcap == PcapStats(recv: 5, drop: 1, ifdrop: 2))
    }

    @Test("GET and REFRESH are built from the counters", arguments: [true, false])
    func countsFromCounters(withCapture: Bool) throws {
        let filters = [Filter(name: "RX", direction: .rx, rules: [.any], expression: "RX:RX@*:*"),
                       Filter(name: "a/\"b", direction: .any, rules: [.any], expression: "a/\"b:ANY@*:*")]
        var counters = Counters(filterCount: 2)
        let outcomes: [(Outcome, UInt64)] = [(.success, 0b01), (.success, 0b11), (.timeout, 0b10), (.unreach, 0b01), (.abort, 0b11)]
        for (port, (outcome, mask)) in outcomes.enumerated() {
            counters.record(Session(client: .zero, server: .zero, clientPort: UInt16(port), serverPort: 80,
                                    startedAt: Timestamp(seconds: 1), duration: .init(microseconds: 10), outcome: outcome,
                                    dupSYN: port == 1 ? 1 : 0, filters: FilterMask(rawValue: mask)))
        }
        let capture = withCapture ? CaptureStatistics(received: 7, dropped: 1, interfaceDropped: 0) : nil
        let get = CountsAnswer(filters: filters, counters: counters, capture: capture)
        #expect(get.filters[0].success == SuccessCounts(total: 2, dupsyn: 1, dupsynack: 0))
        #expect(get.filters[0].failure == FailureCounts(total: 2, timeout: 0, reject: 0, unreach: 1, abort: 1))
        #expect(get.filters[1].failure == FailureCounts(total: 2, timeout: 1, reject: 0, unreach: 0, abort: 1))
        #expect(get.pcap == capture.map(PcapStats.init))
        #expect(try WireJSON.decode(CountsAnswer.self, from: CountsAnswer.getJSON(filters: filters, counters: counters, capture: capture)) == get)
        let refresh = CountsAnswer(filters: filters, refreshDeltas: counters.perFilter)
        #expect(refresh.filters[0].failure == FailureCounts(total: 2, timeout: 0, reject: 2))
        #expect(try WireJSON.decode(CountsAnswer.self, from: CountsAnswer.refreshJSON(filters: filters, deltas: counters.perFilter)) == refresh)
    }

    @Test("WINDOW, QUERY and tcpeek query --format json")
    func aggregates() throws {
        let rows = try readsAndWritesBack([AggregateAnswer].self,
            #"[{"filter":"RX","from":"2026-11-27T10:00:00Z","to":"2026-11-27T11:00:00Z","#
            + #""success":{"total":5,"dupsyn":1,"dupsynack":0},"failure":{"total":2,"timeout":1,"reject":1,"unreach":0,"abort":0},"#
            + #""handshake_ms":{"p50":1.250,"p95":10.000,"p99":null},"causes":{"no-answer":1,"after-retries":1}}]"#)
        #expect(rows[0].handshakeMilliseconds.p50 == WireMilliseconds(thousandths: 1250))
        #expect(rows[0].handshakeMilliseconds.p99 == nil)
        #expect(rows[0].causes == CausesAnswer([("no-answer", 1), ("after-retries", 1)]))
        // An answer without causes (`{}`), and one from a tcpeek before them,
        // which has no key: read as none.
        try readsAndWritesBack(AggregateAnswer.self,
            #"{"filter":"RX","from":"2026-11-27T10:00:00Z","to":"2026-11-27T11:00:00Z","#
            + #""success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":0,"timeout":0,"reject":0,"unreach":0,"abort":0},"#
            + #""handshake_ms":{"p50":null,"p95":null,"p99":null},"causes":{}}"#)
        let older = try WireJSON.decode(AggregateAnswer.self, from:
            #"{"filter":"RX","from":"2026-11-27T10:00:00Z","to":"2026-11-27T11:00:00Z","#
            + #""success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":0,"timeout":0,"reject":0,"unreach":0,"abort":0},"#
            + #""handshake_ms":{"p50":null,"p95":null,"p99":null}}"#)
        #expect(older.causes == CausesAnswer())
    }

    @Test("STATUS (the README's example, figures filled in), with and without a database and libpcap")
    func status() throws {
        let status = try readsAndWritesBack(StatusAnswer.self,
            #"{"source":{"kind":"interface","name":"eth0"},"started":"2026-11-27T10:00:00.123456Z","first_packet":null,"#
            + #""last_packet":null,"packets":0,"attempts":{"open":0,"evicted":0,"malformed_packets":0,"not_recorded":null},"#
            + #""pcap":null,"version":"0.1.0","libpcap":"libpcap version 1.10.3"}"#)
        #expect(status.attempts.notRecorded == nil && status.pcap == nil && status.firstPacket == nil)
        let full = try readsAndWritesBack(StatusAnswer.self,
            #"{"source":{"kind":"file","name":"trace.pcap"},"started":"2026-11-27T10:00:00Z","first_packet":"2012-07-02T16:48:33Z","#
            + #""last_packet":"2012-07-02T16:49:59.5Z","packets":1234,"attempts":{"open":3,"evicted":2,"malformed_packets":1,"not_recorded":4},"#
            + #""pcap":{"recv":1234,"drop":5,"ifdrop":6},"version":"0.1.0","libpcap":"libpcap version 1.10.3"}"#)
        #expect(full.attempts == StatusAnswer.Attempts(open: 3, evicted: 2, malformedPackets: 1, notRecorded: 4))
    }

    @Test("FILTERS, HELP and errors")
    func smallAnswers() throws {
        let filters = FiltersAnswer(filters: [try Filter.parse("web:RX@198.51.100.0/24:80,*:443")], exclusions: [])
        let text = WireJSON.text(filters)
        #expect(text.hasPrefix(#"{"filters":[{"name":"web","direction":"RX","rules":["#), "\(text)")
        #expect(text.hasSuffix(#"],"expression":"web:RX@198.51.100.0/24:80,*:443"}],"exclusions":[]}"#), "\(text)")
        #expect(try WireJSON.decode(FiltersAnswer.self, from: text) == filters)
        try readsAndWritesBack(HelpAnswer.self, #"{"requests":[{"request":"GET","answer":"totals"}]}"#)
        try readsAndWritesBack(ErrorAnswer.self, #"{"error":"unknown request 'X'; send HELP for the list of requests"}"#)
    }

    @Test("the runs row's filters")
    func runFilters() throws {
        try readsAndWritesBack([RunFilter].self, #"[{"name":"ALL","expression":"ALL:ANY@*:*"},{"name":"w\"eb","expression":"w\"eb:RX@*:80"}]"#)
    }

    @Test("--json-lines: the README's line, and a session's line")
    func sessionLines() throws {
        let line = try readsAndWritesBack(SessionLine.self,
            #"{"started_at":1765089600.123456,"duration":0.001640,"family":4,"client_addr":"198.51.100.7","client_port":40000,"#
            + #""server_addr":"203.0.113.9","server_port":443,"vlan":null,"direction":"TX","outcome":"success","dup_syn":0,"#
            + #""dup_synack":0,"icmp_type":null,"icmp_code":null,"evicted":0,"#
            + #""cause":null,"syn_ttl":64,"synack_ttl":58,"rst_ttl":null,"synack_seen":1,"icmp_sender":null,"#
            + #""icmp_ttl":null,"synack_mss":1460,"synack_wscale":7,"syn_to_synack":0.001545,"synack_to_ack":0.000095,"#
            + #""syn_retry_time":0.000000,"ignored_rst":0,"ignored_rst_ttl":null,"capture_dropped":0,"filters":["TX"]}"#)
        #expect(line.synToSynAck == WireSeconds(microseconds: 1545))
        #expect(line.startedAt == WireSeconds(microseconds: 1_765_089_600_123_456))
        #expect(line.duration == WireSeconds(microseconds: 1640))
        var vlan = VLANPath.none
        vlan.push(100)
        vlan.push(200)
        var session = Session(client: try #require(IPAddress("2001:db8::1")), server: try #require(IPAddress("2001:db8::2")),
                              clientPort: 5000, serverPort: 22, vlan: vlan, startedAt: Timestamp(microseconds: -1),
                              duration: .init(microseconds: -5), outcome: .unreach, dupSYN: 2, filters: FilterMask(rawValue: 0b101),
                              direction: .rx, icmpType: 3, icmpCode: 1, wasEvicted: true)
        session.cause = Causes(.hostUnreachable)
        session.cause.insert(.uncertain)
        session.evidence.synHopLimit = 64
        session.evidence.unreachableSender = try #require(IPAddress("2001:db8::fe"))
        session.evidence.unreachableHopLimit = 62
        session.evidence.synRetryTime = .init(microseconds: 1_500_000)
        session.evidence.ignoredResets = 1
        session.evidence.ignoredResetHopLimit = 46
        session.evidence.captureDropped = true
        let text = SessionJSON.line(session, filterNames: ["ALL", "web"])
        #expect(text == #"{"started_at":-0.000001,"duration":0.000000,"family":6,"client_addr":"2001:db8::1","client_port":5000,"#
            + #""server_addr":"2001:db8::2","server_port":22,"vlan":"100.200","direction":"RX","outcome":"unreach","dup_syn":2,"#
            + #""dup_synack":0,"icmp_type":3,"icmp_code":1,"evicted":1,"#
            + #""cause":"host-unreachable,uncertain","syn_ttl":64,"synack_ttl":null,"rst_ttl":null,"synack_seen":0,"#
            + #""icmp_sender":"2001:db8::fe","icmp_ttl":62,"synack_mss":null,"synack_wscale":null,"syn_to_synack":null,"#
            + #""synack_to_ack":null,"syn_retry_time":1.500000,"ignored_rst":1,"ignored_rst_ttl":46,"capture_dropped":1,"#
            + #""filters":["ALL"]}"#)
        try readsAndWritesBack(SessionLine.self, text)
    }

    @Test("tcpeek query --sessions and --top rows")
    func queryRows() throws {
        try readsAndWritesBack(SessionAnswer.self,
            #"{"started_at":"2026-11-27T10:00:00.123456Z","duration_ms":1.640,"client":"198.51.100.7","client_port":40000,"#
            + #""server":"203.0.113.9","server_port":443,"direction":null,"outcome":"timeout","dupsyn":0,"dupsynack":0,"filters":["ALL"]}"#)
        try readsAndWritesBack([TopAnswer].self,
            #"[{"server":"203.0.113.9","failures":4,"timeout":1,"reject":1,"unreach":1,"abort":1,"attempts":10}]"#)
    }
}

@Suite("database JSON columns")
struct DatabaseJSONTests {
    @Test("handshake_buckets: non-zero buckets in ascending order, and read back")
    func handshakeBuckets() throws {
        var counts = [Int64](repeating: 0, count: 906)
        counts[0] = 2
        counts[212] = 3
        counts[905] = 1_000_000_000_000
        let text = WireJSON.text(HandshakeBuckets(counts: counts))
        #expect(text == #"{"0":2,"212":3,"905":1000000000000}"#)
        #expect(try WireJSON.decode(HandshakeBuckets.self, from: text) == HandshakeBuckets(counts: counts))
        #expect(WireJSON.text(HandshakeBuckets(counts: [])) == "{}")
        #expect(try WireJSON.decode(HandshakeBuckets.self, from: #" { "212" : 3 , "0":2 } "#).counts.prefix(1) == [2])
        #expect(throws: DecodingError.self) { try WireJSON.decode(HandshakeBuckets.self, from: #"{"x":1}"#) }
        #expect(throws: DecodingError.self) { try WireJSON.decode(HandshakeBuckets.self, from: #"{"100001":1}"#) }
    }
}
