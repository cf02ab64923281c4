/// One connection attempt's handshake (SPEC §1) as a value: each event, a
/// segment of either side, an ICMP error, a deadline, moves it on and
/// returns what the tracker has to do about it. It decides only: the
/// tracker keeps the table, the timers and the remembered successes, and
/// executes the `Action`.
///
/// Small and trivial (stored inline in the attempt table's slots): events
/// never allocate. Capture thread only.
struct HandshakeMachine: Equatable {
    /// Which end of the attempt sent a segment (or sent the segment an ICMP
    /// error quotes).
    enum Side: Equatable {
        case client
        case server
    }

    /// What the tracker does after an event.
    enum Action: Equatable {
        /// Nothing: the event is not of the open attempt (a segment while
        /// the attempt settles) and does not postpone anything.
        case none
        /// A segment of the open attempt: its timeout runs again from now.
        case postponeTimeout
        /// A RST that fits no attempt (SPEC §1): counted, otherwise ignored.
        /// It does not postpone the timeout either.
        case ignoreReset
        /// An ICMP error that does not answer this attempt's SYN.
        case ignoreUnreachable
        /// The attempt failed with this verdict (`failure` says how): it
        /// settles for the retry window before it is final.
        case startSettling(Outcome)
        /// The client re-sent the settling failure's SYN: the same connect()
        /// goes on, the attempt is open again.
        case reopen
        /// The attempt ends with this outcome.
        case close(Outcome)
        /// An opening SYN that is not of this attempt but starts the next
        /// on the same 4-tuple: this attempt closes first with this outcome
        /// (`timeout` when it was never answered, else its settled verdict).
        case closeAndOpenNext(Outcome)
    }

    /// A failed attempt's verdict while it settles.
    struct Failure: Equatable {
        /// Packet time of the segment or ICMP error that decided it.
        var decidedAt: Timestamp
        var verdict: Outcome
        /// What decided an `unreach`; zero otherwise.
        var icmpType: UInt8 = 0
        var icmpCode: UInt8 = 0
        /// The deciding RST's hop limit; 0 for an ICMP error.
        var resetHopLimit: UInt8 = 0
    }

    /// What the attempt's packets said beyond their verdict, kept compact
    /// (15 bytes) so that the machine still fits its table slot: times are
    /// microseconds since the first SYN, saturating (71 minutes), and an
    /// absent hop limit is 0, which no captured packet carries.
    struct Evidence: Equatable {
        /// The last SYN before the first SYN/ACK: later ones are the
        /// client missing the answer, not time lost waiting for it.
        var lastSYNAt: UInt32 = 0
        /// The first SYN/ACK acknowledging the client's SYN; `.max` if none.
        var synAckAt: UInt32 = .max
        var synAckOptions = SYNOptions()
        var synHopLimit: UInt8
        var synAckHopLimit: UInt8 = 0
        /// RSTs that fit no part of the attempt (saturating), and the last one's hop limit.
        var ignoredResets: UInt8 = 0
        var ignoredResetHopLimit: UInt8 = 0

        var sawSYNACK: Bool { synAckAt != .max }
    }

    /// The server's SYN/ACK as seen, once it acknowledged the client's SYN.
    private struct ServerSYN: Equatable {
        var isn: UInt32
        /// Bytes (and FIN) the server was seen to send after its SYN: the
        /// client's ACK may acknowledge up to ISN + 1 + this.
        var sent: UInt32
        /// A second ISN, when the server restarted its handshake: the client
        /// may acknowledge either.
        var otherISN: UInt32?

        /// Whether `ack` acknowledges the server's SYN: ISN + 1, "or later"
        /// up to what the server was seen to send; beyond that it
        /// acknowledges nothing sent.
        func isAcknowledged(by ack: UInt32) -> Bool {
            if isWithin(ack, from: isn &+ 1, length: sent) { return true }
            guard let otherISN else { return false }
            return isWithin(ack, from: otherISN &+ 1, length: sent)
        }

        /// Whether `sequence` is the one following the server's SYN.
        func isFollowed(by sequence: UInt32) -> Bool {
            sequence == isn &+ 1 || (otherISN.map { sequence == $0 &+ 1 } ?? false)
        }

        /// Notes data (or a FIN) the server sent after its SYN/ACK.
        mutating func noteSent(from sequence: UInt32, length: UInt32) {
            let offset = sequence &- (isn &+ 1)
            if offset < HandshakeMachine.sequenceWindow { sent = max(sent, offset &+ length) }
            if let otherISN {
                let otherOffset = sequence &- (otherISN &+ 1)
                if otherOffset < HandshakeMachine.sequenceWindow { sent = max(sent, otherOffset &+ length) }
            }
        }
    }

    private enum State: Equatable {
        /// The client's SYN was seen.
        case synSent
        /// Both sides sent a SYN (simultaneous open, or a split handshake);
        /// the server's did not acknowledge the client's.
        case simultaneousOpen(serverISN: UInt32)
        /// Both sides sent a SYN and the client acknowledged the server's;
        /// the server has yet to acknowledge the client's.
        case serverSYNAcknowledged(serverISN: UInt32)
        /// The server's SYN/ACK acknowledging the client's SYN was seen.
        case synReceived(ServerSYN)
        /// A RST or an ICMP error decided the attempt; the client may still
        /// retry the same SYN (SPEC §1, one connect() is one attempt).
        case settling(Failure)
    }

    /// Packet time of the client's first SYN.
    let openedAt: Timestamp
    let clientISN: UInt32
    /// Payload carried by the SYN (TCP Fast Open): it may be acknowledged.
    let synPayload: UInt32
    /// Copies of the client's SYN (same ISN) after the first.
    private(set) var dupSYN: UInt32 = 0
    /// Copies of the server's SYN/ACK (same server ISN) after the first.
    private(set) var dupSYNACK: UInt32 = 0
    private(set) var evidence: Evidence
    private var state = State.synSent

    /// An attempt opened by the client's SYN at packet time `openedAt`.
    init(clientISN: UInt32, synPayload: UInt32, openedAt: Timestamp = .zero, synHopLimit: UInt8 = 64) {
        self.openedAt = openedAt
        self.clientISN = clientISN
        self.synPayload = synPayload
        self.evidence = Evidence(synHopLimit: synHopLimit)
    }

    /// Initialised `opening` by the client's SYN `segment` at `time`.
    init(opening segment: TCPSegment, at time: Timestamp) {
        self.init(clientISN: segment.sequence, synPayload: segment.payloadLength, openedAt: time,
                  synHopLimit: segment.hopLimit)
    }

    /// The verdict waiting for the retry window to pass; nil while open.
    var failure: Failure? {
        if case .settling(let failure) = state { return failure }
        return nil
    }

    /// The server's ISN, as its SYN/ACK (or SYN) gave it; nil before.
    var serverISN: UInt32? {
        switch state {
        case .synReceived(let server): server.isn
        case .simultaneousOpen(let isn), .serverSYNAcknowledged(let isn): isn
        case .synSent, .settling: nil
        }
    }

    // MARK: Events

    /// A TCP segment of the attempt's 4-tuple from `side`, at packet `time`.
    mutating func received(_ segment: TCPSegment, from side: Side, at time: Timestamp) -> Action {
        if case .settling(let failure) = state {
            return receivedWhileSettling(segment, from: side, failure: failure)
        }
        let flags = segment.flags.intersection(TCPFlags.control)
        if flags.contains(.rst) { return reset(segment, from: side, at: time) }
        switch side {
        case .client: return fromClient(segment, flags: flags, at: time)
        case .server: return fromServer(segment, flags: flags, at: time)
        }
    }

    /// An ICMP unreachable (`meansUnreachable`) quoting a segment of the
    /// attempt's 4-tuple sent by `side`. Only an answer to this attempt's
    /// own SYN decides it, once.
    mutating func unreachable(_ message: ICMPUnreachable, quoting side: Side, at time: Timestamp) -> Action {
        guard failure == nil, side == .client, message.quotedSequence == clientISN else {
            return .ignoreUnreachable
        }
        state = .settling(Failure(decidedAt: time, verdict: .unreach, icmpType: message.type, icmpCode: message.code))
        return .startSettling(.unreach)
    }

    /// No segment of the open attempt for the timeout: it was never
    /// answered.
    func timeoutPassed() -> Action {
        .close(failure?.verdict ?? .timeout)
    }

    /// The retry window of a failure passed without a retry: its verdict is
    /// final.
    func retryWindowPassed() -> Action {
        guard let failure else { return .none }
        return .close(failure.verdict)
    }

    // MARK: Transitions

    private mutating func fromClient(_ segment: TCPSegment, flags: TCPFlags, at time: Timestamp) -> Action {
        if flags == .syn {
            // A new ISN: the port is reused, the old attempt was never answered.
            guard segment.sequence == clientISN else { return .closeAndOpenNext(.timeout) }
            dupSYN &+= 1
            if !evidence.sawSYNACK { evidence.lastSYNAt = offset(of: time) }
            return .postponeTimeout
        }
        guard flags.contains(.ack) else { return .postponeTimeout }
        // The client's segment right after its SYN: seq = ISN + 1 (its own
        // SYN/ACK in a simultaneous open repeats the ISN), or later within
        // the data its SYN carried. Anything else is not this handshake's.
        let expectedSequence = flags.contains(.syn) ? clientISN : clientISN &+ 1
        guard isWithin(segment.sequence, from: expectedSequence, length: synPayload) else { return .postponeTimeout }
        switch state {
        case .synReceived(let server):
            // The client acknowledges the server's SYN/ACK: ISN + 1, or
            // later if it already acknowledges data the server sent.
            if server.isAcknowledged(by: segment.acknowledgment) { return .close(.success) }
        case .simultaneousOpen(let serverISN):
            // Once the client acknowledges the server's SYN, the handshake
            // still waits for the server to acknowledge the client's.
            if segment.acknowledgment == serverISN &+ 1 { state = .serverSYNAcknowledged(serverISN: serverISN) }
        case .synSent:
            // The SYN/ACK was not captured (drop, reordering), but a client
            // only sends an ACK right after its SYN once it received one.
            // An ack number of 0 is what a client sends when it never
            // received a SYN/ACK (a TFO client closing), so it proves nothing.
            if !flags.contains(.syn) && segment.acknowledgment != 0 { return .close(.success) }
        case .serverSYNAcknowledged, .settling:
            break
        }
        return .postponeTimeout
    }

    private mutating func fromServer(_ segment: TCPSegment, flags: TCPFlags, at time: Timestamp) -> Action {
        let acknowledgesClientSYN = flags.contains(.ack)
            && isWithin(segment.acknowledgment, from: clientISN &+ 1, length: synPayload)
        switch flags {
        case .syn:
            // Simultaneous open: the server side sends its own SYN.
            if case .synSent = state { state = .simultaneousOpen(serverISN: segment.sequence) }
        case [.syn, .ack]:
            guard acknowledgesClientSYN else { break }
            noteSYNACK(segment, at: time)
            switch state {
            case .synSent, .simultaneousOpen:
                state = .synReceived(ServerSYN(isn: segment.sequence, sent: segment.payloadLength))
            case .serverSYNAcknowledged:
                // Simultaneous open: now both SYNs are acknowledged.
                return .close(.success)
            case .synReceived(var server):
                if segment.sequence == server.isn || segment.sequence == server.otherISN {
                    // The same SYN/ACK again: a retransmission.
                    dupSYNACK &+= 1
                } else {
                    // A server that restarted its handshake. A new ISN is not
                    // a duplicate (SPEC §1 counts dup_synack for the same
                    // server ISN).
                    server.otherISN = segment.sequence
                }
                server.sent = max(server.sent, segment.payloadLength)
                state = .synReceived(server)
            case .settling:
                break
            }
        default:
            guard flags.contains(.ack) else { break }
            switch state {
            case .serverSYNAcknowledged(let serverISN):
                // Split handshake: the server's ACK of the client's SYN
                // (following its own SYN) completes it.
                if acknowledgesClientSYN && segment.sequence == serverISN &+ 1 { return .close(.success) }
            case .synReceived(var server):
                // Data (or a FIN) the server sent after its SYN/ACK: the
                // client's ACK may acknowledge it.
                server.noteSent(from: segment.sequence,
                                length: segment.payloadLength &+ (flags.contains(.fin) ? 1 : 0))
                state = .synReceived(server)
            case .synSent, .simultaneousOpen, .settling:
                break
            }
        }
        return .postponeTimeout
    }

    /// A plausible RST decides the attempt; any other fits no attempt
    /// (SPEC §1).
    private mutating func reset(_ segment: TCPSegment, from side: Side, at time: Timestamp) -> Action {
        let plausible: Bool
        switch side {
        case .client:
            // The client gives up or refuses the SYN/ACK: its RST carries the
            // sequence number following its SYN (some stacks repeat the ISN).
            plausible = isWithin(segment.sequence, from: clientISN, length: synPayload &+ 1)
        case .server:
            // An answer to the SYN must acknowledge it; after its own SYN the
            // server may also reset with the sequence number following it.
            let acknowledgesSYN = segment.flags.contains(.ack)
                && isWithin(segment.acknowledgment, from: clientISN &+ 1, length: synPayload)
            plausible = acknowledgesSYN || followsServerSYN(segment.sequence)
        }
        guard plausible else {
            evidence.ignoredResets = evidence.ignoredResets == .max ? .max : evidence.ignoredResets + 1
            evidence.ignoredResetHopLimit = segment.hopLimit
            return .ignoreReset
        }
        let verdict: Outcome = side == .client ? .abort : .reject
        state = .settling(Failure(decidedAt: time, verdict: verdict, resetHopLimit: segment.hopLimit))
        return .startSettling(verdict)
    }

    /// A segment while the failure settles. The client's SYN with the same
    /// ISN retries the attempt, which goes on; any other opening SYN is a
    /// new attempt, so the failure is final. The rest belongs to no open
    /// attempt, as it would once the attempt is gone.
    private mutating func receivedWhileSettling(_ segment: TCPSegment, from side: Side,
                                                failure: Failure) -> Action {
        guard segment.flags.isOpeningSYN else { return segment.flags.contains(.rst) ? .ignoreReset : .none }
        guard side == .client && segment.sequence == clientISN else { return .closeAndOpenNext(failure.verdict) }
        dupSYN &+= 1
        state = .synSent
        return .reopen
    }

    /// The first SYN/ACK acknowledging the client's SYN: when, from how
    /// far, with which options.
    private mutating func noteSYNACK(_ segment: TCPSegment, at time: Timestamp) {
        guard !evidence.sawSYNACK else { return }
        evidence.synAckAt = offset(of: time)
        evidence.synAckHopLimit = segment.hopLimit
        evidence.synAckOptions = segment.synOptions
    }

    /// Microseconds from the first SYN to `time`, saturating.
    private func offset(of time: Timestamp) -> UInt32 {
        let micros = (time - openedAt).microseconds
        return micros <= 0 ? 0 : UInt32(clamping: micros)
    }

    private func followsServerSYN(_ sequence: UInt32) -> Bool {
        switch state {
        case .synSent, .settling: false
        case .simultaneousOpen(let serverISN), .serverSYNAcknowledged(let serverISN): sequence == serverISN &+ 1
        case .synReceived(let server): server.isFollowed(by: sequence)
        }
    }

    /// How far past a server ISN + 1 a segment may start and still be the
    /// server's (a maximal TCP window).
    private static var sequenceWindow: UInt32 { 1 << 30 }
}

/// Whether `value` lies in `[start, start + length]`, with wrapping.
@inline(__always)
private func isWithin(_ value: UInt32, from start: UInt32, length: UInt32) -> Bool {
    value &- start <= length
}
