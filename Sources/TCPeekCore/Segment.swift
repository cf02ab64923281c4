/// TCP header flags, including the AccECN `AE` bit (RFC 9768), which sits
/// just above the classic eight.
public struct TCPFlags: OptionSet, Hashable, Sendable, BitwiseCopyable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x001)
    public static let syn = TCPFlags(rawValue: 0x002)
    public static let rst = TCPFlags(rawValue: 0x004)
    public static let psh = TCPFlags(rawValue: 0x008)
    public static let ack = TCPFlags(rawValue: 0x010)
    public static let urg = TCPFlags(rawValue: 0x020)
    public static let ece = TCPFlags(rawValue: 0x040)
    public static let cwr = TCPFlags(rawValue: 0x080)
    public static let ae = TCPFlags(rawValue: 0x100)

    /// The flags that decide the handshake; ECN bits (ECE, CWR, AE), PSH and
    /// URG ride along and must not change a SYN into something else.
    public static let control: TCPFlags = [.syn, .ack, .rst, .fin]

    /// Exactly SYN among the control flags: an opening SYN.
    @inlinable public var isOpeningSYN: Bool { intersection(.control) == .syn }
    /// Exactly SYN and ACK among the control flags.
    @inlinable public var isSYNACK: Bool { intersection(.control) == [.syn, .ack] }
}

/// A stack of VLAN IDs (802.1Q / 802.1ad), outermost first, packed so that a
/// flow key stays fixed-size: each tag takes 13 bits (a presence bit and the
/// 12-bit ID), four tags fit exactly, deeper stacks keep mixing in.
public struct VLANPath: Hashable, Sendable, BitwiseCopyable {
    public var rawValue: UInt64
    public init(rawValue: UInt64 = 0) { self.rawValue = rawValue }
    public static let none = VLANPath()

    @inlinable public mutating func push(_ id: UInt16) {
        rawValue = (rawValue &<< 13) | 0x1000 | UInt64(id & 0x0FFF)
    }

    /// The IDs, outermost first, for display (at most the last four pushed).
    public var ids: [UInt16] {
        var result: [UInt16] = []
        var value = rawValue
        while value & 0x1000 != 0 {
            result.insert(UInt16(value & 0x0FFF), at: 0)
            value >>= 13
        }
        return result
    }
}

/// One decoded TCP segment: only the fields the handshake tracker needs.
public struct TCPSegment: Hashable, Sendable, BitwiseCopyable {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    /// Bytes of TCP payload as the IP header states them (not as captured).
    public var payloadLength: UInt32
    public var flags: TCPFlags
    /// The IPv4 TTL or IPv6 hop limit as captured: how far the sender is
    /// (hops from a typical initial 64, 128 or 255), the evidence that tells
    /// a server's RST from a middlebox's.
    public var hopLimit: UInt8
    /// A SYN's or SYN/ACK's options (empty on other segments).
    public var synOptions: SYNOptions
    // Declared in this order, the fields fill 64 bytes, one cache line
    // (a test pins it): the segment is handed on by value for every packet.
    public var vlan: VLANPath

    public init(
        source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16,
        sequence: UInt32, acknowledgment: UInt32, flags: TCPFlags, payloadLength: UInt32 = 0,
        vlan: VLANPath = .none, hopLimit: UInt8 = 64, synOptions: SYNOptions = SYNOptions()
    ) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.flags = flags
        self.payloadLength = payloadLength
        self.vlan = vlan
        self.hopLimit = hopLimit
        self.synOptions = synOptions
    }
}

/// The options of a SYN or SYN/ACK that say something about its sender:
/// the largest segment it takes, and its window scale. Three bytes: an
/// absent option is a value no sender sends (MSS 0, shift 255), not an
/// Optional's extra tag bytes.
public struct SYNOptions: Hashable, Sendable, BitwiseCopyable {
    private var mss: UInt16 = 0
    private var shift: UInt8 = .max

    public init(maximumSegmentSize: UInt16? = nil, windowScale: UInt8? = nil) {
        self.maximumSegmentSize = maximumSegmentSize
        self.windowScale = windowScale
    }

    /// Maximum segment size (option 2); nil when absent.
    public var maximumSegmentSize: UInt16? {
        get { mss == 0 ? nil : mss }
        set { mss = newValue ?? 0 }
    }

    /// Window scale shift (option 3); nil when absent.
    public var windowScale: UInt8? {
        get { shift == .max ? nil : shift }
        set { shift = newValue ?? .max }
    }
}

/// An ICMPv4 destination-unreachable or ICMPv6 destination-unreachable
/// message, with the TCP header it quotes (the segment that provoked it).
public struct ICMPUnreachable: Hashable, Sendable, BitwiseCopyable {
    /// The quoted segment's source: the sender of the offending SYN.
    public var quotedSource: IPAddress
    public var quotedDestination: IPAddress
    public var quotedSourcePort: UInt16
    public var quotedDestinationPort: UInt16
    /// The quoted sequence number; RFC 792 quotes 8 bytes of TCP, enough for it.
    public var quotedSequence: UInt32
    public var type: UInt8
    public var code: UInt8
    public var isICMPv6: Bool
    /// The error's TTL or hop limit as captured.
    public var hopLimit: UInt8
    public var vlan: VLANPath
    /// Who sent the error (its IP source): the server's host itself, or a
    /// router on the way.
    public var sender: IPAddress

    public init(
        quotedSource: IPAddress, quotedDestination: IPAddress, quotedSourcePort: UInt16,
        quotedDestinationPort: UInt16, quotedSequence: UInt32, type: UInt8, code: UInt8,
        isICMPv6: Bool, vlan: VLANPath = .none, sender: IPAddress = IPAddress(ipv4: 0), hopLimit: UInt8 = 64
    ) {
        self.quotedSource = quotedSource
        self.quotedDestination = quotedDestination
        self.quotedSourcePort = quotedSourcePort
        self.quotedDestinationPort = quotedDestinationPort
        self.quotedSequence = quotedSequence
        self.type = type
        self.code = code
        self.isICMPv6 = isICMPv6
        self.vlan = vlan
        self.sender = sender
        self.hopLimit = hopLimit
    }

    /// Whether the code means "unreachable" for SPEC §1 (ICMPv4 codes
    /// 0,1,2,3,9,10,13; any ICMPv6 destination-unreachable code). Code 4,
    /// "fragmentation needed", is path-MTU discovery, not a failure.
    public var meansUnreachable: Bool {
        if isICMPv6 { return type == 1 }
        guard type == 3 else { return false }
        switch code {
        case 0, 1, 2, 3, 9, 10, 13: return true
        default: return false
        }
    }
}
