/// Filters of SPEC §3: which connection attempts are counted, and in which
/// named filters.
///
/// ```
/// NAME:DIR@ADDR[/PREFIX]:PORT[:PORT...][,ADDR[/PREFIX]:PORT[:PORT...]...]
/// ```
///
/// This file is the one place that knows the grammar.

// MARK: - Direction

/// Which way an attempt goes, seen from "this host".
public enum Direction: String, Sendable, BitwiseCopyable, CaseIterable {
    /// Attempts coming in: the server is this host; `ADDR` matches the client.
    case rx = "RX"
    /// Attempts going out: the client is this host; `ADDR` matches the server.
    case tx = "TX"
    /// Either way, or neither; `ADDR` matches the client or the server.
    case any = "ANY"

    /// Parses `RX`, `TX` or `ANY`, all uppercase or all lowercase.
    public init?(text: some StringProtocol) {
        switch text {
        case "RX", "rx": self = .rx
        case "TX", "tx": self = .tx
        case "ANY", "any": self = .any
        default: return nil
        }
    }
}

// MARK: - Networks

/// An IPv4 or IPv6 network: an address with its host bits cleared and a
/// prefix length counted in bits of the address's own family (0...32 for
/// IPv4, 0...128 for IPv6).
public struct IPNetwork: Hashable, Sendable, BitwiseCopyable {
    /// The network address, host bits zero.
    public let address: IPAddress
    /// Significant leading bits, in the family's own width.
    public let prefixLength: Int

    /// A network from any address inside it; host bits are cleared and the
    /// prefix length is clamped to the family's width.
    public init(address: IPAddress, prefixLength: Int) {
        let length = min(max(prefixLength, 0), address.bitWidth)
        self.address = address.masked(toFirst: address.isIPv4 ? length + 96 : length)
        self.prefixLength = length
    }

    /// The network holding exactly `address` (/32 or /128).
    public init(host address: IPAddress) {
        self.address = address
        self.prefixLength = address.bitWidth
    }

    /// Whether this network holds exactly one address.
    public var isHost: Bool { prefixLength == address.bitWidth }

    /// Whether `address` lies in this network; IPv4 networks never hold IPv6
    /// addresses and the reverse. Never allocates.
    @inlinable
    public func contains(_ address: IPAddress) -> Bool {
        address.isIn(network: self.address, prefixLength: prefixLength)
    }
}

extension IPNetwork: CustomStringConvertible {
    /// `198.51.100.0/24` or `2001:db8::/32`.
    public var description: String { "\(address)/\(prefixLength)" }
}

extension IPAddress {
    /// The address with all but the first `bits` of its 128 bits cleared.
    func masked(toFirst bits: Int) -> IPAddress {
        if bits <= 0 { return .zero }
        if bits >= 128 { return self }
        if bits <= 64 {
            let mask: UInt64 = bits == 64 ? ~0 : ~(~0 >> UInt64(bits))
            return IPAddress(high: high & mask, low: 0)
        }
        let mask: UInt64 = ~(~0 >> UInt64(bits - 64))
        return IPAddress(high: high, low: low & mask)
    }
}

// MARK: - Patterns

/// The `ADDR[/PREFIX]` part of a group: any address (`*` or `%`) or a network.
public struct AddressPattern: Hashable, Sendable, BitwiseCopyable {
    /// The network to match, or `nil` for any address of either family.
    public let network: IPNetwork?

    public init(network: IPNetwork?) {
        self.network = network
    }

    /// `*` or `%`: every IPv4 and IPv6 address.
    public static let any = AddressPattern(network: nil)

    /// Whether `address` matches. Never allocates.
    @inlinable
    public func matches(_ address: IPAddress) -> Bool {
        guard let network else { return true }
        return network.contains(address)
    }
}

extension AddressPattern: CustomStringConvertible {
    /// Written back in filter syntax: `*`, `192.0.2.1`, `198.51.100.0/24`, `[2001:db8::/32]`.
    public var description: String {
        guard let network else { return "*" }
        let text = network.isHost ? "\(network.address)" : "\(network)"
        return network.address.isIPv4 ? text : "[\(text)]"
    }
}

/// The `PORT[:PORT...]` part of a group: any port (`*` or `%`) or a list of
/// server ports, each 1...65535, without duplicates, in the order written.
public enum PortPattern: Hashable, Sendable {
    case any
    case list([UInt16])

    /// Whether `port` matches: a scan of a short array. Never allocates.
    @inlinable
    public func matches(_ port: UInt16) -> Bool {
        switch self {
        case .any: return true
        case .list(let ports): return ports.contains(port)
        }
    }
}

extension PortPattern: CustomStringConvertible {
    /// Written back in filter syntax: `*` or `80:443`.
    public var description: String {
        switch self {
        case .any: return "*"
        case .list(let ports): return ports.map { String($0) }.joined(separator: ":")
        }
    }
}

/// One `ADDR[/PREFIX]:PORT[:PORT...]` group.
public struct FilterRule: Hashable, Sendable {
    public var address: AddressPattern
    public var ports: PortPattern

    public init(address: AddressPattern, ports: PortPattern) {
        self.address = address
        self.ports = ports
    }

    /// Any address, any port.
    public static let any = FilterRule(address: .any, ports: .any)

    /// Whether the group matches `address` and the server port `port`.
    @inlinable
    public func matches(_ address: IPAddress, serverPort port: UInt16) -> Bool {
        ports.matches(port) && self.address.matches(address)
    }
}

extension FilterRule: CustomStringConvertible {
    public var description: String { "\(address):\(ports)" }
}

// MARK: - Filter

/// One filter expression: a named counting filter, or an exclusion when the
/// name is empty.
public struct Filter: Hashable, Sendable {
    /// Anything but `:`, `@` and control characters, as in the original
    /// (`api/v2`, `c++#1`); empty for an exclusion filter.
    public var name: String
    public var direction: Direction
    /// The `ADDR:PORT` groups; the filter matches when any of them does.
    public var rules: [FilterRule]
    /// The text the filter was parsed from, for messages.
    public var expression: String

    public init(name: String, direction: Direction, rules: [FilterRule], expression: String) {
        self.name = name
        self.direction = direction
        self.rules = rules
        self.expression = expression
    }

    /// An empty name: an attempt matching this filter is counted nowhere.
    public var isExclusion: Bool { name.isEmpty }

    /// The longest name accepted.
    public static let maximumNameLength = 64

    /// Whether an attempt matches, given its direction as computed by
    /// `FilterSet.direction(client:server:local:)` (`nil`: neither end is
    /// this host). `RX` filters match only incoming attempts and check the
    /// client, `TX` only outgoing ones and check the server, `ANY` every
    /// attempt and checks either end. `serverPort` is always the server's.
    public func matches(client: IPAddress, server: IPAddress, serverPort: UInt16, direction attempt: Direction?) -> Bool {
        switch direction {
        case .rx:
            guard attempt == .rx else { return false }
            return rules.contains { $0.matches(client, serverPort: serverPort) }
        case .tx:
            guard attempt == .tx else { return false }
            return rules.contains { $0.matches(server, serverPort: serverPort) }
        case .any:
            return rules.contains {
                $0.ports.matches(serverPort) && ($0.address.matches(client) || $0.address.matches(server))
            }
        }
    }

    /// Whether an attempt matches, deciding its direction from `local`.
    public func matches(client: IPAddress, server: IPAddress, serverPort: UInt16, local: LocalAddresses) -> Bool {
        let attempt = direction == .any ? nil : FilterSet.direction(client: client, server: server, local: local)
        return matches(client: client, server: server, serverPort: serverPort, direction: attempt)
    }

    /// Parses one expression of SPEC §3.
    ///
    /// A bad expression throws an error quoting it and naming the bad part,
    /// e.g. `filter 'web:RX@10.0.0.0/33:80': prefix /33 is longer than 32 bits`.
    public static func parse(_ expression: String) throws(FilterParseError) -> Filter {
        try FilterParser(expression: expression).parse()
    }
}

extension Filter {
    /// A built-in filter matching every attempt of `direction`.
    static func builtIn(_ name: String, _ direction: Direction) -> Filter {
        Filter(name: name, direction: direction, rules: [.any], expression: "\(name):\(direction.rawValue)@*:*")
    }

    /// Why `name` cannot name a filter, or `nil` when it can.
    ///
    /// `:` and `@` end the name in an expression. Control characters would
    /// break the one-line outputs (the summary, the metrics, `gmetric`), and
    /// the history joins a session's filter names with U+001F.
    static func problem(withName name: Substring) -> String? {
        if let control = name.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            let code = String(control.value, radix: 16, uppercase: true)
            return "the name contains the control character U+\(String(repeating: "0", count: max(0, 4 - code.count)) + code); "
                + "names may hold anything but ':', '@' and control characters"
        }
        if let bad = name.first(where: { $0 == ":" || $0 == "@" }) {
            return "the name '\(name)' contains '\(bad)'; names may hold anything but ':', '@' and control characters"
        }
        if name.count > maximumNameLength {
            return "the name '\(name)' is longer than \(maximumNameLength) characters"
        }
        return nil
    }

    /// What two filter names are compared by: their case is ignored, when
    /// `record` refuses two filters of one name and when `query --filter`
    /// and the socket's `QUERY` look a name up (`all` is `ALL`).
    public static func nameKey(_ name: String) -> String {
        name.lowercased()
    }
}

// MARK: - Errors

/// A filter expression that cannot be used, with the part at fault.
public struct FilterParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The whole expression, as given.
    public let expression: String
    /// The offending part, a slice of `expression` (possibly empty, marking a position).
    public let part: Substring
    /// What is wrong and, where it helps, what to write instead.
    public let reason: String

    init(expression: String, part: Substring, reason: String) {
        self.expression = expression
        self.part = part
        self.reason = reason
    }

    /// Characters from the start of `expression` to `part`, for a caret under it.
    public var partOffset: Int {
        guard part.startIndex >= expression.startIndex, part.startIndex <= expression.endIndex else { return 0 }
        return expression.distance(from: expression.startIndex, to: part.startIndex)
    }

    /// `filter 'web:RX@10.0.0.0/33:80': prefix /33 is longer than 32 bits`.
    public var description: String { "filter '\(expression)': \(reason)" }
}

// MARK: - Parsing

/// A problem in an address or prefix, shared by filter and `--local-addr` parsing.
struct NetworkSyntaxError: Error {
    var part: Substring
    var reason: String
}

enum NetworkSyntax {
    /// The network for an address and an optional prefix text (the digits
    /// after `/`, with `slash` the whole `/digits` for messages).
    /// `mappedNotation`: the IPv4 address was written in IPv6 form
    /// (`::ffff:192.0.2.0`), so its prefix counts 128 bits.
    static func network(
        _ address: IPAddress, prefix: Substring?, slash: Substring?, mappedNotation: Bool
    ) throws(NetworkSyntaxError) -> IPNetwork {
        guard let prefix else { return IPNetwork(host: address) }
        let shown = slash ?? prefix
        if prefix.isEmpty {
            throw NetworkSyntaxError(part: shown, reason: "missing prefix length after '/'")
        }
        guard prefix.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw NetworkSyntaxError(part: shown, reason: "prefix '/\(prefix)' is not a number")
        }
        let width = address.isIPv4 && !mappedNotation ? 32 : 128
        guard prefix.count <= 3, let length = Int(prefix), length <= width else {
            throw NetworkSyntaxError(part: shown, reason: "prefix /\(prefix) is longer than \(width) bits")
        }
        if address.isIPv4 && mappedNotation {
            guard length >= 96 else {
                throw NetworkSyntaxError(
                    part: shown,
                    reason: "prefix /\(prefix) on the IPv4-mapped address '\(address)' would cover IPv6 addresses too; "
                        + "use /96 or longer, or write the IPv4 network")
            }
            return IPNetwork(address: address, prefixLength: length - 96)
        }
        return IPNetwork(address: address, prefixLength: length)
    }

    /// Splits `text` at its first `/` into the address and the prefix digits.
    static func splitPrefix(_ text: Substring) -> (address: Substring, prefix: Substring?, slash: Substring?) {
        guard let slash = text.firstIndex(of: "/") else { return (text, nil, nil) }
        return (text[..<slash], text[text.index(after: slash)...], text[slash...])
    }

    /// Whether `text`, or a part of it ending just before one of its `:`,
    /// reads as an IPv6 address (with or without a prefix): an unbracketed
    /// IPv6 address in a filter, whose `:` cannot be told from the port's.
    static func startsWithBareIPv6(_ text: Substring) -> Bool {
        func isIPv6(_ candidate: Substring) -> Bool {
            let address = splitPrefix(candidate).address
            return address.contains(":") && IPAddress.parseIPv6(String(address)) != nil
        }
        if isIPv6(text) { return true }
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == ":", isIPv6(text[..<index]) { return true }
            index = text.index(after: index)
        }
        return false
    }
}

private struct FilterParser {
    let expression: String

    private static let grammar = "write NAME:DIR@ADDR:PORT, e.g. 'web:RX@*:80:443'"

    private func failure(_ part: Substring, _ reason: String) -> FilterParseError {
        FilterParseError(expression: expression, part: part, reason: reason)
    }

    func parse() throws(FilterParseError) -> Filter {
        let text = expression[...]
        if text.isEmpty {
            throw failure(text, "the expression is empty; \(Self.grammar)")
        }

        // NAME ':'
        let at = text.firstIndex(of: "@")
        guard let colon = text.firstIndex(of: ":"), at.map({ colon < $0 }) ?? true else {
            throw failure(
                text[..<(at ?? text.endIndex)],
                "missing ':' after the name; \(Self.grammar) (an empty name, as in ':RX@*:22', makes an exclusion)")
        }
        let name = text[..<colon]
        if let problem = Filter.problem(withName: name) {
            throw failure(name, problem)
        }

        // DIR '@'
        let afterName = text[text.index(after: colon)...]
        guard let at else {
            throw failure(afterName, "missing '@' after the direction; \(Self.grammar)")
        }
        let directionText = afterName[..<at]
        if directionText.isEmpty {
            throw failure(directionText, "missing direction before '@'; use RX, TX or ANY")
        }
        guard let direction = Direction(text: directionText) else {
            throw failure(directionText, "unknown direction '\(directionText)'; use RX, TX or ANY")
        }

        // ADDR:PORT[,ADDR:PORT...]
        let groupsText = afterName[afterName.index(after: at)...]
        if groupsText.isEmpty {
            throw failure(groupsText, "missing address and port after '@'; write ADDR:PORT, e.g. '*:80'")
        }
        var rules: [FilterRule] = []
        for group in groupsText.split(separator: ",", omittingEmptySubsequences: false) {
            if group.isEmpty {
                throw failure(group, "empty address group (a ',' with nothing before or after it)")
            }
            rules.append(try parseGroup(group))
        }
        return Filter(name: String(name), direction: direction, rules: rules, expression: expression)
    }

    private func parseGroup(_ group: Substring) throws(FilterParseError) -> FilterRule {
        let address: AddressPattern
        let portsText: Substring
        if group.first == "[" {
            (address, portsText) = try parseBracketed(group)
        } else {
            let colon = group.firstIndex(of: ":")
            let addressText = group[..<(colon ?? group.endIndex)]
            address = try parseIPv4OrAny(addressText, group: group)
            guard let colon else {
                throw failure(
                    group[group.endIndex...],
                    "missing port after '\(group)'; write '\(group):PORT', or '\(group):*' for any port")
            }
            portsText = group[group.index(after: colon)...]
        }
        return FilterRule(address: address, ports: try parsePorts(portsText))
    }

    /// `[IPv6]`, `[IPv6/PREFIX]` or `[IPv6]/PREFIX`, then `:PORTS`; returns the ports text.
    private func parseBracketed(_ group: Substring) throws(FilterParseError) -> (AddressPattern, Substring) {
        guard let close = group.firstIndex(of: "]") else {
            throw failure(group, "unclosed bracket in '\(group)'; write '[2001:db8::1]:PORT'")
        }
        let inner = group[group.index(after: group.startIndex)..<close]
        let split = NetworkSyntax.splitPrefix(inner)
        let addressText = split.address
        var prefix = split.prefix, slash = split.slash
        var rest = group[group.index(after: close)...]
        if rest.first == "/" {
            let end = rest.firstIndex(of: ":") ?? rest.endIndex
            let outerSlash = rest[..<end]
            if prefix != nil {
                throw failure(outerSlash, "two prefixes for '[\(inner)]'; write the prefix once, e.g. '[2001:db8::/32]'")
            }
            slash = outerSlash
            prefix = outerSlash.dropFirst()
            rest = rest[end...]
        }
        if addressText.isEmpty {
            throw failure(inner, "empty brackets; write an IPv6 address inside them, e.g. '[2001:db8::1]'")
        }
        if addressText == "*" || addressText == "%" {
            throw failure(group[...close], "'*' and '%' need no brackets; write '*' for any address")
        }
        guard let ip = IPAddress(String(addressText)) else {
            throw failure(addressText, "'\(addressText)' is not an IPv6 address")
        }
        let network: IPNetwork
        do {
            network = try NetworkSyntax.network(
                ip, prefix: prefix, slash: slash, mappedNotation: addressText.contains(":"))
        } catch {
            throw failure(error.part, error.reason)
        }
        guard let first = rest.first else {
            throw failure(
                rest, "missing port after '\(group)'; write '\(group):PORT', or '\(group):*' for any port")
        }
        guard first == ":" else {
            let end = rest.firstIndex(of: ":") ?? rest.endIndex
            throw failure(rest[..<end], "unexpected '\(rest[..<end])' after ']'; expected ':PORT'")
        }
        return (AddressPattern(network: network), rest.dropFirst())
    }

    /// `*`, `%`, `a.b.c.d` or `a.b.c.d/PREFIX`.
    private func parseIPv4OrAny(_ text: Substring, group: Substring) throws(FilterParseError) -> AddressPattern {
        let (addressText, prefix, slash) = NetworkSyntax.splitPrefix(text)
        if addressText == "*" || addressText == "%" {
            if let slash {
                throw failure(slash, "'\(addressText)' means any address and takes no prefix")
            }
            return .any
        }
        guard let value = IPAddress.parseIPv4(addressText) else {
            if NetworkSyntax.startsWithBareIPv6(group) {
                throw failure(
                    group,
                    "IPv6 addresses must be written in brackets, as in '[2001:db8::1]:443' or '[2001:db8::/32]:443'")
            }
            if addressText.isEmpty {
                throw failure(text, "missing address before '\(text.isEmpty ? ":" : "/")'; use * for any address")
            }
            throw failure(
                addressText,
                "'\(addressText)' is not an address; write an IPv4 address, an IPv6 address in brackets, or * for any")
        }
        do {
            return AddressPattern(
                network: try NetworkSyntax.network(
                    IPAddress(ipv4: value), prefix: prefix, slash: slash, mappedNotation: false))
        } catch {
            throw failure(error.part, error.reason)
        }
    }

    /// `*`, `%` or `PORT[:PORT...]`.
    private func parsePorts(_ text: Substring) throws(FilterParseError) -> PortPattern {
        if text.isEmpty {
            throw failure(text, "missing port after ':'; write a port such as 80, or * for any port")
        }
        let pieces = text.split(separator: ":", omittingEmptySubsequences: false)
        var ports: [UInt16] = []
        for piece in pieces {
            if piece == "*" || piece == "%" {
                if pieces.count > 1 {
                    throw failure(text, "'\(piece)' means any port and cannot be listed with other ports in '\(text)'")
                }
                return .any
            }
            if piece.isEmpty {
                throw failure(piece, "empty port in '\(text)'; separate ports with a single ':'")
            }
            let digits = piece.prefix { $0.isASCII && $0.isNumber }
            if digits.isEmpty {
                throw failure(piece, "port '\(piece)' is not a number")
            }
            let garbage = piece[digits.endIndex...]
            if !garbage.isEmpty {
                throw failure(garbage, "unexpected '\(garbage)' after port \(digits)")
            }
            guard digits.count <= 5, let value = Int(digits), value <= 65535 else {
                throw failure(piece, "port \(digits) is larger than 65535")
            }
            if value == 0 {
                throw failure(piece, "port 0 is not a valid server port; use 1-65535, or * for any port")
            }
            let port = UInt16(value)
            if !ports.contains(port) { ports.append(port) }
        }
        return .list(ports)
    }
}
