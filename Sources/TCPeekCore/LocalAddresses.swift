/// The addresses of "this host" (SPEC §3): exact addresses, looked up in a
/// set, and networks, scanned in order.
///
/// A value: whoever tracks interface changes builds a new one and hands it
/// over; matching never sees it change underneath.
public struct LocalAddresses: Sendable, Equatable {
    /// Exact addresses (networks given as /32 or /128 end up here too).
    public private(set) var addresses: Set<IPAddress>
    /// Networks wider than one address, without duplicates, in the order added.
    public private(set) var networks: [IPNetwork]

    public init(addresses: some Sequence<IPAddress> = [], networks: some Sequence<IPNetwork> = [IPNetwork]()) {
        self.addresses = Set(addresses)
        self.networks = []
        for network in networks { insert(network) }
    }

    /// No notion of "this host": nothing is local.
    public static let none = LocalAddresses()

    public var isEmpty: Bool { addresses.isEmpty && networks.isEmpty }

    /// Whether `address` is this host's: one hash lookup, then a scan of the
    /// networks (usually none or a few). Never allocates.
    public func contains(_ address: IPAddress) -> Bool {
        if addresses.contains(address) { return true }
        var index = 0
        while index < networks.count {
            if networks[index].contains(address) { return true }
            index += 1
        }
        return false
    }

    public mutating func insert(_ address: IPAddress) {
        addresses.insert(address)
    }

    /// Adds a network; a /32 or /128 becomes an exact address.
    public mutating func insert(_ network: IPNetwork) {
        if network.isHost {
            addresses.insert(network.address)
        } else if !networks.contains(network) {
            networks.append(network)
        }
    }

    public mutating func formUnion(_ other: LocalAddresses) {
        addresses.formUnion(other.addresses)
        for network in other.networks { insert(network) }
    }

    public func union(_ other: LocalAddresses) -> LocalAddresses {
        var result = self
        result.formUnion(other)
        return result
    }

    /// Parses one `--local-addr` value: `198.51.100.1`, `198.51.100.0/24`,
    /// `2001:db8::1`, `2001:db8::/64`; IPv6 may be bracketed
    /// (`[2001:db8::/64]` or `[2001:db8::]/64`).
    public static func parse(_ text: String) throws(LocalAddressParseError) -> LocalAddresses {
        var result = LocalAddresses()
        result.insert(try parseNetwork(text))
        return result
    }

    /// Parses every value of a repeated `--local-addr`, stopping at the first bad one.
    public static func parse(_ texts: some Sequence<String>) throws(LocalAddressParseError) -> LocalAddresses {
        var result = LocalAddresses()
        for text in texts { result.insert(try parseNetwork(text)) }
        return result
    }

    /// Parses one value as a network (a single address is /32 or /128).
    public static func parseNetwork(_ text: String) throws(LocalAddressParseError) -> IPNetwork {
        do {
            return try IPNetwork(parsing: text)
        } catch {
            throw LocalAddressParseError(text: text, reason: error.reason)
        }
    }
}

/// A `--local-addr` value that is not an address or network.
public struct LocalAddressParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The value, as given.
    public let text: String
    public let reason: String

    /// `local address '198.51.100.0/33': prefix /33 is longer than 32 bits`.
    public var description: String { "local address '\(text)': \(reason)" }
}
