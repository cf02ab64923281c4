import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization
import TCPeekCore
import TCPeekWire

/// What a `tcpeek record` run writes into its `runs` row.
public struct RunInfo: Sendable {
    public var startedAt: Double
    public var sourceKind: String
    public var source: String
    public var filters: [Filter]
    public var host: String?
    public var version: String
    public var libpcap: String?

    public init(startedAt: Double, sourceKind: String, source: String, filters: [Filter], host: String?,
                version: String, libpcap: String?) {
        self.startedAt = startedAt
        self.sourceKind = sourceKind
        self.source = source
        self.filters = filters
        self.host = host
        self.version = version
        self.libpcap = libpcap
    }
}

/// How a run ended, for its `runs` row.
public struct RunEnd: Sendable {
    public var endedAt: Double
    public var capture: CaptureStatistics?
    public var evicted: UInt64
    public var stillOpen: Int?
    public init(endedAt: Double, capture: CaptureStatistics?, evicted: UInt64, stillOpen: Int?) {
        self.endedAt = endedAt
        self.capture = capture
        self.evicted = evicted
        self.stillOpen = stillOpen
    }
}

/// Tuning of the writer (`--batch-size`, `--batch-ms`, retention).
public struct RecorderOptions: Sendable {
    public var batchSize = 5000
    public var batchInterval: Int = 500  // milliseconds
    /// Days of sessions kept, counted back from the wall clock; nil keeps
    /// every session (a file read, `--retention-days 0`).
    public var retentionDays: Double? = 30
    /// Days of per-minute and hourly rollups kept; nil keeps them all.
    public var rollupRetentionDays: Double? = 400
    /// Sessions kept in memory while the database refuses writes (locked,
    /// disk full) before further ones are counted as not recorded.
    public var maximumBacklog = 1_000_000
    /// The write-ahead log's size in pages (of 4 KiB) at which the
    /// recorder waits for a checkpoint so that the log starts over (see
    /// Checkpointer): 32 MiB.
    public var logLimitPages = 8192
    public init() {}
}

/// The writer thread of DESIGN.md: takes closed sessions from its queue and
/// writes them in batches (size or time, whichever comes first), one
/// transaction per batch holding the sessions (with the filters that
/// counted them) and the rollup upserts that count them, so the rollups always equal an
/// aggregation of the sessions.
public final class Recorder: Sendable {
    public let queue: SessionQueue
    private let database: HistoryDatabase
    private let filterNames: [String]
    private let options: RecorderOptions
    private let logger: Logger
    private let runID: Int64
    private let counts = Mutex(Counts())
    private let finished = Mutex<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    private let checkpointer: Checkpointer?

    struct Counts {
        var recorded: UInt64 = 0
        var failed: UInt64 = 0
        var lastError: StoreError?
    }

    /// Opens the run's row; the database stays the caller's.
    public init(database: HistoryDatabase, run: RunInfo, options: RecorderOptions, logger: Logger) throws(StoreError) {
        self.database = database
        self.options = options
        self.logger = logger
        self.filterNames = run.filters.map(\.name)
        self.queue = SessionQueue(capacity: max(options.batchSize * 4, 1 << 16))
        let filtersJSON = WireJSON.text(run.filters.map(RunFilter.init))
        runID = try database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO runs (started_at, source_kind, source, filters, host, version, libpcap)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [run.startedAt, run.sourceKind, run.source, filtersJSON, run.host, run.version, run.libpcap])
            let runID = db.lastInsertedRowID
            for (bit, filter) in run.filters.enumerated() {
                try db.execute(sql: "INSERT INTO run_filters (run_id, bit, filter) VALUES (?, ?, ?)",
                               arguments: [runID, bit, filter.name])
            }
            return runID
        }
        // The recorder's commits hand their checkpoints to a thread of
        // their own (see Checkpointer); failing that, SQLite checkpoints
        // within the commits, as usual.
        var checkpointer: Checkpointer?
        do {
            let created = try Checkpointer(path: database.path, busyTimeout: 5, logLimit: options.logLimitPages,
                                           logger: logger)
            checkpointer = created
            try database.writer?.writeWithoutTransaction { db in created.take(checkpointsOf: db) }
        } catch {
            checkpointer?.stop()
            checkpointer = nil
            logger.warning("the recorder will checkpoint the database's log itself",
                           metadata: ["store.path": "\(database.path)", "store.error": "\(error)"])
        }
        self.checkpointer = checkpointer
    }

    /// Sessions written so far.
    public var recorded: UInt64 { counts.withLock { $0.recorded } }

    /// Sessions that will never be written: dropped from the hand-off while
    /// the writer lagged, or refused by the database.
    public var notRecorded: UInt64 { counts.withLock { $0.failed } &+ queue.dropped }

    public var lastError: StoreError? { counts.withLock { $0.lastError } }

    /// Starts the writer thread.
    public func start() {
        let thread = Thread { [self] in
            writeLoop()
            done.signal()
        }
        thread.name = "tcpeek-recorder"
        thread.start()
    }

    /// Waits until everything queued is written (the queue must be closed
    /// by the capture first), then completes the run's row.
    public func finish(_ end: RunEnd) {
        done.wait()
        let notRecorded = self.notRecorded
        do {
            try database.write { db in
                try db.execute(
                    sql: """
                        UPDATE runs SET ended_at = ?, pcap_recv = ?, pcap_drop = ?, pcap_ifdrop = ?,
                            sessions_not_recorded = ?, evicted = ?, still_open = ? WHERE id = ?
                        """,
                    arguments: [end.endedAt, end.capture.map { Int64($0.received) }, end.capture.map { Int64($0.dropped) },
                                end.capture.map { Int64($0.interfaceDropped) }, Int64(notRecorded), Int64(end.evicted),
                                end.stillOpen, runID])
            }
        } catch {
            logger.error("cannot complete the run record", metadata: ["store.error": "\(error)"])
        }
        if let checkpointer {
            try? database.writer?.writeWithoutTransaction { db in checkpointer.giveBack(checkpointsOf: db) }
            checkpointer.stop()
        }
    }

    // MARK: Writer thread

    private func writeLoop() {
        var pending: [Session] = []
        pending.reserveCapacity(options.batchSize)
        var lastWrite = ContinuousClock.now
        // Pruned once at the start, then every minute, and after every
        // batch while a prune still finds more than one round's worth: a
        // fixed 5,000 rows a minute would fall behind any rate above 83/s.
        var lastPrune = ContinuousClock.now
        var pruneNow = true
        var pruned = PrunedHistory()
        let interval = Duration.milliseconds(options.batchInterval)
        var isOpen = true
        while isOpen {
            let wait = max(1, Int((interval - (ContinuousClock.now - lastWrite)) / .milliseconds(1)))
            if let batch = queue.next(waitingAtMost: wait) {
                pending.append(contentsOf: batch)
            } else {
                isOpen = false
            }
            let due = ContinuousClock.now - lastWrite >= interval
            if pending.count >= options.batchSize || (due && !pending.isEmpty) || (!isOpen && !pending.isEmpty) {
                writeInChunks(&pending, final: !isOpen)
                lastWrite = ContinuousClock.now
            } else if due {
                lastWrite = ContinuousClock.now
            }
            if pruneNow || ContinuousClock.now - lastPrune > .seconds(60) {
                pruneNow = prune(into: &pruned)
                lastPrune = ContinuousClock.now
                if !pruneNow { report(&pruned) }
            }
        }
    }

    /// Writes `pending` in transactions of at most a batch each. On failure
    /// the sessions stay pending (the next round retries) up to the backlog
    /// bound; at the end, or beyond the bound, they are counted as not recorded.
    private func writeInChunks(_ pending: inout [Session], final: Bool) {
        // Chunks are taken in place and the written ones removed once at
        // the end: a lagging writer holds many batches, and removing each
        // from the front would move all the others every time.
        var written = 0
        defer { pending.removeFirst(written) }
        while written < pending.count {
            let chunk = pending[written..<min(pending.count, written + options.batchSize)]
            do {
                try write(chunk)
                written += chunk.count
                counts.withLock { $0.recorded &+= UInt64(chunk.count) }
            } catch {
                logger.error("cannot write sessions to the database; will retry",
                             metadata: ["store.path": "\(database.path)", "store.error": "\(error)"])
                counts.withLock { $0.lastError = error }
                if final {
                    // One last attempt after a pause (a lock may be brief).
                    Thread.sleep(forTimeInterval: 1)
                    if (try? write(chunk)) != nil {
                        written += chunk.count
                        counts.withLock { $0.recorded &+= UInt64(chunk.count) }
                        continue
                    }
                    counts.withLock { $0.failed &+= UInt64(pending.count - written) }
                    written = pending.count
                } else if pending.count - written > options.maximumBacklog {
                    let excess = pending.count - written - options.maximumBacklog
                    written += excess
                    counts.withLock { $0.failed &+= UInt64(excess) }
                }
                return
            }
        }
    }

    /// One transaction: the sessions (with the filters that counted them),
    /// and the per-minute rollups and handshake-time buckets they add to.
    private func write(_ sessions: ArraySlice<Session>) throws(StoreError) {
        var rollups = BatchRollups(filterCount: filterNames.count)
        for session in sessions {
            rollups.add(session)
        }
        if let checkpointer, checkpointer.logIsFull { checkpointer.waitForCheckpoint() }
        try database.write { db in
            try SessionInserts(db, runID: runID, filterCount: filterNames.count).insert(sessions)
            let upsertRollup = try db.cachedStatement(sql: RollupColumns.upsertSQL(table: "rollups_minute", time: "minute"))
            // Hundreds of buckets a batch: bound through the C API like the sessions.
            let upsertBucket = try db.cachedStatement(sql: """
                INSERT INTO rollup_handshake_buckets (minute, filter, bucket, count) VALUES (?, ?, ?, ?)
                ON CONFLICT (minute, filter, bucket) DO UPDATE SET count = count + excluded.count
                """)
            var hours: [RollupKey: Rollup] = [:]
            for (key, rollup) in rollups.touched {
                let filter = filterNames[key.filter]
                try upsertRollup.execute(arguments: StatementArguments(
                    [key.minute, filter] + RollupColumns.values(rollup.counters, handshakeSeconds: rollup.handshakeSeconds)))
                try upsertBuckets(rollup.histogram, time: key.minute, filter: filter, with: upsertBucket, in: db)
                hours[RollupKey(minute: key.minute / 3600 * 3600, filter: key.filter), default: Rollup()].add(rollup)
            }
            for (key, rollup) in hours {
                try addHour(rollup, hour: key.minute, filter: filterNames[key.filter], in: db)
            }
            try db.execute(sql: "UPDATE runs SET sessions_recorded = sessions_recorded + ? WHERE id = ?",
                           arguments: [sessions.count, runID])
        }
    }

    /// Adds a batch's figures to its hour's row of `rollups_hour`
    /// (Schema/0005): the counters by an upsert, the handshake-time
    /// histogram, one JSON object, read and rewritten (a batch touches one
    /// or two hours). A histogram that is not the JSON tcpeek writes (edited
    /// by hand) is rebuilt from the minute buckets, which already hold this
    /// batch: the hour is their sum.
    private func addHour(_ rollup: Rollup, hour: Int64, filter: String, in db: Database) throws {
        var histogram = HandshakeHistogram()
        let current = try String.fetchOne(
            db.cachedStatement(sql: "SELECT handshake_buckets FROM rollups_hour WHERE hour = ? AND filter = ?"),
            arguments: [hour, filter])
        if let current, !histogram.add(bucketsJSON: current) {
            logger.warning("rebuilding an unreadable hourly handshake histogram from its minutes",
                           metadata: ["store.path": "\(database.path)", "hour": "\(hour)", "filter": "\(filter)"])
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

    /// Retention, in small batches so recording never stalls. Ages count
    /// back from the wall clock: a capture file's age says nothing about
    /// how long to keep the history of the live host, and a file dated in
    /// the future must not make today's sessions look old. True when a
    /// batch was full: more is left to prune.
    private func prune(into pruned: inout PrunedHistory) -> Bool {
        guard options.retentionDays != nil || options.rollupRetentionDays != nil else { return false }
        let now = Date().timeIntervalSince1970
        do {
            return try database.write { db in
                var more = false
                if let days = options.retentionDays {
                    let oldest = try Row.fetchOne(db, sql: """
                        SELECT count(*), min(started_at), max(started_at) FROM
                            (SELECT started_at FROM sessions WHERE started_at < ? ORDER BY started_at LIMIT 5000)
                        """, arguments: [now - days * 86400])
                    let count: Int = oldest?[0] ?? 0
                    if count > 0 {
                        try db.execute(
                            sql: """
                                DELETE FROM sessions WHERE id IN
                                    (SELECT id FROM sessions WHERE started_at < ? ORDER BY started_at LIMIT 5000)
                                """,
                            arguments: [now - days * 86400])
                        pruned.add(sessions: db.changesCount, from: oldest?[1] ?? 0, to: oldest?[2] ?? 0, days: days)
                        more = db.changesCount >= 5000
                    }
                }
                guard let days = options.rollupRetentionDays else { return more }
                let rollupLimit = now - days * 86400
                try db.execute(
                    sql: """
                        DELETE FROM rollups_minute WHERE (minute, filter) IN
                            (SELECT minute, filter FROM rollups_minute WHERE minute < ? LIMIT 5000)
                        """,
                    arguments: [rollupLimit])
                pruned.rollupMinutes += db.changesCount
                pruned.rollupDays = days
                more = more || db.changesCount >= 5000
                try db.execute(
                    sql: """
                        DELETE FROM rollup_handshake_buckets WHERE (minute, filter, bucket) IN
                            (SELECT minute, filter, bucket FROM rollup_handshake_buckets WHERE minute < ? LIMIT 20000)
                        """,
                    arguments: [rollupLimit])
                more = more || db.changesCount >= 20000
                // Hours wholly older than the limit.
                try db.execute(
                    sql: """
                        DELETE FROM rollups_hour WHERE (hour, filter) IN
                            (SELECT hour, filter FROM rollups_hour WHERE hour + 3600 <= ? LIMIT 5000)
                        """,
                    arguments: [rollupLimit])
                pruned.rollupHours += db.changesCount
                return more || db.changesCount >= 5000
            }
        } catch {
            logger.warning("cannot prune old history", metadata: ["store.error": "\(error)"])
            return false
        }
    }

    /// Says what a completed prune removed: history never disappears silently.
    private func report(_ pruned: inout PrunedHistory) {
        defer { pruned = PrunedHistory() }
        if pruned.sessions > 0, let days = pruned.sessionDays {
            logger.notice("pruned \(pruned.sessions) sessions started \(HistoryJSON.isoTime(pruned.from.rounded(.down))) .. \(HistoryJSON.isoTime(pruned.to.rounded(.down))), older than \(days.formatted()) days (--retention-days)",
                          metadata: ["store.path": "\(database.path)"])
        }
        if pruned.rollupMinutes + pruned.rollupHours > 0, let days = pruned.rollupDays {
            logger.notice("pruned \(pruned.rollupMinutes) per-minute and \(pruned.rollupHours) hourly rollups older than \(days.formatted()) days (--rollup-retention-days)",
                          metadata: ["store.path": "\(database.path)"])
        }
    }

}

private struct RollupKey: Hashable {
    var minute: Int64
    var filter: Int
}

/// What one batch adds to the minutes' rollups, for each (minute, filter)
/// it touches. Sessions one after another nearly always share their
/// minute, so the current minute's rollups are kept at hand: a hash table
/// is consulted only when the minute changes, not for every session (where
/// it cost a twentieth of the recorder's time).
private struct BatchRollups {
    let filterCount: Int
    /// Each minute seen, first seen first.
    private var minutes: [Int64] = []
    /// `filterCount` rollups for each of `minutes`, in that order.
    private var rollups: [Rollup] = []
    private var slots: [Int64: Int] = [:]
    private var currentMinute = Int64.min
    private var currentSlot = 0

    init(filterCount: Int) {
        self.filterCount = filterCount
    }

    mutating func add(_ session: Session) {
        // The minute of the start, rounded down (before 1970 too).
        let (quotient, remainder) = session.startedAt.microseconds.quotientAndRemainder(dividingBy: 60_000_000)
        let minute = (remainder < 0 ? quotient - 1 : quotient) * 60
        if minute != currentMinute {
            currentMinute = minute
            if let slot = slots[minute] {
                currentSlot = slot
            } else {
                currentSlot = minutes.count
                slots[minute] = currentSlot
                minutes.append(minute)
                rollups.append(contentsOf: repeatElement(Rollup(), count: filterCount))
            }
        }
        let bucket = session.outcome == .success ? Schema.handshakeBucket(microseconds: session.duration.microseconds) : nil
        for index in session.filters where index < filterCount {
            rollups[currentSlot * filterCount + index].add(session, bucket: bucket)
        }
    }

    /// The (minute, filter) rollups that counted at least one session.
    var touched: some Sequence<(key: RollupKey, rollup: Rollup)> {
        rollups.indices.lazy
            .filter { rollups[$0].counters.total > 0 }
            .map { (RollupKey(minute: minutes[$0 / filterCount], filter: $0 % filterCount), rollups[$0]) }
    }
}

/// What one batch adds to one (minute or hour, filter) of the rollups.
private struct Rollup {
    var counters = FilterCounters()
    var handshakeSeconds = 0.0
    var histogram = HandshakeHistogram()

    mutating func add(_ session: Session, bucket: Int?) {
        counters.record(session)
        if session.outcome == .success { handshakeSeconds += Double(max(0, session.duration.microseconds)) / 1_000_000 }
        if let bucket { histogram.add(bucket: bucket, count: 1) }
    }

    mutating func add(_ other: Rollup) {
        counters += other.counters
        handshakeSeconds += other.handshakeSeconds
        histogram.add(other.histogram)
    }
}

/// Adds the non-zero buckets of `histogram` at (`time`, `filter`) through
/// `statement`, an upsert of (time, filter, bucket, count).
private func upsertBuckets(_ histogram: HandshakeHistogram, time: Int64, filter: String, with statement: Statement,
                           in db: Database) throws {
    var filter = filter
    try filter.withUTF8 { name in
        for (bucket, count) in histogram.counts.enumerated() where count != 0 {
            try statement.step(in: db) { s in
                sqlite3_bind_int64(s, 1, time)
                bindText(name, to: s, at: 2)
                sqlite3_bind_int64(s, 3, Int64(bucket))
                sqlite3_bind_int64(s, 4, count)
            }
        }
    }
}


/// What one pass of retention removed, reported when it completes.
private struct PrunedHistory {
    var sessions = 0
    var from = Double.infinity, to = -Double.infinity
    var sessionDays: Double?
    var rollupMinutes = 0, rollupHours = 0
    var rollupDays: Double?

    mutating func add(sessions count: Int, from first: Double, to last: Double, days: Double) {
        sessions += count
        from = min(from, first)
        to = max(to, last)
        sessionDays = days
    }
}
