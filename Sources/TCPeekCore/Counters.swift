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
    public func subtracting(_ earlier: FilterCounters) -> FilterCounters { self - earlier }
}

// The arithmetic of counters, the one place that lists every field: sums of
// rollups, of the database and memory parts of a window, and `REFRESH`
// deltas all go through it, so a new figure is added here and in `Figure`.
// Every operation wraps, as the counting does (a tcpeek running for years).
extension FilterCounters {
    @inlinable @inline(__always)
    static func combining(_ a: FilterCounters, _ b: FilterCounters,
                          _ combine: (UInt64, UInt64) -> UInt64) -> FilterCounters {
        var c = FilterCounters()
        c.success = combine(a.success, b.success)
        c.successWithDupSYN = combine(a.successWithDupSYN, b.successWithDupSYN)
        c.successWithDupSYNACK = combine(a.successWithDupSYNACK, b.successWithDupSYNACK)
        c.timeout = combine(a.timeout, b.timeout)
        c.reject = combine(a.reject, b.reject)
        c.unreach = combine(a.unreach, b.unreach)
        c.abort = combine(a.abort, b.abort)
        c.dupSYNSegments = combine(a.dupSYNSegments, b.dupSYNSegments)
        c.dupSYNACKSegments = combine(a.dupSYNACKSegments, b.dupSYNACKSegments)
        return c
    }

    @inlinable
    public static func + (a: FilterCounters, b: FilterCounters) -> FilterCounters { combining(a, b, &+) }

    @inlinable
    public static func - (a: FilterCounters, b: FilterCounters) -> FilterCounters { combining(a, b, &-) }

    @inlinable
    public static func += (a: inout FilterCounters, b: FilterCounters) { a = a + b }

    @inlinable
    public static func -= (a: inout FilterCounters, b: FilterCounters) { a = a - b }
}

extension FilterCounters {
    /// Each stored figure by name, in the order the rollup tables write and
    /// read them: what stores and exporters iterate over instead of naming
    /// every field.
    public enum Figure: Int, Sendable, CaseIterable {
        case success, successWithDupSYN, successWithDupSYNACK, timeout, reject, unreach, abort
        case dupSYNSegments, dupSYNACKSegments
    }

    public subscript(figure: Figure) -> UInt64 {
        get {
            switch figure {
            case .success: success
            case .successWithDupSYN: successWithDupSYN
            case .successWithDupSYNACK: successWithDupSYNACK
            case .timeout: timeout
            case .reject: reject
            case .unreach: unreach
            case .abort: abort
            case .dupSYNSegments: dupSYNSegments
            case .dupSYNACKSegments: dupSYNACKSegments
            }
        }
        set {
            switch figure {
            case .success: success = newValue
            case .successWithDupSYN: successWithDupSYN = newValue
            case .successWithDupSYNACK: successWithDupSYNACK = newValue
            case .timeout: timeout = newValue
            case .reject: reject = newValue
            case .unreach: unreach = newValue
            case .abort: abort = newValue
            case .dupSYNSegments: dupSYNSegments = newValue
            case .dupSYNACKSegments: dupSYNACKSegments = newValue
            }
        }
    }

    /// The counters whose every figure is `value(figure)`.
    public init(figures value: (Figure) throws -> UInt64) rethrows {
        self.init()
        for figure in Figure.allCases { self[figure] = try value(figure) }
    }

    /// How many sessions ended with `outcome`.
    public subscript(outcome: Outcome) -> UInt64 {
        switch outcome {
        case .success: success
        case .reject: reject
        case .abort: abort
        case .unreach: unreach
        case .timeout: timeout
        }
    }
}

/// The counters of every counting filter, indexed like `FilterSet.counting`.
public struct Counters: Sendable, Equatable {
    public private(set) var perFilter: [FilterCounters]
    /// Sessions per filter and `Cause` (a success counts once per flag):
    /// `Cause.allCases.count` figures for filter 0, then filter 1, …
    private var causeCounts: [UInt64]

    public init(filterCount: Int) {
        perFilter = Array(repeating: FilterCounters(), count: filterCount)
        causeCounts = Array(repeating: 0, count: filterCount * Cause.allCases.count)
    }

    /// Counts a closed session in every filter of its mask. Never allocates.
    public mutating func record(_ session: Session) {
        var bits = session.filters.rawValue
        while bits != 0 {
            let index = bits.trailingZeroBitCount
            if index < perFilter.count {
                perFilter[index].record(session)
                var causes = session.cause.rawValue
                while causes != 0 {
                    causeCounts[index * Cause.allCases.count + causes.trailingZeroBitCount] &+= 1
                    causes &= causes &- 1
                }
            }
            bits &= bits &- 1
        }
    }

    public subscript(index: Int) -> FilterCounters { perFilter[index] }

    /// How many sessions filter `index` counted with `cause`.
    public func count(of cause: Cause, filter index: Int) -> UInt64 {
        causeCounts[index * Cause.allCases.count + Int(cause.rawValue)]
    }

    /// Filter `index`'s causes that counted something, in `Cause.allCases` order.
    public func causes(filter index: Int) -> [(cause: Cause, count: UInt64)] {
        Cause.allCases.compactMap { cause in
            let count = count(of: cause, filter: index)
            return count == 0 ? nil : (cause, count)
        }
    }
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
