import GRDB
import TCPeekCore

/// The `WHERE` of a question about sessions `s` (`--sessions`, `--top`):
/// the time range, the filters that must have counted a session, and any
/// further condition, every value a bound parameter.
struct SessionConditions {
    private var terms: [String] = []
    private(set) var arguments: [any DatabaseValueConvertible] = []

    /// Sessions started in `[since, until)` that one of `filters` counted
    /// (any filter when nil).
    init(since: Double, until: Double, filters: [String]?) {
        append("s.started_at >= ? AND s.started_at < ?", [since, until])
        if let filters {
            append("""
                EXISTS (SELECT 1 FROM run_filters f WHERE \(Schema.sessionCountedByFilter)
                    AND f.filter IN (\(filters.map { _ in "?" }.joined(separator: ","))))
                """, filters)
        }
    }

    /// Adds `sql`, whose `?`s take `values`.
    mutating func append(_ sql: String, _ values: [any DatabaseValueConvertible] = []) {
        terms.append(sql)
        arguments += values
    }

    /// The networks `append(address:in:)` tests with `SessionAddressFunction`:
    /// register `SessionAddressFunction.make(networks)` on the connection
    /// that runs the query when there are any.
    private(set) var networks: [IPNetwork] = []

    /// Sessions whose `column` (`client_addr`, `server_addr`) is `network`'s
    /// address, or one of its addresses: the address matches however it was
    /// written, since it is a parsed value.
    mutating func append(address column: String, in network: IPNetwork) {
        if network.isHost {
            // Addresses are stored in one spelling, the one `description` writes.
            append("s.\(column) = ?", [network.address.description])
        } else {
            if let prefix = SessionAddressFunction.textPrefix(of: network) {
                append("s.\(column) GLOB ?", [prefix + "*"])
            }
            append("\(SessionAddressFunction.name)(s.\(column), ?)", [networks.count])
            networks.append(network)
        }
    }

    var sql: String { terms.joined(separator: " AND ") }
}
