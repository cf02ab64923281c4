import GRDB
import GRDBSQLite
import TCPeekCore

/// The rows of a batch written per session: the `sessions` rows and the
/// handshake-time buckets they add to, bound through SQLite's C API on
/// GRDB's cached statements, many session rows per statement. The one type
/// of tcpeek that binds through the C API; every other write and every
/// query goes through GRDB.
///
/// This runs once per recorded session, hundreds of thousands of times a
/// second on a busy host. Per row, GRDB's `StatementArguments` (an array of
/// existentials) cost more than SQLite's own work, and so did SQLite's work
/// of running a statement at all (reset, open cursors, halt): one statement
/// of `rowsPerStatement` rows writes them more than twice as fast as as many
/// one-row statements.
struct SessionInserts {
    static let rowsPerStatement = 32
    private static let columns = [
        "run_id", "started_at", "duration", "family", "client_addr", "client_port", "server_addr",
        "server_port", "vlan", "direction", "outcome", "dup_syn", "dup_synack", "icmp_type", "icmp_code",
        "evicted", "filter_bits",
        // The evidence and cause (Schema/0006), in the order of `--json-lines`.
        "cause", "syn_ttl", "synack_ttl", "rst_ttl", "synack_seen", "icmp_sender", "icmp_ttl", "synack_mss",
        "synack_wscale", "syn_to_synack", "synack_to_ack", "syn_retry_time", "ignored_rst", "ignored_rst_ttl",
        "capture_dropped",
    ]

    private let database: Database
    private let runID: Int64
    /// The bits of filters the run has; others are not stored.
    private let filterBits: UInt64
    private let many: Statement
    private let one: Statement

    init(_ database: Database, runID: Int64, filterCount: Int) throws {
        self.database = database
        self.runID = runID
        filterBits = filterCount >= 64 ? .max : (1 << UInt64(filterCount)) - 1
        many = try database.cachedStatement(sql: Self.insertSQL(rows: Self.rowsPerStatement))
        one = try database.cachedStatement(sql: Self.insertSQL(rows: 1))
    }

    private static let bucketUpsertSQL = """
        INSERT INTO rollup_handshake_buckets (minute, filter, bucket, count) VALUES (?, ?, ?, ?)
        ON CONFLICT (minute, filter, bucket) DO UPDATE SET count = count + excluded.count
        """

    /// Adds the non-zero buckets of `histogram` to `rollup_handshake_buckets`
    /// at (`minute`, `filter`): hundreds of rows a batch, one statement each.
    func addHandshakeBuckets(_ histogram: HandshakeHistogram, minute: Int64, filter: String) throws {
        let statement = try database.cachedStatement(sql: Self.bucketUpsertSQL)
        var filter = filter
        try filter.withUTF8 { name in
            for (bucket, count) in histogram.counts.enumerated() where count != 0 {
                try statement.step(in: database) { s in
                    sqlite3_bind_int64(s, 1, minute)
                    bindText(name, to: s, at: 2)
                    sqlite3_bind_int64(s, 3, Int64(bucket))
                    sqlite3_bind_int64(s, 4, count)
                }
            }
        }
    }

    private static func insertSQL(rows: Int) -> String {
        let row = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        // OR FAIL: a row that breaks a constraint stops the statement but
        // keeps the rows before it, so SQLite need not journal each
        // statement's pages to undo it alone, as it does for a several-row
        // INSERT otherwise (`INSERT` means `OR ABORT`). The error then rolls
        // back the whole transaction (`BatchWriter.write`): no batch is ever half kept.
        return "INSERT OR FAIL INTO sessions (" + columns.joined(separator: ", ") + ") VALUES "
            + Array(repeating: row, count: rows).joined(separator: ", ")
    }

    /// Inserts `sessions` by start time (`startOrder`): `rowsPerStatement`
    /// at a time, the rest one by one. Leaves both statements reset with no
    /// bindings, as GRDB expects them. Returns the positions of `batch` in
    /// the order of the rows' ids.
    @discardableResult
    func insert(_ batch: ArraySlice<Session>) throws -> [Int] {
        let order = Self.startOrder(of: batch)
        let sessions = order.lazy.map { batch[$0] }
        // The addresses' texts of one statement's rows, bound without a copy
        // (SQLITE_STATIC): they must outlive its step, and the bindings are
        // cleared (below) before the buffer is freed.
        let texts = UnsafeMutableBufferPointer<UInt8>.allocate(
            capacity: Self.rowsPerStatement * Self.addressesPerRow * IPAddress.maximumTextLength)
        defer { texts.deallocate() }
        defer {
            for statement in [many, one] {
                sqlite3_reset(statement.sqliteStatement)
                sqlite3_clear_bindings(statement.sqliteStatement)
            }
        }
        // Every parameter NULL, as `BoundValues` starts.
        for statement in [many, one] {
            sqlite3_clear_bindings(statement.sqliteStatement)
        }
        let manyHolds = BoundValues(count: Self.rowsPerStatement * Self.columns.count)
        let oneHolds = BoundValues(count: Self.columns.count)
        var start = sessions.startIndex
        while sessions.distance(from: start, to: sessions.endIndex) >= Self.rowsPerStatement {
            let end = sessions.index(start, offsetBy: Self.rowsPerStatement)
            try write(sessions[start..<end], with: many, holding: manyHolds, texts: texts)
            start = end
        }
        for session in sessions[start...] {
            try write(CollectionOfOne(session), with: one, holding: oneHolds, texts: texts)
        }
        return order
    }

    /// The positions of `batch` in order of start time (then of closing).
    ///
    /// Sessions close in nearly the order they started, but not quite (a
    /// timeout closes a minute after a success that started later). Rows
    /// inserted in start order extend `sessions_by_time` at its end, where
    /// SQLite finds their place on the index's last page without searching
    /// it from the root; out of order, every row searched from the root, a
    /// fifth of SQLite's time.
    ///
    /// What is sorted is one integer per session: its start, after the
    /// batch's earliest, above its position. A start too far from the
    /// earliest for the bits left (more than 203 days with a million
    /// sessions a batch) counts as that far: only the speed of that batch's
    /// insert depends on the order, not which rows it writes.
    static func startOrder(of batch: ArraySlice<Session>) -> [Int] {
        guard let earliest = batch.lazy.map(\.startedAt.microseconds).min() else { return [] }
        let positionBits = UInt64(Int.bitWidth - batch.count.leadingZeroBitCount)
        let positionMask: UInt64 = (1 << positionBits) - 1
        let latestOffset = UInt64.max >> positionBits
        var keys = batch.indices.map { index in
            let offset = UInt64(bitPattern: batch[index].startedAt.microseconds &- earliest)
            return min(offset, latestOffset) << positionBits | UInt64(index - batch.startIndex)
        }
        keys.sort()
        return keys.map { batch.startIndex + Int($0 & positionMask) }
    }

    private func write(_ rows: some Collection<Session>, with statement: Statement, holding holds: BoundValues,
                       texts: UnsafeMutableBufferPointer<UInt8>) throws {
        try statement.step(in: database) { s in
            for (row, session) in rows.enumerated() {
                bind(session, to: s, row: row, holding: holds, texts: texts)
            }
        }
    }

    /// Binds `session` as row `row` of `s`. SQLite keeps a statement's
    /// bindings from one step to the next, and binding costs about as much
    /// as the rest of tcpeek's work for a row, so the columns that mostly
    /// repeat from one statement to the next (the run, NULLs, zero counts,
    /// the outcome) are bound only when their value changes (`holds`).
    /// Client, server and ICMP sender: the addresses of a row bound as text.
    private static let addressesPerRow = 3

    private func bind(_ session: Session, to s: OpaquePointer?, row: Int, holding holds: BoundValues,
                      texts: UnsafeMutableBufferPointer<UInt8>) {
        let base = Int32(row * Self.columns.count)
        holds.bind(integer: runID, to: s, at: base + 1)
        sqlite3_bind_double(s, base + 2, Double(session.startedAt.microseconds) / 1_000_000)
        sqlite3_bind_double(s, base + 3, Double(max(0, session.duration.microseconds)) / 1_000_000)
        holds.bind(integer: session.isIPv4 ? 4 : 6, to: s, at: base + 4)
        let width = IPAddress.maximumTextLength
        let addresses = Self.addressesPerRow * row * width
        bindStatic(session.client, in: texts, at: addresses, to: s, index: base + 5)
        sqlite3_bind_int(s, base + 6, Int32(session.clientPort))
        bindStatic(session.server, in: texts, at: addresses + width, to: s, index: base + 7)
        holds.bind(integer: Int64(session.serverPort), to: s, at: base + 8)
        if session.vlan == .none {
            holds.bindNull(to: s, at: base + 9)
        } else {
            var text = session.vlan.ids.map(String.init).joined(separator: ".")
            text.withUTF8 { bindText($0, to: s, at: base + 9) }
            holds.boundOther(at: base + 9)
        }
        if let direction = session.direction {
            holds.bind(word: Self.directionWords.first { $0.direction == direction }!.word, to: s, at: base + 10)
        } else {
            holds.bindNull(to: s, at: base + 10)
        }
        holds.bind(word: Self.outcomeWords[Int(session.outcome.rawValue)], to: s, at: base + 11)
        holds.bind(integer: Int64(session.dupSYN), to: s, at: base + 12)
        holds.bind(integer: Int64(session.dupSYNACK), to: s, at: base + 13)
        if session.outcome == .unreach {
            holds.bind(integer: Int64(session.icmpType), to: s, at: base + 14)
            holds.bind(integer: Int64(session.icmpCode), to: s, at: base + 15)
        } else {
            holds.bindNull(to: s, at: base + 14)
            holds.bindNull(to: s, at: base + 15)
        }
        holds.bind(integer: session.wasEvicted ? 1 : 0, to: s, at: base + 16)
        holds.bind(integer: Int64(bitPattern: session.filters.rawValue & filterBits), to: s, at: base + 17)
        bindEvidence(session, to: s, at: base + 17, holding: holds, addressText: addresses + 2 * width, in: texts)
    }

    /// Binds the cause and evidence columns, the ones after `last`. Most
    /// repeat from row to row (the hop counts of one network, NULLs, zeros),
    /// so all but the two handshake halves go through `holds`.
    private func bindEvidence(_ session: Session, to s: OpaquePointer?, at last: Int32, holding holds: BoundValues,
                              addressText: Int, in texts: UnsafeMutableBufferPointer<UInt8>) {
        let evidence = session.evidence
        if session.cause.isEmpty {
            holds.bindNull(to: s, at: last + 1)
        } else if let word = CauseWords.word(session.cause) {
            holds.bind(word: word, to: s, at: last + 1)
        } else {
            var text = session.cause.description
            text.withUTF8 { bindText($0, to: s, at: last + 1) }
            holds.boundOther(at: last + 1)
        }
        holds.bind(integer: Int64(evidence.synHopLimit), to: s, at: last + 2)
        holds.bind(optional: evidence.synAckHopLimit.map(Int64.init), to: s, at: last + 3)
        holds.bind(optional: evidence.resetHopLimit.map(Int64.init), to: s, at: last + 4)
        holds.bind(integer: evidence.sawSYNACK ? 1 : 0, to: s, at: last + 5)
        if let sender = evidence.unreachableSender {
            bindStatic(sender, in: texts, at: addressText, to: s, index: last + 6)
            holds.boundOther(at: last + 6)
        } else {
            holds.bindNull(to: s, at: last + 6)
        }
        holds.bind(optional: evidence.unreachableHopLimit.map(Int64.init), to: s, at: last + 7)
        holds.bind(optional: evidence.synAckOptions.maximumSegmentSize.map(Int64.init), to: s, at: last + 8)
        holds.bind(optional: evidence.synAckOptions.windowScale.map(Int64.init), to: s, at: last + 9)
        bindSeconds(evidence.synToSynAck, to: s, at: last + 10, holding: holds)
        bindSeconds(evidence.synAckToAck, to: s, at: last + 11, holding: holds)
        if evidence.synRetryTime.microseconds == 0 {
            holds.bind(integer: 0, to: s, at: last + 12)
        } else {
            sqlite3_bind_double(s, last + 12, Double(evidence.synRetryTime.microseconds) / 1_000_000)
            holds.boundOther(at: last + 12)
        }
        holds.bind(integer: Int64(evidence.ignoredResets), to: s, at: last + 13)
        holds.bind(optional: evidence.ignoredResetHopLimit.map(Int64.init), to: s, at: last + 14)
        holds.bind(integer: evidence.captureDropped ? 1 : 0, to: s, at: last + 15)
    }

    /// A duration in seconds, or NULL.
    private func bindSeconds(_ duration: Timestamp.Duration?, to s: OpaquePointer?, at index: Int32,
                             holding holds: BoundValues) {
        if let duration {
            sqlite3_bind_double(s, index, Double(max(0, duration.microseconds)) / 1_000_000)
            holds.boundOther(at: index)
        } else {
            holds.bindNull(to: s, at: index)
        }
    }
}

/// `Causes.description` of a single cause, as bytes that live as long as
/// the process, bound without a copy (SQLITE_STATIC). A failure has one
/// cause and most flagged successes one flag; a combination is bound as a
/// copy of its text.
private enum CauseWords {
    /// Never written after it is made, so reading it from any thread is safe.
    nonisolated(unsafe) private static let single: [UnsafeBufferPointer<CChar>] = Cause.allCases.map {
        let bytes = Array($0.description.utf8CString.dropLast())
        let storage = UnsafeMutableBufferPointer<CChar>.allocate(capacity: bytes.count)
        _ = storage.initialize(from: bytes)
        return UnsafeBufferPointer(storage)
    }

    static func word(_ causes: Causes) -> UnsafeBufferPointer<CChar>? {
        guard causes.rawValue.nonzeroBitCount == 1 else { return nil }
        let index = causes.rawValue.trailingZeroBitCount
        return index < single.count ? single[index] : nil
    }
}

extension SessionInserts {
    /// `Outcome.description` of each outcome by raw value, as bytes that
    /// live as long as the process: bound without a copy (SQLITE_STATIC).
    /// Never written after it is made, so reading it from any thread is safe.
    nonisolated(unsafe) private static let outcomeWords: [UnsafeBufferPointer<CChar>] = {
        var words = Array(repeating: UnsafeBufferPointer<CChar>(start: nil, count: 0), count: Outcome.allCases.count)
        for outcome in Outcome.allCases {
            words[Int(outcome.rawValue)] = lifetimeWord(outcome.description)
        }
        return words
    }()

    /// `Direction.rawValue` of each direction, like `outcomeWords`.
    nonisolated(unsafe) private static let directionWords = Direction.allCases.map {
        (direction: $0, word: lifetimeWord($0.rawValue))
    }

    /// `text`'s bytes, never freed.
    private static func lifetimeWord(_ text: String) -> UnsafeBufferPointer<CChar> {
        let bytes = Array(text.utf8CString.dropLast())
        let storage = UnsafeMutableBufferPointer<CChar>.allocate(capacity: bytes.count)
        _ = storage.initialize(from: bytes)
        return UnsafeBufferPointer(storage)
    }

    /// Writes `address`'s text at `offset` of `texts` and binds it there
    /// without a copy: `texts` must outlive the statement's step.
    private func bindStatic(_ address: IPAddress, in texts: UnsafeMutableBufferPointer<UInt8>, at offset: Int,
                            to statement: OpaquePointer?, index: Int32) {
        let slot = UnsafeMutableBufferPointer(rebasing: texts[offset..<offset + IPAddress.maximumTextLength])
        let count = address.writeText(into: slot)
        sqlite3_bind_text(statement, index, UnsafeRawPointer(slot.baseAddress)?.assumingMemoryBound(to: CChar.self),
                          Int32(count), nil)
    }
}

/// What each parameter of a statement holds since its bindings were last
/// cleared (all NULL), as far as tcpeek binds it through these methods, so
/// that a value is bound only when it changes. A class over raw memory:
/// this runs for most columns of every row, where an array's uniqueness
/// and bounds checks cost as much as the bind they save.
final class BoundValues {
    private enum Held: Equatable {
        case null
        case integer(Int64)
        /// A text that lives as long as the process, by address.
        case word(UnsafePointer<CChar>?)
        /// Anything else (bound without these methods).
        case other
    }

    private let held: UnsafeMutableBufferPointer<Held>

    /// A statement of `count` parameters, all NULL.
    init(count: Int) {
        held = .allocate(capacity: count)
        held.initialize(repeating: .null)
    }

    deinit {
        held.deallocate()
    }

    func bind(integer value: Int64, to statement: OpaquePointer?, at index: Int32) {
        let slot = Int(index) &- 1
        guard held[slot] != .integer(value) else { return }
        sqlite3_bind_int64(statement, index, value)
        held[slot] = .integer(value)
    }

    /// Binds `word`, which outlives the statement, without a copy.
    func bind(word: UnsafeBufferPointer<CChar>, to statement: OpaquePointer?, at index: Int32) {
        let slot = Int(index) &- 1
        guard held[slot] != .word(word.baseAddress) else { return }
        sqlite3_bind_text(statement, index, word.baseAddress, Int32(word.count), nil)
        held[slot] = .word(word.baseAddress)
    }

    func bind(optional value: Int64?, to statement: OpaquePointer?, at index: Int32) {
        if let value { bind(integer: value, to: statement, at: index) } else { bindNull(to: statement, at: index) }
    }

    func bindNull(to statement: OpaquePointer?, at index: Int32) {
        let slot = Int(index) &- 1
        guard held[slot] != .null else { return }
        sqlite3_bind_null(statement, index)
        held[slot] = .null
    }

    /// Parameter `index` was just bound some other way.
    func boundOther(at index: Int32) {
        held[Int(index) &- 1] = .other
    }
}

private extension Statement {
    /// Runs this statement (one that returns no rows) once, with the
    /// values `bind` binds through SQLite's C API: no argument array, no
    /// existential per value.
    func step(in database: Database, binding bind: (OpaquePointer?) -> Void) throws {
        let s = sqliteStatement
        sqlite3_reset(s)
        bind(s)
        let code = sqlite3_step(s)
        guard code == SQLITE_DONE else {
            let message = database.lastErrorMessage
            sqlite3_reset(s)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
        }
    }
}

/// Binds `bytes` as text; SQLite copies them.
private func bindText(_ bytes: UnsafeBufferPointer<UInt8>, to statement: OpaquePointer?, at index: Int32) {
    sqlite3_bind_text(statement, index, UnsafeRawPointer(bytes.baseAddress)?.assumingMemoryBound(to: CChar.self),
                      Int32(bytes.count), SQLITE_TRANSIENT)
}

/// SQLite copies the bytes before the call returns.
private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
