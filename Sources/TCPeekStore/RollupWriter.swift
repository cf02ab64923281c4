import GRDB
import Logging

/// Adds what one batch counted to the rollups, inside the batch's
/// transaction: the minutes' counters (`rollups_minute`) and handshake-time
/// buckets (`rollup_handshake_buckets`), and the hours they fall in
/// (`rollups_hour`).
struct RollupWriter {
    private let db: Database
    /// The run's filters, by bit.
    private let filterNames: [String]
    private let path: String
    private let logger: Logger

    init(_ db: Database, filterNames: [String], path: String, logger: Logger) {
        self.db = db
        self.filterNames = filterNames
        self.path = path
        self.logger = logger
    }

    /// Adds `rollups`, their buckets through `inserts` (hundreds a batch,
    /// bound like the sessions).
    func add(_ rollups: BatchRollups, bucketsThrough inserts: SessionInserts) throws {
        let upsertMinute = try db.cachedStatement(sql: RollupColumns.upsertSQL(table: "rollups_minute", time: "minute"))
        var hours: [RollupKey: Rollup] = [:]
        for (key, rollup) in rollups.touched {
            let filter = filterNames[key.filter]
            try upsertMinute.execute(arguments: StatementArguments(
                [key.minute, filter] + RollupColumns.values(rollup.counters, handshakeSeconds: rollup.handshakeSeconds)))
            try inserts.addHandshakeBuckets(rollup.histogram, minute: key.minute, filter: filter)
            try addCauses(rollup, table: "rollup_causes_minute", time: "minute", at: key.minute, filter: filter)
            hours[RollupKey(minute: key.minute / 3600 * 3600, filter: key.filter), default: Rollup()].add(rollup)
        }
        for (key, rollup) in hours {
            try addHour(rollup, hour: key.minute, filter: filterNames[key.filter])
            try addCauses(rollup, table: "rollup_causes_hour", time: "hour", at: key.minute, filter: filterNames[key.filter])
        }
    }

    /// Adds a rollup's attempts per (outcome, cause) to `table` (Schema/0006):
    /// a few rows a minute.
    private func addCauses(_ rollup: Rollup, table: String, time: String, at start: Int64, filter: String) throws {
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO \(table) (\(time), filter, outcome, cause, count) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (\(time), filter, outcome, cause) DO UPDATE SET count = count + excluded.count
            """)
        for row in rollup.causes.rows(counters: rollup.counters) {
            try upsert.execute(arguments: [start, filter, row.outcome.description, row.cause, row.count])
        }
    }

    /// Adds a batch's figures to its hour's row of `rollups_hour`
    /// (Schema/0005): the counters by an upsert, the handshake-time
    /// histogram, one JSON object, read and rewritten (a batch touches one
    /// or two hours). A histogram that is not the JSON tcpeek writes (edited
    /// by hand) is rebuilt from the minute buckets, which already hold this
    /// batch: the hour is their sum.
    private func addHour(_ rollup: Rollup, hour: Int64, filter: String) throws {
        var histogram = HandshakeHistogram()
        let current = try String.fetchOne(
            db.cachedStatement(sql: "SELECT handshake_buckets FROM rollups_hour WHERE hour = ? AND filter = ?"),
            arguments: [hour, filter])
        if let current, !histogram.add(bucketsJSON: current) {
            logger.warning("rebuilding an unreadable hourly handshake histogram from its minutes",
                           metadata: ["store.path": "\(path)", "hour": "\(hour)", "filter": "\(filter)"])
            histogram = HandshakeHistogram()
            for row in try Row.fetchAll(db, sql: """
                SELECT bucket, sum(count) FROM rollup_handshake_buckets
                WHERE filter = ? AND minute >= ? AND minute < ? GROUP BY bucket
                """, arguments: [filter, hour, hour + 3600]) {
                histogram.add(bucket: row[0], count: row[1])
            }
        } else {
            histogram.add(rollup.histogram)
        }
        let upsert = try db.cachedStatement(
            sql: RollupColumns.upsertSQL(table: "rollups_hour", time: "hour", extra: ["handshake_buckets"]))
        try upsert.execute(arguments: StatementArguments(
            [hour, filter] + RollupColumns.values(rollup.counters, handshakeSeconds: rollup.handshakeSeconds)
                + [histogram.bucketsJSON]))
    }
}
