import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization

/// Copies the write-ahead log into the database file on a thread and a
/// connection of its own, so that the recorder never waits for it.
///
/// By default SQLite checkpoints inside the commit that takes the log past
/// 1,000 pages: the recorder's thread then copies the pages and waits for
/// two `fsync`s (about 6 ms each here), a tenth of its time at a high rate
/// and all of it stolen from inserting rows. Here the recorder's connection
/// hands them to this thread instead (`take(checkpointsOf:)`), which runs
/// PASSIVE checkpoints: they never block the writer or readers and copy
/// what no reader still needs. The log starts over only when a
/// transaction begins with everything copied, which a busy writer never
/// leaves time for; so past `logLimit` pages the writer waits once for a
/// checkpoint to end, which finds little left to copy, and the -wal file
/// stays near `logLimit` pages.
///
/// Nothing depends on it for durability: committed transactions are in
/// the log, and SQLite checkpoints when the last connection closes.
final class Checkpointer: Sendable {
    /// The log's size in pages at which a checkpoint is worth its fsyncs
    /// (SQLite's own automatic threshold).
    static let pages: Int32 = 1000

    /// The log's size in pages beyond which the writer, between two
    /// transactions, waits for one checkpoint (`logIsFull`).
    let logLimit: Int32
    /// The log's size in pages after the writer's last commit.
    private let logPages = Atomic<Int32>(0)
    private let connection: DatabaseQueue
    private let path: String
    private let logger: Logger
    private let wake = DispatchSemaphore(value: 0)
    /// A checkpoint was asked for and has not started yet: many commits
    /// before it starts ask once.
    private let requested = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)
    /// Checkpoint passes begun and ended, for `waitForCheckpoint()`.
    private let passesBegun = Atomic<UInt64>(0)
    private let passesEnded = Atomic<UInt64>(0)
    private let passEnded = DispatchSemaphore(value: 0)

    /// Opens the checkpointer's connection and starts its thread.
    init(path: String, busyTimeout: TimeInterval, logLimit: Int, logger: Logger) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "tcpeek.history.checkpoint"
        connection = try DatabaseQueue(path: path, configuration: configuration)
        self.path = path
        self.logLimit = Int32(clamping: max(logLimit, Int(Self.pages)))
        self.logger = logger
        let thread = Thread { [self] in
            while !stopping.load(ordering: .acquiring) {
                wake.wait()
                requested.store(false, ordering: .relaxed)
                passesBegun.add(1, ordering: .sequentiallyConsistent)
                checkpoint()
                passesEnded.add(1, ordering: .sequentiallyConsistent)
                passEnded.signal()
            }
            stopped.signal()
        }
        thread.name = "tcpeek-checkpoint"
        thread.start()
    }

    /// Makes `db` (the recorder's connection) hand its checkpoints to this
    /// thread: SQLite calls the hook after each commit with the log's size,
    /// and a connection with a hook no longer checkpoints by itself. Until
    /// `giveBack(checkpointsOf:)`, this object must live.
    func take(checkpointsOf db: Database) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_wal_hook(db.sqliteConnection, { context, _, _, pages in
            if let context { Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue().logGrew(to: pages) }
            return SQLITE_OK
        }, context)
    }

    /// Gives `db` its own automatic checkpoints back (which removes the hook).
    func giveBack(checkpointsOf db: Database) {
        sqlite3_wal_autocheckpoint(db.sqliteConnection, Self.pages)
    }

    /// Ends the thread after a last checkpoint and closes the connection,
    /// so that the recorder's connection is the last one and, closing,
    /// removes the log.
    func stop() {
        stopping.store(true, ordering: .releasing)
        wake.signal()
        stopped.wait()
        try? connection.close()
    }

    private func logGrew(to pages: Int32) {
        logPages.store(pages, ordering: .relaxed)
        if pages >= Self.pages, !requested.exchange(true, ordering: .relaxed) { wake.signal() }
    }

    /// The log has grown past `logLimit`: a busy writer begins its next
    /// transaction before this thread's checkpoint ends, so the log never
    /// starts over by itself. The writer, between two transactions, then
    /// waits for one checkpoint (`waitForCheckpoint()`).
    var logIsFull: Bool { logPages.load(ordering: .relaxed) >= logLimit }

    /// Waits (at most `patience`) for a checkpoint begun after this call:
    /// with the writer idle meanwhile, it copies the whole log, and the
    /// writer's next transaction starts the log over, unless a reader
    /// still needs it. Only one of the two connections can checkpoint at
    /// a time, so the writer waits for this thread's rather than running
    /// its own.
    func waitForCheckpoint(patience: Duration = .seconds(2)) {
        let wanted = passesBegun.load(ordering: .sequentiallyConsistent) + 1
        if !requested.exchange(true, ordering: .relaxed) { wake.signal() }
        let deadline = ContinuousClock.now + patience
        while passesEnded.load(ordering: .sequentiallyConsistent) < wanted {
            let left = deadline - ContinuousClock.now
            guard left > .zero, passEnded.wait(timeout: .now() + .milliseconds(Int(left / .milliseconds(1)) + 1)) == .success
            else { return }
        }
        logPages.store(0, ordering: .relaxed)
    }

    private func checkpoint() {
        do {
            _ = try connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        } catch {
            logger.warning("cannot checkpoint the history database's log; SQLite will when it closes",
                           metadata: ["store.path": "\(path)", "store.error": "\(error)"])
        }
    }
}
