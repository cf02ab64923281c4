import GRDB
import TCPeekCore

/// The figures `rollups_minute` (Schema/0001) and `rollups_hour`
/// (Schema/0005) both hold, in one order for writing and for reading.
enum RollupColumns {
    /// The column of each counter, in `FilterCounters.Figure` order.
    private static func column(_ figure: FilterCounters.Figure) -> String {
        switch figure {
        case .success: "success"
        case .successWithDupSYN: "success_dup_syn"
        case .successWithDupSYNACK: "success_dup_synack"
        case .timeout: "timeout"
        case .reject: "reject"
        case .unreach: "unreach"
        case .abort: "abort"
        case .dupSYNSegments: "dup_syn"
        case .dupSYNACKSegments: "dup_synack"
        }
    }

    /// Every written figure: the counters, `failure` (their sum, kept for
    /// plain `sqlite3` use) and `handshake_sum`.
    static let written = FilterCounters.Figure.allCases.map(column) + ["failure", "handshake_sum"]

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
        FilterCounters.Figure.allCases.map { Int64(counters[$0]) as any DatabaseValueConvertible }
            + [Int64(counters.failure), handshakeSeconds]
    }

    /// The counters a query reads, in the order `counters(_:from:)` takes them.
    private static let readColumns = FilterCounters.Figure.allCases.map(column)
    static let read = readColumns.joined(separator: ", ")
    /// How many columns `read` names.
    static let readCount = readColumns.count

    /// The counters of `read` from `row`, starting at column `first`; NULL
    /// (only in a file edited by hand) reads as 0.
    static func counters(_ row: Row, from first: Int) -> FilterCounters {
        FilterCounters { figure in UInt64(clamping: (row[first + Int(figure.rawValue)] as Int64?) ?? 0) }
    }
}
