import Foundation
import GRDB
import GRDBSQLite
import NIOCore
import Synchronization
import TCPeekStore

/// One INSERT's worth of sessions, as the RowBinary rows of
/// `contrib/clickhouse/002_sessions.sql` in `SessionBatch.columns` order.
public struct SessionBatch: Sendable {
    public let rows: ByteBuffer
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

    /// The most bytes a row's columns take apart from its strings (the
    /// fixed-width columns, the Nullable flags and the strings' lengths).
    static var fixedBytesPerRow: Int { 200 }

    /// The UTC day of a start time, as batches are split.
    static func day(ofStart startedAt: Double) -> Int64 {
        Int64(startedAt.rounded(.down)).dividedRoundingDown(by: 86400)
    }

    /// `started`, a DateTime: whole seconds, within UInt32.
    static func dateTime(_ startedAt: Double) -> UInt32 {
        UInt32(clamping: Int64(startedAt.rounded(.down)))
    }
}

extension Int64 {
    fileprivate func dividedRoundingDown(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return self % divisor < 0 ? quotient - 1 : quotient
    }
}

/// A run's filter names by bit as RowBinary strings, for `filters`: an
/// array, not a dictionary, since every row looks up every bit it has.
struct RunFilterNames {
    /// 64 entries; a bit the run does not name (the recorder never stores
    /// one) is an empty string.
    private let byBit: [[UInt8]]
    /// The most bytes `filters` takes: every name and the count.
    let maximumBytes: Int

    init(_ names: [Int: String]) {
        byBit = (0..<64).map { RowBinaryWriter.encoded(names[$0] ?? "") }
        maximumBytes = byBit.reduce(10) { $0 + $1.count }
    }

    /// The names of the bits of `bits`, as an Array(String).
    @inline(__always) func write(_ bits: UInt64, into out: inout RowBinaryWriter) {
        out.varint(bits.nonzeroBitCount)
        var rest = bits
        while rest != 0 {
            out.raw(byBit[rest.trailingZeroBitCount])
            rest &= rest - 1
        }
    }
}

/// What every row of one (host, database) says the same way: the fleet
/// key's two strings, each run's filter names by bit, and the outcome's
/// Enum8 values; shared by the two ways a batch is made (from the database,
/// `SessionBatchReader`, or from sessions the recorder has just committed,
/// `CommittedRowFeed`).
final class FleetRowContext: @unchecked Sendable {
    let database: HistoryDatabase
    /// `host` and `database_id`, the start of every row.
    let prefix: [UInt8]
    /// Per run, per filter bit: the name as a RowBinary string.
    private(set) var filterNames: [Int64: RunFilterNames] = [:]
    /// Request bodies ClickHouse has taken, for the next batches: a batch
    /// is 10-20 MB, and fresh memory for each cost more in page faults
    /// than encoding its rows. Two: one in flight, one being filled.
    private let spareBuffers = Mutex<[ByteBuffer]>([])

    /// An empty buffer of at least `capacity` bytes.
    func buffer(capacity: Int) -> ByteBuffer {
        guard var buffer = spareBuffers.withLock({ $0.popLast() }) else {
            return ByteBufferAllocator().buffer(capacity: capacity)
        }
        buffer.clear()
        buffer.reserveCapacity(capacity)
        return buffer
    }

    /// `rows` once ClickHouse has taken (or refused) them.
    func giveBack(_ rows: ByteBuffer) {
        spareBuffers.withLock { if $0.count < 2 { $0.append(rows) } }
    }

    init(database: HistoryDatabase, host: String, databaseID: String) {
        self.database = database
        prefix = RowBinaryWriter.encoded(host) + RowBinaryWriter.encoded(databaseID)
    }

    /// The filter names of `run`, read from `run_filters` the first time.
    func names(ofRun run: Int64, in db: Database) throws -> RunFilterNames {
        if let names = filterNames[run] { return names }
        var loaded: [Int64: [Int: String]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT run_id, bit, filter FROM run_filters") {
            let run: Int64 = row[0]
            let bit: Int = row[1]
            loaded[run, default: [:]][bit] = row[2]
        }
        filterNames = loaded.mapValues(RunFilterNames.init)
        return filterNames[run] ?? RunFilterNames([:])
    }

    /// `sessions.outcome`'s Enum8 values as the schema declares them, by
    /// the word the database stores.
    static let outcomeCodes: [(word: [UInt8], code: Int8)] = ClickHouseSchema.enumValues(column: "outcome", table: "sessions")
        .map { (Array($0.name.utf8), $0.value) }
}

/// Reads the sessions after a cursor and writes them as RowBinary rows,
/// straight from SQLite's column values into the request buffer: no String
/// or Foundation formatting per row (shipping must keep up with recording,
/// hundreds of thousands of sessions a second). Times and durations are
/// sent as the doubles the database holds.
/// One reader serves one shipper, one batch at a time (the shipper reads
/// the next batch on another task while the last is sent, never two at once).
public final class SessionBatchReader: @unchecked Sendable {
    private let context: FleetRowContext

    static let select = """
        SELECT id, run_id, started_at, duration, family, client_addr, client_port, server_addr, server_port,
               vlan, direction, outcome, dup_syn, dup_synack, icmp_type, icmp_code, evicted, filter_bits,
               cause, syn_ttl, synack_ttl, rst_ttl, synack_seen, icmp_sender, icmp_ttl, synack_mss,
               synack_wscale, syn_to_synack, synack_to_ack, syn_retry_time, ignored_rst, ignored_rst_ttl,
               capture_dropped
        FROM sessions WHERE id > ? ORDER BY id LIMIT ?
        """

    public convenience init(database: HistoryDatabase, host: String, databaseID: String) {
        self.init(context: FleetRowContext(database: database, host: host, databaseID: databaseID))
    }

    init(context: FleetRowContext) {
        self.context = context
    }

    /// Up to `limit` sessions after `cursor`, all of one UTC day of their
    /// start (ClickHouse writes a one-partition INSERT atomically); nil
    /// when there is none.
    public func batch(after cursor: Int64, limit: Int) throws -> SessionBatch? {
        try context.database.read { db in
            guard let connection = db.sqliteConnection else { return nil }
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(connection, Self.select, -1, &statement, nil) == SQLITE_OK, let statement else {
                throw DatabaseError(resultCode: ResultCode(rawValue: sqlite3_errcode(connection)), message: db.lastErrorMessage)
            }
            defer { sqlite3_finalize(statement) }
            sqlite3_bind_int64(statement, 1, cursor)
            sqlite3_bind_int64(statement, 2, Int64(limit))
            var buffer = context.buffer(capacity: min(limit, 200_000) * 160)
            var count = 0
            var firstID: Int64 = 0
            var lastID: Int64 = 0
            var day: Int64 = 0
            var runID: Int64 = -1
            var names = RunFilterNames([:])
            while true {
                let step = sqlite3_step(statement)
                if step == SQLITE_DONE { break }
                guard step == SQLITE_ROW else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: step), message: db.lastErrorMessage)
                }
                let started = sqlite3_column_double(statement, 2)
                let rowDay = SessionBatch.day(ofStart: started)
                if count == 0 {
                    day = rowDay
                    firstID = sqlite3_column_int64(statement, 0)
                } else if rowDay != day {
                    break
                }
                let rowRun = sqlite3_column_int64(statement, 1)
                if rowRun != runID {
                    runID = rowRun
                    names = try context.names(ofRun: runID, in: db)
                }
                lastID = sqlite3_column_int64(statement, 0)
                encodeRow(statement, started: started, names: names, into: &buffer)
                count += 1
            }
            guard count > 0 else { return nil }
            return SessionBatch(rows: buffer, count: count, firstID: firstID, lastID: lastID, day: day)
        }
    }

    /// The most bytes a row can take.
    private func bound(_ statement: OpaquePointer, filterBytes: Int) -> Int {
        var text = 0
        for column: Int32 in [5, 7, 9, 10, 18, 23] { text += Int(sqlite3_column_bytes(statement, column)) }
        return context.prefix.count + text + filterBytes + SessionBatch.fixedBytesPerRow
    }

    private func encodeRow(_ statement: OpaquePointer, started: Double, names: RunFilterNames, into buffer: inout ByteBuffer) {
        let bits = UInt64(bitPattern: sqlite3_column_int64(statement, 17))
        let capacity = bound(statement, filterBytes: names.maximumBytes)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { raw in
            var out = RowBinaryWriter(base: raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
            out.raw(context.prefix)
            out.uint64(UInt64(bitPattern: sqlite3_column_int64(statement, 1)))  // run_id
            out.uint64(UInt64(bitPattern: sqlite3_column_int64(statement, 0)))  // session_id
            out.uint32(SessionBatch.dateTime(started))                          // started
            out.float64(started)                                                // started_at
            out.float64(sqlite3_column_double(statement, 3))                    // duration
            out.uint8(UInt8(truncatingIfNeeded: sqlite3_column_int64(statement, 4)))
            out.text(statement, 5)                                              // client_addr
            out.uint16(UInt16(truncatingIfNeeded: sqlite3_column_int64(statement, 6)))
            out.text(statement, 7)                                              // server_addr
            out.uint16(UInt16(truncatingIfNeeded: sqlite3_column_int64(statement, 8)))
            out.nullableText(statement, 9)                                      // vlan
            out.nullableText(statement, 10)                                     // direction
            out.int8(Self.outcomeCode(statement, 11))
            out.uint32(UInt32(truncatingIfNeeded: sqlite3_column_int64(statement, 12)))  // dup_syn
            out.uint32(UInt32(truncatingIfNeeded: sqlite3_column_int64(statement, 13)))
            out.nullableUInt8(statement, 14)                                    // icmp_type
            out.nullableUInt8(statement, 15)
            out.uint8(UInt8(truncatingIfNeeded: sqlite3_column_int64(statement, 16)))  // evicted
            names.write(bits, into: &out)
            out.nullableText(statement, 18)                                     // cause
            for column: Int32 in 19...22 { out.nullableUInt8(statement, column) }  // TTLs, synack_seen
            out.nullableText(statement, 23)                                     // icmp_sender
            out.nullableUInt8(statement, 24)                                    // icmp_ttl
            out.nullableUInt16(statement, 25)                                   // synack_mss
            out.nullableUInt8(statement, 26)                                    // synack_wscale
            out.nullableFloat64(statement, 27)                                  // syn_to_synack
            out.nullableFloat64(statement, 28)
            out.float64(sqlite3_column_double(statement, 29))                   // syn_retry_time
            out.uint32(UInt32(truncatingIfNeeded: sqlite3_column_int64(statement, 30)))  // ignored_rst
            out.nullableUInt8(statement, 31)
            out.uint8(UInt8(truncatingIfNeeded: sqlite3_column_int64(statement, 32)))  // capture_dropped
            return out.count
        }
    }

    /// The Enum8 value of the stored outcome word (0, which no outcome
    /// has, for a word the schema does not know: ClickHouse refuses the batch).
    private static func outcomeCode(_ statement: OpaquePointer, _ column: Int32) -> Int8 {
        guard let text = sqlite3_column_text(statement, column) else { return 0 }
        let length = Int(sqlite3_column_bytes(statement, column))
        for entry in FleetRowContext.outcomeCodes where entry.word.count == length {
            if entry.word.withUnsafeBufferPointer({ memcmp($0.baseAddress!, text, length) == 0 }) { return entry.code }
        }
        return 0
    }
}

/// Reading SQLite's columns into RowBinary.
extension RowBinaryWriter {
    @inline(__always) mutating func text(_ statement: OpaquePointer, _ column: Int32) {
        // Text first, then its length, as SQLite asks.
        guard let pointer = sqlite3_column_text(statement, column) else { return varint(0) }
        let length = Int(sqlite3_column_bytes(statement, column))
        string(UnsafeBufferPointer(start: pointer, count: length))
    }

    @inline(__always) mutating func nullableText(_ statement: OpaquePointer, _ column: Int32) {
        if sqlite3_column_type(statement, column) == SQLITE_NULL { return null() }
        present()
        text(statement, column)
    }

    @inline(__always) mutating func nullableUInt8(_ statement: OpaquePointer, _ column: Int32) {
        if sqlite3_column_type(statement, column) == SQLITE_NULL { return null() }
        present()
        uint8(UInt8(truncatingIfNeeded: sqlite3_column_int64(statement, column)))
    }

    @inline(__always) mutating func nullableUInt16(_ statement: OpaquePointer, _ column: Int32) {
        if sqlite3_column_type(statement, column) == SQLITE_NULL { return null() }
        present()
        uint16(UInt16(truncatingIfNeeded: sqlite3_column_int64(statement, column)))
    }

    @inline(__always) mutating func nullableFloat64(_ statement: OpaquePointer, _ column: Int32) {
        if sqlite3_column_type(statement, column) == SQLITE_NULL { return null() }
        present()
        float64(sqlite3_column_double(statement, column))
    }
}
