/// The `Encoder` behind `WireJSON.text`: writes compact JSON straight into
/// one string as `encode(to:)` runs, keys in the order they are encoded.
///
/// It streams rather than building a tree: a container stays open until its
/// parent writes its next member or the value ends, so a container must be
/// filled before its parent's next member (as synthesized and the wire
/// types' own `encode(to:)` do). Unlike `JSONEncoder`, it writes a nil
/// Optional as null even through `encodeIfPresent`. Coding paths are not
/// tracked: nothing here throws on its own.
struct WireEncoder: Encoder {
    /// The bytes written so far and the containers still open. Bytes, not
    /// a `String`: appending many short pieces to a string costs more than
    /// the rest of the encoding.
    ///
    /// Its two arrays skip the run-time exclusivity check: a sink belongs
    /// to one `WireJSON.text` call on one thread, and every access is one
    /// append or read inside a method here, so none can overlap another.
    /// The checks were 40 % of writing a `--json-lines` object.
    final class Sink {
        @exclusivity(unchecked) private(set) var bytes: [UInt8] = []
        /// Each open container's closing bracket, innermost last, and
        /// whether it has a member yet.
        @exclusivity(unchecked) private var open: [(closing: UInt8, hasMember: Bool)] = []

        init() { bytes.reserveCapacity(256) }

        var depth: Int { open.count }
        var count: Int { bytes.count }
        var text: String { String(decoding: bytes, as: UTF8.self) }

        func open(_ opening: UInt8, _ closing: UInt8) {
            bytes.append(opening)
            open.append((closing, false))
        }

        func close(to depth: Int) {
            while open.count > depth { bytes.append(open.removeLast().closing) }
        }

        /// Starts a member of the container at `depth` (its nesting, from 1):
        /// closes what is still open inside it and writes the comma.
        func beginMember(at depth: Int) {
            close(to: depth)
            if open[depth - 1].hasMember {
                bytes.append(UInt8(ascii: ","))
            } else {
                open[depth - 1].hasMember = true
            }
        }

        /// A member's `"key":`.
        func beginMember(_ key: String, at depth: Int) {
            beginMember(at: depth)
            appendQuoted(key)
            bytes.append(UInt8(ascii: ":"))
        }

        func append(_ text: String) {
            bytes.append(contentsOf: text.utf8)
        }

        func append(_ value: Bool) {
            append(value ? "true" : "false")
        }

        func append(_ value: Double) {
            append(value.isFinite ? "\(value)" : "null")
        }

        func append<Integer: BinaryInteger>(_ value: Integer) {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            appendDigits(UInt64(truncatingIfNeeded: value.magnitude), minimumCount: 1)
        }

        /// `scaled` / 10^`decimals` with exactly `decimals` decimals (`0.001640`).
        func appendFixed(_ scaled: Int64, decimals: Int) {
            if scaled < 0 { bytes.append(UInt8(ascii: "-")) }
            var power: UInt64 = 1
            for _ in 0..<decimals { power *= 10 }
            appendDigits(scaled.magnitude / power, minimumCount: 1)
            bytes.append(UInt8(ascii: "."))
            appendDigits(scaled.magnitude % power, minimumCount: decimals)
        }

        /// `value` in decimal, zero-padded to `minimumCount` digits, written
        /// in place (no `String` per number).
        private func appendDigits(_ value: UInt64, minimumCount: Int) {
            if value < 10, minimumCount <= 1 {
                bytes.append(UInt8(ascii: "0") + UInt8(value))
                return
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
                var index = digits.count
                var rest = value
                repeat {
                    index -= 1
                    digits[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                } while rest > 0 || digits.count - index < minimumCount
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[index...]))
            }
        }

        /// A JSON string literal: `"`, `\` and control characters escaped
        /// (`\n`, `\r`, `\t`, else `\u00XX`), everything else as it is, `/` included.
        func appendQuoted(_ text: String) {
            // Names, addresses and outcomes rarely need escaping: copy them whole.
            let copied = text.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
                for byte in utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    return false
                }
                bytes.append(UInt8(ascii: "\""))
                bytes.append(contentsOf: utf8)
                bytes.append(UInt8(ascii: "\""))
                return true
            }
            if copied == true { return }
            bytes.append(UInt8(ascii: "\""))
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), byte])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), byte])
                case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                              hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                default: bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    let sink: Sink
    /// The containers open around the value this encoder writes.
    let depth: Int
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Writes one value where the sink stands (after a key, a comma or nothing).
    func write<Value: Encodable>(_ value: Value) throws {
        let before = sink.count
        try value.encode(to: self)
        sink.close(to: depth)
        // A value that wrote nothing is an empty object, as JSONEncoder has it.
        if sink.count == before { sink.append("{}") }
    }

    /// Opens this value's container, or goes on with it if asked again.
    private func openContainer(_ opening: UInt8, _ closing: UInt8) {
        if sink.depth > depth {
            sink.close(to: depth + 1)
        } else {
            sink.open(opening, closing)
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        openContainer(UInt8(ascii: "{"), UInt8(ascii: "}"))
        return KeyedEncodingContainer(Keyed<Key>(sink: sink, depth: depth + 1, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        openContainer(UInt8(ascii: "["), UInt8(ascii: "]"))
        return Unkeyed(sink: sink, depth: depth + 1, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        Single(sink: sink, depth: depth, codingPath: codingPath)
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let sink: Sink
        let depth: Int
        var codingPath: [any CodingKey]

        private func member(_ key: Key) {
            sink.beginMember(key.stringValue, at: depth)
        }

        private func value(forKey key: Key) -> WireEncoder {
            WireEncoder(sink: sink, depth: depth, codingPath: codingPath)
        }

        mutating func encodeNil(forKey key: Key) { member(key); sink.append("null") }
        mutating func encode(_ value: Bool, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: String, forKey key: Key) { member(key); sink.appendQuoted(value) }
        mutating func encode(_ value: Double, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: Float, forKey key: Key) { member(key); sink.append(Double(value)) }
        mutating func encode(_ value: Int, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: Int8, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: Int16, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: Int32, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: Int64, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: UInt, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: UInt8, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: UInt16, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: UInt32, forKey key: Key) { member(key); sink.append(value) }
        mutating func encode(_ value: UInt64, forKey key: Key) { member(key); sink.append(value) }

        mutating func encode<Value: Encodable>(_ value: Value, forKey key: Key) throws {
            member(key)
            try self.value(forKey: key).write(value)
        }

        // nil is written as null, also through `encodeIfPresent`, which
        // synthesized code calls for every Optional: a wire type's keys are
        // all there, as its documented shape has them. A type that leaves a
        // key out says so in its own `encode(to:)`.
        mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: String?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Double?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Float?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Int?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) { if let value { encode(value, forKey: key) } else { encodeNil(forKey: key) } }
        mutating func encodeIfPresent<Value: Encodable>(_ value: Value?, forKey key: Key) throws {
            if let value { try encode(value, forKey: key) } else { encodeNil(forKey: key) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            member(key)
            return value(forKey: key).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            member(key)
            return value(forKey: key).unkeyedContainer()
        }

        /// Written under the key `super`; the wire types do not use it.
        mutating func superEncoder() -> any Encoder {
            sink.beginMember("super", at: depth)
            return WireEncoder(sink: sink, depth: depth, codingPath: codingPath)
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder {
            member(key)
            return value(forKey: key)
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let sink: Sink
        let depth: Int
        var codingPath: [any CodingKey]
        private(set) var count = 0

        init(sink: Sink, depth: Int, codingPath: [any CodingKey]) {
            self.sink = sink
            self.depth = depth
            self.codingPath = codingPath
        }

        private mutating func element() {
            sink.beginMember(at: depth)
            count += 1
        }

        private var value: WireEncoder { WireEncoder(sink: sink, depth: depth, codingPath: codingPath) }

        mutating func encodeNil() { element(); sink.append("null") }
        mutating func encode(_ value: Bool) { element(); sink.append(value) }
        mutating func encode(_ value: String) { element(); sink.appendQuoted(value) }
        mutating func encode(_ value: Double) { element(); sink.append(value) }
        mutating func encode(_ value: Float) { element(); sink.append(Double(value)) }
        mutating func encode(_ value: Int) { element(); sink.append(value) }
        mutating func encode(_ value: Int8) { element(); sink.append(value) }
        mutating func encode(_ value: Int16) { element(); sink.append(value) }
        mutating func encode(_ value: Int32) { element(); sink.append(value) }
        mutating func encode(_ value: Int64) { element(); sink.append(value) }
        mutating func encode(_ value: UInt) { element(); sink.append(value) }
        mutating func encode(_ value: UInt8) { element(); sink.append(value) }
        mutating func encode(_ value: UInt16) { element(); sink.append(value) }
        mutating func encode(_ value: UInt32) { element(); sink.append(value) }
        mutating func encode(_ value: UInt64) { element(); sink.append(value) }

        mutating func encode<Value: Encodable>(_ value: Value) throws {
            element()
            try self.value.write(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            element()
            return value.container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            element()
            return value.unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            element()
            return value
        }
    }

    struct Single: SingleValueEncodingContainer {
        let sink: Sink
        let depth: Int
        var codingPath: [any CodingKey]

        mutating func encodeNil() { sink.append("null") }
        mutating func encode(_ value: Bool) { sink.append(value) }
        mutating func encode(_ value: String) { sink.appendQuoted(value) }
        mutating func encode(_ value: Double) { sink.append(value) }
        mutating func encode(_ value: Float) { sink.append(Double(value)) }
        mutating func encode(_ value: Int) { sink.append(value) }
        mutating func encode(_ value: Int8) { sink.append(value) }
        mutating func encode(_ value: Int16) { sink.append(value) }
        mutating func encode(_ value: Int32) { sink.append(value) }
        mutating func encode(_ value: Int64) { sink.append(value) }
        mutating func encode(_ value: UInt) { sink.append(value) }
        mutating func encode(_ value: UInt8) { sink.append(value) }
        mutating func encode(_ value: UInt16) { sink.append(value) }
        mutating func encode(_ value: UInt32) { sink.append(value) }
        mutating func encode(_ value: UInt64) { sink.append(value) }

        mutating func encode<Value: Encodable>(_ value: Value) throws {
            try WireEncoder(sink: sink, depth: depth, codingPath: codingPath).write(value)
        }
    }
}

extension WireEncoder {
    /// Writes a number with a fixed count of decimals (`0.001640`, `12.500`),
    /// which `Double` cannot keep: `scaled` / 10^`decimals` here, `value`
    /// in other encoders.
    static func encodeFixed(_ scaled: Int64, decimals: Int, value: Double, to encoder: any Encoder) throws {
        if let wire = encoder as? WireEncoder {
            wire.sink.appendFixed(scaled, decimals: decimals)
        } else {
            var container = encoder.singleValueContainer()
            try container.encode(value)
        }
    }
}
