import TCPeekCore

/// One closed attempt as a JSON object on one line (`tcpeek record
/// --json-lines`), the way Zeek's conn.log is read with `jq`. The keys are
/// the `sessions` table's columns (Schema/README.md), with the same values
/// (times in Unix seconds, addresses as text), plus the names of the
/// filters that counted it: a line and a row answer the same questions.
///
///     {"started_at":1765089600.123456,"duration":0.001640,"family":4,"client_addr":"198.51.100.7",
///      "client_port":40000,"server_addr":"203.0.113.9","server_port":443,"vlan":null,"direction":"TX",
///      "outcome":"success","dup_syn":0,"dup_synack":0,"icmp_type":null,"icmp_code":null,"evicted":0,
///      "cause":null,"syn_ttl":64,"synack_ttl":58,"rst_ttl":null,"synack_seen":1,"icmp_sender":null,
///      "icmp_ttl":null,"synack_mss":1460,"synack_wscale":7,"syn_to_synack":0.001545,"synack_to_ack":0.000095,
///      "syn_retry_time":0.000000,"ignored_rst":0,"ignored_rst_ttl":null,"capture_dropped":0,"filters":["TX"]}
public struct SessionLine: Codable, Sendable, Equatable {
    public var startedAt: WireSeconds
    public var duration: WireSeconds
    /// 4 or 6.
    public var family: Int
    public var clientAddr: String
    public var clientPort: UInt16
    public var serverAddr: String
    public var serverPort: UInt16
    /// VLAN ids, outermost first, joined by dots (`"100.200"`); null untagged.
    public var vlan: String?
    /// `RX` or `TX`; null when neither end is local.
    public var direction: String?
    public var outcome: String
    public var dupSYN: UInt32
    public var dupSYNACK: UInt32
    /// The ICMP message of an `unreach`; null otherwise.
    public var icmpType: UInt8?
    public var icmpCode: UInt8?
    /// 1 if closed early as timeout because the table was full.
    public var evicted: Int
    // The evidence and cause (issue 15; Schema/README.md says what each is).
    /// `Causes.description`; null for a success without flags.
    public var cause: String? = nil
    public var synTTL: UInt8 = 0
    public var synAckTTL: UInt8? = nil
    public var rstTTL: UInt8? = nil
    /// 1 if a SYN/ACK was captured.
    public var synAckSeen: Int = 0
    public var icmpSender: String? = nil
    public var icmpTTL: UInt8? = nil
    public var synAckMSS: UInt16? = nil
    public var synAckWindowScale: UInt8? = nil
    public var synToSynAck: WireSeconds? = nil
    public var synAckToACK: WireSeconds? = nil
    public var synRetryTime = WireSeconds(microseconds: 0)
    public var ignoredRST: UInt16 = 0
    public var ignoredRSTTTL: UInt8? = nil
    /// 1 if libpcap dropped packets while the attempt was open.
    public var captureDropped: Int = 0
    public var filters: [String]

    public init(startedAt: WireSeconds, duration: WireSeconds, family: Int, clientAddr: String, clientPort: UInt16,
                serverAddr: String, serverPort: UInt16, vlan: String?, direction: String?, outcome: String,
                dupSYN: UInt32, dupSYNACK: UInt32, icmpType: UInt8?, icmpCode: UInt8?, evicted: Int, filters: [String]) {
        self.startedAt = startedAt
        self.duration = duration
        self.family = family
        self.clientAddr = clientAddr
        self.clientPort = clientPort
        self.serverAddr = serverAddr
        self.serverPort = serverPort
        self.vlan = vlan
        self.direction = direction
        self.outcome = outcome
        self.dupSYN = dupSYN
        self.dupSYNACK = dupSYNACK
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.evicted = evicted
        self.filters = filters
    }

    /// `session`'s line; `filterNames` are the counting filters by bit.
    public init(_ session: Session, filterNames: [String]) {
        let isUnreach = session.outcome == .unreach
        self.init(
            startedAt: WireSeconds(microseconds: session.startedAt.microseconds),
            duration: WireSeconds(microseconds: max(0, session.duration.microseconds)),
            family: session.isIPv4 ? 4 : 6,
            clientAddr: session.client.description, clientPort: session.clientPort,
            serverAddr: session.server.description, serverPort: session.serverPort,
            vlan: session.vlan == .none ? nil : session.vlan.ids.map(String.init).joined(separator: "."),
            direction: session.direction?.rawValue, outcome: session.outcome.description,
            dupSYN: session.dupSYN, dupSYNACK: session.dupSYNACK,
            icmpType: isUnreach ? session.icmpType : nil, icmpCode: isUnreach ? session.icmpCode : nil,
            evicted: session.wasEvicted ? 1 : 0,
            filters: session.filters.compactMap { $0 < filterNames.count ? filterNames[$0] : nil })
        let evidence = session.evidence
        cause = session.cause.isEmpty ? nil : session.cause.description
        synTTL = evidence.synHopLimit
        synAckTTL = evidence.synAckHopLimit
        rstTTL = evidence.resetHopLimit
        synAckSeen = evidence.sawSYNACK ? 1 : 0
        icmpSender = evidence.unreachableSender?.description
        icmpTTL = evidence.unreachableHopLimit
        synAckMSS = evidence.synAckOptions.maximumSegmentSize
        synAckWindowScale = evidence.synAckOptions.windowScale
        synToSynAck = evidence.synToSynAck.map { WireSeconds(microseconds: max(0, $0.microseconds)) }
        synAckToACK = evidence.synAckToAck.map { WireSeconds(microseconds: max(0, $0.microseconds)) }
        synRetryTime = WireSeconds(microseconds: evidence.synRetryTime.microseconds)
        ignoredRST = evidence.ignoredResets
        ignoredRSTTTL = evidence.ignoredResetHopLimit
        captureDropped = evidence.captureDropped ? 1 : 0
    }

    enum CodingKeys: String, CodingKey {
        case startedAt = "started_at", duration, family
        case clientAddr = "client_addr", clientPort = "client_port"
        case serverAddr = "server_addr", serverPort = "server_port"
        case vlan, direction, outcome
        case dupSYN = "dup_syn", dupSYNACK = "dup_synack"
        case icmpType = "icmp_type", icmpCode = "icmp_code"
        case evicted
        case cause, synTTL = "syn_ttl", synAckTTL = "synack_ttl", rstTTL = "rst_ttl", synAckSeen = "synack_seen"
        case icmpSender = "icmp_sender", icmpTTL = "icmp_ttl", synAckMSS = "synack_mss"
        case synAckWindowScale = "synack_wscale", synToSynAck = "syn_to_synack", synAckToACK = "synack_to_ack"
        case synRetryTime = "syn_retry_time", ignoredRST = "ignored_rst", ignoredRSTTTL = "ignored_rst_ttl"
        case captureDropped = "capture_dropped"
        case filters
    }
}

/// `tcpeek record --json-lines`: a closed attempt's `SessionLine` as text.
public enum SessionJSON {
    public static func line(_ session: Session, filterNames: [String]) -> String {
        WireJSON.text(SessionLine(session, filterNames: filterNames))
    }
}
