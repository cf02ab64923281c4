import CPrefetch

/// Successes waiting to be final: a server that did not take the client's
/// ACK (a full accept queue) sends its SYN/ACK again at its first
/// retransmission timeout, and that flags the success `server-dropped-ack`
/// before anyone sees it.
///
/// Kept out of the flow table on purpose: every segment of a young
/// connection would find its attempt there (a slot read each). Here the
/// finished sessions wait in a ring in the order they completed, written and
/// read sequentially, and only a SYN/ACK finding no open attempt looks one
/// up, through an index by flow hash: sets of eight entries, one cache line
/// each, with room for four times the sessions waiting, so that a set
/// overflows (and its oldest entry's flag is lost, never a session) only
/// far out in the tail.
///
/// The ring holds the sessions alone, two cache lines each, and what a late
/// SYN/ACK is matched against lies in a parallel array: handing a success
/// over, once per success, reads two lines that were written a window ago
/// and are long out of the cache, so it starts loading them a few entries
/// ahead. Storage grows by doubling; steady state never allocates. Capture
/// thread only.
final class PendingSuccesses {
    /// What a re-sent SYN/ACK of the session's flow carries.
    private struct Handshake {
        var flowHash: UInt64
        var clientISN: UInt32
        var serverISN: UInt32
    }

    /// How long a success waits.
    let window: Timestamp.Duration
    private var sessions: UnsafeMutablePointer<Session>
    private var handshakes: UnsafeMutablePointer<Handshake>
    private var capacity: Int
    /// Entries ever pushed and ever popped: the ring holds `popped..<pushed`.
    private var pushed: UInt64 = 0
    private var popped: UInt64 = 0
    /// By flow hash, sets of `ways` entries: the flow's `tag`, then the low
    /// half of the sequence number of a waiting session (fewer than 2³²
    /// ever wait at once). Tag 0 marks an empty entry.
    private var index: UnsafeMutablePointer<UInt64>
    private var setMask: Int
    private static let ways = 8

    /// Starts at one huge page of sessions: backed only where written, and
    /// aligned so that a session never straddles a third line.
    init(window: Timestamp.Duration, initialCapacity: Int = TableMemory.hugePage / MemoryLayout<Session>.stride) {
        self.window = window
        var capacity = 16
        while capacity < initialCapacity { capacity <<= 1 }
        self.capacity = capacity
        sessions = TableMemory.allocate(Session.self, capacity: capacity)
        handshakes = TableMemory.allocate(Handshake.self, capacity: capacity)
        (index, setMask) = Self.makeIndex(for: capacity)
    }

    deinit {
        TableMemory.free(sessions, capacity: capacity)
        TableMemory.free(handshakes, capacity: capacity)
        TableMemory.free(index, capacity: (setMask + 1) * Self.ways)
    }

    var count: Int { Int(pushed - popped) }

    @inline(__always) private func slot(_ sequence: UInt64) -> Int { Int(truncatingIfNeeded: sequence) & (capacity - 1) }

    /// When the oldest pending success is final (a window after its ACK);
    /// nil when none waits.
    var nextDue: Timestamp? {
        guard count > 0 else { return nil }
        let session = sessions + slot(popped)
        return session.pointee.startedAt + session.pointee.duration + window
    }

    /// Packet time at which the oldest completed; nil when none waits.
    var oldestCompletion: Timestamp? {
        guard count > 0 else { return nil }
        let session = sessions + slot(popped)
        return session.pointee.startedAt + session.pointee.duration
    }

    @inline(__always) private func set(_ flowHash: UInt64) -> UnsafeMutablePointer<UInt64> {
        index + (Int(truncatingIfNeeded: flowHash) & setMask) * Self.ways
    }

    /// The flow hash's high half, never 0, in the high half of an entry.
    @inline(__always) private static func tag(_ flowHash: UInt64) -> UInt64 {
        let tag = flowHash & 0xFFFF_FFFF_0000_0000
        return tag == 0 ? 1 << 32 : tag
    }

    /// The one sequence number at or after `popped` with these low bits:
    /// waiting if below `pushed`.
    @inline(__always) private func sequence(_ entry: UInt64) -> UInt64 {
        popped + UInt64(UInt32(truncatingIfNeeded: entry) &- UInt32(truncatingIfNeeded: popped))
    }

    /// Starts loading the flow's index set, ahead of the push its ACK
    /// will likely make a round trip later.
    @inline(__always)
    func prefetch(_ flowHash: UInt64) {
        tcpeek_prefetch(UnsafeRawPointer(set(flowHash)))
    }

    /// Keeps `session` until a window after its completion.
    func push(_ session: Session, flowHash: UInt64, clientISN: UInt32, serverISN: UInt32) {
        if count == capacity { grow() }
        let slot = slot(pushed)
        sessions[slot] = session
        handshakes[slot] = Handshake(flowHash: flowHash, clientISN: clientISN, serverISN: serverISN)
        indexEntry(pushed, flowHash: flowHash)
        pushed += 1
    }

    /// Enters `sequence` in its flow's set, in an entry naming no waiting
    /// session, else in the oldest one's.
    @inline(__always)
    private func indexEntry(_ sequence: UInt64, flowHash: UInt64) {
        let set = set(flowHash)
        var chosen = 0
        var oldest = UInt64.max
        for way in 0..<Self.ways {
            let named = self.sequence(set[way])
            if set[way] >> 32 == 0 || named >= sequence {
                chosen = way
                break
            }
            if named < oldest {
                chosen = way
                oldest = named
            }
        }
        set[chosen] = Self.tag(flowHash) | UInt64(UInt32(truncatingIfNeeded: sequence))
    }

    /// A SYN/ACK (`sequence`, `acknowledgment`) of the flow with no open
    /// attempt: if it is the server's SYN/ACK of a pending success again,
    /// flags it. True if it did.
    func noteSYNACK(flowHash: UInt64, sequence: UInt32, acknowledgment: UInt32) -> Bool {
        let set = set(flowHash), tag = Self.tag(flowHash)
        for way in 0..<Self.ways where set[way] & 0xFFFF_FFFF_0000_0000 == tag {
            let candidate = self.sequence(set[way])
            guard candidate < pushed else { continue }
            let handshake = handshakes[slot(candidate)]
            guard handshake.flowHash == flowHash, handshake.serverISN == sequence,
                  handshake.clientISN &+ 1 == acknowledgment else { continue }
            let session = sessions + slot(candidate)
            session.pointee.evidence.synAckResentAfterACK = true
            session.pointee.cause.insert(.serverDroppedACK)
            return true
        }
        return false
    }

    /// Hands over the oldest pending success.
    @inline(__always)
    func popOldest(_ sink: (Session) -> Void) {
        guard count > 0 else { return }
        // Sequential, but far apart in time from the write: load ahead.
        let ahead = UnsafeRawPointer(sessions + slot(popped &+ 4))
        tcpeek_prefetch(ahead)
        tcpeek_prefetch(ahead + 64)
        let session = sessions[slot(popped)]
        popped += 1
        sink(session)
    }

    private func grow() {
        let newCapacity = capacity * 2
        let newSessions = TableMemory.allocate(Session.self, capacity: newCapacity)
        let newHandshakes = TableMemory.allocate(Handshake.self, capacity: newCapacity)
        for sequence in popped..<pushed {
            let from = slot(sequence), to = Int(truncatingIfNeeded: sequence) & (newCapacity - 1)
            newSessions[to] = sessions[from]
            newHandshakes[to] = handshakes[from]
        }
        TableMemory.free(sessions, capacity: capacity)
        TableMemory.free(handshakes, capacity: capacity)
        sessions = newSessions
        handshakes = newHandshakes
        capacity = newCapacity
        TableMemory.free(index, capacity: (setMask + 1) * Self.ways)
        (index, setMask) = Self.makeIndex(for: capacity)
        for sequence in popped..<pushed {
            indexEntry(sequence, flowHash: handshakes[slot(sequence)].flowHash)
        }
    }

    /// An index of four entries per session the ring holds, all empty.
    private static func makeIndex(for capacity: Int) -> (UnsafeMutablePointer<UInt64>, Int) {
        let sets = capacity * 4 / ways
        return (TableMemory.allocate(UInt64.self, capacity: sets * ways), sets - 1)
    }
}
