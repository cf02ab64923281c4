import ArgumentParser
import Logging
import TCPeekCore
import TCPeekServer

/// `-U/--socket` and friends: the UNIX socket server for tcpeekstat.
struct SocketOptions: ParsableArguments {
    @Option(name: [.customShort("U"), .long], help: "Path of the UNIX socket for tcpeekstat (default: /var/run/tcpeek/tcpeek.sock as root, else $XDG_RUNTIME_DIR/tcpeek.sock; live captures only unless given).")
    var socket: String?

    /// Starts the socket server, or returns nil when it is not wanted.
    func start(context: LiveContext, isLive: Bool, logger: Logger) throws -> (any RunningServer)? {
        nil  // The socket server is being written (issue 4).
    }
}
