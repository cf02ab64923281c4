/// Successful attempts, remembered for `--timeout` after their success so
/// that a late copy of their SYN opens nothing (SPEC §1: mirrored traffic
/// shows packets twice).
///
/// Kept apart from the table of open attempts on purpose: only opening SYNs
/// consult it, so every other packet of an established connection misses in
/// the open-attempt table, which stays small enough for the cache, instead
/// of finding a remembered entry in a table holding every connection of the
/// last minute.
///
/// Open addressing keyed by a 64-bit flow hash, plus a FIFO ring in success
/// order for expiry. Steady state does not allocate. Capture thread only.
final class RecentSuccesses {
    private struct Entry {
        /// The flow's hash; 0 marks an empty bucket.
        var flow: UInt64
        var expires: Int64
        var clientISN: UInt32
    }

    private struct Expiry {
        var flow: UInt64
        var expires: Int64
    }

    private var buckets: UnsafeMutablePointer<Entry>
    private var bucketMask: Int
    private var ring: UnsafeMutablePointer<Expiry>
    private var ringCapacity: Int
    private var ringHead = 0
    private var ringCount = 0
    /// The expiry of the ring's oldest entry, kept here because the ring's
    /// head is cold in the cache and expiry is checked on every packet.
    private var headExpires: Int64 = .max
    /// Most successes remembered; beyond it the oldest is forgotten early.
    let limit: Int
    private(set) var count = 0

    /// A cache-sized pre-check: two bitmaps of flow hashes, each covering a
    /// generation at least as long as an entry lives, so every remembered
    /// flow has its bit set in one of them. Most opening SYNs are not late
    /// duplicates and skip the (cache-missing) lookup.
    private var generations: (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>)
    private static let bitmapWords = 1 << 17  // 2^23 bits, 1 MiB each
    private var generationStart: Int64 = .min

    init(limit: Int, initialCapacity: Int = 1024) {
        self.limit = max(1, limit)
        ringCapacity = Self.powerOfTwo(atLeast: min(self.limit, max(16, initialCapacity)))
        ring = .allocate(capacity: ringCapacity)
        let bucketCount = ringCapacity * 2
        buckets = .allocate(capacity: bucketCount)
        buckets.initialize(repeating: Entry(flow: 0, expires: 0, clientISN: 0), count: bucketCount)
        bucketMask = bucketCount - 1
        generations = (.allocate(capacity: Self.bitmapWords), .allocate(capacity: Self.bitmapWords))
        generations.0.initialize(repeating: 0, count: Self.bitmapWords)
        generations.1.initialize(repeating: 0, count: Self.bitmapWords)
    }

    deinit {
        buckets.deallocate()
        ring.deallocate()
        generations.0.deallocate()
        generations.1.deallocate()
    }

    @inline(__always) private static func bit(_ flow: UInt64) -> (word: Int, mask: UInt64) {
        let index = Int(truncatingIfNeeded: flow >> 40) & (bitmapWords * 64 - 1)
        return (index >> 6, 1 << UInt64(index & 63))
    }

    /// False only when the flow has no remembered success.
    @inline(__always)
    func mayContain(_ flow: UInt64) -> Bool {
        let (word, mask) = Self.bit(flow)
        return (generations.0[word] | generations.1[word]) & mask != 0
    }

    /// Starts a new generation when the current one has lasted `lifetime`:
    /// the older bitmap is cleared and becomes the current one.
    private func rotate(now: Int64, lifetime: Int64) {
        if generationStart == .min { generationStart = now }
        guard now - generationStart >= lifetime else { return }
        generations = (generations.1, generations.0)
        generations.0.update(repeating: 0, count: Self.bitmapWords)
        generationStart = now
    }

    private static func powerOfTwo(atLeast value: Int) -> Int {
        var n = 16
        while n < value { n <<= 1 }
        return n
    }

    /// The key for a flow: its symmetric hash, never 0.
    @inline(__always)
    static func flow(_ key: FlowKey) -> UInt64 {
        let hash = FlowKey.symmetricHash(key.client, key.clientPort, key.server, key.serverPort, key.vlan)
        return hash == 0 ? 1 : hash
    }

    /// The client ISN of the flow's remembered success, if any is still
    /// remembered at `now`.
    @inline(__always)
    func clientISN(of flow: UInt64, now: Timestamp) -> UInt32? {
        var bucket = Int(truncatingIfNeeded: flow) & bucketMask
        while true {
            let entry = buckets[bucket]
            if entry.flow == 0 { return nil }
            if entry.flow == flow { return entry.expires > now.microseconds ? entry.clientISN : nil }
            bucket = (bucket + 1) & bucketMask
        }
    }

    /// Remembers a success from `now` until `expires` (replacing an earlier
    /// one of the flow).
    func remember(flow: UInt64, clientISN: UInt32, now: Timestamp, expires: Timestamp) {
        rotate(now: now.microseconds, lifetime: max(1, expires.microseconds - now.microseconds))
        let (word, mask) = Self.bit(flow)
        generations.0[word] |= mask
        forget(flow: flow)
        while count >= limit, ringCount > 0 { dropOldest() }
        if ringCount == ringCapacity {
            // Stale entries (flows forgotten early) stay in the ring until
            // their time; twice the limit bounds them.
            if ringCapacity < limit * 2 { growRing() } else { dropOldest() }
        }
        ring[(ringHead + ringCount) & (ringCapacity - 1)] = Expiry(flow: flow, expires: expires.microseconds)
        if ringCount == 0 { headExpires = expires.microseconds }
        ringCount += 1
        if (count + 1) * 2 > bucketMask + 1 { growBuckets() }
        var bucket = Int(truncatingIfNeeded: flow) & bucketMask
        while buckets[bucket].flow != 0 { bucket = (bucket + 1) & bucketMask }
        buckets[bucket] = Entry(flow: flow, expires: expires.microseconds, clientISN: clientISN)
        count += 1
    }

    /// Forgets the flow's success, if remembered.
    func forget(flow: UInt64) {
        var bucket = Int(truncatingIfNeeded: flow) & bucketMask
        while true {
            let entry = buckets[bucket]
            if entry.flow == 0 { return }
            if entry.flow == flow {
                removeBucket(bucket)
                return
            }
            bucket = (bucket + 1) & bucketMask
        }
    }

    /// Forgets every success whose time is up. O(1) per expired entry.
    func expire(now: Timestamp) {
        while headExpires <= now.microseconds {
            dropOldest()
        }
    }

    func removeAll() {
        buckets.update(repeating: Entry(flow: 0, expires: 0, clientISN: 0), count: bucketMask + 1)
        generations.0.update(repeating: 0, count: Self.bitmapWords)
        generations.1.update(repeating: 0, count: Self.bitmapWords)
        ringHead = 0
        ringCount = 0
        headExpires = .max
        count = 0
    }

    /// Pops the ring's oldest entry and forgets its success unless the flow
    /// was remembered again since (then the bucket holds a later expiry).
    private func dropOldest() {
        let oldest = ring[ringHead]
        ringHead = (ringHead + 1) & (ringCapacity - 1)
        ringCount -= 1
        headExpires = ringCount > 0 ? ring[ringHead].expires : .max
        var bucket = Int(truncatingIfNeeded: oldest.flow) & bucketMask
        while true {
            let entry = buckets[bucket]
            if entry.flow == 0 { return }
            if entry.flow == oldest.flow {
                if entry.expires == oldest.expires { removeBucket(bucket) }
                return
            }
            bucket = (bucket + 1) & bucketMask
        }
    }

    /// Backward-shift deletion, as in `AttemptTable`.
    private func removeBucket(_ index: Int) {
        var hole = index
        var next = (hole + 1) & bucketMask
        while buckets[next].flow != 0 {
            let home = Int(truncatingIfNeeded: buckets[next].flow) & bucketMask
            let homeInRange = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next)
            if !homeInRange {
                buckets[hole] = buckets[next]
                hole = next
            }
            next = (next + 1) & bucketMask
        }
        buckets[hole] = Entry(flow: 0, expires: 0, clientISN: 0)
        count -= 1
    }

    private func growRing() {
        let newCapacity = ringCapacity * 2
        let newRing = UnsafeMutablePointer<Expiry>.allocate(capacity: newCapacity)
        for index in 0..<ringCount {
            newRing[index] = ring[(ringHead + index) & (ringCapacity - 1)]
        }
        ring.deallocate()
        ring = newRing
        ringCapacity = newCapacity
        ringHead = 0
    }

    private func growBuckets() {
        let oldBuckets = buckets, oldCount = bucketMask + 1
        let newCount = oldCount * 2
        buckets = .allocate(capacity: newCount)
        buckets.initialize(repeating: Entry(flow: 0, expires: 0, clientISN: 0), count: newCount)
        bucketMask = newCount - 1
        for index in 0..<oldCount where oldBuckets[index].flow != 0 {
            let entry = oldBuckets[index]
            var bucket = Int(truncatingIfNeeded: entry.flow) & bucketMask
            while buckets[bucket].flow != 0 { bucket = (bucket + 1) & bucketMask }
            buckets[bucket] = entry
        }
        oldBuckets.deallocate()
    }
}
