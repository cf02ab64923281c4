import TCPeekCore

// For figures computed outside the database (the socket's `WINDOW` counts
// the newest sessions from memory): the same row type, the same handshake
// buckets and percentile rule, so `HistoryJSON` renders both alike.

extension AggregateRow {
    /// A row with the percentiles of `handshakes`.
    public init(filter: String, from: Double, to: Double, counters: FilterCounters, handshakes: HandshakeTimes) {
        self.init(filter: filter, from: from, to: to, counters: counters, p50: handshakes.quantile(0.50),
                  p95: handshakes.quantile(0.95), p99: handshakes.quantile(0.99))
    }
}

/// Handshake times of successful sessions, kept in the buckets of the
/// rollups (`Schema.handshakeBucket`): percentiles come out exactly as the
/// database's.
public struct HandshakeTimes: Sendable {
    private var histogram = HandshakeHistogram()

    public init() {}

    public mutating func add(_ duration: Timestamp.Duration) {
        histogram.add(bucket: Schema.handshakeBucket(microseconds: duration.microseconds), count: 1)
    }

    /// The `fraction` quantile in milliseconds; nil without any time.
    public func quantile(_ fraction: Double) -> Double? { histogram.quantile(fraction) }
}
