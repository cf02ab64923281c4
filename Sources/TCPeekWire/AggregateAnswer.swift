/// One row of `tcpeek query --format json`, and of the socket's `WINDOW` and
/// `QUERY` answers (a list of them): a filter's figures over a time range.
///
///     {"filter":"RX","from":"2026-11-27T10:00:00Z","to":"2026-11-27T11:00:00Z",
///      "success":{"total":N,"dupsyn":N,"dupsynack":N},
///      "failure":{"total":N,"timeout":N,"reject":N,"unreach":N,"abort":N},
///      "handshake_ms":{"p50":1.250,"p95":null,"p99":null},
///      "causes":{"no-answer":3,"after-retries":40}}
public struct AggregateAnswer: Codable, Sendable, Equatable {
    /// The host the row is about: only in a fleet answer by host (`tcpeek
    /// query --clickhouse URL --by host`), where it is the first key.
    public var host: String?
    public var filter: String
    /// UTC ISO-8601, whole seconds unless the time has a fraction.
    public var from: String
    public var to: String
    public var success: SuccessCounts
    public var failure: FailureCounts
    public var handshakeMilliseconds: HandshakePercentiles
    /// Attempts per cause (issue 15); `{}` when none had one.
    public var causes: CausesAnswer

    public init(filter: String, from: String, to: String, success: SuccessCounts, failure: FailureCounts,
                handshakeMilliseconds: HandshakePercentiles, causes: CausesAnswer = CausesAnswer(), host: String? = nil) {
        self.host = host
        self.causes = causes
        self.filter = filter
        self.from = from
        self.to = to
        self.success = success
        self.failure = failure
        self.handshakeMilliseconds = handshakeMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case host, filter, from, to, success, failure
        case handshakeMilliseconds = "handshake_ms", causes
    }

    /// The JSON writes a nil optional as null: `host` is left out instead,
    /// so every answer but a fleet one by host stays as it was.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if let host { try container.encode(host, forKey: .host) }
        try container.encode(filter, forKey: .filter)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(success, forKey: .success)
        try container.encode(failure, forKey: .failure)
        try container.encode(handshakeMilliseconds, forKey: .handshakeMilliseconds)
        try container.encode(causes, forKey: .causes)
    }

    /// An answer from a tcpeek before causes has no `causes`: read as none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        host = try container.decodeIfPresent(String.self, forKey: .host)
        filter = try container.decode(String.self, forKey: .filter)
        from = try container.decode(String.self, forKey: .from)
        to = try container.decode(String.self, forKey: .to)
        success = try container.decode(SuccessCounts.self, forKey: .success)
        failure = try container.decode(FailureCounts.self, forKey: .failure)
        handshakeMilliseconds = try container.decode(HandshakePercentiles.self, forKey: .handshakeMilliseconds)
        causes = try container.decodeIfPresent(CausesAnswer.self, forKey: .causes) ?? CausesAnswer()
    }
}

/// Handshake-time percentiles of the successful attempts, in milliseconds;
/// null without any.
public struct HandshakePercentiles: Codable, Sendable, Equatable {
    public var p50: WireMilliseconds?
    public var p95: WireMilliseconds?
    public var p99: WireMilliseconds?

    public init(p50: WireMilliseconds?, p95: WireMilliseconds?, p99: WireMilliseconds?) {
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
    }

    enum CodingKeys: String, CodingKey { case p50, p95, p99 }
}
