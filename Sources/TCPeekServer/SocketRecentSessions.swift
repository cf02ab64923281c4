import TCPeekCore
import TCPeekStore

/// The newest closed sessions, in memory, for `WINDOW`: a ring bounded by
/// count and by age, in the order the sessions closed.
///
/// It answers for the sessions that *started* at or after `coveredFrom`:
/// every closed session of those is here (an evicted one moves
/// `coveredFrom` past its start). Older starts are the database's to count,
/// so nothing is counted twice and nothing waiting for the recorder's next
/// transaction is missed.
public struct SocketRecentSessions: Sendable {
    /// What `WINDOW` needs of a session, in 40 bytes.
    struct Entry: Sendable, BitwiseCopyable {
        var startedAt: Int64  // microseconds
        var duration: Int64  // microseconds
        var filters: UInt64
        var cause: Causes
        var dupSYN: UInt16  // clamped
        var dupSYNACK: UInt16  // clamped
        var outcome: Outcome
    }

    /// Most sessions kept.
    public let capacity: Int
    /// Sessions that closed more than this before the newest one are dropped.
    public let maximumAge: Timestamp.Duration
    /// The ring: `stored` entries from `start` on, wrapping at `capacity`
    /// (the storage grows up to it as sessions come).
    private var storage: [Entry] = []
    private var start = 0
    private var stored = 0
    /// Every closed session that started at or after this time is kept.
    public private(set) var coveredFrom = Timestamp(microseconds: .min)
    /// The latest close time seen (start plus duration).
    private var newestEnd = Int64.min

    public init(capacity: Int = 262_144, maximumAge: Timestamp.Duration = .seconds(3600)) {
        self.capacity = max(1, capacity)
        self.maximumAge = maximumAge
    }

    public var count: Int { stored }

    /// Adds a batch of closed sessions, dropping the oldest beyond the bounds.
    public mutating func append(contentsOf batch: [Session]) {
        for session in batch {
            let entry = Entry(
                startedAt: session.startedAt.microseconds, duration: session.duration.microseconds,
                filters: session.filters.rawValue, cause: session.cause, dupSYN: UInt16(clamping: session.dupSYN),
                dupSYNACK: UInt16(clamping: session.dupSYNACK), outcome: session.outcome)
            newestEnd = max(newestEnd, entry.startedAt &+ entry.duration)
            if stored == capacity { removeOldest() }
            let index = (start + stored) % capacity
            if index == storage.count { storage.append(entry) } else { storage[index] = entry }
            stored += 1
        }
        // By age: the oldest closed first, as they came.
        let oldestKept = newestEnd &- maximumAge.microseconds
        while stored > 0, storage[start].startedAt &+ storage[start].duration < oldestKept {
            removeOldest()
        }
    }

    /// Sessions were lost on their way here (a full hand-off): none of
    /// them started after `time`, so from there on the ring is complete again.
    public mutating func lostSessions(closedBy time: Timestamp) {
        coveredFrom = Timestamp.latest(coveredFrom, Timestamp(microseconds: max(time.microseconds, newestEnd) &+ 1))
    }

    private mutating func removeOldest() {
        let entry = storage[start]
        coveredFrom = Timestamp.latest(coveredFrom, Timestamp(microseconds: entry.startedAt &+ 1))
        start = (start + 1) % capacity
        stored -= 1
    }

    /// The figures of every filter (by bit index, `filterCount` of them)
    /// for the sessions that started in `[from, until)`; `from` must not be
    /// before `coveredFrom` for the answer to be complete.
    public func aggregate(filterCount: Int, from: Timestamp, until: Timestamp)
        -> [(counters: FilterCounters, handshakes: HandshakeTimes, causes: CauseCounts)] {
        var result = Array(repeating: (counters: FilterCounters(), handshakes: HandshakeTimes(), causes: CauseCounts()),
                           count: filterCount)
        for offset in 0..<stored {
            let entry = storage[(start + offset) % capacity]
            guard entry.startedAt >= from.microseconds, entry.startedAt < until.microseconds else { continue }
            let session = Session(
                client: .zero, server: .zero, clientPort: 0, serverPort: 0,
                startedAt: Timestamp(microseconds: entry.startedAt),
                duration: Timestamp.Duration(microseconds: entry.duration), outcome: entry.outcome,
                dupSYN: UInt32(entry.dupSYN), dupSYNACK: UInt32(entry.dupSYNACK))
            for index in FilterMask(rawValue: entry.filters) where index < filterCount {
                result[index].counters.record(session)
                result[index].causes.add(entry.outcome, entry.cause)
                if entry.outcome == .success { result[index].handshakes.add(session.duration) }
            }
        }
        return result
    }
}
