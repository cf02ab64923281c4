/// Runs the tracker a few packets behind the decoder so that the flow table's
/// cache misses overlap other packets' work instead of stalling each one.
///
/// At a busy capture the open attempts and remembered successes do not fit
/// in the cache (the packet data streaming through evicts them), so a
/// tracker touching them at once waits for memory on almost every packet.
/// Here a packet entering the look-ahead has its flow's bucket (and, for an
/// opening SYN, its set of remembered successes) prefetched; `attemptStage`
/// packets later, with the bucket loaded, its open attempt is prefetched;
/// `depth` packets later it is tracked. The order of packets is kept, so
/// the result is exactly that of tracking each at once; only the moment a
/// packet's sessions reach the sink moves, and `drain` ends that delay at
/// the end of every batch the capture reads.
///
/// A value with its buffer inline: no allocation, no reference counting on
/// the packet path. Capture thread only.
public struct PacketLookahead {
    private struct Pending {
        var packet: DecodedPacket
        var time: Timestamp
        var flowHash: UInt64
    }

    /// Packets between decoding one and tracking it: enough work to cover a
    /// memory access, little enough for the lines to stay in the cache.
    public static let depth = Ring.count
    static let attemptStage = 4
    private typealias Ring = InlineArray<8, Pending>
    private var ring = Ring(repeating: Pending(packet: .ignored, time: .zero, flowHash: 0))
    private var head = 0
    private var count = 0

    public init() {}

    /// Packets waiting to be tracked.
    public var pendingCount: Int { count }

    /// Takes the next packet; tracks the one `depth` packets older, if any.
    @inline(__always)
    public mutating func push(_ packet: DecodedPacket, at time: Timestamp, into tracker: inout HandshakeTracker,
                     closing sink: (Session) -> Void) {
        let flowHash = HandshakeTracker.flowHash(of: packet)
        tracker.prefetchFlow(of: packet, flowHash: flowHash)
        if count == Self.depth { trackOldest(&tracker, closing: sink) }
        ring[(head + count) & (Self.depth - 1)] = Pending(packet: packet, time: time, flowHash: flowHash)
        count += 1
        if count > Self.attemptStage {
            tracker.prefetchAttempt(flowHash: ring[(head + count - 1 - Self.attemptStage) & (Self.depth - 1)].flowHash)
        }
    }

    /// Tracks every packet still waiting, oldest first.
    public mutating func drain(into tracker: inout HandshakeTracker, closing sink: (Session) -> Void) {
        while count > 0 { trackOldest(&tracker, closing: sink) }
    }

    @inline(__always)
    private mutating func trackOldest(_ tracker: inout HandshakeTracker, closing sink: (Session) -> Void) {
        let oldest = ring[head]
        head = (head + 1) & (Self.depth - 1)
        count -= 1
        tracker.process(oldest.packet, at: oldest.time, flowHash: oldest.flowHash, closing: sink)
    }
}
