import Testing
@testable import TCPeekCore

// What the summary, GET and REFRESH count (SPEC §4), fed with closed sessions.

private func session(_ outcome: Outcome, dupSYN: UInt32 = 0, dupSYNACK: UInt32 = 0,
                     filters: FilterMask = FilterMask(rawValue: 1)) -> Session {
    Session(client: IPAddress(ipv4: 0xC633_6407), server: IPAddress(ipv4: 0xCB00_7109),  // 198.51.100.7 → 203.0.113.9
            clientPort: 40_000, serverPort: 80, startedAt: Timestamp(seconds: 1_341_211_713),
            duration: .seconds(1), outcome: outcome, dupSYN: dupSYN, dupSYNACK: dupSYNACK, filters: filters)
}

private func mask(_ indices: Int...) -> FilterMask {
    var mask = FilterMask()
    for index in indices { mask.insert(index) }
    return mask
}

@Suite struct CountersTests {
    /// "SYN/S/A Segment Duplicate" count successful sessions that had at
    /// least one retransmission, not the retransmitted segments.
    @Test func filterCountersRecord() {
        var counters = FilterCounters()
        counters.record(session(.success, dupSYN: 3))
        counters.record(session(.success, dupSYN: 1, dupSYNACK: 2))
        counters.record(session(.success))
        counters.record(session(.timeout, dupSYN: 5))
        counters.record(session(.reject, dupSYNACK: 1))
        counters.record(session(.unreach))
        counters.record(session(.abort, dupSYN: 1))
        counters.record(session(.timeout))

        var expected = FilterCounters()
        expected.success = 3
        expected.successWithDupSYN = 2
        expected.successWithDupSYNACK = 1
        expected.timeout = 2
        expected.reject = 1
        expected.unreach = 1
        expected.abort = 1
        expected.dupSYNSegments = 10
        expected.dupSYNACKSegments = 3
        #expect(counters == expected)
        #expect(counters.failure == 5)
        #expect(counters.total == 8)
    }

    @Test(arguments: Outcome.allCases)
    func eachOutcomeCountsInItsOwnField(outcome: Outcome) {
        var counters = FilterCounters()
        counters.record(session(outcome, dupSYN: 2, dupSYNACK: 4))
        #expect(counters.success == (outcome == .success ? 1 : 0))
        #expect(counters.successWithDupSYN == (outcome == .success ? 1 : 0))
        #expect(counters.successWithDupSYNACK == (outcome == .success ? 1 : 0))
        #expect(counters.timeout == (outcome == .timeout ? 1 : 0))
        #expect(counters.reject == (outcome == .reject ? 1 : 0))
        #expect(counters.unreach == (outcome == .unreach ? 1 : 0))
        #expect(counters.abort == (outcome == .abort ? 1 : 0))
        #expect(counters.failure == (outcome.isFailure ? 1 : 0))
        #expect(counters.total == 1)
        // Every retransmission is counted in segments, whatever the outcome.
        #expect(counters.dupSYNSegments == 2)
        #expect(counters.dupSYNACKSegments == 4)
    }

    /// A session counts in every filter of its mask, and only there.
    @Test func countersRecordMultiBitMasks() {
        var counters = Counters(filterCount: 5)
        counters.record(session(.success, dupSYN: 1, filters: mask(0, 2, 4)))
        counters.record(session(.reject, filters: mask(0, 1)))
        counters.record(session(.timeout, filters: mask(3)))
        counters.record(session(.abort, filters: FilterMask()))

        #expect(counters.perFilter.count == 5)
        #expect(counters[0].success == 1 && counters[0].reject == 1 && counters[0].total == 2)
        #expect(counters[0].successWithDupSYN == 1)
        #expect(counters[1].reject == 1 && counters[1].total == 1)
        #expect(counters[2].success == 1 && counters[2].successWithDupSYN == 1 && counters[2].total == 1)
        #expect(counters[3].timeout == 1 && counters[3].total == 1)
        #expect(counters[4].success == 1 && counters[4].total == 1)
        #expect(counters.perFilter.allSatisfy { $0.abort == 0 })
    }

    /// Bits beyond the filters in force (up to bit 63) are ignored, never a crash.
    @Test func countersIgnoreBitsBeyondTheirFilters() {
        var counters = Counters(filterCount: 2)
        counters.record(session(.success, filters: FilterMask(rawValue: 1 << 63 | 1 << 2 | 1 << 1)))
        counters.record(session(.unreach, filters: FilterMask(rawValue: ~0)))
        #expect(counters[0].total == 1 && counters[0].unreach == 1)
        #expect(counters[1].total == 2 && counters[1].success == 1 && counters[1].unreach == 1)
        #expect(counters.perFilter.count == 2)

        var none = Counters(filterCount: 0)
        none.record(session(.success, filters: FilterMask(rawValue: ~0)))
        #expect(none.perFilter.isEmpty)
    }

    /// REFRESH: what happened since the previous snapshot.
    @Test func subtracting() {
        var counters = FilterCounters()
        counters.record(session(.success, dupSYN: 1))
        counters.record(session(.reject))
        let earlier = counters
        counters.record(session(.success, dupSYNACK: 2))
        counters.record(session(.success, dupSYN: 4, dupSYNACK: 1))
        counters.record(session(.timeout, dupSYN: 1))
        counters.record(session(.unreach))
        counters.record(session(.abort))
        counters.record(session(.abort))

        var expected = FilterCounters()
        expected.success = 2
        expected.successWithDupSYN = 1
        expected.successWithDupSYNACK = 2
        expected.timeout = 1
        expected.unreach = 1
        expected.abort = 2
        expected.dupSYNSegments = 5
        expected.dupSYNACKSegments = 3
        let delta = counters.subtracting(earlier)
        #expect(delta == expected)
        #expect(delta.reject == 0)
        #expect(delta.failure == 4)
        #expect(delta.total == 6)

        #expect(counters.subtracting(counters) == FilterCounters())
        #expect(counters.subtracting(FilterCounters()) == counters)
        #expect(earlier.subtracting(FilterCounters()) == earlier)
    }

    /// Counters wrap rather than trap (a tcpeek running for years).
    @Test func subtractingAcrossAWrappedCounter() {
        var earlier = FilterCounters()
        earlier.success = UInt64.max
        var later = FilterCounters()
        later.success = 1
        #expect(later.subtracting(earlier).success == 2)
    }

    /// Every figure is its own stored field: setting one through `Figure`
    /// leaves the others at zero and reads back.
    @Test(arguments: FilterCounters.Figure.allCases)
    func eachFigureIsItsOwnField(figure: FilterCounters.Figure) {
        var counters = FilterCounters()
        counters[figure] = 7
        #expect(counters[figure] == 7)
        for other in FilterCounters.Figure.allCases where other != figure { #expect(counters[other] == 0, "\(other)") }
        #expect(FilterCounters(figures: { $0 == figure ? 7 : 0 }) == counters)
    }

    /// `+` and `-` over random counters (small, and near the wrap): `-`
    /// undoes `+`, `+` is the sum of each figure, and any order of a sum
    /// gives the same counters.
    @Test func arithmeticOverRandomCounters() {
        var random = SplitMix64(seed: 0x7C9E_E14)
        func counters() -> FilterCounters {
            FilterCounters { _ in
                switch random.next() % 3 {
                case 0: random.next() % 1000
                case 1: UInt64.max - random.next() % 1000
                default: random.next()
                }
            }
        }
        for _ in 0..<1000 {
            let a = counters(), b = counters()
            #expect((a + b) - b == a)
            #expect((a - b) + b == a)
            #expect(a + b == b + a)
            #expect(a.subtracting(b) == a - b)
            for figure in FilterCounters.Figure.allCases {
                #expect((a + b)[figure] == a[figure] &+ b[figure])
                #expect((a - b)[figure] == a[figure] &- b[figure])
            }
            var c = a
            c += b
            #expect(c == a + b)
            c -= b
            #expect(c == a)
        }
        let many = (0..<200).map { _ in counters() }
        let sum = many.reduce(FilterCounters(), +)
        for figure in FilterCounters.Figure.allCases {
            #expect(sum[figure] == many.reduce(0) { $0 &+ $1[figure] })
        }
        #expect(many.reversed().reduce(FilterCounters(), +) == sum)
    }

    /// Counting sessions in parts and adding the parts counts them all.
    @Test func sumOfPartsIsTheWhole() {
        let outcomes = Outcome.allCases
        var random = SplitMix64(seed: 14)
        var whole = FilterCounters()
        var parts = Array(repeating: FilterCounters(), count: 7)
        for index in 0..<500 {
            let s = session(outcomes[Int(random.next() % UInt64(outcomes.count))],
                            dupSYN: UInt32(random.next() % 3), dupSYNACK: UInt32(random.next() % 3))
            whole.record(s)
            parts[index % parts.count].record(s)
        }
        #expect(parts.reduce(FilterCounters(), +) == whole)
        for outcome in outcomes {
            #expect(whole[outcome] == parts.reduce(0) { $0 + $1[outcome] })
        }
        #expect(Outcome.allCases.reduce(0) { $0 + whole[$1] } == whole.total)
    }

    /// Checksum offload fails every packet the capturing host sends (a third
    /// to a half of them); a damaged link fails a few. A quarter of at
    /// least 100 verified packets is the sign.
    @Test("checksum failures suggest offload from a quarter of 100 verified packets", arguments: [
        (tcp: 75, badTCP: 25, badIP: 0, expected: true),
        (tcp: 76, badTCP: 24, badIP: 0, expected: false),
        (tcp: 75, badTCP: 20, badIP: 5, expected: true),
        (tcp: 0, badTCP: 99, badIP: 0, expected: false),
        (tcp: 0, badTCP: 100, badIP: 0, expected: true),
        (tcp: 10_000, badTCP: 100, badIP: 0, expected: false),
    ])
    func checksumOffloadSign(_ figures: (tcp: Int, badTCP: Int, badIP: Int, expected: Bool)) {
        var statistics = DecodeStatistics()
        for _ in 0..<figures.tcp { statistics.count(.ignored) }  // not verified at the transport: not counted
        for _ in 0..<figures.tcp {
            statistics.count(.tcp(TCPSegment(source: IPAddress(ipv4: 1), destination: IPAddress(ipv4: 2), sourcePort: 1,
                                             destinationPort: 2, sequence: 0, acknowledgment: 0, flags: TCPFlags(rawValue: 2),
                                             payloadLength: 0, vlan: .none)))
        }
        for _ in 0..<figures.badTCP { statistics.count(.malformed(.badTCPChecksum)) }
        for _ in 0..<figures.badIP { statistics.count(.malformed(.badIPChecksum)) }
        for _ in 0..<50 { statistics.count(.malformed(.truncatedIPHeader)) }  // not a checksum
        #expect(statistics.checksumFailures == UInt64(figures.badTCP + figures.badIP))
        #expect(statistics.suggestsChecksumOffload == figures.expected)
    }
}

/// A small seeded generator, so a failure repeats.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
