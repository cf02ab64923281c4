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
    /// The longest text `withText` can produce ("ffff:ffff:...": 39 bytes).
    public static let maximumTextLength = 39

    /// Calls `body` with the UTF-8 bytes of `description`, written into
    /// stack memory without allocating. The buffer is valid only during the
    /// call and holds at most `maximumTextLength` bytes.
    ///
    /// Dotted quad for IPv4 (`isIPv4`, i.e. `::ffff:a.b.c.d`, is written
    /// `a.b.c.d`); RFC 5952 for everything else: lowercase hex without
    /// leading zeros, the longest run of two or more zero groups (the first
    /// on a tie) written "::", and no embedded dotted quad (`::a.b.c.d` is
    /// written `::xxxx:xxxx`).
    @inlinable
    public func withText<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        // 39 is `maximumTextLength`, as a literal so the stack allocation has
        // a constant size in the caller.
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 39) { buffer in
            let count = writeText(into: buffer)
            return try body(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Each octet's decimal digits without leading zeros, the first in the
    /// lowest byte, and their count in the highest.
    private static let decimalOctets: [UInt32] = (0...255).map { octet in
        let digits = Array(String(octet).utf8)
        var entry = UInt32(digits.count) << 24
        for (position, digit) in digits.enumerated() {
            entry |= UInt32(digit) << (8 * position)
        }
        return entry
    }

    /// Writes the text of `withText` at the start of `buffer` (at least
    /// `maximumTextLength` bytes) and returns its length. Not inlinable: the
    /// generic `withText` is specialized in callers, this stays one copy.
    public func writeText(into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(buffer.count >= Self.maximumTextLength)
        let colon = UInt8(ascii: ":"), dot = UInt8(ascii: ".")
        var count = 0
        if isIPv4 {
            // Each octet's digits are stored as one word from a table (the
            // recorder writes two addresses a session): four bytes at a time,
            // at most 16 bytes in all, the byte past the digits overwritten
            // by the next dot or left past the end.
            let value = ipv4Value
            let text = UnsafeMutableRawPointer(buffer.baseAddress!)
            var shift: UInt32 = 24
            while true {
                let entry = Self.decimalOctets[Int(UInt8(truncatingIfNeeded: value >> shift))]
                text.storeBytes(of: entry.littleEndian, toByteOffset: count, as: UInt32.self)
                count &+= Int(entry >> 24)
                if shift == 0 { break }
                text.storeBytes(of: dot, toByteOffset: count, as: UInt8.self)
                count &+= 1
                shift &-= 8
            }
            return count
        }
        @inline(__always)
        func group(_ index: Int) -> UInt16 {
            UInt16(truncatingIfNeeded: (index < 4 ? high : low) >> UInt64(48 &- 16 &* (index & 3)))
        }
        // The longest run of two or more zero groups, the first on a tie, is
        // written "::".
        var bestStart = -1, bestLength = 1, runStart = -1
        for index in 0...8 {
            if index < 8 && group(index) == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                if index &- runStart > bestLength { bestStart = runStart; bestLength = index &- runStart }
                runStart = -1
            }
        }
        var index = 0
        while index < 8 {
            if index == bestStart {
                buffer[count] = colon
                buffer[count &+ 1] = colon
                count &+= 2
                index &+= bestLength
                continue
            }
            if count > 0 && buffer[count &- 1] != colon {
                buffer[count] = colon
                count &+= 1
            }
            // A group in lowercase hex, without leading zeros.
            let value = group(index)
            var shift: UInt16 = value >= 0x1000 ? 12 : value >= 0x100 ? 8 : value >= 0x10 ? 4 : 0
            while true {
                let nibble = UInt8(truncatingIfNeeded: value >> shift) & 0xF
                buffer[count] = nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &- 10 &+ nibble
                count &+= 1
                if shift == 0 { break }
                shift &-= 4
            }
            index &+= 1
        }
        return count
    }

    /// Dotted quad for IPv4, RFC 5952 compressed form for IPv6 (see `withText`).
    public var description: String {
        withText { String(decoding: $0, as: UTF8.self) }
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
