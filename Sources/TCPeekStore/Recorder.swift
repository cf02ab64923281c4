import Foundation
import GRDB
import Logging
import TCPeekCore
import TCPeekSystem

/// Tuning of the writer (`--batch-size`, `--batch-ms`, retention).
public struct RecorderOptions: Sendable {
    public var batchSize = 5000
    public var batchInterval: Int = 500  // milliseconds
    /// Days of sessions kept, counted back from the wall clock; nil keeps
    /// every session (a file read, `--retention-days 0`).
    public var retentionDays: Double? = 30
    /// Days of per-minute and hourly rollups kept; nil keeps them all.
    public var rollupRetentionDays: Double? = 400
    /// Sessions not yet shipped (above the lowest `ship_cursors` row) that
    /// retention keeps past `retentionDays` at most (`--ship-keep-max`).
    public var shipKeepMax = 10_000_000
    /// Sessions kept in memory while the database refuses writes (locked,
    /// disk full) before further ones are counted as not recorded.
    public var maximumBacklog = 1_000_000
    /// The write-ahead log's size in pages (of 4 KiB) at which the
    /// recorder waits for a checkpoint so that the log starts over (see
    /// Checkpointer): 32 MiB.
    public var logLimitPages = 8192
    /// A shipper in this process that takes committed sessions from memory
    /// (`tcpeek record --ship`).
    public var committed: (any CommittedSessionsObserver)?
    public init() {}
}

/// Records a run's closed sessions: opens the run's row, runs the writer
/// thread (`RecorderWriteLoop`) with its checkpointer, and completes the
/// row when the run ends.
public final class Recorder: Sendable {
    public let queue: SessionQueue
    private let database: HistoryDatabase
    private let filterNames: [String]
    private let options: RecorderOptions
    private let logger: Logger
    private let runID: Int64
    private let counts = RecorderCounts()
    private let done = DispatchSemaphore(value: 0)
    private let checkpointer: Checkpointer?

    /// Opens the run's row; the database stays the caller's.
    public init(database: HistoryDatabase, run: RunInfo, options: RecorderOptions, logger: Logger) throws(StoreError) {
        self.database = database
        self.options = options
        self.logger = logger
        self.filterNames = run.filters.map(\.name)
        self.queue = SessionQueue(capacity: max(options.batchSize * 4, 1 << 16))
        runID = try database.write { db in try RunRecord.open(run, in: db) }
        // The recorder's commits hand their checkpoints to a thread of
        // their own (see Checkpointer); failing that, SQLite checkpoints
        // within the commits, as usual.
        var checkpointer: Checkpointer?
        do {
            let created = try Checkpointer(path: database.path, busyTimeout: 5, logLimit: options.logLimitPages,
                                           logger: logger)
            checkpointer = created
            database.writer?.writeWithoutTransaction { db in created.take(checkpointsOf: db) }
        } catch {
            checkpointer?.stop()
            checkpointer = nil
            logger.warning("the recorder will checkpoint the database's log itself",
                           metadata: ["store.path": "\(database.path)", "store.error": "\(error)"])
        }
        self.checkpointer = checkpointer
    }

    /// Sessions written so far.
    public var recorded: UInt64 { counts.recorded }

    /// Sessions that will never be written: dropped from the hand-off while
    /// the writer lagged, or refused by the database.
    public var notRecorded: UInt64 { counts.failed &+ queue.dropped }

    public var lastError: StoreError? { counts.lastError }

    /// Starts the writer thread.
    public func start() {
        let thread = Thread { [self] in
            var loop = makeWriteLoop()
            loop.run()
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
            try database.write { db in try RunRecord.complete(runID, with: end, notRecorded: notRecorded, in: db) }
        } catch {
            logger.error("cannot complete the run record", metadata: ["store.error": "\(error)"])
        }
        if let checkpointer {
            database.writer?.writeWithoutTransaction { db in checkpointer.giveBack(checkpointsOf: db) }
            checkpointer.stop()
        }
    }

    private func makeWriteLoop() -> RecorderWriteLoop {
        RecorderWriteLoop(
            queue: queue,
            batches: BatchWriter(database: database, runID: runID, filterNames: filterNames, checkpointer: checkpointer,
                                 committed: options.committed, logger: logger),
            backlog: SessionBacklog(batchSize: options.batchSize, maximumBacklog: options.maximumBacklog, counts: counts,
                                    logger: logger),
            pruner: HistoryPruner(database: database, retentionDays: options.retentionDays,
                                  rollupRetentionDays: options.rollupRetentionDays, shipKeepMax: options.shipKeepMax,
                                  logger: logger),
            batchSize: options.batchSize,
            batchInterval: .milliseconds(options.batchInterval))
    }
}
