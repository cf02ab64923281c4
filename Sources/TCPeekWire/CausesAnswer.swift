import TCPeekCore

/// The `causes` object of an `AggregateAnswer`: attempts per cause name
/// (`Cause`), only those counted, in the order of `Cause.allCases`:
/// `{"closed-port":3,"no-answer":12,"after-retries":40}`. A failure counts
/// under its cause, a success under each of its flags.
public struct CausesAnswer: Codable, Sendable, Equatable {
    /// (name, count) in the order written.
    public var counts: [(name: String, count: UInt64)]

    public init(_ counts: [(name: String, count: UInt64)] = []) { self.counts = counts }

    public static func == (a: CausesAnswer, b: CausesAnswer) -> Bool {
        a.counts.elementsEqual(b.counts) { $0.name == $1.name && $0.count == $1.count }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKey.self)
        for (name, count) in counts { try container.encode(count, forKey: WireKey(name)) }
    }

    /// JSON's keys come unordered: known names in `Cause` order, then others by name.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: WireKey.self)
        let rank = { (name: String) in Cause(name).map { Int($0.rawValue) } ?? Int.max }
        counts = try container.allKeys.sorted { (rank($0.stringValue), $0.stringValue) < (rank($1.stringValue), $1.stringValue) }
            .map { (name: $0.stringValue, count: try container.decode(UInt64.self, forKey: $0)) }
    }
}

/// One row of `tcpeek query --by cause --format json`: a filter's attempts
/// of one outcome and cause over the range, and their share of the
/// outcome's attempts.
///
///     {"filter":"RX","from":"2026-11-27T10:00:00Z","to":"2026-11-27T11:00:00Z","outcome":"timeout",
///      "cause":"no-answer","count":12,"outcome_total":14,"share":0.8571}
///
/// `cause` is null for the attempts of the outcome without one (successes
/// without flags, failures recorded before tcpeek kept causes). A success
/// counts under each of its flags, so a success's shares may add up to more
/// than 1; a failure's add up to 1.
public struct CauseAnswer: Codable, Sendable, Equatable {
    public var filter: String
    public var from: String
    public var to: String
    public var outcome: String
    public var cause: String?
    public var count: UInt64
    public var outcomeTotal: UInt64
    /// `count / outcome_total`, four decimals.
    public var share: WireRatio

    public init(filter: String, from: String, to: String, outcome: String, cause: String?, count: UInt64,
                outcomeTotal: UInt64) {
        self.filter = filter
        self.from = from
        self.to = to
        self.outcome = outcome
        self.cause = cause
        self.count = count
        self.outcomeTotal = outcomeTotal
        share = WireRatio(outcomeTotal == 0 ? 0 : Double(count) / Double(outcomeTotal))
    }

    enum CodingKeys: String, CodingKey {
        case filter, from, to, outcome, cause, count, outcomeTotal = "outcome_total", share
    }
}

/// A ratio with exactly four decimals (`0.8571`).
public struct WireRatio: Codable, Sendable, Equatable {
    /// The value in ten-thousandths, rounded.
    public var tenThousandths: Int64

    public init(_ value: Double) { tenThousandths = Int64((value * 10_000).rounded()) }

    public var value: Double { Double(tenThousandths) / 10_000 }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(Double.self))
    }

    public func encode(to encoder: any Encoder) throws {
        try WireEncoder.encodeFixed(tenThousandths, decimals: 4, value: value, to: encoder)
    }
}
