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
    private let logger: Logger
    /// Pruned once at the start, then every minute, and after every batch
    /// while a round still finds more than one round's worth: a fixed
    /// 5,000 rows a minute would fall behind any rate above 83/s.
    private var lastRound = ContinuousClock.now
    private var moreLeft = true
    /// What the rounds since the last report removed.
    private var pruned = PrunedHistory()

    init(database: HistoryDatabase, retentionDays: Double?, rollupRetentionDays: Double?, logger: Logger) {
        self.database = database
        self.retentionDays = retentionDays
        self.rollupRetentionDays = rollupRetentionDays
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

    /// Says what a completed prune removed: history never disappears silently.
    private mutating func report() {
        defer { pruned = PrunedHistory() }
        if pruned.sessions > 0, let days = pruned.sessionDays {
            logger.notice("pruned \(pruned.sessions) sessions started \(WireTime.text(pruned.from.rounded(.down))) .. \(WireTime.text(pruned.to.rounded(.down))), older than \(days.formatted()) days (--retention-days)",
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

    mutating func add(sessions count: Int, from first: Double, to last: Double, days: Double) {
        sessions += count
        from = min(from, first)
        to = max(to, last)
        sessionDays = days
    }
}
