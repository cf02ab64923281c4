/// The link-layer framings tcpeek understands, by libpcap `DLT_*` value.
public enum LinkType: Sendable, Hashable {
    case ethernet
    /// Linux cooked capture v1 (`-i any`).
    case linuxSLL
    /// Linux cooked capture v2.
    case linuxSLL2
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    case null
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    case loop
    /// Raw IP, version taken from the first nibble.
    case raw
    case ipv4
    case ipv6

    /// Maps a libpcap `DLT_*` value (as `pcap_datalink` returns it); nil for
    /// link types tcpeek cannot decode.
    public init?(dlt: Int32) {
        switch dlt {
        case 0: self = .null
        case 1: self = .ethernet
        case 12, 14, 101: self = .raw  // DLT_RAW differs by platform; 101 is LINKTYPE_RAW.
        case 108: self = .loop
        case 113: self = .linuxSLL
        case 228: self = .ipv4
        case 229: self = .ipv6
        case 276: self = .linuxSLL2
        default: return nil
        }
    }
}

/// How much of each packet to verify (`-c/--checksum`).
public enum ChecksumMode: Int, Sendable, CaseIterable {
    /// Verify nothing: checksum offload makes outgoing packets look wrong.
    case none = 0
    /// Verify the IPv4 header checksum.
    case ipHeader = 1
    /// Verify the IPv4 header and the TCP, ICMP and ICMPv6 checksums.
    case all = 2
}

/// Why a packet was counted as malformed and skipped.
public enum MalformedReason: Int, Sendable, CaseIterable, CustomStringConvertible {
    case truncatedLinkHeader
    case truncatedIPHeader
    case badIPVersion
    case badIPHeaderLength
    case badIPTotalLength
    case tooManyExtensionHeaders
    case truncatedTCPHeader
    case badTCPHeaderLength
    case truncatedICMP
    case badIPChecksum
    case badTCPChecksum
    case badICMPChecksum

    public var description: String {
        switch self {
        case .truncatedLinkHeader: "truncated link header"
        case .truncatedIPHeader: "truncated IP header"
        case .badIPVersion: "bad IP version"
        case .badIPHeaderLength: "bad IPv4 header length"
        case .badIPTotalLength: "bad IP total length"
        case .tooManyExtensionHeaders: "too many IPv6 extension headers"
        case .truncatedTCPHeader: "truncated TCP header"
        case .badTCPHeaderLength: "bad TCP header length"
        case .truncatedICMP: "truncated ICMP message"
        case .badIPChecksum: "bad IPv4 header checksum"
        case .badTCPChecksum: "bad TCP checksum"
        case .badICMPChecksum: "bad ICMP checksum"
        }
    }

    /// A short machine-friendly name (JSON keys, metric labels).
    public var key: String {
        switch self {
        case .truncatedLinkHeader: "truncated_link"
        case .truncatedIPHeader: "truncated_ip"
        case .badIPVersion: "bad_ip_version"
        case .badIPHeaderLength: "bad_ip_header_length"
        case .badIPTotalLength: "bad_ip_total_length"
        case .tooManyExtensionHeaders: "too_many_ipv6_extension_headers"
        case .truncatedTCPHeader: "truncated_tcp"
        case .badTCPHeaderLength: "bad_tcp_header_length"
        case .truncatedICMP: "truncated_icmp"
        case .badIPChecksum: "bad_ip_checksum"
        case .badTCPChecksum: "bad_tcp_checksum"
        case .badICMPChecksum: "bad_icmp_checksum"
        }
    }
}

/// What one captured frame turned out to be.
public enum DecodedPacket: Sendable {
    case tcp(TCPSegment)
    case unreachable(ICMPUnreachable)
    /// Not TCP, not a relevant ICMP message, or a non-first fragment.
    case ignored
    case malformed(MalformedReason)
}

/// Decodes captured frames into segments. A value type with no state but its
/// configuration: it never allocates and is safe to copy to any thread.
public struct PacketDecoder: Sendable {
    public var linkType: LinkType
    public var checksumMode: ChecksumMode
    /// Whether ICMP unreachables are interpreted (`--no-icmp` turns it off).
    public var interpretsICMP: Bool

    public init(linkType: LinkType, checksumMode: ChecksumMode = .none, interpretsICMP: Bool = true) {
        self.linkType = linkType
        self.checksumMode = checksumMode
        self.interpretsICMP = interpretsICMP
    }

    /// Decodes one frame (the captured bytes, possibly cut by the snap
    /// length). `frame` is borrowed: nothing keeps it after return.
    public func decode(_ frame: UnsafeRawBufferPointer) -> DecodedPacket {
        var vlan = VLANPath.none
        let bytes = Bytes(frame)
        switch linkType {
        case .ethernet:
            guard bytes.count >= 14 else { return .malformed(.truncatedLinkHeader) }
            return decodeEtherType(bytes, at: 12, vlan: &vlan)
        case .linuxSLL:
            guard bytes.count >= 16 else { return .malformed(.truncatedLinkHeader) }
            return decodeEtherType(bytes, at: 14, vlan: &vlan)
        case .linuxSLL2:
            guard bytes.count >= 20 else { return .malformed(.truncatedLinkHeader) }
            return decodeProtocol(bytes, etherType: bytes.u16(0), at: 20, vlan: &vlan)
        case .null, .loop:
            guard bytes.count >= 4 else { return .malformed(.truncatedLinkHeader) }
            var family = bytes.u32(0)
            // DLT_NULL stores the family in the capturing host's order.
            if linkType == .null, family > 0xFFFF { family = family.byteSwapped }
            switch family {
            case 2: return decodeIPv4(bytes, at: 4, vlan: vlan)
            case 10, 24, 28, 30: return decodeIPv6(bytes, at: 4, vlan: vlan)  // Linux, BSDs, FreeBSD, macOS
            default: return .ignored
            }
        case .raw:
            guard bytes.count >= 1 else { return .malformed(.truncatedIPHeader) }
            switch bytes.u8(0) >> 4 {
            case 4: return decodeIPv4(bytes, at: 0, vlan: vlan)
            case 6: return decodeIPv6(bytes, at: 0, vlan: vlan)
            default: return .malformed(.badIPVersion)
            }
        case .ipv4:
            return decodeIPv4(bytes, at: 0, vlan: vlan)
        case .ipv6:
            return decodeIPv6(bytes, at: 0, vlan: vlan)
        }
    }

    /// Reads an EtherType at `offset`, following any stack of VLAN tags.
    private func decodeEtherType(_ bytes: Bytes, at offset: Int, vlan: inout VLANPath) -> DecodedPacket {
        guard bytes.count >= offset + 2 else { return .malformed(.truncatedLinkHeader) }
        return decodeProtocol(bytes, etherType: bytes.u16(offset), at: offset + 2, vlan: &vlan)
    }

    private func decodeProtocol(_ bytes: Bytes, etherType: UInt16, at offset: Int, vlan: inout VLANPath) -> DecodedPacket {
        var etherType = etherType
        var cursor = offset
        // 802.1Q, 802.1ad and the pre-standard 0x9100 QinQ tag.
        while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100 {
            guard bytes.count >= cursor + 4 else { return .malformed(.truncatedLinkHeader) }
            vlan.push(bytes.u16(cursor) & 0x0FFF)
            etherType = bytes.u16(cursor + 2)
            cursor += 4
        }
        switch etherType {
        case 0x0800: return decodeIPv4(bytes, at: cursor, vlan: vlan)
        case 0x86DD: return decodeIPv6(bytes, at: cursor, vlan: vlan)
        default: return .ignored
        }
    }

    // MARK: IPv4

    private func decodeIPv4(_ bytes: Bytes, at start: Int, vlan: VLANPath) -> DecodedPacket {
        guard bytes.count >= start + 20 else { return .malformed(.truncatedIPHeader) }
        let versionAndLength = bytes.u8(start)
        guard versionAndLength >> 4 == 4 else { return .malformed(.badIPVersion) }
        let headerLength = Int(versionAndLength & 0x0F) * 4
        guard headerLength >= 20 else { return .malformed(.badIPHeaderLength) }
        guard bytes.count >= start + headerLength else { return .malformed(.truncatedIPHeader) }
        let totalLength = Int(bytes.u16(start + 2))
        guard totalLength >= headerLength else { return .malformed(.badIPTotalLength) }
        if checksumMode != .none, Checksum.ones(bytes, from: start, count: headerLength) != 0xFFFF {
            return .malformed(.badIPChecksum)
        }
        // Non-first fragments carry no transport header.
        let fragment = bytes.u16(start + 6)
        if fragment & 0x1FFF != 0 { return .ignored }
        // A first fragment's transport checksum covers the whole datagram.
        let verifiesTransport = checksumMode == .all && fragment & 0x2000 == 0
        let proto = bytes.u8(start + 9)
        let timeToLive = bytes.u8(start + 8)
        let source = IPAddress(ipv4: bytes.u32(start + 12))
        var destination = IPAddress(ipv4: bytes.u32(start + 16))
        if headerLength > 20, let routed = Self.sourceRouteDestination(bytes, options: start + 20, end: start + headerLength) {
            destination = routed
        }
        let payload = start + headerLength
        let payloadLength = totalLength - headerLength
        switch proto {
        case 6:
            var pseudo: UInt32 = 0
            if verifiesTransport {
                pseudo = Checksum.pseudoHeaderIPv4(source: source, destination: destination, length: payloadLength, proto: 6)
            }
            return decodeTCP(bytes, at: payload, length: payloadLength, source: source, destination: destination,
                             verifies: verifiesTransport, pseudoHeaderSum: pseudo, vlan: vlan, hopLimit: timeToLive)
        case 1:
            return decodeICMPv4(bytes, at: payload, length: payloadLength, verifies: verifiesTransport, vlan: vlan,
                                sender: source, hopLimit: timeToLive)
        default:
            return .ignored
        }
    }

    /// The final destination of an unfinished loose or strict source route
    /// (options 131 and 137): while the route is being followed the header's
    /// destination is only the next hop, and both the flow and the TCP
    /// checksum belong to the last address of the route.
    static func sourceRouteDestination(_ bytes: Bytes, options start: Int, end: Int) -> IPAddress? {
        var cursor = start
        while cursor < end {
            let type = bytes.u8(cursor)
            if type == 0 { return nil }  // end of options
            if type == 1 { cursor += 1; continue }  // no-op
            guard cursor + 1 < end else { return nil }
            let length = Int(bytes.u8(cursor + 1))
            guard length >= 2, cursor + length <= end else { return nil }
            if type == 0x83 || type == 0x89, length >= 7, cursor + 2 < end {
                let pointer = Int(bytes.u8(cursor + 2))
                // A pointer past the data means the route is complete.
                if pointer <= length { return IPAddress(ipv4: bytes.u32(cursor + length - 4)) }
                return nil
            }
            cursor += length
        }
        return nil
    }

    // MARK: IPv6

    private func decodeIPv6(_ bytes: Bytes, at start: Int, vlan: VLANPath) -> DecodedPacket {
        guard bytes.count >= start + 40 else { return .malformed(.truncatedIPHeader) }
        guard bytes.u8(start) >> 4 == 6 else { return .malformed(.badIPVersion) }
        var payloadLength = Int(bytes.u16(start + 4))
        if payloadLength == 0 { payloadLength = bytes.count - start - 40 }  // jumbogram: trust the capture
        let source = IPAddress(high: bytes.u64(start + 8), low: bytes.u64(start + 16))
        let destination = IPAddress(high: bytes.u64(start + 24), low: bytes.u64(start + 32))
        let hopLimit = bytes.u8(start + 7)
        switch skipExtensionHeaders(bytes, nextHeader: bytes.u8(start + 6), at: start + 40, remaining: payloadLength) {
        case .failure(let reason):
            return .malformed(reason)
        case .nonFirstFragment:
            return .ignored
        case .upperLayer(let proto, let offset, let remaining, let isFragment):
            // A first fragment's transport checksum covers the whole packet.
            let verifiesTransport = checksumMode == .all && !isFragment
            switch proto {
            case 6:
                var pseudo: UInt32 = 0
                if verifiesTransport {
                    pseudo = Checksum.pseudoHeaderIPv6(source: source, destination: destination, length: remaining, proto: 6)
                }
                return decodeTCP(bytes, at: offset, length: remaining, source: source, destination: destination,
                                 verifies: verifiesTransport, pseudoHeaderSum: pseudo, vlan: vlan, hopLimit: hopLimit)
            case 58:
                var pseudo: UInt32 = 0
                if verifiesTransport {
                    pseudo = Checksum.pseudoHeaderIPv6(source: source, destination: destination, length: remaining, proto: 58)
                }
                return decodeICMPv6(bytes, at: offset, length: remaining, verifies: verifiesTransport,
                                    pseudoHeaderSum: pseudo, vlan: vlan, sender: source, hopLimit: hopLimit)
            default:
                return .ignored
            }
        }
    }

    private enum UpperLayer {
        /// `isFragment`: a fragment header with the M flag (a first fragment) was crossed.
        case upperLayer(proto: UInt8, offset: Int, remaining: Int, isFragment: Bool)
        case nonFirstFragment
        case failure(MalformedReason)
    }

    /// Walks hop-by-hop, routing, destination-options, fragment and AH headers.
    private func skipExtensionHeaders(_ bytes: Bytes, nextHeader: UInt8, at offset: Int, remaining: Int) -> UpperLayer {
        var next = nextHeader
        var cursor = offset
        var remaining = remaining
        var isFragment = false
        for _ in 0..<16 {
            switch next {
            case 0, 43, 60:  // hop-by-hop, routing, destination options
                guard bytes.count >= cursor + 2 else { return .failure(.truncatedIPHeader) }
                let length = (Int(bytes.u8(cursor + 1)) + 1) * 8
                guard remaining >= length else { return .failure(.badIPTotalLength) }
                next = bytes.u8(cursor)
                cursor += length
                remaining -= length
            case 44:  // fragment
                guard bytes.count >= cursor + 8 else { return .failure(.truncatedIPHeader) }
                guard remaining >= 8 else { return .failure(.badIPTotalLength) }
                if bytes.u16(cursor + 2) & 0xFFF8 != 0 { return .nonFirstFragment }
                if bytes.u16(cursor + 2) & 1 != 0 { isFragment = true }
                next = bytes.u8(cursor)
                cursor += 8
                remaining -= 8
            case 51:  // authentication header: length in 4-byte units, minus 2
                guard bytes.count >= cursor + 2 else { return .failure(.truncatedIPHeader) }
                let length = (Int(bytes.u8(cursor + 1)) + 2) * 4
                guard remaining >= length else { return .failure(.badIPTotalLength) }
                next = bytes.u8(cursor)
                cursor += length
                remaining -= length
            default:
                return .upperLayer(proto: next, offset: cursor, remaining: remaining, isFragment: isFragment)
            }
        }
        return .failure(.tooManyExtensionHeaders)
    }

    // MARK: TCP

    private func decodeTCP(
        _ bytes: Bytes, at start: Int, length: Int, source: IPAddress, destination: IPAddress,
        verifies: Bool, pseudoHeaderSum: UInt32, vlan: VLANPath, hopLimit: UInt8
    ) -> DecodedPacket {
        guard length >= 20 else { return .malformed(.badTCPHeaderLength) }
        guard bytes.count >= start + 20 else { return .malformed(.truncatedTCPHeader) }
        let offsetAndFlags = bytes.u16(start + 12)
        let headerLength = Int(offsetAndFlags >> 12) * 4
        guard headerLength >= 20, headerLength <= length else { return .malformed(.badTCPHeaderLength) }
        // Verify only what was captured whole: a short snap length cuts payloads.
        if verifies, bytes.count >= start + length,
           Checksum.ones(bytes, from: start, count: length, initial: pseudoHeaderSum) != 0xFFFF {
            return .malformed(.badTCPChecksum)
        }
        let flags = TCPFlags(rawValue: offsetAndFlags & 0x01FF)
        // Only the server's SYN/ACK carries options the evidence keeps (a
        // SYN's would cost a walk per attempt for nothing); the options
        // that were captured (a short snap length may cut them).
        let synOptions = flags.isSYNACK
            ? Self.synOptions(bytes, from: start + 20, to: min(bytes.count, start + headerLength)) : SYNOptions()
        return .tcp(TCPSegment(
            source: source, destination: destination,
            sourcePort: bytes.u16(start), destinationPort: bytes.u16(start + 2),
            sequence: bytes.u32(start + 4), acknowledgment: bytes.u32(start + 8),
            flags: flags, payloadLength: UInt32(length - headerLength), vlan: vlan, hopLimit: hopLimit,
            synOptions: synOptions))
    }

    /// MSS and window scale from a TCP header's options (RFC 9293 §3.1):
    /// kinds 0 (end) and 1 (no-op) are one byte, every other kind gives its
    /// length; a malformed list ends the walk with what was read.
    static func synOptions(_ bytes: Bytes, from start: Int, to end: Int) -> SYNOptions {
        var options = SYNOptions()
        var cursor = start
        while cursor < end {
            let kind = bytes.u8(cursor)
            if kind == 0 { break }
            if kind == 1 { cursor += 1; continue }
            guard cursor + 1 < end else { break }
            let length = Int(bytes.u8(cursor + 1))
            guard length >= 2, cursor + length <= end else { break }
            if kind == 2, length == 4 { options.maximumSegmentSize = bytes.u16(cursor + 2) }
            if kind == 3, length == 3 { options.windowScale = bytes.u8(cursor + 2) }
            cursor += length
        }
        return options
    }

    // MARK: ICMP

    private func decodeICMPv4(
        _ bytes: Bytes, at start: Int, length: Int, verifies: Bool, vlan: VLANPath, sender: IPAddress, hopLimit: UInt8
    ) -> DecodedPacket {
        guard interpretsICMP else { return .ignored }
        guard length >= 8, bytes.count >= start + 8 else { return .malformed(.truncatedICMP) }
        let type = bytes.u8(start), code = bytes.u8(start + 1)
        guard type == 3 else { return .ignored }
        if verifies, bytes.count >= start + length,
           Checksum.ones(bytes, from: start, count: length) != 0xFFFF {
            return .malformed(.badICMPChecksum)
        }
        // The quoted datagram: an IPv4 header and at least 8 bytes of TCP,
        // inside this datagram (what follows it in the frame is a trailer).
        let end = min(bytes.count, start + length)
        let quote = start + 8
        guard end >= quote + 20 else { return .malformed(.truncatedICMP) }
        guard bytes.u8(quote) >> 4 == 4 else { return .ignored }
        let quotedHeaderLength = Int(bytes.u8(quote) & 0x0F) * 4
        guard quotedHeaderLength >= 20 else { return .malformed(.truncatedICMP) }
        guard bytes.u8(quote + 9) == 6 else { return .ignored }
        guard bytes.u16(quote + 6) & 0x1FFF == 0 else { return .ignored }
        let tcp = quote + quotedHeaderLength
        guard end >= tcp + 8 else { return .malformed(.truncatedICMP) }
        return .unreachable(ICMPUnreachable(
            quotedSource: IPAddress(ipv4: bytes.u32(quote + 12)),
            quotedDestination: IPAddress(ipv4: bytes.u32(quote + 16)),
            quotedSourcePort: bytes.u16(tcp), quotedDestinationPort: bytes.u16(tcp + 2),
            quotedSequence: bytes.u32(tcp + 4), type: type, code: code, isICMPv6: false, vlan: vlan,
            sender: sender, hopLimit: hopLimit))
    }

    private func decodeICMPv6(
        _ bytes: Bytes, at start: Int, length: Int, verifies: Bool, pseudoHeaderSum: UInt32, vlan: VLANPath,
        sender: IPAddress, hopLimit: UInt8
    ) -> DecodedPacket {
        guard interpretsICMP else { return .ignored }
        guard length >= 8, bytes.count >= start + 8 else { return .malformed(.truncatedICMP) }
        let type = bytes.u8(start), code = bytes.u8(start + 1)
        guard type == 1 else { return .ignored }
        if verifies, bytes.count >= start + length,
           Checksum.ones(bytes, from: start, count: length, initial: pseudoHeaderSum) != 0xFFFF {
            return .malformed(.badICMPChecksum)
        }
        // The quote lies inside this packet (what follows it in the frame is a trailer).
        let end = min(bytes.count, start + length)
        let quote = start + 8
        guard end >= quote + 40 else { return .malformed(.truncatedICMP) }
        guard bytes.u8(quote) >> 4 == 6 else { return .ignored }
        let quotedSource = IPAddress(high: bytes.u64(quote + 8), low: bytes.u64(quote + 16))
        let quotedDestination = IPAddress(high: bytes.u64(quote + 24), low: bytes.u64(quote + 32))
        let available = end - quote - 40
        switch skipExtensionHeaders(bytes, nextHeader: bytes.u8(quote + 6), at: quote + 40, remaining: available) {
        case .upperLayer(6, let tcp, _, _):
            guard end >= tcp + 8 else { return .malformed(.truncatedICMP) }
            return .unreachable(ICMPUnreachable(
                quotedSource: quotedSource, quotedDestination: quotedDestination,
                quotedSourcePort: bytes.u16(tcp), quotedDestinationPort: bytes.u16(tcp + 2),
                quotedSequence: bytes.u32(tcp + 4), type: type, code: code, isICMPv6: true, vlan: vlan,
                sender: sender, hopLimit: hopLimit))
        case .failure:
            return .malformed(.truncatedICMP)
        default:
            return .ignored
        }
    }
}

/// Big-endian reads from a borrowed buffer. Callers check lengths first;
/// `loadUnaligned` keeps a bounds check in debug builds as a safety net.
@usableFromInline
struct Bytes {
    @usableFromInline let base: UnsafeRawBufferPointer
    @inlinable init(_ base: UnsafeRawBufferPointer) { self.base = base }
    @inlinable var count: Int { base.count }
    @inlinable func u8(_ offset: Int) -> UInt8 { base[offset] }
    @inlinable func u16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inlinable func u32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    @inlinable func u64(_ offset: Int) -> UInt64 {
        UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

/// The Internet checksum (RFC 1071) as a folded one's-complement sum: a
/// correct header or segment sums to 0xFFFF.
enum Checksum {
    static func ones(_ bytes: Bytes, from start: Int, count: Int, initial: UInt32 = 0) -> UInt16 {
        var sum = UInt64(initial)
        var index = start
        let end = start + count
        while index + 1 < end {
            sum &+= UInt64(bytes.u16(index))
            index += 2
        }
        if index < end { sum &+= UInt64(bytes.u8(index)) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) &+ (sum >> 16) }
        return UInt16(sum)
    }

    static func pseudoHeaderIPv4(source: IPAddress, destination: IPAddress, length: Int, proto: UInt8) -> UInt32 {
        let s = source.ipv4Value, d = destination.ipv4Value
        var sum = (s >> 16) &+ (s & 0xFFFF) &+ (d >> 16) &+ (d & 0xFFFF)
        sum &+= UInt32(proto) &+ UInt32(truncatingIfNeeded: length & 0xFFFF)
        return sum
    }

    static func pseudoHeaderIPv6(source: IPAddress, destination: IPAddress, length: Int, proto: UInt8) -> UInt32 {
        func groups(_ half: UInt64) -> UInt64 {
            (half >> 48) &+ ((half >> 32) & 0xFFFF) &+ ((half >> 16) & 0xFFFF) &+ (half & 0xFFFF)
        }
        var sum = groups(source.high) &+ groups(source.low) &+ groups(destination.high) &+ groups(destination.low)
        sum &+= UInt64(truncatingIfNeeded: length >> 16) &+ UInt64(length & 0xFFFF) &+ UInt64(proto)
        while sum > 0xFFFF_FFFF { sum = (sum & 0xFFFF_FFFF) &+ (sum >> 32) }
        return UInt32(sum)
    }
}
