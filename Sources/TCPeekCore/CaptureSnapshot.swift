/// What the capture thread publishes for other threads (summary, socket,
/// metrics): plain figures, copied under a lock, never shared mutable state.
public struct CaptureSnapshot: Sendable {
    public var counters: Counters
    public var decode = DecodeStatistics()
    public var tracker = TrackerStatistics()
    public var openAttempts = 0
    public var capture: CaptureStatistics?
    /// Packet times of the first and last packet.
    public var firstPacket: Timestamp?
    public var lastPacket: Timestamp?
    /// How far into the capture file reading has come (file captures only).
    public var fileOffset: Int64?

    public init(counters: Counters) {
        self.counters = counters
    }
}
