import CPrefetch

/// The 4-tuple (and VLAN stack) of one attempt, oriented client → server.
public struct FlowKey: Hashable, Sendable, BitwiseCopyable {
    public var client: IPAddress
    public var server: IPAddress
    // The ports last: the key's size is then 44 bytes, and the slot's
    // next 4-byte field fills what would be padding before `vlan`.
    public var vlan: VLANPath
    public var clientPort: UInt16
    public var serverPort: UInt16

    public init(client: IPAddress, server: IPAddress, clientPort: UInt16, serverPort: UInt16, vlan: VLANPath) {
        self.client = client
        self.server = server
        self.clientPort = clientPort
        self.serverPort = serverPort
        self.vlan = vlan
    }

    /// A hash that is the same from either direction, so that one probe
    /// sequence finds an attempt whichever side sent the segment.
    @inlinable
    static func symmetricHash(_ a: IPAddress, _ aPort: UInt16, _ b: IPAddress, _ bPort: UInt16, _ vlan: VLANPath) -> UInt64 {
        @inline(__always) func mix(_ x: UInt64) -> UInt64 {
            // splitmix64's finaliser: cheap and spreads low-entropy input.
            var z = x &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        // Odd multipliers keep distinct endpoints distinct (the address's low
        // half and the port do not overlap for IPv4); the one full mix of
        // their sum, which is what makes the hash symmetric, spreads them.
        @inline(__always) func endpoint(_ address: IPAddress, _ port: UInt16) -> UInt64 {
            (address.high &* 0xC2B2_AE3D_27D4_EB4F) ^ ((address.low ^ (UInt64(port) << 48)) &* 0x9E37_79B9_7F4A_7C15)
        }
        return mix((endpoint(a, aPort) &+ endpoint(b, bPort)) ^ vlan.rawValue)
    }
}

/// One entry of the flow table: an attempt, open or settling, with the
/// table's own bookkeeping beside its handshake.
///
/// Two cache lines (128 bytes, a test pins it), so that a slot of a table
/// whose storage is aligned (as `TableMemory` maps large ones) never
/// touches a third line, and `prefetchAttempt`, which loads the first and
/// the last byte, loads all of it. The fields are declared in the order
/// that leaves no padding between them.
struct Attempt {
    var key: FlowKey
    /// The flow hash's low half, set by the table.
    var hash: UInt32 = 0
    /// The tracker's clock when a segment of this attempt was last seen, or
    /// when its failure began settling; the table's lists are ordered by it.
    var lastSeen: Timestamp
    var filters: FilterMask
    /// Links of the list the table keeps the attempt on (slot indices, -1
    /// for none), and which list that is: the settling failures' or the
    /// open attempts'.
    var previous: Int32 = -1
    var next: Int32 = -1
    var handshake: HandshakeMachine
    var direction: Direction?
    var isSettling = false

    init(key: FlowKey, lastSeen: Timestamp, filters: FilterMask, handshake: HandshakeMachine,
         direction: Direction?) {
        self.key = key
        self.lastSeen = lastSeen
        self.filters = filters
        self.handshake = handshake
        self.direction = direction
    }

    /// Packet time of the first SYN.
    var startedAt: Timestamp { handshake.openedAt }
}

/// Who sent the ICMP error deciding a settling `unreach`, and from how far:
/// kept beside the slots rather than in them (16 bytes the slot has no room
/// for, needed only by the rare attempt an ICMP error decides).
struct UnreachableSource {
    var sender: IPAddress
    var hopLimit: UInt8
}

/// An open-addressing hash table of attempts with two intrusive lists, open
/// attempts ordered by last activity and settling failures ordered by the
/// time they were decided, giving O(1) lookup, insertion, removal, expiry
/// and eviction of the oldest. Storage grows by doubling and is reused through a
/// free list, so steady-state operation never allocates.
///
/// Capture thread only: not thread-safe.
final class AttemptTable {
    private var slots: UnsafeMutablePointer<Attempt>
    /// Parallel to `slots`: valid only for an attempt an ICMP error decided.
    private var unreachableSources: UnsafeMutablePointer<UnreachableSource>
    private var slotCapacity: Int
    /// Slots below this index have been used at least once.
    private var highWater = 0
    private var freeHead: Int32 = -1
    /// Each bucket holds an entry's 32-bit hash (high half) and slot (low
    /// half), or `emptyBucket`. Keeping the hash here lets a probe skip
    /// non-matching entries without touching their slots (a cache miss each).
    private var buckets: UnsafeMutablePointer<UInt64>
    private var bucketMask: Int
    /// Open and settling attempts.
    private(set) var count = 0
    /// Open attempts, oldest and newest by last activity.
    private var open = SlotList()
    /// Settling attempts (a failure not final yet), oldest and newest by the time
    /// they were decided: with one settling window for all, oldest settles first.
    private var settling = SlotList()
    private(set) var settlingCount = 0

    /// The open attempt with the oldest activity; -1 when none.
    var oldest: Int32 { open.oldest }
    /// The attempt decided longest ago that is still settling; -1 when none.
    var oldestSettling: Int32 { settling.oldest }

    /// The two ends of an intrusive list threaded through the slots'
    /// `previous` and `next`: a slot is on one list at a time.
    private struct SlotList {
        var oldest: Int32 = -1
        var newest: Int32 = -1
    }

    private static let emptyBucket = UInt64.max

    init(initialCapacity: Int = 1024) {
        slotCapacity = max(16, initialCapacity)
        slots = TableMemory.allocate(Attempt.self, capacity: slotCapacity)
        unreachableSources = TableMemory.allocate(UnreachableSource.self, capacity: slotCapacity)
        let bucketCount = Self.bucketCount(for: slotCapacity)
        buckets = TableMemory.allocate(UInt64.self, capacity: bucketCount)
        buckets.initialize(repeating: Self.emptyBucket, count: bucketCount)
        bucketMask = bucketCount - 1
    }

    deinit {
        TableMemory.free(slots, capacity: slotCapacity)
        TableMemory.free(unreachableSources, capacity: slotCapacity)
        TableMemory.free(buckets, capacity: bucketMask + 1)
    }

    /// Who sent the ICMP error that decided the attempt in `slot`.
    subscript(unreachableSourceOf slot: Int32) -> UnreachableSource {
        get { unreachableSources[Int(slot)] }
        set { unreachableSources[Int(slot)] = newValue }
    }

    private static func bucketCount(for slots: Int) -> Int {
        var n = 16
        while n < slots * 2 { n <<= 1 }
        return n
    }

    @inline(__always) private static func entry(hash: UInt32, slot: Int32) -> UInt64 {
        UInt64(hash) << 32 | UInt64(UInt32(bitPattern: slot))
    }

    @inline(__always) private static func slot(of entry: UInt64) -> Int32 {
        Int32(bitPattern: UInt32(truncatingIfNeeded: entry))
    }

    @inline(__always) private static func hash(of entry: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: entry >> 32)
    }

    @inline(__always) subscript(slot: Int32) -> Attempt {
        get { slots[Int(slot)] }
        _modify { yield &slots[Int(slot)] }
    }

    /// Finds the attempt for a segment from either side.
    @inline(__always)
    func find(_ a: IPAddress, _ aPort: UInt16, _ b: IPAddress, _ bPort: UInt16, vlan: VLANPath) -> Int32? {
        find(a, aPort, b, bPort, vlan: vlan, flowHash: FlowKey.symmetricHash(a, aPort, b, bPort, vlan))
    }

    /// `find` with the flow's `FlowKey.symmetricHash` already computed.
    @inline(__always)
    func find(_ a: IPAddress, _ aPort: UInt16, _ b: IPAddress, _ bPort: UInt16, vlan: VLANPath,
              flowHash: UInt64) -> Int32? {
        let hash = UInt32(truncatingIfNeeded: flowHash)
        var bucket = Int(hash) & bucketMask
        while true {
            let entry = buckets[bucket]
            if entry == Self.emptyBucket { return nil }
            if Self.hash(of: entry) == hash {
                let slot = Self.slot(of: entry)
                let key = slots[Int(slot)].key
                if key.vlan == vlan,
                   (key.client == a && key.clientPort == aPort && key.server == b && key.serverPort == bPort)
                    || (key.client == b && key.clientPort == bPort && key.server == a && key.serverPort == aPort) {
                    return slot
                }
            }
            bucket = (bucket + 1) & bucketMask
        }
    }

    /// Starts loading the bucket a flow's probe begins at.
    @inline(__always)
    func prefetchBucket(flowHash: UInt64) {
        tcpeek_prefetch(buckets + (Int(truncatingIfNeeded: flowHash) & bucketMask))
    }

    /// Starts loading the attempt a flow's bucket points at, if the first
    /// buckets of its probe (loaded by an earlier `prefetchBucket`) name one
    /// with the flow's hash. A hint: a stale or colliding entry costs a line.
    @inline(__always)
    func prefetchAttempt(flowHash: UInt64) {
        let hash = UInt32(truncatingIfNeeded: flowHash)
        var bucket = Int(hash) & bucketMask
        for _ in 0..<4 {
            let entry = buckets[bucket]
            if entry == Self.emptyBucket { return }
            if Self.hash(of: entry) == hash {
                let attempt = UnsafeRawPointer(slots + Int(Self.slot(of: entry)))
                tcpeek_prefetch(attempt)
                tcpeek_prefetch(attempt + (MemoryLayout<Attempt>.stride - 1))
                return
            }
            bucket = (bucket + 1) & bucketMask
        }
    }

    /// Inserts a new attempt as the newest; the caller has checked it is absent.
    func insert(_ attempt: Attempt) -> Int32 {
        let key = attempt.key
        return insert(flowHash: FlowKey.symmetricHash(key.client, key.clientPort, key.server, key.serverPort, key.vlan),
                      attempt)
    }

    /// `insert` with the key's `FlowKey.symmetricHash` already computed.
    func insert(flowHash: UInt64, _ attempt: Attempt) -> Int32 {
        var attempt = attempt
        attempt.hash = UInt32(truncatingIfNeeded: flowHash)
        attempt.isSettling = false
        let slot = takeFreeSlot()
        (slots + Int(slot)).initialize(to: attempt)
        append(slot, to: &open)
        var bucket = Int(attempt.hash) & bucketMask
        while buckets[bucket] != Self.emptyBucket { bucket = (bucket + 1) & bucketMask }
        buckets[bucket] = Self.entry(hash: attempt.hash, slot: slot)
        count += 1
        return slot
    }

    /// Moves an attempt to the newest end of the expiry list.
    @inline(__always)
    func touch(_ slot: Int32, at time: Timestamp) {
        slots[Int(slot)].lastSeen = time
        guard slot != open.newest else { return }
        unlink(slot, from: &open)
        append(slot, to: &open)
    }

    /// Moves an open attempt to the settling list; `time` (the tracker's
    /// clock) starts its settling window.
    func beginSettling(_ slot: Int32, at time: Timestamp) {
        unlink(slot, from: &open)
        slots[Int(slot)].isSettling = true
        slots[Int(slot)].lastSeen = time
        append(slot, to: &settling)
        settlingCount += 1
    }

    /// Moves a settling attempt back to the open attempts, as the newest.
    func reopen(_ slot: Int32, at time: Timestamp) {
        unlink(slot, from: &settling)
        settlingCount -= 1
        slots[Int(slot)].isSettling = false
        slots[Int(slot)].lastSeen = time
        append(slot, to: &open)
    }

    func remove(_ slot: Int32) {
        if !slots[Int(slot)].isSettling {
            unlink(slot, from: &open)
        } else {
            unlink(slot, from: &settling)
            settlingCount -= 1
        }
        // Backward-shift deletion keeps every probe sequence unbroken; the
        // hashes in the buckets give each entry's home without its slot.
        let target = Self.entry(hash: slots[Int(slot)].hash, slot: slot)
        var hole = Int(slots[Int(slot)].hash) & bucketMask
        while buckets[hole] != target { hole = (hole + 1) & bucketMask }
        var next = (hole + 1) & bucketMask
        while true {
            let candidate = buckets[next]
            if candidate == Self.emptyBucket { break }
            let home = Int(Self.hash(of: candidate)) & bucketMask
            // Move the candidate into the hole unless its home lies
            // cyclically in (hole, next].
            let homeInRange = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next)
            if !homeInRange {
                buckets[hole] = candidate
                hole = next
            }
            next = (next + 1) & bucketMask
        }
        buckets[hole] = Self.emptyBucket
        slots[Int(slot)].next = freeHead
        freeHead = slot
        count -= 1
    }

    @inline(__always)
    private func unlink(_ slot: Int32, from list: inout SlotList) {
        let previous = slots[Int(slot)].previous, next = slots[Int(slot)].next
        if previous >= 0 { slots[Int(previous)].next = next } else { list.oldest = next }
        if next >= 0 { slots[Int(next)].previous = previous } else { list.newest = previous }
    }

    @inline(__always)
    private func append(_ slot: Int32, to list: inout SlotList) {
        slots[Int(slot)].previous = list.newest
        slots[Int(slot)].next = -1
        if list.newest >= 0 { slots[Int(list.newest)].next = slot } else { list.oldest = slot }
        list.newest = slot
    }

    private func takeFreeSlot() -> Int32 {
        if freeHead >= 0 {
            let slot = freeHead
            freeHead = slots[Int(slot)].next
            return slot
        }
        if highWater == slotCapacity { grow() }
        highWater += 1
        return Int32(highWater - 1)
    }

    /// Doubles the storage (rare: amortised, never in steady state).
    private func grow() {
        let newCapacity = slotCapacity * 2
        let newSlots = TableMemory.allocate(Attempt.self, capacity: newCapacity)
        newSlots.moveInitialize(from: slots, count: highWater)
        TableMemory.free(slots, capacity: slotCapacity)
        slots = newSlots
        let newSources = TableMemory.allocate(UnreachableSource.self, capacity: newCapacity)
        newSources.moveInitialize(from: unreachableSources, count: highWater)
        TableMemory.free(unreachableSources, capacity: slotCapacity)
        unreachableSources = newSources
        slotCapacity = newCapacity
        // Re-bucket from the old buckets, sequentially: no slot is touched.
        let oldBuckets = buckets, oldCount = bucketMask + 1
        let bucketCount = Self.bucketCount(for: newCapacity)
        buckets = TableMemory.allocate(UInt64.self, capacity: bucketCount)
        buckets.initialize(repeating: Self.emptyBucket, count: bucketCount)
        bucketMask = bucketCount - 1
        for index in 0..<oldCount where oldBuckets[index] != Self.emptyBucket {
            let entry = oldBuckets[index]
            var bucket = Int(Self.hash(of: entry)) & bucketMask
            while buckets[bucket] != Self.emptyBucket { bucket = (bucket + 1) & bucketMask }
            buckets[bucket] = entry
        }
        TableMemory.free(oldBuckets, capacity: oldCount)
    }

    /// Forgets every entry at once (the end of a capture).
    func removeAll() {
        buckets.update(repeating: Self.emptyBucket, count: bucketMask + 1)
        highWater = 0
        freeHead = -1
        count = 0
        settlingCount = 0
        open = SlotList()
        settling = SlotList()
    }

    /// Every open slot from oldest to newest (tests and diagnostics; allocates).
    func slotsOldestFirst() -> [Int32] {
        var result: [Int32] = []
        result.reserveCapacity(count)
        var slot = open.oldest
        while slot >= 0 {
            result.append(slot)
            slot = slots[Int(slot)].next
        }
        return result
    }
}
