// A two-namespace network lab for the end-to-end tests.
//
//   client namespace tcpk-c-<pid>            server namespace tcpk-s-<pid>
//   tcpk-c  198.51.100.1/24  <--- veth --->  tcpk-s  198.51.100.2/24
//           2001:db8::1/64                           2001:db8::2/64
//
// Everything is created inside the two namespaces (the veth pair is created in
// the client namespace with its peer placed straight into the server
// namespace), so the root namespace's interfaces, routes and firewall are
// never touched. Teardown kills what runs in the namespaces and deletes them;
// it runs on every path (explicit call, `deinit`, and at the start of the
// next run for namespaces whose creating process is gone).

import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct LabError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Child processes

/// Bytes collected from one output stream of a child process.
///
/// Shared between the reader thread (appends) and the test (reads), so the
/// state lives behind a `Mutex`.
final class StreamBuffer: Sendable {
    private struct State {
        var data = Data()
        var reachedEOF = false
    }

    private let state = Mutex(State())

    func append(_ chunk: Data) { state.withLock { $0.data.append(chunk) } }
    func markEOF() { state.withLock { $0.reachedEOF = true } }
    var reachedEOF: Bool { state.withLock { $0.reachedEOF } }
    var text: String { state.withLock { String(decoding: $0.data, as: UTF8.self) } }
    var lines: [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}

/// A running child process whose stdout and stderr are drained by two
/// background threads (so a chatty child can never block on a full pipe).
final class ChildProcess {
    let name: String
    let argv: [String]
    let stdout = StreamBuffer()
    let stderr = StreamBuffer()
    private let process = Process()

    init(name: String, argv: [String], stdin: String? = nil) throws {
        precondition(!argv.isEmpty)
        self.name = name
        self.argv = argv
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let outPipe = Pipe()
        let errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let inPipe: Pipe? = stdin == nil ? nil : Pipe()
        process.standardInput = inPipe ?? FileHandle.nullDevice
        do {
            try Self.launchWithCleanSignalMask(process)
        } catch {
            throw LabError("cannot start \(argv.joined(separator: " ")): \(error)")
        }
        Self.drain(outPipe.fileHandleForReading, into: stdout)
        Self.drain(errPipe.fileHandleForReading, into: stderr)
        if let inPipe, let stdin {
            let writer = inPipe.fileHandleForWriting
            writer.write(Data(stdin.utf8))
            try? writer.close()
        }
    }

    /// Starts `process` from a fresh thread whose signal mask is empty.
    ///
    /// posix_spawn hands the calling thread's signal mask to the child, and the
    /// threads of the Swift concurrency pool block most signals: a child
    /// started from the test would begin life with SIGINT and SIGTERM blocked,
    /// unlike anything started from a shell (python and tcpdump would then
    /// ignore our SIGTERM/SIGINT, and tcpeek would run in an unusual setting).
    private static func launchWithCleanSignalMask(_ process: Process) throws {
        let outcome = Mutex<String?>(nil)  // error text, written by the launcher thread
        let done = DispatchSemaphore(value: 0)
        let launcher = Thread {
            var empty = sigset_t()
            sigemptyset(&empty)
            pthread_sigmask(SIG_SETMASK, &empty, nil)
            do {
                try process.run()
            } catch {
                outcome.withLock { $0 = "\(error)" }
            }
            done.signal()
        }
        launcher.start()
        done.wait()
        if let failure = outcome.withLock({ $0 }) { throw LabError(failure) }
    }

    private static func drain(_ handle: FileHandle, into buffer: StreamBuffer) {
        let thread = Thread {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
            }
            buffer.markEOF()
        }
        thread.start()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    /// Exit status, or `nil` while running or when killed by a signal.
    var exitStatus: Int32? {
        guard !process.isRunning, process.terminationReason == .exit else { return nil }
        return process.terminationStatus
    }
    var exitDescription: String {
        if process.isRunning { return "still running" }
        switch process.terminationReason {
        case .exit: return "exit status \(process.terminationStatus)"
        case .uncaughtSignal: return "killed by signal \(process.terminationStatus)"
        @unknown default: return "terminated (\(process.terminationStatus))"
        }
    }

    func signal(_ sig: Int32) {
        if process.isRunning { _ = kill(process.processIdentifier, sig) }
    }

    /// Waits until the process exited and both streams reached EOF.
    @discardableResult
    func waitForExit(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() >= deadline { return false }
            usleep(10_000)
        }
        // The streams end once every holder of the write ends is gone.
        while !(stdout.reachedEOF && stderr.reachedEOF) && Date() < deadline.addingTimeInterval(2) {
            usleep(5_000)
        }
        return true
    }

    /// Polls `condition` every 20 ms until it holds, the process exits, or the
    /// deadline passes. Returns whether the condition held.
    func wait(timeout: TimeInterval, until condition: (ChildProcess) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if condition(self) { return true }
            if !process.isRunning || Date() >= deadline {
                usleep(20_000)  // let the readers catch up with a final write
                return condition(self)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops the process: `sig` first, SIGKILL if it does not go away.
    func stop(_ sig: Int32 = SIGTERM, grace: TimeInterval = 3) {
        guard process.isRunning else { return }
        signal(sig)
        if !waitForExit(timeout: grace) {
            signal(SIGKILL)
            waitForExit(timeout: 5)
        }
    }

    var transcript: String {
        """
        ----- \(name): \(argv.joined(separator: " ")) (\(exitDescription))
        ----- stdout:
        \(stdout.text)
        ----- stderr:
        \(stderr.text)
        """
    }
}

struct CommandResult {
    let argv: [String]
    let status: Int32?
    let stdout: String
    let stderr: String
    var succeeded: Bool { status == 0 }
    var summary: String {
        "`\(argv.joined(separator: " "))` -> \(status.map { "status \($0)" } ?? "killed"): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
    }
}

/// Runs a command to completion (killing it after `timeout` seconds).
func runCommand(_ argv: [String], stdin: String? = nil, timeout: TimeInterval = 20) throws -> CommandResult {
    let child = try ChildProcess(name: argv[0], argv: argv, stdin: stdin)
    if !child.waitForExit(timeout: timeout) {
        child.stop(SIGKILL)
        throw LabError("`\(argv.joined(separator: " "))` did not finish within \(timeout) s")
    }
    return CommandResult(argv: argv, status: child.exitStatus, stdout: child.stdout.text, stderr: child.stderr.text)
}

/// Finds an executable in PATH or the usual system directories.
func findTool(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let dirs = path.split(separator: ":").map(String.init)
        + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    for dir in dirs where !dir.isEmpty {
        let candidate = dir + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

// MARK: - What every lab shares

/// Namespaces a lab created and deletes, processes it started in them and
/// stops, and the commands to configure them. The labs (`NetworkNamespaceLab`,
/// `RoutedNamespaceLab`) add their topology on top.
///
/// Namespace names are `tcpk-<role>-<pid>`, the pid identifying the run that
/// owns them, so that a crashed run's namespaces are found and removed by the
/// next one. Building a lab removes the process's own namespaces of an
/// earlier lab too: one lab at a time per process (the suites are nested in
/// the serialized `NamespaceCaptureTests`).
class NamespaceLab {
    /// The roles used in namespace names (`probe` is the availability probe's).
    private static var ownedName: Regex<(Substring, Substring)> { #/^tcpk-(?:c|s|rc|rr|rs|probe)-(\d+)$/# }

    let ip: String
    private var children: [ChildProcess] = []
    private var namespacesToDelete: [String] = []

    init() throws {
        guard let ip = findTool("ip") else { throw LabError("`ip` (iproute2) not found") }
        self.ip = ip
        Self.removeLeftovers(ip: ip)
    }

    deinit { teardown() }

    /// `tcpk-<role>-<pid>`.
    static func namespaceName(role: String) -> String { "tcpk-\(role)-\(getpid())" }

    /// Creates namespace `ns` with its loopback up; teardown deletes it.
    func addNamespace(_ ns: String) throws {
        try mustRun([ip, "netns", "add", ns])
        namespacesToDelete.append(ns)
        try mustRun([ip, "-n", ns, "link", "set", "lo", "up"])
    }

    /// Sets `sysctls` (path under /proc/sys -> value) in namespace `ns`; a
    /// path prefixed with `?` is set only if the kernel has it.
    func setSysctls(_ sysctls: [(String, String)], in ns: String) throws {
        for (key, value) in sysctls {
            let optional = key.hasPrefix("?")
            let file = "/proc/sys/" + (optional ? String(key.dropFirst()) : key)
            let script = optional
                ? "if [ -e \(file) ]; then echo \(value) > \(file) && [ \"$(cat \(file))\" = \(value) ]; fi"
                : "echo \(value) > \(file) && [ \"$(cat \(file))\" = \(value) ]"
            try mustRun(inNamespace(ns, ["/bin/sh", "-c", script]))
        }
    }

    /// Loads `ruleset` (nft syntax) into namespace `ns`'s own firewall.
    func loadRuleset(_ ruleset: String, in ns: String) throws {
        guard let nft = findTool("nft") else { throw LabError("`nft` (nftables) not found") }
        try mustRun(inNamespace(ns, [nft, "-f", "-"]), stdin: ruleset)
    }

    /// Waits until every (namespace, interface) is up with carrier and none
    /// of the lab's addresses is still tentative (an IPv6 address accepts no
    /// traffic before that; the link-local ones, unused here, may finish DAD
    /// later).
    func waitUntilReady(_ ends: [(String, String)], timeout: TimeInterval = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var pending: [String] = []
        repeat {
            pending = []
            for (ns, dev) in ends {
                let link = try mustRun([ip, "-n", ns, "-o", "link", "show", "dev", dev])
                if !link.stdout.contains("LOWER_UP") { pending.append("\(ns)/\(dev) has no carrier") }
                let tentative = try mustRun([ip, "-n", ns, "-o", "addr", "show", "dev", dev, "scope", "global", "tentative"])
                if !tentative.stdout.isEmpty { pending.append("\(ns)/\(dev): \(tentative.stdout)") }
            }
            if pending.isEmpty { return }
            usleep(50_000)
        } while Date() < deadline
        throw LabError("the lab's interfaces did not become ready: \(pending.joined(separator: "; "))")
    }

    /// `argv` prefixed so that it runs inside namespace `ns`.
    func inNamespace(_ ns: String, _ argv: [String]) -> [String] {
        [ip, "netns", "exec", ns] + argv
    }

    /// The default `timeout` is generous: `ip` waits for the kernel's
    /// network configuration lock, which another test's namespace being torn
    /// down (a flood's thousands of sockets) can hold for many seconds.
    @discardableResult
    func mustRun(_ argv: [String], stdin: String? = nil, timeout: TimeInterval = 90) throws -> CommandResult {
        let result = try runCommand(argv, stdin: stdin, timeout: timeout)
        guard result.succeeded else { throw LabError("lab command failed: \(result.summary)") }
        return result
    }

    /// Starts a long-running process inside `ns`; teardown stops it.
    func spawn(_ name: String, in ns: String, _ argv: [String]) throws -> ChildProcess {
        let child = try ChildProcess(name: name, argv: inNamespace(ns, argv))
        children.append(child)
        return child
    }

    /// The lab's TCP server (Scripts/e2e_server.py) listening on `ports` in
    /// namespace `ns`, once it says it is ready.
    func startServer(ports: [Int], in ns: String) async throws -> ChildProcess {
        guard let python = findTool("python3") else { throw LabError("python3 not found") }
        let server = try spawn("server", in: ns,
                               [python, scriptsDirectory.appendingPathComponent("e2e_server.py").path] + ports.map(String.init))
        guard await server.wait(timeout: 10, until: { $0.stdout.text.hasPrefix("ready") }) else {
            throw LabError("the test server did not start: \(server.transcript)")
        }
        return server
    }

    /// Stops every process of the lab and deletes its namespaces (which also
    /// destroys their interfaces). Safe to call more than once.
    func teardown() {
        for child in children.reversed() { child.stop(SIGTERM, grace: 2) }
        children.removeAll()
        for ns in namespacesToDelete { Self.deleteNamespace(ns, ip: ip) }
        namespacesToDelete.removeAll()
    }

    /// Kills whatever still runs in namespace `ns` (only ever one of the
    /// lab's own namespaces) and deletes it.
    private static func deleteNamespace(_ ns: String, ip: String) {
        if let pids = try? runCommand([ip, "netns", "pids", ns], timeout: 10), pids.succeeded {
            for word in pids.stdout.split(whereSeparator: \.isWhitespace) {
                if let pid = Int32(word), pid > 1 { _ = kill(pid, SIGKILL) }
            }
        }
        _ = try? runCommand([ip, "netns", "del", ns], timeout: 10)
    }

    /// Deletes namespaces of our name pattern left behind by runs whose
    /// process no longer exists (a crash skips teardown), and our own from an
    /// earlier test in this process. Namespaces of a concurrent run that is
    /// still alive are left alone.
    static func removeLeftovers(ip: String) {
        guard let list = try? runCommand([ip, "netns", "list"], timeout: 10), list.succeeded else { return }
        let me = getpid()
        for line in list.stdout.split(separator: "\n") {
            guard let name = line.split(separator: " ").first.map(String.init),
                  let match = name.wholeMatch(of: ownedName),
                  let owner = Int32(match.1) else { continue }
            let ownerAlive = owner != me && (kill(owner, 0) == 0 || errno == EPERM)
            if !ownerAlive { deleteNamespace(name, ip: ip) }
        }
    }

    // MARK: Availability

    struct Availability: Sendable {
        /// Why the lab cannot be built here, or nil when it can.
        let unavailableReason: String?
        let isRoot: Bool
        let isCI: Bool
        /// Run the test when the lab works, and also when it does not but a
        /// CI job running as root expects it to (the test then fails).
        var shouldRun: Bool { unavailableReason == nil || (isRoot && isCI) }
    }

    /// Decided once per process by actually trying `ip netns add`.
    static let availability: Availability = probe()

    private static func probe() -> Availability {
        let env = ProcessInfo.processInfo.environment
        let isCI = ["true", "1", "yes"].contains((env["CI"] ?? "").lowercased())
        let isRoot = geteuid() == 0
        func result(_ reason: String?) -> Availability {
            if let reason {
                let action = isRoot && isCI ? "FAILING (CI=true and running as root)" : "skipping"
                FileHandle.standardError.write(Data("EndToEndTests: namespace lab unavailable, \(action): \(reason)\n".utf8))
            }
            return Availability(unavailableReason: reason, isRoot: isRoot, isCI: isCI)
        }
        guard isRoot else { return result("not running as root (euid \(geteuid())); network namespaces need root") }
        guard let ip = findTool("ip") else { return result("`ip` (iproute2) not found") }
        for tool in ["nft", "python3"] where findTool(tool) == nil {
            return result("`\(tool)` not found")
        }
        removeLeftovers(ip: ip)
        let name = "tcpk-probe-\(getpid())"
        do {
            let add = try runCommand([ip, "netns", "add", name], timeout: 10)
            guard add.succeeded else { return result("cannot create a network namespace: \(add.summary)") }
            let link = try runCommand([ip, "-n", name, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"],
                                      timeout: 10)
            _ = try? runCommand([ip, "netns", "del", name], timeout: 10)
            guard link.succeeded else { return result("cannot create a veth pair in a namespace: \(link.summary)") }
        } catch {
            _ = try? runCommand([ip, "netns", "del", name], timeout: 10)
            return result("cannot create a network namespace: \(error)")
        }
        return result(nil)
    }
}

// MARK: - The two-namespace lab

final class NetworkNamespaceLab: NamespaceLab {
    static let clientAddress4 = "198.51.100.1"
    static let serverAddress4 = "198.51.100.2"
    static let clientAddress6 = "2001:db8::1"
    static let serverAddress6 = "2001:db8::2"
    /// Interface names; they only exist inside the lab's own namespaces.
    static let clientInterface = "tcpk-c"
    static let serverInterface = "tcpk-s"
    /// Locally administered MAC addresses, so the neighbour entries can be static.
    static let clientMAC = "02:7c:70:6b:00:01"
    static let serverMAC = "02:7c:70:6b:00:02"

    let clientNamespace: String
    let serverNamespace: String

    /// Builds the lab. `serverRuleset` (nft syntax) is loaded into the server
    /// namespace, `clientSysctls` (path under /proc/sys -> value) are set in
    /// the client namespace; a path prefixed with `?` is set only if the
    /// kernel has it.
    init(serverRuleset: String, clientSysctls: [(String, String)]) throws {
        clientNamespace = Self.namespaceName(role: "c")
        serverNamespace = Self.namespaceName(role: "s")
        try super.init()
        do {
            try build(serverRuleset: serverRuleset, clientSysctls: clientSysctls)
        } catch {
            teardown()
            throw error
        }
    }

    private func build(serverRuleset: String, clientSysctls: [(String, String)]) throws {
        let c = clientNamespace, s = serverNamespace
        let ci = Self.clientInterface, si = Self.serverInterface
        try addNamespace(c)
        try addNamespace(s)
        try mustRun([ip, "-n", c, "link", "add", ci, "address", Self.clientMAC, "type", "veth",
                     "peer", "name", si, "address", Self.serverMAC, "netns", s])
        let ends = [(ns: c, dev: ci, v4: Self.clientAddress4, v6: Self.clientAddress6,
                     peer4: Self.serverAddress4, peer6: Self.serverAddress6, peerMAC: Self.serverMAC),
                    (ns: s, dev: si, v4: Self.serverAddress4, v6: Self.serverAddress6,
                     peer4: Self.clientAddress4, peer6: Self.clientAddress6, peerMAC: Self.clientMAC)]
        for end in ends {
            try mustRun([ip, "-n", end.ns, "addr", "add", "\(end.v4)/24", "dev", end.dev])
            try mustRun([ip, "-n", end.ns, "addr", "add", "\(end.v6)/64", "dev", end.dev, "nodad"])
            try mustRun([ip, "-n", end.ns, "link", "set", end.dev, "up"])
            // Static neighbours: no ARP / neighbour discovery, whose first
            // exchange can hold the first packets back by a second while the
            // fresh interfaces settle, which would shift every timing.
            for peer in [end.peer4, end.peer6] {
                try mustRun([ip, "-n", end.ns, "neigh", "replace", peer, "lladdr", end.peerMAC,
                             "dev", end.dev, "nud", "permanent"])
            }
        }
        try waitUntilReady(ends.map { ($0.ns, $0.dev) })
        try setSysctls(clientSysctls, in: c)
        if !serverRuleset.isEmpty { try loadRuleset(serverRuleset, in: s) }
    }

    /// The lab's TCP server (Scripts/e2e_server.py) listening on `ports`
    /// in the server namespace, once it says it is ready.
    func startServer(ports: [Int]) async throws -> ChildProcess {
        try await startServer(ports: ports, in: serverNamespace)
    }
}

/// The tcpeek binary the end-to-end tests run: $TCPEEK_BINARY, else the one
/// built next to the test bundle.
func tcpeekBinary() -> String {
    if let path = ProcessInfo.processInfo.environment["TCPEEK_BINARY"], !path.isEmpty { return path }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("tcpeek").path
}

/// The client, server and flood scripts of the lab.
let scriptsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")
