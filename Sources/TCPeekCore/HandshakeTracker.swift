/// Counts the tracker keeps about segments that decided nothing.
public struct TrackerStatistics: Sendable, Equatable {
    /// Open attempts closed early as timeout because the table was full.
    public var evicted: UInt64 = 0
    /// RSTs that fit no open attempt (backscatter, blind injection).
    public var ignoredRST: UInt64 = 0
    /// ICMP unreachables quoting no open attempt's SYN.
    public var ignoredUnreachable: UInt64 = 0
    /// Late copies of a successful attempt's SYN.
    public var lateDuplicateSYN: UInt64 = 0
    /// Opening SYNs that matched no counting filter (or an exclusion).
    public var unfilteredSYN: UInt64 = 0
    public init() {}
}

/// Follows every TCP 3-way handshake of SPEC §1 and closes each attempt
/// with an outcome. Pure: packet time only, no I/O, no clock, no locks.
/// Steady-state processing does not allocate.
///
/// Capture thread only.
public struct HandshakeTracker {
    public let timeout: Timestamp.Duration
    /// How long a reject, abort or unreach settles before it is final: a
    /// SYN repeating the attempt's ISN within it is the client retrying the
    /// same connect() (SPEC §1). Windows retries twice, 0.5 s apart, after a
    /// RST; Linux re-sends its SYN at the first retransmission, 1 s after a
    /// failure it could not act on at once.
    public let retryWindow: Timestamp.Duration
    public let maxPending: Int
    public let filters: FilterSet
    public var localAddresses: LocalAddresses
    public private(set) var statistics = TrackerStatistics()
    /// The tracker's clock: the latest packet time seen, or advanced by the
    /// caller while a live capture is idle. Never goes backwards.
    public private(set) var now: Timestamp = .zero
    private let table: AttemptTable
    private let recentSuccesses: RecentSuccesses

    public init(filters: FilterSet, localAddresses: LocalAddresses = .none,
                timeout: Timestamp.Duration = .seconds(60), retryWindow: Timestamp.Duration = .seconds(3),
                maxPending: Int = 1_000_000) {
        self.filters = filters
        self.localAddresses = localAddresses
        self.timeout = timeout
        self.retryWindow = retryWindow
        self.maxPending = max(1, maxPending)
        self.table = AttemptTable(initialCapacity: min(self.maxPending, 4096))
        self.recentSuccesses = RecentSuccesses(limit: self.maxPending)
    }

    /// Open and settling attempts plus recent successes remembered for
    /// duplicate detection. Reads the whole table of successes: tests and
    /// diagnostics.
    public var trackedCount: Int { table.count + recentSuccesses.count(at: now) }

    /// Attempts still undecided.
    public var openCount: Int { table.count - table.settlingCount }

    /// Attempts decided as a failure whose verdict is not final yet: the
    /// client may still retry them (`retryWindow`).
    public var settlingCount: Int { table.settlingCount }

    // MARK: Time

    /// Advances the clock and closes every attempt whose timeout fell due.
    /// O(1) per expired entry: the expiry list is ordered by last activity.
    @inline(__always)
    public mutating func advance(to time: Timestamp, closing sink: (Session) -> Void) {
        if time > now { now = time }
        // The oldest entry was touched long ago and is cold in the cache:
        // look at it only when its remembered deadline has come. The list is
        // ordered by activity, so the real next deadline is never earlier.
        if now >= nextDeadline { closeDue(closing: sink) }
    }

    /// Hands over what fell due, earliest deadline first: failures whose
    /// settling window passed, open attempts whose timeout did. Each list is
    /// ordered by its deadline, so only their heads are looked at.
    private mutating func closeDue(closing sink: (Session) -> Void) {
        while true {
            let timingOut = table.oldest, settled = table.oldestSettling
            // Nothing open: the next attempt's deadline is at least a timeout away.
            let timeoutDeadline = timingOut >= 0 ? table[timingOut].lastSeen + timeout : now + timeout
            let settleDeadline = settled >= 0 ? table[settled].lastSeen + retryWindow : Timestamp(microseconds: .max)
            if settleDeadline <= now && settleDeadline <= timeoutDeadline {
                settle(settled, closing: sink)
            } else if timingOut >= 0 && timeoutDeadline <= now {
                let attempt = table[timingOut]
                sink(session(attempt, outcome: .timeout, duration: timeoutDuration(attempt)))
                table.remove(timingOut)
            } else {
                nextDeadline = min(timeoutDeadline, settleDeadline)
                return
            }
        }
    }

    /// No entry of the table falls due before this.
    private var nextDeadline: Timestamp = .zero

    /// The end of a capture file, where nothing will ever answer: every
    /// settling failure stands (`settleAll`), every open attempt is closed
    /// as `timeout`.
    public mutating func closeAll(closing sink: (Session) -> Void) {
        settleAll(closing: sink)
        var slot = table.oldest
        while slot >= 0 {
            let attempt = table[slot]
            sink(session(attempt, outcome: .timeout, duration: timeoutDuration(attempt)))
            slot = attempt.next
        }
        table.removeAll()
        recentSuccesses.removeAll()
    }

    /// Makes every pending failure final, oldest first: its verdict stands
    /// (the end of a file, or the shutdown of a live capture).
    public mutating func settleAll(closing sink: (Session) -> Void) {
        while table.oldestSettling >= 0 { settle(table.oldestSettling, closing: sink) }
    }

    // MARK: Packets

    /// Takes one decoded packet at its capture time; `sink` receives every
    /// attempt this closes (timeouts falling due included), in order.
    public mutating func process(_ packet: DecodedPacket, at time: Timestamp, closing sink: (Session) -> Void) {
        process(packet, at: time, flowHash: Self.flowHash(of: packet), closing: sink)
    }

    /// `process` with the packet's `flowHash(of:)` already computed (by the
    /// capture's look-ahead, which needed it to prefetch).
    @inline(__always)
    public mutating func process(_ packet: DecodedPacket, at time: Timestamp, flowHash: UInt64,
                                 closing sink: (Session) -> Void) {
        switch packet {
        case .tcp(let segment): process(segment, at: time, flowHash: flowHash, closing: sink)
        case .unreachable(let message): process(message, at: time, flowHash: flowHash, closing: sink)
        case .ignored, .malformed: advance(to: time, closing: sink)
        }
    }

    public mutating func process(_ segment: TCPSegment, at time: Timestamp, closing sink: (Session) -> Void) {
        process(segment, at: time, flowHash: Self.flowHash(of: .tcp(segment)), closing: sink)
    }

    public mutating func process(_ message: ICMPUnreachable, at time: Timestamp, closing sink: (Session) -> Void) {
        process(message, at: time, flowHash: Self.flowHash(of: .unreachable(message)), closing: sink)
    }

    // MARK: Look-ahead

    /// The hash a packet's flow is found by: a segment's 4-tuple, or the one
    /// an ICMP error quotes; 0 for other packets.
    @inline(__always)
    public static func flowHash(of packet: DecodedPacket) -> UInt64 {
        switch packet {
        case .tcp(let segment):
            FlowKey.symmetricHash(segment.source, segment.sourcePort, segment.destination,
                                  segment.destinationPort, segment.vlan)
        case .unreachable(let message):
            FlowKey.symmetricHash(message.quotedSource, message.quotedSourcePort, message.quotedDestination,
                                  message.quotedDestinationPort, message.vlan)
        case .ignored, .malformed:
            0
        }
    }

    /// First prefetch for a packet that will be processed a few packets
    /// later: the flow's bucket, and for an opening SYN the set of
    /// remembered successes it will be checked against.
    @inline(__always)
    public func prefetchFlow(of packet: DecodedPacket, flowHash: UInt64) {
        switch packet {
        case .tcp(let segment):
            table.prefetchBucket(flowHash: flowHash)
            if segment.flags.isOpeningSYN { recentSuccesses.prefetch(flowHash) }
        case .unreachable:
            table.prefetchBucket(flowHash: flowHash)
        case .ignored, .malformed:
            break
        }
    }

    /// Second prefetch, once the bucket has arrived: the open attempt.
    @inline(__always)
    public func prefetchAttempt(flowHash: UInt64) {
        if flowHash != 0 { table.prefetchAttempt(flowHash: flowHash) }
    }

    // MARK: Segments

    private mutating func process(_ segment: TCPSegment, at time: Timestamp, flowHash: UInt64,
                                  closing sink: (Session) -> Void) {
        advance(to: time, closing: sink)
        guard let slot = table.find(segment.source, segment.sourcePort, segment.destination,
                                    segment.destinationPort, vlan: segment.vlan, flowHash: flowHash) else {
            if segment.flags.isOpeningSYN {
                openUnlessLateDuplicate(segment, at: time, flowHash: flowHash, closing: sink)
            } else if segment.flags.contains(.rst) {
                statistics.ignoredRST &+= 1
            }
            return
        }
        let attempt = table[slot]
        let fromClient = segment.source == attempt.key.client && segment.sourcePort == attempt.key.clientPort
        if attempt.pendingVerdict != nil {
            handleWhileSettling(segment, slot: slot, fromClient: fromClient, at: time, flowHash: flowHash,
                                closing: sink)
            return
        }
        let flags = segment.flags.intersection(TCPFlags.control)
        if flags.contains(.rst) {
            // A plausible RST decides the attempt; any other fits no attempt
            // (SPEC §1) and so does not postpone its timeout either.
            handleReset(segment, slot: slot, fromClient: fromClient, at: time, closing: sink)
            return
        }
        // Anything else of the attempt postpones its timeout. A client SYN
        // with a new ISN is not of this attempt but starts the next one: the
        // old attempt's timeout duration runs from its own last segment.
        if !(fromClient && flags == .syn && segment.sequence != attempt.clientISN) {
            table.touch(slot, at: now)
        }
        if fromClient {
            handleFromClient(segment, flags: flags, slot: slot, at: time, closing: sink)
        } else {
            // A SYN/ACK: the client's ACK, a round trip later, will likely
            // make this a success to remember; start loading its set now.
            if flags == [.syn, .ack] { recentSuccesses.prefetch(flowHash) }
            handleFromServer(segment, flags: flags, slot: slot, at: time, closing: sink)
        }
    }

    private mutating func process(_ message: ICMPUnreachable, at time: Timestamp, flowHash: UInt64,
                                  closing sink: (Session) -> Void) {
        advance(to: time, closing: sink)
        guard message.meansUnreachable,
              let slot = table.find(message.quotedSource, message.quotedSourcePort, message.quotedDestination,
                                    message.quotedDestinationPort, vlan: message.vlan, flowHash: flowHash) else {
            statistics.ignoredUnreachable &+= 1
            return
        }
        let attempt = table[slot]
        // Only an answer to this attempt's own SYN decides it, once.
        guard attempt.pendingVerdict == nil,
              attempt.key.client == message.quotedSource,
              attempt.key.clientPort == message.quotedSourcePort,
              message.quotedSequence == attempt.clientISN else {
            statistics.ignoredUnreachable &+= 1
            return
        }
        table[slot].icmpType = message.type
        table[slot].icmpCode = message.code
        fail(slot, as: .unreach, at: time)
    }

    // MARK: Transitions

    private mutating func open(_ segment: TCPSegment, at time: Timestamp, flowHash: UInt64, closing sink: (Session) -> Void) {
        let client = segment.source, server = segment.destination
        let mask = filters.match(client: client, server: server, serverPort: segment.destinationPort,
                                 local: localAddresses)
        guard !mask.isEmpty else {
            statistics.unfilteredSYN &+= 1
            return
        }
        if table.count >= maxPending {
            // A settling failure gives up its chance of a retry before an
            // open attempt is cut short: its verdict is already known.
            if table.oldestSettling >= 0 {
                settle(table.oldestSettling, closing: sink)
            } else {
                evictOldest(closing: sink)
            }
        }
        _ = table.insert(flowHash: flowHash, Attempt(
            key: FlowKey(client: client, server: server, clientPort: segment.sourcePort,
                         serverPort: segment.destinationPort, vlan: segment.vlan),
            startedAt: time, lastSeen: now, filters: mask,
            clientISN: segment.sequence, serverISN: 0, otherServerISN: 0, serverSent: 0,
            synPayload: segment.payloadLength, dupSYN: 0, dupSYNACK: 0, hash: 0, previous: -1, next: -1,
            state: .synSent, hasOtherServerISN: false,
            direction: FilterSet.direction(client: client, server: server, local: localAddresses)))
    }

    /// Makes room under a SYN flood: the oldest open attempt is closed as
    /// `timeout` early and counted as evicted.
    private mutating func evictOldest(closing sink: (Session) -> Void) {
        let slot = table.oldest
        guard slot >= 0 else { return }
        var closed = session(table[slot], outcome: .timeout, duration: now - table[slot].startedAt)
        closed.wasEvicted = true
        statistics.evicted &+= 1
        sink(closed)
        table.remove(slot)
    }

    private mutating func handleFromClient(
        _ segment: TCPSegment, flags: TCPFlags, slot: Int32, at time: Timestamp, closing sink: (Session) -> Void
    ) {
        let attempt = table[slot]
        if flags == .syn {
            if segment.sequence == attempt.clientISN {
                table[slot].dupSYN &+= 1
            } else {
                // The port is reused with a new ISN: the old attempt was
                // never answered.
                sink(session(attempt, outcome: .timeout, duration: timeoutDuration(attempt)))
                table.remove(slot)
                open(segment, at: time, flowHash: Self.flowHash(of: .tcp(segment)), closing: sink)
            }
            return
        }
        guard flags.contains(.ack) else { return }
        // The client's segment right after its SYN: seq = ISN + 1 (its own
        // SYN/ACK in a simultaneous open repeats the ISN), or later within
        // the data its SYN carried. Anything else is not this handshake's.
        let expectedSequence = flags.contains(.syn) ? attempt.clientISN : attempt.clientISN &+ 1
        guard isWithin(segment.sequence, from: expectedSequence, length: attempt.synPayload) else { return }
        let completes: Bool
        switch attempt.state {
        case .synReceived:
            // The client acknowledges the server's SYN/ACK: ISN + 1, or
            // later if it already acknowledges data the server sent.
            completes = acknowledgesServerSYN(segment.acknowledgment, attempt)
        case .simultaneousOpen:
            // Both sides sent a SYN, the server's SYN did not acknowledge the
            // client's: once the client acknowledges the server's SYN, the
            // handshake still waits for the server to acknowledge the client's.
            if acknowledgesServerSYN(segment.acknowledgment, attempt) {
                table[slot].state = .serverSYNAcknowledged
            }
            completes = false
        case .synSent:
            // The SYN/ACK was not captured (drop, reordering), but a client
            // only sends an ACK right after its SYN once it received one.
            // An ack number of 0 is what a client sends when it never
            // received a SYN/ACK (a TFO client closing), so it proves nothing.
            completes = !flags.contains(.syn) && segment.acknowledgment != 0
        case .serverSYNAcknowledged:
            completes = false
        }
        if completes { succeed(slot, at: time, closing: sink) }
    }

    private mutating func handleFromServer(
        _ segment: TCPSegment, flags: TCPFlags, slot: Int32, at time: Timestamp, closing sink: (Session) -> Void
    ) {
        let attempt = table[slot]
        let acknowledgesClientSYN = flags.contains(.ack)
            && isWithin(segment.acknowledgment, from: attempt.clientISN &+ 1, length: attempt.synPayload)
        switch flags {
        case .syn:
            // Simultaneous open: the server side sends its own SYN.
            if attempt.state == .synSent {
                table[slot].state = .simultaneousOpen
                table[slot].serverISN = segment.sequence
            }
        case [.syn, .ack]:
            guard acknowledgesClientSYN else { return }
            switch attempt.state {
            case .synSent, .simultaneousOpen:
                table[slot].state = .synReceived
                table[slot].serverISN = segment.sequence
                table[slot].serverSent = segment.payloadLength
            case .serverSYNAcknowledged:
                // Simultaneous open: now both SYNs are acknowledged.
                succeed(slot, at: time, closing: sink)
            case .synReceived:
                if segment.sequence == attempt.serverISN
                    || (attempt.hasOtherServerISN && segment.sequence == attempt.otherServerISN) {
                    // The same SYN/ACK again: a retransmission.
                    table[slot].dupSYNACK &+= 1
                } else {
                    // A server that restarted its handshake: the client may
                    // acknowledge either ISN. A new ISN is not a duplicate
                    // (SPEC §1 counts dup_synack for the same server ISN).
                    table[slot].otherServerISN = segment.sequence
                    table[slot].hasOtherServerISN = true
                }
                table[slot].serverSent = max(attempt.serverSent, segment.payloadLength)
            }
        default:
            guard flags.contains(.ack) else { return }
            switch attempt.state {
            case .serverSYNAcknowledged:
                // Split handshake: the server's ACK of the client's SYN
                // (following its own SYN) completes it.
                if acknowledgesClientSYN && segment.sequence == attempt.serverISN &+ 1 {
                    succeed(slot, at: time, closing: sink)
                }
            case .synReceived:
                // Data (or a FIN) the server sent after its SYN/ACK: the
                // client's ACK may acknowledge it.
                let length = segment.payloadLength &+ (flags.contains(.fin) ? 1 : 0)
                var sent = attempt.serverSent
                let offset = segment.sequence &- (attempt.serverISN &+ 1)
                if offset < Self.sequenceWindow { sent = max(sent, offset &+ length) }
                if attempt.hasOtherServerISN {
                    let otherOffset = segment.sequence &- (attempt.otherServerISN &+ 1)
                    if otherOffset < Self.sequenceWindow { sent = max(sent, otherOffset &+ length) }
                }
                table[slot].serverSent = sent
            default:
                return
            }
        }
    }

    private mutating func handleReset(
        _ segment: TCPSegment, slot: Int32, fromClient: Bool, at time: Timestamp, closing sink: (Session) -> Void
    ) {
        let attempt = table[slot]
        let plausible: Bool
        if fromClient {
            // The client gives up or refuses the SYN/ACK: its RST carries the
            // sequence number following its SYN (some stacks repeat the ISN).
            plausible = isWithin(segment.sequence, from: attempt.clientISN, length: attempt.synPayload &+ 1)
        } else {
            // An answer to the SYN must acknowledge it; after its own SYN the
            // server may also reset with the sequence number following it.
            let acknowledgesSYN = segment.flags.contains(.ack)
                && isWithin(segment.acknowledgment, from: attempt.clientISN &+ 1, length: attempt.synPayload)
            let followsServerSYN = attempt.state != .synSent
                && (segment.sequence == attempt.serverISN &+ 1
                    || (attempt.hasOtherServerISN && segment.sequence == attempt.otherServerISN &+ 1))
            plausible = acknowledgesSYN || followsServerSYN
        }
        guard plausible else {
            statistics.ignoredRST &+= 1
            return
        }
        fail(slot, as: fromClient ? .abort : .reject, at: time)
    }

    // MARK: Settling failures

    /// A reject, abort or unreach is not final yet: the client may retry
    /// the same SYN within `retryWindow` (SPEC §1, one connect() is one
    /// attempt). Handed over once the window passes (`closeDue`).
    private mutating func fail(_ slot: Int32, as verdict: Outcome, at time: Timestamp) {
        table[slot].decidedAt = time
        table.beginSettling(slot, verdict: verdict, at: now)
        if now + retryWindow < nextDeadline { nextDeadline = now + retryWindow }
    }

    /// A segment of a 4-tuple whose attempt failed and is settling. The
    /// client's SYN with the same ISN retries the attempt, which goes on;
    /// any other opening SYN is a new attempt, so the failure is final. The
    /// rest belongs to no open attempt, as it would once the attempt is gone.
    private mutating func handleWhileSettling(
        _ segment: TCPSegment, slot: Int32, fromClient: Bool, at time: Timestamp, flowHash: UInt64,
        closing sink: (Session) -> Void
    ) {
        guard segment.flags.isOpeningSYN else {
            if segment.flags.contains(.rst) { statistics.ignoredRST &+= 1 }
            return
        }
        if fromClient && segment.sequence == table[slot].clientISN {
            table[slot].dupSYN &+= 1
            table[slot].state = .synSent
            table[slot].serverISN = 0
            table[slot].otherServerISN = 0
            table[slot].hasOtherServerISN = false
            table[slot].serverSent = 0
            table[slot].icmpType = 0
            table[slot].icmpCode = 0
            table.reopen(slot, at: now)
            return
        }
        settle(slot, closing: sink)
        openUnlessLateDuplicate(segment, at: time, flowHash: flowHash, closing: sink)
    }

    /// Hands over a settling failure with its verdict: it is final.
    private mutating func settle(_ slot: Int32, closing sink: (Session) -> Void) {
        let attempt = table[slot]
        var closed = session(attempt, outcome: attempt.pendingVerdict ?? .timeout,
                             duration: elapsed(attempt, until: attempt.decidedAt))
        closed.icmpType = attempt.icmpType
        closed.icmpCode = attempt.icmpCode
        table.remove(slot)
        sink(closed)
    }

    /// An opening SYN for a flow with no open attempt: a late copy of a
    /// recent success's SYN opens nothing (mirrored traffic shows packets
    /// twice); any other starts an attempt.
    private mutating func openUnlessLateDuplicate(_ segment: TCPSegment, at time: Timestamp, flowHash flow: UInt64,
                                                  closing sink: (Session) -> Void) {
        if let isn = recentSuccesses.clientISN(of: flow, now: now) {
            if isn == segment.sequence {
                statistics.lateDuplicateSYN &+= 1
                return
            }
            recentSuccesses.forget(flow: flow)
        }
        open(segment, at: time, flowHash: flow, closing: sink)
    }

    // MARK: Helpers

    /// How far past a server ISN + 1 a segment may start and still be the
    /// server's (a maximal TCP window).
    private static var sequenceWindow: UInt32 { 1 << 30 }

    private func acknowledgesServerSYN(_ ack: UInt32, _ attempt: Attempt) -> Bool {
        // ISN + 1, "or later" up to the data (and FIN) the server was seen
        // to send: an ack beyond that acknowledges nothing sent.
        if isWithin(ack, from: attempt.serverISN &+ 1, length: attempt.serverSent) { return true }
        return attempt.hasOtherServerISN && isWithin(ack, from: attempt.otherServerISN &+ 1, length: attempt.serverSent)
    }

    private mutating func succeed(_ slot: Int32, at time: Timestamp, closing sink: (Session) -> Void) {
        let attempt = table[slot]
        table.remove(slot)
        recentSuccesses.remember(flow: RecentSuccesses.flow(attempt.key), clientISN: attempt.clientISN,
                                  now: now, expires: now + timeout)
        sink(session(attempt, outcome: .success, duration: elapsed(attempt, until: time)))
    }

    /// Whether `value` lies in `[from, from + length]`, with wrapping.
    private func isWithin(_ value: UInt32, from start: UInt32, length: UInt32) -> Bool {
        value &- start <= length
    }

    private func elapsed(_ attempt: Attempt, until time: Timestamp) -> Timestamp.Duration {
        let duration = time - attempt.startedAt
        return duration.microseconds < 0 ? Timestamp.Duration(microseconds: 0) : duration
    }

    private func timeoutDuration(_ attempt: Attempt) -> Timestamp.Duration {
        Timestamp.Duration(microseconds: max(0, (attempt.lastSeen - attempt.startedAt).microseconds)) + timeout
    }

    private func session(_ attempt: Attempt, outcome: Outcome, duration: Timestamp.Duration) -> Session {
        Session(
            client: attempt.key.client, server: attempt.key.server,
            clientPort: attempt.key.clientPort, serverPort: attempt.key.serverPort, vlan: attempt.key.vlan,
            startedAt: attempt.startedAt, duration: duration, outcome: outcome,
            dupSYN: attempt.dupSYN, dupSYNACK: attempt.dupSYNACK, filters: attempt.filters,
            direction: attempt.direction)
    }
}
