import Testing
@testable import TCPeekCore

// The tracker's flow table: open addressing with linear probing and
// backward-shift deletion, plus an intrusive list ordered by last activity.

// MARK: - Helpers

/// SplitMix64: a deterministic generator, so a failure always reproduces.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Key number `n`: clients in 198.51.100.0/24, servers in 203.0.113.0/24,
/// or the same shape in 2001:db8::/32; a few VLANs.
private func key(_ n: Int, v6: Bool = false) -> FlowKey {
    let client: IPAddress, server: IPAddress
    if v6 {
        client = IPAddress(high: 0x2001_0DB8_0000_0000, low: UInt64(n + 1))
        server = IPAddress(high: 0x2001_0DB8_0001_0000, low: UInt64(n % 3 + 1))
    } else {
        client = IPAddress(ipv4: 0xC633_6400 | UInt32(n % 200 + 1))  // 198.51.100.x
        server = IPAddress(ipv4: 0xCB00_7100 | UInt32(n % 5 + 1))  // 203.0.113.x
    }
    var vlan = VLANPath.none
    if n % 11 == 0 { vlan.push(UInt16(n % 4 + 1)) }
    return FlowKey(client: client, server: server, clientPort: UInt16(1_024 + n / 200),
                   serverPort: UInt16(80 + n % 2), vlan: vlan)
}

private func attempt(_ key: FlowKey, at time: Int64 = 0) -> Attempt {
    Attempt(key: key, lastSeen: Timestamp(microseconds: time),
            filters: FilterMask(rawValue: 1),
            handshake: HandshakeMachine(clientISN: UInt32(truncatingIfNeeded: time), synPayload: 0,
                                        openedAt: Timestamp(microseconds: time)), direction: nil)
}

/// The bucket a key hashes to in a table of `buckets` buckets.
private func home(_ key: FlowKey, buckets: Int) -> Int {
    let hash = UInt32(truncatingIfNeeded: FlowKey.symmetricHash(
        key.client, key.clientPort, key.server, key.serverPort, key.vlan))
    return Int(hash) & (buckets - 1)
}

private func findForward(_ table: AttemptTable, _ key: FlowKey) -> Int32? {
    table.find(key.client, key.clientPort, key.server, key.serverPort, vlan: key.vlan)
}

private func findBackward(_ table: AttemptTable, _ key: FlowKey) -> Int32? {
    table.find(key.server, key.serverPort, key.client, key.clientPort, vlan: key.vlan)
}

/// Keys that all hash to the same bucket of a table with `buckets` buckets.
private func colliding(_ count: Int, bucket: Int, buckets: Int) -> [FlowKey] {
    var result: [FlowKey] = []
    var n = 0
    while result.count < count {
        let candidate = key(n)
        if home(candidate, buckets: buckets) == bucket { result.append(candidate) }
        n += 1
    }
    return result
}

/// Every key of `expected` is found, from both sides, at its slot, and the
/// table holds nothing else.
private func expectContents(_ table: AttemptTable, _ expected: [FlowKey: Int32],
                            sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(table.count == expected.count, sourceLocation: sourceLocation)
    for (key, slot) in expected {
        #expect(findForward(table, key) == slot, "\(key)", sourceLocation: sourceLocation)
        #expect(findBackward(table, key) == slot, "\(key)", sourceLocation: sourceLocation)
        #expect(table[slot].key == key, sourceLocation: sourceLocation)
    }
}

// MARK: - Tests

@Suite struct AttemptTableTests {
    @Test func insertFindFromBothSidesRemove() {
        let table = AttemptTable(initialCapacity: 16)
        let a = key(1), b = key(2, v6: true)
        let slotA = table.insert(attempt(a))
        let slotB = table.insert(attempt(b))
        #expect(table.count == 2)
        #expect(findForward(table, a) == slotA)
        #expect(findBackward(table, a) == slotA)
        #expect(findForward(table, b) == slotB)
        #expect(findBackward(table, b) == slotB)
        // The stored hash is the symmetric one, the same from either side.
        #expect(table[slotA].hash == UInt32(truncatingIfNeeded: FlowKey.symmetricHash(
            a.server, a.serverPort, a.client, a.clientPort, a.vlan)))
        table.remove(slotA)
        #expect(findForward(table, a) == nil)
        #expect(findBackward(table, a) == nil)
        #expect(findForward(table, b) == slotB)
        #expect(table.count == 1)
    }

    /// A different VLAN, a swapped port pair or a half-matching key is not
    /// the same flow.
    @Test func lookalikesAreNotFound() {
        let table = AttemptTable(initialCapacity: 16)
        let k = key(12)
        _ = table.insert(attempt(k))
        var otherVLAN = k.vlan
        otherVLAN.push(99)
        #expect(table.find(k.client, k.clientPort, k.server, k.serverPort, vlan: otherVLAN) == nil)
        #expect(table.find(k.client, k.serverPort, k.server, k.clientPort, vlan: k.vlan) == nil)
        #expect(table.find(k.client, k.clientPort, k.client, k.serverPort, vlan: k.vlan) == nil)
        #expect(table.find(k.client, k.clientPort, k.server, k.serverPort &+ 1, vlan: k.vlan) == nil)
    }

    /// A cluster of entries with the same home bucket, placed at the end of
    /// the bucket array so that probing wraps to the start: removing any one
    /// of them (first, middle, last) must leave every other one findable.
    @Test(arguments: [0, 31, 17])
    func removingFromACollidingClusterKeepsTheRestFindable(homeBucket: Int) {
        // 16 slots → 32 buckets: fill to the limit without growing.
        let keys = colliding(14, bucket: homeBucket, buckets: 32)
        for removalOrder in [Array(0..<14), Array((0..<14).reversed()), [7, 0, 13, 3, 10, 1, 12, 5, 8, 2, 11, 4, 9, 6]] {
            let table = AttemptTable(initialCapacity: 16)
            var model: [FlowKey: Int32] = [:]
            for k in keys { model[k] = table.insert(attempt(k)) }
            expectContents(table, model)
            for index in removalOrder {
                let k = keys[index]
                table.remove(model.removeValue(forKey: k)!)
                #expect(findForward(table, k) == nil)
                expectContents(table, model)
            }
            #expect(table.oldest == -1)
        }
    }

    /// Two clusters whose probe sequences run into each other: backward
    /// shifts must not move an entry before its home bucket.
    @Test func interleavedClustersSurviveRemovals() {
        let first = colliding(5, bucket: 30, buckets: 32)
        let second = colliding(5, bucket: 0, buckets: 32)
        let third = colliding(4, bucket: 2, buckets: 32)
        let table = AttemptTable(initialCapacity: 16)
        var model: [FlowKey: Int32] = [:]
        for k in zip(zip(first, second), third).flatMap({ [$0.0.0, $0.0.1, $0.1] }) + [first[4], second[4]] {
            model[k] = table.insert(attempt(k))
        }
        expectContents(table, model)
        for k in [first[0], second[1], third[0], first[2], second[4], third[3], first[4]] {
            table.remove(model.removeValue(forKey: k)!)
            expectContents(table, model)
        }
    }

    /// Growth from a small capacity re-buckets every entry, keeps slot
    /// numbers and the activity order.
    @Test func growthKeepsEntriesSlotsAndOrder() {
        let table = AttemptTable(initialCapacity: 16)
        var model: [FlowKey: Int32] = [:]
        var order: [Int32] = []
        // Colliding in the first table size, and a thousand more.
        let keys = colliding(16, bucket: 5, buckets: 32) + (10_000..<11_000).map { key($0) }
        for (index, k) in keys.enumerated() {
            let slot = table.insert(attempt(k, at: Int64(index)))
            #expect(slot == Int32(index), "fresh slots are handed out in order")
            model[k] = slot
            order.append(slot)
        }
        expectContents(table, model)
        #expect(table.slotsOldestFirst() == order)
        #expect(table.oldest == order[0])
    }

    @Test func freedSlotsAreReused() {
        let table = AttemptTable(initialCapacity: 16)
        let slots = (0..<16).map { table.insert(attempt(key($0))) }
        table.remove(slots[3])
        table.remove(slots[9])
        // Last freed, first reused; no growth needed.
        #expect(table.insert(attempt(key(100))) == slots[9])
        #expect(table.insert(attempt(key(101))) == slots[3])
        #expect(table.insert(attempt(key(102))) == 16)
        #expect(table.count == 17)
    }

    @Test func oldestAndTouchOrder() {
        let table = AttemptTable(initialCapacity: 16)
        #expect(table.oldest == -1)
        #expect(table.slotsOldestFirst().isEmpty)
        let a = table.insert(attempt(key(1), at: 1))
        #expect(table.oldest == a)
        let b = table.insert(attempt(key(2), at: 2))
        let c = table.insert(attempt(key(3), at: 3))
        #expect(table.oldest == a)
        #expect(table.slotsOldestFirst() == [a, b, c])

        table.touch(a, at: Timestamp(microseconds: 4))
        #expect(table[a].lastSeen == Timestamp(microseconds: 4))
        #expect(table.oldest == b)
        #expect(table.slotsOldestFirst() == [b, c, a])

        // Touching the newest changes only its time.
        table.touch(a, at: Timestamp(microseconds: 5))
        #expect(table.slotsOldestFirst() == [b, c, a])
        #expect(table[a].lastSeen == Timestamp(microseconds: 5))

        table.touch(c, at: Timestamp(microseconds: 6))
        #expect(table.slotsOldestFirst() == [b, a, c])

        // Removal from the middle, the oldest end and the newest end.
        table.remove(a)
        #expect(table.slotsOldestFirst() == [b, c])
        table.remove(b)
        #expect(table.oldest == c)
        #expect(table.slotsOldestFirst() == [c])
        let d = table.insert(attempt(key(4), at: 7))
        #expect(table.slotsOldestFirst() == [c, d])
        table.remove(d)
        #expect(table.slotsOldestFirst() == [c])
        table.touch(c, at: Timestamp(microseconds: 8))
        #expect(table.slotsOldestFirst() == [c])
        table.remove(c)
        #expect(table.oldest == -1)
        #expect(table.count == 0)
        // Usable again after being emptied.
        let e = table.insert(attempt(key(5), at: 9))
        #expect(table.oldest == e)
        #expect(findBackward(table, key(5)) == e)
    }

    /// Random inserts, removals, touches and lookups against a Dictionary
    /// and an array model. Keys come from a small pool (about 600 distinct
    /// flows over a handful of addresses), so clusters, wrap-around and
    /// backward shifts happen constantly; the table starts at 16 slots and
    /// grows several times.
    @Test(arguments: [UInt64(1), 0x5EED, 0xDEAD_BEEF])
    func randomisedAgainstAModel(seed: UInt64) {
        var random = SplitMix64(state: seed)
        let table = AttemptTable(initialCapacity: 16)
        let pool = (0..<600).map { key($0, v6: $0 % 3 == 0) }
        #expect(Set(pool).count == pool.count)
        var model: [FlowKey: Int32] = [:]
        var order: [Int32] = []  // oldest first
        var clock: Int64 = 0

        for step in 0..<30_000 {
            clock += 1
            let k = pool[Int(random.next() % UInt64(pool.count))]
            switch random.next() % 10 {
            case 0...3:  // insert when absent (the tracker's contract)
                if model[k] == nil {
                    let slot = table.insert(attempt(k, at: clock))
                    #expect(!order.contains(slot))
                    model[k] = slot
                    order.append(slot)
                }
            case 4...6:
                if let slot = model.removeValue(forKey: k) {
                    table.remove(slot)
                    order.removeAll { $0 == slot }
                }
            case 7:
                if let slot = model[k] {
                    table.touch(slot, at: Timestamp(microseconds: clock))
                    order.removeAll { $0 == slot }
                    order.append(slot)
                }
            default:
                let found = random.next() % 2 == 0 ? findForward(table, k) : findBackward(table, k)
                #expect(found == model[k], "step \(step)")
            }
            #expect(table.count == model.count)
            #expect(table.oldest == (order.first ?? -1))
            if step % 997 == 0 {
                expectContents(table, model)
                #expect(table.slotsOldestFirst() == order)
            }
        }
        expectContents(table, model)
        #expect(table.slotsOldestFirst() == order)
        // Empty it oldest first, as expiry does.
        while table.oldest >= 0 {
            let slot = table.oldest
            model.removeValue(forKey: table[slot].key)
            table.remove(slot)
        }
        #expect(model.isEmpty)
        #expect(table.count == 0)
    }
}
