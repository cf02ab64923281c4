import Testing
@testable import TCPeekCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// `IPAddress.withText` (and `description`, which uses it) against the C
// library's inet_ntop and against the allocating algorithm `description`
// had before `withText` (`referenceText` below).
//
// inet_ntop and IPAddress differ on purpose in two places:
// - an IPv4-mapped address (`isIPv4`) is IPv4 here: "a.b.c.d", where
//   inet_ntop(AF_INET6) writes "::ffff:a.b.c.d". It is compared with
//   inet_ntop(AF_INET) instead (and with "::ffff:" + that for AF_INET6);
// - glibc writes an IPv4-compatible address (first 96 bits zero, group 6 not
//   zero) as "::a.b.c.d"; IPAddress has always written it in hex
//   ("::cb00:7109", see IPAddressTests.ipv6Formatting). Those, and only
//   those, are compared with `referenceText` instead of inet_ntop.

@Suite struct IPAddressTextTests {
    // MARK: References

    /// `IPAddress.description` as it was before `withText`, verbatim.
    static func referenceText(_ address: IPAddress) -> String {
        if address.isIPv4 {
            let v = address.ipv4Value
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        }
        let high = address.high, low = address.low
        var groups = [UInt16](repeating: 0, count: 8)
        for i in 0..<4 {
            groups[i] = UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i))
            groups[i + 4] = UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * i))
        }
        var bestStart = -1, bestLength = 0, runStart = -1
        for i in 0...8 {
            if i < 8 && groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                runStart = -1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var text = ""
        var i = 0
        while i < 8 {
            if i == bestStart {
                text += "::"
                i += bestLength
                continue
            }
            if !text.isEmpty && !text.hasSuffix(":") { text += ":" }
            text += String(groups[i], radix: 16)
            i += 1
        }
        return text
    }

    /// inet_ntop(AF_INET6) of the 128 bits of `address`.
    static func ntop6(_ address: IPAddress) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: address.high >> UInt64(56 - 8 * i))
            bytes[i + 8] = UInt8(truncatingIfNeeded: address.low >> UInt64(56 - 8 * i))
        }
        return ntop(family: AF_INET6, bytes)
    }

    /// inet_ntop(AF_INET) of `address.ipv4Value`.
    static func ntop4(_ address: IPAddress) -> String {
        let v = address.ipv4Value
        return ntop(family: AF_INET, [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)])
    }

    private static func ntop(family: Int32, _ bytes: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: 64)
        let result = bytes.withUnsafeBytes { source in
            text.withUnsafeMutableBufferPointer { target in
                inet_ntop(family, source.baseAddress, target.baseAddress, socklen_t(target.count))
            }
        }
        precondition(result != nil, "inet_ntop failed")
        return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An IPv4-compatible address, which glibc writes with a dotted tail and
    /// IPAddress in hex: the first 96 bits zero and group 6 non-zero.
    static func isIPv4Compatible(_ address: IPAddress) -> Bool {
        address.high == 0 && address.low >> 32 == 0 && address.low >> 16 & 0xFFFF != 0
    }

    static func text(_ address: IPAddress) -> String {
        address.withText { String(decoding: $0, as: UTF8.self) }
    }

    /// Every way of checking one address; the first failure's message, or nil.
    static func mismatch(_ address: IPAddress) -> String? {
        let bytes = address.withText { Array($0) }
        let text = String(decoding: bytes, as: UTF8.self)
        let label = "high \(String(address.high, radix: 16)) low \(String(address.low, radix: 16))"
        if bytes.count > IPAddress.maximumTextLength {
            return "\(label): withText wrote \(bytes.count) bytes: \(text)"
        }
        if address.description != text {
            return "\(label): description \(address.description) != withText \(text)"
        }
        let reference = referenceText(address)
        if text != reference {
            return "\(label): withText \(text) != old description \(reference)"
        }
        if address.isIPv4 {
            if text != ntop4(address) { return "\(label): withText \(text) != inet_ntop(AF_INET) \(ntop4(address))" }
            if "::ffff:" + text != ntop6(address) {
                return "\(label): \"::ffff:\" + withText \(text) != inet_ntop(AF_INET6) \(ntop6(address))"
            }
            return nil
        }
        let ntop = ntop6(address)
        if ntop.contains(".") {
            // The only IPv6 addresses inet_ntop writes with a dotted quad.
            if !isIPv4Compatible(address) { return "\(label): unexpected inet_ntop \(ntop)" }
            return nil
        }
        if text != ntop { return "\(label): withText \(text) != inet_ntop(AF_INET6) \(ntop)" }
        return nil
    }

    // MARK: Fixed addresses

    @Test(arguments: [
        "0.0.0.0", "255.255.255.255", "1.2.3.4", "9.10.99.100", "192.0.2.1",
        "198.51.100.7", "203.0.113.255", "10.0.0.1", "127.0.0.1", "100.20.3.0",
        "172.16.254.1", "224.0.0.251",
        // IPv4-mapped, in either notation.
        "::ffff:198.51.100.7", "::ffff:0:1", "::ffff:0.0.0.0",
    ])
    func ipv4(_ literal: String) throws {
        let address = try #require(IPAddress(literal))
        #expect(address.isIPv4)
        #expect(Self.text(address) == Self.ntop4(address))
        #expect(Self.text(address) == Self.referenceText(address))
        #expect(address.description == Self.text(address))
        #expect(Self.ntop6(address) == "::ffff:" + Self.text(address))
        #expect(Self.mismatch(address) == nil)
    }

    struct V6: Sendable, CustomStringConvertible {
        var text: String
        var canonical: String
        var description: String { text }
    }

    @Test(arguments: [
        V6(text: "::", canonical: "::"),
        V6(text: "::1", canonical: "::1"),
        V6(text: "1::", canonical: "1::"),
        V6(text: "2001:db8::1", canonical: "2001:db8::1"),
        // A tie: the first run is compressed.
        V6(text: "2001:db8:0:0:1:0:0:1", canonical: "2001:db8::1:0:0:1"),
        // The longer, second run is compressed.
        V6(text: "2001:0:0:1:0:0:0:1", canonical: "2001:0:0:1::1"),
        V6(text: "fe80::1:2:3:4", canonical: "fe80::1:2:3:4"),
        V6(text: "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", canonical: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        // A single zero group is not "::".
        V6(text: "2001:db8:0:1:1:1:1:1", canonical: "2001:db8:0:1:1:1:1:1"),
        V6(text: "0:1:2:3:4:5:6:7", canonical: "0:1:2:3:4:5:6:7"),
        V6(text: "1:2:3:4:5:6:7:0", canonical: "1:2:3:4:5:6:7:0"),
        V6(text: "1:2:3:0:5:6:7:8", canonical: "1:2:3:0:5:6:7:8"),
        // Runs at either end, and the whole-group lengths 1 to 4.
        V6(text: "0:0:1:2:3:4:5:6", canonical: "::1:2:3:4:5:6"),
        V6(text: "1:2:3:4:5:6:0:0", canonical: "1:2:3:4:5:6::"),
        V6(text: "0:0:1:0:0:0:1:0", canonical: "0:0:1::1:0"),
        V6(text: "a:bc:def:1234:abcd:f0:f00:f000", canonical: "a:bc:def:1234:abcd:f0:f00:f000"),
        V6(text: "::ffff:0:0:1", canonical: "::ffff:0:0:1"),
        V6(text: "::1:ffff:1:2", canonical: "::1:ffff:1:2"),
        V6(text: "64:ff9b::198.51.100.7", canonical: "64:ff9b::c633:6407"),
    ])
    func ipv6(_ c: V6) throws {
        let address = try #require(IPAddress(c.text))
        #expect(!address.isIPv4)
        #expect(!Self.isIPv4Compatible(address))
        #expect(Self.text(address) == c.canonical)
        #expect(Self.text(address) == Self.ntop6(address))
        #expect(Self.text(address) == Self.referenceText(address))
        #expect(address.description == c.canonical)
        #expect(Self.mismatch(address) == nil)
    }

    /// IPv4-compatible addresses: glibc writes a dotted quad, IPAddress
    /// always wrote hex, and still does.
    @Test(arguments: [
        V6(text: "::203.0.113.9", canonical: "::cb00:7109"),
        V6(text: "::1:0", canonical: "::1:0"),
        V6(text: "::1:1", canonical: "::1:1"),
        V6(text: "::ffff", canonical: "::ffff"),       // group 6 zero: not dotted
        V6(text: "::2", canonical: "::2"),
        V6(text: "::ffff:ffff", canonical: "::ffff:ffff"),
    ])
    func ipv4Compatible(_ c: V6) throws {
        let address = try #require(IPAddress(c.text))
        #expect(!address.isIPv4)
        #expect(Self.text(address) == c.canonical)
        #expect(Self.text(address) == Self.referenceText(address))
        #expect(address.description == c.canonical)
        if Self.isIPv4Compatible(address) {
            #expect(Self.ntop6(address).contains("."))
        } else {
            #expect(Self.ntop6(address) == c.canonical)
        }
        #expect(Self.mismatch(address) == nil)
    }

    @Test func maximumTextLength() {
        let longest = IPAddress(high: ~0, low: ~0)
        #expect(longest.withText { $0.count } == IPAddress.maximumTextLength)
        #expect(IPAddress(high: 0xFFFF_FFFF_FFFF_FFFF, low: 0xFFFF_FFFF_FFFF_FFFE).withText { $0.count } == 39)
        #expect(IPAddress(ipv4: 0xFFFF_FFFF).withText { $0.count } == 15)
    }

    @Test func withTextPassesResultsAndErrors() {
        struct Stop: Error {}
        let address = IPAddress(high: 0x2001_0DB8_0000_0000, low: 1)
        #expect(address.withText { $0.count } == 11)
        #expect(throws: Stop.self) { try address.withText { _ in throw Stop() } }
    }

    // MARK: Pseudo-random addresses

    /// xorshift64, fixed seed: the same addresses on every run.
    struct XorShift {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
    }

    /// 100,000 addresses with many zero groups and groups of every digit count,
    /// some IPv4-mapped, IPv4-compatible or with their first 80 bits zero.
    @Test func pseudoRandom() {
        var random = XorShift(state: 0x9E37_79B9_7F4A_7C15)
        var failures = 0, ipv4 = 0, compatible = 0, compressed = 0
        for _ in 0..<100_000 {
            let bits = random.next()
            var groups = [UInt16](repeating: 0, count: 8)
            for i in 0..<8 {
                let value = random.next()
                // Half the groups zero; the rest 1 to 4 hex digits long.
                if value & 1 == 0 { continue }
                let digits = Int(value >> 1 & 3) + 1
                groups[i] = UInt16(truncatingIfNeeded: value >> 16) & UInt16(truncatingIfNeeded: (1 << (4 * digits)) - 1)
            }
            switch bits & 0xF {
            case 0: // IPv4-mapped
                groups.replaceSubrange(0..<6, with: [0, 0, 0, 0, 0, 0xFFFF])
            case 1: // IPv4-compatible (when group 6 is not zero)
                groups.replaceSubrange(0..<6, with: [0, 0, 0, 0, 0, 0])
            case 2: // ::x:y:z
                groups.replaceSubrange(0..<5, with: [0, 0, 0, 0, 0])
            case 3: // all zero but one
                let keep = Int(bits >> 4 & 7)
                for i in 0..<8 where i != keep { groups[i] = 0 }
            default:
                break
            }
            var high: UInt64 = 0, low: UInt64 = 0
            for i in 0..<4 {
                high = high << 16 | UInt64(groups[i])
                low = low << 16 | UInt64(groups[i + 4])
            }
            let address = IPAddress(high: high, low: low)
            if address.isIPv4 { ipv4 += 1 }
            if Self.isIPv4Compatible(address) { compatible += 1 }
            if !address.isIPv4 && address.description.contains("::") { compressed += 1 }
            if let message = Self.mismatch(address) {
                failures += 1
                if failures <= 10 { Issue.record(Comment(rawValue: message)) }
            }
        }
        #expect(failures == 0)
        // The generator does reach each case.
        #expect(ipv4 > 1000)
        #expect(compatible > 1000)
        #expect(compressed > 50_000)
    }
}
