import GRDB
import TCPeekCore

/// How `tcpeek query` groups time.
public enum TimeBucketing: String, Sendable, CaseIterable {
    case minute, hour, day, total

    public var seconds: Double? {
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
    /// The host the row is about, in a fleet answer by host (`--by host`);
    /// nil in every other answer.
    public var host: String?
    public var filter: String
    public var from: Double
    public var to: Double
    public var counters: FilterCounters
    /// Handshake times of the successful sessions, in the rollups' buckets.
    public var handshakes: HandshakeTimes
    /// Attempts per (outcome, cause), from the cause rollups (Schema/0006).
    public var causes: CauseCounts

    public init(filter: String, from: Double, to: Double, counters: FilterCounters, handshakes: HandshakeTimes,
                causes: CauseCounts = CauseCounts(), host: String? = nil) {
        self.host = host
        self.causes = causes
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

    /// Per filter and time bucket over `[since, until)`: whole hours from
    /// `rollups_hour` when the answer's buckets are whole hours, whole
    /// minutes from `rollups_minute` (fast over long ranges), the partial
    /// minutes at either end from `sessions`.
    public static func aggregate(
        _ database: HistoryDatabase, since: Double, until: Double, filters requested: [String]?,
        by bucketing: TimeBucketing
    ) throws(StoreError) -> [AggregateRow] {
        guard until > since else { return [] }
        let fullStart = (since / 60).rounded(.up) * 60
        let fullEnd = max(fullStart, (until / 60).rounded(.down) * 60)
        let filters: [String]
        if let requested { filters = requested } else { filters = try filterNames(in: database) }
        var sums = AggregateAccumulator(since: since, until: until, bucketing: bucketing, filters: filters)
        try database.read { db in
            if fullEnd > fullStart {
                // A month is 720 hourly rows a filter; the minutes around
                // the whole hours come from the minute tables.
                var hourStart = fullStart, hourEnd = fullStart
                if bucketing.seconds.map({ $0.truncatingRemainder(dividingBy: 3600) == 0 }) ?? true {
                    hourStart = (fullStart / 3600).rounded(.up) * 3600
                    hourEnd = max(hourStart, (fullEnd / 3600).rounded(.down) * 3600)
                }
                if hourEnd > hourStart {
                    try addHours(db, from: Int64(hourStart), to: Int64(hourEnd), into: &sums, path: database.path)
                }
                let minuteRanges = hourEnd > hourStart ? [(fullStart, hourStart), (hourEnd, fullEnd)] : [(fullStart, fullEnd)]
                for (low, high) in minuteRanges where high > low {
                    try addMinutes(db, from: Int64(low), to: Int64(high), into: &sums)
                }
            }
            // The partial minutes at either end, from the sessions themselves.
            var edges: [(Double, Double)] = [(since, min(fullStart, until))]
            if fullEnd >= fullStart, fullEnd < until { edges.append((max(fullEnd, since), until)) }
            for (low, high) in edges where high > low {
                try addSessions(db, from: low, to: high, into: &sums)
            }
        }
        return sums.rows(filters: filters)
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
}

// MARK: Reading the tables an aggregate adds up

extension HistoryQuery {
    /// Adds the rows of `rollups_hour` in `[low, high)`.
    private static func addHours(
        _ db: Database, from low: Int64, to high: Int64, into sums: inout AggregateAccumulator, path: String
    ) throws {
        let bucketsColumn = 2 + RollupColumns.readCount  // handshake_buckets, after the counters
        let rows = try Row.fetchCursor(db, sql: """
            SELECT hour, filter, \(RollupColumns.read), handshake_buckets
            FROM rollups_hour WHERE hour >= ? AND hour < ?
            """, arguments: [low, high])
        while let row = try rows.next() {
            let filter = (row[1] as String?) ?? ""
            guard sums.wants(filter) else { continue }
            let hour = (row[0] as Int64?) ?? 0
            sums.add(RollupColumns.counters(row, from: 2), filter: filter, time: Double(hour))
            guard sums.add(bucketsJSON: (row[bucketsColumn] as String?) ?? "", filter: filter, time: Double(hour)) else {
                throw StoreError.failed(path: path, detail: """
                    the handshake times of hour \(hour), filter '\(filter)' in rollups_hour are not the \
                    JSON object tcpeek writes; the next recording into that hour rebuilds them
                    """)
            }
        }
        try addCauses(db, table: "rollup_causes_hour", time: "hour", from: low, to: high, into: &sums)
    }

    /// Adds the rows of a cause rollup table (Schema/0006) in `[low, high)`.
    private static func addCauses(
        _ db: Database, table: String, time: String, from low: Int64, to high: Int64, into sums: inout AggregateAccumulator
    ) throws {
        let rows = try Row.fetchCursor(db, sql: """
            SELECT \(time), filter, outcome, cause, count FROM \(table) WHERE \(time) >= ? AND \(time) < ? AND cause <> ''
            """, arguments: [low, high])
        var texts = CauseTexts()
        while let row = try rows.next() {
            let filter = (row[1] as String?) ?? ""
            guard sums.wants(filter), let outcome = Outcome((row[2] as String?) ?? "") else { continue }
            sums.add(outcome, texts.causes(row[3]), count: UInt64(clamping: (row[4] as Int64?) ?? 0), filter: filter,
                     time: Double((row[0] as Int64?) ?? 0))
        }
    }

    /// Adds the rows of `rollups_minute` and `rollup_handshake_buckets` in `[low, high)`.
    private static func addMinutes(
        _ db: Database, from low: Int64, to high: Int64, into sums: inout AggregateAccumulator
    ) throws {
        let minutes = try Row.fetchCursor(db, sql: """
            SELECT minute, filter, \(RollupColumns.read) FROM rollups_minute WHERE minute >= ? AND minute < ?
            """, arguments: [low, high])
        while let row = try minutes.next() {
            let filter = (row[1] as String?) ?? ""
            guard sums.wants(filter) else { continue }
            sums.add(RollupColumns.counters(row, from: 2), filter: filter, time: Double((row[0] as Int64?) ?? 0))
        }
        let buckets = try Row.fetchCursor(db, sql: """
            SELECT minute, filter, bucket, count FROM rollup_handshake_buckets WHERE minute >= ? AND minute < ?
            """, arguments: [low, high])
        while let row = try buckets.next() {
            let filter = (row[1] as String?) ?? ""
            guard sums.wants(filter) else { continue }
            sums.add(bucket: Int((row[2] as Int64?) ?? 0), count: (row[3] as Int64?) ?? 0, filter: filter,
                     time: Double((row[0] as Int64?) ?? 0))
        }
        try addCauses(db, table: "rollup_causes_minute", time: "minute", from: low, to: high, into: &sums)
    }

    /// Adds the sessions started in `[low, high)`, once for each filter that counted them.
    private static func addSessions(
        _ db: Database, from low: Double, to high: Double, into sums: inout AggregateAccumulator
    ) throws {
        let rows = try Row.fetchCursor(db, sql: """
            SELECT f.filter, s.started_at, s.duration, s.outcome, s.dup_syn, s.dup_synack, s.cause
            FROM sessions s JOIN run_filters f ON \(Schema.sessionCountedByFilter)
            WHERE s.started_at >= ? AND s.started_at < ?
            """, arguments: [low, high])
        var texts = CauseTexts()
        while let row = try rows.next() {
            let filter: String = row["filter"]
            guard sums.wants(filter) else { continue }
            let startedAt: Double = row["started_at"]
            let duration: Double = row["duration"]
            let outcomeText: String = row["outcome"]
            guard let outcome = Outcome(outcomeText) else { continue }
            let session = Session(
                client: .zero, server: .zero, clientPort: 0, serverPort: 0,
                startedAt: Timestamp(microseconds: Int64((startedAt * 1_000_000).rounded())),
                duration: Timestamp.Duration(microseconds: Int64((duration * 1_000_000).rounded())),
                outcome: outcome, dupSYN: row["dup_syn"], dupSYNACK: row["dup_synack"])
            sums.add(session, filter: filter, time: startedAt)
            sums.add(outcome, texts.causes(row["cause"]), count: 1, filter: filter, time: startedAt)
        }
    }
}
