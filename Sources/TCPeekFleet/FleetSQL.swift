import TCPeekCore
import TCPeekStore

/// The pieces of ClickHouse SQL the fleet query writes: literals, the
/// `WHERE` of a question, and the expressions that must compute what the
/// local query computes in Swift. Values go into the text as escaped
/// literals: the HTTP interface of 18.16 has no bound parameters.
enum FleetSQL {
    /// `'text'` with backslash and quote escaped, as ClickHouse reads string literals.
    static func string(_ text: String) -> String {
        var escaped = "'"
        for character in text.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "'": escaped += "\\'"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            case "\0": escaped += "\\0"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped + "'"
    }

    /// `` `name` ``: a database name as an identifier, backquotes escaped.
    static func identifier(_ name: String) -> String {
        "`" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`"
    }

    /// `['a', 'b']`.
    static func array(_ texts: [String]) -> String {
        "[" + texts.map(string).joined(separator: ", ") + "]"
    }

    /// A Float64 literal that reads back as `value` (Swift writes the
    /// shortest text that does; `toFloat64` keeps huge or tiny values Float64).
    static func number(_ value: Double) -> String {
        "toFloat64(\(value))"
    }

    /// The bucket of `Schema.handshakeBucket` for `duration` (seconds):
    /// the duration rounded to whole microseconds, then floor(ln(µs) /
    /// ln(1.02)) + 1, 0 below 1 µs. Below 1000 s no whole microsecond lies
    /// within 1.7e-11 of a bucket edge (the nearest: 693388399 µs), hundreds
    /// of ulps: ClickHouse's `log` puts every duration in the bucket Swift's does.
    static let handshakeBucket =
        "if(round(duration * 1000000) < 1, 0, toInt64(floor(log(round(duration * 1000000)) / log(1.02))) + 1)"

    /// The start of the time bucket of `started_at`, computed as
    /// `AggregateAccumulator` computes it (floor(t / size) * size), or the
    /// range's start for one bucket over all of it.
    static func bucketStart(_ bucketing: TimeBucketing, since: Double) -> String {
        guard let size = bucketing.seconds else { return number(since) }
        return "floor(started_at / \(number(size))) * \(number(size))"
    }

    /// Sessions whose `column` (`client_addr`, `server_addr`) is `network`'s
    /// address or one of its addresses. Addresses are stored as SQLite
    /// stores them, in the one spelling `IPAddress.description` writes;
    /// networks compare the parsed address in ClickHouse.
    static func address(_ column: String, in network: IPNetwork) -> String {
        let address = network.address
        if network.isHost { return "\(column) = \(string(address.description))" }
        if address.isIPv4 {
            let hostBits = UInt32(32 - network.prefixLength)
            let low = address.ipv4Value
            let high = hostBits >= 32 ? UInt32.max : low | ((1 << hostBits) - 1)
            return "(family = 4 AND IPv4StringToNum(\(column)) BETWEEN \(low) AND \(high))"
        }
        // IPv6: the 16 bytes as upper-case hex, whose text order is their numeric order.
        let hostBits = 128 - network.prefixLength
        let highMask: UInt64 = hostBits >= 128 ? .max : hostBits > 64 ? (1 << UInt64(hostBits - 64)) - 1 : 0
        let lowMask: UInt64 = hostBits >= 64 ? .max : (1 << UInt64(hostBits)) - 1
        func hex(_ high: UInt64, _ low: UInt64) -> String {
            func sixteen(_ value: UInt64) -> String {
                let digits = String(value, radix: 16, uppercase: true)
                return String(repeating: "0", count: 16 - digits.count) + digits
            }
            return "'" + sixteen(high) + sixteen(low) + "'"
        }
        return "(family = 6 AND hex(IPv6StringToNum(\(column))) BETWEEN \(hex(address.high, address.low)) AND "
            + "\(hex(address.high | highMask, address.low | lowMask)))"
    }
}

/// The `WHERE` of one fleet question: the time range, the host (`--host`),
/// the filters that must have counted a session, and any further condition.
struct FleetConditions {
    private(set) var terms: [String]

    /// Sessions started in `[since, until)`, on `host` when given, that one
    /// of `filters` counted (any filter when nil).
    init(since: Double, until: Double, host: String?, filters: [String]?) {
        terms = ["started_at >= \(FleetSQL.number(since))", "started_at < \(FleetSQL.number(until))"]
        if let host { terms.append("host = \(FleetSQL.string(host))") }
        if let filters { terms.append("hasAny(filters, \(FleetSQL.array(filters)))") }
    }

    mutating func append(_ term: String) { terms.append(term) }

    var sql: String { terms.joined(separator: " AND ") }
}
