import TCPeekCore
import TCPeekStore
import TCPeekWire

/// What the fleet query needs of a ClickHouse connection: rows of a
/// `SELECT ... FORMAT TabSeparated`, fields unescaped.
public protocol ClickHouseSelecting: Sendable {
    func select(_ sql: String) async throws -> [[String]]
}

/// `tcpeek query --clickhouse URL`: the local query's answers (the same
/// `AggregateRow`, `TopAnswer`, `SessionAnswer` values, for the same
/// renderers) over every host's sessions in ClickHouse, or one host's
/// (`--host`). Every answer reads `sessions FINAL`: a replayed batch is
/// merged away before counting, so replays change no answer (the minute
/// view counts every inserted block, replays too: fleet-design.md).
public struct FleetQuery: Sendable {
    let client: any ClickHouseSelecting
    /// `database.sessions`, for what replays cannot change (which hosts
    /// and filters there are, the earliest start).
    let table: String
    /// `database.sessions FINAL`: each session once, replays merged away.
    let sessions: String
    /// `--host`: only this host's sessions.
    public let host: String?

    public init(client: any ClickHouseSelecting, database: String, host: String?) {
        self.client = client
        self.table = "\(FleetSQL.identifier(database)).sessions"
        self.sessions = table + " FINAL"
        self.host = host
    }

    /// Every host that shipped sessions, by name.
    public func hosts() async throws -> [String] {
        try await select("SELECT DISTINCT host FROM \(table) ORDER BY host FORMAT TabSeparated", width: 1).map { $0[0] }
    }

    /// Every filter that counted a shipped session (of `--host`), in the
    /// local query's order (`HistoryQuery.filterNames`: by run, then bit)
    /// as far as the sessions tell it: ClickHouse keeps no runs, so a
    /// filter that never counted a session is unknown to the fleet.
    public func filterNames() async throws -> [String] {
        // Each session's `filters` lists its filters in bit order: the
        // distinct lists (a few) give that order among the filters that
        // counted a session together.
        let rows = try await select("""
            SELECT arrayStringConcat(filters, '\\x1F') AS names, min(run_id), min(started_at) FROM \(table)
            \(host.map { "WHERE host = \(FleetSQL.string($0))" } ?? "") GROUP BY names FORMAT TabSeparated
            """, width: 3)
        var lists: [FilterOrder.List] = []
        for row in rows {
            lists.append(FilterOrder.List(names: row[0].split(separator: "\u{1F}").map(String.init),
                                          run: try Self.int(row[1]), started: try Self.double(row[2])))
        }
        return FilterOrder.merged(lists)
    }

    // MARK: Aggregates

    /// Per filter and time bucket over `[since, until)`, as
    /// `HistoryQuery.aggregate` answers from one database: the same
    /// accumulator adds up ClickHouse's sums per (filter, bucket).
    public func aggregate(
        since: Double, until: Double, filters: [String], by bucketing: TimeBucketing
    ) async throws -> [AggregateRow] {
        guard until > since, !filters.isEmpty else { return [] }
        var sums = AggregateAccumulator(since: since, until: until, bucketing: bucketing, filters: filters)
        let conditions = FleetConditions(since: since, until: until, host: host, filters: nil)
        try await add(into: &sums, conditions: conditions, time: FleetSQL.bucketStart(bucketing, since: since),
                      filters: filters)
        return sums.rows(filters: filters)
    }

    /// `--by host`: per host and filter over the whole range; a host is
    /// listed with the filters that counted its attempts there.
    public func aggregateByHost(since: Double, until: Double, filters: [String]) async throws -> [AggregateRow] {
        guard until > since, !filters.isEmpty else { return [] }
        var perHost: [String: AggregateAccumulator] = [:]
        let conditions = FleetConditions(since: since, until: until, host: host, filters: nil)
        let answers = try await read(conditions, time: FleetSQL.number(since), filters: filters, extra: ["host"])
        for row in answers.sums {
            perHost[row[0], default: AggregateAccumulator(since: since, until: until, bucketing: .total, filters: filters)]
                .add(try Self.counters(row, from: 3), filter: row[1], time: since)
        }
        for row in answers.histograms {
            perHost[row[0]]?.add(bucket: try Self.int(row[3]), count: Int64(try Self.int(row[4])), filter: row[1], time: since)
        }
        for row in answers.causes {
            guard let outcome = Outcome(row[3]), let named = Causes(row[4]) else { continue }
            perHost[row[0]]?.add(outcome, named, count: UInt64(try Self.int(row[5])), filter: row[1], time: since)
        }
        return perHost.keys.sorted().flatMap { name in
            var sums = perHost[name]!
            return sums.rows(filters: filters)
                .filter { $0.counters.total > 0 }
                .map { row in
                    var row = row
                    row.host = name
                    return row
                }
        }
    }

    /// Adds ClickHouse's per-(filter, bucket) counters, handshake buckets
    /// and causes into `sums`.
    private func add(
        into sums: inout AggregateAccumulator, conditions: FleetConditions, time: String, filters: [String]
    ) async throws {
        let answers = try await read(conditions, time: time, filters: filters, extra: [])
        for row in answers.sums {
            sums.add(try Self.counters(row, from: 2), filter: row[0], time: try Self.double(row[1]))
        }
        for row in answers.histograms {
            sums.add(bucket: try Self.int(row[2]), count: Int64(try Self.int(row[3])), filter: row[0], time: try Self.double(row[1]))
        }
        for row in answers.causes {
            // A cause this tcpeek does not know (written by a newer one) counts without one, as locally.
            guard let outcome = Outcome(row[2]), let named = Causes(row[3]) else { continue }
            sums.add(outcome, named, count: UInt64(try Self.int(row[4])), filter: row[0], time: try Self.double(row[1]))
        }
    }

    /// The three reads of an aggregate, at once: each is a pass over
    /// `sessions FINAL`, most of an answer's time (1M sessions: 0.2-0.3 s
    /// a pass here, 1.1-1.4 s an answer), and the server has cores for them.
    private func read(
        _ conditions: FleetConditions, time: String, filters: [String], extra: [String]
    ) async throws -> (sums: [[String]], histograms: [[String]], causes: [[String]]) {
        async let sums = select(sumsSQL(conditions, time: time, filters: filters, extra: extra), width: extra.count + 11)
        async let histograms = select(histogramSQL(conditions, time: time, filters: filters, extra: extra), width: extra.count + 4)
        async let causes = select(causesSQL(conditions, time: time, filters: filters, extra: extra), width: extra.count + 5)
        return try await (sums, histograms, causes)
    }

    /// `extra columns, filter, t, the counters of FilterCounters in `counters`' order`.
    private func sumsSQL(_ conditions: FleetConditions, time: String, filters: [String], extra: [String]) -> String {
        grouped(conditions, time: time, filters: filters, extra: extra, columns: """
            countIf(outcome = 'success'), countIf(outcome = 'success' AND dup_syn > 0),
            countIf(outcome = 'success' AND dup_synack > 0), countIf(outcome = 'timeout'), countIf(outcome = 'reject'),
            countIf(outcome = 'unreach'), countIf(outcome = 'abort'), sum(dup_syn), sum(dup_synack)
            """, only: nil, by: [])
    }

    /// `extra columns, filter, t, bucket, count` of the successful sessions.
    private func histogramSQL(_ conditions: FleetConditions, time: String, filters: [String], extra: [String]) -> String {
        grouped(conditions, time: time, filters: filters, extra: extra, columns: "\(FleetSQL.handshakeBucket) AS bucket, count()",
                only: "outcome = 'success'", by: ["bucket"])
    }

    /// `extra columns, filter, t, outcome, cause, count` of the sessions with a cause.
    private func causesSQL(_ conditions: FleetConditions, time: String, filters: [String], extra: [String]) -> String {
        grouped(conditions, time: time, filters: filters, extra: extra, columns: "toString(outcome) AS o, assumeNotNull(cause) AS c, count()",
                only: "cause IS NOT NULL AND cause != ''", by: ["o", "c"])
    }

    /// A `SELECT extra, filter, t, columns` over the sessions each filter
    /// counted (`ARRAY JOIN filters`), grouped by all but `columns`' aggregates.
    private func grouped(
        _ conditions: FleetConditions, time: String, filters: [String], extra: [String], columns: String, only: String?,
        by: [String]
    ) -> String {
        var conditions = conditions
        conditions.append("filter IN (\(filters.map(FleetSQL.string).joined(separator: ", ")))")
        if let only { conditions.append(only) }
        let keys = extra + ["filter", "t"] + by
        return """
            SELECT \((extra + ["filter", "\(time) AS t"]).joined(separator: ", ")), \(columns)
            FROM \(sessions) ARRAY JOIN filters AS filter
            WHERE \(conditions.sql)
            GROUP BY \(keys.joined(separator: ", "))
            FORMAT TabSeparated
            """
    }

    // MARK: Sessions

    /// Sessions newest first, as `HistoryQuery.sessions` lists them, each
    /// with the host that recorded it.
    public func sessions(
        since: Double, until: Double, filters: [String]?, outcome: String?, client: IPNetwork?, server: IPNetwork?,
        port: Int?, limit: Int
    ) async throws -> [SessionAnswer] {
        var conditions = FleetConditions(since: since, until: until, host: host, filters: filters)
        if let outcome { conditions.append("outcome = \(FleetSQL.string(outcome))") }
        if let client { conditions.append(FleetSQL.address("client_addr", in: client)) }
        if let server { conditions.append(FleetSQL.address("server_addr", in: server)) }
        if let port { conditions.append("server_port = \(port)") }
        // Ties in started_at newest id first, as SQLite's time index reads them.
        let rows = try await select("""
            SELECT host, started_at, duration, client_addr, client_port, server_addr, server_port,
                   ifNull(direction, ''), toString(outcome), dup_syn, dup_synack, arrayStringConcat(filters, '\\x1F')
            FROM \(sessions) WHERE \(conditions.sql)
            ORDER BY started_at DESC, host, database_id, session_id DESC LIMIT \(limit)
            FORMAT TabSeparated
            """, width: 12)
        return try rows.map { row in
            SessionAnswer(
                startedAt: try Self.double(row[1]), duration: try Self.double(row[2]), client: row[3],
                clientPort: try Self.int(row[4]), server: row[5], serverPort: try Self.int(row[6]),
                direction: row[7].isEmpty ? nil : row[7], outcome: row[8], dupSYN: try Self.int(row[9]),
                dupSYNACK: try Self.int(row[10]),
                // U+001F, a control character, cannot be in a filter's name.
                filters: row[11].split(separator: "\u{1F}").map(String.init), host: row[0])
        }
    }

    /// The endpoints with the most failures, as `HistoryQuery.top` ranks them.
    public func top(
        kind: HistoryQuery.TopKind, since: Double, until: Double, filters: [String]?, limit: Int
    ) async throws -> [TopAnswer] {
        let conditions = FleetConditions(since: since, until: until, host: host, filters: filters)
        // Ordered by the key's text, as SQLite orders the local answer's `CAST(... AS TEXT)`.
        let key = kind == .port ? "toString(server_port)" : kind == .server ? "server_addr" : "client_addr"
        let rows = try await select("""
            SELECT \(key) AS key, countIf(outcome != 'success') AS failures, countIf(outcome = 'timeout'),
                   countIf(outcome = 'reject'), countIf(outcome = 'unreach'), countIf(outcome = 'abort'), count()
            FROM \(sessions) WHERE \(conditions.sql)
            GROUP BY key HAVING failures > 0
            ORDER BY failures DESC, key LIMIT \(limit)
            FORMAT TabSeparated
            """, width: 7)
        return try rows.map { row in
            TopAnswer(kind: kind.rawValue, key: row[0], failures: Int64(try Self.int(row[1])), timeout: Int64(try Self.int(row[2])),
                      reject: Int64(try Self.int(row[3])), unreach: Int64(try Self.int(row[4])),
                      abort: Int64(try Self.int(row[5])), attempts: Int64(try Self.int(row[6])))
        }
    }

    // MARK: Where the data is

    /// Whether any session (of `--host`) started in `[since, until)`.
    public func holdsData(since: Double, until: Double) async throws -> Bool {
        let conditions = FleetConditions(since: since, until: until, host: host, filters: nil)
        let rows = try await select("SELECT count() FROM \(sessions) WHERE \(conditions.sql) FORMAT TabSeparated", width: 1)
        return try rows.first.map { try Self.int($0[0]) > 0 } ?? false
    }

    /// The earliest and latest start of the shipped sessions (of `--host`); nil without any.
    public func span() async throws -> ClosedRange<Double>? {
        let rows = try await select("""
            SELECT count(), min(started_at), max(started_at) FROM \(table)
            \(host.map { "WHERE host = \(FleetSQL.string($0))" } ?? "") FORMAT TabSeparated
            """, width: 3)
        guard let row = rows.first, try Self.int(row[0]) > 0 else { return nil }
        let first = try Self.double(row[1])
        return first...max(first, try Self.double(row[2]))
    }

    // MARK: Reading the answers

    /// The rows of `sql`, each of `width` fields.
    private func select(_ sql: String, width: Int) async throws -> [[String]] {
        let rows = try await client.select(sql)
        if let odd = rows.first(where: { $0.count != width }) {
            throw FleetQueryError.unexpectedAnswer(odd.joined(separator: "\t"))
        }
        return rows
    }

    /// The nine counters of `sumsSQL` starting at `index`.
    private static func counters(_ row: [String], from index: Int) throws -> FilterCounters {
        var counters = FilterCounters()
        let values = try row[index...].prefix(9).map { UInt64(try int($0)) }
        counters.success = values[0]
        counters.successWithDupSYN = values[1]
        counters.successWithDupSYNACK = values[2]
        counters.timeout = values[3]
        counters.reject = values[4]
        counters.unreach = values[5]
        counters.abort = values[6]
        counters.dupSYNSegments = values[7]
        counters.dupSYNACKSegments = values[8]
        return counters
    }

    static func int(_ text: String) throws -> Int {
        guard let value = Int(text) else { throw FleetQueryError.unexpectedAnswer(text) }
        return value
    }

    static func double(_ text: String) throws -> Double {
        guard let value = Double(text) else { throw FleetQueryError.unexpectedAnswer(text) }
        return value
    }
}

/// An answer of ClickHouse the fleet query cannot read (a number that is
/// not one, a row of the wrong width): a server whose `sessions` table is
/// not the one `tcpeek ship --init` creates.
public enum FleetQueryError: Error, CustomStringConvertible {
    case unexpectedAnswer(String)

    public var description: String {
        switch self {
        case let .unexpectedAnswer(text):
            return "ClickHouse answered '\(text.prefix(200))', which the fleet query cannot read; is its sessions table "
                + "the one 'tcpeek ship --init' creates?"
        }
    }
}
