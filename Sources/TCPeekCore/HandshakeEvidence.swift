/// What the packets of one attempt said beyond its outcome: the facts a
/// `Cause` is decided from, and what `tcpeek explain` shows. Hop limits are
/// the IPv4 TTL or IPv6 hop limit as captured.
///
/// Stored in 40 bytes (times as saturating microseconds, an absent hop
/// limit as 0, which no captured packet carries): every closed session
/// carries one through the capture's hand-off, so its size is paid per
/// attempt. The properties read and write it as plain optionals.
public struct HandshakeEvidence: Sendable, Hashable, BitwiseCopyable {
    private var sender = IPAddress.zero
    private var retryMicros: UInt32 = 0
    private var synToSynAckMicros: UInt32 = .max
    private var synAckToAckMicros: UInt32 = .max
    /// The server's SYN/ACK options (absent ones nil).
    public var synAckOptions = SYNOptions()
    /// The client's first SYN.
    public var synHopLimit: UInt8 = 0
    private var synAckHop: UInt8 = 0
    private var resetHop: UInt8 = 0
    private var unreachableHop: UInt8 = 0
    private var ignoredResetHop: UInt8 = 0
    /// RSTs that targeted the attempt but did not fit it (SPEC §1).
    public var ignoredResets: UInt16 = 0
    private var bits: UInt8 = 0
    private static let captureDroppedBit: UInt8 = 1, senderBit: UInt8 = 2, synAckResentBit: UInt8 = 4

    public init() {}

    /// The server's first SYN/ACK; nil when none was captured.
    public var synAckHopLimit: UInt8? {
        get { Self.hop(synAckHop) }
        set { synAckHop = newValue ?? 0 }
    }

    /// The RST that decided a `reject` or `abort`.
    public var resetHopLimit: UInt8? {
        get { Self.hop(resetHop) }
        set { resetHop = newValue ?? 0 }
    }

    /// Who sent the ICMP error that decided an `unreach`, and its hop limit.
    public var unreachableSender: IPAddress? {
        get { bit(Self.senderBit) ? sender : nil }
        set {
            sender = newValue ?? .zero
            setBit(Self.senderBit, newValue != nil)
        }
    }

    /// libpcap reported dropped packets while the attempt was open.
    public var captureDropped: Bool {
        get { bit(Self.captureDroppedBit) }
        set { setBit(Self.captureDroppedBit, newValue) }
    }

    /// The server sent its SYN/ACK again after the client's ACK completed
    /// the handshake: it did not take the ACK.
    public var synAckResentAfterACK: Bool {
        get { bit(Self.synAckResentBit) }
        set { setBit(Self.synAckResentBit, newValue) }
    }

    public var unreachableHopLimit: UInt8? {
        get { Self.hop(unreachableHop) }
        set { unreachableHop = newValue ?? 0 }
    }

    /// The hop limit of the last ignored RST.
    public var ignoredResetHopLimit: UInt8? {
        get { Self.hop(ignoredResetHop) }
        set { ignoredResetHop = newValue ?? 0 }
    }

    /// From the first SYN to the last: time lost to SYN retries.
    public var synRetryTime: Timestamp.Duration {
        get { Timestamp.Duration(microseconds: Int64(retryMicros)) }
        set { retryMicros = Self.micros(newValue) }
    }

    /// From the SYN it answered (the latest before it) to the first SYN/ACK.
    public var synToSynAck: Timestamp.Duration? {
        get { Self.duration(synToSynAckMicros) }
        set { synToSynAckMicros = newValue.map(Self.micros) ?? .max }
    }

    /// From the first SYN/ACK to the client's ACK that completed a success.
    public var synAckToAck: Timestamp.Duration? {
        get { Self.duration(synAckToAckMicros) }
        set { synAckToAckMicros = newValue.map(Self.micros) ?? .max }
    }

    /// Whether a SYN/ACK was captured (SPEC §1: a success may be inferred
    /// from the client's ACK alone).
    public var sawSYNACK: Bool { synAckHop != 0 }

    private func bit(_ mask: UInt8) -> Bool { bits & mask != 0 }

    private mutating func setBit(_ mask: UInt8, _ value: Bool) {
        bits = value ? bits | mask : bits & ~mask
    }

    private static func hop(_ value: UInt8) -> UInt8? { value == 0 ? nil : value }

    private static func duration(_ micros: UInt32) -> Timestamp.Duration? {
        micros == .max ? nil : Timestamp.Duration(microseconds: Int64(micros))
    }

    /// Saturating below `.max`, which means absent (71 minutes: beyond any
    /// `--timeout` a handshake is measured against).
    private static func micros(_ duration: Timestamp.Duration) -> UInt32 {
        UInt32(clamping: min(max(0, duration.microseconds), Int64(UInt32.max - 1)))
    }
}
