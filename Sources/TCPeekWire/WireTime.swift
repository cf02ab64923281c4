import Foundation

/// A time in tcpeek's JSON and CSV: UTC ISO-8601, whole seconds unless the
/// time has a fraction (`2026-11-27T10:00:00Z`, `2026-11-27T10:00:00.123456Z`).
public enum WireTime {
    /// `seconds` since the epoch as the JSON writes it.
    public static func text(_ seconds: Double) -> String {
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

    /// What `text` wrote, back in seconds since the epoch; nil for other text.
    public static func seconds(_ text: String) -> Double? {
        guard let match = text.wholeMatch(of: #/([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,6})?Z/#) else {
            return nil
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let whole = formatter.date(from: match.1 + "Z") else { return nil }
        let fraction = match.2.map { Double("0" + $0) ?? 0 } ?? 0
        return whole.timeIntervalSince1970 + fraction
    }

    /// `value` (not negative) in decimal, zero-padded to `width` digits.
    private static func padded(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

extension KeyedDecodingContainer {
    /// A `WireTime` at `key`, in seconds since the epoch; a decoding error
    /// naming the key for any other text.
    func decodeWireTime(forKey key: Key) throws -> Double {
        let text = try decode(String.self, forKey: key)
        guard let seconds = WireTime.seconds(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "'\(text)' is not a UTC ISO-8601 time")
        }
        return seconds
    }
}
