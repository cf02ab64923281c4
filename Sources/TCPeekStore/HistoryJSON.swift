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

    /// A millisecond figure with three decimals, or null.
    public static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "null" }
        return String(format: "%.3f", value)
    }

    /// UTC, whole seconds unless the time has a fraction.
    public static func isoTime(_ seconds: Double) -> String {
        let whole = seconds.rounded(.down)
        var time = time_t(whole)
        var parts = tm()
        gmtime_r(&time, &parts)
        let base = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                          Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        let fraction = Int(((seconds - whole) * 1_000_000).rounded())
        return fraction == 0 ? base + "Z" : base + String(format: ".%06d", min(fraction, 999_999)) + "Z"
    }
}
