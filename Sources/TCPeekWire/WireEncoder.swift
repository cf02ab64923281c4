/// The `Encoder` behind `WireJSON.text`: writes compact JSON straight into
/// one string as `encode(to:)` runs, keys in the order they are encoded.
///
/// It streams rather than building a tree: a container stays open until its
/// parent writes its next member or the value ends, so a container must be
/// filled before its parent's next member (as synthesized and the wire
/// types' own `encode(to:)` do). Coding paths are not tracked: nothing here
/// throws on its own.
struct WireEncoder: Encoder {
    /// The text written so far and the containers still open.
    final class Sink {
        var text = ""
        /// Each open container's closing bracket, innermost last, and
        /// whether it has a member yet.
        private var open: [(closing: Unicode.Scalar, hasMember: Bool)] = []

        var depth: Int { open.count }

        func open(_ opening: Unicode.Scalar, _ closing: Unicode.Scalar) {
            text.unicodeScalars.append(opening)
            open.append((closing, false))
        }

        func close(to depth: Int) {
            while open.count > depth { text.unicodeScalars.append(open.removeLast().closing) }
        }

        /// Starts a member of the container at `depth` (its nesting, from 1):
        /// closes what is still open inside it and writes the comma.
        func beginMember(at depth: Int) {
            close(to: depth)
            if open[depth - 1].hasMember {
                text.unicodeScalars.append(",")
            } else {
                open[depth - 1].hasMember = true
            }
        }
    }

    let sink: Sink
    /// The containers open around the value this encoder writes.
    let depth: Int
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Writes one value where the sink stands (after a key, a comma or nothing).
    func write<Value: Encodable>(_ value: Value) throws {
        if let number = value as? any WireNumberText {
            sink.text += number.jsonText
            return
        }
        let before = sink.text.utf8.count
        try value.encode(to: self)
        sink.close(to: depth)
        // A value that wrote nothing is an empty object, as JSONEncoder has it.
        if sink.text.utf8.count == before { sink.text += "{}" }
    }

    /// Opens this value's container, or goes on with it if asked again.
    private func openContainer(_ opening: Unicode.Scalar, _ closing: Unicode.Scalar) {
        if sink.depth > depth {
            sink.close(to: depth + 1)
        } else {
            sink.open(opening, closing)
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        openContainer("{", "}")
        return KeyedEncodingContainer(Keyed<Key>(sink: sink, depth: depth + 1, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        openContainer("[", "]")
        return Unkeyed(sink: sink, depth: depth + 1, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        Single(sink: sink, depth: depth, codingPath: codingPath)
    }

    static func number(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "null"
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let sink: Sink
        let depth: Int
        var codingPath: [any CodingKey]

        private func member(_ key: Key) {
            sink.beginMember(at: depth)
            WireJSON.appendQuoted(key.stringValue, to: &sink.text)
            sink.text.unicodeScalars.append(":")
        }

        private func value(forKey key: Key) -> WireEncoder {
            WireEncoder(sink: sink, depth: depth, codingPath: codingPath)
        }

        mutating func encodeNil(forKey key: Key) { member(key); sink.text += "null" }
        mutating func encode(_ value: Bool, forKey key: Key) { member(key); sink.text += value ? "true" : "false" }
        mutating func encode(_ value: String, forKey key: Key) { member(key); WireJSON.appendQuoted(value, to: &sink.text) }
        mutating func encode(_ value: Double, forKey key: Key) { member(key); sink.text += WireEncoder.number(value) }
        mutating func encode(_ value: Float, forKey key: Key) { member(key); sink.text += WireEncoder.number(Double(value)) }
        mutating func encode(_ value: Int, forKey key: Key) { member(key); sink.text += String(value) }
        mutating func encode(_ value: Int8, forKey key: Key) { member(key); sink.text += String(value) }
        mutating func encode(_ value: Int16, forKey key: Key) { member(key); sink.text += String(value) }
        mutating func encode(_ value: Int32, forKey key: Key) { member(key); sink.text += String(value) }
        mutating func encode(_ value: Int64, forKey key: Key) { member(key); sink.text += String(value) }
        mutating func encode(_ value: UInt, forKey key: Key) { member(key); sink.text += String(value) }
        mutating func encode(_ value: UInt8, forKey key: Key) { member(key); sink.text += String(value) }
        mutating func encode(_ value: UInt16, forKey key: Key) { member(key); sink.text += String(value) }
        mutating func encode(_ value: UInt32, forKey key: Key) { member(key); sink.text += String(value) }
        mutating func encode(_ value: UInt64, forKey key: Key) { member(key); sink.text += String(value) }

        mutating func encode<Value: Encodable>(_ value: Value, forKey key: Key) throws {
            member(key)
            try self.value(forKey: key).write(value)
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
            sink.beginMember(at: depth)
            sink.text += #""super":"#
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

        mutating func encodeNil() { element(); sink.text += "null" }
        mutating func encode(_ value: Bool) { element(); sink.text += value ? "true" : "false" }
        mutating func encode(_ value: String) { element(); WireJSON.appendQuoted(value, to: &sink.text) }
        mutating func encode(_ value: Double) { element(); sink.text += WireEncoder.number(value) }
        mutating func encode(_ value: Float) { element(); sink.text += WireEncoder.number(Double(value)) }
        mutating func encode(_ value: Int) { element(); sink.text += String(value) }
        mutating func encode(_ value: Int8) { element(); sink.text += String(value) }
        mutating func encode(_ value: Int16) { element(); sink.text += String(value) }
        mutating func encode(_ value: Int32) { element(); sink.text += String(value) }
        mutating func encode(_ value: Int64) { element(); sink.text += String(value) }
        mutating func encode(_ value: UInt) { element(); sink.text += String(value) }
        mutating func encode(_ value: UInt8) { element(); sink.text += String(value) }
        mutating func encode(_ value: UInt16) { element(); sink.text += String(value) }
        mutating func encode(_ value: UInt32) { element(); sink.text += String(value) }
        mutating func encode(_ value: UInt64) { element(); sink.text += String(value) }

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

        mutating func encodeNil() { sink.text += "null" }
        mutating func encode(_ value: Bool) { sink.text += value ? "true" : "false" }
        mutating func encode(_ value: String) { WireJSON.appendQuoted(value, to: &sink.text) }
        mutating func encode(_ value: Double) { sink.text += WireEncoder.number(value) }
        mutating func encode(_ value: Float) { sink.text += WireEncoder.number(Double(value)) }
        mutating func encode(_ value: Int) { sink.text += String(value) }
        mutating func encode(_ value: Int8) { sink.text += String(value) }
        mutating func encode(_ value: Int16) { sink.text += String(value) }
        mutating func encode(_ value: Int32) { sink.text += String(value) }
        mutating func encode(_ value: Int64) { sink.text += String(value) }
        mutating func encode(_ value: UInt) { sink.text += String(value) }
        mutating func encode(_ value: UInt8) { sink.text += String(value) }
        mutating func encode(_ value: UInt16) { sink.text += String(value) }
        mutating func encode(_ value: UInt32) { sink.text += String(value) }
        mutating func encode(_ value: UInt64) { sink.text += String(value) }

        mutating func encode<Value: Encodable>(_ value: Value) throws {
            try WireEncoder(sink: sink, depth: depth, codingPath: codingPath).write(value)
        }
    }
}

/// A number written with a fixed count of decimals (`0.001640`,
/// `12.500`), which `Double` cannot keep: the encoder writes `jsonText`.
protocol WireNumberText {
    var jsonText: String { get }
}
