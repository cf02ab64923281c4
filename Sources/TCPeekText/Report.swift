import TCPeekCore

/// The text layouts of SPEC §4: live lines and the summary. One place for
/// each shape; their JSON (`GET`, `REFRESH`) is TCPeekWire's `CountsAnswer`.
public enum Report {
    public static let liveHeader = """
         TIME(s) |       TIMESTAMP       |      SRC IP:PORT            DST IP:PORT     |      RESULTS      | DUP SYN  DUP S/A  CAUSE
        ----------------------------------------------------------------------------------------------------------------------
        """

    /// One live line, in the original's layout
    /// (`%4d.%03d | %s.%03d | %15s:%-5u %15s:%-5u | %-17s | %7u  %7u`),
    /// followed by the cause when there is one: the original's columns stay
    /// where scripts reading them expect them.
    public static func liveLine(_ session: Session) -> String {
        // Rounded to the millisecond shown: 0.00164 s is 0.002, not 0.001.
        let milliseconds = (max(0, session.duration.microseconds) + 500) / 1000
        var line = pad(String(milliseconds / 1000), 4) + "." + zeroPad(Int(milliseconds % 1000), 3)
        line += " | " + localTime(session.startedAt, format: "%y-%m-%d %H:%M:%S")
        line += "." + zeroPad(Int(floorMod(session.startedAt.microseconds, 1_000_000) / 1000), 3)
        line += " | " + pad(hostText(session.client), 15) + ":" + padRight(String(session.clientPort), 5)
        line += " " + pad(hostText(session.server), 15) + ":" + padRight(String(session.serverPort), 5)
        line += " | " + resultText(session.outcome)
        line += " | " + pad(String(session.dupSYN), 7) + "  " + pad(String(session.dupSYNACK), 7)
        if !session.cause.isEmpty { line += "  " + session.cause.description }
        return line
    }

    /// The RESULTS column, 17 characters wide.
    public static func resultText(_ outcome: Outcome) -> String {
        switch outcome {
        case .success: "     success     "
        case .reject: "failure (reject) "
        case .timeout: "failure (timeout)"
        case .unreach: "failure (unreach)"
        case .abort: "failure (abort)  "
        }
    }

    /// An address as it stands before `:PORT`: IPv6 in brackets.
    public static func hostText(_ address: IPAddress) -> String {
        address.isIPv4 ? address.description : "[\(address)]"
    }

    // MARK: Summary

    /// Everything the summary shows besides the per-filter counters.
    public struct SummaryContext: Sendable {
        public var from: Timestamp
        public var to: Timestamp
        public var capture: CaptureStatistics?
        public var stillOpen: Int
        public var evicted: UInt64
        public var malformedPackets: UInt64
        public var notRecorded: UInt64?

        public init(from: Timestamp, to: Timestamp, capture: CaptureStatistics?, stillOpen: Int = 0,
                    evicted: UInt64 = 0, malformedPackets: UInt64 = 0, notRecorded: UInt64? = nil) {
            self.from = from
            self.to = to
            self.capture = capture
            self.stillOpen = stillOpen
            self.evicted = evicted
            self.malformedPackets = malformedPackets
            self.notRecorded = notRecorded
        }
    }

    /// The text summary of SPEC §4, one block per counting filter.
    public static func summary(filters: [Filter], counters: Counters, context: SummaryContext) -> String {
        let rule = "------------------------------------"
        var lines = ["========== TCPEEK SUMMARY =========="]
        lines.append("     from : " + localTime(context.from, format: "%Y-%m-%d %H:%M:%S"))
        lines.append("       to : " + localTime(context.to, format: "%Y-%m-%d %H:%M:%S"))
        let span = max(0, (context.to - context.from).microseconds)
        lines.append("     time : " + pad(String(span / 1_000_000) + "." + zeroPad(Int(span % 1_000_000 / 1000), 3), 13) + " (sec)")
        for (index, filter) in filters.enumerated() {
            let c = counters[index]
            lines.append(rule)
            lines.append(" " + filter.name)
            lines.append("   Success: \(c.success) session")
            lines.append("     SYN Segment Duplicate : " + pad(String(c.successWithDupSYN), 6))
            lines.append("     S/A Segment Duplicate : " + pad(String(c.successWithDupSYNACK), 6))
            lines.append("   Failure: \(c.failure) session")
            lines.append("     Connection Timed Out  : " + pad(String(c.timeout), 6))
            lines.append("     Connection Rejected   : " + pad(String(c.reject), 6))
            lines.append("     ICMP Unreachable      : " + pad(String(c.unreach), 6))
            lines.append("     Connection Aborted    : " + pad(String(c.abort), 6))
            let causes = counters.causes(filter: index)
            if !causes.isEmpty {
                lines.append("   Causes:")
                for (cause, count) in causes {
                    lines.append("     " + TextTable.padRight(cause.description, 22) + ": " + pad(String(count), 6))
                }
            }
        }
        lines.append(rule)
        lines.append(" attempts")
        lines.append("   still open        : \(context.stillOpen)")
        lines.append("   evicted           : \(context.evicted)")
        if let notRecorded = context.notRecorded {
            lines.append("   not recorded      : \(notRecorded)")
        }
        lines.append("   malformed packets : \(context.malformedPackets)")
        if let capture = context.capture {
            lines.append(rule)
            lines.append(" pcap stats")
            lines.append("   recv   : \(capture.received)")
            lines.append("   drop   : \(capture.dropped)")
            lines.append("   ifdrop : \(capture.interfaceDropped)")
        }
        lines.append("====================================")
        return lines.joined(separator: "\n")
    }

    // MARK: Helpers

    private static func pad(_ text: String, _ width: Int) -> String { TextTable.padLeft(text, width) }
    private static func padRight(_ text: String, _ width: Int) -> String { TextTable.padRight(text, width) }
    private static func zeroPad(_ value: Int, _ width: Int) -> String { TextTable.zeroPad(value, width) }

    private static func floorMod(_ value: Int64, _ modulus: Int64) -> Int64 {
        let r = value % modulus
        return r < 0 ? r + modulus : r
    }

    /// `time` in the local time zone, laid out by a `strftime` format.
    public static func localTime(_ time: Timestamp, format: String) -> String {
        let micro = time.microseconds
        let seconds = micro >= 0 ? micro / 1_000_000 : (micro - 999_999) / 1_000_000
        return TimeText.format(seconds, format, in: .local).text
    }
}
