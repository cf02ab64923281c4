import Foundation

/// The JSON object of the socket's `QUERY` request, the fields of `tcpeek
/// query`: `{"since":"1h","until":"now","filter":["RX","web"],"by":"minute"}`.
/// Every field may be left out or null; `filter` may be one name.
public struct QueryRequest: Codable, Sendable, Equatable {
    /// A time as `tcpeek query --since` reads it; the server's default is `1h`.
    public var since: String?
    public var until: String?
    /// Filter names; nil (or an empty list) for all of them.
    public var filter: [String]?
    public var by: Bucketing?

    public enum Bucketing: String, Codable, Sendable, CaseIterable {
        case minute, hour, day, total
    }

    public init(since: String? = nil, until: String? = nil, filter: [String]? = nil, by: Bucketing? = nil) {
        self.since = since
        self.until = until
        self.filter = filter
        self.by = by
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case since, until, filter, by }

    /// Only the fields given, as a person would write the request.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if let since { try container.encode(since, forKey: .since) }
        if let until { try container.encode(until, forKey: .until) }
        if let filter { try container.encode(filter, forKey: .filter) }
        if let by { try container.encode(by, forKey: .by) }
    }

    /// Why a `QUERY` object was refused; `description` is the `"error"` text.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = "QUERY: " + description }
    }

    /// Reads the text after `QUERY `, with messages that name the problem.
    public static func read(_ text: String) throws(Problem) -> QueryRequest {
        do {
            return try WireJSON.decode(QueryRequest.self, from: text)
        } catch let problem as Problem {
            throw problem
        } catch DecodingError.typeMismatch {
            throw Problem("expected a JSON object, got '\(ErrorAnswer.excerpt(text))'")
        } catch {
            throw Problem("not valid JSON: '\(ErrorAnswer.excerpt(text))'")
        }
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.container(keyedBy: WireKey.self)
        let fields = CodingKeys.allCases.map(\.stringValue)
        if let unknown = object.allKeys.map(\.stringValue).sorted().first(where: { !fields.contains($0) }) {
            throw Problem("unknown field '\(ErrorAnswer.excerpt(unknown))'; the fields are since, until, filter and by")
        }
        func present(_ key: CodingKeys) throws -> WireKey? {
            let key = WireKey(key.stringValue)
            guard object.contains(key), try !object.decodeNil(forKey: key) else { return nil }
            return key
        }
        func time(_ field: CodingKeys) throws -> String? {
            guard let key = try present(field) else { return nil }
            guard let text = try? object.decode(String.self, forKey: key) else {
                throw Problem("'\(field.stringValue)' must be a string such as \"1h\" or \"2026-11-27T10:00:00Z\"")
            }
            return text
        }
        since = try time(.since)
        until = try time(.until)
        if let key = try present(.filter) {
            if let name = try? object.decode(String.self, forKey: key) {
                filter = [name]
            } else if let names = try? object.decode([String].self, forKey: key) {
                filter = names.isEmpty ? nil : names
            } else {
                throw Problem("'filter' must be a name or a list of names")
            }
        }
        if let key = try present(.by) {
            guard let text = try? object.decode(String.self, forKey: key) else {
                throw Problem("'by' must be minute, hour, day or total")
            }
            guard let by = Bucketing(rawValue: text) else {
                throw Problem("'by' must be minute, hour, day or total, not '\(ErrorAnswer.excerpt(text))'")
            }
            self.by = by
        }
    }
}

extension ErrorAnswer {
    /// At most 64 characters of what a client sent, for error messages.
    public static func excerpt(_ text: String) -> String {
        text.count <= 64 ? text : String(text.prefix(61)) + "..."
    }
}
