import GRDB
import Synchronization
import TCPeekCore

/// `tcpeek_address_in(address, i)`: whether the stored address text lies in
/// the query's network `i`. Addresses are text (Schema/README.md), whose
/// order is not the addresses' order, so a network is tested address by
/// address, on the rows the time index has already narrowed, after a
/// `GLOB` on the text every address of the network starts with.
enum SessionAddressFunction {
    static let name = "tcpeek_address_in"

    /// The text every stored address of `network` starts with, nil when
    /// none: its whole leading octets (`198.51.` for 198.51.0.0/17), or its
    /// whole leading IPv6 groups up to the first zero one (`2001:db8:` for
    /// 2001:db8::/64), which "::" never stands for.
    static func textPrefix(of network: IPNetwork) -> String? {
        let address = network.address
        var parts: [String] = []
        if address.isIPv4 {
            for index in 0..<(network.prefixLength / 8) {
                parts.append(String(UInt8(truncatingIfNeeded: address.ipv4Value >> (24 - 8 * index))))
            }
            return parts.isEmpty ? nil : parts.joined(separator: ".") + "."
        }
        for index in 0..<(network.prefixLength / 16) {
            let group = UInt16(truncatingIfNeeded: (index < 4 ? address.high : address.low) >> (48 - 16 * (index % 4)))
            if group == 0 { break }
            parts.append(String(group, radix: 16))
        }
        return parts.isEmpty ? nil : parts.joined(separator: ":") + ":"
    }

    static func make(_ networks: [IPNetwork]) -> DatabaseFunction {
        // A busy server's address comes back row after row, and parsing the
        // text was nine tenths of the function's time: answers are kept,
        // a few thousand at most.
        let answers = Mutex<[AddressInNetwork: Bool]>([:])
        return DatabaseFunction(name, argumentCount: 2, pure: true) { values in
            guard let text = String.fromDatabaseValue(values[0]), let index = Int.fromDatabaseValue(values[1]),
                  networks.indices.contains(index) else { return false }
            let key = AddressInNetwork(text: text, network: index)
            if let known = answers.withLock({ $0[key] }) { return known }
            let answer = IPAddress(text).map { networks[index].contains($0) } ?? false
            answers.withLock { known in
                if known.count >= 4096 { known.removeAll(keepingCapacity: true) }
                known[key] = answer
            }
            return answer
        }
    }

    private struct AddressInNetwork: Hashable, Sendable {
        var text: String
        var network: Int
    }
}
