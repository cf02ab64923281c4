#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The two ends of one attempt and how their packets are framed. Addresses are
/// documentation ranges only (RFC 5737, RFC 3849): clients in 198.51.100.0/24
/// and 2001:db8:1::/64, servers in 203.0.113.0/24 and 2001:db8:2::/64.
struct Endpoints {
    var isIPv6 = false
    /// 802.1Q VLAN ID; 0 means untagged.
    var vlan: UInt16 = 0
    /// Host part of the address: last octet for IPv4, interface ID for IPv6.
    var clientHost: UInt64 = 1
    var serverHost: UInt64 = 1
    var clientPort: UInt16 = 1024
    var serverPort: UInt16 = 80
}

/// One TCP segment, in terms of the attempt's direction.
struct TCPSegment {
    enum Options: UInt8 {
        /// No options (RSTs, flood SYNs from a raw-socket tool).
        case none
        /// What Linux puts on SYN and SYN/ACK: MSS, SACK permitted,
        /// timestamps, NOP, window scale (20 bytes).
        case handshake
        /// NOP, NOP, timestamps (12 bytes), on every later segment.
        case timestamps

        var length: Int {
            switch self {
            case .none: 0
            case .handshake: 20
            case .timestamps: 12
            }
        }
    }

    static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04
    static let psh: UInt8 = 0x08, ack: UInt8 = 0x10

    var fromClient = true
    var flags: UInt8 = 0
    var seq: UInt32 = 0
    var ack: UInt32 = 0
    var window: UInt16 = 0
    var options = Options.none
    var tsval: UInt32 = 0
    var tsecr: UInt32 = 0
    var payload: UnsafePointer<UInt8>? = nil
    var payloadLength = 0
}

/// Byte-level construction of Ethernet frames. Everything is written in place
/// into the pcap writer's buffer, and every checksum is computed over the
/// bytes just written, so a reader verifying checksums (tcpeek `-c 2`,
/// Wireshark) accepts every packet.
enum Frames {
    // Locally administered MACs: one for the client side, one for the server side.
    private static let clientMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    private static let serverMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]

    // Documentation prefixes (RFC 5737, RFC 3849), host part left to zero.
    private static let clientNet4: UInt32 = 0xC633_6400     // 198.51.100.0/24
    private static let serverNet4: UInt32 = 0xCB00_7100     // 203.0.113.0/24
    private static let clientNet6: UInt64 = 0x2001_0DB8_0001_0000  // 2001:db8:1::/64
    private static let serverNet6: UInt64 = 0x2001_0DB8_0002_0000  // 2001:db8:2::/64

    static let protoICMP: UInt8 = 1
    static let protoTCP: UInt8 = 6
    static let protoICMPv6: UInt8 = 58

    /// An Ethernet frame carrying `segment`. Returns the frame length.
    static func tcp(_ segment: TCPSegment, flow: Endpoints, ipID: UInt16,
                    into p: UnsafeMutablePointer<UInt8>) -> Int {
        let eth = ethernet(flow: flow, fromClient: segment.fromClient, into: p)
        return eth + ipTCP(segment, flow: flow, ipID: ipID, into: p + eth)
    }

    /// An ICMPv4 port unreachable (type 3 code 3) or ICMPv6 port unreachable
    /// (type 1 code 4) sent by the server host, quoting the client's `syn`.
    /// IPv4 quotes either the RFC 792 minimum (IP header + 8 bytes of TCP:
    /// ports and sequence number, all a tracker may rely on) or the whole
    /// segment as Linux does; IPv6 always quotes the whole packet (RFC 4443).
    /// `synIPID` is the IP ID the SYN was sent with, so the quote is byte for
    /// byte the SYN's start.
    static func unreachable(quoting syn: TCPSegment, synIPID: UInt16, flow: Endpoints, ipID: UInt16,
                            minimalQuote: Bool, into p: UnsafeMutablePointer<UInt8>) -> Int {
        let eth = ethernet(flow: flow, fromClient: false, into: p)
        let ipHeaderLength = flow.isIPv6 ? 40 : 20
        let icmp = p + eth + ipHeaderLength

        // Build the quoted packet first, exactly as the SYN was sent (its own
        // IP checksum and TCP checksum included), then cut it to length.
        let quotedFull = ipTCP(syn, flow: flow, ipID: synIPID, into: icmp + 8)
        let quoted = (minimalQuote && !flow.isIPv6) ? min(quotedFull, 20 + 8) : quotedFull
        let icmpLength = 8 + quoted

        icmp[0] = flow.isIPv6 ? 1 : 3          // destination unreachable
        icmp[1] = flow.isIPv6 ? 4 : 3          // port unreachable
        put16(icmp, 2, 0)                      // checksum, below
        put32(icmp, 4, 0)                      // unused (next-hop MTU for code 4 only)

        let proto = flow.isIPv6 ? protoICMPv6 : protoICMP
        ipHeader(flow: flow, fromClient: false, proto: proto, payloadLength: icmpLength,
                 ipID: ipID, into: p + eth)
        // ICMPv4 covers only the message; ICMPv6 adds the IPv6 pseudo-header.
        let pseudo = flow.isIPv6 ? pseudoHeaderSum(ip: p + eth, flow: flow, proto: proto, length: icmpLength) : 0
        put16(icmp, 2, finish(onesComplementSum(icmp, icmpLength, pseudo)))
        return eth + ipHeaderLength + icmpLength
    }

    // MARK: - Layers

    private static func ethernet(flow: Endpoints, fromClient: Bool,
                                 into p: UnsafeMutablePointer<UInt8>) -> Int {
        let (dst, src) = fromClient ? (serverMAC, clientMAC) : (clientMAC, serverMAC)
        for i in 0..<6 {
            p[i] = dst[i]
            p[6 + i] = src[i]
        }
        var offset = 12
        if flow.vlan != 0 {
            put16(p, offset, 0x8100)           // 802.1Q TPID
            put16(p, offset + 2, flow.vlan & 0x0FFF)  // PCP 0, DEI 0, VID
            offset += 4
        }
        put16(p, offset, flow.isIPv6 ? 0x86DD : 0x0800)
        return offset + 2
    }

    /// IP header + TCP segment, both checksummed. Returns the IP packet length.
    private static func ipTCP(_ s: TCPSegment, flow: Endpoints, ipID: UInt16,
                              into p: UnsafeMutablePointer<UInt8>) -> Int {
        let tcpHeaderLength = 20 + s.options.length
        let tcpLength = tcpHeaderLength + s.payloadLength
        let ipLength = ipHeader(flow: flow, fromClient: s.fromClient, proto: protoTCP,
                                payloadLength: tcpLength, ipID: ipID, into: p)
        let t = p + ipLength
        let (sport, dport) = s.fromClient ? (flow.clientPort, flow.serverPort) : (flow.serverPort, flow.clientPort)
        put16(t, 0, sport)
        put16(t, 2, dport)
        put32(t, 4, s.seq)
        put32(t, 8, s.ack)
        t[12] = UInt8(tcpHeaderLength / 4) << 4
        t[13] = s.flags
        put16(t, 14, s.window)
        put16(t, 16, 0)                        // checksum, below
        put16(t, 18, 0)                        // urgent pointer

        let o = t + 20
        switch s.options {
        case .none:
            break
        case .handshake:
            let mss: UInt16 = flow.isIPv6 ? 1440 : 1460
            o[0] = 2; o[1] = 4; put16(o, 2, mss)             // MSS
            o[4] = 4; o[5] = 2                               // SACK permitted
            o[6] = 8; o[7] = 10; put32(o, 8, s.tsval); put32(o, 12, s.tsecr)  // timestamps
            o[16] = 1                                        // NOP
            o[17] = 3; o[18] = 3; o[19] = 7                  // window scale 7
        case .timestamps:
            o[0] = 1; o[1] = 1
            o[2] = 8; o[3] = 10; put32(o, 4, s.tsval); put32(o, 8, s.tsecr)
        }
        if let payload = s.payload, s.payloadLength > 0 {
            memcpy(t + tcpHeaderLength, payload, s.payloadLength)
        }
        let pseudo = pseudoHeaderSum(ip: p, flow: flow, proto: protoTCP, length: tcpLength)
        put16(t, 16, finish(onesComplementSum(t, tcpLength, pseudo)))
        return ipLength + tcpLength
    }

    /// Writes an IPv4 (20 bytes, DF set, header checksum) or IPv6 (40 bytes)
    /// header. Returns its length.
    @discardableResult
    private static func ipHeader(flow: Endpoints, fromClient: Bool, proto: UInt8,
                                 payloadLength: Int, ipID: UInt16,
                                 into p: UnsafeMutablePointer<UInt8>) -> Int {
        let (src, dst) = fromClient ? (flow.clientHost, flow.serverHost) : (flow.serverHost, flow.clientHost)
        // The capture point is next to the clients: their packets have not
        // been routed yet, the servers' have crossed a few hops.
        let ttl: UInt8 = fromClient ? 64 : 57
        if flow.isIPv6 {
            // Version 6, traffic class 0, and a flow label per connection and
            // direction, as Linux sets one.
            let hash = (flow.clientHost &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(flow.clientPort) << 1 | (fromClient ? 1 : 0))
            put32(p, 0, 0x6000_0000 | UInt32(truncatingIfNeeded: hash >> 40) & 0xF_FFFF)
            put16(p, 4, UInt16(payloadLength))
            p[6] = proto
            p[7] = ttl
            putIPv6(p + 8, network: fromClient ? clientNet6 : serverNet6, host: src)
            putIPv6(p + 24, network: fromClient ? serverNet6 : clientNet6, host: dst)
            return 40
        }
        p[0] = 0x45
        p[1] = 0
        put16(p, 2, UInt16(20 + payloadLength))
        put16(p, 4, ipID)
        put16(p, 6, 0x4000)                    // DF, as Linux sets on TCP
        p[8] = ttl
        p[9] = proto
        put16(p, 10, 0)
        put32(p, 12, (fromClient ? clientNet4 : serverNet4) | UInt32(truncatingIfNeeded: src & 0xFF))
        put32(p, 16, (fromClient ? serverNet4 : clientNet4) | UInt32(truncatingIfNeeded: dst & 0xFF))
        put16(p, 10, finish(onesComplementSum(p, 20, 0)))
        return 20
    }

    /// Sum of the pseudo-header (RFC 793 / RFC 8200 §8.1) taken from the IP
    /// header already written at `ip`.
    private static func pseudoHeaderSum(ip: UnsafeMutablePointer<UInt8>, flow: Endpoints,
                                        proto: UInt8, length: Int) -> UInt64 {
        let addresses = flow.isIPv6 ? onesComplementSum(ip + 8, 32, 0) : onesComplementSum(ip + 12, 8, 0)
        return addresses + UInt64(proto) + UInt64(length)
    }

    // MARK: - Bytes

    /// `network` (the upper 64 bits) followed by the 64-bit interface ID.
    private static func putIPv6(_ p: UnsafeMutablePointer<UInt8>, network: UInt64, host: UInt64) {
        put32(p, 0, UInt32(truncatingIfNeeded: network >> 32))
        put32(p, 4, UInt32(truncatingIfNeeded: network))
        put32(p, 8, UInt32(truncatingIfNeeded: host >> 32))
        put32(p, 12, UInt32(truncatingIfNeeded: host))
    }

    @inline(__always)
    static func put16(_ p: UnsafeMutablePointer<UInt8>, _ offset: Int, _ v: UInt16) {
        p[offset] = UInt8(truncatingIfNeeded: v >> 8)
        p[offset + 1] = UInt8(truncatingIfNeeded: v)
    }

    @inline(__always)
    static func put32(_ p: UnsafeMutablePointer<UInt8>, _ offset: Int, _ v: UInt32) {
        UnsafeMutableRawPointer(p + offset).storeBytes(of: v.bigEndian, as: UInt32.self)
    }

    /// The Internet checksum's running sum (RFC 1071), four bytes at a time:
    /// since 2^16 ≡ 1 modulo 0xFFFF, adding 32-bit big-endian words and folding
    /// later gives the same result as adding 16-bit words. A 64-bit
    /// accumulator cannot overflow for any frame.
    static func onesComplementSum(_ p: UnsafePointer<UInt8>, _ count: Int, _ initial: UInt64) -> UInt64 {
        var sum = initial
        let raw = UnsafeRawPointer(p)
        var i = 0
        while i + 4 <= count {
            sum &+= UInt64(UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
            i += 4
        }
        if i + 2 <= count {
            sum &+= UInt64(p[i]) << 8 | UInt64(p[i + 1])
            i += 2
        }
        if i < count {
            sum &+= UInt64(p[i]) << 8         // odd length: pad with a zero byte
        }
        return sum
    }

    static func onesComplementSum(_ p: UnsafeMutablePointer<UInt8>, _ count: Int, _ initial: UInt64) -> UInt64 {
        onesComplementSum(UnsafePointer(p), count, initial)
    }

    /// Folds the running sum to 16 bits and complements it.
    static func finish(_ sum: UInt64) -> UInt16 {
        var s = sum
        while s >> 16 != 0 {
            s = (s & 0xFFFF) + (s >> 16)
        }
        return ~UInt16(s)
    }
}
