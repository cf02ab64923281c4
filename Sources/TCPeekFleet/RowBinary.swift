/// Writes ClickHouse's RowBinary format into memory the caller has
/// reserved: numbers little-endian at their column's width, strings as a
/// LEB128 length and the bytes, a Nullable as a byte (1 = NULL) before the
/// value, an array as a LEB128 count and the elements. Numbers cost a store
/// each, where TabSeparated cost a decimal conversion on both sides.
struct RowBinaryWriter {
    let base: UnsafeMutablePointer<UInt8>
    var count = 0

    init(base: UnsafeMutablePointer<UInt8>) {
        self.base = base
    }

    /// The most bytes `string` of `length` bytes takes.
    static func bound(string length: Int) -> Int { length + 10 }

    @inline(__always) private mutating func little<T: FixedWidthInteger>(_ value: T) {
        UnsafeMutableRawPointer(base + count).storeBytes(of: value.littleEndian, as: T.self)
        count += MemoryLayout<T>.size
    }

    @inline(__always) mutating func uint8(_ value: UInt8) {
        base[count] = value
        count += 1
    }

    @inline(__always) mutating func int8(_ value: Int8) { uint8(UInt8(bitPattern: value)) }
    @inline(__always) mutating func uint16(_ value: UInt16) { little(value) }
    @inline(__always) mutating func uint32(_ value: UInt32) { little(value) }
    @inline(__always) mutating func uint64(_ value: UInt64) { little(value) }
    @inline(__always) mutating func float64(_ value: Double) { little(value.bitPattern) }

    /// A Nullable column's flag: the value follows only when present.
    @inline(__always) mutating func null() { uint8(1) }
    @inline(__always) mutating func present() { uint8(0) }

    @inline(__always) mutating func varint(_ value: Int) {
        var rest = UInt64(value)
        while rest >= 0x80 {
            uint8(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        uint8(UInt8(rest))
    }

    @inline(__always) mutating func string(_ bytes: UnsafeBufferPointer<UInt8>) {
        varint(bytes.count)
        if let source = bytes.baseAddress, !bytes.isEmpty {
            (base + count).update(from: source, count: bytes.count)
            count += bytes.count
        }
    }

    /// Bytes already in RowBinary form (a string written once, reused).
    @inline(__always) mutating func raw(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { source in
            (base + count).update(from: source.baseAddress!, count: source.count)
        }
        count += bytes.count
    }

    /// `text` as a RowBinary string, for the values written on every row.
    static func encoded(_ text: String) -> [UInt8] {
        var length = text.utf8.count
        var out: [UInt8] = []
        while length >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        out.append(UInt8(length))
        return out + Array(text.utf8)
    }
}
