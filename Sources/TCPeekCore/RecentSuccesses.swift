import CPrefetch

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
/// A set-associative cache keyed by the flow's 64-bit hash: each flow maps
/// to one set of four entries, one cache line, so remembering a success or
/// looking up a SYN touches one line and nothing else (no probe sequence,
/// no expiry list: an entry whose time is up is simply free). When all four
/// entries of a set are still remembered, the one closest to its expiry,
/// the oldest success, is forgotten early; the table holds `limit` entries
/// (rounded up to a power of two), so that happens only near the limit.
/// Fixed size, allocated zeroed once: pages the traffic never reaches cost
/// no memory. Capture thread only.
final class RecentSuccesses {
    private struct Entry {
        /// The flow hash's high half; 0 marks an empty entry.
        var tag: UInt32
        var clientISN: UInt32
        /// Packet time in microseconds at which the entry is forgotten.
        var expires: Int64
    }

    static let ways = 4
    private var entries: UnsafeMutablePointer<Entry>
    private let setMask: Int
    /// Most successes remembered at once.
    let capacity: Int

    init(limit: Int) {
        var sets = 1
        while sets * Self.ways < max(1, limit) { sets <<= 1 }
        capacity = sets * Self.ways
        setMask = sets - 1
        entries = Self.allocateEmpty(capacity)
    }

    /// Zeroed (empty) entries whose pages are only backed once used.
    private static func allocateEmpty(_ capacity: Int) -> UnsafeMutablePointer<Entry> {
        TableMemory.allocate(Entry.self, capacity: capacity)
    }

    deinit { TableMemory.free(entries, capacity: capacity) }

    /// The key for a flow: its symmetric hash.
    @inline(__always)
    static func flow(_ key: FlowKey) -> UInt64 {
        FlowKey.symmetricHash(key.client, key.clientPort, key.server, key.serverPort, key.vlan)
    }

    @inline(__always) private static func tag(_ flow: UInt64) -> UInt32 {
        let tag = UInt32(truncatingIfNeeded: flow >> 32)
        return tag == 0 ? 1 : tag
    }

    @inline(__always) private func set(_ flow: UInt64) -> UnsafeMutablePointer<Entry> {
        entries + (Int(truncatingIfNeeded: flow) & setMask) * Self.ways
    }

    /// Starts loading the flow's set into the cache, ahead of a lookup.
    @inline(__always)
    func prefetch(_ flow: UInt64) {
        tcpeek_prefetch(UnsafeRawPointer(set(flow)))
    }

    /// The client ISN of the flow's remembered success, if any is still
    /// remembered at `now`.
    @inline(__always)
    func clientISN(of flow: UInt64, now: Timestamp) -> UInt32? {
        let set = set(flow), tag = Self.tag(flow)
        for way in 0..<Self.ways where set[way].tag == tag && set[way].expires > now.microseconds {
            return set[way].clientISN
        }
        return nil
    }

    /// Remembers a success until `expires`, replacing an earlier one of the
    /// flow, else taking a free entry, else the entry expiring first.
    func remember(flow: UInt64, clientISN: UInt32, now: Timestamp, expires: Timestamp) {
        let set = set(flow), tag = Self.tag(flow)
        var chosen = 0
        var chosenExpires = Int64.max
        for way in 0..<Self.ways {
            if set[way].tag == tag {
                chosen = way
                break
            }
            let free = set[way].tag == 0 || set[way].expires <= now.microseconds
            let expiresAt = free ? Int64.min : set[way].expires
            if expiresAt < chosenExpires {
                chosen = way
                chosenExpires = expiresAt
            }
        }
        set[chosen] = Entry(tag: tag, clientISN: clientISN, expires: expires.microseconds)
    }

    /// Forgets the flow's success, if remembered.
    func forget(flow: UInt64) {
        let set = set(flow), tag = Self.tag(flow)
        for way in 0..<Self.ways where set[way].tag == tag {
            set[way].tag = 0
        }
    }

    /// Forgets everything; gives the pages back rather than writing them.
    func removeAll() {
        TableMemory.free(entries, capacity: capacity)
        entries = Self.allocateEmpty(capacity)
    }

    /// Successes still remembered at `now` (tests and diagnostics: reads
    /// the whole table).
    func count(at now: Timestamp) -> Int {
        (0..<capacity).reduce(0) { count, index in
            count + (entries[index].tag != 0 && entries[index].expires > now.microseconds ? 1 : 0)
        }
    }
}
