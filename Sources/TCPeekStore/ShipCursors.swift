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
