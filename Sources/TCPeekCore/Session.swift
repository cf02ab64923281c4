/// How a connection attempt ended (SPEC §1, "Outcomes").
public enum Outcome: UInt8, Sendable, BitwiseCopyable, CaseIterable, CustomStringConvertible {
    case success
    case reject
    case abort
    case unreach
    case timeout

    /// The word used in JSON, the database and `--outcome`.
    public var description: String {
        switch self {
        case .success: "success"
        case .reject: "reject"
        case .abort: "abort"
        case .unreach: "unreach"
        case .timeout: "timeout"
        }
    }

    public init?(_ text: String) {
        guard let outcome = Outcome.allCases.first(where: { $0.description == text }) else { return nil }
        self = outcome
    }

    public var isFailure: Bool { self != .success }
}

/// One closed connection attempt: what the tracker hands to printers,
/// counters and the recorder. A plain value; no allocation.
public struct Session: Sendable, Hashable, BitwiseCopyable {
    // Declared widest first, so that no padding lies between the fields:
    // every closed attempt is copied through the capture's hand-off.
    public var client: IPAddress
    public var server: IPAddress
    public var vlan: VLANPath
    /// Packet time of the first SYN.
    public var startedAt: Timestamp
    /// From the first SYN to the deciding segment; for a timeout, to the
    /// last segment seen plus the timeout.
    public var duration: Timestamp.Duration
    /// Which counting filters this attempt counts in.
    public var filters: FilterMask
    /// What the packets said beyond the outcome.
    public var evidence = HandshakeEvidence()
    public var dupSYN: UInt32
    public var dupSYNACK: UInt32
    /// A failure's cause, or a success's flags, decided from `evidence`.
    public var cause = Causes()
    public var clientPort: UInt16
    public var serverPort: UInt16
    public var outcome: Outcome
    /// RX when the server is this host, TX when the client is; nil when neither.
    public var direction: Direction?
    /// The ICMP type and code that decided an `unreach`; zero otherwise.
    public var icmpType: UInt8
    public var icmpCode: UInt8
    /// Closed early as `timeout` because the open-attempt table was full.
    public var wasEvicted: Bool

    public init(
        client: IPAddress, server: IPAddress, clientPort: UInt16, serverPort: UInt16,
        vlan: VLANPath = .none, startedAt: Timestamp, duration: Timestamp.Duration, outcome: Outcome,
        dupSYN: UInt32 = 0, dupSYNACK: UInt32 = 0, filters: FilterMask = FilterMask(),
        direction: Direction? = nil, icmpType: UInt8 = 0, icmpCode: UInt8 = 0, wasEvicted: Bool = false
    ) {
        self.client = client
        self.server = server
        self.clientPort = clientPort
        self.serverPort = serverPort
        self.vlan = vlan
        self.startedAt = startedAt
        self.duration = duration
        self.outcome = outcome
        self.dupSYN = dupSYN
        self.dupSYNACK = dupSYNACK
        self.filters = filters
        self.direction = direction
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.wasEvicted = wasEvicted
    }

    public var isIPv4: Bool { client.isIPv4 }
}
