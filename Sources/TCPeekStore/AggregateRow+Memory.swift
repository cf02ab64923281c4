import TCPeekCore

// For figures computed outside the database (the socket's `WINDOW` counts
// the newest sessions from memory): the same handshake buckets and
// percentile rule, so rows from memory and from the database add up exactly
// and `HistoryJSON` renders both alike.

/// Handshake times of successful sessions, kept in the buckets of the
/// rollups (`Schema.handshakeBucket`): percentiles come out exactly as the
/// database's.
public struct HandshakeTimes: Sendable, Equatable {
    private var histogram = HandshakeHistogram()

    public init() {}

    init(_ histogram: HandshakeHistogram) { self.histogram = histogram }

    public mutating func add(_ duration: Timestamp.Duration) {
        histogram.add(bucket: Schema.handshakeBucket(microseconds: duration.microseconds), count: 1)
    }

    /// Adds the times of another part of the same window.
    public mutating func merge(_ other: HandshakeTimes) {
        histogram.add(other.histogram)
    }

    /// The `fraction` quantile in milliseconds; nil without any time.
    public func quantile(_ fraction: Double) -> Double? { histogram.quantile(fraction) }
}
