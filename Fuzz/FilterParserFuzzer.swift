// libFuzzer target: the filter-expression parser (SPEC §3), `--local-addr`
// parsing and textual IP addresses.
//
// Built by Fuzz/run.sh like DecoderTrackerFuzzer.swift. The input is text:
// each line is one filter expression (invalid UTF-8 is repaired, as the
// command line would see it); the whole set then goes through FilterSet.
//
// Besides crashes and sanitizer reports, the target checks invariants:
// an error names a part inside the expression, a parsed filter's rules
// print back into a group that parses to the same rule, and an address
// that parses prints back to itself.

// No `import TCPeekCore`: this file is compiled into that module.

private func fuzzCheck(_ condition: Bool, _ message: StaticString) {
    if !condition { fatalError("fuzz invariant violated: \(message)") }
}

private let probes: [IPAddress] = [
    IPAddress(ipv4: 0x0A00_0001), IPAddress(ipv4: 0xC000_0201), IPAddress(ipv4: 0),
    IPAddress(ipv4: 0xFFFF_FFFF), IPAddress(high: 0x2001_0DB8_0000_0000, low: 1),
    IPAddress(high: 0, low: 1), IPAddress(high: ~0, low: ~0),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func filterParserFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    var filters: [Filter] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(80) {
        let expression = String(line)
        do {
            let filter = try Filter.parse(expression)
            fuzzCheck(filter.expression == expression, "the expression is not kept as given")
            for rule in filter.rules {
                // A rule prints in filter syntax; it must read back the same.
                let again = try? Filter.parse("x:ANY@\(rule)")
                fuzzCheck(again?.rules == [rule], "a rule does not survive printing and parsing")
            }
            filters.append(filter)
        } catch {
            fuzzCheck(error.expression == expression, "the error quotes another expression")
            fuzzCheck(error.partOffset >= 0 && error.partOffset <= expression.count, "the error's part is outside the expression")
            _ = error.description
        }

        // The same text as --local-addr and as an address.
        if let network = try? LocalAddresses.parseNetwork(expression) {
            fuzzCheck(network.prefixLength >= 0 && network.prefixLength <= network.address.bitWidth, "prefix out of range")
            fuzzCheck(network.contains(network.address), "a network does not hold its own address")
        }
        if let address = IPAddress(expression) {
            fuzzCheck(IPAddress(address.description) == address, "an address does not survive printing and parsing")
        }
    }

    guard let set = try? FilterSet(filters: filters, hasLocalNotion: size & 1 == 0) else { return 0 }
    let local = LocalAddresses(addresses: [probes[0], probes[4]])
    for client in probes {
        for server in probes {
            for port: UInt16 in [0, 22, 80, 443, 65535] {
                let mask = set.match(client: client, server: server, serverPort: port, local: local)
                fuzzCheck(mask.allSatisfy { $0 < set.counting.count }, "a mask bit past the counting filters")
                // The compiled matcher agrees with the plain one.
                let direction = FilterSet.direction(client: client, server: server, local: local)
                let excluded = set.exclusions.contains {
                    $0.matches(client: client, server: server, serverPort: port, direction: $0.direction == .any ? nil : direction)
                }
                for (index, filter) in set.counting.enumerated() {
                    let plain = !excluded && filter.matches(
                        client: client, server: server, serverPort: port,
                        direction: filter.direction == .any ? nil : direction)
                    fuzzCheck(mask.contains(index) == plain, "FilterSet.match disagrees with Filter.matches")
                }
            }
        }
    }
    return 0
}
