import Foundation
import GRDB
import NIOCore
import TCPeekStore

/// Ships the database's minute rollups (`rollups_minute`) to ClickHouse's
/// `rollups_minute` after each pass of sessions (docs/fleet-design.md,
/// "Minute rollups into ClickHouse").
///
/// A minute's row changes while sessions that started in it are committed,
/// so a pass ships the rows after the rollup cursor's minute and, again,
/// the rows of every minute in which a session above the cursor's session
/// id started: those are the rows that changed since ClickHouse last took
/// them. Each row carries the session cursor as its version, and
/// ClickHouse's ReplacingMergeTree keeps the latest. The cursor moves only
/// after ClickHouse's 200, so a row whose INSERT failed goes again.
struct RollupShipper: Sendable {
    let database: HistoryDatabase
    let client: ClickHouseClient
    let destination: String
    /// `host` and `database_id` as TabSeparated fields, each followed by a tab.
    let prefix: String
    /// Rows per INSERT at most (whole minutes: a minute's filters go together).
    let rowsPerInsert: Int

    /// The columns each row holds, in order: the fleet key, then the
    /// SQLite table's columns as they are named there, then the version.
    static let columns = [
        "host", "database_id", "minute", "filter", "success", "success_dup_syn", "success_dup_synack", "failure",
        "timeout", "reject", "unreach", "abort", "dup_syn", "dup_synack", "handshake_sum", "version",
    ]

    init(database: HistoryDatabase, client: ClickHouseClient, destination: String, host: String, databaseID: String,
         rowsPerInsert: Int) {
        self.database = database
        self.client = client
        self.destination = destination
        prefix = Self.field(host) + "\t" + Self.field(databaseID) + "\t"
        self.rowsPerInsert = max(1, rowsPerInsert)
    }

    /// Ships what changed, as of the sessions up to `sessionCursor` (the
    /// ones ClickHouse has acknowledged), and returns how many rows it
    /// sent. `stop` is asked between INSERTs; a stopped pass leaves the
    /// cursor's session id, so the next pass ships those minutes again.
    func ship(sessionCursor: Int64, stop: () -> Bool) async throws -> Int {
        var cursor = try database.rollupCursor(destination: destination)
        var sent = 0
        for range in try minutesToShip(cursor, sessionCursor: sessionCursor) {
            var from = range.lowerBound
            while !stop() {
                let chunk = try read(minutes: from...range.upperBound, version: sessionCursor)
                guard chunk.rows > 0 else { break }
                try await client.insert(into: "rollups_minute", columns: Self.columns, format: .tabSeparated,
                                        rows: ByteBuffer(string: chunk.text))
                // Every row up to this minute is there now (a changed minute
                // below the cursor leaves it where it was).
                cursor.minute = max(cursor.minute, chunk.lastMinute)
                try database.moveRollupCursor(destination: destination, to: cursor)
                sent += chunk.rows
                guard chunk.rows >= rowsPerInsert, chunk.lastMinute < range.upperBound else { break }
                from = chunk.lastMinute + 1
            }
            if stop() { return sent }
        }
        if cursor.sessionID != sessionCursor {
            cursor.sessionID = sessionCursor
            try database.moveRollupCursor(destination: destination, to: cursor)
        }
        return sent
    }

    /// The minutes whose rows ClickHouse lacks or has older figures of:
    /// those after the cursor (all of them before the first ship), and
    /// those in which the sessions shipped since the cursor's session id
    /// started. Sorted, not overlapping.
    func minutesToShip(_ cursor: HistoryDatabase.RollupCursor, sessionCursor: Int64) throws -> [ClosedRange<Int64>] {
        // -1 is no minute (minutes are multiples of 60): nothing shipped yet.
        guard cursor.minute != HistoryDatabase.RollupCursor.none.minute else { return [Int64.min...Int64.max] }
        let after = cursor.minute + 1
        guard sessionCursor > cursor.sessionID,
              let changed = try database.startMinutes(ofSessions: (cursor.sessionID + 1)...sessionCursor) else {
            return [after...Int64.max]
        }
        if changed.upperBound >= after - 1 { return [min(changed.lowerBound, after)...Int64.max] }
        return [changed, after...Int64.max]
    }

    /// Rows of whole minutes from the start of `minutes`: `rowsPerInsert`
    /// rows, and the rest of the last minute's filters.
    private func read(minutes: ClosedRange<Int64>, version: Int64) throws -> (text: String, rows: Int, lastMinute: Int64) {
        try database.read { db in
            let columns = Self.columns.dropFirst(2).dropLast().joined(separator: ", ")
            var text = ""
            var rows = 0
            var last: (minute: Int64, filter: String)?
            let versionField = "\t\(max(0, version))\n"
            func append(_ cursor: RowCursor) throws {
                while let row = try cursor.next() {
                    let minute: Int64 = row[0]
                    let filter: String = row[1]
                    text += prefix
                    text += Self.dateTime(minute) + "\t" + Self.field(filter)
                    for column in 2..<12 { text += "\t\(max(0, row[column] as Int64))" }
                    text += "\t\(row[12] as Double)"
                    text += versionField
                    rows += 1
                    last = (minute, filter)
                }
            }
            try append(Row.fetchCursor(db, sql: """
                SELECT \(columns) FROM rollups_minute WHERE minute BETWEEN ? AND ? ORDER BY minute, filter LIMIT ?
                """, arguments: [minutes.lowerBound, minutes.upperBound, rowsPerInsert]))
            if rows >= rowsPerInsert, let (minute, filter) = last {
                try append(Row.fetchCursor(db, sql: """
                    SELECT \(columns) FROM rollups_minute WHERE minute = ? AND filter > ? ORDER BY filter
                    """, arguments: [minute, filter]))
            }
            return (text, rows, last?.minute ?? minutes.lowerBound)
        }
    }

    /// A TabSeparated field: the characters that would end it escaped.
    static func field(_ text: String) -> String {
        let special: Set<Unicode.Scalar> = ["\\", "\t", "\n", "\r", "\0"]
        guard text.unicodeScalars.contains(where: special.contains) else { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": escaped.append(contentsOf: "\\\\".unicodeScalars)
            case "\t": escaped.append(contentsOf: "\\t".unicodeScalars)
            case "\n": escaped.append(contentsOf: "\\n".unicodeScalars)
            case "\r": escaped.append(contentsOf: "\\r".unicodeScalars)
            case "\0": escaped.append(contentsOf: "\\0".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    /// A DateTime('UTC') as `YYYY-MM-DD hh:mm:ss`, within its range (1970
    /// to 2106). Not the plain number: 18.16 reads a short one (a capture
    /// whose clock started at 0) as the start of a date.
    static func dateTime(_ epochSeconds: Int64) -> String {
        let seconds = Int64(UInt32(clamping: epochSeconds))
        let days = seconds / 86_400
        let time = seconds % 86_400
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let shifted = days + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(time / 3600)):\(two(time % 3600 / 60)):\(two(time % 60))"
    }
}
