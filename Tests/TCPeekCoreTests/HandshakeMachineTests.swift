import Testing
@testable import TCPeekCore

// One attempt's handshake as a plain value: every transition of SPEC §1,
// event by event, with the action the tracker is told to carry out. No
// table, no clock: deadlines (the timeout, the 3-second retry window) are
// the tracker's, and arrive here as the events they mean. Documentation
// addresses only.

// MARK: - Helpers

private let client = IPAddress(ipv4: 0xC633_6407)  // 198.51.100.7
private let server = IPAddress(ipv4: 0xCB00_7109)  // 203.0.113.9
private let clientPort: UInt16 = 40_000, serverPort: UInt16 = 80
private let cISN: UInt32 = 1_000
private let sISN: UInt32 = 7_000_000

/// Packet time: `us` microseconds after 2012-07-02 06:48:33 UTC.
private func t(_ us: Int64) -> Timestamp { Timestamp(microseconds: 1_341_211_713_000_000 + us) }

/// A segment of the attempt; the machine is told separately which side sent it.
private func segment(_ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0, length: UInt32 = 0) -> TCPSegment {
    TCPSegment(source: client, destination: server, sourcePort: clientPort, destinationPort: serverPort,
               sequence: seq, acknowledgment: ack, flags: flags, payloadLength: length)
}

/// A port unreachable quoting a segment with sequence number `seq`.
private func unreachable(quoting seq: UInt32, type: UInt8 = 3, code: UInt8 = 3) -> ICMPUnreachable {
    ICMPUnreachable(quotedSource: client, quotedDestination: server, quotedSourcePort: clientPort,
                    quotedDestinationPort: serverPort, quotedSequence: seq, type: type, code: code, isICMPv6: false)
}

/// A machine driven by one side's segments at a time.
private struct Handshake {
    var machine: HandshakeMachine
    init(isn: UInt32 = cISN, synPayload: UInt32 = 0) {
        machine = HandshakeMachine(clientISN: isn, synPayload: synPayload)
    }

    mutating func client(_ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0, length: UInt32 = 0,
                         at time: Int64 = 0) -> HandshakeMachine.Action {
        machine.received(segment(flags, seq: seq, ack: ack, length: length), from: .client, at: t(time))
    }

    mutating func server(_ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0, length: UInt32 = 0,
                         at time: Int64 = 0) -> HandshakeMachine.Action {
        machine.received(segment(flags, seq: seq, ack: ack, length: length), from: .server, at: t(time))
    }

    /// The server's SYN/ACK to the client's SYN.
    mutating func synACK(isn: UInt32 = sISN) -> HandshakeMachine.Action {
        server([.syn, .ack], seq: isn, ack: cISN &+ 1)
    }

    /// The server refuses the SYN: RST+ACK acknowledging it.
    mutating func refusal(at time: Int64) -> HandshakeMachine.Action {
        server([.rst, .ack], seq: 0, ack: cISN &+ 1, at: time)
    }
}

// MARK: - Tests

@Suite struct HandshakeMachineTests {
    // MARK: Success

    @Test func threeWayHandshakeSucceeds() {
        var h = Handshake()
        #expect(h.synACK() == .postponeTimeout)
        #expect(h.machine.failure == nil)
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 1) == .close(.success))
        #expect(h.machine.dupSYN == 0 && h.machine.dupSYNACK == 0)
    }

    /// The client's ACK must follow its SYN and acknowledge the server's;
    /// anything else leaves the attempt open (and postpones its timeout).
    @Test func anACKOfSomethingElseDecidesNothing() {
        var h = Handshake()
        _ = h.synACK()
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 2) == .postponeTimeout)
        #expect(h.client(.ack, seq: cISN + 5, ack: sISN + 1) == .postponeTimeout)
        #expect(h.client(.fin, seq: cISN + 1) == .postponeTimeout)
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 1) == .close(.success))
    }

    /// A SYN/ACK that does not acknowledge the client's SYN is not its answer.
    @Test func aSYNACKOfAnotherSYNIsNotTheAnswer() {
        var h = Handshake()
        #expect(h.server([.syn, .ack], seq: sISN, ack: cISN + 9) == .postponeTimeout)
        #expect(h.client(.ack, seq: cISN + 1, ack: 0) == .postponeTimeout)
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 1) == .close(.success), "no SYN/ACK seen: an ACK proves one")
    }

    /// The SYN/ACK was not captured: an ACK right after the SYN proves one
    /// arrived, unless its ack number is 0 (a TFO client closing).
    @Test func anACKWithoutACapturedSYNACKSucceedsUnlessItAcknowledgesZero() {
        var h = Handshake()
        #expect(h.client(.ack, seq: cISN + 1, ack: 0) == .postponeTimeout)
        #expect(h.client(.ack, seq: cISN + 1, ack: 12_345) == .close(.success))
    }

    /// Data the server sent after its SYN/ACK may be acknowledged at once;
    /// an ack beyond what it sent acknowledges nothing.
    @Test func theClientMayAcknowledgeServerData() {
        var h = Handshake()
        _ = h.synACK()
        #expect(h.server([.ack, .psh], seq: sISN + 1, ack: cISN + 1, length: 100) == .postponeTimeout)
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 1 + 101) == .postponeTimeout)
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 1 + 100) == .close(.success))
    }

    /// TCP Fast Open: the SYN's payload may be acknowledged, and the client's
    /// next segment may start within it.
    @Test func aSYNPayloadMayBeAcknowledged() {
        var h = Handshake(synPayload: 50)
        #expect(h.server([.syn, .ack], seq: sISN, ack: cISN + 51) == .postponeTimeout)
        #expect(h.client(.ack, seq: cISN + 51, ack: sISN + 1) == .close(.success))
    }

    /// Both sides send a SYN: once the client acknowledges the server's, the
    /// server's SYN/ACK acknowledging the client's completes it.
    @Test func simultaneousOpenSucceedsOnBothSYNsAcknowledged() {
        var h = Handshake()
        #expect(h.server(.syn, seq: sISN) == .postponeTimeout)
        #expect(h.client([.syn, .ack], seq: cISN, ack: sISN + 1) == .postponeTimeout)
        #expect(h.server([.syn, .ack], seq: sISN, ack: cISN + 1) == .close(.success))
    }

    /// Split handshake: the server's plain ACK of the client's SYN, after its
    /// own SYN was acknowledged, completes it.
    @Test func splitHandshakeSucceedsOnTheServersACK() {
        var h = Handshake()
        _ = h.server(.syn, seq: sISN)
        #expect(h.server(.ack, seq: sISN + 1, ack: cISN + 1) == .postponeTimeout, "the client's ACK is missing")
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 1) == .postponeTimeout)
        #expect(h.server(.ack, seq: sISN + 2, ack: cISN + 1) == .postponeTimeout, "not after its SYN")
        #expect(h.server(.ack, seq: sISN + 1, ack: cISN + 1) == .close(.success))
    }

    /// A server SYN that does not acknowledge the client's, then its SYN/ACK
    /// that does: an ordinary handshake from there.
    @Test func aServerSYNThenItsSYNACK() {
        var h = Handshake()
        _ = h.server(.syn, seq: sISN)
        #expect(h.synACK(isn: sISN + 500) == .postponeTimeout)
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 501) == .close(.success))
    }

    // MARK: Retransmissions

    /// The client's SYN again (same ISN) counts as dup_syn and keeps the
    /// attempt open; a new ISN is the next attempt on a reused port.
    @Test func synRetransmissionAndPortReuse() {
        var h = Handshake()
        #expect(h.client(.syn, seq: cISN, at: 1_000_000) == .postponeTimeout)
        #expect(h.client([.syn, .ece, .cwr], seq: cISN, at: 3_000_000) == .postponeTimeout, "ECN bits ride along")
        #expect(h.machine.dupSYN == 2)
        #expect(h.client(.syn, seq: cISN + 77) == .closeAndOpenNext(.timeout))
        #expect(h.machine.dupSYN == 2)
    }

    /// The server's SYN/ACK again (same ISN) counts as dup_synack; a SYN/ACK
    /// with a new ISN (a restarted server) does not, and the client may
    /// acknowledge either ISN; a copy of either counts.
    @Test func synACKRetransmissionAndARestartedServer() {
        var h = Handshake()
        _ = h.synACK()
        #expect(h.synACK() == .postponeTimeout)
        #expect(h.machine.dupSYNACK == 1)
        #expect(h.synACK(isn: sISN + 9_000) == .postponeTimeout)
        #expect(h.machine.dupSYNACK == 1)
        #expect(h.synACK(isn: sISN + 9_000) == .postponeTimeout)
        #expect(h.synACK() == .postponeTimeout)
        #expect(h.machine.dupSYNACK == 3)
        var other = h
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 9_001) == .close(.success))
        #expect(other.client(.ack, seq: cISN + 1, ack: sISN + 1) == .close(.success))
    }

    // MARK: Resets

    /// A RST from the server acknowledging the SYN rejects the attempt,
    /// pending the retry window; the failure remembers when.
    @Test func aServerResetRejects() {
        var h = Handshake()
        #expect(h.refusal(at: 250_000) == .startSettling(.reject))
        #expect(h.machine.failure == HandshakeMachine.Failure(decidedAt: t(250_000), verdict: .reject,
                                                                         resetHopLimit: 64))
    }

    /// From the server, a RST that acknowledges nothing fits only after its
    /// SYN, with the sequence number following it (either ISN of a
    /// restarted server).
    @Test func aServerResetMustAcknowledgeTheSYNOrFollowItsOwn() {
        var h = Handshake()
        #expect(h.server(.rst, seq: sISN + 1) == .ignoreReset)
        #expect(h.server([.rst, .ack], seq: 0, ack: cISN + 2) == .ignoreReset)
        _ = h.synACK()
        _ = h.synACK(isn: sISN + 9_000)
        var first = h
        #expect(first.server(.rst, seq: sISN + 1) == .startSettling(.reject))
        #expect(h.server(.rst, seq: sISN + 2) == .ignoreReset)
        #expect(h.server(.rst, seq: sISN + 9_001) == .startSettling(.reject))
        var simultaneous = Handshake()
        _ = simultaneous.server(.syn, seq: sISN)
        #expect(simultaneous.server(.rst, seq: sISN + 1) == .startSettling(.reject))
    }

    /// A RST from the client with the sequence number following its SYN (or
    /// its ISN) aborts the attempt; any other fits no attempt.
    @Test func aClientResetAborts() {
        var h = Handshake()
        _ = h.synACK()
        #expect(h.client(.rst, seq: cISN + 2) == .ignoreReset)
        #expect(h.client(.rst, seq: cISN - 1) == .ignoreReset)
        var isn = h
        #expect(isn.client(.rst, seq: cISN, at: 10) == .startSettling(.abort))
        #expect(h.client([.rst, .ack], seq: cISN + 1, ack: sISN + 1, at: 20) == .startSettling(.abort))
        #expect(h.machine.failure == HandshakeMachine.Failure(decidedAt: t(20), verdict: .abort, resetHopLimit: 64))
    }

    // MARK: ICMP

    /// An ICMP unreachable quoting the client's SYN fails the attempt as
    /// unreach, with its type and code; one quoting anything else, or
    /// arriving once the attempt failed, decides nothing.
    @Test func anUnreachableQuotingTheSYNDecides() {
        var h = Handshake()
        #expect(h.machine.unreachable(unreachable(quoting: cISN + 1), quoting: .client, at: t(5)) == .ignoreUnreachable)
        #expect(h.machine.unreachable(unreachable(quoting: cISN), quoting: .server, at: t(5)) == .ignoreUnreachable)
        #expect(h.machine.unreachable(unreachable(quoting: cISN, type: 3, code: 1), quoting: .client, at: t(7))
            == .startSettling(.unreach))
        #expect(h.machine.failure
            == HandshakeMachine.Failure(decidedAt: t(7), verdict: .unreach, icmpType: 3, icmpCode: 1))
        #expect(h.machine.unreachable(unreachable(quoting: cISN, code: 3), quoting: .client, at: t(9))
            == .ignoreUnreachable)
        #expect(h.machine.failure?.icmpCode == 1, "the first answer decided")
    }

    // MARK: Settling failures

    /// Within the retry window the client re-sends the same SYN: the same
    /// connect() goes on, counting a dup_syn, from a fresh handshake (what
    /// the server said before is forgotten), and may still succeed.
    @Test func aSameISNSYNWhileSettlingContinuesAsDupSYN() {
        var h = Handshake()
        _ = h.synACK()
        #expect(h.client(.rst, seq: cISN + 1, at: 100) == .startSettling(.abort))
        #expect(h.client(.syn, seq: cISN, at: 1_000_100) == .reopen)
        #expect(h.machine.failure == nil)
        #expect(h.machine.dupSYN == 1)
        #expect(h.server(.rst, seq: sISN + 1) == .ignoreReset, "the old SYN/ACK is forgotten")
        #expect(h.client(.ack, seq: cISN + 1, ack: 0) == .postponeTimeout)
        #expect(h.synACK(isn: sISN + 3) == .postponeTimeout)
        #expect(h.machine.dupSYNACK == 0)
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 4) == .close(.success))
    }

    /// A refused SYN retried twice (Windows' pattern): each refusal starts
    /// a new window, each retry reopens; the last refusal stands once its
    /// window passes.
    @Test func repeatedRefusalsSettleWithTheLast() {
        var h = Handshake()
        #expect(h.refusal(at: 0) == .startSettling(.reject))
        #expect(h.client(.syn, seq: cISN, at: 500_000) == .reopen)
        #expect(h.refusal(at: 500_100) == .startSettling(.reject))
        #expect(h.client(.syn, seq: cISN, at: 1_000_000) == .reopen)
        #expect(h.refusal(at: 1_000_100) == .startSettling(.reject))
        #expect(h.machine.dupSYN == 2)
        #expect(h.machine.failure?.decidedAt == t(1_000_100))
        #expect(h.machine.retryWindowPassed() == .close(.reject))
    }

    /// While settling, only an opening SYN means something: the client's
    /// with a new ISN, or one from the server side, starts the next attempt
    /// and makes the failure final; a RST is counted as fitting nothing;
    /// the rest is ignored without postponing anything.
    @Test func whileSettlingOnlyAnOpeningSYNCounts() {
        var h = Handshake()
        _ = h.machine.unreachable(unreachable(quoting: cISN), quoting: .client, at: t(1))
        #expect(h.client(.ack, seq: cISN + 1, ack: sISN + 1) == .none)
        #expect(h.synACK() == .none)
        #expect(h.client([.syn, .ack], seq: cISN, ack: sISN + 1) == .none)
        #expect(h.refusal(at: 2) == .ignoreReset)
        #expect(h.client(.rst, seq: cISN + 1) == .ignoreReset)
        #expect(h.machine.failure?.verdict == .unreach)
        var fromServer = h
        #expect(fromServer.server(.syn, seq: cISN) == .closeAndOpenNext(.unreach))
        #expect(h.client(.syn, seq: cISN + 1) == .closeAndOpenNext(.unreach))
    }

    // MARK: Deadlines

    /// The timeout closes an open attempt as timeout, whatever it saw.
    @Test func theTimeoutClosesAnOpenAttempt() {
        var h = Handshake()
        #expect(h.machine.timeoutPassed() == .close(.timeout))
        _ = h.synACK()
        _ = h.synACK()
        #expect(h.machine.timeoutPassed() == .close(.timeout))
        #expect(h.machine.dupSYNACK == 1)
    }

    /// The end of the retry window makes a failure final, and means nothing
    /// to an open attempt.
    @Test func theRetryWindowSettlesOnlyAFailure() {
        var h = Handshake()
        #expect(h.machine.retryWindowPassed() == .none)
        _ = h.refusal(at: 0)
        #expect(h.machine.retryWindowPassed() == .close(.reject))
        _ = h.client(.syn, seq: cISN)
        #expect(h.machine.retryWindowPassed() == .none)
    }

    // MARK: Storage

    /// The machine lives inline in the table's slots: trivial (no reference
    /// counting, no allocation when a slot is written), and an attempt
    /// stays exactly two cache lines with its evidence.
    @Test func theMachineIsASmallTrivialValue() {
        #expect(_isPOD(HandshakeMachine.self))
        #expect(_isPOD(Attempt.self))
        #expect(MemoryLayout<HandshakeMachine.Evidence>.size <= 15)
        #expect(MemoryLayout<HandshakeMachine>.size <= 56)
        #expect(MemoryLayout<Attempt>.size <= 128)
        #expect(MemoryLayout<Attempt>.stride == 128)
    }
}
