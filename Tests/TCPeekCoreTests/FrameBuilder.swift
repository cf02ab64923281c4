@testable import TCPeekCore

// Test frames, built field by field. Every header is written one field per
// line with the field's name beside it, so a test reads like a packet diagram
// and a wrong byte is easy to find. Checksums are computed here from the bytes
// just written (RFC 1071), independently of the decoder's own code, so that
// the builder is an oracle rather than a copy. Addresses are documentation
// ranges only: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32.

/// A whole captured frame: a link-layer header, a packet, maybe a trailer.
struct FrameBuilder: Sendable {
    enum Link: Sendable {
        /// Ethernet II with a stack of VLAN tags, outermost first.
        case ethernet(tags: [VLANTag] = [])
        /// Linux cooked capture v1 (16 bytes); libpcap re-inserts VLAN tags after it.
        case linuxSLL(tags: [VLANTag] = [])
        /// Linux cooked capture v2 (20 bytes).
        case linuxSLL2
        /// BSD loopback: address family in host order; nil picks 2 or 30 (macOS).
        case null(family: UInt32? = nil)
        /// OpenBSD loopback: address family in network order; nil picks 2 or 24.
        case loop(family: UInt32? = nil)
        /// Raw IP, no link header (DLT_RAW, DLT_IPV4, DLT_IPV6).
        case raw

        /// The decoder configuration matching this framing.
        var linkType: LinkType {
            switch self {
            case .ethernet: .ethernet
            case .linuxSLL: .linuxSLL
            case .linuxSLL2: .linuxSLL2
            case .null: .null
            case .loop: .loop
            case .raw: .raw
            }
        }
    }

    var link: Link = .ethernet()
    var packet: Network
    /// Bytes after the packet, such as Ethernet padding up to 60 bytes.
    var trailer: [UInt8] = []

    var linkType: LinkType { link.linkType }

    func build() -> [UInt8] {
        let payload = packet.encode()
        var w = Writer()
        switch link {
        case .ethernet(let tags):
            w.append([0x02, 0, 0, 0, 0, 0x02])                     // destination MAC (locally administered)
            w.append([0x02, 0, 0, 0, 0, 0x01])                     // source MAC
            writeTags(tags, then: packet.etherType, into: &w)     // [TPID, TCI]..., EtherType
        case .linuxSLL(let tags):
            w.u16(0)                                               // packet type: to us
            w.u16(1)                                               // ARPHRD type: ARPHRD_ETHER
            w.u16(6)                                               // link-layer address length
            w.append([0x02, 0, 0, 0, 0, 0x01, 0, 0])               // link-layer address, padded to 8
            writeTags(tags, then: packet.etherType, into: &w)     // [TPID, TCI]..., protocol type
        case .linuxSLL2:
            w.u16(packet.etherType)                                // protocol type
            w.u16(0)                                               // reserved
            w.u32(2)                                               // interface index
            w.u16(1)                                               // ARPHRD type: ARPHRD_ETHER
            w.u8(0)                                                // packet type: to us
            w.u8(6)                                                // link-layer address length
            w.append([0x02, 0, 0, 0, 0, 0x01, 0, 0])               // link-layer address, padded to 8
        case .null(let family):
            w.u32HostOrder(family ?? defaultFamily(ipv6: 30))      // address family, capturing host's order
        case .loop(let family):
            w.u32(family ?? defaultFamily(ipv6: 24))               // address family, network order
        case .raw:
            break
        }
        w.append(payload)                                          // the packet
        w.append(trailer)                                          // padding, trailer
        return w.bytes
    }

    private func writeTags(_ tags: [VLANTag], then etherType: UInt16, into w: inout Writer) {
        for tag in tags {
            w.u16(tag.tpid)                                        // TPID
            w.u16(UInt16(tag.priority & 7) << 13 | (tag.dropEligible ? 0x1000 : 0) | tag.id & 0x0FFF)  // PCP, DEI, VID
        }
        w.u16(etherType)                                           // EtherType
    }

    private func defaultFamily(ipv6: UInt32) -> UInt32 {
        switch packet {
        case .ipv4: 2
        case .ipv6: ipv6
        case .other: 0
        }
    }
}

/// Pads option bytes with zeros (End of Option List) to a multiple of four.
private func padded(_ options: [UInt8]) -> [UInt8] {
    options + [UInt8](repeating: 0, count: (4 - options.count % 4) % 4)
}

extension FrameBuilder {
    // MARK: - Bytes and checksums


    /// Appends fields in network byte order (unless a method says otherwise).
    struct Writer: Sendable {
        private(set) var bytes: [UInt8] = []

        mutating func u8(_ value: UInt8) { bytes.append(value) }

        mutating func u16(_ value: UInt16) {
            bytes.append(UInt8(value >> 8))
            bytes.append(UInt8(truncatingIfNeeded: value))
        }

        mutating func u32(_ value: UInt32) {
            u16(UInt16(value >> 16))
            u16(UInt16(truncatingIfNeeded: value))
        }

        /// A 32-bit value in the byte order of the machine running the tests
        /// (DLT_NULL's address family is written this way by the capturing host).
        mutating func u32HostOrder(_ value: UInt32) {
            withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
        }

        /// 4 bytes for an IPv4 address, 16 for an IPv6 address.
        mutating func address(_ address: IPAddress) {
            if address.isIPv4 {
                u32(address.ipv4Value)
            } else {
                u32(UInt32(truncatingIfNeeded: address.high >> 32))
                u32(UInt32(truncatingIfNeeded: address.high))
                u32(UInt32(truncatingIfNeeded: address.low >> 32))
                u32(UInt32(truncatingIfNeeded: address.low))
            }
        }

        mutating func append(_ more: [UInt8]) { bytes.append(contentsOf: more) }

        mutating func zeros(_ count: Int) { bytes.append(contentsOf: repeatElement(0, count: count)) }

        /// Overwrites two bytes already written (a checksum filled in last).
        mutating func set16(_ value: UInt16, at offset: Int) {
            bytes[offset] = UInt8(value >> 8)
            bytes[offset + 1] = UInt8(truncatingIfNeeded: value)
        }
    }

    /// The Internet checksum (RFC 1071), written the textbook way.
    enum InternetChecksum {
        /// The checksum field value that makes `pseudoHeader + data` sum to 0xFFFF.
        static func compute(_ data: [UInt8], pseudoHeader: [UInt8] = []) -> UInt16 {
            var sum: UInt32 = 0
            for words in [pseudoHeader, data] {
                var index = 0
                while index < words.count {
                    let high = UInt32(words[index]) << 8
                    let low = index + 1 < words.count ? UInt32(words[index + 1]) : 0  // odd length: pad with zero
                    sum += high | low
                    index += 2
                }
            }
            while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
            return ~UInt16(sum)
        }

        /// A checksum that is certainly wrong: never `value` itself, and never the
        /// other one's-complement zero that would also verify.
        static func corrupted(_ value: UInt16) -> UInt16 { value ^ 0x5A5A }

        /// RFC 793 pseudo-header: source, destination, zero, protocol, TCP length.
        static func pseudoHeaderIPv4(source: IPAddress, destination: IPAddress, proto: UInt8, length: Int) -> [UInt8] {
            var w = Writer()
            w.address(source)              // source address
            w.address(destination)         // destination address
            w.u8(0)                        // zero
            w.u8(proto)                    // protocol
            w.u16(UInt16(length))          // TCP (or UDP) length
            return w.bytes
        }

        /// RFC 8200 §8.1 pseudo-header: source, destination, upper-layer length, next header.
        static func pseudoHeaderIPv6(source: IPAddress, destination: IPAddress, proto: UInt8, length: Int) -> [UInt8] {
            var w = Writer()
            w.address(source)              // source address
            w.address(destination)         // destination address (final one)
            w.u32(UInt32(length))          // upper-layer packet length
            w.zeros(3)                     // zero
            w.u8(proto)                    // next header
            return w.bytes
        }
    }

    // MARK: - Transport

    /// A TCP header and payload. `flags` include the AccECN AE bit (0x100).
    struct TCP: Sendable {
        var sourcePort: UInt16 = 49_152
        var destinationPort: UInt16 = 443
        var sequence: UInt32 = 0x1122_3344
        var acknowledgment: UInt32 = 0
        var flags: TCPFlags = .syn
        /// The three reserved bits between the data offset and AE (must be ignored).
        var reservedBits: UInt8 = 0
        var window: UInt16 = 64_240
        var urgentPointer: UInt16 = 0
        var options: [UInt8] = []
        var payload: [UInt8] = []
        /// Overrides the data offset (header length in 32-bit words).
        var dataOffsetWords: UInt8? = nil
        var corruptChecksum = false

        /// What Linux puts on a SYN: MSS 1460, SACK permitted, timestamps, NOP,
        /// window scale 7 (20 bytes).
        static let linuxSYNOptions: [UInt8] = [
            2, 4, 0x05, 0xB4,              // MSS 1460
            4, 2,                          // SACK permitted
            8, 10, 0, 0, 0x12, 0x34,       // timestamps: TSval 0x1234
            0, 0, 0, 0,                    //             TSecr 0
            1,                             // NOP
            3, 3, 7,                       // window scale 7
        ]

        func encode(pseudoHeader: (_ length: Int) -> [UInt8]) -> [UInt8] {
            let options = padded(self.options)
            let offset = dataOffsetWords ?? UInt8((20 + options.count) / 4)
            var w = Writer()
            w.u16(sourcePort)                                          // source port
            w.u16(destinationPort)                                     // destination port
            w.u32(sequence)                                            // sequence number
            w.u32(acknowledgment)                                      // acknowledgment number
            w.u8(offset << 4 | (reservedBits & 0x7) << 1 | UInt8(flags.rawValue >> 8 & 1))  // data offset, reserved, AE
            w.u8(UInt8(truncatingIfNeeded: flags.rawValue))            // CWR ECE URG ACK PSH RST SYN FIN
            w.u16(window)                                              // window
            w.u16(0)                                                   // checksum, filled in below
            w.u16(urgentPointer)                                       // urgent pointer
            w.append(options)                                          // options, padded to 32 bits
            w.append(payload)                                          // data
            var checksum = InternetChecksum.compute(w.bytes, pseudoHeader: pseudoHeader(w.bytes.count))
            if corruptChecksum { checksum = InternetChecksum.corrupted(checksum) }
            w.set16(checksum, at: 16)
            return w.bytes
        }
    }

    /// A UDP datagram (always ignored by tcpeek).
    struct UDP: Sendable {
        var sourcePort: UInt16 = 53_000
        var destinationPort: UInt16 = 53
        var payload: [UInt8] = [0xAB, 0xCD, 0x01, 0x00]

        func encode(pseudoHeader: (_ length: Int) -> [UInt8]) -> [UInt8] {
            var w = Writer()
            w.u16(sourcePort)                                          // source port
            w.u16(destinationPort)                                     // destination port
            w.u16(UInt16(8 + payload.count))                           // length
            w.u16(0)                                                   // checksum, filled in below
            w.append(payload)                                          // data
            w.set16(InternetChecksum.compute(w.bytes, pseudoHeader: pseudoHeader(w.bytes.count)), at: 6)
            return w.bytes
        }
    }

    /// An ICMPv4 message; with `quoting` set, an error quoting that datagram.
    struct ICMPv4: Sendable {
        /// 3: destination unreachable.
        var type: UInt8 = 3
        /// 3: port unreachable.
        var code: UInt8 = 3
        /// Unused, or the next-hop MTU for code 4, or identifier and sequence for echo.
        var restOfHeader: UInt32 = 0
        var quoting: IPv4? = nil
        /// How many bytes of the quoted transport header to keep (RFC 792: 8);
        /// nil quotes the whole datagram, as Linux does.
        var quotedTransportBytes: Int? = 8
        var data: [UInt8] = []
        var corruptChecksum = false

        func encode() -> [UInt8] {
            var quote: [UInt8] = []
            if let quoting {
                quote = quoting.encode()
                if let keep = quotedTransportBytes { quote = Array(quote.prefix(quoting.headerBytes + keep)) }
            }
            var w = Writer()
            w.u8(type)                                                 // type
            w.u8(code)                                                 // code
            w.u16(0)                                                   // checksum, filled in below
            w.u32(restOfHeader)                                        // rest of header
            w.append(quote)                                            // quoted IP header + first bytes of its payload
            w.append(data)                                             // any other data
            var checksum = InternetChecksum.compute(w.bytes)
            if corruptChecksum { checksum = InternetChecksum.corrupted(checksum) }
            w.set16(checksum, at: 2)
            return w.bytes
        }
    }

    /// An ICMPv6 message; with `quoting` set, an error quoting that packet.
    struct ICMPv6: Sendable {
        /// 1: destination unreachable.
        var type: UInt8 = 1
        /// 4: port unreachable.
        var code: UInt8 = 4
        var restOfHeader: UInt32 = 0
        var quoting: IPv6? = nil
        /// Bytes of the quoted packet to keep; nil keeps all (RFC 4443: as much as fits).
        var quotedBytes: Int? = nil
        var data: [UInt8] = []
        var corruptChecksum = false

        func encode(pseudoHeader: (_ length: Int) -> [UInt8]) -> [UInt8] {
            var quote = quoting?.encode() ?? []
            if let keep = quotedBytes { quote = Array(quote.prefix(keep)) }
            var w = Writer()
            w.u8(type)                                                 // type
            w.u8(code)                                                 // code
            w.u16(0)                                                   // checksum, filled in below
            w.u32(restOfHeader)                                        // unused / MTU / identifier+sequence
            w.append(quote)                                            // as much of the invoking packet as fits
            w.append(data)                                             // any other data
            var checksum = InternetChecksum.compute(w.bytes, pseudoHeader: pseudoHeader(w.bytes.count))
            if corruptChecksum { checksum = InternetChecksum.corrupted(checksum) }
            w.set16(checksum, at: 2)
            return w.bytes
        }
    }

    /// What an IP packet carries.
    indirect enum Transport: Sendable {
        case tcp(TCP)
        case udp(UDP)
        case icmpv4(ICMPv4)
        case icmpv6(ICMPv6)
        case other(proto: UInt8, bytes: [UInt8])

        var proto: UInt8 {
            switch self {
            case .tcp: 6
            case .udp: 17
            case .icmpv4: 1
            case .icmpv6: 58
            case .other(let proto, _): proto
            }
        }

        func encode(pseudoHeader: (_ length: Int) -> [UInt8]) -> [UInt8] {
            switch self {
            case .tcp(let tcp): tcp.encode(pseudoHeader: pseudoHeader)
            case .udp(let udp): udp.encode(pseudoHeader: pseudoHeader)
            case .icmpv4(let icmp): icmp.encode()
            case .icmpv6(let icmp): icmp.encode(pseudoHeader: pseudoHeader)
            case .other(_, let bytes): bytes
            }
        }
    }

    // MARK: - Network

    /// An IPv4 header and what it carries.
    struct IPv4: Sendable {
        var source: IPAddress
        var destination: IPAddress
        var tos: UInt8 = 0
        var identification: UInt16 = 0x1C46
        var dontFragment = true
        var moreFragments = false
        /// In 8-byte units.
        var fragmentOffset: UInt16 = 0
        var ttl: UInt8 = 64
        var options: [UInt8] = []
        var payload: Transport
        /// Overrides the IHL (header length in 32-bit words).
        var headerLengthWords: UInt8? = nil
        /// Overrides the total length.
        var totalLength: UInt16? = nil
        var corruptChecksum = false
        /// Carry only these bytes of the encoded transport (a fragment); the
        /// transport checksum still covers the whole, as in a real first fragment.
        var carries: Range<Int>? = nil

        /// Header bytes as written (20 plus padded options), whatever the IHL says.
        var headerBytes: Int { 20 + padded(options).count }

        func encode() -> [UInt8] {
            let proto = payload.proto
            let full = payload.encode { length in
                InternetChecksum.pseudoHeaderIPv4(source: source, destination: destination, proto: proto, length: length)
            }
            let carried = carries.map { Array(full[$0.clamped(to: full.indices)]) } ?? full
            let options = padded(self.options)
            let ihl = headerLengthWords ?? UInt8((20 + options.count) / 4)
            let flags: UInt16 = (dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0)
            var w = Writer()
            w.u8(4 << 4 | ihl & 0x0F)                                  // version 4, IHL
            w.u8(tos)                                                  // DSCP, ECN
            w.u16(totalLength ?? UInt16(20 + options.count + carried.count))  // total length
            w.u16(identification)                                      // identification
            w.u16(flags | fragmentOffset & 0x1FFF)                     // flags (DF, MF), fragment offset
            w.u8(ttl)                                                  // time to live
            w.u8(proto)                                                // protocol
            w.u16(0)                                                   // header checksum, filled in below
            w.address(source)                                          // source address
            w.address(destination)                                     // destination address
            w.append(options)                                          // options, padded to 32 bits
            var checksum = InternetChecksum.compute(w.bytes)
            if corruptChecksum { checksum = InternetChecksum.corrupted(checksum) }
            w.set16(checksum, at: 10)
            w.append(carried)                                          // payload
            return w.bytes
        }
    }

    /// One IPv6 extension header.
    enum Extension: Sendable {
        /// Hop-by-hop options (next header 0), `units` + 1 eight-byte units of PadN.
        case hopByHop(units: UInt8 = 0)
        /// Routing header (43), type 2 with one address.
        case routing(address: IPAddress)
        /// Destination options (60), `units` + 1 eight-byte units of PadN.
        case destinationOptions(units: UInt8 = 0)
        /// Fragment header (44); offset in 8-byte units.
        case fragment(offset: UInt16, moreFragments: Bool, identification: UInt32 = 0xC0FF_EE01)

        var code: UInt8 {
            switch self {
            case .hopByHop: 0
            case .routing: 43
            case .destinationOptions: 60
            case .fragment: 44
            }
        }

        func encode(nextHeader: UInt8) -> [UInt8] {
            var w = Writer()
            switch self {
            case .hopByHop(let units), .destinationOptions(let units):
                let padLength = Int(units) * 8 + 6
                w.u8(nextHeader)                                       // next header
                w.u8(units)                                            // header extension length (8-byte units beyond the first)
                w.u8(1)                                                // option type: PadN
                w.u8(UInt8(padLength - 2))                             // option data length
                w.zeros(padLength - 2)                                 // option data
            case .routing(let address):
                w.u8(nextHeader)                                       // next header
                w.u8(2)                                                // header extension length: 24 bytes
                w.u8(2)                                                // routing type 2 (RFC 6275)
                w.u8(1)                                                // segments left
                w.u32(0)                                               // reserved
                w.address(address)                                     // home address
            case .fragment(let offset, let more, let identification):
                w.u8(nextHeader)                                       // next header
                w.u8(0)                                                // reserved
                w.u16(offset << 3 | (more ? 1 : 0))                    // fragment offset, res, M flag
                w.u32(identification)                                  // identification
            }
            return w.bytes
        }
    }

    /// An IPv6 header, its extension headers and what it carries.
    struct IPv6: Sendable {
        var source: IPAddress
        var destination: IPAddress
        var trafficClass: UInt8 = 0
        var flowLabel: UInt32 = 0x1_2345
        var hopLimit: UInt8 = 64
        var extensionHeaders: [Extension] = []
        var payload: Transport
        /// Overrides the payload length.
        var payloadLength: UInt16? = nil
        /// Carry only these bytes of the encoded transport (a fragment).
        var carries: Range<Int>? = nil

        func encode() -> [UInt8] {
            let proto = payload.proto
            let full = payload.encode { length in
                InternetChecksum.pseudoHeaderIPv6(source: source, destination: destination, proto: proto, length: length)
            }
            let carried = carries.map { Array(full[$0.clamped(to: full.indices)]) } ?? full
            var extensions: [UInt8] = []
            for (index, header) in extensionHeaders.enumerated() {
                let next = index + 1 < extensionHeaders.count ? extensionHeaders[index + 1].code : proto
                extensions += header.encode(nextHeader: next)
            }
            let first = extensionHeaders.first?.code ?? proto
            var w = Writer()
            w.u32(6 << 28 | UInt32(trafficClass) << 20 | flowLabel & 0xF_FFFF)  // version 6, traffic class, flow label
            w.u16(payloadLength ?? UInt16(extensions.count + carried.count))  // payload length
            w.u8(first)                                                // next header
            w.u8(hopLimit)                                             // hop limit
            w.address(source)                                          // source address
            w.address(destination)                                     // destination address
            w.append(extensions)                                       // extension headers
            w.append(carried)                                          // upper-layer data
            return w.bytes
        }
    }

    /// An ARP request (ignored by tcpeek).
    struct ARP: Sendable {
        var senderAddress: IPAddress
        var targetAddress: IPAddress

        func encode() -> [UInt8] {
            var w = Writer()
            w.u16(1)                                                   // hardware type: Ethernet
            w.u16(0x0800)                                              // protocol type: IPv4
            w.u8(6)                                                    // hardware address length
            w.u8(4)                                                    // protocol address length
            w.u16(1)                                                   // operation: request
            w.append([0x02, 0, 0, 0, 0, 0x01])                         // sender hardware address
            w.address(senderAddress)                                   // sender protocol address
            w.zeros(6)                                                 // target hardware address
            w.address(targetAddress)                                   // target protocol address
            return w.bytes
        }
    }

    /// What a link-layer header carries.
    enum Network: Sendable {
        case ipv4(IPv4)
        case ipv6(IPv6)
        case other(etherType: UInt16, bytes: [UInt8])

        var etherType: UInt16 {
            switch self {
            case .ipv4: 0x0800
            case .ipv6: 0x86DD
            case .other(let etherType, _): etherType
            }
        }

        func encode() -> [UInt8] {
            switch self {
            case .ipv4(let packet): packet.encode()
            case .ipv6(let packet): packet.encode()
            case .other(_, let bytes): bytes
            }
        }
    }

    // MARK: - Link

    /// One VLAN tag: 0x8100 (802.1Q, C-tag) or 0x88A8 (802.1ad, S-tag).
    struct VLANTag: Sendable {
        var tpid: UInt16 = 0x8100
        var id: UInt16
        var priority: UInt8 = 0
        var dropEligible = false

        static func q(_ id: UInt16) -> VLANTag { VLANTag(tpid: 0x8100, id: id) }
        static func ad(_ id: UInt16) -> VLANTag { VLANTag(tpid: 0x88A8, id: id) }
    }
}
