import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import TCPeekCore

/// How `tcpeek query` groups time.
public enum TimeBucketing: String, Sendable, CaseIterable {
    case minute, hour, day, total

    var seconds: Double? {
        switch self {
        case .minute: 60
        case .hour: 3600
        case .day: 86400
        case .total: nil
        }
    }
}

/// One filter's figures over one time bucket.
public struct AggregateRow: Sendable, Equatable {
    public var filter: String
    public var from: Double
    public var to: Double
    public var counters: FilterCounters
    /// Handshake times of the successful sessions, in the rollups' buckets.
    public var handshakes: HandshakeTimes

    public init(filter: String, from: Double, to: Double, counters: FilterCounters, handshakes: HandshakeTimes) {
        self.filter = filter
        self.from = from
        self.to = to
        self.counters = counters
        self.handshakes = handshakes
    }

    /// Handshake time of successful sessions, milliseconds; nil without successes.
    public var p50: Double? { handshakes.quantile(0.50) }
    public var p95: Double? { handshakes.quantile(0.95) }
    public var p99: Double? { handshakes.quantile(0.99) }
}

/// Adds bucket rows into per-group histograms. Rows come in key order, so
/// consecutive rows nearly always share a group: the group's histogram is
/// kept at hand and the dictionary touched only when the group changes.
private struct HistogramAccumulator {
    private(set) var histograms: [GroupKey: HandshakeHistogram] = [:]
    private var currentKey: GroupKey?
    private var current = HandshakeHistogram()

    mutating func add(_ key: GroupKey, bucket: Int, count: Int64) {
        select(key)
        current.add(bucket: bucket, count: count)
    }

    /// Adds an hour's `handshake_buckets` JSON; false if it is not of that shape.
    mutating func add(_ key: GroupKey, bucketsJSON: UnsafeBufferPointer<UInt8>) -> Bool {
        select(key)
        return current.add(bucketsJSON: bucketsJSON)
    }

    private mutating func select(_ key: GroupKey) {
        if key != currentKey {
            flush()
            currentKey = key
            current = histograms.removeValue(forKey: key) ?? HandshakeHistogram()
        }
    }

    mutating func flush() {
        if let currentKey { histograms[currentKey] = current }
        currentKey = nil
    }
}

/// Questions about history, answered from the database only.
public enum HistoryQuery {
    /// Every filter a recorded run counted with, in first-seen order.
    public static func filterNames(in database: HistoryDatabase) throws(StoreError) -> [String] {
        try database.read { db in
            // From the runs' filters, a few rows, not from the rollups, which
            // would mean reading all of them; in the order they first appeared.
            try String.fetchAll(db, sql: "SELECT filter FROM run_filters GROUP BY filter ORDER BY min(run_id * 64 + bit)")
        }
    }

    /// Per filter and time bucket over `[since, until)`: whole minutes come
    /// from `rollups_minute` (fast over long ranges), the partial minutes at
    /// either end from `sessions`.
    public static func aggregate(
        _ database: HistoryDatabase, since: Double, until: Double, filters requested: [String]?,
        by bucketing: TimeBucketing
    ) throws(StoreError) -> [AggregateRow] {
        guard until > since else { return [] }
        let fullStart = (since / 60).rounded(.up) * 60
        let fullEnd = max(fullStart, (until / 60).rounded(.down) * 60)
        var counters: [GroupKey: FilterCounters] = [:]
        var histograms = HistogramAccumulator()
        let known = try filterNames(in: database)
        let filters = requested ?? known
        let wanted = Set(filters)
        func key(_ filter: String, _ time: Double) -> GroupKey {
            guard let size = bucketing.seconds else { return GroupKey(filter: filter, start: since) }
            return GroupKey(filter: filter, start: (time / size).rounded(.down) * size)
        }
        // Rows come grouped by filter within a time: one Set lookup per run.
        var lastFilter: String?, lastWanted = false
        func isWanted(_ filter: String) -> Bool {
            if filter != lastFilter {
                lastFilter = filter
                lastWanted = wanted.contains(filter)
            }
            return lastWanted
        }
        try database.read { db in
            if fullEnd > fullStart {
                // Whole hours from `rollups_hour` when the answer's buckets
                // are whole hours too (a month is 720 rows a filter), the
                // minutes around them from the minute tables.
                var hourStart = fullStart, hourEnd = fullStart
                if bucketing.seconds.map({ $0.truncatingRemainder(dividingBy: 3600) == 0 }) ?? true {
                    hourStart = (fullStart / 3600).rounded(.up) * 3600
                    hourEnd = max(hourStart, (fullEnd / 3600).rounded(.down) * 3600)
                }
                if hourEnd > hourStart {
                    try forEachRow(db, sql: """
                        SELECT hour, filter, \(RollupColumns.read), handshake_buckets
                        FROM rollups_hour WHERE hour >= ? AND hour < ?
                        """, from: Int64(hourStart), to: Int64(hourEnd)) { row, filter in
                        guard isWanted(filter) else { return }
                        let hour = sqlite3_column_int64(row, 0)
                        let k = key(filter, Double(hour))
                        counters[k, default: FilterCounters()] += RollupColumns.counters(row, from: 2)
                        let column = 2 + RollupColumns.readCount  // handshake_buckets, after the counters
                        let text = UnsafeBufferPointer(start: sqlite3_column_text(row, column),
                                                       count: Int(sqlite3_column_bytes(row, column)))
                        guard histograms.add(k, bucketsJSON: text) else {
                            throw StoreError.failed(path: database.path, detail: """
                                the handshake times of hour \(hour), filter '\(filter)' in rollups_hour are not the \
                                JSON object tcpeek writes; the next recording into that hour rebuilds them
                                """)
                        }
                    }
                }
                let minuteRanges = hourEnd > hourStart ? [(fullStart, hourStart), (hourEnd, fullEnd)] : [(fullStart, fullEnd)]
                for (low, high) in minuteRanges where high > low {
                    try forEachRow(db, sql: """
                        SELECT minute, filter, \(RollupColumns.read) FROM rollups_minute WHERE minute >= ? AND minute < ?
                        """, from: Int64(low), to: Int64(high)) { row, filter in
                        guard isWanted(filter) else { return }
                        counters[key(filter, Double(sqlite3_column_int64(row, 0))), default: FilterCounters()] +=
                            RollupColumns.counters(row, from: 2)
                    }
                    try forEachBucketRow(db, sql: """
                        SELECT minute, filter, bucket, count FROM rollup_handshake_buckets WHERE minute >= ? AND minute < ?
                        """, from: Int64(low), to: Int64(high)) { time, filter, bucket, count in
                        guard isWanted(filter) else { return }
                        histograms.add(key(filter, Double(time)), bucket: bucket, count: count)
                    }
                }
            }
            // The partial minutes at either end, from the sessions themselves.
            var edges: [(Double, Double)] = [(since, min(fullStart, until))]
            if fullEnd >= fullStart, fullEnd < until { edges.append((max(fullEnd, since), until)) }
            for (low, high) in edges where high > low {
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT f.filter, s.started_at, s.duration, s.outcome, s.dup_syn, s.dup_synack
                    FROM sessions s JOIN run_filters f ON \(Schema.sessionCountedByFilter)
                    WHERE s.started_at >= ? AND s.started_at < ?
                    """, arguments: [low, high])
                while let row = try rows.next() {
                    let filter: String = row["filter"]
                    guard wanted.contains(filter) else { continue }
                    let startedAt: Double = row["started_at"]
                    let duration: Double = row["duration"]
                    let outcomeText: String = row["outcome"]
                    guard let outcome = Outcome(outcomeText) else { continue }
                    let session = Session(
                        client: .zero, server: .zero, clientPort: 0, serverPort: 0,
                        startedAt: Timestamp(microseconds: Int64((startedAt * 1_000_000).rounded())),
                        duration: Timestamp.Duration(microseconds: Int64((duration * 1_000_000).rounded())),
                        outcome: outcome, dupSYN: row["dup_syn"], dupSYNACK: row["dup_synack"])
                    let k = key(filter, startedAt)
                    counters[k, default: FilterCounters()].record(session)
                    if outcome == .success {
                        histograms.add(k, bucket: Schema.handshakeBucket(microseconds: session.duration.microseconds), count: 1)
                    }
                }
            }
        }
        histograms.flush()
        let histogramsByGroup = histograms.histograms
        let starts = bucketing.seconds.map { size in
            bucketStarts(holdingData: Set(counters.keys.map(\.start)).union(histogramsByGroup.keys.map(\.start)), size: size)
        } ?? [since]
        var rows: [AggregateRow] = []
        for filter in filters {
            for start in starts {
                let k = GroupKey(filter: filter, start: start)
                let histogram = histogramsByGroup[k] ?? HandshakeHistogram()
                let to = bucketing.seconds.map { min(until, start + $0) } ?? until
                rows.append(AggregateRow(
                    filter: filter, from: max(since, start), to: to, counters: counters[k] ?? FilterCounters(),
                    handshakes: HandshakeTimes(histogram)))
            }
        }
        return rows
    }

    /// The longest run of empty buckets listed between two holding data: an
    /// hour of minutes, two and a half days of hours, two months of days.
    public static let maximumEmptyBucketsListed = 60

    /// The buckets an answer lists, by one rule at every bucket size (and so
    /// in every format, and for the socket's `QUERY`): those holding data,
    /// and the empty ones between two of them when at most
    /// `maximumEmptyBucketsListed` lie in a row there. A longer gap (the
    /// recorder was off; captures from different years) is left out, and no
    /// bucket comes before the first or after the last data: a database
    /// holding 1970 and 2026 is not 20,000 days of zeros, and a range without
    /// data has no rows. Whether a gap is listed depends only on the gap, so
    /// older data never changes how the recent is shown.
    static func bucketStarts(holdingData starts: Set<Double>, size: Double) -> [Double] {
        var listed: [Double] = []
        for start in starts.sorted() {
            if let previous = listed.last {
                let empty = Int(((start - previous) / size).rounded()) - 1
                if (1...maximumEmptyBucketsListed).contains(empty) {
                    listed += (1...empty).map { previous + Double($0) * size }
                }
            }
            listed.append(start)
        }
        return listed
    }

    /// One recorded session, as `tcpeek query --sessions` lists it.
    public struct SessionRow: Sendable, Equatable {
        public var startedAt: Double
        public var duration: Double
        public var client: String
        public var clientPort: Int
        public var server: String
        public var serverPort: Int
        public var direction: String?
        public var outcome: String
        public var dupSYN: Int
        public var dupSYNACK: Int
        /// The filters that counted the session, in bit order.
        public var filters: [String]
    }

    /// Sessions newest first, every condition a bound parameter. `client`
    /// and `server` match an address however it was written (they are
    /// parsed values) or every address of a network.
    public static func sessions(
        _ database: HistoryDatabase, since: Double, until: Double, filters: [String]?, outcome: String?,
        client: IPNetwork?, server: IPNetwork?, port: Int?, limit: Int
    ) throws(StoreError) -> [SessionRow] {
        var conditions = ["s.started_at >= ?", "s.started_at < ?"]
        var arguments: [any DatabaseValueConvertible] = [since, until]
        if let filters {
            conditions.append("""
                EXISTS (SELECT 1 FROM run_filters f WHERE \(Schema.sessionCountedByFilter)
                    AND f.filter IN (\(filters.map { _ in "?" }.joined(separator: ","))))
                """)
            arguments.append(contentsOf: filters as [any DatabaseValueConvertible])
        }
        if let outcome { conditions.append("s.outcome = ?"); arguments.append(outcome) }
        var networks: [IPNetwork] = []
        for (column, network) in [("client_addr", client), ("server_addr", server)] {
            guard let network else { continue }
            if network.isHost {
                // Addresses are stored in one spelling, the one `description` writes.
                conditions.append("s.\(column) = ?")
                arguments.append(network.address.description)
            } else {
                if let prefix = SessionAddressFunction.textPrefix(of: network) {
                    conditions.append("s.\(column) GLOB ?")
                    arguments.append(prefix + "*")
                }
                conditions.append("\(SessionAddressFunction.name)(s.\(column), ?)")
                arguments.append(networks.count)
                networks.append(network)
            }
        }
        if let port { conditions.append("s.server_port = ?"); arguments.append(port) }
        arguments.append(limit)
        let sql = """
            SELECT s.started_at, s.duration, s.client_addr, s.client_port, s.server_addr, s.server_port, s.direction,
                   s.outcome, s.dup_syn, s.dup_synack,
                   (SELECT group_concat(filter, char(31)) FROM run_filters f WHERE \(Schema.sessionCountedByFilter)) AS filters
            FROM sessions s WHERE \(conditions.joined(separator: " AND "))
            ORDER BY s.started_at DESC LIMIT ?
            """
        return try database.read { db in
            if !networks.isEmpty { db.add(function: SessionAddressFunction.make(networks)) }
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                SessionRow(
                    startedAt: row["started_at"], duration: row["duration"], client: row["client_addr"],
                    clientPort: row["client_port"], server: row["server_addr"], serverPort: row["server_port"],
                    direction: row["direction"], outcome: row["outcome"], dupSYN: row["dup_syn"],
                    // U+001F, a control character, cannot be in a filter's name.
                    dupSYNACK: row["dup_synack"],
                    filters: ((row["filters"] as String?) ?? "").split(separator: "\u{1F}").map(String.init))
            }
        }
    }

    /// What `--top` ranks.
    public enum TopKind: String, Sendable, CaseIterable {
        case server, client, port

        var column: String {
            switch self {
            case .server: "server_addr"
            case .client: "client_addr"
            case .port: "server_port"
            }
        }
    }

    public struct TopRow: Sendable, Equatable {
        public var key: String
        public var failures: Int64
        public var timeout: Int64
        public var reject: Int64
        public var unreach: Int64
        public var abort: Int64
        public var attempts: Int64
    }

    /// The endpoints with the most failures.
    public static func top(
        _ database: HistoryDatabase, kind: TopKind, since: Double, until: Double, filters: [String]?, limit: Int
    ) throws(StoreError) -> [TopRow] {
        var conditions = ["s.started_at >= ?", "s.started_at < ?"]
        var arguments: [any DatabaseValueConvertible] = [since, until]
        if let filters {
            conditions.append("""
                EXISTS (SELECT 1 FROM run_filters f WHERE \(Schema.sessionCountedByFilter)
                    AND f.filter IN (\(filters.map { _ in "?" }.joined(separator: ","))))
                """)
            arguments.append(contentsOf: filters as [any DatabaseValueConvertible])
        }
        arguments.append(limit)
        // The column name comes from the enum above, never from the user.
        let sql = """
            SELECT CAST(\(kind.column) AS TEXT) AS key,
                   sum(outcome <> 'success') AS failures, sum(outcome = 'timeout') AS timeout,
                   sum(outcome = 'reject') AS reject, sum(outcome = 'unreach') AS unreach,
                   sum(outcome = 'abort') AS abort, count(*) AS attempts
            FROM sessions s WHERE \(conditions.joined(separator: " AND "))
            GROUP BY \(kind.column) HAVING failures > 0
            ORDER BY failures DESC, key LIMIT ?
            """
        return try database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                TopRow(key: row["key"], failures: row["failures"], timeout: row["timeout"], reject: row["reject"],
                       unreach: row["unreach"], abort: row["abort"], attempts: row["attempts"])
            }
        }
    }
}

/// `tcpeek_address_in(address, i)`: whether the stored address text lies in
/// the query's network `i`. Addresses are text (Schema/README.md), whose
/// order is not the addresses' order, so a network is tested address by
/// address, on the rows the time index has already narrowed, after a
/// `GLOB` on the text every address of the network starts with.
private enum SessionAddressFunction {
    static let name = "tcpeek_address_in"

    /// The text every stored address of `network` starts with, nil when
    /// none: its whole leading octets (`198.51.` for 198.51.0.0/17), or its
    /// whole leading IPv6 groups up to the first zero one (`2001:db8:` for
    /// 2001:db8::/64), which "::" never stands for.
    static func textPrefix(of network: IPNetwork) -> String? {
        let address = network.address
        var parts: [String] = []
        if address.isIPv4 {
            for index in 0..<(network.prefixLength / 8) {
                parts.append(String(UInt8(truncatingIfNeeded: address.ipv4Value >> (24 - 8 * index))))
            }
            return parts.isEmpty ? nil : parts.joined(separator: ".") + "."
        }
        for index in 0..<(network.prefixLength / 16) {
            let group = UInt16(truncatingIfNeeded: (index < 4 ? address.high : address.low) >> (48 - 16 * (index % 4)))
            if group == 0 { break }
            parts.append(String(group, radix: 16))
        }
        return parts.isEmpty ? nil : parts.joined(separator: ":") + ":"
    }

    static func make(_ networks: [IPNetwork]) -> DatabaseFunction {
        // A busy server's address comes back row after row, and parsing the
        // text was nine tenths of the function's time: answers are kept,
        // a few thousand at most.
        let answers = Mutex<[AddressInNetwork: Bool]>([:])
        return DatabaseFunction(name, argumentCount: 2, pure: true) { values in
            guard let text = String.fromDatabaseValue(values[0]), let index = Int.fromDatabaseValue(values[1]),
                  networks.indices.contains(index) else { return false }
            let key = AddressInNetwork(text: text, network: index)
            if let known = answers.withLock({ $0[key] }) { return known }
            let answer = IPAddress(text).map { networks[index].contains($0) } ?? false
            answers.withLock { known in
                if known.count >= 4096 { known.removeAll(keepingCapacity: true) }
                known[key] = answer
            }
            return answer
        }
    }

    private struct AddressInNetwork: Hashable, Sendable {
        var text: String
        var network: Int
    }
}

private struct GroupKey: Hashable {
    var filter: String
    var start: Double
}

/// Steps a `SELECT time, filter, ... WHERE time >= ? AND time < ?` over a
/// rollup table through SQLite's C API, handing `body` the statement (to
/// read its columns) and the filter (column 1): a month of hourly buckets is
/// hundreds of thousands of rows, and a GRDB `Row` each cost more than
/// SQLite's own work. The filter's `String` is made only when it changes.
private func forEachRow(
    _ db: Database, sql: String, from low: Int64, to high: Int64,
    _ body: (_ row: OpaquePointer, _ filter: String) throws -> Void
) throws {
    let statement = try db.makeStatement(sql: sql)
    let handle = statement.sqliteStatement
    sqlite3_bind_int64(handle, 1, low)
    sqlite3_bind_int64(handle, 2, high)
    defer { sqlite3_reset(handle) }
    var filter = ""
    var filterBytes: [UInt8] = []
    while true {
        let code = sqlite3_step(handle)
        if code == SQLITE_DONE { return }
        guard code == SQLITE_ROW else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql)
        }
        let length = Int(sqlite3_column_bytes(handle, 1))
        if let text = sqlite3_column_text(handle, 1) {
            let bytes = UnsafeBufferPointer(start: text, count: length)
            if !bytes.elementsEqual(filterBytes) {
                filterBytes = Array(bytes)
                filter = String(decoding: bytes, as: UTF8.self)
            }
        }
        try body(handle, filter)
    }
}

/// `forEachRow` over a bucket table: `SELECT time, filter, bucket, count`.
private func forEachBucketRow(
    _ db: Database, sql: String, from low: Int64, to high: Int64,
    _ body: (_ time: Int64, _ filter: String, _ bucket: Int, _ count: Int64) throws -> Void
) throws {
    try forEachRow(db, sql: sql, from: low, to: high) { row, filter in
        try body(sqlite3_column_int64(row, 0), filter, Int(sqlite3_column_int64(row, 2)), sqlite3_column_int64(row, 3))
    }
}
