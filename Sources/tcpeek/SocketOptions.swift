import ArgumentParser
import Foundation
import Logging
import TCPeekCore
import TCPeekSystem
import TCPeekServer

/// `-U/--socket` and friends: the UNIX socket server for tcpeekstat.
struct SocketOptions: ParsableArguments {
    @Option(name: [.customShort("U"), .long], help: "Path of the UNIX socket for tcpeekstat (default: /var/run/tcpeek/tcpeek.sock as root, else $XDG_RUNTIME_DIR/tcpeek.sock; live captures only unless given).")
    var socket: String?

    @Flag(name: .customLong("no-socket"), help: "Serve no socket.")
    var noSocket = false

    @Option(name: .customLong("socket-mode"), help: "Permissions of the socket file, in octal.")
    var socketMode: String = "0660"

    @Option(name: .customLong("socket-group"), help: "Group (name or number) given the socket file, so that its members may use tcpeekstat.")
    var socketGroup: String?

    func validate() throws {
        if noSocket, socket != nil || socketGroup != nil {
            throw ValidationError("--no-socket excludes -U/--socket and --socket-group")
        }
        guard mode != nil else {
            throw ValidationError("--socket-mode must be octal permissions such as 0660 or 0666, not '\(socketMode)'")
        }
    }

    /// The permission bits of `--socket-mode`, nil if they are not octal.
    var mode: mode_t? {
        var digits = Substring(socketMode)
        if digits.hasPrefix("0o") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 4, let value = mode_t(digits, radix: 8), value <= 0o777 else { return nil }
        return value
    }

    /// Whether the socket is served: not with `--no-socket`, nor for a
    /// file read without `-U` (a batch job).
    func isWanted(isLive: Bool) -> Bool { !noSocket && (socket != nil || isLive) }

    /// Starts the socket server, handing it the closed sessions of `feed`.
    func start(context: LiveContext, isLive: Bool, feed: SessionQueue, owner: (uid: uid_t, gid: gid_t)? = nil,
               logger: Logger) throws -> SocketServer {
        var options = SocketServer.Options(path: socket ?? SocketFile.defaultPath())
        options.access.mode = mode ?? 0o660
        if socket == nil, SocketFile.defaultIsSharedTemporary() { options.access.privateFolderOwner = geteuid() }
        if let socketGroup {
            do {
                options.access.group = try GroupName.resolve(socketGroup, option: "--socket-group")
            } catch {
                throw SocketServerError(error.description)
            }
        }
        if let owner { options.access.owner = (owner.uid, owner.gid) }
        return try SocketServer.start(options: options, context: context, isLive: isLive, feed: feed, logger: logger)
    }
}
