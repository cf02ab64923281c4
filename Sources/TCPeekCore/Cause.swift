/// Why an attempt ended the way it did (issue 15): one name for a failure,
/// decided from its evidence, and flags on a success. A closed set; the
/// names are what the `cause` column, JSON, metrics and `tcpeek explain`
/// say. README.md ("Causes") says what each means and how sure it is.
public enum Cause: UInt8, Sendable, BitwiseCopyable, CaseIterable, CustomStringConvertible {
    // reject
    /// The RST came from where the server's packets come from (same hop
    /// count): nothing listens on the port.
    case closedPort
    /// The RST came from a different hop count than the server's packets:
    /// a firewall or another box on the path answered for it.
    case resetByMiddlebox
    /// A RST from the server's address, with no packet of the server's seen
    /// to compare its hop count with.
    case resetUnattributed
    // unreach
    /// ICMP administratively prohibited (codes 9, 10, 13; ICMPv6 codes 1,
    /// 5, 6): a firewall refused it.
    case filtered
    /// ICMP network unreachable (code 0; ICMPv6 no route, code 0, and
    /// beyond scope, code 2).
    case noRoute
    /// ICMP host unreachable (code 1; ICMPv6 address unreachable, code 3).
    case hostUnreachable
    /// ICMP port unreachable (code 3; ICMPv6 code 4).
    case portUnreachable
    /// ICMP protocol unreachable (code 2).
    case protocolUnreachable
    // timeout
    /// Every SYN unanswered, and the server port completed no other
    /// handshake around it: a silent drop on the way, or nothing there.
    case noAnswer
    /// Every SYN unanswered while the same server port completed other
    /// handshakes: a full accept queue or a rate limit at the server.
    case droppedWhileServing
    /// The server's SYN/ACK was seen; the client never acknowledged it.
    case finalACKLost
    /// Closed early because the table of open attempts was full.
    case tableFull
    /// libpcap dropped packets while the attempt was open: the answer may
    /// have been among them.
    case uncertain
    // abort
    /// The client reset before any answer: it gave up.
    case clientGaveUp
    /// The client reset the server's SYN/ACK: no socket wanted it (a
    /// half-open scan, or a client that had already given up).
    case clientRefusedSYNACK
    // success flags
    /// More than one SYN was needed.
    case afterRetries
    /// The server re-sent its SYN/ACK after the client's ACK: it dropped
    /// the ACK (full accept queue) or the ACK was lost.
    case serverDroppedACK
    /// No SYN/ACK was captured; the client's ACK proved there was one.
    case inferred
    /// A RST that did not fit the attempt (or came from the wrong hop
    /// count) and that the client ignored: it completed anyway.
    case injectedReset

    public var description: String {
        switch self {
        case .closedPort: "closed-port"
        case .resetByMiddlebox: "reset-by-middlebox"
        case .resetUnattributed: "reset-unattributed"
        case .filtered: "filtered"
        case .noRoute: "no-route"
        case .hostUnreachable: "host-unreachable"
        case .portUnreachable: "port-unreachable"
        case .protocolUnreachable: "protocol-unreachable"
        case .noAnswer: "no-answer"
        case .droppedWhileServing: "dropped-while-serving"
        case .finalACKLost: "final-ack-lost"
        case .tableFull: "table-full"
        case .uncertain: "uncertain"
        case .clientGaveUp: "client-gave-up"
        case .clientRefusedSYNACK: "client-refused-synack"
        case .afterRetries: "after-retries"
        case .serverDroppedACK: "server-dropped-ack"
        case .inferred: "inferred"
        case .injectedReset: "injected-reset"
        }
    }

    public init?(_ name: some StringProtocol) {
        guard let cause = Cause.allCases.first(where: { $0.description == name }) else { return nil }
        self = cause
    }

    /// Whether the name is a flag on a success rather than a failure's one
    /// cause.
    public var isSuccessFlag: Bool { rawValue >= Cause.afterRetries.rawValue }

    /// The outcome a failure cause belongs to; nil for a success flag.
    public var outcome: Outcome? {
        switch self {
        case .closedPort, .resetByMiddlebox, .resetUnattributed: .reject
        case .filtered, .noRoute, .hostUnreachable, .portUnreachable, .protocolUnreachable: .unreach
        case .noAnswer, .droppedWhileServing, .finalACKLost, .tableFull, .uncertain: .timeout
        case .clientGaveUp, .clientRefusedSYNACK: .abort
        case .afterRetries, .serverDroppedACK, .inferred, .injectedReset: nil
        }
    }
}

/// A failure's cause, or a success's flags: a set of `Cause`, written as
/// their names joined by commas in the order of `Cause.allCases` (empty
/// for a success without flags).
public struct Causes: Hashable, Sendable, BitwiseCopyable, Sequence, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32 = 0) { self.rawValue = rawValue }
    public init(_ cause: Cause) { rawValue = 1 << cause.rawValue }

    public var isEmpty: Bool { rawValue == 0 }

    public func contains(_ cause: Cause) -> Bool { rawValue & (1 << cause.rawValue) != 0 }
    public mutating func insert(_ cause: Cause) { rawValue |= 1 << cause.rawValue }

    public func makeIterator() -> some IteratorProtocol<Cause> {
        Cause.allCases.lazy.filter { self.contains($0) }.makeIterator()
    }

    public var description: String { map(\.description).joined(separator: ",") }

    /// Parses `description`'s form; nil if a name is not a cause.
    public init?(_ text: some StringProtocol) {
        self.init()
        for name in text.split(separator: ",", omittingEmptySubsequences: true) {
            guard let cause = Cause(name) else { return nil }
            insert(cause)
        }
    }
}
