import Foundation
import TCPeekCore
import TCPeekStore
import TCPeekWire

/// One request of the socket protocol (SPEC §4): a line such as `GET`,
/// `WINDOW 5m` or `QUERY {"since":"1h","by":"minute"}`.
public enum SocketRequest: Sendable, Equatable {
    /// Totals since start, the original's shape.
    case get
    /// Deltas since the previous `REFRESH`, the original's shape.
    case refresh
    /// Per-filter aggregates of the last `seconds`, from memory and the database.
    case window(seconds: Double)
    /// A historical query, answered from the database.
    case query(SocketQuery)
    /// The filter definitions in use.
    case filters
    /// The capture's state: attempts still open, evicted, malformed
    /// packets, sessions not recorded, libpcap's statistics.
    case status
    /// The list of requests.
    case help

    /// The longest request line, terminator included.
    public static let maximumLineLength = 4096

    /// Reads one request line (without its `\n`; a trailing `\r` is
    /// dropped). The verb is case-insensitive.
    public static func parse(_ line: String) throws(SocketRequestError) -> SocketRequest {
        var text = Substring(line)
        if text.hasSuffix("\r") { text = text.dropLast() }
        text = text.drop(while: { $0 == " " || $0 == "\t" })
        let verb = text.prefix(while: { $0 != " " && $0 != "\t" })
        let argument = text.dropFirst(verb.count).trimmingCharacters(in: .whitespaces)
        switch verb.uppercased() {
        case "":
            throw SocketRequestError("empty request; send HELP for the list of requests")
        case "GET", "REFRESH", "FILTERS", "STATUS", "HELP":
            guard argument.isEmpty else {
                throw SocketRequestError("\(verb.uppercased()) takes no argument, got '\(excerpt(argument))'")
            }
            switch verb.uppercased() {
            case "GET": return .get
            case "REFRESH": return .refresh
            case "FILTERS": return .filters
            case "STATUS": return .status
            default: return .help
            }
        case "WINDOW":
            guard !argument.isEmpty else {
                throw SocketRequestError("WINDOW needs a duration, such as WINDOW 60s, WINDOW 5m or WINDOW 1h")
            }
            guard let seconds = DurationText.seconds(argument), seconds > 0 else {
                throw SocketRequestError("WINDOW: cannot read the duration '\(excerpt(argument))'; use a positive number with s, m, h, d or w (60s, 5m, 1h)")
            }
            return .window(seconds: seconds)
        case "QUERY":
            return .query(try SocketQuery.parse(argument))
        default:
            throw SocketRequestError("unknown request '\(excerpt(String(verb)))'; send HELP for the list of requests")
        }
    }

    /// The requests and what they answer, for `HELP`.
    public static let descriptions: [(request: String, answer: String)] = [
        ("GET", "totals per filter since start, and libpcap's statistics"),
        ("REFRESH", "per filter, what happened since the previous REFRESH (unreach and abort counted as reject)"),
        ("WINDOW <duration>", "per filter, the sessions started in the last <duration> (60s, 5m, 1h), with handshake_ms percentiles"),
        ("QUERY <json>", "history from the database: {\"since\":\"1h\",\"until\":\"now\",\"filter\":[\"RX\"],\"by\":\"minute|hour|day|total\"}"),
        ("FILTERS", "the filter definitions in use, exclusions included"),
        ("STATUS", "the capture's state: source, start, attempts still open, evicted (--max-pending), malformed packets, sessions not recorded, libpcap's statistics"),
        ("HELP", "this list"),
    ]

    /// At most 64 characters of what a client sent, for error messages.
    static func excerpt(_ text: String) -> String {
        ErrorAnswer.excerpt(text)
    }
}

/// Why a request line was refused; `description` is the `"error"` text.
public struct SocketRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The fields of `QUERY`, those of `tcpeek query`: `since` and `until`
/// (times as `tcpeek query` reads them), `filter` (a name or a list),
/// `by` (`minute`, `hour`, `day` or `total`).
public struct SocketQuery: Sendable, Equatable {
    public var since = "1h"
    public var until: String?
    public var filters: [String]?
    public var by = TimeBucketing.total

    public init(since: String = "1h", until: String? = nil, filters: [String]? = nil, by: TimeBucketing = .total) {
        self.since = since
        self.until = until
        self.filters = filters
        self.by = by
    }

    /// Reads `QUERY`'s object (`QueryRequest`), with the defaults filled in.
    static func parse(_ text: String) throws(SocketRequestError) -> SocketQuery {
        guard !text.isEmpty else {
            throw SocketRequestError("QUERY needs a JSON object, such as QUERY {\"since\":\"1h\",\"by\":\"minute\"}")
        }
        let request: QueryRequest
        do throws(QueryRequest.Problem) {
            request = try QueryRequest.read(text)
        } catch {
            throw SocketRequestError(error.description)
        }
        return SocketQuery(since: request.since ?? "1h", until: request.until, filters: request.filter,
                           by: request.by.map(TimeBucketing.init) ?? .total)
    }
}

extension TimeBucketing {
    /// The bucketing `QUERY` names.
    init(_ wire: QueryRequest.Bucketing) {
        switch wire {
        case .minute: self = .minute
        case .hour: self = .hour
        case .day: self = .day
        case .total: self = .total
        }
    }
}
