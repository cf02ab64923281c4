import GRDB
import GRDBSQLite
import TCPeekCore

/// The figures `rollups_minute` (Schema/0001) and `rollups_hour`
/// (Schema/0005) both hold, in one order for writing and for reading.
enum RollupColumns {
    /// Every written figure: the counters, `failure` (their sum, kept for
    /// plain `sqlite3` use) and `handshake_sum`.
    static let written = [
        "success", "success_dup_syn", "success_dup_synack", "failure", "timeout", "reject", "unreach", "abort",
        "dup_syn", "dup_synack", "handshake_sum",
    ]

    /// An insert of (time, filter, figures…, `extra`…) that adds the figures
    /// to an existing row and replaces the `extra` columns.
    static func upsertSQL(table: String, time: String, extra: [String] = []) -> String {
        let columns = [time, "filter"] + written + extra
        let updates = written.map { "\($0) = \($0) + excluded.\($0)" } + extra.map { "\($0) = excluded.\($0)" }
        return """
            INSERT INTO \(table) (\(columns.joined(separator: ", ")))
            VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))
            ON CONFLICT (\(time), filter) DO UPDATE SET \(updates.joined(separator: ", "))
            """
    }

    /// The values of `written`, in order.
    static func values(_ counters: FilterCounters, handshakeSeconds: Double) -> [any DatabaseValueConvertible] {
        [
            Int64(counters.success), Int64(counters.successWithDupSYN), Int64(counters.successWithDupSYNACK),
            Int64(counters.failure), Int64(counters.timeout), Int64(counters.reject), Int64(counters.unreach),
            Int64(counters.abort), Int64(counters.dupSYNSegments), Int64(counters.dupSYNACKSegments), handshakeSeconds,
        ]
    }

    /// The counters a query reads, in the order `counters(_:from:)` takes them.
    private static let readColumns = [
        "success", "success_dup_syn", "success_dup_synack", "timeout", "reject", "unreach", "abort", "dup_syn", "dup_synack",
    ]
    static let read = readColumns.joined(separator: ", ")
    /// How many columns `read` names.
    static let readCount = Int32(readColumns.count)

    /// The counters of `read` from a stepped statement, starting at `first`.
    static func counters(_ row: OpaquePointer, from first: Int32) -> FilterCounters {
        func column(_ offset: Int32) -> UInt64 { UInt64(clamping: sqlite3_column_int64(row, first + offset)) }
        var c = FilterCounters()
        c.success = column(0)
        c.successWithDupSYN = column(1)
        c.successWithDupSYNACK = column(2)
        c.timeout = column(3)
        c.reject = column(4)
        c.unreach = column(5)
        c.abort = column(6)
        c.dupSYNSegments = column(7)
        c.dupSYNACKSegments = column(8)
        return c
    }
}
