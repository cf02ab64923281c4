import Foundation

/// Reads and writes the wire types of this module: one place for the JSON
/// of the socket, `tcpeek query`, `--json-summary`, `--json-lines` and the
/// database's JSON columns.
///
/// Writing goes through `WireEncoder`, not Foundation's `JSONEncoder`: on
/// Linux `JSONEncoder` orders keys by hash (or sorted), while the original's
/// `GET`/`REFRESH` layout, and every answer since (pinned by the tests),
/// lists them in a fixed order; it cannot write `0.001640`; and it takes
/// ~7 µs per `--json-lines` object against ~1.8 µs here (the hand writer
/// this replaced: ~1.5 µs). Keys come in the order the type's Codable
/// conformance encodes them (its properties', when synthesized), so that
/// conformance is the one definition of the shape. Reading uses
/// `JSONDecoder`, whose key order does not matter.
public enum WireJSON {
    /// `value` as compact JSON, keys in the order its `encode(to:)` writes them.
    public static func text<Value: Encodable>(_ value: Value) -> String {
        let sink = WireEncoder.Sink()
        do {
            try WireEncoder(sink: sink, depth: 0, codingPath: []).write(value)
        } catch {
            // Only an `encode(to:)` that throws gets here, and the wire types'
            // do not: still, an answer is valid JSON and says what went wrong.
            return #"{"error":"# + quoted("tcpeek could not write its answer (\(Value.self)): \(error); please report it") + "}"
        }
        return sink.text
    }

    /// Reads `text` as a `Value`. The errors are `DecodingError`s, or what
    /// the type's own `init(from:)` throws.
    public static func decode<Value: Decodable>(_ type: Value.Type, from text: String) throws -> Value {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    /// Whether `text` is one JSON document of any shape.
    public static func isJSON(_ text: String) -> Bool {
        (try? decode(AnyDocument.self, from: text)) != nil
    }

    /// Accepts any JSON value: `JSONDecoder` parses the whole text first.
    private struct AnyDocument: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    /// A JSON string literal: `"`, `\` and control characters escaped
    /// (`\n`, `\r`, `\t`, else `\u00XX`), everything else as it is, `/` included.
    public static func quoted(_ text: String) -> String {
        let sink = WireEncoder.Sink()
        sink.appendQuoted(text)
        return sink.text
    }
}

/// A `CodingKey` made at run time: a filter's name as a key (`GET`), a
/// histogram bucket, the kind of a `--top` row.
public struct WireKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(_ text: String) { stringValue = text }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { return nil }
}
