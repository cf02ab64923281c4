/// Successes waiting to be final: a server that did not take the client's
/// ACK (a full accept queue) sends its SYN/ACK again at its first
/// retransmission timeout, and that flags the success `server-dropped-ack`
/// before anyone sees it.
///
/// Kept out of the flow table on purpose: every segment of a young
/// connection would find its attempt there (a slot read each). Here the
/// finished sessions wait in a ring in the order they completed, written and
/// read sequentially, and only a SYN/ACK finding no open attempt looks one
/// up, through a direct-mapped index by flow hash (a collision loses a flag,
/// never a session). Storage grows by doubling; steady state never
/// allocates. Capture thread only.
final class PendingSuccesses {
    private struct Entry {
        var session: Session
        var flowHash: UInt64
        /// When the success is final.
        var due: Timestamp
        var clientISN: UInt32
        var serverISN: UInt32
    }

    private var ring: UnsafeMutablePointer<Entry>
    private var capacity: Int
    /// Entries ever pushed and ever popped: the ring holds `popped..<pushed`.
    private var pushed: UInt64 = 0
    private var popped: UInt64 = 0
    /// By flow hash, the sequence number of the flow's latest entry.
    private var index: UnsafeMutablePointer<UInt64>
    private var indexMask: Int

    init(initialCapacity: Int = 1024) {
        capacity = max(16, initialCapacity)
        ring = TableMemory.allocate(Entry.self, capacity: capacity)
        (index, indexMask) = Self.makeIndex(for: capacity)
    }

    deinit {
        TableMemory.free(ring, capacity: capacity)
        TableMemory.free(index, capacity: indexMask + 1)
    }

    var count: Int { Int(pushed - popped) }

    /// When the oldest pending success is final; nil when none waits.
    var nextDue: Timestamp? { count > 0 ? ring[Int(popped) & (capacity - 1)].due : nil }

    /// Packet time at which the oldest completed; nil when none waits.
    var oldestCompletion: Timestamp? {
        guard count > 0 else { return nil }
        let session = ring[Int(popped) & (capacity - 1)].session
        return session.startedAt + session.duration
    }

    /// Keeps `session` until `due`.
    func push(_ session: Session, flowHash: UInt64, clientISN: UInt32, serverISN: UInt32, due: Timestamp) {
        if count == capacity { grow() }
        ring[Int(pushed) & (capacity - 1)] = Entry(session: session, flowHash: flowHash, due: due,
                                                   clientISN: clientISN, serverISN: serverISN)
        index[Int(truncatingIfNeeded: flowHash) & indexMask] = pushed
        pushed += 1
    }

    /// A SYN/ACK (`sequence`, `acknowledgment`) of the flow with no open
    /// attempt: if it is the server's SYN/ACK of a pending success again,
    /// flags it. True if it did.
    func noteSYNACK(flowHash: UInt64, sequence: UInt32, acknowledgment: UInt32) -> Bool {
        let sequenceNumber = index[Int(truncatingIfNeeded: flowHash) & indexMask]
        guard sequenceNumber >= popped, sequenceNumber < pushed else { return false }
        let entry = ring + (Int(sequenceNumber) & (capacity - 1))
        guard entry.pointee.flowHash == flowHash, entry.pointee.serverISN == sequence,
              entry.pointee.clientISN &+ 1 == acknowledgment else { return false }
        entry.pointee.session.evidence.synAckResentAfterACK = true
        entry.pointee.session.cause.insert(.serverDroppedACK)
        return true
    }

    /// Hands over the oldest pending success.
    func popOldest(_ sink: (Session) -> Void) {
        guard count > 0 else { return }
        let session = ring[Int(popped) & (capacity - 1)].session
        popped += 1
        sink(session)
    }

    /// Hands over every success final at `now`, oldest first.
    func popDue(at now: Timestamp, _ sink: (Session) -> Void) {
        while let due = nextDue, due <= now { popOldest(sink) }
    }

    private func grow() {
        let newCapacity = capacity * 2
        let newRing = TableMemory.allocate(Entry.self, capacity: newCapacity)
        for sequence in popped..<pushed {
            newRing[Int(sequence) & (newCapacity - 1)] = ring[Int(sequence) & (capacity - 1)]
        }
        TableMemory.free(ring, capacity: capacity)
        ring = newRing
        capacity = newCapacity
        TableMemory.free(index, capacity: indexMask + 1)
        (index, indexMask) = Self.makeIndex(for: capacity)
        for sequence in popped..<pushed {
            index[Int(truncatingIfNeeded: ring[Int(sequence) & (capacity - 1)].flowHash) & indexMask] = sequence
        }
    }

    /// An index of twice the ring's entries, each naming none yet: `.max`
    /// is never a pending sequence number.
    private static func makeIndex(for capacity: Int) -> (UnsafeMutablePointer<UInt64>, Int) {
        let size = capacity * 2
        let index = TableMemory.allocate(UInt64.self, capacity: size)
        index.initialize(repeating: .max, count: size)
        return (index, size - 1)
    }
}
