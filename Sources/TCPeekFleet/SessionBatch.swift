import GRDB
import GRDBSQLite
import NIOCore
import TCPeekStore

/// One INSERT's worth of sessions, as the TabSeparated rows of
/// `contrib/clickhouse/002_sessions.sql` in `SessionBatch.columns` order.
public struct SessionBatch: Sendable {
    public let tsv: ByteBuffer
    public let count: Int
    /// The first and last session ids in it (ids only grow: the next batch
    /// starts after `lastID`).
    public let firstID: Int64
    public let lastID: Int64
    /// The UTC day (epoch days) of every session in it.
    public let day: Int64

    /// The columns the rows hold, in order; `shipped_at` takes its DEFAULT.
    public static let columns = [
        "host", "database_id", "run_id", "session_id", "started", "started_at", "duration", "family",
        "client_addr", "client_port", "server_addr", "server_port", "vlan", "direction", "outcome",
        "dup_syn", "dup_synack", "icmp_type", "icmp_code", "evicted", "filters", "cause",
        "syn_ttl", "synack_ttl", "rst_ttl", "synack_seen", "icmp_sender", "icmp_ttl", "synack_mss",
        "synack_wscale", "syn_to_synack", "synack_to_ack", "syn_retry_time", "ignored_rst",
        "ignored_rst_ttl", "capture_dropped",
    ]
}

/// Reads the sessions after a cursor and writes them as TabSeparated rows,
/// straight from SQLite's column pointers into the request buffer: no
/// String or Foundation formatting per row (shipping must keep up with
/// recording, hundreds of thousands of sessions a second). Times and
/// durations have microsecond precision in the database, so they are
/// written as fixed-point with six decimals, exactly.
/// One reader serves one shipper, one batch at a time (the shipper reads
/// the next batch on another task while the last is sent, never two at once).
public final class SessionBatchReader: @unchecked Sendable {
    private let database: HistoryDatabase
    /// `host\tdatabase_id\t`, the start of every row.
    private let prefix: [UInt8]
    /// Per run, per filter bit: the name as a ClickHouse string literal.
    private var filterNames: [Int64: [Int: [UInt8]]] = [:]

    static let select = """
        SELECT id, run_id, started_at, duration, family, client_addr, client_port, server_addr, server_port,
               vlan, direction, outcome, dup_syn, dup_synack, icmp_type, icmp_code, evicted, filter_bits,
               cause, syn_ttl, synack_ttl, rst_ttl, synack_seen, icmp_sender, icmp_ttl, synack_mss,
               synack_wscale, syn_to_synack, synack_to_ack, syn_retry_time, ignored_rst, ignored_rst_ttl,
               capture_dropped
        FROM sessions WHERE id > ? ORDER BY id LIMIT ?
        """

    public init(database: HistoryDatabase, host: String, databaseID: String) {
        self.database = database
        prefix = Self.escaped(host) + [9] + Self.escaped(databaseID) + [9]
    }

    /// Up to `limit` sessions after `cursor`, all of one UTC day of their
    /// start (ClickHouse writes a one-partition INSERT atomically); nil
    /// when there is none.
    public func batch(after cursor: Int64, limit: Int) throws -> SessionBatch? {
        try database.read { db in
            try loadFilterNames(db)
            guard let connection = db.sqliteConnection else { return nil }
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(connection, Self.select, -1, &statement, nil) == SQLITE_OK, let statement else {
                throw DatabaseError(resultCode: ResultCode(rawValue: sqlite3_errcode(connection)), message: db.lastErrorMessage)
            }
            defer { sqlite3_finalize(statement) }
            sqlite3_bind_int64(statement, 1, cursor)
            sqlite3_bind_int64(statement, 2, Int64(limit))
            var buffer = ByteBufferAllocator().buffer(capacity: min(limit, 200_000) * 320)
            var count = 0
            var firstID: Int64 = 0
            var lastID: Int64 = 0
            var day: Int64 = 0
            while true {
                let step = sqlite3_step(statement)
                if step == SQLITE_DONE { break }
                guard step == SQLITE_ROW else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: step), message: db.lastErrorMessage)
                }
                let started = sqlite3_column_double(statement, 2)
                let rowDay = Int64(started.rounded(.down)) / 86400
                if count == 0 {
                    day = rowDay
                    firstID = sqlite3_column_int64(statement, 0)
                } else if rowDay != day {
                    break
                }
                let runID = sqlite3_column_int64(statement, 1)
                if filterNames[runID] == nil {
                    try loadFilterNames(db)
                }
                lastID = sqlite3_column_int64(statement, 0)
                encodeRow(statement, runID: runID, started: started, into: &buffer)
                count += 1
            }
            guard count > 0 else { return nil }
            return SessionBatch(tsv: buffer, count: count, firstID: firstID, lastID: lastID, day: day)
        }
    }

    private func loadFilterNames(_ db: Database) throws {
        var names: [Int64: [Int: [UInt8]]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT run_id, bit, filter FROM run_filters") {
            let run: Int64 = row[0]
            let bit: Int = row[1]
            let name: String = row[2]
            names[run, default: [:]][bit] = [UInt8(ascii: "'")] + Self.escaped(name, quote: true) + [UInt8(ascii: "'")]
        }
        filterNames = names
    }

    /// The most bytes a row can take: the fixed columns' longest spelling
    /// plus every text column escaped (each byte at most two).
    private func bound(_ statement: OpaquePointer, filterBytes: Int) -> Int {
        var text = 0
        for column: Int32 in [5, 7, 9, 10, 11, 18, 23] { text += Int(sqlite3_column_bytes(statement, column)) }
        return prefix.count + 2 * text + filterBytes + 40 * 33
    }

    private func encodeRow(_ statement: OpaquePointer, runID: Int64, started: Double, into buffer: inout ByteBuffer) {
        let bits = UInt64(bitPattern: sqlite3_column_int64(statement, 17))
        let names = filterNames[runID] ?? [:]
        var filterBytes = 2
        if bits != 0 { for bit in 0..<64 where bits >> UInt64(bit) & 1 == 1 { filterBytes += (names[bit]?.count ?? 2) + 1 } }
        let capacity = bound(statement, filterBytes: filterBytes)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { raw in
            var out = TSVWriter(base: raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
            out.bytes(prefix)
            out.integer(statement, 1); out.tab()                 // run_id
            out.integer(statement, 0); out.tab()                 // session_id
            out.int64(Int64(started.rounded(.down))); out.tab()  // started
            out.micros(started); out.tab()                       // started_at
            out.micros(sqlite3_column_double(statement, 3)); out.tab()
            out.integer(statement, 4); out.tab()                 // family
            out.text(statement, 5); out.tab()                    // client_addr
            out.integer(statement, 6); out.tab()
            out.text(statement, 7); out.tab()                    // server_addr
            out.integer(statement, 8); out.tab()
            out.text(statement, 9); out.tab()                    // vlan
            out.text(statement, 10); out.tab()                   // direction
            out.text(statement, 11); out.tab()                   // outcome
            out.integer(statement, 12); out.tab()                // dup_syn
            out.integer(statement, 13); out.tab()
            out.integer(statement, 14); out.tab()                // icmp_type
            out.integer(statement, 15); out.tab()
            out.integer(statement, 16); out.tab()                // evicted
            out.byte(UInt8(ascii: "["))                          // filters
            var first = true
            if bits != 0 {
                for bit in 0..<64 where bits >> UInt64(bit) & 1 == 1 {
                    if !first { out.byte(UInt8(ascii: ",")) }
                    first = false
                    out.bytes(names[bit] ?? [UInt8(ascii: "'"), UInt8(ascii: "'")])
                }
            }
            out.byte(UInt8(ascii: "]")); out.tab()
            out.text(statement, 18); out.tab()                   // cause
            for column: Int32 in 19...22 { out.integer(statement, column); out.tab() }  // TTLs, synack_seen
            out.text(statement, 23); out.tab()                   // icmp_sender
            for column: Int32 in 24...26 { out.integer(statement, column); out.tab() }  // icmp_ttl, mss, wscale
            out.micros(statement, 27); out.tab()                 // syn_to_synack
            out.micros(statement, 28); out.tab()
            out.micros(statement, 29); out.tab()                 // syn_retry_time
            out.integer(statement, 30); out.tab()                // ignored_rst
            out.integer(statement, 31); out.tab()
            out.integer(statement, 32)                           // capture_dropped
            out.byte(UInt8(ascii: "\n"))
            return out.count
        }
    }

    /// `text` as TabSeparated writes it; `quote` also escapes `'` (inside
    /// an array's string literal).
    static func escaped(_ text: String, quote: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\t"): out += [92, UInt8(ascii: "t")]
            case UInt8(ascii: "\n"): out += [92, UInt8(ascii: "n")]
            case 92: out += [92, 92]
            case UInt8(ascii: "'") where quote: out += [92, UInt8(ascii: "'")]
            default: out.append(byte)
            }
        }
        return out
    }
}

/// Writes into memory the caller has reserved (`SessionBatchReader.bound`).
private struct TSVWriter {
    let base: UnsafeMutablePointer<UInt8>
    var count = 0

    @inline(__always) mutating func byte(_ value: UInt8) {
        base[count] = value
        count += 1
    }

    @inline(__always) mutating func tab() { byte(9) }

    @inline(__always) mutating func null() {
        byte(92)
        byte(UInt8(ascii: "N"))
    }

    mutating func bytes(_ values: [UInt8]) {
        values.withUnsafeBufferPointer { source in
            (base + count).update(from: source.baseAddress!, count: source.count)
        }
        count += values.count
    }

    mutating func int64(_ value: Int64) {
        var magnitude = value.magnitude
        if value < 0 { byte(UInt8(ascii: "-")) }
        var digits: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                     UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var length = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            let scratch = raw.bindMemory(to: UInt8.self)
            repeat {
                scratch[length] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 48
                magnitude /= 10
                length += 1
            } while magnitude > 0
            for index in stride(from: length - 1, through: 0, by: -1) { byte(scratch[index]) }
        }
    }

    /// An INTEGER column, `\N` when NULL.
    @inline(__always) mutating func integer(_ statement: OpaquePointer, _ column: Int32) {
        if sqlite3_column_type(statement, column) == SQLITE_NULL { null() } else { int64(sqlite3_column_int64(statement, column)) }
    }

    /// A REAL column of seconds with microsecond precision, `\N` when NULL.
    @inline(__always) mutating func micros(_ statement: OpaquePointer, _ column: Int32) {
        if sqlite3_column_type(statement, column) == SQLITE_NULL { null() } else { micros(sqlite3_column_double(statement, column)) }
    }

    /// `seconds` rounded to the microsecond, as `S.uuuuuu`.
    mutating func micros(_ seconds: Double) {
        let total = Int64((seconds * 1_000_000).rounded())
        if total < 0 { byte(UInt8(ascii: "-")) }
        let magnitude = total.magnitude
        int64(Int64(magnitude / 1_000_000))
        byte(UInt8(ascii: "."))
        var fraction = magnitude % 1_000_000
        var divisor: UInt64 = 100_000
        for _ in 0..<6 {
            byte(UInt8(truncatingIfNeeded: fraction / divisor) &+ 48)
            fraction %= divisor
            divisor /= 10
        }
    }

    /// A TEXT column escaped, `\N` when NULL.
    mutating func text(_ statement: OpaquePointer, _ column: Int32) {
        guard sqlite3_column_type(statement, column) != SQLITE_NULL, let pointer = sqlite3_column_text(statement, column) else {
            null()
            return
        }
        let length = Int(sqlite3_column_bytes(statement, column))
        for index in 0..<length {
            let value = pointer[index]
            switch value {
            case 9: byte(92); byte(UInt8(ascii: "t"))
            case 10: byte(92); byte(UInt8(ascii: "n"))
            case 92: byte(92); byte(92)
            default: byte(value)
            }
        }
    }
}
