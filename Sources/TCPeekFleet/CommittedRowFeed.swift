import NIOCore
import Synchronization
import TCPeekCore
import TCPeekStore

/// The rows of what the recorder in this process commits (`tcpeek record
/// --ship`), encoded in its writer's thread right after each commit, while
/// the sessions are still in the cache, and held for the shipper: reading
/// them back from the database had cost the recorder half again its CPU.
///
/// Each commit becomes one chunk of RowBinary rows per UTC day, the same
/// bytes `SessionBatchReader` makes from the stored rows (FleetFeedTests).
/// Bounded by `capacity` bytes: a chunk that does not fit (ClickHouse
/// stalled, a file read faster than ClickHouse takes it) is not kept, and
/// the shipper reads that stretch from the database, which has every
/// committed session anyway: the feed is only ever a shortcut.
public final class CommittedRowFeed: CommittedSessionsObserver, @unchecked Sendable {
    /// Rows of consecutive ids, all of one day.
    struct Chunk {
        var rows: ByteBuffer
        let firstID: Int64
        var lastID: Int64
        let day: Int64
        var count: Int { Int(lastID - firstID + 1) }
    }

    private struct State {
        var chunks: [Chunk] = []
        var bytes = 0
        var count = 0
        /// Chunks' buffers once their rows are copied into a batch.
        var spare: [ByteBuffer] = []
    }

    /// 96 MiB: a shipper that keeps up holds one or two INSERTs' worth
    /// (100,000 sessions, 12 MB each).
    public static let defaultCapacity = 96 << 20

    public let capacity: Int
    private let state = Mutex(State())
    /// Set by the shipper before the recorder starts: until then, commits
    /// are not kept.
    private let context = Mutex<FleetRowContext?>(nil)
    /// Per run, the filter names by bit as RowBinary strings (the writer's
    /// thread only).
    private nonisolated(unsafe) var names: (run: Int64, byBit: RunFilterNames)?
    private let causeWords: [[UInt8]] = Cause.allCases.map { RowBinaryWriter.encoded($0.description) }
    private let outcomeCodes: [Int8] = Outcome.allCases.map { outcome in
        FleetRowContext.outcomeCodes.first { $0.word == Array(outcome.description.utf8) }?.code ?? 0
    }
    private let rx = RowBinaryWriter.encoded(Direction.rx.rawValue)
    private let tx = RowBinaryWriter.encoded(Direction.tx.rawValue)
    private let any = RowBinaryWriter.encoded(Direction.any.rawValue)
    /// Three addresses at most (client, server, ICMP sender), each its
    /// text and a length byte.
    private let addressBytes = 3 * (IPAddress.maximumTextLength + 1)

    public init(capacity: Int = defaultCapacity) {
        self.capacity = capacity
    }

    func attach(_ context: FleetRowContext) {
        self.context.withLock { $0 = context }
    }

    /// Sessions held now.
    public var count: Int { state.withLock { $0.count } }

    /// The first id held, if any: the shipper reads up to it from the database.
    public var firstID: Int64? { state.withLock { $0.chunks.first?.firstID } }

    // MARK: The writer's side

    public func committed(runID: Int64, filterNames: [String], firstID: Int64, sessions: ArraySlice<Session>,
                          idOrder: [Int]) {
        guard let context = context.withLock({ $0 }), !idOrder.isEmpty else { return }
        if names?.run != runID {
            names = (runID, RunFilterNames(Dictionary(uniqueKeysWithValues: filterNames.enumerated().map { ($0, $1) })))
        }
        let byBit = names!.byBit
        let filterBits: UInt64 = filterNames.count >= 64 ? .max : (1 << UInt64(filterNames.count)) - 1
        let prefix = context.prefix
        // Rows are written a group at a time into room reserved for the
        // longest row: a buffer's bookkeeping per row cost as much as the row.
        let rowBound = prefix.count + addressBytes + byBit.maximumBytes + SessionBatch.fixedBytesPerRow
            + Self.vlanTextBytes + longestCauseWord
        var chunks: [Chunk] = []
        var index = 0
        while index < idOrder.count {
            let day = SessionBatch.day(ofStart: Self.seconds(sessions[idOrder[index]].startedAt.microseconds))
            if chunks.last?.day != day {
                let id = firstID + Int64(index)
                chunks.append(Chunk(rows: spareBuffer(capacity: (idOrder.count - index) * 130), firstID: id, lastID: id - 1,
                                    day: day))
            }
            var end = index
            var combinedCauses = 0
            while end < idOrder.count, end - index < Self.rowsPerWrite {
                let session = sessions[idOrder[end]]
                guard SessionBatch.day(ofStart: Self.seconds(session.startedAt.microseconds)) == day else { break }
                if session.cause.rawValue.nonzeroBitCount > 1 { combinedCauses += session.cause.description.utf8.count + 10 }
                end += 1
            }
            chunks[chunks.count - 1].rows.writeWithUnsafeMutableBytes(minimumWritableBytes: (end - index) * rowBound + combinedCauses) { raw in
                var out = RowBinaryWriter(base: raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
                for row in index..<end {
                    let session = sessions[idOrder[row]]
                    encode(session, id: firstID + Int64(row), runID: runID, bits: session.filters.rawValue & filterBits,
                           names: byBit, prefix: prefix, into: &out)
                }
                return out.count
            }
            chunks[chunks.count - 1].lastID = firstID + Int64(end) - 1
            index = end
        }
        state.withLock { state in
            for chunk in chunks where state.bytes + chunk.rows.readableBytes <= capacity {
                state.bytes += chunk.rows.readableBytes
                state.count += chunk.count
                state.chunks.append(chunk)
            }
        }
    }

    private func spareBuffer(capacity: Int) -> ByteBuffer {
        guard var buffer = state.withLock({ $0.spare.popLast() }) else {
            return ByteBufferAllocator().buffer(capacity: capacity)
        }
        buffer.clear()
        buffer.reserveCapacity(capacity)
        return buffer
    }

    // MARK: The shipper's side

    /// The sessions after `cursor`, up to `limit` (whole commits: at least
    /// one), all of one day, if the feed holds the one after `cursor`; nil
    /// otherwise. What is up to `cursor` is dropped: the shipper never asks
    /// for it again (after a failure it reads it from the database).
    func batch(after cursor: Int64, limit: Int, into buffer: () -> ByteBuffer) -> SessionBatch? {
        state.withLock { state in
            // Chunks up to the cursor, and one the cursor is inside (the
            // database path shipped its start), go.
            var dropped = 0
            while dropped < state.chunks.count, state.chunks[dropped].firstID <= cursor { dropped += 1 }
            release(state.chunks[..<dropped], from: &state)
            state.chunks.removeFirst(dropped)
            guard let first = state.chunks.first, first.firstID == cursor + 1 else { return nil }
            var taken = 0
            var count = 0
            var lastID = cursor
            while taken < state.chunks.count {
                let chunk = state.chunks[taken]
                guard chunk.firstID == lastID + 1, chunk.day == first.day, count == 0 || count + chunk.count <= limit else { break }
                count += chunk.count
                lastID = chunk.lastID
                taken += 1
            }
            var rows = buffer()
            rows.reserveCapacity(state.chunks[..<taken].reduce(0) { $0 + $1.rows.readableBytes })
            for chunk in state.chunks[..<taken] { rows.writeImmutableBuffer(chunk.rows) }
            release(state.chunks[..<taken], from: &state)
            state.chunks.removeFirst(taken)
            return SessionBatch(rows: rows, count: count, firstID: cursor + 1, lastID: lastID, day: first.day)
        }
    }

    private func release(_ chunks: ArraySlice<Chunk>, from state: inout State) {
        for chunk in chunks {
            state.bytes -= chunk.rows.readableBytes
            state.count -= chunk.count
            if state.spare.count < 8 { state.spare.append(chunk.rows) }
        }
    }

    // MARK: Encoding

    /// Seconds as the database stores a time (`SessionInserts`).
    @inline(__always) static func seconds(_ microseconds: Int64) -> Double {
        Double(microseconds) / 1_000_000
    }

    /// Rows per reservation of buffer space.
    private static var rowsPerWrite: Int { 32 }
    /// The longest VLAN text: four ids of four digits and their dots.
    private static var vlanTextBytes: Int { 20 }
    private var longestCauseWord: Int { causeWords.map(\.count).max() ?? 0 }

    /// `session` as the row `SessionInserts` stores for it, in RowBinary.
    @inline(__always)
    private func encode(_ session: Session, id: Int64, runID: Int64, bits: UInt64, names: RunFilterNames, prefix: [UInt8],
                        into out: inout RowBinaryWriter) {
        let evidence = session.evidence
        let started = Self.seconds(session.startedAt.microseconds)
        out.raw(prefix)
        out.uint64(UInt64(bitPattern: runID))
        out.uint64(UInt64(bitPattern: id))
        out.uint32(SessionBatch.dateTime(started))
        out.float64(started)
        out.float64(Self.seconds(max(0, session.duration.microseconds)))
        out.uint8(session.isIPv4 ? 4 : 6)
        out.address(session.client)
        out.uint16(session.clientPort)
        out.address(session.server)
        out.uint16(session.serverPort)
        if session.vlan == .none {
            out.null()
        } else {
            out.present()
            out.vlan(session.vlan)
        }
        if let direction = session.direction {
            out.present()
            switch direction {
            case .rx: out.raw(rx)
            case .tx: out.raw(tx)
            case .any: out.raw(any)
            }
        } else {
            out.null()
        }
        out.int8(outcomeCodes[Int(session.outcome.rawValue)])
        out.uint32(session.dupSYN)
        out.uint32(session.dupSYNACK)
        if session.outcome == .unreach {
            out.present(); out.uint8(session.icmpType)
            out.present(); out.uint8(session.icmpCode)
        } else {
            out.null(); out.null()
        }
        out.uint8(session.wasEvicted ? 1 : 0)
        names.write(bits, into: &out)
        let causes = session.cause.rawValue
        if causes == 0 {
            out.null()
        } else if causes.nonzeroBitCount == 1, causes.trailingZeroBitCount < causeWords.count {
            out.present(); out.raw(causeWords[causes.trailingZeroBitCount])
        } else {
            out.present(); out.raw(RowBinaryWriter.encoded(session.cause.description))
        }
        out.present(); out.uint8(evidence.synHopLimit)
        out.optional(evidence.synAckHopLimit)
        out.optional(evidence.resetHopLimit)
        out.present(); out.uint8(evidence.sawSYNACK ? 1 : 0)
        if let sender = evidence.unreachableSender { out.present(); out.address(sender) } else { out.null() }
        out.optional(evidence.unreachableHopLimit)
        if let mss = evidence.synAckOptions.maximumSegmentSize { out.present(); out.uint16(mss) } else { out.null() }
        out.optional(evidence.synAckOptions.windowScale)
        out.optionalSeconds(evidence.synToSynAck)
        out.optionalSeconds(evidence.synAckToAck)
        out.float64(Self.seconds(evidence.synRetryTime.microseconds))
        out.uint32(UInt32(evidence.ignoredResets))
        out.optional(evidence.ignoredResetHopLimit)
        out.uint8(evidence.captureDropped ? 1 : 0)
    }
}

/// Writing tcpeek's values as the database stores them.
extension RowBinaryWriter {
    /// An address's text (`IPAddress.writeText`, as `sessions` holds it).
    @inline(__always) mutating func address(_ address: IPAddress) {
        // The text goes one byte past its length byte, written after it.
        let lengthAt = count
        count += 1
        let written = address.writeText(into: UnsafeMutableBufferPointer(start: base + count, count: IPAddress.maximumTextLength))
        base[lengthAt] = UInt8(written)
        count += written
    }

    /// A VLAN path's text as `sessions.vlan` holds it: the ids, outermost
    /// first, joined by dots (`VLANPath.ids`), written without an array.
    @inline(__always) mutating func vlan(_ path: VLANPath) {
        // Innermost first in the bits, as `VLANPath.push` leaves them.
        var ids: (UInt16, UInt16, UInt16, UInt16) = (0, 0, 0, 0)
        var depth = 0
        var length = 0
        withUnsafeMutableBytes(of: &ids) { raw in
            let slots = raw.bindMemory(to: UInt16.self)
            var value = path.rawValue
            while value & 0x1000 != 0, depth < 4 {
                slots[depth] = UInt16(value & 0x0FFF)
                length += slots[depth] >= 1000 ? 4 : slots[depth] >= 100 ? 3 : slots[depth] >= 10 ? 2 : 1
                depth += 1
                value >>= 13
            }
        }
        uint8(UInt8(length + max(0, depth - 1)))
        withUnsafeBytes(of: &ids) { raw in
            let slots = raw.bindMemory(to: UInt16.self)
            for index in stride(from: depth - 1, through: 0, by: -1) {
                var id = slots[index]
                let digits = id >= 1000 ? 4 : id >= 100 ? 3 : id >= 10 ? 2 : 1
                for place in stride(from: digits - 1, through: 0, by: -1) {
                    base[count + place] = UInt8(id % 10) + 48
                    id /= 10
                }
                count += digits
                if index > 0 { uint8(UInt8(ascii: ".")) }
            }
        }
    }

    @inline(__always) mutating func optional(_ value: UInt8?) {
        if let value { present(); uint8(value) } else { null() }
    }

    /// A duration in seconds (never negative, as stored), or NULL.
    @inline(__always) mutating func optionalSeconds(_ duration: Timestamp.Duration?) {
        if let duration {
            present()
            float64(CommittedRowFeed.seconds(max(0, duration.microseconds)))
        } else {
            null()
        }
    }
}
