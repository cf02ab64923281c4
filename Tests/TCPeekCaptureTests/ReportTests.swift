// The text layouts of SPEC §4, byte for byte: live lines, the summary,
// and the JSON of GET and REFRESH.
import Foundation
import TCPeekCore
import TCPeekText
import TCPeekWire
import Testing

private func ip(_ text: String) -> IPAddress {
    guard let address = IPAddress(text) else {
        Issue.record("bad test address \(text)")
        return .zero
    }
    return address
}

private func session(
    _ client: String, _ clientPort: UInt16, _ server: String, _ serverPort: UInt16,
    at startedAt: Timestamp, milliseconds: Int64, _ outcome: Outcome, dupSYN: UInt32 = 0, dupSYNACK: UInt32 = 0,
    filters: UInt64 = 1
) -> Session {
    Session(client: ip(client), server: ip(server), clientPort: clientPort, serverPort: serverPort,
            startedAt: startedAt, duration: Timestamp.Duration(microseconds: milliseconds * 1000), outcome: outcome,
            dupSYN: dupSYN, dupSYNACK: dupSYNACK, filters: FilterMask(rawValue: filters))
}

private func filter(_ expression: String) throws -> Filter {
    try Filter.parse(expression)
}

/// Counters of `filterCount` filters after recording `sessions`.
private func counters(_ filterCount: Int, _ sessions: [Session]) -> Counters {
    var counters = Counters(filterCount: filterCount)
    for session in sessions { counters.record(session) }
    return counters
}

@Suite("Report layouts of SPEC §4")
struct ReportTests {
    init() { UTC.ensure() }

    // MARK: Live lines

    @Test("the header is the SPEC's two lines, with the cause after them")
    func header() {
        #expect(Report.liveHeader == """
             TIME(s) |       TIMESTAMP       |      SRC IP:PORT            DST IP:PORT     |      RESULTS      | DUP SYN  DUP S/A  CAUSE
            ----------------------------------------------------------------------------------------------------------------------
            """)
    }

    @Test("the SPEC's example lines, byte for byte")
    func specLines() {
        let first = session("192.168.2.227", 48967, "192.168.2.202", 80,
                            at: UTC.time(2012, 7, 6, 16, 39, 2, microseconds: 552_000), milliseconds: 2, .success)
        #expect(Report.liveLine(first)
            == "   0.002 | 12-07-06 16:39:02.552 |   192.168.2.227:48967   192.168.2.202:80    |      success      |       0        0")
        let second = session("192.168.2.227", 58376, "192.168.2.207", 8080,
                             at: UTC.time(2012, 7, 6, 16, 41, 29, microseconds: 723_456), milliseconds: 39_947,
                             .timeout, dupSYN: 2)
        #expect(Report.liveLine(second)
            == "  39.947 | 12-07-06 16:41:29.723 |   192.168.2.227:58376   192.168.2.207:8080  | failure (timeout) |       2        0")
    }

    @Test("every RESULTS text, 17 wide between the bars", arguments: [
        (Outcome.success, "|      success      |"),
        (.reject, "| failure (reject)  |"),
        (.timeout, "| failure (timeout) |"),
        (.unreach, "| failure (unreach) |"),
        (.abort, "| failure (abort)   |"),
    ])
    func results(_ outcome: Outcome, _ column: String) {
        #expect(Report.resultText(outcome).count == 17)
        let line = Report.liveLine(session("198.51.100.7", 40000, "203.0.113.9", 443,
                                           at: UTC.time(2024, 1, 2, 3, 4, 5), milliseconds: 1234, outcome))
        #expect(line == "   1.234 | 24-01-02 03:04:05.000 |    198.51.100.7:40000     203.0.113.9:443   "
            + column + "       0        0")
    }

    @Test("IPv6 addresses are bracketed and widen their column")
    func ipv6() {
        let line = Report.liveLine(session("2001:db8::1", 50000, "2001:db8:ffff:1::abcd", 443,
                                           at: UTC.time(2024, 1, 2, 3, 4, 5, microseconds: 999_999),
                                           milliseconds: 61_000, .unreach, dupSYN: 3, dupSYNACK: 12345678))
        #expect(line == "  61.000 | 24-01-02 03:04:05.999 |   [2001:db8::1]:50000 [2001:db8:ffff:1::abcd]:443   "
            + "| failure (unreach) |       3  12345678")
        let short = Report.liveLine(session("::1", 1, "::1", 22, at: UTC.time(2024, 1, 2, 3, 4, 5),
                                            milliseconds: 0, .reject))
        #expect(short == "   0.000 | 24-01-02 03:04:05.000 |           [::1]:1               [::1]:22    "
            + "| failure (reject)  |       0        0")
        #expect(Report.hostText(ip("2001:db8::1")) == "[2001:db8::1]")
        #expect(Report.hostText(ip("192.0.2.1")) == "192.0.2.1")
    }

    @Test("TIME(s) is rounded to the millisecond, not truncated", arguments: [
        (Int64(1640), "   0.002"), (1499, "   0.001"), (500, "   0.001"), (499, "   0.000"), (999_600, "   1.000"),
    ])
    func roundedTime(_ microseconds: Int64, _ column: String) {
        var timed = session("192.0.2.1", 1, "192.0.2.2", 2, at: UTC.time(2024, 1, 2, 3, 4, 5), milliseconds: 0, .success)
        timed.duration = Timestamp.Duration(microseconds: microseconds)
        #expect(Report.liveLine(timed).hasPrefix(column + " | 24-01-02 03:04:05.000 |"), "\(Report.liveLine(timed))")
    }

    @Test("long durations keep their digits")
    func longDuration() {
        let line = Report.liveLine(session("192.0.2.1", 1, "192.0.2.2", 2, at: UTC.time(1999, 12, 31, 23, 59, 59),
                                           milliseconds: 123_456_789, .timeout))
        #expect(line.hasPrefix("123456.789 | 99-12-31 23:59:59.000 |"))
    }

    // MARK: Summary

    private static let specSummary = """
        ========== TCPEEK SUMMARY ==========
             from : 2012-07-02 16:48:33
               to : 2012-07-02 16:49:59
             time :        86.106 (sec)
        ------------------------------------
         RX
           Success: 0 session
             SYN Segment Duplicate :      0
             S/A Segment Duplicate :      0
           Failure: 10 session
             Connection Timed Out  :      0
             Connection Rejected   :     10
             ICMP Unreachable      :      0
             Connection Aborted    :      0
        ------------------------------------
         pcap stats
           recv   : 1234
           drop   : 0
           ifdrop : 0
        ====================================
        """

    /// The summary without the ` attempts` block (still open / evicted /
    /// malformed), which SPEC §4's example does not show.
    private static func withoutAttemptsBlock(_ text: String) -> String {
        var lines = text.components(separatedBy: "\n")
        if let start = lines.firstIndex(of: " attempts") {
            var end = start + 1
            while end < lines.count, lines[end].hasPrefix("   ") { end += 1 }
            lines.removeSubrange((start - 1)..<end)
        }
        return lines.joined(separator: "\n")
    }

    private static let specContext = Report.SummaryContext(
        from: UTC.time(2012, 7, 2, 16, 48, 33, microseconds: 250_000),
        to: UTC.time(2012, 7, 2, 16, 49, 59, microseconds: 356_000),
        capture: CaptureStatistics(received: 1234, dropped: 0, interfaceDropped: 0))

    @Test("the SPEC's summary, byte for byte (apart from the attempts block)")
    func specSummaryLayout() throws {
        UTC.ensure()
        let rejects = (0..<10).map { _ in
            session("192.0.2.1", 1000, "198.51.100.1", 80, at: UTC.time(2012, 7, 2, 16, 48, 40), milliseconds: 1, .reject)
        }
        let rx = try filter("RX:RX@*:*")
        let text = Report.summary(filters: [rx], counters: counters(1, rejects), context: Self.specContext)
        #expect(Self.withoutAttemptsBlock(text) == Self.specSummary)
    }

    @Test("the attempts block: still open, evicted, not recorded, malformed")
    func attemptsBlock() throws {
        UTC.ensure()
        var context = Self.specContext
        context.stillOpen = 3
        context.evicted = 4
        context.malformedPackets = 5
        context.notRecorded = 6
        let text = Report.summary(filters: [try filter("RX:RX@*:*")], counters: Counters(filterCount: 1), context: context)
        #expect(text.contains("""
            ------------------------------------
             attempts
               still open        : 3
               evicted           : 4
               not recorded      : 6
               malformed packets : 5
            ------------------------------------
             pcap stats
            """))
        #expect(Self.withoutAttemptsBlock(text).components(separatedBy: "\n").count
            == Self.specSummary.components(separatedBy: "\n").count)
    }

    @Test("one block per filter in order; no pcap block without capture statistics")
    func summaryBlocks() throws {
        UTC.ensure()
        let filters = [try filter("RX:RX@*:*"), try filter("TX:TX@*:*"), try filter("web:RX@*:80:443")]
        let t0 = UTC.time(2024, 3, 1, 0, 0, 0)
        let sessions = [
            session("192.0.2.1", 1, "198.51.100.1", 80, at: t0, milliseconds: 1, .success, dupSYN: 2, filters: 0b101),
            session("192.0.2.1", 2, "198.51.100.1", 80, at: t0, milliseconds: 1, .success, dupSYNACK: 1, filters: 0b101),
            session("192.0.2.1", 3, "198.51.100.1", 80, at: t0, milliseconds: 1, .success, filters: 0b001),
            session("198.51.100.1", 4, "192.0.2.9", 22, at: t0, milliseconds: 1, .timeout, dupSYN: 5, filters: 0b010),
            session("198.51.100.1", 5, "192.0.2.9", 22, at: t0, milliseconds: 1, .unreach, filters: 0b010),
            session("198.51.100.1", 6, "192.0.2.9", 22, at: t0, milliseconds: 1, .abort, filters: 0b010),
            session("192.0.2.1", 7, "198.51.100.1", 443, at: t0, milliseconds: 1, .reject, filters: 0b101),
        ]
        let context = Report.SummaryContext(from: t0, to: UTC.time(2024, 3, 1, 1, 2, 3, microseconds: 45_600),
                                            capture: nil)
        let text = Report.summary(filters: filters, counters: counters(3, sessions), context: context)
        #expect(Self.withoutAttemptsBlock(text) == """
            ========== TCPEEK SUMMARY ==========
                 from : 2024-03-01 00:00:00
                   to : 2024-03-01 01:02:03
                 time :      3723.045 (sec)
            ------------------------------------
             RX
               Success: 3 session
                 SYN Segment Duplicate :      1
                 S/A Segment Duplicate :      1
               Failure: 1 session
                 Connection Timed Out  :      0
                 Connection Rejected   :      1
                 ICMP Unreachable      :      0
                 Connection Aborted    :      0
            ------------------------------------
             TX
               Success: 0 session
                 SYN Segment Duplicate :      0
                 S/A Segment Duplicate :      0
               Failure: 3 session
                 Connection Timed Out  :      1
                 Connection Rejected   :      0
                 ICMP Unreachable      :      1
                 Connection Aborted    :      1
            ------------------------------------
             web
               Success: 2 session
                 SYN Segment Duplicate :      1
                 S/A Segment Duplicate :      1
               Failure: 1 session
                 Connection Timed Out  :      0
                 Connection Rejected   :      1
                 ICMP Unreachable      :      0
                 Connection Aborted    :      0
            ====================================
            """)
    }

    // MARK: JSON

    @Test("GET: totals per filter and the pcap element, byte for byte")
    func getJSON() throws {
        let filters = [try filter("RX:RX@*:*"), try filter("TX:TX@*:*"), try filter("web6:RX@[2001:db8::/32]:443")]
        let t0 = UTC.time(2024, 3, 1, 0, 0, 0)
        let sessions = [
            session("192.0.2.1", 1, "198.51.100.1", 80, at: t0, milliseconds: 1, .success, dupSYN: 2, dupSYNACK: 1),
            session("192.0.2.1", 2, "198.51.100.1", 80, at: t0, milliseconds: 1, .success),
            session("192.0.2.1", 3, "198.51.100.1", 80, at: t0, milliseconds: 1, .timeout, dupSYN: 4),
            session("192.0.2.1", 4, "198.51.100.1", 80, at: t0, milliseconds: 1, .reject),
            session("192.0.2.1", 5, "198.51.100.1", 80, at: t0, milliseconds: 1, .unreach),
            session("192.0.2.1", 6, "198.51.100.1", 80, at: t0, milliseconds: 1, .abort, filters: 0b101),
            session("198.51.100.1", 7, "192.0.2.9", 22, at: t0, milliseconds: 1, .abort, filters: 0b010),
        ]
        let json = CountsAnswer.getJSON(filters: filters, counters: counters(3, sessions),
                                  capture: CaptureStatistics(received: 1234, dropped: 5, interfaceDropped: 6))
        #expect(json == #"[{"RX":{"success":{"total":2,"dupsyn":1,"dupsynack":1},"failure":{"total":4,"timeout":1,"reject":1,"unreach":1,"abort":1}}},"#
            + #"{"TX":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":1,"timeout":0,"reject":0,"unreach":0,"abort":1}}},"#
            + #"{"web6":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":1,"timeout":0,"reject":0,"unreach":0,"abort":1}}},"#
            + #"{"pcap":{"stats":{"recv":1234,"drop":5,"ifdrop":6}}}]"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8))
        #expect(parsed is [Any])
    }

    @Test("REFRESH: deltas, unreach and abort folded into reject, no pcap element")
    func refreshJSON() throws {
        let filters = [try filter("ALL:ANY@*:*"), try filter("db:ANY@*:5432")]
        let t0 = UTC.time(2024, 3, 1, 0, 0, 0)
        let before = counters(2, [
            session("192.0.2.1", 1, "198.51.100.1", 80, at: t0, milliseconds: 1, .success, dupSYN: 1),
            session("192.0.2.1", 2, "198.51.100.1", 80, at: t0, milliseconds: 1, .reject),
        ])
        var after = before
        for next in [
            session("192.0.2.1", 3, "198.51.100.1", 5432, at: t0, milliseconds: 1, .success, dupSYNACK: 2, filters: 0b11),
            session("192.0.2.1", 4, "198.51.100.1", 5432, at: t0, milliseconds: 1, .timeout, filters: 0b11),
            session("192.0.2.1", 5, "198.51.100.1", 80, at: t0, milliseconds: 1, .reject),
            session("192.0.2.1", 6, "198.51.100.1", 80, at: t0, milliseconds: 1, .unreach),
            session("192.0.2.1", 7, "198.51.100.1", 5432, at: t0, milliseconds: 1, .abort, filters: 0b11),
        ] { after.record(next) }
        let deltas = (0..<2).map { after[$0].subtracting(before[$0]) }
        #expect(CountsAnswer.refreshJSON(filters: filters, deltas: deltas)
            == #"[{"ALL":{"success":{"total":1,"dupsyn":0,"dupsynack":1},"failure":{"total":4,"timeout":1,"reject":3}}},"#
            + #"{"db":{"success":{"total":1,"dupsyn":0,"dupsynack":1},"failure":{"total":2,"timeout":1,"reject":1}}}]"#)
        #expect(CountsAnswer.refreshJSON(filters: [], deltas: []) == "[]")
    }

    @Test("JSON strings are escaped")
    func escaping() {
        #expect(WireJSON.quoted("plain") == #""plain""#)
        #expect(WireJSON.quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(WireJSON.quoted("tab\tnl\ncr\r") == #""tab\tnl\ncr\r""#)
        #expect(WireJSON.quoted("\u{01}\u{1f}") == #""\u0001\u001f""#)
        #expect(WireJSON.quoted("é→✓") == "\"é→✓\"")
        let odd = Filter(name: "we\"ird\\", direction: .any, rules: [.any], expression: "we\"ird\\:ANY@*:*")
        let json = CountsAnswer.getJSON(filters: [odd], counters: Counters(filterCount: 1), capture: CaptureStatistics())
        #expect(json.hasPrefix(#"[{"we\"ird\\":{"success""#))
        #expect((try? JSONSerialization.jsonObject(with: Data(json.utf8))) != nil, "valid JSON")
    }
}
