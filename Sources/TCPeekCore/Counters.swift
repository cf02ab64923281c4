/// What one filter has counted: the figures of the summary, `GET` and
/// `REFRESH` (SPEC §4).
public struct FilterCounters: Sendable, Equatable, Hashable {
    public var success: UInt64 = 0
    /// Successful sessions that had at least one retransmitted SYN.
    public var successWithDupSYN: UInt64 = 0
    /// Successful sessions that had at least one retransmitted SYN/ACK.
    public var successWithDupSYNACK: UInt64 = 0
    public var timeout: UInt64 = 0
    public var reject: UInt64 = 0
    public var unreach: UInt64 = 0
    public var abort: UInt64 = 0
    /// Every retransmitted SYN and SYN/ACK, whatever the outcome.
    public var dupSYNSegments: UInt64 = 0
    public var dupSYNACKSegments: UInt64 = 0

    public init() {}

    public var failure: UInt64 { timeout &+ reject &+ unreach &+ abort }
    public var total: UInt64 { success &+ failure }

    public mutating func record(_ session: Session) {
        dupSYNSegments &+= UInt64(session.dupSYN)
        dupSYNACKSegments &+= UInt64(session.dupSYNACK)
        switch session.outcome {
        case .success:
            success &+= 1
            if session.dupSYN > 0 { successWithDupSYN &+= 1 }
            if session.dupSYNACK > 0 { successWithDupSYNACK &+= 1 }
        case .timeout: timeout &+= 1
        case .reject: reject &+= 1
        case .unreach: unreach &+= 1
        case .abort: abort &+= 1
        }
    }

    /// What happened between `earlier` and `self` (for `REFRESH`).
    public func subtracting(_ earlier: FilterCounters) -> FilterCounters {
        var delta = FilterCounters()
        delta.success = success &- earlier.success
        delta.successWithDupSYN = successWithDupSYN &- earlier.successWithDupSYN
        delta.successWithDupSYNACK = successWithDupSYNACK &- earlier.successWithDupSYNACK
        delta.timeout = timeout &- earlier.timeout
        delta.reject = reject &- earlier.reject
        delta.unreach = unreach &- earlier.unreach
        delta.abort = abort &- earlier.abort
        delta.dupSYNSegments = dupSYNSegments &- earlier.dupSYNSegments
        delta.dupSYNACKSegments = dupSYNACKSegments &- earlier.dupSYNACKSegments
        return delta
    }
}

/// The counters of every counting filter, indexed like `FilterSet.counting`.
public struct Counters: Sendable, Equatable {
    public private(set) var perFilter: [FilterCounters]

    public init(filterCount: Int) {
        perFilter = Array(repeating: FilterCounters(), count: filterCount)
    }

    /// Counts a closed session in every filter of its mask. Never allocates.
    public mutating func record(_ session: Session) {
        var bits = session.filters.rawValue
        while bits != 0 {
            let index = bits.trailingZeroBitCount
            if index < perFilter.count { perFilter[index].record(session) }
            bits &= bits &- 1
        }
    }

    public subscript(index: Int) -> FilterCounters { perFilter[index] }
}

/// libpcap's own counts since the handle was opened (`pcap_stats`).
public struct CaptureStatistics: Sendable, Equatable {
    public var received: UInt64 = 0
    public var dropped: UInt64 = 0
    public var interfaceDropped: UInt64 = 0
    public init(received: UInt64 = 0, dropped: UInt64 = 0, interfaceDropped: UInt64 = 0) {
        self.received = received
        self.dropped = dropped
        self.interfaceDropped = interfaceDropped
    }
}

/// Counts of packets the decoder skipped, by reason.
public struct DecodeStatistics: Sendable, Equatable {
    public private(set) var malformed: [UInt64] = Array(repeating: 0, count: MalformedReason.allCases.count)
    public var packets: UInt64 = 0
    public var tcp: UInt64 = 0
    public var unreachable: UInt64 = 0
    public var ignored: UInt64 = 0
    public init() {}

    @inline(__always)
    public mutating func count(_ packet: DecodedPacket) {
        packets &+= 1
        switch packet {
        case .tcp: tcp &+= 1
        case .unreachable: unreachable &+= 1
        case .ignored: ignored &+= 1
        case .malformed(let reason): malformed[reason.rawValue] &+= 1
        }
    }

    public subscript(reason: MalformedReason) -> UInt64 { malformed[reason.rawValue] }
    public var malformedTotal: UInt64 { malformed.reduce(0, &+) }
}

extension DecodeStatistics {
    /// Packets skipped for a wrong IPv4 header, TCP or ICMP checksum
    /// (`-c 1` and `-c 2`; none with `-c 0`).
    public var checksumFailures: UInt64 { self[.badIPChecksum] &+ self[.badTCPChecksum] &+ self[.badICMPChecksum] }

    /// Packets whose checksums were looked at: the failures and the TCP
    /// segments and ICMP errors that passed (or were cut too short to check).
    public var checksumsVerified: UInt64 { checksumFailures &+ tcp &+ unreachable }

    /// Whether the failures look like checksum offload on the capturing host
    /// rather than damage on the wire: the kernel hands libpcap outgoing
    /// packets before the interface fills their checksums in, so every
    /// packet this host sends fails, often a third to a half of them all;
    /// real damage is rare (well under 1%). At least a quarter failing, of
    /// at least `minimumVerified` packets, is the sign.
    public var suggestsChecksumOffload: Bool {
        let verified = checksumsVerified
        return verified >= Self.offloadMinimumVerified && checksumFailures &* 4 >= verified
    }

    /// How many packets must have been verified before failures say anything.
    public static let offloadMinimumVerified: UInt64 = 100
}
