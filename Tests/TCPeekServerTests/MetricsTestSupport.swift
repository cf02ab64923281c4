// Helpers of the metrics tests: paths, child processes, a tiny HTTP client
// and a throwaway Prometheus server.

import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

struct MetricsTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum MetricsPaths {
    /// The repository (two folders above this file's folder).
    static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `<repo>/../shared/corpus`.
    static let corpus = repository.deletingLastPathComponent().appendingPathComponent("shared/corpus").standardizedFileURL

    static func capture(_ name: String) -> String { corpus.appendingPathComponent(name).path }

    static func contrib(_ path: String) -> String { repository.appendingPathComponent("contrib/" + path).path }

    /// `$TCPEEK_BINARY`, else `tcpeek` next to the test bundle (the folder of
    /// `/proc/self/exe`).
    static func tcpeek() throws -> String {
        if let override = ProcessInfo.processInfo.environment["TCPEEK_BINARY"], !override.isEmpty { return override }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let candidate = (exe as NSString).deletingLastPathComponent + "/tcpeek"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw MetricsTestError("no tcpeek binary next to the tests; build it (swift build --build-tests) or set TCPEEK_BINARY")
    }

    /// An executable from PATH or the usual system folders.
    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        return folders.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static let installLock = Mutex(())

    /// `prometheus` and `promtool`, installing the Debian package
    /// `prometheus` when they are missing (the tests run as root in CI).
    static func prometheusTools() throws -> (prometheus: String, promtool: String) {
        try installLock.withLock { _ in
            if let prometheus = tool("prometheus"), let promtool = tool("promtool") { return (prometheus, promtool) }
            let install = try metricsRun(
                ["/bin/sh", "-c",
                 "apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || "
                    + "(apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus)"],
                environment: ["DEBIAN_FRONTEND": "noninteractive"], timeout: 300)
            guard let prometheus = tool("prometheus"), let promtool = tool("promtool") else {
                throw MetricsTestError("the Debian package 'prometheus' is missing and could not be installed "
                                       + "(run 'make deps' as root): \(install.stderr)")
            }
            return (prometheus, promtool)
        }
    }

    /// A fresh temporary folder, removed by the caller.
    static func temporaryFolder(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("tcpeek-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

// MARK: - Child processes

/// A value behind an `NSLock` (a pthread mutex, which ThreadSanitizer follows).
final class PthreadLocked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// A running child process; its output is drained by two threads so a
/// chatty child never blocks on a full pipe.
final class MetricsChild: Sendable {
    let argv: [String]
    private let process: Process
    /// Behind a pthread mutex rather than `Synchronization.Mutex`: the two
    /// drain threads take it in turn, and `Mutex`'s contended path (a futex in
    /// an uninstrumented library) is invisible to ThreadSanitizer, which then
    /// reports the accesses it orders as a race.
    private let output = PthreadLocked((stdout: Data(), stderr: Data(), closed: 0))

    init(_ argv: [String], environment: [String: String] = [:], stdin: Data? = nil) throws {
        self.argv = argv
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        self.process = process
        try Self.launchWithCleanSignalMask(process)
        drain(out.fileHandleForReading, isError: false)
        drain(err.fileHandleForReading, isError: true)
        if let stdin {
            input.fileHandleForWriting.write(stdin)
            try? input.fileHandleForWriting.close()
        }
    }

    /// Starts `process` from a thread whose signal mask is empty: children
    /// inherit the mask, and the test pool's threads block SIGINT/SIGTERM.
    private static func launchWithCleanSignalMask(_ process: Process) throws {
        let failure = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let launcher = Thread {
            var empty = sigset_t()
            sigemptyset(&empty)
            pthread_sigmask(SIG_SETMASK, &empty, nil)
            do { try process.run() } catch { failure.withLock { $0 = "\(error)" } }
            done.signal()
        }
        launcher.start()
        done.wait()
        if let text = failure.withLock({ $0 }) {
            throw MetricsTestError("cannot start \(process.executableURL?.path ?? "?"): \(text)")
        }
    }

    private func drain(_ handle: FileHandle, isError: Bool) {
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                output.withLock { if isError { $0.stderr.append(chunk) } else { $0.stdout.append(chunk) } }
            }
            output.withLock { $0.closed += 1 }
        }
        thread.start()
    }

    var stdout: String { output.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
    var stderr: String { output.withLock { String(decoding: $0.stderr, as: UTF8.self) } }
    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// The exit status, nil while running or when killed by a signal.
    var exitStatus: Int32? {
        guard !process.isRunning, process.terminationReason == .exit else { return nil }
        return process.terminationStatus
    }

    /// Waits for the exit and the end of both streams.
    @discardableResult
    func waitForExit(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() >= deadline { return false }
            usleep(10_000)
        }
        while output.withLock({ $0.closed }) < 2, Date() < deadline.addingTimeInterval(2) { usleep(5_000) }
        return true
    }

    /// `signal`, then SIGKILL if the process is still there after `grace`.
    func stop(_ signal: Int32 = SIGTERM, grace: TimeInterval = 5) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        if !waitForExit(timeout: grace) {
            kill(process.processIdentifier, SIGKILL)
            waitForExit(timeout: 5)
        }
    }

    /// Polls `condition` every 20 ms until it holds, the process exits or
    /// `timeout` passes.
    func wait(timeout: TimeInterval, until condition: (MetricsChild) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition(self) {
            if !process.isRunning || Date() >= deadline { return condition(self) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    var transcript: String {
        "$ \(argv.joined(separator: " "))\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)"
    }
}

struct MetricsProcessResult {
    let status: Int32?
    let stdout: String
    let stderr: String
}

/// Runs a command to completion (SIGKILL after `timeout`).
func metricsRun(_ argv: [String], environment: [String: String] = [:], stdin: Data? = nil,
                timeout: TimeInterval = 30) throws -> MetricsProcessResult {
    let child = try MetricsChild(argv, environment: environment, stdin: stdin)
    if !child.waitForExit(timeout: timeout) {
        child.stop(SIGKILL)
        throw MetricsTestError("`\(argv.joined(separator: " "))` did not finish within \(Int(timeout)) s")
    }
    return MetricsProcessResult(status: child.exitStatus, stdout: child.stdout, stderr: child.stderr)
}

// MARK: - HTTP

struct MetricsHTTPAnswer {
    var status: Int
    var headers: [String: String]  // lowercased names
    var body: String
}

/// One HTTP/1.1 request over a fresh IPv4 TCP connection (Connection:
/// close), read to the end.
func metricsHTTP(port: Int, method: String = "GET", path: String, headers: [String: String] = [:],
                 host: String = "127.0.0.1") throws -> MetricsHTTPAnswer {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw MetricsTestError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    inet_pton(AF_INET, host, &address.sin_addr)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        throw MetricsTestError("connect to \(host):\(port): \(String(cString: strerror(errno)))")
    }
    var request = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    request += "\r\n"
    let bytes = Array(request.utf8)
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard n > 0 else { throw MetricsTestError("send: \(String(cString: strerror(errno)))") }
        sent += n
    }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw MetricsTestError("recv: \(String(cString: strerror(errno)))") }
        if n == 0 { break }
        received.append(contentsOf: chunk[..<n])
    }
    let text = String(decoding: received, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw MetricsTestError("no HTTP header in: \(text)") }
    let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
    let statusWords = head.first?.split(separator: " ") ?? []
    guard statusWords.count >= 2, let status = Int(statusWords[1]) else {
        throw MetricsTestError("bad status line: \(head.first ?? "")")
    }
    var fields: [String: String] = [:]
    for line in head.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return MetricsHTTPAnswer(status: status, headers: fields, body: String(text[split.upperBound...]))
}

/// A TCP port free on 127.0.0.1 right now.
func metricsFreePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw MetricsTestError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard result == 0 else { throw MetricsTestError("bind: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

// MARK: - Exposition text

/// The samples of a Prometheus text exposition: series (name and sorted
/// labels, as written) to value.
func metricsSamples(_ text: String) -> [String: Double] {
    var samples: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        samples[metricsSeries(String(line[..<space]))] = value
    }
    return samples
}

/// `name{b="2",a="1"}` as `name{a="1",b="2"}` (labels sorted), for lookups.
func metricsSeries(_ series: String) -> String {
    guard let open = series.firstIndex(of: "{"), series.hasSuffix("}") else { return series }
    let name = series[..<open]
    let body = series[series.index(after: open)..<series.index(before: series.endIndex)]
    // Label values here never contain '",' so splitting on it is safe.
    let labels = body.components(separatedBy: "\",").map { $0.hasSuffix("\"") ? $0 : $0 + "\"" }
    return name + "{" + labels.sorted().joined(separator: ",") + "}"
}

// MARK: - Prometheus

/// A Prometheus server of its own: temporary config and data folder,
/// 127.0.0.1 on a free port, scraping `targets` every second.
final class MetricsPrometheus {
    let port: Int
    let folder: URL
    private let child: MetricsChild

    init(binary: String, targets: [String]) throws {
        folder = try MetricsPaths.temporaryFolder("prometheus")
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: tcpeek
                honor_labels: true
                static_configs:
                  - targets: [\(targets.map { "'\($0)'" }.joined(separator: ", "))]

            """
        let configPath = folder.appendingPathComponent("prometheus.yml").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        var lastError = ""
        for _ in 0..<3 {  // The free port may be taken between the probe and the bind.
            let port = try metricsFreePort()
            let child = try MetricsChild([
                binary, "--config.file=\(configPath)",
                "--storage.tsdb.path=\(folder.appendingPathComponent("data").path)",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ])
            let deadline = Date().addingTimeInterval(20)
            while child.isRunning, Date() < deadline {
                if let answer = try? metricsHTTP(port: port, path: "/-/ready"), answer.status == 200 {
                    self.port = port
                    self.child = child
                    return
                }
                usleep(100_000)
            }
            child.stop(SIGKILL)
            lastError = child.stderr
        }
        try? FileManager.default.removeItem(at: folder)
        throw MetricsTestError("prometheus did not become ready: \(lastError)")
    }

    /// Kills Prometheus and removes its folder.
    func stop() {
        child.stop(SIGTERM, grace: 5)
        try? FileManager.default.removeItem(at: folder)
    }

    deinit { stop() }

    /// An instant query through `/api/v1/query`: each result's labels and value.
    func query(_ expression: String) throws -> [(labels: [String: String], value: Double)] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: allowed) ?? expression
        let answer = try metricsHTTP(port: port, path: "/api/v1/query?query=\(encoded)")
        guard answer.status == 200,
              let json = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
              json["status"] as? String == "success",
              let data = json["data"] as? [String: Any],
              let results = data["result"] as? [[String: Any]]
        else { throw MetricsTestError("query '\(expression)' failed: \(answer.status) \(answer.body)") }
        return results.compactMap { result in
            guard let labels = result["metric"] as? [String: String],
                  let pair = result["value"] as? [Any], pair.count == 2,
                  let text = pair[1] as? String, let value = Double(text)
            else { return nil }
            return (labels, value)
        }
    }

    /// Polls `query` until `accept` holds for its results (or `timeout`).
    func wait(for expression: String, timeout: TimeInterval = 20,
              until accept: ([(labels: [String: String], value: Double)]) -> Bool) async throws
        -> [(labels: [String: String], value: Double)]
    {
        let deadline = Date().addingTimeInterval(timeout)
        var results = try query(expression)
        while !accept(results), Date() < deadline {
            try await Task.sleep(for: .milliseconds(250))
            results = try query(expression)
        }
        return results
    }
}
