/// An IPv4 or IPv6 address as two 64-bit halves, IPv4 stored IPv4-mapped
/// (`::ffff:a.b.c.d`), so that one fixed-size value serves both families
/// on the packet path.
public struct IPAddress: Hashable, Sendable, BitwiseCopyable, Comparable {
    /// The first 64 bits of the 128-bit address, network order as an integer.
    public var high: UInt64
    /// The last 64 bits of the 128-bit address, network order as an integer.
    public var low: UInt64

    private static let ipv4MappedPrefix: UInt64 = 0x0000_FFFF_0000_0000

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// An IPv4 address from its 32-bit value in host order (`0xC6336401` is 198.51.100.1).
    public init(ipv4 value: UInt32) {
        self.high = 0
        self.low = Self.ipv4MappedPrefix | UInt64(value)
    }

    public static let zero = IPAddress(high: 0, low: 0)

    public var isIPv4: Bool { high == 0 && low & 0xFFFF_FFFF_0000_0000 == Self.ipv4MappedPrefix }

    /// The IPv4 value in host order; meaningful only when `isIPv4`.
    public var ipv4Value: UInt32 { UInt32(truncatingIfNeeded: low) }

    /// The number of significant bits: 32 for IPv4, 128 for IPv6.
    public var bitWidth: Int { isIPv4 ? 32 : 128 }

    /// Whether `self` lies in the network `network/prefixLength`, where the
    /// prefix length counts bits of the address's own family.
    @inlinable
    public func isIn(network: IPAddress, prefixLength: Int) -> Bool {
        if network.isIPv4 != isIPv4 { return false }
        let bits = isIPv4 ? prefixLength + 96 : prefixLength
        if bits <= 0 { return true }
        if bits >= 128 { return self == network }
        if bits <= 64 {
            let mask: UInt64 = bits == 64 ? ~0 : ~(~0 >> UInt64(bits))
            return (high & mask) == (network.high & mask)
        }
        let mask: UInt64 = ~(~0 >> UInt64(bits - 64))
        return high == network.high && (low & mask) == (network.low & mask)
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
    }
}

// MARK: - Text

extension IPAddress: CustomStringConvertible, LosslessStringConvertible {
    /// Dotted quad for IPv4, RFC 5952 compressed form for IPv6.
    public var description: String {
        if isIPv4 {
            let v = ipv4Value
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        }
        var groups = [UInt16](repeating: 0, count: 8)
        for i in 0..<4 {
            groups[i] = UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i))
            groups[i + 4] = UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * i))
        }
        // The longest run of two or more zero groups is written "::".
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

    /// Parses dotted-quad IPv4 or textual IPv6 (with `::` and an optional
    /// embedded IPv4 tail); brackets are not accepted here.
    public init?(_ text: String) {
        if let v4 = Self.parseIPv4(Substring(text)) {
            self.init(ipv4: v4)
            return
        }
        guard let v6 = Self.parseIPv6(text) else { return nil }
        self = v6
    }

    static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            // No leading zeros: other parsers read "010" as octal 8.
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part.count == 1 || part.first != "0",
                  let octet = UInt32(part), octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseIPv6(_ text: String) -> IPAddress? {
        guard text.contains(":"), text.count <= 45 else { return nil }
        let halves = text.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        /// `last`: the part ends the address, so it may end in a dotted quad.
        func groups(_ part: Substring, last: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if last, index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseIPv4(piece) else { return nil }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xFFFF))
                } else {
                    // ASCII hex digits only: UInt16(_:radix:) also takes a sign.
                    guard (1...4).contains(piece.count), piece.allSatisfy({ $0.isASCII && $0.isHexDigit }),
                          let group = UInt16(piece, radix: 16) else { return nil }
                    result.append(group)
                }
            }
            return result
        }
        var all: [UInt16]
        if halves.count == 2 {
            guard let head = groups(halves[0], last: false), let tail = groups(halves[1], last: true),
                  head.count + tail.count <= 7 else {
                return nil
            }
            all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let only = groups(halves[0], last: true), only.count == 8 else { return nil }
            all = only
        }
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<4 {
            high = high << 16 | UInt64(all[i])
            low = low << 16 | UInt64(all[i + 4])
        }
        return IPAddress(high: high, low: low)
    }
}

extension String {
    /// Splits at every "::"; more than one yields three or more parts (invalid).
    fileprivate func components(separatedByDoubleColon _: Void) -> [Substring] {
        var parts: [Substring] = []
        var start = startIndex
        var index = startIndex
        while index < endIndex {
            let next = self.index(after: index)
            if self[index] == ":", next < endIndex, self[next] == ":" {
                parts.append(self[start..<index])
                index = self.index(after: next)
                start = index
            } else {
                index = next
            }
        }
        parts.append(self[start..<endIndex])
        return parts
    }
}
