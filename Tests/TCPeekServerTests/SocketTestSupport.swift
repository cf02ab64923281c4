// Helpers of the socket and tcpeekstat tests: the built binaries, short
// temporary folders (a socket path holds 107 bytes), child processes, and a
// plain POSIX client for the UNIX socket.
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct SocketTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum SocketTestPaths {
    /// `<repo>`: this file is `<repo>/Tests/TCPeekServerTests/SocketTestSupport.swift`.
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where the built executables are: beside the test bundle (or `$TCPEEK_BINARY`'s folder).
    static let binaries: URL = {
        if let override = ProcessInfo.processInfo.environment["TCPEEK_BINARY"], !override.isEmpty {
            return URL(fileURLWithPath: override).deletingLastPathComponent()
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent()
    }()

    static var tcpeek: String { binaries.appendingPathComponent("tcpeek").path }
    static var tcpeekstat: String { binaries.appendingPathComponent("tcpeekstat").path }

    /// A capture of `<repo>/../shared/corpus` (or `$TCPEEK_CORPUS`).
    static func capture(_ name: String) -> String {
        if let override = ProcessInfo.processInfo.environment["TCPEEK_CORPUS"], !override.isEmpty {
            return URL(fileURLWithPath: override).appendingPathComponent(name).path
        }
        return repository.deletingLastPathComponent().appendingPathComponent("shared/corpus/\(name)").standardizedFileURL.path
    }

    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for folder in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            let candidate = folder + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A fresh folder under /tmp with a short name, removed on deinit.
final class SocketTempFolder: Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/tcpk-sock-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SocketTestError("mkdtemp: \(String(cString: strerror(errno)))") }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Runs blocking work on a thread of its own, never on Swift's shared pool
/// (which has as many threads as CPUs: a blocked pool stalls every test).
func socketOffPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
}

// MARK: - Child processes

/// A process started with `posix_spawn`, an empty signal mask and default
/// SIGINT/SIGTERM/SIGPIPE (the test's pool threads block signals, which a
/// child would inherit), its output going to files.
final class SocketChild: Sendable {
    let argv: [String]
    let pid: pid_t
    private let stdoutPath: String
    private let stderrPath: String
    private let status = Mutex<Int32?>(nil)  // raw wait status once reaped

    init(_ argv: [String], folder: SocketTempFolder, name: String) throws {
        self.argv = argv
        stdoutPath = folder.file("\(name).stdout")
        stderrPath = folder.file("\(name).stderr")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else of this process (other tests' sockets) goes with it.
        if let closeFrom = socketAddCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var environment = ProcessInfo.processInfo.environment
        environment["TZ"] = "UTC"
        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in arguments { free(pointer) }
            for pointer in variables { free(pointer) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, argv[0], &actions, &attributes, arguments, variables)
        guard result == 0 else { throw SocketTestError("cannot start \(argv.joined(separator: " ")): \(String(cString: strerror(result)))") }
        pid = child
    }

    deinit { stop(grace: 1) }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Reaps the child if it exited; true while it runs.
    var isRunning: Bool {
        status.withLock { status in
            if status != nil { return false }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid { status = raw; return false }
            return result == 0
        }
    }

    /// The exit status, or nil while running or when killed by a signal.
    var exitStatus: Int32? {
        guard !isRunning, let raw = status.withLock({ $0 }) else { return nil }
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : nil
    }

    func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }

    /// Waits (polling) until the child exits; its exit status, nil if it was
    /// killed by a signal or is still running after `timeout` seconds.
    func waitForExit(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        return exitStatus
    }

    /// Polls `condition` until it holds, the child exits, or `timeout` passes.
    func wait(timeout: Double, until condition: (SocketChild) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(self) { return true }
            if !isRunning { return condition(self) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(self)
    }

    /// SIGTERM, then SIGKILL after `grace` seconds.
    func stop(grace: Double = 3) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while isRunning, Date() < deadline { usleep(10_000) }
        if isRunning {
            kill(pid, SIGKILL)
            while isRunning { usleep(10_000) }
        }
    }

    var transcript: String {
        "----- \(argv.joined(separator: " "))\n----- stdout:\n\(stdout)\n----- stderr:\n\(stderr)"
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+; declared only
/// under _GNU_SOURCE, so looked up at run time).
private let socketAddCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()

/// Runs a command to its end (off the shared pool); status (nil if killed), stdout, stderr.
func socketRun(_ argv: [String], folder: SocketTempFolder, timeout: Double = 20) async throws -> (status: Int32?, stdout: String, stderr: String) {
    let name = "run-\(UInt32.random(in: 0...UInt32.max))"
    let child = try SocketChild(argv, folder: folder, name: name)
    let status = await child.waitForExit(timeout: timeout)
    if child.isRunning {
        child.stop(grace: 0.5)
        throw SocketTestError("`\(argv.joined(separator: " "))` did not finish within \(timeout) s")
    }
    return (status, child.stdout, child.stderr)
}

// MARK: - A plain client

/// A connected UNIX stream socket with a receive timeout (blocking calls:
/// use it off the shared pool).
final class SocketTestConnection: Sendable {
    let descriptor: Int32

    init(path: String, timeout: Double = 10) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SocketTestError("socket(): \(String(cString: strerror(errno)))") }
        var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw SocketTestError("connect(\(path)): \(reason)")
        }
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw SocketTestError("send: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    func shutdownWrite() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// Everything until the server closes; throws on the receive timeout.
    func readToEnd() throws -> String {
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return String(decoding: answer, as: UTF8.self) }
            if count < 0 {
                if errno == EINTR { continue }
                // The server closed with bytes of ours unread: what it sent is all there is.
                if errno == ECONNRESET { return String(decoding: answer, as: UTF8.self) }
                throw SocketTestError("recv: \(String(cString: strerror(errno))) after \(answer.count) bytes")
            }
            answer.append(contentsOf: chunk[..<count])
        }
    }
}

/// One request line, the whole answer (blocking).
func socketAsk(_ path: String, _ request: String, timeout: Double = 10) throws -> String {
    let connection = try SocketTestConnection(path: path, timeout: timeout)
    try connection.send(request + "\n")
    return try connection.readToEnd()
}

/// `socketAsk` off the shared pool.
func socketAskAsync(_ path: String, _ request: String, timeout: Double = 10) async throws -> String {
    try await socketOffPool { try socketAsk(path, request, timeout: timeout) }
}

/// Parses a JSON answer (the server ends it with a line end).
func socketJSON(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}

/// The `"error"` text of an answer, or nil.
func socketError(_ text: String) -> String? {
    ((try? socketJSON(text)) as? [String: Any])?["error"] as? String
}

/// Binds a UNIX socket at `path` and closes it without removing the file:
/// what a killed server leaves behind.
func socketMakeStale(_ path: String) throws {
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else { throw SocketTestError("bind(\(path)): \(String(cString: strerror(errno)))") }
}

// MARK: - A recorder serving its socket

/// `tcpeek record -r CAPTURE -U PATH --stay` in `folder`, ready once it
/// says it serves the socket (the whole file read and recorded by then).
func socketStayingRecorder(_ capture: String, folder: SocketTempFolder, name: String = "tcpeek",
                           extra: [String] = []) async throws -> (child: SocketChild, socket: String, database: String) {
    let socket = folder.file("\(name).sock"), database = folder.file("\(name).db")
    let child = try SocketChild([SocketTestPaths.tcpeek, "record", "-r", SocketTestPaths.capture(capture), "-q",
                                 "-U", socket, "--db", database, "--stay", "--json-summary"] + extra,
                                folder: folder, name: name)
    let ready = await child.wait(timeout: 30) { $0.stderr.contains("serving the socket \(socket) until SIGINT or SIGTERM") }
    guard ready else {
        child.stop(grace: 0.5)
        throw SocketTestError("tcpeek did not start serving:\n\(child.transcript)")
    }
    return (child, socket, database)
}
