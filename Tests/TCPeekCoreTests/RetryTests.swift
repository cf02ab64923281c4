import Testing
@testable import TCPeekCore

// SPEC §1, "One connect() is one attempt": a client that re-sends the same
// SYN after a RST or an ICMP error is retrying the same connect(). Captures
// built frame by frame (FrameBuilder) go through the whole packet path, as
// `tcpeek record -r` takes them: decoder, look-ahead, tracker. Documentation
// addresses only.

// MARK: - Helpers

private let client4 = IPAddress(ipv4: 0xC633_6407)  // 198.51.100.7
private let server4 = IPAddress(ipv4: 0xCB00_7109)  // 203.0.113.9
private let client6 = IPAddress(high: 0x2001_0DB8_0000_0000, low: 7)  // 2001:db8::7
private let server6 = IPAddress(high: 0x2001_0DB8_0001_0000, low: 9)  // 2001:db8:1::9
private let clientPort: UInt16 = 49_700, serverPort: UInt16 = 8554
private let clientISN: UInt32 = 439_451_506, serverISN: UInt32 = 4_056_368_679

/// Packet time: seconds and microseconds after 2021-07-29 14:03:26 UTC.
private func at(_ seconds: Int64, _ micros: Int64 = 0) -> Timestamp {
    Timestamp(microseconds: 1_627_567_406_000_000 + seconds * 1_000_000 + micros)
}

/// One TCP connection between the client and the server, as frames.
private struct Conversation {
    var v6 = false
    var client: IPAddress { v6 ? client6 : client4 }
    var server: IPAddress { v6 ? server6 : server4 }

    private func packet(from source: IPAddress, to destination: IPAddress,
                        _ transport: FrameBuilder.Transport) -> FrameBuilder.Network {
        v6 ? .ipv6(FrameBuilder.IPv6(source: source, destination: destination, payload: transport))
            : .ipv4(FrameBuilder.IPv4(source: source, destination: destination, payload: transport))
    }

    private var synSegment: FrameBuilder.TCP {
        FrameBuilder.TCP(sourcePort: clientPort, destinationPort: serverPort, sequence: clientISN, flags: .syn,
                         options: FrameBuilder.TCP.linuxSYNOptions)
    }

    func syn(isn: UInt32 = clientISN) -> FrameBuilder {
        var segment = synSegment
        segment.sequence = isn
        return FrameBuilder(packet: packet(from: client, to: server, .tcp(segment)))
    }

    /// The server refuses the SYN: RST+ACK acknowledging it (Windows' peer, Linux).
    func refusal(isn: UInt32 = clientISN) -> FrameBuilder {
        FrameBuilder(packet: packet(from: server, to: client, .tcp(FrameBuilder.TCP(
            sourcePort: serverPort, destinationPort: clientPort, sequence: 0, acknowledgment: isn &+ 1,
            flags: [.rst, .ack], window: 0))))
    }

    func synACK() -> FrameBuilder {
        FrameBuilder(packet: packet(from: server, to: client, .tcp(FrameBuilder.TCP(
            sourcePort: serverPort, destinationPort: clientPort, sequence: serverISN, acknowledgment: clientISN &+ 1,
            flags: [.syn, .ack]))))
    }

    func ack() -> FrameBuilder {
        FrameBuilder(packet: packet(from: client, to: server, .tcp(FrameBuilder.TCP(
            sourcePort: clientPort, destinationPort: serverPort, sequence: clientISN &+ 1,
            acknowledgment: serverISN &+ 1, flags: .ack))))
    }

    /// Port unreachable from the server, quoting the client's SYN whole (as
    /// Linux and nftables' `reject with icmp(v6) port-unreachable` do).
    func portUnreachable() -> FrameBuilder {
        let syn = synSegment
        if v6 {
            let quoted = FrameBuilder.IPv6(source: client, destination: server, payload: .tcp(syn))
            return FrameBuilder(packet: packet(from: server, to: client, .icmpv6(
                FrameBuilder.ICMPv6(type: 1, code: 4, quoting: quoted))))
        }
        let quoted = FrameBuilder.IPv4(source: client, destination: server, payload: .tcp(syn))
        return FrameBuilder(packet: packet(from: server, to: client, .icmpv4(
            FrameBuilder.ICMPv4(type: 3, code: 3, quoting: quoted, quotedTransportBytes: nil))))
    }

    func session(_ outcome: Outcome, start: Timestamp, end: Timestamp, dupSYN: UInt32 = 0,
                 icmpType: UInt8 = 0, icmpCode: UInt8 = 0) -> Session {
        Session(client: client, server: server, clientPort: clientPort, serverPort: serverPort,
                startedAt: start, duration: end - start, outcome: outcome, dupSYN: dupSYN,
                filters: FilterMask(rawValue: 1), icmpType: icmpType, icmpCode: icmpCode)
    }
}

/// The packet path of a file read (`ALL:ANY@*:*`, default timeout and
/// retry window), collecting the sessions it closes.
private final class Capture {
    var path: PacketPath
    private var closed: [Session] = []

    init() throws {
        let filters = try FilterSet(filters: [], hasLocalNotion: false)
        path = PacketPath(decoder: PacketDecoder(linkType: .ethernet, checksumMode: .all, interpretsICMP: true),
                          tracker: HandshakeTracker(filters: filters))
    }

    /// Takes frames in order, then everything the look-ahead holds, as
    /// after each batch libpcap hands over.
    func read(_ frames: [(Timestamp, FrameBuilder)]) {
        var out: [Session] = []
        for (time, frame) in frames {
            frame.build().withUnsafeBytes { bytes in path.handle(frame: bytes, at: time) { out.append($0) } }
        }
        path.drain { out.append($0) }
        closed += out
    }

    /// Packet time runs on without packets (a live capture's idle clock).
    func advance(to time: Timestamp) {
        var out: [Session] = []
        path.tracker.advance(to: time) { out.append($0) }
        closed += out
    }

    func endOfFile() {
        var out: [Session] = []
        path.tracker.closeAll { out.append($0) }
        closed += out
    }

    func take() -> [Session] {
        defer { closed = [] }
        return closed.map(\.withoutEvidence)
    }
}

extension TrackerTests {
    @Suite struct Retry {
        /// ndpi__rtsp.pcap's Windows client: SYN, RST+ACK, the same SYN
        /// 0.5 s later, RST+ACK, and once more. One connect(), one reject,
        /// with the two retries as `dup_syn`; its line comes once the last
        /// refusal has settled, 3 s of packet time later.
        @Test(arguments: [false, true])
        func windowsRetriesAfterRSTAreOneReject(v6: Bool) throws {
            let capture = try Capture()
            let flow = Conversation(v6: v6)
            capture.read([
                (at(0), flow.syn()), (at(0, 312), flow.refusal()),
                (at(0, 500_000), flow.syn()), (at(0, 500_290), flow.refusal()),
                (at(1, 0), flow.syn()), (at(1, 305), flow.refusal()),
            ])
            #expect(capture.take().isEmpty)
            #expect(capture.path.tracker.settlingCount == 1)
            capture.advance(to: at(4, 304))
            #expect(capture.take().isEmpty)
            capture.advance(to: at(4, 305))
            #expect(capture.take() == [flow.session(.reject, start: at(0), end: at(1, 305), dupSYN: 2)])
            #expect(capture.path.tracker.trackedCount == 0)
            #expect(capture.path.tracker.statistics == TrackerStatistics())
        }

        /// Read from a file, the same capture ends before the window: the
        /// pending verdict stands.
        @Test func pendingRejectStandsAtTheEndOfTheFile() throws {
            let capture = try Capture()
            let flow = Conversation()
            capture.read([
                (at(0), flow.syn()), (at(0, 312), flow.refusal()),
                (at(0, 500_000), flow.syn()), (at(0, 500_290), flow.refusal()),
            ])
            capture.endOfFile()
            #expect(capture.take() == [flow.session(.reject, start: at(0), end: at(0, 500_290), dupSYN: 1)])
        }

        /// A client that re-sends its SYN after a port unreachable (Linux
        /// does when the ICMP error arrives while connect() still holds the
        /// socket) and then gets through: one success.
        @Test(arguments: [false, true])
        func unreachThenSameSYNThatCompletesIsOneSuccess(v6: Bool) throws {
            let capture = try Capture()
            let flow = Conversation(v6: v6)
            capture.read([
                (at(0), flow.syn()), (at(0, 80), flow.portUnreachable()),
                (at(1, 20), flow.syn()), (at(1, 90), flow.synACK()), (at(1, 130), flow.ack()),
            ])
            // Final after the confirmation window, or at the end of the file.
            capture.endOfFile()
            #expect(capture.take() == [flow.session(.success, start: at(0), end: at(1, 130), dupSYN: 1)])
        }

        /// The ICMP error of the retry decides again: one unreach, the ICMP
        /// type and code of the last error.
        @Test func unreachRetriedIsOneUnreach() throws {
            let capture = try Capture()
            let flow = Conversation(v6: true)
            capture.read([
                (at(0), flow.syn()), (at(0, 80), flow.portUnreachable()),
                (at(1, 20), flow.syn()), (at(1, 95), flow.portUnreachable()),
            ])
            capture.endOfFile()
            #expect(capture.take() == [flow.session(.unreach, start: at(0), end: at(1, 95), dupSYN: 1,
                                                    icmpType: 1, icmpCode: 4)])
        }

        /// A new ISN is a new connect(): the first refusal is final at once.
        @Test func differentISNAfterARejectIsANewAttempt() throws {
            let capture = try Capture()
            let flow = Conversation()
            let nextISN: UInt32 = 2_000_000_017
            capture.read([(at(0), flow.syn()), (at(0, 312), flow.refusal())])
            capture.read([(at(0, 500_000), flow.syn(isn: nextISN))])
            #expect(capture.take() == [flow.session(.reject, start: at(0), end: at(0, 312))])
            capture.read([(at(0, 500_300), flow.refusal(isn: nextISN))])
            capture.endOfFile()
            #expect(capture.take() == [flow.session(.reject, start: at(0, 500_000), end: at(0, 500_300))])
        }

        /// Once the window has passed the verdict is final: the same SYN
        /// 5 s later (a port reused with the same ISN, a replay) is a new attempt.
        @Test func sameISNAfterTheWindowIsANewAttempt() throws {
            let capture = try Capture()
            let flow = Conversation()
            capture.read([(at(0), flow.syn()), (at(0, 312), flow.refusal())])
            capture.read([(at(5), flow.syn())])
            #expect(capture.take() == [flow.session(.reject, start: at(0), end: at(0, 312))])
            capture.read([(at(5, 290), flow.refusal())])
            capture.endOfFile()
            #expect(capture.take() == [flow.session(.reject, start: at(5), end: at(5, 290))])
        }

        /// A mirrored copy of the RST of a settling attempt decides nothing
        /// more, as when the attempt was gone.
        @Test func repeatedRSTOfASettlingAttemptIsIgnored() throws {
            let capture = try Capture()
            let flow = Conversation()
            capture.read([(at(0), flow.syn()), (at(0, 312), flow.refusal()), (at(0, 313), flow.refusal())])
            capture.endOfFile()
            #expect(capture.take() == [flow.session(.reject, start: at(0), end: at(0, 312))])
            var expected = TrackerStatistics()
            expected.ignoredRST = 1
            #expect(capture.path.tracker.statistics == expected)
        }

        /// A full table first makes the oldest settling failure final (its
        /// verdict is known) before it cuts an open attempt short.
        @Test func fullTableSettlesAFailureBeforeEvicting() throws {
            let filters = try FilterSet(filters: [], hasLocalNotion: false)
            var tracker = HandshakeTracker(filters: filters, maxPending: 2)
            var closed: [Session] = []
            let refused = Conversation(), waiting = Conversation(v6: true)
            func syn(_ from: IPAddress, _ to: IPAddress, port: UInt16) -> TCPSegment {
                TCPSegment(source: from, destination: to, sourcePort: port, destinationPort: serverPort,
                           sequence: clientISN, acknowledgment: 0, flags: .syn)
            }
            tracker.process(syn(refused.client, refused.server, port: clientPort), at: at(0)) { closed.append($0.withoutEvidence) }
            tracker.process(TCPSegment(source: refused.server, destination: refused.client, sourcePort: serverPort,
                                       destinationPort: clientPort, sequence: 0, acknowledgment: clientISN &+ 1,
                                       flags: [.rst, .ack]), at: at(0, 100)) { closed.append($0.withoutEvidence) }
            tracker.process(syn(waiting.client, waiting.server, port: clientPort), at: at(0, 200)) { closed.append($0.withoutEvidence) }
            #expect(closed.isEmpty)
            tracker.process(syn(waiting.client, waiting.server, port: clientPort + 1), at: at(0, 300)) {
                closed.append($0.withoutEvidence)
            }
            #expect(closed == [refused.session(.reject, start: at(0), end: at(0, 100))])
            #expect(tracker.statistics.evicted == 0)
            #expect(tracker.openCount == 2)
            #expect(tracker.settlingCount == 0)
        }
    }
}
