#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The client end of tcpeek's UNIX stream socket: `tcpeekstat` asking, and
/// a starting server probing whether a socket file is still listened on.
public enum UnixSocket {
    /// What failed, with its `errno`.
    public enum ConnectError: Error, Sendable {
        /// `socket(2)` itself (out of descriptors).
        case socket(Int32)
        /// `connect(2)`: `ECONNREFUSED` when nothing listens, `EACCES` when
        /// the file's mode keeps the caller out.
        case connect(Int32)
    }

    /// The longest path `sockaddr_un` holds, in bytes.
    public static var maximumPathLength: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1 }

    /// Connects a new socket to `path`. Sends and receives on it give up
    /// after `timeoutSeconds` (so does the connect, when the listener's
    /// backlog is full). Returns the descriptor, which the caller closes.
    public static func connect(to path: String, timeoutSeconds: Int) -> Result<Int32, ConnectError> {
        guard path.utf8.count <= maximumPathLength else { return .failure(.connect(ENAMETOOLONG)) }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failure(.socket(errno)) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let result = retryingOnInterrupt {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    posixConnect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        guard result == 0 else {
            let code = errno
            close(descriptor)
            return .failure(.connect(code))
        }
        return .success(descriptor)
    }
}

/// `connect(2)`, named apart from `UnixSocket.connect(to:)`.
private func posixConnect(_ descriptor: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(descriptor, address, length)
}
