import ArgumentParser
import TCPeekCapture
import TCPeekCore

enum TCPeekVersion {
    static let current = TCPeekIdentity.version

    /// What `--version` prints, in every subcommand: tcpeek's version and libpcap's.
    static var banner: String { "tcpeek \(current)\n\(PcapHandle.libraryVersion)" }
}

/// `-v`/`--version` for every subcommand. ArgumentParser's own version flag
/// (`CommandConfiguration.version`) has no short name, and `-v` is the
/// spelling tcpeek 1.x users type; an option group validates while it is
/// decoded, before its command's checks, so the version is printed whatever
/// else the line holds, and `run()` never sees the flag.
struct VersionFlag: ParsableArguments {
    @Flag(name: [.customShort("v"), .long], help: "Print the version and libpcap's, then exit.")
    var version = false

    func validate() throws {
        if version { throw CleanExit.message(TCPeekVersion.banner) }
    }
}
