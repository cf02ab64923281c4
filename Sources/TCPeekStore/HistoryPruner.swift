import Foundation
import TCPeekWire
import GRDB
import Logging

/// Retention (`--retention-days`, `--rollup-retention-days`), in small
/// batches so recording never stalls, run between the writer's batches.
///
/// Ages count back from the wall clock: a capture file's age says nothing
/// about how long to keep the history of the live host, and a file dated in
/// the future must not make today's sessions look old.
struct HistoryPruner {
    private let database: HistoryDatabase
    private let retentionDays: Double?
    private let rollupRetentionDays: Double?
    private let shipKeepMax: Int
    private let logger: Logger
    /// Pruned once at the start, then every minute, and after every batch
    /// while a round still finds more than one round's worth: a fixed
    /// 5,000 rows a minute would fall behind any rate above 83/s.
    private var lastRound = ContinuousClock.now
    private var moreLeft = true
    /// What the rounds since the last report removed.
    private var pruned = PrunedHistory()
    /// The last warning's count of old sessions kept for the shippers: said again only when it changes.
    private var lastKeptUnshipped = 0

    init(database: HistoryDatabase, retentionDays: Double?, rollupRetentionDays: Double?, shipKeepMax: Int = 10_000_000,
         logger: Logger) {
        self.database = database
        self.retentionDays = retentionDays
        self.rollupRetentionDays = rollupRetentionDays
        self.shipKeepMax = shipKeepMax
        self.logger = logger
    }

    /// Runs a round if one is due; says what a completed prune removed.
    mutating func pruneIfDue() {
        guard moreLeft || ContinuousClock.now - lastRound > .seconds(60) else { return }
        moreLeft = pruneRound()
        lastRound = ContinuousClock.now
        if !moreLeft { report() }
    }

    /// One round of deletes; true when a batch was full: more is left.
    private mutating func pruneRound() -> Bool {
        guard retentionDays != nil || rollupRetentionDays != nil else { return false }
        let now = Date().timeIntervalSince1970
        do {
            return try database.write { db in
                var more = false
                if let days = retentionDays {
                    let limit = now - days * 86400
                    let newest = try Int64.fetchOne(db, sql: "SELECT max(id) FROM sessions") ?? 0
                    let shippedUpTo = try shippedLimit(db)
                    // Never the newest session: SQLite would give its id to
                    // the next one, and a shipper would skip that.
                    let highest = min(newest - 1, shippedUpTo ?? Int64.max)
                    let oldest = try Row.fetchOne(db, sql: """
                        SELECT count(*), min(started_at), max(started_at) FROM
                            (SELECT started_at FROM sessions WHERE started_at < ? AND id <= ? ORDER BY started_at LIMIT 5000)
                        """, arguments: [limit, highest])
                    let count: Int = oldest?[0] ?? 0
                    if count > 0 {
                        try db.execute(
                            sql: """
                                DELETE FROM sessions WHERE id IN
                                    (SELECT id FROM sessions WHERE started_at < ? AND id <= ? ORDER BY started_at LIMIT 5000)
                                """,
                            arguments: [limit, highest])
                        pruned.add(sessions: db.changesCount, from: oldest?[1] ?? 0, to: oldest?[2] ?? 0, days: days)
                        more = db.changesCount >= 5000
                    }
                    if let shippedUpTo, !more {
                        pruned.keptUnshipped = try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions WHERE started_at < ? AND id > ?",
                                                                arguments: [limit, shippedUpTo]) ?? 0
                    }
                }
                guard let days = rollupRetentionDays else { return more }
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
                more = more || db.changesCount >= 5000
                // The per-cause rollups (Schema/0006), like the others.
                try db.execute(
                    sql: """
                        DELETE FROM rollup_causes_minute WHERE (minute, filter, outcome, cause) IN
                            (SELECT minute, filter, outcome, cause FROM rollup_causes_minute WHERE minute < ? LIMIT 20000)
                        """,
                    arguments: [rollupLimit])
                more = more || db.changesCount >= 20000
                try db.execute(
                    sql: """
                        DELETE FROM rollup_causes_hour WHERE (hour, filter, outcome, cause) IN
                            (SELECT hour, filter, outcome, cause FROM rollup_causes_hour WHERE hour + 3600 <= ? LIMIT 20000)
                        """,
                    arguments: [rollupLimit])
                return more || db.changesCount >= 20000
            }
        } catch {
            logger.warning("cannot prune old history", metadata: ["store.error": "\(error)"])
            return false
        }
    }

    /// The highest session id retention may delete for the shippers'
    /// sake, or nil without any (`ship_cursors`, Schema/0007): the lowest
    /// cursor, unless more than `shipKeepMax` sessions wait above it; then
    /// the oldest of those go too, counted as lost to the fleet.
    private mutating func shippedLimit(_ db: Database) throws -> Int64? {
        guard let lowest = try Int64.fetchOne(db, sql: "SELECT min(session_id) FROM ship_cursors") else { return nil }
        guard let beyond = try Int64.fetchOne(db, sql: "SELECT id FROM sessions WHERE id > ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                                              arguments: [lowest, shipKeepMax]) else { return lowest }
        pruned.lostToFleet = try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions WHERE id > ? AND id <= ?",
                                              arguments: [lowest, beyond]) ?? 0
        return beyond
    }

    /// Says what a completed prune removed: history never disappears silently.
    private mutating func report() {
        defer { pruned = PrunedHistory() }
        if pruned.sessions > 0, let days = pruned.sessionDays {
            logger.notice("pruned \(pruned.sessions) sessions started \(WireTime.text(pruned.from.rounded(.down))) .. \(WireTime.text(pruned.to.rounded(.down))), older than \(days.formatted()) days (--retention-days)",
                          metadata: ["store.path": "\(database.path)"])
        }
        if pruned.keptUnshipped > 0, pruned.keptUnshipped != lastKeptUnshipped {
            logger.warning("kept \(pruned.keptUnshipped) sessions older than --retention-days that are not shipped yet (tcpeek ship); beyond --ship-keep-max \(shipKeepMax) unshipped sessions the oldest are deleted anyway",
                           metadata: ["store.path": "\(database.path)"])
        }
        lastKeptUnshipped = pruned.keptUnshipped
        if pruned.lostToFleet > 0 {
            logger.warning("more than --ship-keep-max \(shipKeepMax) sessions wait to be shipped: the oldest old ones are deleted unshipped, lost to the fleet (up to \(pruned.lostToFleet) now)",
                           metadata: ["store.path": "\(database.path)"])
        }
        if pruned.rollupMinutes + pruned.rollupHours > 0, let days = pruned.rollupDays {
            logger.notice("pruned \(pruned.rollupMinutes) per-minute and \(pruned.rollupHours) hourly rollups older than \(days.formatted()) days (--rollup-retention-days)",
                          metadata: ["store.path": "\(database.path)"])
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
    /// Old sessions kept because they are not shipped yet.
    var keptUnshipped = 0
    /// Unshipped sessions deletable anyway, beyond `--ship-keep-max`.
    var lostToFleet = 0

    mutating func add(sessions count: Int, from first: Double, to last: Double, days: Double) {
        sessions += count
        from = min(from, first)
        to = max(to, last)
        sessionDays = days
    }
}
