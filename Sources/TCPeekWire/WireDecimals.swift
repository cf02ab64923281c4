/// Seconds with exactly six decimals, from microseconds (`1765089600.123456`,
/// `0.001640`): the times of `--json-lines`, as the `sessions` table holds them.
public struct WireSeconds: Codable, Sendable, Equatable {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public var seconds: Double { Double(microseconds) / 1_000_000 }

    var jsonText: String { Self.text(microseconds) }

    /// Microseconds as seconds with six decimals, exactly (no binary rounding).
    static func text(_ microseconds: Int64) -> String {
        let sign = microseconds < 0 ? "-" : ""
        let magnitude = microseconds.magnitude
        let fraction = String(magnitude % 1_000_000)
        return sign + String(magnitude / 1_000_000) + "." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let seconds = try container.decode(Double.self)
        guard seconds.isFinite, let microseconds = Int64(exactly: (seconds * 1_000_000).rounded()) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(seconds) s is out of range")
        }
        self.microseconds = microseconds
    }

    public func encode(to encoder: any Encoder) throws {
        try WireEncoder.encodeNumber(text: jsonText, value: seconds, to: encoder)
    }
}

/// Milliseconds with exactly three decimals (`12.500`): handshake times and
/// durations in `tcpeek query`'s JSON and the socket's answers.
public struct WireMilliseconds: Codable, Sendable, Equatable {
    /// The value in thousandths of a millisecond, rounded.
    public var thousandths: Int64

    public init(thousandths: Int64) { self.thousandths = thousandths }

    /// `milliseconds` rounded to three decimals; nil if it is not finite
    /// (or beyond 2^63 thousandths), which the JSON writes as null.
    public init?(_ milliseconds: Double) {
        guard milliseconds.isFinite, let thousandths = Int64(exactly: (milliseconds * 1000).rounded()) else { return nil }
        self.thousandths = thousandths
    }

    public var milliseconds: Double { Double(thousandths) / 1000 }

    var jsonText: String {
        let magnitude = thousandths.magnitude
        let fraction = String(magnitude % 1000)
        return (thousandths < 0 ? "-" : "") + String(magnitude / 1000) + "."
            + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// The JSON number, or `null` for nil.
    public static func text(_ value: WireMilliseconds?) -> String {
        value?.jsonText ?? "null"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let milliseconds = try container.decode(Double.self)
        guard let value = WireMilliseconds(milliseconds) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(milliseconds) ms is out of range")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        try WireEncoder.encodeNumber(text: jsonText, value: milliseconds, to: encoder)
    }
}
