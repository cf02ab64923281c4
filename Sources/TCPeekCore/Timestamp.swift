/// A point in packet time: microseconds since the Unix epoch.
///
/// The tracker never reads a clock; every time it sees comes from a capture
/// record or, for an idle live capture, from the caller.
public struct Timestamp: Hashable, Comparable, Sendable, BitwiseCopyable {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public init(seconds: Int64, microseconds: Int64 = 0) {
        self.microseconds = seconds &* 1_000_000 &+ microseconds
    }

    public static let zero = Timestamp(microseconds: 0)

    public var seconds: Double { Double(microseconds) / 1_000_000 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(microseconds: lhs.microseconds &+ rhs.microseconds)
    }

    public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        Duration(microseconds: lhs.microseconds &- rhs.microseconds)
    }

    /// The later of two times.
    public static func latest(_ a: Timestamp, _ b: Timestamp) -> Timestamp { a < b ? b : a }
}

extension Timestamp {
    /// A span of packet time in microseconds (not `Swift.Duration`, which is
    /// 128 bits and slower to add on the packet path).
    public struct Duration: Hashable, Comparable, Sendable, BitwiseCopyable {
        public var microseconds: Int64
        public init(microseconds: Int64) { self.microseconds = microseconds }
        public static func seconds(_ s: Int64) -> Duration { Duration(microseconds: s &* 1_000_000) }
        public static let zero = Duration(microseconds: 0)
        public var seconds: Double { Double(microseconds) / 1_000_000 }
        public static func < (lhs: Duration, rhs: Duration) -> Bool { lhs.microseconds < rhs.microseconds }
        public static func + (lhs: Duration, rhs: Duration) -> Duration {
            Duration(microseconds: lhs.microseconds &+ rhs.microseconds)
        }
    }
}
