#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Calendar times as text, through the C library's `strftime`: the one
/// place tcpeek lays out a time for people (the live lines, the summary,
/// `tcpeek query`'s table). Machine formats (JSON, CSV) are TCPeekWire's
/// and the store's ISO-8601 text.
public enum TimeText {
    public enum Zone: Sendable { case utc, local }

    /// The whole second of `seconds` since the epoch (rounded down, also
    /// before 1970) in `zone`, laid out by a `strftime` `format`, and that
    /// zone's offset from UTC at that time, in seconds.
    public static func format(_ seconds: Int64, _ format: String, in zone: Zone) -> (text: String, utcOffset: Int) {
        var time = time_t(seconds)
        var parts = tm()
        switch zone {
        case .utc: gmtime_r(&time, &parts)
        case .local: localtime_r(&time, &parts)
        }
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, format, &parts)
        return (String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self), Int(parts.tm_gmtoff))
    }
}
