import GRDB
import Logging
import TCPeekCore

/// Writes one batch of sessions as one transaction: the sessions (with the
/// filters that counted them), the rollups that count them and the run's
/// count of recorded sessions, so the rollups always equal an aggregation
/// of the sessions.
struct BatchWriter: Sendable {
    let database: HistoryDatabase
    let runID: Int64
    /// The run's filters, by bit.
    let filterNames: [String]
    let checkpointer: Checkpointer?
    /// A shipper in this process that hears of each commit, if any.
    let committed: (any CommittedSessionsObserver)?
    let logger: Logger

    func write(_ sessions: ArraySlice<Session>) throws(StoreError) {
        var rollups = BatchRollups(filterCount: filterNames.count)
        for session in sessions {
            rollups.add(session)
        }
        if let checkpointer, checkpointer.logIsFull { checkpointer.waitForCheckpoint() }
        let (order, lastID) = try database.write { db in
            let inserts = try SessionInserts(db, runID: runID, filterCount: filterNames.count)
            let order = try inserts.insert(sessions)
            // The rows' ids, one after another: one writer (the recorder's
            // lock), and SQLite gives each new row the largest id plus one.
            let lastID = db.lastInsertedRowID
            try RollupWriter(db, filterNames: filterNames, path: database.path, logger: logger)
                .add(rollups, bucketsThrough: inserts)
            try RunRecord.addRecorded(sessions.count, toRun: runID, in: db)
            return (order, lastID)
        }
        committed?.committed(runID: runID, filterNames: filterNames, firstID: lastID - Int64(sessions.count) + 1,
                             sessions: sessions, idOrder: order)
    }
}
