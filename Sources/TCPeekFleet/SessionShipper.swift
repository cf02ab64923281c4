import Foundation
import Logging
import NIOCore
import Synchronization
import TCPeekStore

/// `tcpeek ship`: copies the sessions of one history database to one
/// ClickHouse destination, exactly once (docs/fleet-design.md, "Exactly
/// once into ClickHouse"), and after them its minute rollups
/// (`RollupShipper`).
///
/// The database's `ship_cursors` row is the last session id ClickHouse
/// acknowledged: batches are read after it and it moves only after a 200.
/// At the start, and after any INSERT whose outcome is unknown, ClickHouse
/// is asked for the highest session id it has of this (host, database) and
/// the cursor moves up to it, so a batch it already has is not sent again
/// (its materialized view would count it twice).
public final class SessionShipper: Sendable {
    public struct Options: Sendable {
        /// Sessions per INSERT at most (`--batch-size`): large batches cost
        /// ClickHouse least (docs/clickhouse-notes.md, throughput).
        public var batchSize = 100_000
        /// Seconds between looks for new sessions once caught up (`--interval`).
        public var interval = 5.0
        /// While ClickHouse stays down, a reminder this often.
        public var stillDownEvery = 300.0
        /// Backoff after a failure: from `firstBackoff`, doubling to `maxBackoff`.
        public var firstBackoff = 1.0
        public var maxBackoff = 60.0
        /// Partitions older than this are dropped in ClickHouse
        /// (`--clickhouse-retention-days`; nil keeps everything).
        public var retention: ClickHouseRetention?
        /// How often the long-running shipper prunes: days are dropped whole.
        public var pruneEvery = 3_600.0
        /// Seconds a request may take, sending and answer, before the
        /// shipper gives up on it (its outcome is then unknown).
        public var requestTimeout = 60.0
        public init() {}
    }

    /// What one pass shipped.
    public struct Shipped: Sendable, Equatable {
        public var sessions = 0
        public var batches = 0
        public var cursor: Int64 = 0
        /// Minute rollup rows sent after the sessions (RollupShipper).
        public var rollups = 0
    }

    public let database: HistoryDatabase
    public let client: ClickHouseClient
    public let host: String
    public let databaseID: String
    private let options: Options
    private let logger: Logger
    private let lock: RecorderLock
    private let state: Mutex<State>
    /// What the recorder in this process commits, when there is one.
    private let feed: CommittedRowFeed?
    private let rows: FleetRowContext
    private let rollups: RollupShipper

    private struct State {
        var cursor: Int64 = 0
        /// An INSERT's outcome is unknown (or this is the start): ask
        /// ClickHouse before sending again.
        var mustCheckHighWater = true
        var reader: SessionBatchReader?
    }

    /// Takes the one-shipper lock of (database, destination), opens the
    /// database (bringing it to the version with cursors) and reads its
    /// identity and cursor. `feed`: the sessions a recorder in this
    /// process commits (`tcpeek record --ship`), shipped from memory.
    public init(databasePath: String, endpoint: ClickHouseEndpoint, host: String, options: Options = Options(),
                feed: CommittedRowFeed? = nil, logger: Logger) throws(StoreError) {
        // The file first: a missing database, a folder or an unwritable
        // file is named as such, and leaves no lock file beside it.
        database = try HistoryDatabase.openForShipping(path: databasePath)
        lock = try RecorderLock(databasePath: databasePath, shippingTo: endpoint.destination)
        databaseID = try database.identity()
        let cursor = try database.shipCursor(destination: endpoint.destination)
        client = ClickHouseClient(endpoint: endpoint, timeout: .milliseconds(Int64(options.requestTimeout * 1000)))
        self.host = host
        self.options = options
        self.logger = logger
        let context = FleetRowContext(database: database, host: host, databaseID: databaseID)
        rows = context
        rollups = RollupShipper(database: database, client: client, destination: endpoint.destination, host: host,
                                databaseID: databaseID, rowsPerInsert: options.batchSize)
        state = Mutex(State(cursor: cursor, reader: SessionBatchReader(context: context)))
        self.feed = feed
        feed?.attach(context)
    }

    public var destination: String { client.endpoint.destination }
    public var cursor: Int64 { state.withLock { $0.cursor } }

    /// Closes the client and the database; the lock goes with the shipper.
    public func close() async {
        await client.shutdown()
        database.close()
        lock.release()
    }

    // MARK: One pass

    /// Ships every session there is now, batch by batch, then the minute
    /// rollups that changed (RollupShipper), and returns what it shipped.
    /// Throws at the first failure, the cursors at the last acknowledged
    /// INSERT. `stop` is asked between INSERTs.
    public func shipAvailable(stop: () -> Bool = { false }) async throws -> Shipped {
        try await checkHighWaterIfNeeded()
        var shipped = Shipped()
        let cursor = state.withLock { $0.cursor }
        var next = try nextBatch(after: cursor)
        while let batch = next, !stop() {
            // The next batch is read and encoded while ClickHouse takes this
            // one (it is dropped if this one fails): the two costs overlap.
            let readAhead = Task.detached { try self.nextBatch(after: batch.lastID) }
            do {
                try await client.insert(into: "sessions", columns: SessionBatch.columns, format: .rowBinary, rows: batch.rows)
                rows.giveBack(batch.rows)
            } catch {
                _ = try? await readAhead.value
                if case .unavailable = error { state.withLock { $0.mustCheckHighWater = true } }
                throw error
            }
            try moveCursor(to: batch.lastID)
            shipped.sessions += batch.count
            shipped.batches += 1
            logger.debug("shipped sessions \(batch.firstID)...\(batch.lastID) (\(batch.count)) to \(destination)")
            next = try await readAhead.value
        }
        shipped.cursor = self.cursor
        shipped.rollups = try await rollups.ship(sessionCursor: shipped.cursor, stop: stop)
        if shipped.rollups > 0 { logger.debug("shipped \(shipped.rollups) minute rollup rows to \(destination)") }
        return shipped
    }

    /// The batch after `cursor`: from the recorder's feed when it holds
    /// the next session, else from the database (up to where the feed
    /// starts, so that the batch after comes from memory again).
    private func nextBatch(after cursor: Int64) throws -> SessionBatch? {
        var limit = options.batchSize
        if let feed {
            if let batch = feed.batch(after: cursor, limit: limit, into: { rows.buffer(capacity: 0) }) { return batch }
            if let first = feed.firstID, first > cursor + 1 { limit = Int(min(Int64(limit), first - cursor - 1)) }
        }
        return try state.withLock { $0.reader! }.batch(after: cursor, limit: limit)
    }

    /// The highest session id ClickHouse has of this host and database.
    public func highWater() async throws(ClickHouseError) -> Int64 {
        let rows = try await client.select("""
            SELECT max(session_id) FROM sessions
            WHERE host = \(Self.literal(host)) AND database_id = \(Self.literal(databaseID)) FORMAT TabSeparated
            """)
        return rows.first?.first.flatMap { Int64($0) } ?? 0
    }

    private func checkHighWaterIfNeeded() async throws {
        guard state.withLock({ $0.mustCheckHighWater }) else { return }
        let known = try await highWater()
        if known > cursor {
            logger.notice("ClickHouse at \(client.endpoint.url) already has sessions up to \(known) of this database (the cursor said \(cursor)): not sending them again")
            try moveCursor(to: known)
        }
        state.withLock { $0.mustCheckHighWater = false }
    }

    private func moveCursor(to id: Int64) throws(StoreError) {
        try database.moveShipCursor(destination: destination, to: id, at: Date().timeIntervalSince1970)
        state.withLock { $0.cursor = id }
    }

    /// A ClickHouse string literal.
    static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    // MARK: Long-running

    /// Ships until `stopping()` says so: every `interval` once caught up;
    /// after a failure, again after a backoff (1 s doubling to 60 s), with
    /// one log line per change of state. Returns with the cursor at the
    /// last acknowledged batch. `pause` sleeps (and returns early on a stop).
    public func run(stopping: @Sendable () -> Bool, pause: @Sendable (Double) async -> Void) async {
        var health = ShipHealth(url: client.endpoint.url, destination: destination, logger: logger, options: options)
        var lastPrune: Date?
        while !stopping() {
            do {
                let shipped = try await shipAvailable(stop: stopping)
                health.succeeded(shipped: shipped.sessions, now: Date())
                if lastPrune.map({ Date().timeIntervalSince($0) >= options.pruneEvery }) ?? true {
                    await pruneClickHouse()
                    lastPrune = Date()
                }
                await waitForSessions(stopping: stopping, pause: pause)
            } catch {
                let waiting = (try? database.unshippedCount(destination: destination)) ?? 0
                let delay = health.failed(error, waiting: waiting, now: Date())
                await pause(delay)
            }
        }
    }
}

extension SessionShipper {
    /// Waits `interval`; with a recorder in this process, only until it
    /// has committed a batch's worth (a busy host's seconds would outgrow
    /// the feed).
    private func waitForSessions(stopping: @Sendable () -> Bool, pause: @Sendable (Double) async -> Void) async {
        guard let feed else { return await pause(options.interval) }
        let start = ContinuousClock.now
        while !stopping(), feed.count < options.batchSize, ContinuousClock.now - start < .seconds(options.interval) {
            await pause(0.1)
        }
    }

    /// Drops what `Options.retention` says is too old, and says what it
    /// dropped; a failure is logged, never fatal: shipping goes on, and the
    /// next round tries again.
    public func pruneClickHouse() async {
        guard let retention = options.retention else { return }
        do {
            let dropped = try await retention.prune(with: client)
            guard !dropped.isEmpty else { return }
            let days = "\(dropped.days.count) days (\(dropped.days.first ?? "")..\(dropped.days.last ?? ""))"
            logger.notice("dropped from \(destination) what is older than \(retention.days.formatted()) days (--clickhouse-retention-days): sessions of \(days), minute rollups of \(dropped.months.count) months")
        } catch {
            logger.warning("cannot drop old partitions in \(destination): \(error)")
        }
    }
}

/// The shipper's view of its destination, for the log: one line when it
/// goes down (or refuses), a reminder every few minutes while it stays
/// so, one when it is back, one when the backlog is caught up.
struct ShipHealth {
    let url: String
    let destination: String
    let logger: Logger
    let options: SessionShipper.Options
    private var downSince: Date?
    private var lastReminder: Date?
    private var lastProblem = ""
    private var backoff: Double
    private var caughtUp = false
    private var shippedSinceBack = 0

    init(url: String, destination: String, logger: Logger, options: SessionShipper.Options) {
        self.url = url
        self.destination = destination
        self.logger = logger
        self.options = options
        backoff = options.firstBackoff
    }

    mutating func succeeded(shipped: Int, now: Date) {
        if let since = downSince {
            logger.notice("ClickHouse at \(url) is back after \(Self.span(now.timeIntervalSince(since))); shipping resumed")
            downSince = nil
            lastReminder = nil
            lastProblem = ""
            caughtUp = false
            shippedSinceBack = 0
        }
        backoff = options.firstBackoff
        shippedSinceBack += shipped
        if !caughtUp {
            logger.notice("caught up: \(shippedSinceBack) sessions shipped to \(destination)")
            caughtUp = true
        }
    }

    /// Logs the failure if it changes the state (or a reminder is due) and
    /// returns the seconds to wait before the next try.
    mutating func failed(_ error: any Error, waiting: Int, now: Date) -> Double {
        let problem = "\(error)"
        let refusal = (error as? ClickHouseError)?.isRefusal ?? false
        if downSince == nil || problem != lastProblem {
            let advice = refusal ? "retrying every \(Int(options.maxBackoff)) s until the server or the configuration is fixed"
                : "retrying with backoff"
            logger.warning("\(problem); \(waiting) sessions wait in the database, \(advice)")
            if downSince == nil { downSince = now }
            lastReminder = now
            lastProblem = problem
        } else if let last = lastReminder, now.timeIntervalSince(last) >= options.stillDownEvery {
            logger.warning("ClickHouse at \(url) still failing after \(Self.span(now.timeIntervalSince(downSince!))): \(problem); \(waiting) sessions wait in the database")
            lastReminder = now
        }
        caughtUp = false
        let delay = refusal ? options.maxBackoff : backoff
        backoff = min(backoff * 2, options.maxBackoff)
        return delay
    }

    static func span(_ seconds: Double) -> String {
        seconds < 120 ? "\(Int(seconds.rounded())) s" : "\(Int((seconds / 60).rounded())) min"
    }
}
