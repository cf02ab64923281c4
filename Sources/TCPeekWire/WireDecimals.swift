/// Seconds with exactly six decimals, from microseconds (`1765089600.123456`,
/// `0.001640`): the times of `--json-lines`, as the `sessions` table holds them.
public struct WireSeconds: Codable, Sendable, Equatable {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public var seconds: Double { Double(microseconds) / 1_000_000 }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let seconds = try container.decode(Double.self)
        guard seconds.isFinite, let microseconds = Int64(exactly: (seconds * 1_000_000).rounded()) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(seconds) s is out of range")
        }
        self.microseconds = microseconds
    }

    public func encode(to encoder: any Encoder) throws {
        try WireEncoder.encodeFixed(microseconds, decimals: 6, value: seconds, to: encoder)
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

    /// The JSON number, or `null` for nil.
    public static func text(_ value: WireMilliseconds?) -> String {
        WireJSON.text(value)
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
        try WireEncoder.encodeFixed(thousandths, decimals: 3, value: milliseconds, to: encoder)
    }
}
