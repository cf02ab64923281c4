import Testing
@testable import TCPeekCore

// Decoder tests (SPEC §2). Frames come from FrameBuilder; addresses are
// documentation ranges only, built from integers so that these tests do not
// depend on address parsing.

// MARK: - Fixtures and helpers

private enum Host {
    static let client4 = IPAddress(ipv4: 0xC633_6407)                            // 198.51.100.7
    static let server4 = IPAddress(ipv4: 0xCB00_7109)                            // 203.0.113.9
    static let router4 = IPAddress(ipv4: 0xC000_0201)                            // 192.0.2.1
    static let client6 = IPAddress(high: 0x2001_0DB8_0001_0000, low: 7)          // 2001:db8:1::7
    static let server6 = IPAddress(high: 0x2001_0DB8_0002_0000, low: 9)          // 2001:db8:2::9
    static let router6 = IPAddress(high: 0x2001_0DB8_FFFF_0000, low: 1)          // 2001:db8:ffff::1
}

/// `DecodedPacket` as an `Equatable` value, so that `#expect` can compare and print it.
private enum Decoded: Equatable, CustomStringConvertible {
    case tcp(TCPSegment)
    case unreachable(ICMPUnreachable)
    case ignored
    case malformed(MalformedReason)

    init(_ packet: DecodedPacket) {
        switch packet {
        case .tcp(let segment): self = .tcp(segment)
        case .unreachable(let message): self = .unreachable(message)
        case .ignored: self = .ignored
        case .malformed(let reason): self = .malformed(reason)
        }
    }

    var segment: TCPSegment? { if case .tcp(let segment) = self { segment } else { nil } }
    var message: ICMPUnreachable? { if case .unreachable(let message) = self { message } else { nil } }

    var description: String {
        switch self {
        case .tcp(let s):
            "tcp(\(s.source):\(s.sourcePort) > \(s.destination):\(s.destinationPort) seq \(s.sequence) ack \(s.acknowledgment) "
                + "flags 0x\(String(s.flags.rawValue, radix: 16)) len \(s.payloadLength) vlan \(s.vlan.ids))"
        case .unreachable(let m):
            "unreachable(type \(m.type) code \(m.code) v6 \(m.isICMPv6) quoting \(m.quotedSource):\(m.quotedSourcePort) > "
                + "\(m.quotedDestination):\(m.quotedDestinationPort) seq \(m.quotedSequence) vlan \(m.vlan.ids))"
        case .ignored: "ignored"
        case .malformed(let reason): "malformed(\(reason))"
        }
    }
}

private func decode(
    _ frame: [UInt8], as linkType: LinkType, checksum: ChecksumMode = .none, icmp: Bool = true
) -> Decoded {
    let decoder = PacketDecoder(linkType: linkType, checksumMode: checksum, interpretsICMP: icmp)
    return frame.withUnsafeBytes { Decoded(decoder.decode($0)) }
}

private func decode(
    _ frame: FrameBuilder, as linkType: LinkType? = nil, checksum: ChecksumMode = .none, icmp: Bool = true
) -> Decoded {
    decode(frame.build(), as: linkType ?? frame.linkType, checksum: checksum, icmp: icmp)
}

/// The client's SYN as Linux sends it (with options), unless changed.
private func syn(
    sequence: UInt32 = 0xA1B2_C3D4, flags: TCPFlags = .syn, options: [UInt8] = FrameBuilder.TCP.linuxSYNOptions
) -> FrameBuilder.TCP {
    FrameBuilder.TCP(sourcePort: 49_152, destinationPort: 443, sequence: sequence, flags: flags, options: options)
}

private func ipv4(_ tcp: FrameBuilder.TCP = syn(), from source: IPAddress = Host.client4,
                  to destination: IPAddress = Host.server4) -> FrameBuilder.IPv4 {
    FrameBuilder.IPv4(source: source, destination: destination, payload: .tcp(tcp))
}

private func ipv6(_ tcp: FrameBuilder.TCP = syn(), from source: IPAddress = Host.client6,
                  to destination: IPAddress = Host.server6) -> FrameBuilder.IPv6 {
    FrameBuilder.IPv6(source: source, destination: destination, payload: .tcp(tcp))
}

private func frame(_ packet: FrameBuilder.IPv4, link: FrameBuilder.Link = .ethernet()) -> FrameBuilder {
    FrameBuilder(link: link, packet: .ipv4(packet))
}

private func frame(_ packet: FrameBuilder.IPv6, link: FrameBuilder.Link = .ethernet()) -> FrameBuilder {
    FrameBuilder(link: link, packet: .ipv6(packet))
}

private func vlanPath(_ ids: [UInt16]) -> VLANPath {
    var path = VLANPath.none
    for id in ids { path.push(id) }
    return path
}

/// The segment the decoder should report for `tcp` sent from `source` to `destination`.
private func expected(
    _ tcp: FrameBuilder.TCP, from source: IPAddress, to destination: IPAddress, vlan: [UInt16] = [],
    payloadLength: Int? = nil
) -> Decoded {
    .tcp(TCPSegment(
        source: source, destination: destination, sourcePort: tcp.sourcePort, destinationPort: tcp.destinationPort,
        sequence: tcp.sequence, acknowledgment: tcp.acknowledgment, flags: tcp.flags,
        payloadLength: UInt32(payloadLength ?? tcp.payload.count), vlan: vlanPath(vlan), hopLimit: 64,
        synOptions: tcp.flags.isSYNACK && tcp.options == FrameBuilder.TCP.linuxSYNOptions
            ? SYNOptions(maximumSegmentSize: 1460, windowScale: 7) : SYNOptions()))
}

private func expected4(_ tcp: FrameBuilder.TCP = syn(), vlan: [UInt16] = [], payloadLength: Int? = nil) -> Decoded {
    expected(tcp, from: Host.client4, to: Host.server4, vlan: vlan, payloadLength: payloadLength)
}

private func expected6(_ tcp: FrameBuilder.TCP = syn(), vlan: [UInt16] = [], payloadLength: Int? = nil) -> Decoded {
    expected(tcp, from: Host.client6, to: Host.server6, vlan: vlan, payloadLength: payloadLength)
}

/// The decoder's suites, grouped so that `--filter DecoderTests` selects them all.
@Suite struct DecoderTests {}

// MARK: - Link types

extension DecoderTests {
    @Suite struct LinkTypes {
        struct Case: Sendable, CustomStringConvertible {
            var description: String
            var link: FrameBuilder.Link
            var isIPv6 = false
            /// Decode with this link type instead of the one the framing implies.
            var decodeAs: LinkType? = nil
            var vlan: [UInt16] = []
        }

        static let cases: [Case] = [
            Case(description: "Ethernet IPv4", link: .ethernet()),
            Case(description: "Ethernet IPv6", link: .ethernet(), isIPv6: true),
            Case(description: "Ethernet 802.1Q IPv4", link: .ethernet(tags: [.q(100)]), vlan: [100]),
            Case(description: "Ethernet 802.1ad+802.1Q IPv6", link: .ethernet(tags: [.ad(200), .q(100)]), isIPv6: true,
                 vlan: [200, 100]),
            Case(description: "Linux SLL IPv4", link: .linuxSLL()),
            Case(description: "Linux SLL IPv6", link: .linuxSLL(), isIPv6: true),
            Case(description: "Linux SLL with a re-inserted 802.1Q tag", link: .linuxSLL(tags: [.q(300)]), vlan: [300]),
            Case(description: "Linux SLL2 IPv4", link: .linuxSLL2),
            Case(description: "Linux SLL2 IPv6", link: .linuxSLL2, isIPv6: true),
            Case(description: "NULL AF_INET", link: .null(family: 2)),
            Case(description: "NULL AF_INET6 macOS (30)", link: .null(family: 30), isIPv6: true),
            Case(description: "NULL AF_INET6 NetBSD/OpenBSD (24)", link: .null(family: 24), isIPv6: true),
            Case(description: "NULL AF_INET6 FreeBSD (28)", link: .null(family: 28), isIPv6: true),
            Case(description: "NULL AF_INET6 Linux (10)", link: .null(family: 10), isIPv6: true),
            Case(description: "NULL written by a big-endian host", link: .loop(family: 2), decodeAs: .null),
            Case(description: "NULL AF 30 written by a big-endian host", link: .loop(family: 30), isIPv6: true, decodeAs: .null),
            Case(description: "LOOP AF_INET", link: .loop(family: 2)),
            Case(description: "LOOP AF_INET6 (24)", link: .loop(family: 24), isIPv6: true),
            Case(description: "raw IPv4", link: .raw),
            Case(description: "raw IPv6", link: .raw, isIPv6: true),
            Case(description: "DLT_IPV4", link: .raw, decodeAs: .ipv4),
            Case(description: "DLT_IPV6", link: .raw, isIPv6: true, decodeAs: .ipv6),
        ]

        @Test(arguments: cases)
        func decodesSYN(_ c: Case) {
            let builder = c.isIPv6 ? frame(ipv6(), link: c.link) : frame(ipv4(), link: c.link)
            let want = c.isIPv6 ? expected6(vlan: c.vlan) : expected4(vlan: c.vlan)
            for mode in ChecksumMode.allCases {
                let got = decode(builder, as: c.decodeAs, checksum: mode)
                #expect(got == want, "checksum mode \(mode)")
            }
            let segment = decode(builder, as: c.decodeAs).segment
            #expect(segment?.flags.isOpeningSYN == true)
            #expect(segment?.vlan.ids == c.vlan)
        }

        @Test(arguments: [UInt32(0), 1, 7, 23, 0xFFFF])
        func nullWithAnUnknownFamilyIsIgnored(family: UInt32) {
            #expect(decode(frame(ipv4(), link: .null(family: family))) == .ignored)
            #expect(decode(frame(ipv4(), link: .loop(family: family))) == .ignored)
        }

        @Test func loopIsAlwaysNetworkOrder() {
            // 2 written little-endian is not AF_INET in a LOOP header.
            #expect(decode(frame(ipv4(), link: .loop(family: 0x0200_0000))) == .ignored)
        }

        struct DLT: Sendable, CustomStringConvertible {
            var dlt: Int32
            var linkType: LinkType?
            var description: String { "DLT \(dlt)" }
        }

        @Test(arguments: [
            DLT(dlt: 0, linkType: .null),
            DLT(dlt: 1, linkType: .ethernet),
            DLT(dlt: 12, linkType: .raw),
            DLT(dlt: 14, linkType: .raw),
            DLT(dlt: 101, linkType: .raw),
            DLT(dlt: 108, linkType: .loop),
            DLT(dlt: 113, linkType: .linuxSLL),
            DLT(dlt: 228, linkType: .ipv4),
            DLT(dlt: 229, linkType: .ipv6),
            DLT(dlt: 276, linkType: .linuxSLL2),
            DLT(dlt: -1, linkType: nil),
            DLT(dlt: 2, linkType: nil),
            DLT(dlt: 9, linkType: nil),      // PPP
            DLT(dlt: 105, linkType: nil),    // IEEE 802.11
            DLT(dlt: 127, linkType: nil),    // radiotap
            DLT(dlt: 275, linkType: nil),
            DLT(dlt: 277, linkType: nil),
            DLT(dlt: .max, linkType: nil),
        ])
        func linkTypeFromDLT(_ c: DLT) {
            #expect(LinkType(dlt: c.dlt) == c.linkType)
        }
    }
}

// MARK: - Segment fields

extension DecoderTests {
    @Suite struct SegmentFields {
        @Test func synACKWithPayloadAndAcknowledgment() {
            var tcp = syn(sequence: 0x0102_0304, flags: [.syn, .ack])
            tcp.sourcePort = 443
            tcp.destinationPort = 49_152
            tcp.acknowledgment = 0xA1B2_C3D5
            tcp.payload = Array(0..<10)
            let v4 = decode(frame(ipv4(tcp, from: Host.server4, to: Host.client4)))
            #expect(v4 == expected(tcp, from: Host.server4, to: Host.client4))
            #expect(v4.segment?.flags.isSYNACK == true)
            #expect(v4.segment?.payloadLength == 10)
            let v6 = decode(frame(ipv6(tcp, from: Host.server6, to: Host.client6), link: .linuxSLL2), checksum: .all)
            #expect(v6 == expected(tcp, from: Host.server6, to: Host.client6))
        }

        @Test func sequenceNumbersUseAllThirtyTwoBits() {
            var tcp = syn(sequence: 0xFFFF_FFFF, flags: [.ack, .fin])
            tcp.acknowledgment = 0x8000_0000
            #expect(decode(frame(ipv4(tcp))) == expected4(tcp))
        }

        @Test func ethernetPaddingIsNotPayload() {
            // A bare SYN is 54 bytes; a received frame is padded to 60.
            let tcp = syn(options: [])
            let padded = FrameBuilder(link: .ethernet(), packet: .ipv4(ipv4(tcp)), trailer: [0, 0, 0, 0, 0, 0])
            #expect(padded.build().count == 60)
            for mode in ChecksumMode.allCases {
                #expect(decode(padded, checksum: mode) == expected4(tcp, payloadLength: 0))
            }
        }

        @Test func payloadLengthComesFromTheIPHeaderNotTheCapture() {
            // A short snap length cuts the payload off; its length is still known.
            var tcp = syn(flags: [.ack, .psh])
            tcp.payload = [UInt8](repeating: 0x61, count: 1000)
            for builder in [frame(ipv4(tcp)), frame(ipv6(tcp))] {
                let whole = builder.build()
                let cut = Array(whole.prefix(whole.count - 900))
                for mode in ChecksumMode.allCases {
                    #expect(decode(cut, as: .ethernet, checksum: mode).segment?.payloadLength == 1000)
                }
            }
        }

        @Test func accECNFlagsKeepASYNOpening() {
            // RFC 9768: an AccECN SYN sets AE, CWR and ECE.
            let flags: TCPFlags = [.syn, .ece, .cwr, .ae]
            #expect(flags.rawValue == 0x1C2)
            for builder in [frame(ipv4(syn(flags: flags))), frame(ipv6(syn(flags: flags)))] {
                let segment = decode(builder, checksum: .all).segment
                #expect(segment?.flags.rawValue == 0x1C2)
                #expect(segment?.flags.contains(.ae) == true)
                #expect(segment?.flags.isOpeningSYN == true)
            }
            let synACK = decode(frame(ipv4(syn(flags: [.syn, .ack, .ae])))).segment
            #expect(synACK?.flags.isSYNACK == true)
            #expect(synACK?.flags.isOpeningSYN == false)
        }

        @Test(arguments: [UInt8(1), 2, 4, 7])
        func reservedBitsAreNotFlags(bits: UInt8) {
            var tcp = syn()
            tcp.reservedBits = bits
            let segment = decode(frame(ipv4(tcp)), checksum: .all).segment
            #expect(segment?.flags == .syn)
        }

        @Test func everyFlagIsReported() {
            let all: TCPFlags = [.fin, .syn, .rst, .psh, .ack, .urg, .ece, .cwr, .ae]
            #expect(decode(frame(ipv4(syn(flags: all)))).segment?.flags.rawValue == 0x1FF)
        }
    }
}

// MARK: - VLAN

extension DecoderTests {
    @Suite struct VLANTags {
        @Test func stacksOfZeroToThreeTagsAreDistinct() {
            let stacks: [[FrameBuilder.VLANTag]] = [[], [.q(10)], [.ad(20), .q(10)], [.ad(30), .ad(20), .q(10)]]
            var paths: [VLANPath] = []
            for tags in stacks {
                let ids = tags.map(\.id)
                let got = decode(frame(ipv4(), link: .ethernet(tags: tags)))
                #expect(got == expected4(vlan: ids))
                if let path = got.segment?.vlan {
                    #expect(path.ids == ids)
                    paths.append(path)
                }
            }
            #expect(Set(paths).count == 4)
            #expect(paths.first == VLANPath.none)
        }

        @Test func orderAndIDsMatter() {
            let a = decode(frame(ipv4(), link: .ethernet(tags: [.ad(20), .q(10)]))).segment?.vlan
            let b = decode(frame(ipv4(), link: .ethernet(tags: [.ad(10), .q(20)]))).segment?.vlan
            let c = decode(frame(ipv4(), link: .ethernet(tags: [.q(0)]))).segment?.vlan
            #expect(a != nil && b != nil && a != b)
            #expect(c != nil && c != VLANPath.none)  // a priority tag (VID 0) is still a tag
        }

        @Test func priorityAndDropEligibleAreNotPartOfTheID() {
            let plain = decode(frame(ipv6(), link: .ethernet(tags: [.q(4094)]))).segment?.vlan
            let marked = FrameBuilder.VLANTag(tpid: 0x8100, id: 4094, priority: 5, dropEligible: true)
            let tagged = decode(frame(ipv6(), link: .ethernet(tags: [marked]))).segment?.vlan
            #expect(plain?.ids == [4094])
            #expect(tagged == plain)
        }

        @Test func preStandardQinQTag() {
            let tag = FrameBuilder.VLANTag(tpid: 0x9100, id: 77)
            #expect(decode(frame(ipv4(), link: .ethernet(tags: [tag, .q(5)]))) == expected4(vlan: [77, 5]))
        }

        @Test func vlanPathFollowsICMP() {
            let icmp = FrameBuilder.ICMPv4(quoting: ipv4())
            let builder = frame(FrameBuilder.IPv4(source: Host.router4, destination: Host.client4, payload: .icmpv4(icmp)),
                                link: .ethernet(tags: [.ad(2), .q(3)]))
            #expect(decode(builder).message?.vlan == vlanPath([2, 3]))
        }
    }
}

// MARK: - IPv4 options and fragments

extension DecoderTests {
    @Suite struct IPv4Headers {
        struct Options: Sendable, CustomStringConvertible {
            var description: String
            var bytes: [UInt8]
        }

        @Test(arguments: [
            Options(description: "four NOPs (IHL 6)", bytes: [1, 1, 1, 1]),
            Options(description: "router alert (IHL 6)", bytes: [148, 4, 0, 0]),
            Options(description: "record route, 9 slots (IHL 15)", bytes: [7, 39, 4] + [UInt8](repeating: 0, count: 36)),
            Options(description: "timestamp, 2 slots (IHL 8)", bytes: [68, 12, 5, 0] + [UInt8](repeating: 0, count: 8)),
        ])
        func optionsAreSkipped(_ options: Options) {
            var packet = ipv4()
            packet.options = options.bytes
            for mode in ChecksumMode.allCases {
                #expect(decode(frame(packet), checksum: mode) == expected4(), "checksum mode \(mode)")
            }
        }

        @Test func firstFragmentIsDecoded() {
            // A SYN carrying 40 bytes of data, split: the first fragment holds the
            // TCP header and 4 bytes of data; the checksum covers the whole segment.
            // Regression: checksum mode 2 used to reject it as a bad TCP checksum.
            var tcp = syn(options: [])
            tcp.payload = Array(0..<40)
            var packet = ipv4(tcp)
            packet.dontFragment = false
            packet.moreFragments = true
            packet.carries = 0..<24
            for mode in ChecksumMode.allCases {
                #expect(decode(frame(packet), checksum: mode) == expected4(tcp, payloadLength: 4), "checksum mode \(mode)")
            }
        }

        @Test(arguments: [(UInt16(3), true), (3, false), (1, true), (0x1FFF, false)])
        func nonFirstFragmentsAreIgnored(offset: UInt16, more: Bool) {
            // The fragment even carries bytes that look like a TCP header: it
            // must not be read as one.
            var packet = ipv4()
            packet.dontFragment = false
            packet.moreFragments = more
            packet.fragmentOffset = offset
            for mode in ChecksumMode.allCases {
                #expect(decode(frame(packet), checksum: mode) == .ignored)
            }
        }
    }
}

// MARK: - IPv6 extension headers and fragments

extension DecoderTests {
    @Suite struct IPv6Headers {
        struct Chain: Sendable, CustomStringConvertible {
            var description: String
            var headers: [FrameBuilder.Extension]
        }

        @Test(arguments: [
            Chain(description: "hop-by-hop", headers: [.hopByHop()]),
            Chain(description: "hop-by-hop, 32 bytes", headers: [.hopByHop(units: 3)]),
            Chain(description: "routing", headers: [.routing(address: Host.router6)]),
            Chain(description: "destination options", headers: [.destinationOptions()]),
            Chain(description: "atomic fragment", headers: [.fragment(offset: 0, moreFragments: false)]),
            Chain(description: "all four", headers: [
                .hopByHop(), .destinationOptions(units: 1), .routing(address: Host.router6),
                .fragment(offset: 0, moreFragments: false), .destinationOptions(),
            ]),
            Chain(description: "eight", headers: [FrameBuilder.Extension](repeating: .destinationOptions(), count: 8)),
        ])
        func extensionHeadersAreSkipped(_ chain: Chain) {
            var packet = ipv6()
            packet.extensionHeaders = chain.headers
            for mode in ChecksumMode.allCases {
                #expect(decode(frame(packet), checksum: mode) == expected6(), "checksum mode \(mode)")
            }
        }

        @Test func firstFragmentIsDecoded() {
            // Regression: checksum mode 2 used to reject it as a bad TCP checksum.
            var tcp = syn(options: [])
            tcp.payload = Array(0..<40)
            var packet = ipv6(tcp)
            packet.extensionHeaders = [.hopByHop(), .fragment(offset: 0, moreFragments: true)]
            packet.carries = 0..<24
            for mode in ChecksumMode.allCases {
                #expect(decode(frame(packet), checksum: mode) == expected6(tcp, payloadLength: 4), "checksum mode \(mode)")
            }
        }

        @Test(arguments: [(UInt16(3), true), (3, false), (1, true), (0x1FFF, false)])
        func nonFirstFragmentsAreIgnored(offset: UInt16, more: Bool) {
            for headers: [FrameBuilder.Extension] in [
                [.fragment(offset: offset, moreFragments: more)],
                [.hopByHop(), .destinationOptions(), .fragment(offset: offset, moreFragments: more)],
            ] {
                var packet = ipv6()
                packet.extensionHeaders = headers
                for mode in ChecksumMode.allCases {
                    #expect(decode(frame(packet), checksum: mode) == .ignored)
                }
            }
        }

        @Test func noNextHeaderIsIgnored() {
            var packet = ipv6()
            packet.payload = .other(proto: 59, bytes: [])
            #expect(decode(frame(packet)) == .ignored)
        }

        @Test func extensionHeaderLongerThanThePayloadIsMalformed() {
            var packet = ipv6()
            packet.extensionHeaders = [.hopByHop(units: 1)]  // 16 bytes
            packet.payloadLength = 8
            #expect(decode(frame(packet)) == .malformed(.badIPTotalLength))
        }

        @Test func tooManyExtensionHeaders() {
            var packet = ipv6()
            packet.extensionHeaders = [FrameBuilder.Extension](repeating: .destinationOptions(), count: 40)
            #expect(decode(frame(packet)) == .malformed(.tooManyExtensionHeaders))
        }
    }
}

// MARK: - ICMP

extension DecoderTests {
    @Suite struct ICMPMessages {
        private static let quotedSYN = syn(sequence: 0x5EED_F00D)

        private static func icmpv4(code: UInt8, quoting packet: FrameBuilder.IPv4 = ipv4(quotedSYN)) -> FrameBuilder.ICMPv4 {
            FrameBuilder.ICMPv4(type: 3, code: code, quoting: packet)
        }

        private static func frame4(_ icmp: FrameBuilder.ICMPv4, link: FrameBuilder.Link = .ethernet()) -> FrameBuilder {
            frame(FrameBuilder.IPv4(source: Host.router4, destination: Host.client4, payload: .icmpv4(icmp)), link: link)
        }

        private static func icmpv6(code: UInt8, quoting packet: FrameBuilder.IPv6 = ipv6(quotedSYN)) -> FrameBuilder.ICMPv6 {
            FrameBuilder.ICMPv6(type: 1, code: code, quoting: packet)
        }

        private static func frame6(_ icmp: FrameBuilder.ICMPv6, link: FrameBuilder.Link = .ethernet()) -> FrameBuilder {
            frame(FrameBuilder.IPv6(source: Host.router6, destination: Host.client6, payload: .icmpv6(icmp)), link: link)
        }

        private static func expectedUnreachable(code: UInt8, v6: Bool, vlan: [UInt16] = []) -> Decoded {
            .unreachable(ICMPUnreachable(
                quotedSource: v6 ? Host.client6 : Host.client4, quotedDestination: v6 ? Host.server6 : Host.server4,
                quotedSourcePort: 49_152, quotedDestinationPort: 443, quotedSequence: 0x5EED_F00D,
                type: v6 ? 1 : 3, code: code, isICMPv6: v6, vlan: vlanPath(vlan),
                sender: v6 ? Host.router6 : Host.router4, hopLimit: 64))
        }

        @Test(arguments: UInt8(0)...15)
        func icmpv4DestinationUnreachable(code: UInt8) {
            let got = decode(Self.frame4(Self.icmpv4(code: code)), checksum: .all)
            #expect(got == Self.expectedUnreachable(code: code, v6: false))
            let unreachableCodes: Set<UInt8> = [0, 1, 2, 3, 9, 10, 13]
            #expect(got.message?.meansUnreachable == unreachableCodes.contains(code))
        }

        @Test func fragmentationNeededIsNotUnreachable() {
            var icmp = Self.icmpv4(code: 4)
            icmp.restOfHeader = 1400  // next-hop MTU
            let message = decode(Self.frame4(icmp)).message
            #expect(message?.code == 4)
            #expect(message?.meansUnreachable == false)
        }

        @Test(arguments: UInt8(0)...7)
        func icmpv6DestinationUnreachable(code: UInt8) {
            let got = decode(Self.frame6(Self.icmpv6(code: code)), checksum: .all)
            #expect(got == Self.expectedUnreachable(code: code, v6: true))
            #expect(got.message?.meansUnreachable == true)
        }

        @Test func wholeQuoteQuotedOptionsAndVLANs() {
            var linuxStyle = Self.icmpv4(code: 3)
            linuxStyle.quotedTransportBytes = nil
            #expect(decode(Self.frame4(linuxStyle), checksum: .all) == Self.expectedUnreachable(code: 3, v6: false))

            var quotedWithOptions = ipv4(Self.quotedSYN)
            quotedWithOptions.options = [148, 4, 0, 0]
            #expect(decode(Self.frame4(Self.icmpv4(code: 1, quoting: quotedWithOptions)), checksum: .all)
                == Self.expectedUnreachable(code: 1, v6: false))

            let tagged = Self.frame6(Self.icmpv6(code: 0), link: .ethernet(tags: [.q(9)]))
            #expect(decode(tagged) == Self.expectedUnreachable(code: 0, v6: true, vlan: [9]))

            var quotedWithHeaders = ipv6(Self.quotedSYN)
            quotedWithHeaders.extensionHeaders = [.hopByHop(), .destinationOptions(units: 1)]
            #expect(decode(Self.frame6(Self.icmpv6(code: 3, quoting: quotedWithHeaders)), checksum: .all)
                == Self.expectedUnreachable(code: 3, v6: true))

            // A quote cut right after the TCP sequence number is enough.
            var short = Self.icmpv6(code: 4)
            short.quotedBytes = 40 + 8
            #expect(decode(Self.frame6(short), checksum: .all) == Self.expectedUnreachable(code: 4, v6: true))
        }

        @Test(arguments: [UInt8(0), 4, 5, 8, 11, 12, 13, 14])
        func otherICMPv4TypesAreIgnored(type: UInt8) {
            var icmp = Self.icmpv4(code: 0)
            icmp.type = type
            #expect(decode(Self.frame4(icmp), checksum: .all) == .ignored)
        }

        @Test(arguments: [UInt8(2), 3, 4, 128, 129, 133, 135])
        func otherICMPv6TypesAreIgnored(type: UInt8) {
            var icmp = Self.icmpv6(code: 0)
            icmp.type = type
            #expect(decode(Self.frame6(icmp), checksum: .all) == .ignored)
        }

        @Test func quotesOfOtherThanTCPAreIgnored() {
            let udp4 = FrameBuilder.IPv4(source: Host.client4, destination: Host.server4, payload: .udp(.init()))
            #expect(decode(Self.frame4(Self.icmpv4(code: 3, quoting: udp4))) == .ignored)
            let udp6 = FrameBuilder.IPv6(source: Host.client6, destination: Host.server6, payload: .udp(.init()))
            #expect(decode(Self.frame6(Self.icmpv6(code: 4, quoting: udp6))) == .ignored)

            var fragment4 = ipv4(Self.quotedSYN)
            fragment4.fragmentOffset = 3
            #expect(decode(Self.frame4(Self.icmpv4(code: 3, quoting: fragment4))) == .ignored)
            var fragment6 = ipv6(Self.quotedSYN)
            fragment6.extensionHeaders = [.fragment(offset: 3, moreFragments: false)]
            #expect(decode(Self.frame6(Self.icmpv6(code: 4, quoting: fragment6))) == .ignored)
        }

        @Test func noICMPIgnoresICMP() {
            #expect(decode(Self.frame4(Self.icmpv4(code: 3)), icmp: false) == .ignored)
            #expect(decode(Self.frame6(Self.icmpv6(code: 4)), icmp: false) == .ignored)
            // TCP is unaffected.
            #expect(decode(frame(ipv4()), icmp: false) == expected4())
        }

        @Test func checksums() {
            var bad4 = Self.icmpv4(code: 3)
            bad4.corruptChecksum = true
            var bad6 = Self.icmpv6(code: 4)
            bad6.corruptChecksum = true
            for mode in [ChecksumMode.none, .ipHeader] {
                #expect(decode(Self.frame4(bad4), checksum: mode) == Self.expectedUnreachable(code: 3, v6: false))
                #expect(decode(Self.frame6(bad6), checksum: mode) == Self.expectedUnreachable(code: 4, v6: true))
            }
            #expect(decode(Self.frame4(bad4), checksum: .all) == .malformed(.badICMPChecksum))
            #expect(decode(Self.frame6(bad6), checksum: .all) == .malformed(.badICMPChecksum))
            // Odd lengths: the last byte is padded with zero.
            var odd4 = Self.icmpv4(code: 3)
            odd4.data = [0xEE]
            var odd6 = Self.icmpv6(code: 4)
            odd6.data = [0xEE, 0xDD, 0xCC]
            #expect(decode(Self.frame4(odd4), checksum: .all) == Self.expectedUnreachable(code: 3, v6: false))
            #expect(decode(Self.frame6(odd6), checksum: .all) == Self.expectedUnreachable(code: 4, v6: true))
        }

        @Test func quoteMustLieInsideTheDatagram() {
            // The IPv4 total length ends the datagram after the ICMP header; what
            // follows in the frame is a trailer, not a quote.
            // Regression: the quote used to be read from the trailer.
            var packet = FrameBuilder.IPv4(source: Host.router4, destination: Host.client4,
                                           payload: .icmpv4(Self.icmpv4(code: 3)))
            packet.totalLength = 20 + 8
            #expect(decode(frame(packet)) == .malformed(.truncatedICMP))

            var packet6 = FrameBuilder.IPv6(source: Host.router6, destination: Host.client6,
                                            payload: .icmpv6(Self.icmpv6(code: 4)))
            packet6.payloadLength = 8 + 40 + 4  // quote ends inside the TCP ports
            #expect(decode(frame(packet6)) == .malformed(.truncatedICMP))
        }

        @Test func meansUnreachableOnValues() {
            func message(type: UInt8, code: UInt8, v6: Bool) -> ICMPUnreachable {
                ICMPUnreachable(quotedSource: Host.client4, quotedDestination: Host.server4, quotedSourcePort: 1,
                                quotedDestinationPort: 2, quotedSequence: 3, type: type, code: code, isICMPv6: v6)
            }
            for code in UInt8(0)...255 {
                #expect(message(type: 1, code: code, v6: true).meansUnreachable)
                #expect(!message(type: 2, code: code, v6: true).meansUnreachable)
                #expect(!message(type: 11, code: code, v6: false).meansUnreachable)
                #expect(message(type: 3, code: code, v6: false).meansUnreachable == [0, 1, 2, 3, 9, 10, 13].contains(code))
            }
        }
    }
}

// MARK: - What is ignored

extension DecoderTests {
    @Suite struct IgnoredPackets {
        private static let arp = FrameBuilder.Network.other(
            etherType: 0x0806, bytes: FrameBuilder.ARP(senderAddress: Host.client4, targetAddress: Host.server4).encode())

        @Test(arguments: [FrameBuilder.Link.ethernet(), .ethernet(tags: [.q(10)]), .linuxSLL(), .linuxSLL2])
        func arpIsIgnored(link: FrameBuilder.Link) {
            #expect(decode(FrameBuilder(link: link, packet: Self.arp)) == .ignored)
        }

        @Test(arguments: [UInt16(0x88CC), 0x8863, 0x0842, 0x002E])  // LLDP, PPPoE discovery, WoL, 802.3 length
        func otherEtherTypesAreIgnored(etherType: UInt16) {
            let packet = FrameBuilder.Network.other(etherType: etherType, bytes: [UInt8](repeating: 0x45, count: 46))
            #expect(decode(FrameBuilder(link: .ethernet(), packet: packet)) == .ignored)
        }

        @Test func udpIsIgnored() {
            let udp4 = FrameBuilder.IPv4(source: Host.client4, destination: Host.server4, payload: .udp(.init()))
            let udp6 = FrameBuilder.IPv6(source: Host.client6, destination: Host.server6, payload: .udp(.init()))
            for mode in ChecksumMode.allCases {
                #expect(decode(frame(udp4), checksum: mode) == .ignored)
                #expect(decode(frame(udp6), checksum: mode) == .ignored)
                #expect(decode(frame(udp6, link: .raw), checksum: mode) == .ignored)
            }
        }

        @Test(arguments: [UInt8(2), 17, 47, 50, 89, 132])  // IGMP, UDP, GRE, ESP, OSPF, SCTP
        func otherProtocolsAreIgnored(proto: UInt8) {
            let bytes = [UInt8](repeating: 0x50, count: 40)
            let v4 = FrameBuilder.IPv4(source: Host.client4, destination: Host.server4, payload: .other(proto: proto, bytes: bytes))
            let v6 = FrameBuilder.IPv6(source: Host.client6, destination: Host.server6, payload: .other(proto: proto, bytes: bytes))
            #expect(decode(frame(v4)) == .ignored)
            #expect(decode(frame(v6)) == .ignored)
        }
    }
}

// MARK: - Checksum modes

extension DecoderTests {
    @Suite struct ChecksumModes {
        struct Case: Sendable, CustomStringConvertible {
            var mode: ChecksumMode
            var badIP: Bool
            var badTCP: Bool
            var result: MalformedReason?
            var description: String { "mode \(mode.rawValue), bad IP \(badIP), bad TCP \(badTCP)" }
        }

        @Test(arguments: [
            Case(mode: .none, badIP: false, badTCP: false, result: nil),
            Case(mode: .none, badIP: true, badTCP: false, result: nil),
            Case(mode: .none, badIP: false, badTCP: true, result: nil),
            Case(mode: .none, badIP: true, badTCP: true, result: nil),
            Case(mode: .ipHeader, badIP: false, badTCP: false, result: nil),
            Case(mode: .ipHeader, badIP: true, badTCP: false, result: .badIPChecksum),
            Case(mode: .ipHeader, badIP: false, badTCP: true, result: nil),
            Case(mode: .ipHeader, badIP: true, badTCP: true, result: .badIPChecksum),
            Case(mode: .all, badIP: false, badTCP: false, result: nil),
            Case(mode: .all, badIP: true, badTCP: false, result: .badIPChecksum),
            Case(mode: .all, badIP: false, badTCP: true, result: .badTCPChecksum),
            Case(mode: .all, badIP: true, badTCP: true, result: .badIPChecksum),
        ])
        func ipv4Modes(_ c: Case) {
            var tcp = syn()
            tcp.corruptChecksum = c.badTCP
            var packet = ipv4(tcp)
            packet.corruptChecksum = c.badIP
            let want = c.result.map(Decoded.malformed) ?? expected4(tcp)
            #expect(decode(frame(packet), checksum: c.mode) == want)
        }

        @Test(arguments: ChecksumMode.allCases)
        func ipv6Modes(mode: ChecksumMode) {
            var tcp = syn()
            #expect(decode(frame(ipv6(tcp)), checksum: mode) == expected6(tcp))
            tcp.corruptChecksum = true
            let want = mode == .all ? Decoded.malformed(.badTCPChecksum) : expected6(tcp)
            #expect(decode(frame(ipv6(tcp)), checksum: mode) == want)
        }

        @Test func ipv4OptionsAreCoveredByTheHeaderChecksum() {
            var packet = ipv4()
            packet.options = [1, 1, 1, 1, 148, 4, 0, 0]
            var frameBytes = frame(packet).build()
            #expect(decode(frameBytes, as: .ethernet, checksum: .ipHeader) == expected4())
            frameBytes[14 + 20] = 0  // an option byte changes, the checksum does not
            #expect(decode(frameBytes, as: .ethernet, checksum: .ipHeader) == .malformed(.badIPChecksum))
        }

        @Test func pseudoHeaderAddressesAreCovered() {
            // IPv6 has no header checksum: a changed address byte shows only in
            // the TCP checksum, through the pseudo-header.
            let packet = ipv6()
            var bytes = frame(packet, link: .raw).build()
            bytes[8 + 15] ^= 0x01  // last byte of the source address
            #expect(decode(bytes, as: .raw, checksum: .all) == .malformed(.badTCPChecksum))
            #expect(decode(bytes, as: .raw, checksum: .ipHeader).segment != nil)
        }

        @Test func oddLengthSegments() {
            var tcp = syn(flags: [.ack, .psh])
            tcp.payload = [1, 2, 3, 4, 5]
            #expect(decode(frame(ipv4(tcp)), checksum: .all) == expected4(tcp))
            #expect(decode(frame(ipv6(tcp)), checksum: .all) == expected6(tcp))
            tcp.corruptChecksum = true
            #expect(decode(frame(ipv4(tcp)), checksum: .all) == .malformed(.badTCPChecksum))
            #expect(decode(frame(ipv6(tcp)), checksum: .all) == .malformed(.badTCPChecksum))
        }

        @Test func extensionHeadersAreNotInTheUpperLayerLength() {
            var packet = ipv6()
            packet.extensionHeaders = [.hopByHop(units: 2), .destinationOptions()]
            #expect(decode(frame(packet), checksum: .all) == expected6())
            var tcp = syn()
            tcp.corruptChecksum = true
            packet.payload = .tcp(tcp)
            #expect(decode(frame(packet), checksum: .all) == .malformed(.badTCPChecksum))
        }
    }
}

// MARK: - Malformed headers

extension DecoderTests {
    @Suite struct MalformedHeaders {
        @Test(arguments: UInt8(0)...4)
        func ipv4HeaderLengthBelowFive(words: UInt8) {
            var packet = ipv4()
            packet.headerLengthWords = words
            for mode in ChecksumMode.allCases {
                #expect(decode(frame(packet), checksum: mode) == .malformed(.badIPHeaderLength))
            }
        }

        @Test func ipv4HeaderLongerThanTheCapture() {
            var packet = ipv4(syn(options: []))
            packet.headerLengthWords = 15  // 60 bytes, but only 40 are there
            #expect(decode(frame(packet, link: .raw)) == .malformed(.truncatedIPHeader))
        }

        @Test(arguments: [UInt16(0), 1, 19])
        func ipv4TotalLengthBelowHeaderLength(total: UInt16) {
            var packet = ipv4()
            packet.totalLength = total
            #expect(decode(frame(packet)) == .malformed(.badIPTotalLength))
            packet.options = [1, 1, 1, 1]
            packet.totalLength = 20  // below the 24-byte header
            #expect(decode(frame(packet)) == .malformed(.badIPTotalLength))
        }

        @Test func ipv4TotalLengthShorterThanATCPHeader() {
            var packet = ipv4()
            packet.totalLength = 20 + 19
            #expect(decode(frame(packet)) == .malformed(.badTCPHeaderLength))
        }

        @Test(arguments: UInt8(0)...4)
        func tcpDataOffsetBelowFive(words: UInt8) {
            var tcp = syn()
            tcp.dataOffsetWords = words
            #expect(decode(frame(ipv4(tcp))) == .malformed(.badTCPHeaderLength))
            #expect(decode(frame(ipv6(tcp))) == .malformed(.badTCPHeaderLength))
        }

        @Test func tcpDataOffsetBeyondTheSegment() {
            var tcp = syn(options: [])
            tcp.dataOffsetWords = 15  // 60 bytes in a 20-byte segment
            #expect(decode(frame(ipv4(tcp))) == .malformed(.badTCPHeaderLength))
            #expect(decode(frame(ipv6(tcp))) == .malformed(.badTCPHeaderLength))
        }

        @Test func wrongIPVersion() {
            var bytes = frame(ipv4()).build()
            bytes[14] = 0x65  // "IPv6" in an IPv4 EtherType
            #expect(decode(bytes, as: .ethernet) == .malformed(.badIPVersion))
            var six = frame(ipv6()).build()
            six[14] = 0x45
            #expect(decode(six, as: .ethernet) == .malformed(.badIPVersion))
            var raw = frame(ipv4(), link: .raw).build()
            raw[0] = 0x55
            #expect(decode(raw, as: .raw) == .malformed(.badIPVersion))
            #expect(decode(frame(ipv4(syn(options: [])), link: .raw), as: .ipv6) == .malformed(.badIPVersion))
            #expect(decode(frame(ipv6(), link: .raw), as: .ipv4) == .malformed(.badIPVersion))
        }

        @Test func malformedReasonsHaveDistinctNames() {
            #expect(Set(MalformedReason.allCases.map(\.key)).count == MalformedReason.allCases.count)
            #expect(Set(MalformedReason.allCases.map(\.description)).count == MalformedReason.allCases.count)
        }
    }
}

// MARK: - Truncation and mutation

extension DecoderTests {
    @Suite struct Robustness {
        /// A frame and what a decoder may say about each prefix of it.
        struct Kind: Sendable, CustomStringConvertible {
            var description: String
            var builder: FrameBuilder
            /// Prefix lengths below each bound, and the reasons allowed for them.
            var regions: [(below: Int, reasons: Set<MalformedReason>)]
        }

        private static let link: Set<MalformedReason> = [.truncatedLinkHeader]
        private static let ip: Set<MalformedReason> = [.truncatedIPHeader]
        private static let tcp: Set<MalformedReason> = [.truncatedTCPHeader]
        private static let icmp: Set<MalformedReason> = [.truncatedICMP]

        static let kinds: [Kind] = {
            var payloadSYN = syn()
            payloadSYN.payload = Array(0..<12)
            var v4 = ipv4(payloadSYN)
            v4.options = [148, 4, 0, 0]
            var v6 = ipv6(payloadSYN)
            v6.extensionHeaders = [
                .hopByHop(), .routing(address: Host.router6), .destinationOptions(units: 1),
                .fragment(offset: 0, moreFragments: false),
            ]
            var v6Trailing = ipv6()
            v6Trailing.extensionHeaders = [.destinationOptions(units: 1)]
            var quoted6 = ipv6(syn())
            quoted6.extensionHeaders = [.destinationOptions()]
            let icmp4 = FrameBuilder.IPv4(source: Host.router4, destination: Host.client4,
                                          payload: .icmpv4(.init(type: 3, code: 1, quoting: ipv4())))
            let icmp6 = FrameBuilder.IPv6(source: Host.router6, destination: Host.client6,
                                          payload: .icmpv6(.init(type: 1, code: 0, quoting: quoted6)))
            return [
                // 14 + 2 tags = 22, IPv4 with options 24 → 46, TCP 20 → 66.
                Kind(description: "Ethernet QinQ IPv4 options TCP",
                     builder: frame(v4, link: .ethernet(tags: [.ad(200), .q(100)])),
                     regions: [(22, link), (46, ip), (66, tcp)]),
                // SLL2 20, IPv6 40 → 60, extension headers 8+24+16+8 → 116, TCP 20 → 136.
                Kind(description: "SLL2 IPv6 extension headers TCP", builder: frame(v6, link: .linuxSLL2),
                     regions: [(20, link), (60, ip), (116, ip.union(tcp)), (136, tcp)]),
                // NULL 4, IPv6 40 → 44, destination options 16 → 60, TCP 20 → 80.
                Kind(description: "NULL IPv6 destination options TCP", builder: frame(v6Trailing, link: .null()),
                     regions: [(4, link), (44, ip), (60, ip.union(tcp)), (80, tcp)]),
                // SLL 16 + tag 4 = 20, IPv4 20 → 40, TCP 20 → 60.
                Kind(description: "SLL 802.1Q IPv4 TCP", builder: frame(ipv4(), link: .linuxSLL(tags: [.q(7)])),
                     regions: [(20, link), (40, ip), (60, tcp)]),
                // No link header: IPv4 20, TCP 20 → 40.
                Kind(description: "raw IPv4 TCP", builder: frame(ipv4(), link: .raw),
                     regions: [(20, ip), (40, tcp)]),
                // LOOP 4, IPv4 20 → 24, ICMP 8 + quoted IPv4 20 + 8 bytes of TCP → 60.
                Kind(description: "LOOP ICMPv4 unreachable", builder: frame(icmp4, link: .loop()),
                     regions: [(4, link), (24, ip), (60, icmp)]),
                // 14 + tag = 18, IPv6 40 → 58, ICMPv6 8 + IPv6 40 + options 8 + TCP 8 → 122.
                Kind(description: "Ethernet 802.1Q ICMPv6 unreachable",
                     builder: frame(icmp6, link: .ethernet(tags: [.q(12)])),
                     regions: [(18, link), (58, ip), (122, icmp)]),
            ]
        }()

        @Test(arguments: kinds)
        func everyTruncationIsMalformedOrTheWholeAnswer(_ kind: Kind) {
            let whole = kind.builder.build()
            for mode in ChecksumMode.allCases {
                let full = decode(whole, as: kind.builder.linkType, checksum: mode)
                #expect(full.segment != nil || full.message != nil, "the whole frame decodes")
                for length in 0..<whole.count {
                    let got = decode(Array(whole.prefix(length)), as: kind.builder.linkType, checksum: mode)
                    let region = kind.regions.first { length < $0.below }
                    switch got {
                    case .tcp(var segment):
                        // Enough was captured: the answer is the whole frame's, never another, but for
                        // SYN options the capture cut off (those before the cut are the whole frame's).
                        #expect(region == nil, "\(length) bytes: \(got)")
                        if let whole = full.segment {
                            let cut = segment.synOptions
                            #expect(cut.maximumSegmentSize == nil || cut.maximumSegmentSize == whole.synOptions.maximumSegmentSize)
                            #expect(cut.windowScale == nil || cut.windowScale == whole.synOptions.windowScale)
                            segment.synOptions = whole.synOptions
                        }
                        #expect(Decoded.tcp(segment) == full, "\(length) bytes")
                    case .unreachable:
                        #expect(region == nil, "\(length) bytes: \(got)")
                        #expect(got == full, "\(length) bytes")
                    case .malformed(let reason):
                        #expect(region?.reasons.contains(reason) == true, "\(length) bytes: \(reason)")
                    case .ignored:
                        Issue.record("\(length) bytes: ignored")
                    }
                }
            }
        }

        @Test(arguments: kinds)
        func mutatedBytesNeverCrash(_ kind: Kind) {
            let whole = kind.builder.build()
            let values: [UInt8] = [0x00, 0xFF, 0x01, 0x0F, 0xF0, 0x7F, 0x80, 0x45, 0x60]
            var results = 0
            for index in whole.indices {
                for value in values {
                    var bytes = whole
                    bytes[index] = value
                    for linkType in [kind.builder.linkType, .raw, .ethernet, .null, .linuxSLL2] {
                        for mode in ChecksumMode.allCases {
                            let got = decode(bytes, as: linkType, checksum: mode)
                            if let segment = got.segment { #expect(segment.payloadLength <= 0xFFFF) }
                            results += 1
                        }
                    }
                }
            }
            #expect(results == whole.count * values.count * 15)
        }

        @Test func emptyFrameForEveryLinkType() {
            for linkType in [LinkType.ethernet, .linuxSLL, .linuxSLL2, .null, .loop] {
                #expect(decode([], as: linkType) == .malformed(.truncatedLinkHeader))
            }
            for linkType in [LinkType.raw, .ipv4, .ipv6] {
                #expect(decode([], as: linkType) == .malformed(.truncatedIPHeader))
            }
        }
    }
}

// MARK: - Evidence (issue 15): hop counts, SYN options, the ICMP sender

extension DecoderTests {
    @Suite struct Evidence {
        @Test("the IPv4 TTL and the IPv6 hop limit reach the segment", arguments: [UInt8(1), 63, 64, 128, 255])
        func hopLimit(_ value: UInt8) {
            var v4 = ipv4(syn())
            v4.ttl = value
            #expect(decode(frame(v4)).segment?.hopLimit == value)
            var v6 = ipv6(syn())
            v6.hopLimit = value
            #expect(decode(frame(v6)).segment?.hopLimit == value)
        }

        @Test("a SYN/ACK's MSS and window scale, in any order and among other options")
        func synACKOptions() {
            let options: [UInt8] = [1, 1, 4, 2, 3, 3, 14, 1, 2, 4, 0x23, 0x28]  // NOP NOP SACKOK WS=14 NOP MSS=9000
            let synACK = FrameBuilder.TCP(sourcePort: 443, destinationPort: 49_152, sequence: 7, acknowledgment: 1,
                                          flags: [.syn, .ack], options: options)
            let segment = decode(frame(ipv4(synACK, from: Host.server4, to: Host.client4))).segment
            #expect(segment?.synOptions == SYNOptions(maximumSegmentSize: 9000, windowScale: 14))
        }

        @Test("options are read only from SYN/ACKs, and a broken list keeps what came before it")
        func optionsOnlyOnSYNACK() {
            let ack = FrameBuilder.TCP(sequence: 1, acknowledgment: 8, flags: .ack, options: FrameBuilder.TCP.linuxSYNOptions)
            #expect(decode(frame(ipv4(ack))).segment?.synOptions == SYNOptions())
            #expect(decode(frame(ipv4(syn()))).segment?.synOptions == SYNOptions(), "a SYN's are not kept")
            // MSS, then an option claiming 40 bytes: the walk stops, the MSS stays.
            let broken = syn(flags: [.syn, .ack], options: [2, 4, 0x05, 0xB4, 8, 40, 0, 0])
            #expect(decode(frame(ipv4(broken))).segment?.synOptions == SYNOptions(maximumSegmentSize: 1460))
            // An MSS option of the wrong length is not an MSS.
            #expect(decode(frame(ipv4(syn(flags: [.syn, .ack], options: [2, 3, 5, 0])))).segment?.synOptions
                    == SYNOptions())
        }

        @Test("an ICMP error names its sender and hop count")
        func icmpSender() {
            let quoted = ipv4(syn(sequence: 0x5EED_F00D))
            var error = FrameBuilder.IPv4(source: Host.router4, destination: Host.client4,
                                          payload: .icmpv4(FrameBuilder.ICMPv4(type: 3, code: 13, quoting: quoted)))
            error.ttl = 62
            let message = decode(frame(error)).message
            #expect(message?.sender == Host.router4)
            #expect(message?.hopLimit == 62)
        }
    }
}

extension DecoderTests.Evidence {
    @Test("a TCP segment stays one cache line with its evidence")
    func segmentSize() {
        #expect(MemoryLayout<TCPSegment>.size == 64)
        #expect(MemoryLayout<SYNOptions>.size == 3)
    }
}
