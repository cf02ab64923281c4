import GRDB
import GRDBSQLite
import TCPeekCore

/// The per-session inserts of a batch (`sessions` and `session_filters`),
/// bound through SQLite's C API on GRDB's cached statements.
///
/// These two statements run once per recorded session, hundreds of
/// thousands of times a second on a busy host: building a GRDB
/// `StatementArguments` array of existentials for each row cost more than
/// SQLite's own work. Everything else the recorder writes (rollups, runs)
/// goes through GRDB as usual.
struct SessionInserts {
    private let database: Database
    private let session: Statement
    private let filter: Statement
    /// NUL-terminated names, bound without copying.
    private let filterNames: [ContiguousArray<CChar>]

    init(_ database: Database, filterNames: [String]) throws {
        self.database = database
        session = try database.cachedStatement(sql: """
            INSERT INTO sessions (run_id, started_at, duration, family, client_addr, client_port, server_addr,
                server_port, vlan, direction, outcome, dup_syn, dup_synack, icmp_type, icmp_code, evicted)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        filter = try database.cachedStatement(sql: "INSERT INTO session_filters (filter, session_id) VALUES (?, ?)")
        self.filterNames = filterNames.map { ContiguousArray($0.utf8CString) }
    }

    /// Inserts one session and one `session_filters` row per filter that counted it.
    func insert(_ recorded: Session, runID: Int64) throws {
        let s = session.sqliteStatement
        sqlite3_reset(s)
        sqlite3_bind_int64(s, 1, runID)
        sqlite3_bind_double(s, 2, Double(recorded.startedAt.microseconds) / 1_000_000)
        sqlite3_bind_double(s, 3, Double(max(0, recorded.duration.microseconds)) / 1_000_000)
        sqlite3_bind_int(s, 4, recorded.isIPv4 ? 4 : 6)
        bind(recorded.client.description, to: 5)
        sqlite3_bind_int(s, 6, Int32(recorded.clientPort))
        bind(recorded.server.description, to: 7)
        sqlite3_bind_int(s, 8, Int32(recorded.serverPort))
        if recorded.vlan == .none {
            sqlite3_bind_null(s, 9)
        } else {
            bind(recorded.vlan.ids.map(String.init).joined(separator: "."), to: 9)
        }
        if let direction = recorded.direction { bind(direction.rawValue, to: 10) } else { sqlite3_bind_null(s, 10) }
        bind(recorded.outcome.description, to: 11)
        sqlite3_bind_int64(s, 12, Int64(recorded.dupSYN))
        sqlite3_bind_int64(s, 13, Int64(recorded.dupSYNACK))
        if recorded.outcome == .unreach {
            sqlite3_bind_int(s, 14, Int32(recorded.icmpType))
            sqlite3_bind_int(s, 15, Int32(recorded.icmpCode))
        } else {
            sqlite3_bind_null(s, 14)
            sqlite3_bind_null(s, 15)
        }
        sqlite3_bind_int(s, 16, recorded.wasEvicted ? 1 : 0)
        try step(session)
        let sessionID = database.lastInsertedRowID
        let f = filter.sqliteStatement
        for index in recorded.filters where index < filterNames.count {
            sqlite3_reset(f)
            try filterNames[index].withUnsafeBufferPointer { name in
                // Static: the name outlives the step, and the binding is
                // replaced before the next one.
                sqlite3_bind_text(f, 1, name.baseAddress, Int32(name.count - 1), nil)
                sqlite3_bind_int64(f, 2, sessionID)
                try step(filter)
            }
        }
    }

    /// Leaves both statements reset with no bindings, as GRDB expects them.
    func finish() {
        for statement in [session, filter] {
            sqlite3_reset(statement.sqliteStatement)
            sqlite3_clear_bindings(statement.sqliteStatement)
        }
    }

    private func bind(_ text: String, to index: Int32) {
        var text = text
        text.withUTF8 { bytes in
            _ = sqlite3_bind_text(session.sqliteStatement, index, bytes.baseAddress, Int32(bytes.count), SQLITE_TRANSIENT)
        }
    }

    private func step(_ statement: Statement) throws {
        let code = sqlite3_step(statement.sqliteStatement)
        guard code == SQLITE_DONE else {
            let message = database.lastErrorMessage
            sqlite3_reset(statement.sqliteStatement)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
    }
}

/// SQLite copies the bytes before the call returns.
private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
