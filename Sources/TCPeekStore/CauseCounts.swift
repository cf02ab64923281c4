import TCPeekCore
import TCPeekWire

/// One filter's attempts per (outcome, cause) over an aggregate row's time:
/// what `query --by cause`, the `causes` of `query`'s answers and the
/// socket's `WINDOW` and `QUERY` say (issue 15).
public struct CauseCounts: Sendable, Equatable {
    public struct Key: Hashable, Sendable {
        public var outcome: Outcome
        public var cause: Cause
    }

    /// Attempts of each outcome counted under each cause; a success with
    /// two flags counts under both.
    public private(set) var counts: [Key: UInt64] = [:]
    /// Attempts of each outcome with at least one cause.
    public private(set) var withCause: [Outcome: UInt64] = [:]

    public init() {}

    public var isEmpty: Bool { withCause.isEmpty }

    /// Adds `count` attempts of `outcome` with `causes`.
    public mutating func add(_ outcome: Outcome, _ causes: Causes, count: UInt64 = 1) {
        guard !causes.isEmpty, count > 0 else { return }
        withCause[outcome, default: 0] += count
        for cause in causes { counts[Key(outcome: outcome, cause: cause), default: 0] += count }
    }

    public mutating func merge(_ other: CauseCounts) {
        counts.merge(other.counts, uniquingKeysWith: +)
        withCause.merge(other.withCause, uniquingKeysWith: +)
    }

    /// The causes of `outcome` in `Cause` order, with their attempts.
    public func causes(of outcome: Outcome) -> [(cause: Cause, count: UInt64)] {
        Cause.allCases.compactMap { cause in counts[Key(outcome: outcome, cause: cause)].map { (cause, $0) } }
    }

    /// Attempts per cause name over every outcome, in `Cause` order.
    public var byName: [(name: String, count: UInt64)] {
        Cause.allCases.compactMap { cause in
            let total = Outcome.allCases.reduce(UInt64(0)) { $0 + (counts[Key(outcome: $1, cause: cause)] ?? 0) }
            return total > 0 ? (cause.description, total) : nil
        }
    }

    public var answer: CausesAnswer { CausesAnswer(byName) }
}

/// Reads the `cause` texts of `sessions` and the cause rollups, each
/// combination parsed once.
struct CauseTexts {
    private var parsed: [String: Causes] = [:]

    /// The causes of `text`; none for '' or NULL, and for a name this
    /// tcpeek does not know (written by a newer one): counted without a cause.
    mutating func causes(_ text: String?) -> Causes {
        guard let text, !text.isEmpty else { return Causes() }
        if let known = parsed[text] { return known }
        let causes = Causes(text) ?? Causes()
        parsed[text] = causes
        return causes
    }
}
