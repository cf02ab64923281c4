/// An address or network as a person types it on the command line
/// (`--local-addr`, `tcpeek query --server/--client`): the one reading of
/// that text, so both options accept the same spellings.
extension IPNetwork {
    /// Parses `198.51.100.1`, `198.51.100.0/24`, `2001:db8::1`,
    /// `2001:0DB8:0:0::1`, `2001:db8::/64`; IPv6 may be bracketed
    /// (`[2001:db8::/64]` or `[2001:db8::]/64`). A single address is a /32 or
    /// /128 network.
    public init(parsing text: String) throws(NetworkTextError) {
        func failure(_ reason: String) -> NetworkTextError {
            NetworkTextError(text: text, reason: reason)
        }
        var body = text[...]
        var outer: (prefix: Substring, slash: Substring)?
        if body.first == "[" {
            guard let close = body.firstIndex(of: "]") else {
                throw failure("unclosed bracket; write '[2001:db8::1]' or just '2001:db8::1'")
            }
            let after = body[body.index(after: close)...]
            if !after.isEmpty {
                guard after.first == "/" else { throw failure("unexpected '\(after)' after ']'") }
                outer = (after.dropFirst(), after)
            }
            body = body[body.index(after: body.startIndex)..<close]
        }
        var (addressText, prefix, slash) = NetworkSyntax.splitPrefix(body)
        if let outer {
            if prefix != nil { throw failure("two prefixes; write the prefix once") }
            (prefix, slash) = (outer.prefix, outer.slash)
        }
        if addressText.isEmpty {
            throw failure("missing address; write an address such as 198.51.100.1 or a network such as 2001:db8::/64")
        }
        guard let address = IPAddress(String(addressText)) else {
            throw failure("'\(addressText)' is not an IPv4 or IPv6 address")
        }
        do {
            self = try NetworkSyntax.network(
                address, prefix: prefix, slash: slash, mappedNotation: addressText.contains(":"))
        } catch {
            throw failure(error.reason)
        }
    }
}

/// Text that is not an address or network, and why.
public struct NetworkTextError: Error, Sendable, Equatable {
    /// The text, as given.
    public let text: String
    public let reason: String
}
