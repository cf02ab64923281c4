/// Decides each closed attempt's `Cause` from its evidence and from what
/// the attempts before it showed about the same server: the hop count its
/// packets arrive with (who really sent a RST), and whether its port was
/// completing handshakes (whose silence it is). README.md ("Causes") is the
/// user's side of these rules.
///
/// Its memory is two fixed direct-mapped tables of 8-byte entries, touched
/// once per closed attempt, never per packet; a collision forgets, it never
/// allocates. Capture thread only.
final class CauseJudge {
    /// A timeout to a port that completed another handshake this long
    /// before the timed-out attempt began, or since, was dropped while the
    /// server was serving.
    static let servingWindow = Timestamp.Duration.seconds(60)

    private struct Entry {
        /// A hash of the key, never 0; 0 marks an empty entry.
        var tag: UInt32
        var value: UInt32
    }

    private static let size = 4096
    /// Server address → the hop limit its SYN/ACKs arrive with.
    private let serverHops: UnsafeMutablePointer<Entry>
    /// Server address and port → the packet time (seconds) of its last success.
    private let servingPorts: UnsafeMutablePointer<Entry>

    init() {
        serverHops = TableMemory.allocate(Entry.self, capacity: Self.size)
        servingPorts = TableMemory.allocate(Entry.self, capacity: Self.size)
    }

    deinit {
        TableMemory.free(serverHops, capacity: Self.size)
        TableMemory.free(servingPorts, capacity: Self.size)
    }

    /// Sets `session.cause`, and remembers what it shows about its server.
    func decide(_ session: inout Session) {
        let evidence = session.evidence
        switch session.outcome {
        case .success:
            var flags = Causes()
            if session.dupSYN > 0 { flags.insert(.afterRetries) }
            if !evidence.sawSYNACK { flags.insert(.inferred) }
            if evidence.ignoredResets > 0 { flags.insert(.injectedReset) }
            // `serverDroppedACK` comes later, from `PendingSuccesses`.
            session.cause = flags
            let seconds = UInt32(clamping: (session.startedAt + session.duration).microseconds / 1_000_000)
            store(seconds, in: servingPorts, tag: Self.tag(session.server, port: session.serverPort))
        case .reject:
            session.cause = Causes(resetCause(session))
        case .unreach:
            session.cause = Causes(Self.unreachableCause(type: session.icmpType, code: session.icmpCode,
                                                         isICMPv6: !session.isIPv4))
        case .abort:
            session.cause = Causes(evidence.sawSYNACK ? .clientRefusedSYNACK : .clientGaveUp)
        case .timeout:
            session.cause = Causes(timeoutCause(session))
        }
    }

    /// A server's SYN/ACK arrived with `hopLimit`: the reference its RSTs
    /// are judged by, as soon as it is seen (its success is handed over
    /// only once confirmed, and a RST from it may come first).
    func noteSYNACK(from server: IPAddress, hopLimit: UInt8) {
        store(UInt32(hopLimit), in: serverHops, tag: Self.tag(server, port: nil))
    }

    // MARK: Rules

    /// Who sent the RST: the server if it came from the server's hop count.
    private func resetCause(_ session: Session) -> Cause {
        guard let reset = session.evidence.resetHopLimit else { return .resetUnattributed }
        let reference = session.evidence.synAckHopLimit
            ?? load(serverHops, tag: Self.tag(session.server, port: nil)).map { UInt8(truncatingIfNeeded: $0) }
        if let reference { return reset == reference ? .closedPort : .resetByMiddlebox }
        // The server is this host and nothing of it was seen yet: a RST
        // leaving this host carries its stack's initial hop limit.
        if session.direction == .rx { return Self.isInitialHopLimit(reset) ? .closedPort : .resetByMiddlebox }
        return .resetUnattributed
    }

    private func timeoutCause(_ session: Session) -> Cause {
        if session.wasEvicted { return .tableFull }
        if session.evidence.captureDropped { return .uncertain }
        if session.evidence.sawSYNACK { return .finalACKLost }
        if let second = load(servingPorts, tag: Self.tag(session.server, port: session.serverPort)),
           Int64(second) * 1_000_000 >= session.startedAt.microseconds - Self.servingWindow.microseconds {
            return .droppedWhileServing
        }
        return .noAnswer
    }

    /// The cause an ICMP destination unreachable's code names (RFC 792 and
    /// RFC 1812 for ICMPv4, RFC 4443 for ICMPv6).
    static func unreachableCause(type: UInt8, code: UInt8, isICMPv6: Bool) -> Cause {
        if isICMPv6 {
            switch code {
            case 1, 5, 6: return .filtered
            case 3: return .hostUnreachable
            case 4: return .portUnreachable
            default: return .noRoute
            }
        }
        switch code {
        case 0, 6, 11: return .noRoute
        case 2: return .protocolUnreachable
        case 3: return .portUnreachable
        case 9, 10, 13: return .filtered
        default: return .hostUnreachable
        }
    }

    /// The hop limits stacks start from: Linux and BSD 64, Windows 128,
    /// Solaris and network gear 255.
    static func isInitialHopLimit(_ hopLimit: UInt8) -> Bool {
        hopLimit == 64 || hopLimit == 128 || hopLimit == 255
    }

    // MARK: Memory

    private static func tag(_ address: IPAddress, port: UInt16?) -> UInt32 {
        var z = address.high &* 0xC2B2_AE3D_27D4_EB4F ^ address.low &+ UInt64(port.map { UInt32($0) + 1 } ?? 0)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        let tag = UInt32(truncatingIfNeeded: z ^ (z >> 31))
        return tag == 0 ? 1 : tag
    }

    private func store(_ value: UInt32, in table: UnsafeMutablePointer<Entry>, tag: UInt32) {
        table[Int(tag) & (Self.size - 1)] = Entry(tag: tag, value: value)
    }

    private func load(_ table: UnsafeMutablePointer<Entry>, tag: UInt32) -> UInt32? {
        let entry = table[Int(tag) & (Self.size - 1)]
        return entry.tag == tag ? entry.value : nil
    }
}
