import Foundation
import TCPeekCore

/// The JSON of `tcpeek query --format json`, also the socket's `WINDOW` and
/// `QUERY` answers: one place for the shape.
public enum HistoryJSON {
    public static func aggregates(_ rows: [AggregateRow]) -> String {
        "[" + rows.map(aggregate).joined(separator: ",") + "]"
    }

    public static func aggregate(_ row: AggregateRow) -> String {
        let c = row.counters
        return "{\"filter\":\(Report.jsonString(row.filter)),\"from\":\"\(isoTime(row.from))\",\"to\":\"\(isoTime(row.to))\","
            + "\"success\":{\"total\":\(c.success),\"dupsyn\":\(c.successWithDupSYN),\"dupsynack\":\(c.successWithDupSYNACK)},"
            + "\"failure\":{\"total\":\(c.failure),\"timeout\":\(c.timeout),\"reject\":\(c.reject),"
            + "\"unreach\":\(c.unreach),\"abort\":\(c.abort)},"
            + "\"handshake_ms\":{\"p50\":\(number(row.p50)),\"p95\":\(number(row.p95)),\"p99\":\(number(row.p99))}}"
    }

    /// A millisecond figure with three decimals, or null. (Formatted here:
    /// Foundation's `String(format:)` was a tenth of a month-by-hour query.)
    public static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "null" }
        let thousandths = Int64((abs(value) * 1000).rounded())
        return (value < 0 && thousandths > 0 ? "-" : "") + "\(thousandths / 1000)." + padded(thousandths % 1000, 3)
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
