import Foundation
import TCPeekCore
import TCPeekWire

/// `tcpeek query --format json` and the socket's `WINDOW` and `QUERY`
/// answers: aggregate rows as TCPeekWire's `AggregateAnswer`.
public enum HistoryJSON {
    public static func aggregates(_ rows: [AggregateRow]) -> String {
        WireJSON.text(rows.map(AggregateAnswer.init))
    }

    /// UTC, whole seconds unless the time has a fraction.
    public static func isoTime(_ seconds: Double) -> String {
        let whole = seconds.rounded(.down)
        var time = time_t(whole)
        var parts = tm()
        gmtime_r(&time, &parts)
        let base = padded(Int64(parts.tm_year) + 1900, 4) + "-" + padded(Int64(parts.tm_mon) + 1, 2) + "-"
            + padded(Int64(parts.tm_mday), 2) + "T" + padded(Int64(parts.tm_hour), 2) + ":"
            + padded(Int64(parts.tm_min), 2) + ":" + padded(Int64(parts.tm_sec), 2)
        let fraction = Int64(((seconds - whole) * 1_000_000).rounded())
        return fraction == 0 ? base + "Z" : base + "." + padded(min(fraction, 999_999), 6) + "Z"
    }

    /// `value` (not negative) in decimal, zero-padded to `width` digits.
    private static func padded(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

extension AggregateAnswer {
    /// The row as the JSON shows it: times in UTC, percentiles to the microsecond.
    public init(_ row: AggregateRow) {
        self.init(filter: row.filter, from: HistoryJSON.isoTime(row.from), to: HistoryJSON.isoTime(row.to),
                  success: SuccessCounts(row.counters), failure: FailureCounts(row.counters),
                  handshakeMilliseconds: HandshakePercentiles(p50: row.p50.flatMap(WireMilliseconds.init),
                                                              p95: row.p95.flatMap(WireMilliseconds.init),
                                                              p99: row.p99.flatMap(WireMilliseconds.init)))
    }
}
