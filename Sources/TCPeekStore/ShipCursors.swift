import Foundation
import GRDB

/// What `tcpeek ship` keeps in the database it ships (Schema/0007): the
/// database's identity and, per destination, the last session id the
/// destination acknowledged.
extension HistoryDatabase {
    /// The random identity made when the database reached version 7.
    public func identity() throws(StoreError) -> String {
        try read { db in
            guard let id = try String.fetchOne(db, sql: "SELECT id FROM database_identity LIMIT 1") else {
                throw StoreError.notTCPeekDatabase(path: path, detail: "its database_identity table is empty")
            }
            return id
        }
    }

    /// The last session id `destination` acknowledged; 0 before the first.
    public func shipCursor(destination: String) throws(StoreError) -> Int64 {
        try read { db in
            try Int64.fetchOne(db, sql: "SELECT session_id FROM ship_cursors WHERE destination = ?", arguments: [destination]) ?? 0
        }
    }

    /// Records that `destination` has every session up to `sessionID`.
    public func moveShipCursor(destination: String, to sessionID: Int64, at wallClock: Double) throws(StoreError) {
        try write { db in
            try db.execute(sql: """
                INSERT INTO ship_cursors (destination, session_id, shipped_at) VALUES (?, ?, ?)
                ON CONFLICT (destination) DO UPDATE SET session_id = excluded.session_id, shipped_at = excluded.shipped_at
                """, arguments: [destination, sessionID, wallClock])
        }
    }

    /// Which minute rollups `destination` has (Schema/0008): every row up
    /// to `minute` (-1 before the first), as read after session
    /// `sessionID`.
    public struct RollupCursor: Sendable, Equatable {
        public var minute: Int64
        public var sessionID: Int64
        public init(minute: Int64, sessionID: Int64) {
            self.minute = minute
            self.sessionID = sessionID
        }
        public static let none = RollupCursor(minute: -1, sessionID: 0)
    }

    public func rollupCursor(destination: String) throws(StoreError) -> RollupCursor {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT rollup_minute, rollup_session_id FROM ship_cursors WHERE destination = ?",
                                             arguments: [destination]) else { return .none }
            return RollupCursor(minute: row[0], sessionID: row[1])
        }
    }

    /// Records that `destination` has the rollups `cursor` says. Leaves the
    /// session cursor as it is (0 in a row made here).
    public func moveRollupCursor(destination: String, to cursor: RollupCursor) throws(StoreError) {
        try write { db in
            try db.execute(sql: """
                INSERT INTO ship_cursors (destination, rollup_minute, rollup_session_id) VALUES (?, ?, ?)
                ON CONFLICT (destination) DO UPDATE SET rollup_minute = excluded.rollup_minute,
                                                        rollup_session_id = excluded.rollup_session_id
                """, arguments: [destination, cursor.minute, cursor.sessionID])
        }
    }

    /// The first and last minute in which the sessions with ids in
    /// `ids` started (those still in the database); nil when none is.
    public func startMinutes(ofSessions ids: ClosedRange<Int64>) throws(StoreError) -> ClosedRange<Int64>? {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT min(started_at), max(started_at) FROM sessions WHERE id BETWEEN ? AND ?
                """, arguments: [ids.lowerBound, ids.upperBound]),
                  let first: Double = row[0], let last: Double = row[1] else { return nil }
            return Self.minute(first)...Self.minute(last)
        }
    }

    /// The start of the minute holding `startedAt`, as the recorder's
    /// rollups count it (from whole microseconds, rounded down).
    static func minute(_ startedAt: Double) -> Int64 {
        let (quotient, remainder) = Int64((startedAt * 1_000_000).rounded()).quotientAndRemainder(dividingBy: 60_000_000)
        return (remainder < 0 ? quotient - 1 : quotient) * 60
    }

    /// The highest session id in the database; 0 when it has none.
    public func lastSessionID() throws(StoreError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM sessions") ?? 0 }
    }

    /// Sessions not yet acknowledged by `destination`'s cursor.
    public func unshippedCount(destination: String) throws(StoreError) -> Int {
        try read { db in
            let cursor = try Int64.fetchOne(db, sql: "SELECT session_id FROM ship_cursors WHERE destination = ?",
                                            arguments: [destination]) ?? 0
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions WHERE id > ?", arguments: [cursor]) ?? 0
        }
    }
}
