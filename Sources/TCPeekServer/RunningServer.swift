import TCPeekCore
import TCPeekSystem

/// A server started by `tcpeek record` (UNIX socket, metrics). `stop()`
/// closes it and removes what it created (the socket file); it is called
/// after the capture has ended and the recorder has drained.
public protocol RunningServer: Sendable {
    /// The sessions this server wants to see (nil if none); the capture
    /// loop hands every closed session to it.
    var feed: SessionQueue? { get }
    /// Where it serves, for messages: "the socket /run/tcpeek/tcpeek.sock".
    var endpoint: String { get }
    func stop()
}
