import Testing
@testable import TCPeekCore

// Documentation addresses only: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32.

private func ip(_ text: String) -> IPAddress {
    guard let address = IPAddress(text) else {
        Issue.record("bad test address \(text)")
        return .zero
    }
    return address
}

private func net(_ text: String, _ prefix: Int) -> AddressPattern {
    AddressPattern(network: IPNetwork(address: ip(text), prefixLength: prefix))
}

private func host(_ text: String) -> AddressPattern {
    AddressPattern(network: IPNetwork(host: ip(text)))
}

private func parse(_ expression: String) -> Filter? {
    do {
        return try Filter.parse(expression)
    } catch {
        Issue.record("\(error)")
        return nil
    }
}

private func filterSet(_ expressions: [String], local: Bool = true) throws -> FilterSet {
    try FilterSet(filters: expressions.map { try Filter.parse($0) }, hasLocalNotion: local)
}

private func names(_ set: FilterSet, _ mask: FilterMask) -> [String] {
    mask.map { set.counting[$0].name }
}

// MARK: - Parsing valid expressions

@Suite struct FilterParsingTests {
    struct Valid: Sendable, CustomStringConvertible {
        var expression: String
        var name: String
        var direction: Direction
        var rules: [FilterRule]
        var description: String { expression }
    }

    static let valid: [Valid] = [
        // The original's examples.
        Valid(expression: "filter:RX@%:80:443", name: "filter", direction: .rx,
              rules: [FilterRule(address: .any, ports: .list([80, 443]))]),
        Valid(expression: "filter:TX@192.168.0.0/24:%", name: "filter", direction: .tx,
              rules: [FilterRule(address: net("192.168.0.0", 24), ports: .any)]),
        Valid(expression: "filter:TX@192.168.0.1:80:443:8080,192.168.0.2:80,192.168.0.3:80:8080",
              name: "filter", direction: .tx,
              rules: [
                  FilterRule(address: host("192.168.0.1"), ports: .list([80, 443, 8080])),
                  FilterRule(address: host("192.168.0.2"), ports: .list([80])),
                  FilterRule(address: host("192.168.0.3"), ports: .list([80, 8080])),
              ]),
        Valid(expression: ":RX@*:22", name: "", direction: .rx, rules: [FilterRule(address: .any, ports: .list([22]))]),
        // Directions, either case.
        Valid(expression: "web:ANY@*:*", name: "web", direction: .any, rules: [.any]),
        Valid(expression: "web:any@%:%", name: "web", direction: .any, rules: [.any]),
        Valid(expression: "web:rx@*:80", name: "web", direction: .rx, rules: [FilterRule(address: .any, ports: .list([80]))]),
        Valid(expression: "web:tx@*:80", name: "web", direction: .tx, rules: [FilterRule(address: .any, ports: .list([80]))]),
        // Names.
        Valid(expression: "my-web_1.v2:RX@*:65535", name: "my-web_1.v2", direction: .rx,
              rules: [FilterRule(address: .any, ports: .list([65535]))]),
        // Any name without ':' or '@' (the original took them): '/', '+', '#', spaces, quotes, any script.
        Valid(expression: "api/v2:RX@*:80", name: "api/v2", direction: .rx, rules: [FilterRule(address: .any, ports: .list([80]))]),
        Valid(expression: "c++#1:TX@*:443", name: "c++#1", direction: .tx, rules: [FilterRule(address: .any, ports: .list([443]))]),
        Valid(expression: "we b:RX@*:80", name: "we b", direction: .rx, rules: [FilterRule(address: .any, ports: .list([80]))]),
        Valid(expression: #"web's "x"\:RX@*:80"#, name: #"web's "x"\"#, direction: .rx,
              rules: [FilterRule(address: .any, ports: .list([80]))]),
        Valid(expression: "wéb:RX@*:80", name: "wéb", direction: .rx, rules: [FilterRule(address: .any, ports: .list([80]))]),
        // Prefixes: host bits are masked.
        Valid(expression: "n:RX@198.51.100.77/24:1", name: "n", direction: .rx,
              rules: [FilterRule(address: net("198.51.100.0", 24), ports: .list([1]))]),
        Valid(expression: "n:RX@203.0.113.9/0:443", name: "n", direction: .rx,
              rules: [FilterRule(address: net("0.0.0.0", 0), ports: .list([443]))]),
        Valid(expression: "n:RX@192.0.2.1/32:443", name: "n", direction: .rx,
              rules: [FilterRule(address: host("192.0.2.1"), ports: .list([443]))]),
        // Duplicate ports are dropped.
        Valid(expression: "n:RX@*:80:443:80", name: "n", direction: .rx,
              rules: [FilterRule(address: .any, ports: .list([80, 443]))]),
        // IPv6 in brackets, prefix inside or after.
        Valid(expression: "web6:RX@[2001:db8::/32]:443", name: "web6", direction: .rx,
              rules: [FilterRule(address: net("2001:db8::", 32), ports: .list([443]))]),
        Valid(expression: "web6:RX@[2001:db8::]/32:443", name: "web6", direction: .rx,
              rules: [FilterRule(address: net("2001:db8::", 32), ports: .list([443]))]),
        Valid(expression: "web6:TX@[2001:db8::1]:80:443", name: "web6", direction: .tx,
              rules: [FilterRule(address: host("2001:db8::1"), ports: .list([80, 443]))]),
        Valid(expression: "web6:TX@[2001:db8:1:2::99/64]:*", name: "web6", direction: .tx,
              rules: [FilterRule(address: net("2001:db8:1:2::", 64), ports: .any)]),
        Valid(expression: "mixed:ANY@[2001:db8::1]:443,198.51.100.0/24:443,*:22", name: "mixed", direction: .any,
              rules: [
                  FilterRule(address: host("2001:db8::1"), ports: .list([443])),
                  FilterRule(address: net("198.51.100.0", 24), ports: .list([443])),
                  FilterRule(address: .any, ports: .list([22])),
              ]),
        // An IPv4-mapped address written as IPv6 counts its prefix in 128 bits.
        Valid(expression: "m:RX@[::ffff:192.0.2.0/120]:80", name: "m", direction: .rx,
              rules: [FilterRule(address: net("192.0.2.0", 24), ports: .list([80]))]),
    ]

    @Test(arguments: valid)
    func parsesValidExpression(_ valid: Valid) throws {
        let filter = try Filter.parse(valid.expression)
        #expect(filter.name == valid.name)
        #expect(filter.direction == valid.direction)
        #expect(filter.rules == valid.rules)
        #expect(filter.expression == valid.expression)
        #expect(filter.isExclusion == valid.name.isEmpty)
    }

    @Test func writesPatternsBack() throws {
        let filter = try Filter.parse("x:ANY@192.0.2.1:80:443,198.51.100.9/24:*,[2001:db8::/32]:443,[2001:db8::1]:1,%:%")
        #expect(filter.rules.map(\.description) == [
            "192.0.2.1:80:443", "198.51.100.0/24:*", "[2001:db8::/32]:443", "[2001:db8::1]:1", "*:*",
        ])
    }

    // MARK: Invalid expressions

    struct Invalid: Sendable, CustomStringConvertible {
        var expression: String
        var reason: String
        /// The offending part the error points at.
        var part: String
        var description: String { expression }
    }

    static let invalid: [Invalid] = [
        Invalid(expression: "", reason: "the expression is empty; write NAME:DIR@ADDR:PORT, e.g. 'web:RX@*:80:443'", part: ""),
        Invalid(expression: "web", reason: "missing ':' after the name; write NAME:DIR@ADDR:PORT, e.g. 'web:RX@*:80:443' (an empty name, as in ':RX@*:22', makes an exclusion)", part: "web"),
        Invalid(expression: "RX@*:80", reason: "missing ':' after the name; write NAME:DIR@ADDR:PORT, e.g. 'web:RX@*:80:443' (an empty name, as in ':RX@*:22', makes an exclusion)", part: "RX"),
        Invalid(expression: "web:RX", reason: "missing '@' after the direction; write NAME:DIR@ADDR:PORT, e.g. 'web:RX@*:80:443'", part: "RX"),
        Invalid(expression: "web:IN@*:80", reason: "unknown direction 'IN'; use RX, TX or ANY", part: "IN"),
        Invalid(expression: "web:Rx@*:80", reason: "unknown direction 'Rx'; use RX, TX or ANY", part: "Rx"),
        Invalid(expression: "web:@*:80", reason: "missing direction before '@'; use RX, TX or ANY", part: ""),
        Invalid(expression: "web:RX@", reason: "missing address and port after '@'; write ADDR:PORT, e.g. '*:80'", part: ""),
        Invalid(expression: "we\tb:RX@*:80", reason: "the name contains the control character U+0009; names may hold anything but ':', '@' and control characters", part: "we\tb"),
        Invalid(expression: "a\nb:RX@*:80", reason: "the name contains the control character U+000A; names may hold anything but ':', '@' and control characters", part: "a\nb"),
        Invalid(expression: "a\u{7F}:RX@*:80", reason: "the name contains the control character U+007F; names may hold anything but ':', '@' and control characters", part: "a\u{7F}"),
        Invalid(expression: "a@b:RX@*:80", reason: "missing ':' after the name; write NAME:DIR@ADDR:PORT, e.g. 'web:RX@*:80:443' (an empty name, as in ':RX@*:22', makes an exclusion)", part: "a"),
        Invalid(expression: String(repeating: "a", count: 65) + ":RX@*:80", reason: "the name '\(String(repeating: "a", count: 65))' is longer than 64 characters", part: String(repeating: "a", count: 65)),
        Invalid(expression: "a:RX@*:80,,*:81", reason: "empty address group (a ',' with nothing before or after it)", part: ""),
        Invalid(expression: "a:RX@*:80,", reason: "empty address group (a ',' with nothing before or after it)", part: ""),
        Invalid(expression: "a:RX@,*:80", reason: "empty address group (a ',' with nothing before or after it)", part: ""),
        Invalid(expression: "web:RX@10.0.0.0/33:80", reason: "prefix /33 is longer than 32 bits", part: "/33"),
        Invalid(expression: "web:RX@[2001:db8::/129]:80", reason: "prefix /129 is longer than 128 bits", part: "/129"),
        Invalid(expression: "web:RX@[2001:db8::]/129:80", reason: "prefix /129 is longer than 128 bits", part: "/129"),
        Invalid(expression: "web:RX@198.51.100.0/99999:80", reason: "prefix /99999 is longer than 32 bits", part: "/99999"),
        Invalid(expression: "web:RX@198.51.100.0/x:80", reason: "prefix '/x' is not a number", part: "/x"),
        Invalid(expression: "web:RX@198.51.100.0/-1:80", reason: "prefix '/-1' is not a number", part: "/-1"),
        Invalid(expression: "web:RX@198.51.100.0/:80", reason: "missing prefix length after '/'", part: "/"),
        Invalid(expression: "web:RX@[2001:db8::/32]/32:80", reason: "two prefixes for '[2001:db8::/32]'; write the prefix once, e.g. '[2001:db8::/32]'", part: "/32"),
        Invalid(expression: "web:RX@[::ffff:192.0.2.0/64]:80", reason: "prefix /64 on the IPv4-mapped address '192.0.2.0' would cover IPv6 addresses too; use /96 or longer, or write the IPv4 network", part: "/64"),
        Invalid(expression: "web:RX@*/8:80", reason: "'*' means any address and takes no prefix", part: "/8"),
        Invalid(expression: "web:RX@198.51.100.300:80", reason: "'198.51.100.300' is not an address; write an IPv4 address, an IPv6 address in brackets, or * for any", part: "198.51.100.300"),
        Invalid(expression: "web:RX@example.com:80", reason: "'example.com' is not an address; write an IPv4 address, an IPv6 address in brackets, or * for any", part: "example.com"),
        Invalid(expression: "web:RX@:80", reason: "missing address before ':'; use * for any address", part: ""),
        Invalid(expression: "web:RX@/24:80", reason: "missing address before '/'; use * for any address", part: "/24"),
        Invalid(expression: "web:RX@[2001:db8::zz]:80", reason: "'2001:db8::zz' is not an IPv6 address", part: "2001:db8::zz"),
        Invalid(expression: "web:RX@[]:80", reason: "empty brackets; write an IPv6 address inside them, e.g. '[2001:db8::1]'", part: ""),
        Invalid(expression: "web:RX@[*]:80", reason: "'*' and '%' need no brackets; write '*' for any address", part: "[*]"),
        Invalid(expression: "web:RX@[2001:db8::1:80", reason: "unclosed bracket in '[2001:db8::1:80'; write '[2001:db8::1]:PORT'", part: "[2001:db8::1:80"),
        Invalid(expression: "web:RX@2001:db8::1:443", reason: "IPv6 addresses must be written in brackets, as in '[2001:db8::1]:443' or '[2001:db8::/32]:443'", part: "2001:db8::1:443"),
        Invalid(expression: "web:RX@2001:db8::/32:443", reason: "IPv6 addresses must be written in brackets, as in '[2001:db8::1]:443' or '[2001:db8::/32]:443'", part: "2001:db8::/32:443"),
        Invalid(expression: "web:RX@::1:443", reason: "IPv6 addresses must be written in brackets, as in '[2001:db8::1]:443' or '[2001:db8::/32]:443'", part: "::1:443"),
        Invalid(expression: "web:RX@*", reason: "missing port after '*'; write '*:PORT', or '*:*' for any port", part: ""),
        Invalid(expression: "web:RX@198.51.100.1", reason: "missing port after '198.51.100.1'; write '198.51.100.1:PORT', or '198.51.100.1:*' for any port", part: ""),
        Invalid(expression: "web:RX@[2001:db8::1]", reason: "missing port after '[2001:db8::1]'; write '[2001:db8::1]:PORT', or '[2001:db8::1]:*' for any port", part: ""),
        Invalid(expression: "web:RX@*:", reason: "missing port after ':'; write a port such as 80, or * for any port", part: ""),
        Invalid(expression: "web:RX@*:http", reason: "port 'http' is not a number", part: "http"),
        Invalid(expression: "web:RX@*:-1", reason: "port '-1' is not a number", part: "-1"),
        Invalid(expression: "web:RX@*:0", reason: "port 0 is not a valid server port; use 1-65535, or * for any port", part: "0"),
        Invalid(expression: "web:RX@*:65536", reason: "port 65536 is larger than 65535", part: "65536"),
        Invalid(expression: "web:RX@*:99999999999999999999", reason: "port 99999999999999999999 is larger than 65535", part: "99999999999999999999"),
        Invalid(expression: "web:RX@*:80::443", reason: "empty port in '80::443'; separate ports with a single ':'", part: ""),
        Invalid(expression: "web:RX@*:80:", reason: "empty port in '80:'; separate ports with a single ':'", part: ""),
        Invalid(expression: "web:RX@*:80:*", reason: "'*' means any port and cannot be listed with other ports in '80:*'", part: "80:*"),
        Invalid(expression: "web:RX@*:80 ", reason: "unexpected ' ' after port 80", part: " "),
        Invalid(expression: "web:RX@*:80/tcp", reason: "unexpected '/tcp' after port 80", part: "/tcp"),
        Invalid(expression: "web:RX@[2001:db8::1]x:80", reason: "unexpected 'x' after ']'; expected ':PORT'", part: "x"),
    ]

    @Test(arguments: invalid)
    func refusesInvalidExpression(_ invalid: Invalid) {
        #expect {
            try Filter.parse(invalid.expression)
        } throws: { error in
            guard let error = error as? FilterParseError else { return false }
            #expect(error.reason == invalid.reason)
            #expect(error.expression == invalid.expression)
            #expect(String(error.part) == invalid.part)
            #expect(error.description == "filter '\(invalid.expression)': \(invalid.reason)")
            // The part is a slice of the expression: a caret can point at it.
            let offset = error.partOffset
            #expect(offset >= 0 && offset <= invalid.expression.count)
            #expect(String(invalid.expression.dropFirst(offset).prefix(invalid.part.count)) == invalid.part)
            return true
        }
    }

    @Test func messageMatchesTheStyleGuide() {
        #expect(throws: FilterParseError.self) { try Filter.parse("web:RX@10.0.0.0/33:80") }
        do {
            _ = try Filter.parse("web:RX@10.0.0.0/33:80")
        } catch {
            #expect("\(error)" == "filter 'web:RX@10.0.0.0/33:80': prefix /33 is longer than 32 bits")
            #expect(error.partOffset == 15)
        }
    }

    @Test func emptyGroupErrorPointsAtTheSecondComma() {
        do {
            _ = try Filter.parse("a:RX@*:80,,*:81")
            Issue.record("parsed")
        } catch {
            #expect(error.partOffset == 10)
        }
    }
}

// MARK: - Patterns and networks

@Suite struct PatternTests {
    @Test(arguments: [
        // (network, prefix, address, expected)
        ("198.51.100.0", 24, "198.51.100.0", true),
        ("198.51.100.0", 24, "198.51.100.255", true),
        ("198.51.100.0", 24, "198.51.101.0", false),
        ("198.0.0.0", 8, "198.51.100.1", true),
        ("198.0.0.0", 8, "199.51.100.1", false),
        ("0.0.0.0", 0, "203.0.113.1", true),
        ("0.0.0.0", 0, "2001:db8::1", false),  // IPv4 never holds IPv6
        ("192.0.2.1", 32, "192.0.2.1", true),
        ("192.0.2.1", 32, "192.0.2.2", false),
        ("2001:db8::", 32, "2001:db8:ffff::1", true),
        ("2001:db8::", 32, "2001:db9::1", false),
        ("2001:db8:1:2::", 64, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", true),
        ("2001:db8:1:2::", 64, "2001:db8:1:3::1", false),
        ("2001:db8::1", 128, "2001:db8::1", true),
        ("2001:db8::1", 128, "2001:db8::2", false),
        ("::", 0, "2001:db8::1", true),
        ("::", 0, "192.0.2.1", false),  // IPv6 never holds IPv4
        ("2001:db8::", 32, "192.0.2.1", false),
    ])
    func networkMatches(network: String, prefix: Int, address: String, expected: Bool) {
        #expect(net(network, prefix).matches(ip(address)) == expected)
    }

    @Test func networkMasksHostBits() {
        #expect(IPNetwork(address: ip("198.51.100.77"), prefixLength: 24) == IPNetwork(address: ip("198.51.100.0"), prefixLength: 24))
        #expect(IPNetwork(address: ip("2001:db8:1:2:3::"), prefixLength: 33).address == ip("2001:db8::"))
        #expect(IPNetwork(address: ip("2001:db8:ffff::"), prefixLength: 40).address == ip("2001:db8:ff00::"))
        #expect(IPNetwork(address: ip("2001:db8::1:2:3:4"), prefixLength: 80).address == ip("2001:db8::1:0:0:0"))
        #expect(IPNetwork(address: ip("192.0.2.1"), prefixLength: 99).prefixLength == 32)
        #expect(IPNetwork(address: ip("198.51.100.0"), prefixLength: 24).description == "198.51.100.0/24")
    }

    @Test func anyMatchesBothFamilies() {
        #expect(AddressPattern.any.matches(ip("192.0.2.1")))
        #expect(AddressPattern.any.matches(ip("2001:db8::1")))
        #expect(PortPattern.any.matches(1))
        #expect(PortPattern.list([80, 443]).matches(443))
        #expect(!PortPattern.list([80, 443]).matches(8080))
    }
}

// MARK: - Local addresses

@Suite struct LocalAddressesTests {
    @Test(arguments: [
        ("198.51.100.1", "198.51.100.1", 32),
        ("198.51.100.9/24", "198.51.100.0", 24),
        ("2001:db8::1", "2001:db8::1", 128),
        ("2001:db8::/64", "2001:db8::", 64),
        ("[2001:db8::1]", "2001:db8::1", 128),
        ("[2001:db8::/64]", "2001:db8::", 64),
        ("[2001:db8::]/64", "2001:db8::", 64),
        ("198.51.100.1/32", "198.51.100.1", 32),
    ])
    func parsesNetwork(text: String, address: String, prefix: Int) throws {
        let network = try LocalAddresses.parseNetwork(text)
        #expect(network == IPNetwork(address: ip(address), prefixLength: prefix))
    }

    @Test(arguments: [
        ("", "missing address; write an address such as 198.51.100.1 or a network such as 2001:db8::/64"),
        ("*", "'*' is not an IPv4 or IPv6 address"),
        ("eth0", "'eth0' is not an IPv4 or IPv6 address"),
        ("198.51.100.0/33", "prefix /33 is longer than 32 bits"),
        ("2001:db8::/129", "prefix /129 is longer than 128 bits"),
        ("198.51.100.0/x", "prefix '/x' is not a number"),
        ("198.51.100.0/", "missing prefix length after '/'"),
        ("[2001:db8::1", "unclosed bracket; write '[2001:db8::1]' or just '2001:db8::1'"),
        ("[2001:db8::1]x", "unexpected 'x' after ']'"),
        ("[2001:db8::/32]/32", "two prefixes; write the prefix once"),
    ])
    func refusesBadValue(text: String, reason: String) {
        #expect {
            try LocalAddresses.parse(text)
        } throws: { error in
            guard let error = error as? LocalAddressParseError else { return false }
            #expect(error.reason == reason)
            #expect(error.description == "local address '\(text)': \(reason)")
            return true
        }
    }

    @Test func containsAddressesAndNetworks() throws {
        let local = try LocalAddresses.parse(["198.51.100.1", "203.0.113.0/24", "2001:db8::1", "2001:db8:1::/48"])
        #expect(local.addresses == [ip("198.51.100.1"), ip("2001:db8::1")])
        #expect(local.networks.count == 2)
        #expect(local.contains(ip("198.51.100.1")))
        #expect(!local.contains(ip("198.51.100.2")))
        #expect(local.contains(ip("203.0.113.200")))
        #expect(!local.contains(ip("192.0.2.1")))
        #expect(local.contains(ip("2001:db8::1")))
        #expect(!local.contains(ip("2001:db8::2")))
        #expect(local.contains(ip("2001:db8:1:ffff::1")))
        #expect(!local.contains(ip("2001:db8:2::1")))
        #expect(!local.isEmpty)
    }

    @Test func noneIsEmpty() {
        #expect(LocalAddresses.none.isEmpty)
        #expect(!LocalAddresses.none.contains(ip("192.0.2.1")))
        #expect(LocalAddresses() == .none)
    }

    @Test func normalisesHostNetworksAndDuplicates() throws {
        var local = LocalAddresses(
            addresses: [ip("192.0.2.1")],
            networks: [IPNetwork(host: ip("192.0.2.2")), IPNetwork(address: ip("198.51.100.0"), prefixLength: 24)])
        local.insert(IPNetwork(address: ip("198.51.100.7"), prefixLength: 24))
        #expect(local.addresses == [ip("192.0.2.1"), ip("192.0.2.2")])
        #expect(local.networks == [IPNetwork(address: ip("198.51.100.0"), prefixLength: 24)])
        #expect(local == (try LocalAddresses.parse(["192.0.2.2", "198.51.100.0/24", "192.0.2.1"])))
        #expect(local.union(try LocalAddresses.parse("2001:db8::1")).contains(ip("2001:db8::1")))
    }
}

// MARK: - Filter sets and matching

@Suite struct FilterSetTests {
    static let local = (try? LocalAddresses.parse(["198.51.100.1", "2001:db8::1"])) ?? .none
    static let here = ip("198.51.100.1")
    static let here6 = ip("2001:db8::1")

    @Test func builtInFiltersComeFirst() throws {
        let set = try filterSet(["web:RX@*:80", ":RX@*:22", "db:TX@*:5432"])
        #expect(set.counting.map(\.name) == ["RX", "TX", "web", "db"])
        #expect(set.counting.map(\.expression).prefix(2) == ["RX:RX@*:*", "TX:TX@*:*"])
        #expect(set.exclusions.map(\.expression) == [":RX@*:22"])
        #expect(set.warnings.isEmpty)

        let offline = try filterSet(["web:ANY@*:80"], local: false)
        #expect(offline.counting.map(\.name) == ["ALL", "web"])
        #expect(offline.counting[0].expression == "ALL:ANY@*:*")
        #expect(offline.counting[0].direction == .any)
    }

    @Test func defaultsMatchByDirection() throws {
        let set = try filterSet([])
        let local = Self.local
        // Incoming: server is this host.
        #expect(names(set, set.match(client: ip("203.0.113.5"), server: Self.here, serverPort: 80, local: local)) == ["RX"])
        // Outgoing: client is this host.
        #expect(names(set, set.match(client: Self.here6, server: ip("2001:db8:9::9"), serverPort: 443, local: local)) == ["TX"])
        // Passing by: neither.
        #expect(set.match(client: ip("203.0.113.5"), server: ip("192.0.2.1"), serverPort: 80, local: local).isEmpty)
        // Both local: incoming only, counted once.
        #expect(names(set, set.match(client: Self.here, server: Self.here, serverPort: 80, local: local)) == ["RX"])

        let offline = try filterSet([], local: false)
        #expect(names(offline, offline.match(client: ip("203.0.113.5"), server: ip("192.0.2.1"), serverPort: 80, local: .none)) == ["ALL"])
    }

    @Test func directionOfAnAttempt() {
        let local = Self.local
        #expect(FilterSet.direction(client: ip("203.0.113.5"), server: Self.here, local: local) == .rx)
        #expect(FilterSet.direction(client: Self.here, server: ip("203.0.113.5"), local: local) == .tx)
        #expect(FilterSet.direction(client: Self.here, server: Self.here6, local: local) == .rx)
        #expect(FilterSet.direction(client: ip("203.0.113.5"), server: ip("192.0.2.1"), local: local) == nil)
        #expect(FilterSet.direction(client: Self.here, server: ip("192.0.2.1"), local: .none) == nil)
    }

    @Test func rxMatchesClientTxMatchesServerAnyMatchesEither() throws {
        let set = try filterSet([
            "in:RX@203.0.113.0/24:80",
            "out:TX@203.0.113.0/24:80",
            "either:ANY@203.0.113.0/24:80",
        ])
        let local = Self.local
        let remote = ip("203.0.113.7")
        let other = ip("192.0.2.7")

        // Incoming from 203.0.113.7: RX checks the client.
        #expect(names(set, set.match(client: remote, server: Self.here, serverPort: 80, local: local)) == ["RX", "in", "either"])
        // Incoming from elsewhere: only the default.
        #expect(names(set, set.match(client: other, server: Self.here, serverPort: 80, local: local)) == ["RX"])
        // Outgoing to 203.0.113.7: TX checks the server.
        #expect(names(set, set.match(client: Self.here, server: remote, serverPort: 80, local: local)) == ["TX", "out", "either"])
        // Outgoing to elsewhere.
        #expect(names(set, set.match(client: Self.here, server: other, serverPort: 80, local: local)) == ["TX"])
        // Passing by, either end in the network: only ANY, regardless of locality.
        #expect(names(set, set.match(client: remote, server: other, serverPort: 80, local: local)) == ["either"])
        #expect(names(set, set.match(client: other, server: remote, serverPort: 80, local: local)) == ["either"])
        // PORT is always the server port.
        #expect(names(set, set.match(client: remote, server: Self.here, serverPort: 8080, local: local)) == ["RX"])
    }

    @Test func rxFilterNeedsTheServerLocal() throws {
        let set = try filterSet(["in:RX@*:80"])
        // The client is this host, the server remote: outgoing, not RX.
        #expect(!set.match(client: Self.here, server: ip("203.0.113.1"), serverPort: 80, local: Self.local).contains(2))
        // No local addresses at all: RX never matches.
        #expect(set.match(client: ip("203.0.113.1"), server: Self.here, serverPort: 80, local: .none).isEmpty)
    }

    @Test func ipv6Prefixes() throws {
        let set = try filterSet([
            "v6-32:RX@[2001:db8::/32]:443",
            "v6-64:RX@[2001:db8:1:2::]/64:443",
            "v6-128:RX@[2001:db8:1:2::5]:443",
            "v4:RX@0.0.0.0/0:443",
        ])
        let local = Self.local
        func hits(_ client: String) -> [String] {
            names(set, set.match(client: ip(client), server: Self.here6, serverPort: 443, local: local))
        }
        #expect(hits("2001:db8:1:2::5") == ["RX", "v6-32", "v6-64", "v6-128"])
        #expect(hits("2001:db8:1:2::6") == ["RX", "v6-32", "v6-64"])
        #expect(hits("2001:db8:1:3::5") == ["RX", "v6-32"])
        #expect(hits("2001:db9::5") == ["RX"])
        #expect(hits("203.0.113.5") == ["RX", "v4"])
    }

    @Test func ipv4Prefixes() throws {
        let set = try filterSet([
            "all:RX@0.0.0.0/0:22",
            "eight:RX@203.0.0.0/8:22",
            "twentyfour:RX@203.0.113.0/24:22",
            "one:RX@203.0.113.9/32:22",
        ])
        func hits(_ client: String) -> [String] {
            names(set, set.match(client: ip(client), server: Self.here, serverPort: 22, local: Self.local))
        }
        #expect(hits("203.0.113.9") == ["RX", "all", "eight", "twentyfour", "one"])
        #expect(hits("203.0.113.10") == ["RX", "all", "eight", "twentyfour"])
        #expect(hits("203.0.114.10") == ["RX", "all", "eight"])
        #expect(hits("192.0.2.10") == ["RX", "all"])
        #expect(hits("2001:db8::99") == ["RX"])
    }

    @Test func multipleGroupsAndPorts() throws {
        let set = try filterSet(["f:TX@192.0.2.1:80:443:8080,192.0.2.2:80,198.51.100.0/24:25"], local: true)
        let local = try LocalAddresses.parse("203.0.113.1")
        func hits(_ server: String, _ port: UInt16) -> Bool {
            set.match(client: ip("203.0.113.1"), server: ip(server), serverPort: port, local: local).contains(2)
        }
        #expect(hits("192.0.2.1", 80))
        #expect(hits("192.0.2.1", 443))
        #expect(hits("192.0.2.1", 8080))
        #expect(!hits("192.0.2.1", 25))
        #expect(hits("192.0.2.2", 80))
        #expect(!hits("192.0.2.2", 443))
        #expect(hits("198.51.100.200", 25))
        #expect(!hits("198.51.100.200", 80))
        #expect(!hits("192.0.2.3", 80))
    }

    @Test func exclusionWinsWhereverItStands() throws {
        let local = Self.local
        for expressions in [
            [":RX@*:22", "ssh:RX@*:22", "all:ANY@*:*"],
            ["ssh:RX@*:22", ":RX@*:22", "all:ANY@*:*"],
            ["ssh:RX@*:22", "all:ANY@*:*", ":RX@*:22"],
        ] {
            let set = try filterSet(expressions)
            #expect(set.counting.map(\.name) == ["RX", "TX", "ssh", "all"])
            #expect(set.match(client: ip("203.0.113.5"), server: Self.here, serverPort: 22, local: local).isEmpty)
            // The exclusion is RX only: outgoing SSH still counts.
            #expect(names(set, set.match(client: Self.here, server: ip("203.0.113.5"), serverPort: 22, local: local)) == ["TX", "all"])
            // Other ports still count.
            #expect(names(set, set.match(client: ip("203.0.113.5"), server: Self.here, serverPort: 443, local: local)) == ["RX", "all"])
        }
    }

    @Test func exclusionOfANetwork() throws {
        let set = try filterSet([":ANY@[2001:db8:dead::/48]:*,192.0.2.0/24:*"], local: false)
        #expect(set.match(client: ip("2001:db8:dead::1"), server: ip("2001:db8::2"), serverPort: 80, local: .none).isEmpty)
        #expect(set.match(client: ip("203.0.113.1"), server: ip("192.0.2.80"), serverPort: 80, local: .none).isEmpty)
        #expect(!set.match(client: ip("203.0.113.1"), server: ip("198.51.100.80"), serverPort: 80, local: .none).isEmpty)
    }

    @Test func attemptCountsInSeveralFilters() throws {
        let set = try filterSet(["web:RX@*:80:443", "tls:RX@*:443", "docs:RX@203.0.113.0/24:*"])
        let mask = set.match(client: ip("203.0.113.5"), server: Self.here, serverPort: 443, local: Self.local)
        #expect(names(set, mask) == ["RX", "web", "tls", "docs"])
        #expect(mask.count == 4)
        #expect(mask.rawValue == 0b11101)
        #expect(Array(mask) == [0, 2, 3, 4])
        #expect(!mask.contains(1))
    }

    @Test func duplicateNamesAreRefused() throws {
        let web = try Filter.parse("web:RX@*:80")
        let again = try Filter.parse("web:TX@*:443")
        #expect {
            try FilterSet(filters: [web, again], hasLocalNotion: true)
        } throws: { error in
            guard let error = error as? FilterParseError else { return false }
            #expect(error.description == "filter 'web:TX@*:443': the name 'web' is already used by filter 'web:RX@*:80'; give each filter its own name (names are compared ignoring case)")
            #expect(error.part == "web")
            return true
        }
        // The built-in names are taken too, ignoring case.
        #expect {
            try FilterSet(filters: [try Filter.parse("rx:RX@*:80")], hasLocalNotion: true)
        } throws: { error in
            (error as? FilterParseError)?.reason == "the name 'rx' is already used by the built-in filter 'RX:RX@*:*'; give each filter its own name (names are compared ignoring case)"
        }
        #expect(throws: FilterParseError.self) {
            try FilterSet(filters: [try Filter.parse("ALL:ANY@*:80")], hasLocalNotion: false)
        }
        // Without a local notion RX is not built in; with one, ALL is not.
        _ = try FilterSet(filters: [try Filter.parse("RX:ANY@*:80")], hasLocalNotion: false)
        _ = try FilterSet(filters: [try Filter.parse("ALL:ANY@*:80")], hasLocalNotion: true)
        // Any number of exclusions, all with the empty name.
        _ = try filterSet([":RX@*:22", ":TX@*:22"])
    }

    /// The original's README names `RX:RX@*:*` and `TX:TX@*:*`; scripts
    /// write them out. They are the built-in filters, counted once.
    @Test func writtenOutBuiltInFiltersAreTheBuiltInOnes() throws {
        let set = try filterSet(["RX:RX@*:*", "TX:TX@%:%", "web:RX@*:80"])
        #expect(set.counting.map(\.name) == ["RX", "TX", "web"])
        #expect(set.counting[0].expression == "RX:RX@*:*")
        let incoming = set.match(client: ip("203.0.113.5"), server: Self.here, serverPort: 80, local: Self.local)
        #expect(names(set, incoming) == ["RX", "web"])
        let outgoing = set.match(client: Self.here, server: ip("203.0.113.5"), serverPort: 80, local: Self.local)
        #expect(names(set, outgoing) == ["TX"])
        #expect(set.warnings.isEmpty)
        // Reading a file without a notion of this host, ALL is the built-in one.
        #expect(try filterSet(["ALL:ANY@*:*"], local: false).counting.map(\.name) == ["ALL"])
        // A filter of the user's written twice alike is one filter too.
        let twice = try filterSet(["web:RX@*:80:443", "web:RX@%:80:443"], local: false)
        #expect(twice.counting.map(\.name) == ["ALL", "web"])
        #expect(twice.warnings.count == 1)
        // Another definition under a built-in name is still refused, as is
        // the built-in definition under a name differing only in case.
        #expect {
            try filterSet(["RX:RX@*:80"])
        } throws: { error in
            (error as? FilterParseError)?.reason == "the name 'RX' is already used by the built-in filter 'RX:RX@*:*'; give each filter its own name (names are compared ignoring case)"
        }
        #expect {
            try filterSet(["rx:RX@*:*"])
        } throws: { error in
            (error as? FilterParseError)?.reason == "the name 'rx' is already used by the built-in filter 'RX:RX@*:*'; give each filter its own name (names are compared ignoring case)"
        }
    }

    @Test func atMost64CountingFilters() throws {
        let fits = (1...62).map { "f\($0):RX@*:\($0)" }
        let set = try filterSet(fits + [":RX@*:22"])
        #expect(set.counting.count == 64)
        let last = set.match(client: ip("203.0.113.5"), server: Self.here, serverPort: 62, local: Self.local)
        #expect(last.contains(63))
        #expect(last.contains(0))
        #expect(last.count == 2)

        #expect {
            try filterSet(fits + ["f63:RX@*:63"])
        } throws: { error in
            guard let error = error as? FilterParseError else { return false }
            #expect(error.description == "filter 'f63:RX@*:63': too many filters: at most 64 counting filters, the built-in 'RX' and 'TX' included")
            return true
        }
        // Without a local notion there is one built-in filter, so 63 fit.
        #expect(try filterSet(fits + ["f63:ANY@*:63"], local: false).counting.count == 64)
    }

    @Test func warnsAboutFiltersThatNeverMatch() throws {
        let set = try filterSet(["web:RX@*:80", "out:TX@*:443", "both:ANY@*:80", ":RX@*:22"], local: false)
        #expect(set.warnings == [
            "filter 'web' uses RX but no local addresses are known, so it never matches; pass --local-addr or use ANY",
            "filter 'out' uses TX but no local addresses are known, so it never matches; pass --local-addr or use ANY",
            "exclusion filter ':RX@*:22' uses RX but no local addresses are known, so it never matches; pass --local-addr or use ANY",
        ])
        #expect(try filterSet([":ANY@*:*"]).warnings == ["exclusion filter ':ANY@*:*' excludes every attempt, so nothing is counted"])
        #expect(try filterSet(["web:RX@*:80"], local: true).warnings.isEmpty)
    }

    @Test func filterMatchesAgreeWithTheSet() throws {
        let filter = try Filter.parse("web:RX@203.0.113.0/24:80")
        #expect(filter.matches(client: ip("203.0.113.5"), server: Self.here, serverPort: 80, local: Self.local))
        #expect(!filter.matches(client: ip("203.0.113.5"), server: ip("192.0.2.1"), serverPort: 80, local: Self.local))
        let any = try Filter.parse("web:ANY@203.0.113.0/24:80")
        #expect(any.matches(client: ip("192.0.2.1"), server: ip("203.0.113.5"), serverPort: 80, local: .none))
    }

    @Test func maskBasics() {
        var mask = FilterMask()
        #expect(mask.isEmpty)
        #expect(mask == .empty)
        mask.insert(0)
        mask.insert(63)
        mask.insert(64)  // ignored
        mask.insert(-1)  // ignored
        #expect(mask.rawValue == 1 | (1 as UInt64) << 63)
        #expect(Array(mask) == [0, 63])
        #expect(mask.contains(63))
        #expect(!mask.contains(64))
        #expect(!mask.contains(-1))
        #expect(mask.union(FilterMask(rawValue: 2)).count == 3)
    }
}
