import Foundation
import TCPeekCore
import TCPeekSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why tcpeekstat could not get an answer; `description` is for the operator.
struct ClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One exchange with tcpeek's UNIX socket, with plain POSIX calls: connect,
/// send one request line, read the answer until the server closes.
struct SocketClient {
    let path: String
    /// How long the whole exchange may take.
    var timeoutSeconds = 30

    /// The same default as `tcpeek record`'s (`TCPeekIdentity`).
    static var defaultPath: String {
        TCPeekIdentity.defaultSocketPath(euid: geteuid(), runtimeDirectory: ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"])
    }

    private var notRunning: String {
        "is tcpeek running? ('tcpeek record' serves it for live captures; give another socket with -U PATH)"
    }

    /// Sends `request` and returns the raw answer.
    func ask(_ request: String) throws(ClientError) -> String {
        guard path.utf8.count <= UnixSocket.maximumPathLength else {
            throw ClientError("'\(path)' is too long for a UNIX socket path (at most \(UnixSocket.maximumPathLength) bytes)")
        }
        var status = stat()
        if stat(path, &status) != 0 {
            if errno == ENOENT { throw ClientError("no socket at '\(path)': \(notRunning)") }
            throw ClientError("cannot reach '\(path)': \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw ClientError("'\(path)' is not a socket, so not tcpeek's: give tcpeek's socket with -U PATH")
        }
        let descriptor: Int32
        switch UnixSocket.connect(to: path, timeoutSeconds: timeoutSeconds) {
        case .success(let connected):
            descriptor = connected
        case .failure(.socket(let code)):
            throw ClientError("cannot create a socket: \(String(cString: strerror(code)))")
        case .failure(.connect(ECONNREFUSED)):
            throw ClientError("nothing listens on '\(path)' (a socket file left by a tcpeek that has stopped?): \(notRunning)")
        case .failure(.connect(EACCES)), .failure(.connect(EPERM)):
            throw ClientError("permission denied on '\(path)': run as root or as a member of the socket's group ('tcpeek record --socket-group GROUP')")
        case .failure(.connect(let code)):
            throw ClientError("cannot connect to '\(path)': \(String(cString: strerror(code))): \(notRunning)")
        }
        defer { close(descriptor) }
        let line = Array((request + "\r\n").utf8)
        var sent = 0
        while sent < line.count {
            let count = retryingOnInterrupt {
                line[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            guard count > 0 else {
                throw ClientError("the peer at '\(path)' closed the connection before taking the request: is it tcpeek's socket?")
            }
            sent += count
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = retryingOnInterrupt { chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) } }
            if count == 0 { break }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw ClientError("the peer at '\(path)' did not answer within \(timeoutSeconds) s: is it tcpeek's socket?")
                }
                throw ClientError("reading from '\(path)' failed: \(String(cString: strerror(errno)))")
            }
            answer.append(contentsOf: chunk[..<count])
            if answer.count > 64 << 20 { throw ClientError("the answer from '\(path)' is over 64 MiB: is it tcpeek's socket?") }
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
