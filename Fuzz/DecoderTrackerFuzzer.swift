// libFuzzer target: arbitrary bytes through PacketDecoder and
// HandshakeTracker, for every link type tcpeek decodes.
//
// Built by Fuzz/run.sh with `swiftc -sanitize=fuzzer,address
// -parse-as-library` over Sources/TCPeekCore/*.swift and this file, so the
// core is compiled into the fuzzer (no Package.swift target needed).
//
// Input layout (Fuzz/make-seeds.py writes seeds in it):
//
//   byte 0        configuration
//                   bits 0-2  link type (LinkType.fuzzCases[n])
//                   bits 3-4  checksum mode (3 is read as 2)
//                   bit  5    ICMP interpretation off (--no-icmp)
//                   bit  6    a tiny --max-pending (4), so eviction runs
//                   bit  7    user filters and local addresses (RX/TX paths)
//   then records  2 bytes     frame length, big-endian
//                 1 byte      packet-time step: 0...0xEF forward by
//                             n * 100 ms, 0xF0...0xFF backwards by
//                             (n - 0xEF) s (clocks do go back in files)
//                 frame       the captured bytes; a length past the end of
//                             the input takes what is left
//
// Every frame is copied into its own exactly-sized allocation, so that
// AddressSanitizer reports a read one byte past the captured length.
//
// Besides crashes and sanitizer reports, the target checks invariants:
// the open table never exceeds --max-pending, durations are never negative,
// every attempt closes exactly once by the end of the "file", and every
// session carries at least one counting filter.

// No `import TCPeekCore`: this file is compiled into that module.

extension LinkType {
    /// The eight framings, indexed by the low three bits of byte 0.
    static let fuzzCases: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .null, .loop, .raw, .ipv4, .ipv6]
}

/// Built once: parsing filters per input would only slow the fuzzer down.
private let plainFilters = try! FilterSet(filters: [], hasLocalNotion: false)
private let userFilters: FilterSet = {
    let expressions = [
        "web:RX@*:80:443", "lan:TX@10.0.0.0/8:*,192.168.0.0/16:*", "six:ANY@[2001:db8::/32]:*",
        "low:ANY@*:1:2:3:22", ":RX@*:25", ":ANY@192.0.2.0/24:*",
    ]
    return try! FilterSet(filters: expressions.map { try Filter.parse($0) }, hasLocalNotion: true)
}()
private let localAddresses = try! LocalAddresses.parse(
    ["10.0.0.0/8", "192.168.1.1", "2001:db8::/48", "127.0.0.1", "::1"])

/// One tracker per (tiny --max-pending, filters) combination, indexed by
/// `config >> 6`, made once: a new tracker zeroes 2 MiB of duplicate-SYN
/// bitmaps, which under AddressSanitizer costs more than a whole input.
/// Each input works on a copy; `closeAll` at its end empties the
/// shared tables again, and the copy's clock and statistics are dropped, so
/// every input starts from the same state (only table capacities differ).
nonisolated(unsafe) private let pristineTrackers: [HandshakeTracker] = (0..<4).map { index in
    let withFilters = index & 2 != 0
    return HandshakeTracker(
        filters: withFilters ? userFilters : plainFilters, localAddresses: withFilters ? localAddresses : .none,
        timeout: .seconds(3), maxPending: index & 1 != 0 ? 4 : 1_000_000)
}

private func fuzzCheck(_ condition: Bool, _ message: StaticString) {
    if !condition { fatalError("fuzz invariant violated: \(message)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func decoderTrackerFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let config = input[0]
    let linkType = LinkType.fuzzCases[Int(config & 0x07)]
    let checksum = ChecksumMode(rawValue: min(Int((config >> 3) & 0x03), 2)) ?? .none
    let decoder = PacketDecoder(linkType: linkType, checksumMode: checksum, interpretsICMP: config & 0x20 == 0)
    let maxPending = config & 0x40 != 0 ? 4 : 1_000_000
    let withFilters = config & 0x80 != 0
    let filters = withFilters ? userFilters : plainFilters
    var tracker = pristineTrackers[Int(config >> 6)]
    var counters = Counters(filterCount: filters.counting.count)
    var statistics = DecodeStatistics()
    var closed = 0
    var opened = 0

    var time = Timestamp(seconds: 1_704_067_200)
    var cursor = 1
    while cursor < size {
        // Record header: what is missing of it reads as zero.
        let high = Int(input[cursor])
        let low = cursor + 1 < size ? Int(input[cursor + 1]) : 0
        let step = cursor + 2 < size ? input[cursor + 2] : 0
        cursor = min(size, cursor + 3)
        let length = min(high << 8 | low, size - cursor)
        if step < 0xF0 {
            time = time + Timestamp.Duration(microseconds: Int64(step) * 100_000)
        } else {
            time = time + Timestamp.Duration(microseconds: -Int64(step - 0xEF) * 1_000_000)
        }

        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 1)
        defer { frame.deallocate() }
        if length > 0 {
            frame.copyMemory(from: UnsafeRawBufferPointer(start: data + cursor, count: length))
        }
        cursor += length

        let packet = decoder.decode(UnsafeRawBufferPointer(frame))
        statistics.count(packet)
        // Settling failures and confirming successes are not handed over
        // yet: they count as pending.
        let pendingBefore = tracker.openCount + tracker.settlingCount + tracker.confirmingCount
        var closedNow = 0
        tracker.process(packet, at: time) { session in
            fuzzCheck(session.duration.microseconds >= 0, "negative duration")
            fuzzCheck(!session.filters.isEmpty, "a session in no counting filter")
            counters.record(session)
            closedNow += 1
        }
        closed += closedNow
        // At most one attempt opens per packet.
        let delta = tracker.openCount + tracker.settlingCount + tracker.confirmingCount - pendingBefore + closedNow
        fuzzCheck(delta == 0 || delta == 1, "open table changed by more than the packet explains")
        opened += delta
        fuzzCheck(tracker.openCount + tracker.settlingCount <= maxPending, "more open attempts than --max-pending")
        fuzzCheck(tracker.now >= time, "tracker clock behind the packet")
    }
    // Open attempts time out; settling failures keep their verdict, and
    // confirming successes theirs.
    var successesLeft = tracker.confirmingCount
    tracker.closeAll { session in
        if session.outcome == .success {
            fuzzCheck(successesLeft > 0, "closing at the end of a file gave a success that was not confirming")
            successesLeft -= 1
        }
        counters.record(session)
        closed += 1
    }
    fuzzCheck(successesLeft == 0, "a confirming success was not handed over at the end of a file")
    fuzzCheck(tracker.openCount + tracker.settlingCount + tracker.confirmingCount == 0, "attempts left open after closeAll")
    fuzzCheck(opened == closed, "an attempt opened but never closed, or closed twice")
    var total: UInt64 = 0
    for index in 0..<filters.counting.count { total &+= counters[index].total }
    fuzzCheck(total >= UInt64(closed) || closed == 0, "counters lost sessions")
    fuzzCheck(statistics.packets == statistics.tcp &+ statistics.unreachable &+ statistics.ignored &+ statistics.malformedTotal,
              "decode statistics do not add up")
    return 0
}
