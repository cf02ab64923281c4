import NIOCore
import TCPeekCore
import TCPeekStore

/// Makes batches from sessions the recorder has just committed
/// (`CommittedSessionFeed`), the same bytes `SessionBatchReader` makes
/// from their rows in the database: each column as `SessionInserts`
/// stores it (a test holds the two to the same bytes). A stretch the feed
/// does not hold is read from the database instead.
final class CommittedBatchEncoder: @unchecked Sendable {
    private let context: FleetRowContext
    private let feed: CommittedSessionFeed
    /// RowBinary strings of each single cause (by bit) and of each outcome
    /// (by raw value); a combination of causes is spelled out per row.
    private let causeWords: [[UInt8]] = Cause.allCases.map { RowBinaryWriter.encoded($0.description) }
    private let outcomeCodes: [Int8] = Outcome.allCases.map { outcome in
        FleetRowContext.outcomeCodes.first { $0.word == Array(outcome.description.utf8) }?.code ?? 0
    }
    private let directionWords: [Direction: [UInt8]] = Dictionary(
        uniqueKeysWithValues: Direction.allCases.map { ($0, RowBinaryWriter.encoded($0.rawValue)) })

    init(context: FleetRowContext, feed: CommittedSessionFeed) {
        self.context = context
        self.feed = feed
    }

    /// Up to `limit` sessions after `cursor`, all of one UTC day, if the
    /// feed holds the session after `cursor`; nil otherwise.
    func batch(after cursor: Int64, limit: Int) throws -> SessionBatch? {
        let stretches = feed.take(after: cursor, limit: limit)
        guard let first = stretches.first, let firstSession = first.sessions.first else { return nil }
        let day = SessionBatch.day(ofStart: Self.seconds(firstSession.startedAt.microseconds))
        let total = stretches.reduce(0) { $0 + $1.sessions.count }
        var buffer = context.buffer(capacity: total * 160)
        var count = 0
        var lastID = cursor
        var namesRun: Int64 = -1
        var names: [Int: [UInt8]] = [:]
        outer: for stretch in stretches {
            if stretch.runID != namesRun {
                namesRun = stretch.runID
                names = try context.database.read { db in try context.names(ofRun: stretch.runID, in: db) }
            }
            let filterBits: UInt64 = names.count >= 64 ? .max : (1 << UInt64(names.count)) - 1
            var id = stretch.firstID
            for session in stretch.sessions {
                let started = Self.seconds(session.startedAt.microseconds)
                guard SessionBatch.day(ofStart: started) == day else { break outer }
                encode(session, id: id, runID: stretch.runID, started: started,
                       bits: session.filters.rawValue & filterBits, names: names, into: &buffer)
                lastID = id
                id += 1
                count += 1
            }
        }
        return SessionBatch(rows: buffer, count: count, firstID: cursor + 1, lastID: lastID, day: day)
    }

    /// Seconds as the database stores a time (`SessionInserts`).
    @inline(__always) static func seconds(_ microseconds: Int64) -> Double {
        Double(microseconds) / 1_000_000
    }

    private func encode(_ session: Session, id: Int64, runID: Int64, started: Double, bits: UInt64,
                        names: [Int: [UInt8]], into buffer: inout ByteBuffer) {
        let evidence = session.evidence
        let vlan = session.vlan == .none ? nil : session.vlan.ids.map(String.init).joined(separator: ".")
        let cause: [UInt8]? = session.cause.isEmpty ? nil
            : session.cause.rawValue.nonzeroBitCount == 1 && session.cause.rawValue.trailingZeroBitCount < causeWords.count
            ? causeWords[session.cause.rawValue.trailingZeroBitCount] : RowBinaryWriter.encoded(session.cause.description)
        let capacity = context.prefix.count + 3 * IPAddress.maximumTextLength + (vlan?.utf8.count ?? 0) + (cause?.count ?? 0)
            + FleetRowContext.filtersBytes(bits, names: names) + SessionBatch.fixedBytesPerRow
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { raw in
            var out = RowBinaryWriter(base: raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
            out.raw(context.prefix)
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
            if var vlan {
                out.present()
                vlan.withUTF8 { out.string($0) }
            } else {
                out.null()
            }
            if let direction = session.direction, let word = directionWords[direction] {
                out.present()
                out.raw(word)
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
            FleetRowContext.writeFilters(bits, names: names, into: &out)
            if let cause { out.present(); out.raw(cause) } else { out.null() }
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
            return out.count
        }
    }
}

/// Writing tcpeek's values as the database stores them.
extension RowBinaryWriter {
    /// An address's text (`IPAddress.writeText`, as `sessions` holds it).
    @inline(__always) mutating func address(_ address: IPAddress) {
        // The text goes one byte past the length byte, which is written after.
        let lengthAt = count
        count += 1
        let written = address.writeText(into: UnsafeMutableBufferPointer(start: base + count, count: IPAddress.maximumTextLength))
        base[lengthAt] = UInt8(written)
        count += written
    }

    @inline(__always) mutating func optional(_ value: UInt8?) {
        if let value { present(); uint8(value) } else { null() }
    }

    /// A duration in seconds (never negative, as stored), or NULL.
    @inline(__always) mutating func optionalSeconds(_ duration: Timestamp.Duration?) {
        if let duration {
            present()
            float64(CommittedBatchEncoder.seconds(max(0, duration.microseconds)))
        } else {
            null()
        }
    }
}
