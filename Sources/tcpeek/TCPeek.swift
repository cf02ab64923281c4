import ArgumentParser

/// `tcpeek`: which TCP connections fail to establish, why, since when, and
/// how slow are the ones that succeed.
@main
struct TCPeek: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpeek",
        abstract: "Monitor TCP handshakes: successes, rejects, aborts, ICMP unreachables and timeouts.",
        subcommands: [Record.self, Query.self],
        defaultSubcommand: Record.self
    )
}

enum TCPeekVersion {
    static let current = "0.1.0"
}
