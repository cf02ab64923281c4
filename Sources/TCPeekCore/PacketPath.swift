/// Everything done to one captured frame: packet-time bookkeeping, decoding,
/// counting, and tracking through the look-ahead. One value in one module,
/// so the compiler sees the whole per-packet path at once; the capture only
/// hands it frames. Capture thread only.
public struct PacketPath {
    public let decoder: PacketDecoder
    public var tracker: HandshakeTracker
    /// Packets decoded but not yet tracked; empty after `drain`.
    private var lookahead = PacketLookahead()
    public private(set) var decodeStatistics = DecodeStatistics()
    /// The earliest and the latest packet time seen (not the first and
    /// last packets': timestamps may go backwards in a file).
    public private(set) var firstPacket: Timestamp?
    public private(set) var lastPacket: Timestamp?
    /// Packets timestamped earlier than a packet before them. Packet time
    /// never runs backwards: they are taken at the latest time seen.
    public private(set) var packetsBackInTime: UInt64 = 0

    public init(decoder: PacketDecoder, tracker: HandshakeTracker) {
        self.decoder = decoder
        self.tracker = tracker
    }

    /// Takes one frame (borrowed: nothing keeps it after return) captured
    /// at `time`; `sink` receives the attempts this closes, possibly a few
    /// packets late (see `PacketLookahead`) but always in order.
    @inline(__always)
    public mutating func handle(frame: UnsafeRawBufferPointer, at time: Timestamp, closing sink: (Session) -> Void) {
        if let last = lastPacket {
            if time < last {
                packetsBackInTime &+= 1
                if let first = firstPacket, time < first { firstPacket = time }
            } else {
                lastPacket = time
            }
        } else {
            firstPacket = time
            lastPacket = time
        }
        let packet = decoder.decode(frame)
        decodeStatistics.count(packet)
        lookahead.push(packet, at: time, into: &tracker, closing: sink)
    }

    /// Tracks the packets the look-ahead still holds: after every batch of
    /// frames, so that whatever follows sees them tracked.
    public mutating func drain(closing sink: (Session) -> Void) {
        lookahead.drain(into: &tracker, closing: sink)
    }
}
