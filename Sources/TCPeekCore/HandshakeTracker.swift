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
/// Each attempt's handshake is a `HandshakeMachine` value in its table
/// slot, which decides what every segment, ICMP error and deadline means;
/// the tracker finds the attempt, keeps the table, the deadlines and the
/// remembered successes, and carries out the machine's `Action`.
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
    /// How long a success waits before it is final: a server that did not
    /// take the client's ACK (a full accept queue) sends its SYN/ACK again
    /// at its first retransmission timeout, 1 s after the first on Linux
    /// (RFC 6298's initial RTO), and the success is flagged
    /// `server-dropped-ack`. Zero hands every success over at its ACK.
    public let confirmWindow: Timestamp.Duration
    public let maxPending: Int
    public let filters: FilterSet
    public var localAddresses: LocalAddresses
    public private(set) var statistics = TrackerStatistics()
    /// The tracker's clock: the latest packet time seen, or advanced by the
    /// caller while a live capture is idle. Never goes backwards.
    public private(set) var now: Timestamp = .zero
    private let table: AttemptTable
    private let recentSuccesses: RecentSuccesses
    private let pendingSuccesses: PendingSuccesses
    private let judge = CauseJudge()
    /// The tracker's clock when libpcap last reported dropped packets: an
    /// attempt open then may have lost its answer.
    private var captureLossAt: Timestamp?

    public init(filters: FilterSet, localAddresses: LocalAddresses = .none,
                timeout: Timestamp.Duration = .seconds(60), retryWindow: Timestamp.Duration = .seconds(3),
                confirmWindow: Timestamp.Duration = Self.defaultConfirmWindow, maxPending: Int = 1_000_000) {
        self.filters = filters
        self.localAddresses = localAddresses
        self.timeout = timeout
        self.retryWindow = retryWindow
        self.confirmWindow = confirmWindow
        self.pendingSuccesses = PendingSuccesses(window: confirmWindow)
        self.maxPending = max(1, maxPending)
        self.table = AttemptTable(initialCapacity: min(self.maxPending, 4096))
        self.recentSuccesses = RecentSuccesses(limit: self.maxPending)
    }

    /// Open and settling attempts plus recent successes remembered for
    /// duplicate detection. Reads the whole table of successes: tests and
    /// diagnostics.
    public var trackedCount: Int { table.count + recentSuccesses.count(at: now) }

    /// 1.5 s: Linux's first SYN/ACK retransmission, with room for timer slack.
    public static let defaultConfirmWindow = Timestamp.Duration(microseconds: 1_500_000)

    /// Attempts still undecided.
    public var openCount: Int { table.count - table.settlingCount }

    /// Successes waiting for `confirmWindow` to pass.
    public var confirmingCount: Int { pendingSuccesses.count }

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
    ///
    /// Waiting successes fall due about as often as attempts complete: they
    /// are handed over from the ring alone while the table's remembered
    /// deadline is later, without reading its lists' cold heads.
    private mutating func closeDue(closing sink: (Session) -> Void) {
        while true {
            if let due = pendingSuccesses.nextDue, due <= now, due <= tableDeadline {
                pendingSuccesses.popOldest(sink)
                continue
            }
            if tableDeadline <= now {
                let timingOut = table.oldest, settled = table.oldestSettling
                // Nothing open: the next attempt's deadline is at least a timeout away.
                let timeoutDeadline = timingOut >= 0 ? table[timingOut].lastSeen + timeout : now + timeout
                let settleDeadline = settled >= 0 ? table[settled].lastSeen + retryWindow : Timestamp(microseconds: .max)
                if settleDeadline <= now && settleDeadline <= timeoutDeadline {
                    settle(settled, closing: sink)
                    continue
                }
                if timingOut >= 0 && timeoutDeadline <= now {
                    perform(table[timingOut].handshake.timeoutPassed(), slot: timingOut, at: now, closing: sink)
                    continue
                }
                tableDeadline = min(timeoutDeadline, settleDeadline)
                continue
            }
            nextDeadline = min(tableDeadline, pendingSuccesses.nextDue ?? Timestamp(microseconds: .max))
            return
        }
    }

    /// No entry of the table falls due before this (the real deadline may
    /// be later: activity only postpones).
    private var tableDeadline: Timestamp = .zero

    /// No entry of the table falls due before this.
    private var nextDeadline: Timestamp = .zero

    /// libpcap reports packets dropped since it was last asked: attempts
    /// open now carry `captureDropped`, and such timeouts are `uncertain`.
    public mutating func noteCaptureLoss() {
        captureLossAt = now
    }

    /// The end of a capture file, where nothing will ever answer: every
    /// settling failure stands (`settleAll`), every open attempt is closed
    /// as `timeout`.
    public mutating func closeAll(closing sink: (Session) -> Void) {
        settleAll(closing: sink)
        var slot = table.oldest
        while slot >= 0 {
            let attempt = table[slot]
            if case .close(let outcome) = attempt.handshake.timeoutPassed() {
                sink(closedSession(attempt, slot: slot, outcome: outcome, at: now))
            }
            slot = attempt.next
        }
        table.removeAll()
        recentSuccesses.removeAll()
    }

    /// Makes every pending verdict final, in the order they were decided:
    /// a failure's stands, a success's as flagged so far (the end of a
    /// file, or the shutdown of a live capture).
    public mutating func settleAll(closing sink: (Session) -> Void) {
        while true {
            let settled = table.oldestSettling
            if let completed = pendingSuccesses.oldestCompletion,
               settled < 0 || completed <= table[settled].handshake.failure?.decidedAt ?? now {
                pendingSuccesses.popOldest(sink)
            } else if settled >= 0 {
                settle(settled, closing: sink)
            } else {
                return
            }
        }
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
            } else if segment.flags.isSYNACK, pendingSuccesses.count > 0 {
                // The server's SYN/ACK again after a success: it did not take the ACK.
                _ = pendingSuccesses.noteSYNACK(flowHash: flowHash, sequence: segment.sequence,
                                                acknowledgment: segment.acknowledgment)
            }
            return
        }
        let key = table[slot].key
        let side: HandshakeMachine.Side = segment.source == key.client && segment.sourcePort == key.clientPort
            ? .client : .server
        // A SYN/ACK: the client's ACK, a round trip later, will likely make
        // this a success to remember; start loading its set now.
        if side == .server && segment.flags.isSYNACK {
            recentSuccesses.prefetch(flowHash)
            if confirmWindow.microseconds > 0 { pendingSuccesses.prefetch(flowHash) }
            judge.noteSYNACK(from: key.server, hopLimit: segment.hopLimit)
        }
        let action = table[slot].handshake.received(segment, from: side, at: time)
        perform(action, slot: slot, at: time, closing: sink)
        if case .closeAndOpenNext = action { openUnlessLateDuplicate(segment, at: time, flowHash: flowHash, closing: sink) }
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
        let key = table[slot].key
        let side: HandshakeMachine.Side = message.quotedSource == key.client
            && message.quotedSourcePort == key.clientPort ? .client : .server
        let action = table[slot].handshake.unreachable(message, quoting: side, at: time)
        if case .startSettling = action {
            table[unreachableSourceOf: slot] = UnreachableSource(sender: message.sender, hopLimit: message.hopLimit)
        }
        perform(action, slot: slot, at: time, closing: sink)
    }

    // MARK: Actions

    /// Carries out what the attempt's machine decided about an event at
    /// packet `time`. Of `.closeAndOpenNext` only the closing: the caller,
    /// which holds the segment, opens the next attempt.
    @inline(__always)
    private mutating func perform(_ action: HandshakeMachine.Action, slot: Int32, at time: Timestamp,
                                  closing sink: (Session) -> Void) {
        switch action {
        case .none:
            break
        case .postponeTimeout:
            table.touch(slot, at: now)
        case .ignoreReset:
            statistics.ignoredRST &+= 1
        case .ignoreUnreachable:
            statistics.ignoredUnreachable &+= 1
        case .startSettling:
            // The client may retry the same SYN within `retryWindow` (SPEC
            // §1, one connect() is one attempt); handed over once the window
            // passes (`closeDue`).
            table.beginSettling(slot, at: now)
            if now + retryWindow < tableDeadline { tableDeadline = now + retryWindow }
            if now + retryWindow < nextDeadline { nextDeadline = now + retryWindow }
        case .reopen:
            table.reopen(slot, at: now)
        case .close(let outcome), .closeAndOpenNext(let outcome):
            let attempt = table[slot]
            table.remove(slot)
            let closed = closedSession(attempt, slot: slot, outcome: outcome, at: time)
            guard outcome == .success else {
                sink(closed)
                return
            }
            let flow = RecentSuccesses.flow(attempt.key)
            recentSuccesses.remember(flow: flow, clientISN: attempt.handshake.clientISN, now: now,
                                     expires: now + timeout)
            guard confirmWindow.microseconds > 0, let serverISN = attempt.handshake.serverISN else {
                sink(closed)
                return
            }
            // Final once the server could have re-sent its SYN/ACK; the
            // most waiting at once is bounded like the open attempts.
            if pendingSuccesses.count >= maxPending { pendingSuccesses.popOldest(sink) }
            pendingSuccesses.push(closed, flowHash: flow, clientISN: attempt.handshake.clientISN,
                                  serverISN: serverISN)
            if let due = pendingSuccesses.nextDue, due < nextDeadline { nextDeadline = due }
        }
    }

    // MARK: Opening

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
            lastSeen: now, filters: mask, handshake: HandshakeMachine(opening: segment, at: time),
            direction: FilterSet.direction(client: client, server: server, local: localAddresses)))
    }

    /// Makes room under a SYN flood: the oldest open attempt is closed as
    /// `timeout` early and counted as evicted.
    private mutating func evictOldest(closing sink: (Session) -> Void) {
        let slot = table.oldest
        guard slot >= 0 else { return }
        var closed = session(table[slot], outcome: .timeout, duration: now - table[slot].startedAt)
        closed.wasEvicted = true
        closed.evidence = evidence(of: table[slot], slot: slot, outcome: .timeout, at: now)
        judge.decide(&closed)
        statistics.evicted &+= 1
        sink(closed)
        table.remove(slot)
    }

    // MARK: Settling failures

    /// Hands over a settling failure with its verdict: it is final.
    private mutating func settle(_ slot: Int32, closing sink: (Session) -> Void) {
        perform(table[slot].handshake.retryWindowPassed(), slot: slot, at: now, closing: sink)
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

    // MARK: Sessions

    /// The session an attempt closed with `outcome` at packet `time` hands
    /// over. Its duration runs from the first SYN to the segment deciding
    /// a success, to the segment or ICMP error deciding a failure, and for
    /// a timeout to the last segment seen plus the timeout.
    /// Its evidence and cause come with it.
    private func closedSession(_ attempt: Attempt, slot: Int32, outcome: Outcome, at time: Timestamp) -> Session {
        var closed: Session
        switch outcome {
        case .success:
            closed = session(attempt, outcome: outcome, duration: elapsed(attempt, until: time))
        case .timeout:
            closed = session(attempt, outcome: outcome, duration: timeoutDuration(attempt))
        case .reject, .abort, .unreach:
            let failure = attempt.handshake.failure
            closed = session(attempt, outcome: outcome, duration: elapsed(attempt, until: failure?.decidedAt ?? time))
            closed.icmpType = failure?.icmpType ?? 0
            closed.icmpCode = failure?.icmpCode ?? 0
        }
        closed.evidence = evidence(of: attempt, slot: slot, outcome: outcome, at: time)
        judge.decide(&closed)
        return closed
    }

    /// The machine's compact evidence, spelled out, with what the tracker
    /// knows besides: the ICMP error's sender, and capture loss.
    private func evidence(of attempt: Attempt, slot: Int32, outcome: Outcome, at time: Timestamp) -> HandshakeEvidence {
        let compact = attempt.handshake.evidence
        var evidence = HandshakeEvidence()
        evidence.synHopLimit = compact.synHopLimit
        evidence.synRetryTime = Timestamp.Duration(microseconds: Int64(compact.lastSYNAt))
        if compact.sawSYNACK {
            evidence.synAckHopLimit = compact.synAckHopLimit
            evidence.synAckOptions = compact.synAckOptions
            evidence.synToSynAck = Timestamp.Duration(microseconds: Int64(compact.synAckAt) - Int64(compact.lastSYNAt))
            if outcome == .success {
                let synAck = attempt.startedAt + Timestamp.Duration(microseconds: Int64(compact.synAckAt))
                evidence.synAckToAck = Timestamp.Duration(microseconds: max(0, (time - synAck).microseconds))
            }
        }
        if let failure = attempt.handshake.failure {
            if failure.resetHopLimit != 0 { evidence.resetHopLimit = failure.resetHopLimit }
            if failure.verdict == .unreach {
                let source = table[unreachableSourceOf: slot]
                evidence.unreachableSender = source.sender
                evidence.unreachableHopLimit = source.hopLimit
            }
        }
        evidence.ignoredResets = UInt16(compact.ignoredResets)
        if compact.ignoredResets > 0 { evidence.ignoredResetHopLimit = compact.ignoredResetHopLimit }
        if let captureLossAt, captureLossAt >= attempt.startedAt { evidence.captureDropped = true }
        return evidence
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
            dupSYN: attempt.handshake.dupSYN, dupSYNACK: attempt.handshake.dupSYNACK, filters: attempt.filters,
            direction: attempt.direction)
    }
}
