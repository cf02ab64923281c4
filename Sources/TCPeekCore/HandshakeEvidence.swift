/// What the packets of one attempt said beyond its outcome: the facts a
/// `Cause` is decided from, and what `tcpeek explain` shows. Hop limits are
/// the IPv4 TTL or IPv6 hop limit as captured.
public struct HandshakeEvidence: Sendable, Hashable, BitwiseCopyable {
    /// The client's first SYN.
    public var synHopLimit: UInt8 = 0
    /// The server's first SYN/ACK; nil when none was captured.
    public var synAckHopLimit: UInt8?
    /// The RST that decided a `reject` or `abort`.
    public var resetHopLimit: UInt8?
    /// The server's SYN/ACK options (absent ones nil).
    public var synAckOptions = SYNOptions()
    /// Who sent the ICMP error that decided an `unreach`, and its hop limit.
    public var unreachableSender: IPAddress?
    public var unreachableHopLimit: UInt8?
    /// From the first SYN to the last: time lost to SYN retries.
    public var synRetryTime = Timestamp.Duration(microseconds: 0)
    /// From the SYN it answered (the latest before it) to the first SYN/ACK.
    public var synToSynAck: Timestamp.Duration?
    /// From the first SYN/ACK to the client's ACK that completed a success.
    public var synAckToAck: Timestamp.Duration?
    /// RSTs that targeted the attempt but did not fit it (SPEC §1), and the
    /// hop limit of the last one.
    public var ignoredResets: UInt16 = 0
    public var ignoredResetHopLimit: UInt8?
    /// libpcap reported dropped packets while the attempt was open.
    public var captureDropped = false

    public init() {}

    /// Whether a SYN/ACK was captured (SPEC §1: a success may be inferred
    /// from the client's ACK alone).
    public var sawSYNACK: Bool { synAckHopLimit != nil }
}
