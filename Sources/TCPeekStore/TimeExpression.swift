import Foundation
import TCPeekCore

/// The points in time people type: `tcpeek query --since/--until`, the
/// socket's `QUERY`. The one place for their syntax; durations are
/// `DurationText`'s.
public enum TimeExpression {
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// A point in time as Unix seconds: a duration back from `now`, an
    /// ISO-8601 time (UTC offset given, or local time), `now` or `all`.
    public static func parse(_ text: String, now: Double) throws(ParseError) -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "all" { return 0 }
        if trimmed == "now" { return now }
        if let seconds = DurationText.seconds(trimmed) { return now - seconds }
        // The formatter also takes a valid time followed by anything
        // ("2026-11-27T10:00:00Z; DELETE FROM sessions"): the whole text must be one.
        // A space for the `T` is how `tcpeek query`'s table writes a time.
        let isoTime = #/[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)/#
        if trimmed.wholeMatch(of: isoTime) != nil {
            let iso = ISO8601DateFormatter()
            let withT = trimmed.replacingOccurrences(of: " ", with: "T")
            for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
                iso.formatOptions = options
                if let date = iso.date(from: withT) { return date.timeIntervalSince1970 }
            }
        }
        let local = DateFormatter()
        local.locale = Locale(identifier: "en_US_POSIX")
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"] {
            local.dateFormat = format
            if let date = local.date(from: trimmed) { return date.timeIntervalSince1970 }
        }
        throw ParseError(description: "cannot read the time '\(text)': use a duration (90s, 15m, 1h, 2d), an ISO-8601 time (2026-11-27T10:00:00Z) or 'all'")
    }
}
