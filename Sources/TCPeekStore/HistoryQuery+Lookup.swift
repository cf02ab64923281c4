import GRDB
import TCPeekCore

/// What a query needs to know about the database besides its answer: the
/// filters it can name, and where its data lies when the range has none.
extension HistoryQuery {
    /// `--filter` names (or the socket's `QUERY` `filter`) that no recorded run used.
    public struct UnknownFilterError: Error, Sendable, CustomStringConvertible {
        public let unknown: [String]
        public let known: [String]

        public var description: String {
            "no filter named \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in the database; "
                + (known.isEmpty ? "nothing is recorded yet" : "known filters: \(known.joined(separator: ", "))")
        }
    }

    /// The database's names for the filters `requested` names, compared as
    /// `record` compares them (`Filter.nameKey`: `all` is `ALL`). A name
    /// runs spelled differently (`web`, `Web`) selects every spelling.
    public static func filters(named requested: [String], known: [String]) throws(UnknownFilterError) -> [String] {
        var chosen: [String] = []
        var unknown: [String] = []
        for name in requested {
            let key = Filter.nameKey(name)
            let spellings = known.filter { Filter.nameKey($0) == key }
            if spellings.isEmpty { unknown.append(name) }
            for spelling in spellings where !chosen.contains(spelling) { chosen.append(spelling) }
        }
        guard unknown.isEmpty else { throw UnknownFilterError(unknown: unknown, known: known) }
        return chosen
    }

    /// Which tables a question about the database's time span looks at.
    public enum RecordedData: Sendable {
        /// The sessions themselves (`--sessions`, `--top`).
        case sessions
        /// Sessions and the rollups, which may outlive them (aggregates).
        case sessionsAndRollups
    }

    /// The earliest and latest start of what the database holds, nil when
    /// it holds nothing. Each `min`/`max` is one step down an index.
    public static func span(of data: RecordedData, in database: HistoryDatabase) throws(StoreError) -> ClosedRange<Double>? {
        let tables = data == .sessions
            ? [("sessions", "started_at")]
            : [("sessions", "started_at"), ("rollups_minute", "minute"), ("rollups_hour", "hour")]
        func extreme(_ function: String) -> String {
            "SELECT \(function)(t) FROM ("
                + tables.map { "SELECT \(function)(\($0.1)) AS t FROM \($0.0)" }.joined(separator: " UNION ALL ") + ")"
        }
        return try database.read { db in
            guard let first = try Double.fetchOne(db, sql: extreme("min")),
                  let last = try Double.fetchOne(db, sql: extreme("max")) else { return nil }
            return first...max(first, last)
        }
    }

    /// Whether the database holds anything in `[since, until)`: a session,
    /// or a rollup minute or hour overlapping the range.
    public static func holdsData(
        _ data: RecordedData, in database: HistoryDatabase, since: Double, until: Double
    ) throws(StoreError) -> Bool {
        var checks = ["EXISTS (SELECT 1 FROM sessions WHERE started_at >= ? AND started_at < ?)"]
        var arguments: [Double] = [since, until]
        if data == .sessionsAndRollups {
            checks.append("EXISTS (SELECT 1 FROM rollups_minute WHERE minute > ? AND minute < ?)")
            checks.append("EXISTS (SELECT 1 FROM rollups_hour WHERE hour > ? AND hour < ?)")
            arguments += [since - 60, until, since - 3600, until]
        }
        return try database.read { db in
            try Bool.fetchOne(db, sql: "SELECT " + checks.joined(separator: " OR "), arguments: StatementArguments(arguments)) ?? false
        }
    }
}
