import GRDB

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

    var sql: String { terms.joined(separator: " AND ") }
}
