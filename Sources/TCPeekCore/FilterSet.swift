/// Which counting filters an attempt belongs to: bit `i` stands for
/// `FilterSet.counting[i]`. Iterating yields the set indices in increasing
/// order, without allocating.
public struct FilterMask: Hashable, Sendable, BitwiseCopyable, Sequence {
    public var rawValue: UInt64

    public init(rawValue: UInt64 = 0) {
        self.rawValue = rawValue
    }

    /// No filter: the attempt is not counted (and not tracked).
    public static let empty = FilterMask()

    public var isEmpty: Bool { rawValue == 0 }

    /// How many filters the attempt counts in.
    public var count: Int { rawValue.nonzeroBitCount }

    /// Whether filter `index` is set; `false` outside 0..<64.
    @inlinable
    public func contains(_ index: Int) -> Bool {
        guard (0..<64).contains(index) else { return false }
        return rawValue & (1 << UInt64(index)) != 0
    }

    /// Sets filter `index`; indices outside 0..<64 are ignored.
    @inlinable
    public mutating func insert(_ index: Int) {
        guard (0..<64).contains(index) else { return }
        rawValue |= 1 << UInt64(index)
    }

    public func union(_ other: FilterMask) -> FilterMask {
        FilterMask(rawValue: rawValue | other.rawValue)
    }

    public struct Iterator: IteratorProtocol, Sendable, BitwiseCopyable {
        @usableFromInline var remaining: UInt64

        @usableFromInline init(remaining: UInt64) { self.remaining = remaining }

        @inlinable
        public mutating func next() -> Int? {
            guard remaining != 0 else { return nil }
            let index = remaining.trailingZeroBitCount
            remaining &= remaining &- 1
            return index
        }
    }

    @inlinable
    public func makeIterator() -> Iterator { Iterator(remaining: rawValue) }

    public var underestimatedCount: Int { count }
}

/// The filters in force: the built-in ones, the user's counting filters in
/// command-line order, and the exclusions (SPEC §3).
///
/// Built once at start; `match` runs on the capture thread for every new
/// attempt and never allocates.
public struct FilterSet: Sendable {
    /// Counting filters, in mask-bit order: `RX`, `TX` (or `ALL` when there
    /// is no notion of "this host"), then the user's, as given.
    public let counting: [Filter]
    /// Filters with an empty name, in the order given.
    public let exclusions: [Filter]
    /// Filters that can never match, as messages for the operator.
    public let warnings: [String]

    /// A mask has 64 bits, the built-in filters included.
    public static let maximumCountingFilters = 64

    // The same filters flattened into arrays of plain values, so that
    // `match` copies no strings or arrays and retains nothing per filter.
    private let compiledCounting: [CompiledFilter]
    private let compiledExclusions: [CompiledFilter]
    private let rules: [CompiledRule]
    private let ports: [UInt16]
    /// Whether some filter is RX or TX, so the direction must be worked out.
    private let needsDirection: Bool

    /// The filters counting when no user filter is given.
    public static func builtInFilters(hasLocalNotion: Bool) -> [Filter] {
        hasLocalNotion ? [.builtIn("RX", .rx), .builtIn("TX", .tx)] : [.builtIn("ALL", .any)]
    }

    /// Builds the set from the user's filters in command-line order.
    ///
    /// `hasLocalNotion`: whether "this host" is known (a live interface, or
    /// `--local-addr`); it chooses the built-in filters and the warnings.
    /// A filter written again under the same name with the same direction
    /// and groups (`RX:RX@*:*`, which the original's README shows) is the
    /// one already there, counted once. Throws for two different counting
    /// filters with the same name (ignoring case, built-in names included),
    /// a name a filter could not have been parsed with, or more than 64
    /// counting filters.
    public init(filters: [Filter], hasLocalNotion: Bool) throws(FilterParseError) {
        var counting = Self.builtInFilters(hasLocalNotion: hasLocalNotion)
        var exclusions: [Filter] = []
        var owners: [String: Filter] = [:]
        for filter in counting { owners[Filter.nameKey(filter.name)] = filter }
        var kept: [Filter] = []

        for filter in filters {
            if filter.isExclusion {
                exclusions.append(filter)
                kept.append(filter)
                continue
            }
            let namePart = Self.namePart(of: filter)
            if let problem = Filter.problem(withName: filter.name[...]) {
                throw FilterParseError(expression: filter.expression, part: namePart, reason: problem)
            }
            if let owner = owners[Filter.nameKey(filter.name)] {
                if owner.name == filter.name, owner.direction == filter.direction, owner.rules == filter.rules {
                    continue
                }
                let builtIn = counting.firstIndex(of: owner).map { $0 < (hasLocalNotion ? 2 : 1) } ?? false
                throw FilterParseError(
                    expression: filter.expression, part: namePart,
                    reason: "the name '\(filter.name)' is already used by \(builtIn ? "the built-in " : "")"
                        + "filter '\(owner.expression)'; give each filter its own name (names are compared ignoring case)")
            }
            if counting.count == Self.maximumCountingFilters {
                throw FilterParseError(
                    expression: filter.expression, part: filter.expression[...],
                    reason: "too many filters: at most \(Self.maximumCountingFilters) counting filters, "
                        + "the built-in \(hasLocalNotion ? "'RX' and 'TX'" : "'ALL'") included")
            }
            owners[Filter.nameKey(filter.name)] = filter
            counting.append(filter)
            kept.append(filter)
        }

        var rules: [CompiledRule] = []
        var ports: [UInt16] = []
        func compile(_ filter: Filter) -> CompiledFilter {
            let start = rules.count
            for rule in filter.rules {
                switch rule.ports {
                case .any:
                    rules.append(CompiledRule(address: rule.address, portStart: 0, portEnd: 0, anyPort: true))
                case .list(let list):
                    rules.append(
                        CompiledRule(address: rule.address, portStart: ports.count, portEnd: ports.count + list.count, anyPort: false))
                    ports.append(contentsOf: list)
                }
            }
            return CompiledFilter(direction: filter.direction, ruleStart: start, ruleEnd: rules.count)
        }
        self.compiledCounting = counting.map(compile)
        self.compiledExclusions = exclusions.map(compile)
        self.rules = rules
        self.ports = ports
        self.needsDirection = (counting + exclusions).contains { $0.direction != .any }
        self.counting = counting
        self.exclusions = exclusions
        self.warnings = Self.warnings(user: kept, hasLocalNotion: hasLocalNotion)
    }

    /// The counting filters an attempt belongs to, or an empty mask when an
    /// exclusion filter matches it (wherever that exclusion stood) or no
    /// counting filter does. `serverPort` is the port the SYN went to.
    ///
    /// Never allocates: a couple of lookups in `local`, then scans of plain arrays.
    public func match(client: IPAddress, server: IPAddress, serverPort: UInt16, local: LocalAddresses) -> FilterMask {
        let direction = needsDirection ? Self.direction(client: client, server: server, local: local) : nil
        var index = 0
        while index < compiledExclusions.count {
            if matches(compiledExclusions[index], client: client, server: server, serverPort: serverPort, direction: direction) {
                return .empty
            }
            index += 1
        }
        var mask = FilterMask()
        index = 0
        while index < compiledCounting.count {
            if matches(compiledCounting[index], client: client, server: server, serverPort: serverPort, direction: direction) {
                mask.insert(index)
            }
            index += 1
        }
        return mask
    }

    /// The direction of an attempt seen from this host: `.rx` when the
    /// server is local, `.tx` when only the client is, `nil` when neither is
    /// (traffic passing by, or no notion of "this host").
    ///
    /// When both ends are local (loopback, or between two of this host's
    /// addresses) the attempt is `.rx`: this host accepted it, which is what
    /// a server operator watches for, and giving each attempt exactly one
    /// direction keeps it from counting twice in the built-in `RX` and `TX`.
    /// `match` uses this same answer, so such an attempt never matches a
    /// `TX` filter.
    @inlinable
    public static func direction(client: IPAddress, server: IPAddress, local: LocalAddresses) -> Direction? {
        if local.contains(server) { return .rx }
        if local.contains(client) { return .tx }
        return nil
    }

    @inline(__always)
    private func matches(
        _ filter: CompiledFilter, client: IPAddress, server: IPAddress, serverPort: UInt16, direction: Direction?
    ) -> Bool {
        switch filter.direction {
        case .rx: if direction != .rx { return false }
        case .tx: if direction != .tx { return false }
        case .any: break
        }
        var index = filter.ruleStart
        while index < filter.ruleEnd {
            let rule = rules[index]
            index += 1
            guard portMatches(rule, serverPort) else { continue }
            switch filter.direction {
            case .rx: if rule.address.matches(client) { return true }
            case .tx: if rule.address.matches(server) { return true }
            case .any: if rule.address.matches(client) || rule.address.matches(server) { return true }
            }
        }
        return false
    }

    @inline(__always)
    private func portMatches(_ rule: CompiledRule, _ port: UInt16) -> Bool {
        if rule.anyPort { return true }
        var index = rule.portStart
        while index < rule.portEnd {
            if ports[index] == port { return true }
            index += 1
        }
        return false
    }

    /// The name as it stands at the start of the expression, or the whole
    /// expression for a filter not made by `Filter.parse`.
    private static func namePart(of filter: Filter) -> Substring {
        let expression = filter.expression
        if expression.hasPrefix(filter.name + ":") {
            return expression.prefix(filter.name.count)
        }
        return expression[...]
    }

    private static func warnings(user filters: [Filter], hasLocalNotion: Bool) -> [String] {
        var warnings: [String] = []
        for filter in filters {
            let label = filter.isExclusion ? "exclusion filter '\(filter.expression)'" : "filter '\(filter.name)'"
            if !hasLocalNotion && filter.direction != .any {
                warnings.append(
                    "\(label) uses \(filter.direction.rawValue) but no local addresses are known, so it never matches; "
                        + "pass --local-addr or use ANY")
            }
            if filter.isExclusion && filter.direction == .any
                && filter.rules.contains(where: { $0.address == .any && $0.ports == .any })
            {
                warnings.append("\(label) excludes every attempt, so nothing is counted")
            }
            if filter.rules.isEmpty {
                warnings.append("\(label) has no address groups, so it never matches")
            }
        }
        return warnings
    }
}

/// A filter flattened for `FilterSet.match`: its rules are
/// `FilterSet.rules[ruleStart..<ruleEnd]`.
private struct CompiledFilter: Sendable, BitwiseCopyable {
    var direction: Direction
    var ruleStart: Int
    var ruleEnd: Int
}

/// A group flattened for `FilterSet.match`: its ports are
/// `FilterSet.ports[portStart..<portEnd]`, unless `anyPort`.
private struct CompiledRule: Sendable, BitwiseCopyable {
    var address: AddressPattern
    var portStart: Int
    var portEnd: Int
    var anyPort: Bool
}
