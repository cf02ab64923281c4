import Testing
@testable import TCPeekCore

// Address parsing, RFC 5952 formatting and network membership. Documentation
// addresses only: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32.

@Suite struct IPAddressTests {
    // MARK: IPv4

    struct V4: Sendable, CustomStringConvertible {
        var text: String
        var value: UInt32
        var description: String { text }
    }

    @Test(arguments: [
        V4(text: "198.51.100.1", value: 0xC633_6401),
        V4(text: "203.0.113.255", value: 0xCB00_71FF),
        V4(text: "192.0.2.0", value: 0xC000_0200),
        V4(text: "0.0.0.0", value: 0),
        V4(text: "255.255.255.255", value: 0xFFFF_FFFF),
    ])
    func ipv4RoundTrip(_ c: V4) throws {
        let address = try #require(IPAddress(c.text))
        #expect(address.isIPv4)
        #expect(address.bitWidth == 32)
        #expect(address.ipv4Value == c.value)
        #expect(address == IPAddress(ipv4: c.value))
        #expect(address.high == 0)
        #expect(address.low == 0x0000_FFFF_0000_0000 | UInt64(c.value))
        #expect(address.description == c.text)
    }

    // MARK: IPv6

    struct V6: Sendable, CustomStringConvertible {
        var text: String
        var canonical: String
        var description: String { text }
    }

    @Test(arguments: [
        V6(text: "2001:db8::1", canonical: "2001:db8::1"),
        V6(text: "2001:0DB8:0000:0000:0000:0000:0000:0001", canonical: "2001:db8::1"),
        V6(text: "2001:0db8:0001:0000:0000:0000:0000:0001", canonical: "2001:db8:1::1"),
        V6(text: "2001:DB8:A:B:C:D:E:F", canonical: "2001:db8:a:b:c:d:e:f"),
        // The longest run of zeros is compressed…
        V6(text: "2001:db8:0:1:0:0:0:1", canonical: "2001:db8:0:1::1"),
        V6(text: "2001:db8:0:0:1:0:0:0", canonical: "2001:db8:0:0:1::"),
        // …the first of two equal runs…
        V6(text: "2001:db8:0:0:1:0:0:1", canonical: "2001:db8::1:0:0:1"),
        // …and a single zero group is not.
        V6(text: "2001:db8:0:1:1:1:1:1", canonical: "2001:db8:0:1:1:1:1:1"),
        V6(text: "2001:db8:1:2:3:4:5:0", canonical: "2001:db8:1:2:3:4:5:0"),
        V6(text: "2001:db8:1:2:3:4::5", canonical: "2001:db8:1:2:3:4:0:5"),
        V6(text: "0:2001:db8:1:2:3:4:5", canonical: "0:2001:db8:1:2:3:4:5"),
        V6(text: "2001:db8::", canonical: "2001:db8::"),
        V6(text: "2001:db8:0:0:0:0:0:0", canonical: "2001:db8::"),
        V6(text: "::2001:db8", canonical: "::2001:db8"),
        V6(text: "::", canonical: "::"),
        V6(text: "0:0:0:0:0:0:0:0", canonical: "::"),
        V6(text: "2001:db8::0:1", canonical: "2001:db8::1"),
        V6(text: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", canonical: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
        // An embedded IPv4 tail is two groups.
        V6(text: "2001:db8::198.51.100.7", canonical: "2001:db8::c633:6407"),
        V6(text: "2001:db8:1:2:3:4:198.51.100.7", canonical: "2001:db8:1:2:3:4:c633:6407"),
        V6(text: "::203.0.113.9", canonical: "::cb00:7109"),
    ])
    func ipv6Formatting(_ c: V6) throws {
        let address = try #require(IPAddress(c.text))
        #expect(!address.isIPv4)
        #expect(address.bitWidth == 128)
        #expect(address.description == c.canonical)
        // The canonical form parses back to the same address.
        #expect(IPAddress(c.canonical) == address)
    }

    @Test func ipv6Halves() throws {
        let address = try #require(IPAddress("2001:db8:1:2:3:4:5:6"))
        #expect(address.high == 0x2001_0DB8_0001_0002)
        #expect(address.low == 0x0003_0004_0005_0006)
        #expect(IPAddress(high: 0x2001_0DB8_0000_0000, low: 1).description == "2001:db8::1")
    }

    @Test func ipv4MappedIsIPv4() throws {
        let mapped = try #require(IPAddress("::ffff:198.51.100.7"))
        #expect(mapped.isIPv4)
        #expect(mapped == IPAddress("198.51.100.7"))
        #expect(mapped.description == "198.51.100.7")
        #expect(IPAddress("::FFFF:c633:6407") == mapped)
        // IPv4-compatible (deprecated) is an IPv6 address.
        #expect(IPAddress("::198.51.100.7")?.isIPv4 == false)
    }

    // MARK: Invalid input

    // Regressions: a sign ("+1", "-0"), a dotted quad before "::" and leading
    // zeros in an octet used to be accepted.

    @Test(arguments: [
        "",
        " ",
        "198.51.100",
        "198.51.100.1.2",
        "198.51.100.256",
        "198.51.100.-1",
        "198.51.100.+1",
        "198.51..1",
        ".198.51.100.1",
        "198.51.100.1.",
        "198.51.100.1 ",
        " 198.51.100.1",
        "1985.1.100.1",
        "198.51.100.0x1",
        "198.51.100.0001",
        "198.51.100.07",       // leading zero: octal to some parsers
        "198.51.100.1/24",
        "198.51.100.٣",        // a non-ASCII digit
        "2001:db8::1::1",
        "2001:db8:::1",
        ":::",
        ":2001:db8::1",
        "2001:db8::1:",
        ":",
        "2001:db8:1:2:3:4:5:6:7",
        "2001:db8:1:2:3:4:5",
        "2001:db8:1:2:3:4:5:6::",
        "2001:db8:1:2:3:4::5:6",
        "12345::",
        "2001:db8::g",
        "2001:db8::+1",
        "2001:db8::-0",
        "2001:db8::１",          // a full-width digit
        "[2001:db8::1]",
        "2001:db8::1%eth0",
        "2001:db8::1/64",
        "2001:db8:: 1",
        "2001:db8::198.51.100",
        "2001:db8::198.51.100.256",
        "2001:db8::198.51.100.7:1",
        "198.51.100.7::",
        "198.51.100.7::1",
        "2001:db8:1:2:3:4:5:198.51.100.7",
        "::ffff:198.51.100.07",
        "2001:db8:0:0:0:0:0:0:0",
    ])
    func invalid(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    // MARK: Networks

    struct Membership: Sendable, CustomStringConvertible {
        var address: String
        var network: String
        var prefix: Int
        var isIn: Bool
        var description: String { "\(address) in \(network)/\(prefix): \(isIn)" }
    }

    @Test(arguments: [
        // /0 matches everything of the same family.
        Membership(address: "198.51.100.7", network: "0.0.0.0", prefix: 0, isIn: true),
        Membership(address: "203.0.113.9", network: "192.0.2.0", prefix: 0, isIn: true),
        Membership(address: "2001:db8::1", network: "::", prefix: 0, isIn: true),
        Membership(address: "2001:db8:ffff::1", network: "2001:db8::", prefix: 0, isIn: true),
        // /8 (the network may have host bits set: they are masked).
        Membership(address: "198.51.100.7", network: "198.51.100.0", prefix: 8, isIn: true),
        Membership(address: "198.51.100.7", network: "192.0.2.0", prefix: 8, isIn: false),
        Membership(address: "203.0.113.9", network: "198.51.100.0", prefix: 8, isIn: false),
        // /24 boundaries.
        Membership(address: "198.51.100.0", network: "198.51.100.0", prefix: 24, isIn: true),
        Membership(address: "198.51.100.255", network: "198.51.100.0", prefix: 24, isIn: true),
        Membership(address: "198.51.100.255", network: "198.51.100.42", prefix: 24, isIn: true),
        Membership(address: "203.0.113.0", network: "198.51.100.0", prefix: 24, isIn: false),
        Membership(address: "192.0.2.255", network: "198.51.100.0", prefix: 24, isIn: false),
        // /25 halves.
        Membership(address: "198.51.100.127", network: "198.51.100.0", prefix: 25, isIn: true),
        Membership(address: "198.51.100.128", network: "198.51.100.0", prefix: 25, isIn: false),
        // /31 and /32.
        Membership(address: "198.51.100.7", network: "198.51.100.6", prefix: 31, isIn: true),
        Membership(address: "198.51.100.8", network: "198.51.100.6", prefix: 31, isIn: false),
        Membership(address: "198.51.100.7", network: "198.51.100.7", prefix: 32, isIn: true),
        Membership(address: "198.51.100.6", network: "198.51.100.7", prefix: 32, isIn: false),
        Membership(address: "198.51.100.8", network: "198.51.100.7", prefix: 32, isIn: false),
        // IPv6 /32, /33.
        Membership(address: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", network: "2001:db8::", prefix: 32, isIn: true),
        Membership(address: "2001:db8:7fff:ffff::1", network: "2001:db8::", prefix: 33, isIn: true),
        Membership(address: "2001:db8:8000::", network: "2001:db8::", prefix: 33, isIn: false),
        // /64 boundaries.
        Membership(address: "2001:db8:0:1::", network: "2001:db8:0:1::", prefix: 64, isIn: true),
        Membership(address: "2001:db8:0:1:ffff:ffff:ffff:ffff", network: "2001:db8:0:1::", prefix: 64, isIn: true),
        Membership(address: "2001:db8:0:2::", network: "2001:db8:0:1::", prefix: 64, isIn: false),
        Membership(address: "2001:db8:0:0:ffff:ffff:ffff:ffff", network: "2001:db8:0:1::", prefix: 64, isIn: false),
        // /63 and /65, either side of the halves' border.
        Membership(address: "2001:db8:0:1::", network: "2001:db8::", prefix: 63, isIn: true),
        Membership(address: "2001:db8:0:2::", network: "2001:db8::", prefix: 63, isIn: false),
        Membership(address: "2001:db8::7fff:ffff:ffff:ffff", network: "2001:db8::", prefix: 65, isIn: true),
        Membership(address: "2001:db8::8000:0:0:0", network: "2001:db8::", prefix: 65, isIn: false),
        // /127 and /128.
        Membership(address: "2001:db8::", network: "2001:db8::1", prefix: 127, isIn: true),
        Membership(address: "2001:db8::1", network: "2001:db8::", prefix: 127, isIn: true),
        Membership(address: "2001:db8::2", network: "2001:db8::", prefix: 127, isIn: false),
        Membership(address: "2001:db8::1", network: "2001:db8::1", prefix: 128, isIn: true),
        Membership(address: "2001:db8::", network: "2001:db8::1", prefix: 128, isIn: false),
        Membership(address: "2001:db8::1:0:0:1", network: "2001:db8::1", prefix: 128, isIn: false),
        // IPv4 and IPv6 never match each other, whatever the prefix.
        Membership(address: "198.51.100.7", network: "::", prefix: 0, isIn: false),
        Membership(address: "2001:db8::1", network: "0.0.0.0", prefix: 0, isIn: false),
        Membership(address: "::203.0.113.9", network: "203.0.113.9", prefix: 32, isIn: false),
        Membership(address: "203.0.113.9", network: "::203.0.113.9", prefix: 128, isIn: false),
        Membership(address: "203.0.113.9", network: "::", prefix: 96, isIn: false),
        Membership(address: "::cb00:7109", network: "0.0.0.0", prefix: 0, isIn: false),
    ])
    func membership(_ c: Membership) throws {
        let address = try #require(IPAddress(c.address))
        let network = try #require(IPAddress(c.network))
        #expect(address.isIn(network: network, prefixLength: c.prefix) == c.isIn)
    }

    @Test func everyPrefixOfAnAddressContainsIt() throws {
        let v4 = try #require(IPAddress("203.0.113.9"))
        for prefix in 0...32 { #expect(v4.isIn(network: v4, prefixLength: prefix)) }
        let v6 = try #require(IPAddress("2001:db8:1:2:3:4:5:6"))
        for prefix in 0...128 { #expect(v6.isIn(network: v6, prefixLength: prefix)) }
        // Flipping the last bit inside the prefix excludes it from exactly the longest prefix.
        let neighbour6 = IPAddress(high: v6.high, low: v6.low ^ 1)
        #expect(neighbour6.isIn(network: v6, prefixLength: 127))
        #expect(!neighbour6.isIn(network: v6, prefixLength: 128))
        let neighbour4 = IPAddress(ipv4: v4.ipv4Value ^ 1)
        #expect(neighbour4.isIn(network: v4, prefixLength: 31))
        #expect(!neighbour4.isIn(network: v4, prefixLength: 32))
    }

    @Test func everyBitBoundaryOfIPv6() {
        // For each prefix length p, the address with only bit p set (counting
        // from the top, within 2001:db8::/32's host part) is in the /p network
        // of 2001:db8:: and not in its /(p+1).
        let base = IPAddress(high: 0x2001_0DB8_0000_0000, low: 0)
        for bit in 32..<128 {
            let address = bit < 64
                ? IPAddress(high: base.high | (1 << UInt64(63 - bit)), low: 0)
                : IPAddress(high: base.high, low: 1 << UInt64(127 - bit))
            #expect(address.isIn(network: base, prefixLength: bit), "/\(bit)")
            #expect(!address.isIn(network: base, prefixLength: bit + 1), "/\(bit + 1)")
        }
    }

    // MARK: Order

    @Test func ordering() throws {
        let sorted = try ["192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1", "2001:db8:1::"]
            .map { try #require(IPAddress($0)) }
        #expect(sorted.shuffled().sorted() == sorted)
        #expect(IPAddress.zero < sorted[0])
    }
}
