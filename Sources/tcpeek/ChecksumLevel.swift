import ArgumentParser
import TCPeekCore

/// `-c/--checksum`: the original's numbers for which checksums to verify.
enum ChecksumLevel: String, ExpressibleByArgument, CaseIterable {
    case none = "0"
    case ipHeader = "1"
    case all = "2"

    /// Nothing: checksum offload makes outgoing packets look wrong.
    static let standard = ChecksumLevel.none

    var mode: ChecksumMode {
        switch self {
        case .none: .none
        case .ipHeader: .ipHeader
        case .all: .all
        }
    }

    /// What each number verifies, listed under the option in `--help`.
    var defaultValueDescription: String {
        switch self {
        case .none: "none"
        case .ipHeader: "IPv4 header"
        case .all: "IPv4 header and TCP/ICMP"
        }
    }

    /// The level `text` names, or an error that names the option and its
    /// values ("-c/--checksum must be 0, 1 or 2"; ArgumentParser quotes the
    /// value before it).
    static func parse(_ text: String) throws -> ChecksumLevel {
        guard let level = ChecksumLevel(rawValue: text) else {
            let values = allCases.map(\.rawValue)
            throw ValidationError(
                "-c/--checksum must be \(values.dropLast().joined(separator: ", ")) or \(values.last ?? "")")
        }
        return level
    }
}
