// Privileges of a live capture, in a network namespace of our own
// (tcpk-priv-<pid>-<case>, created and deleted here; only its loopback is
// used, so the host's interfaces are never touched):
//
// - `-u nobody`: tcpeek opens the capture, the history database and the
//   socket as root, then every one of its threads runs as nobody with no
//   capability left (Uid/Gid and CapEff/CapPrm in /proc/<pid>/task/*/status),
//   and it goes on capturing and recording;
// - root without `-u`: one notice recommending `-u`;
// - a non-root user running a copy of the binary given only
//   cap_net_raw,cap_net_admin by `setcap`: the capture works.
//
// Needs root and `ip netns`; skipped otherwise (and recorded as a failure
// when CI=true, where both are expected).
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

private enum Privilege {
    static let user = "nobody"

    /// Whether the cases can run here, or why not.
    static let unavailableReason: String? = {
        guard geteuid() == 0 else { return "not running as root" }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/usr/bin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip") else {
            return "iproute2 (ip) is not installed"
        }
        guard getpwnam(user) != nil else { return "no user '\(user)'" }
        let probe = "tcpk-priv-\(getpid())-probe"
        let added = shell(["ip", "netns", "add", probe])
        defer { _ = shell(["ip", "netns", "delete", probe]) }
        return added.status == 0 ? nil : "cannot create a network namespace: \(added.output)"
    }()

    static var shouldRun: Bool {
        unavailableReason == nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// The tcpeek binary: $TCPEEK_BINARY, else next to the test bundle.
    static var binary: String { tcpeekBinary() }

    /// Runs a command found on PATH to completion; status and merged output.
    @discardableResult
    static func shell(_ argv: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// A network namespace with its loopback up, deleted with everything in it.
private final class PrivateNamespace {
    let name: String

    init(_ suffix: String) throws {
        name = "tcpk-priv-\(getpid())-\(suffix)"
        Self.removeStale()
        let added = Privilege.shell(["ip", "netns", "add", name])
        guard added.status == 0 else { throw LabError("ip netns add \(name): \(added.output)") }
        let up = Privilege.shell(["ip", "-n", name, "link", "set", "lo", "up"])
        guard up.status == 0 else {
            delete()
            throw LabError("ip -n \(name) link set lo up: \(up.output)")
        }
    }

    deinit { delete() }

    func delete() {
        let pids = Privilege.shell(["ip", "netns", "pids", name]).output
        for pid in pids.split(separator: "\n").compactMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) {
            kill(pid, SIGKILL)
        }
        Privilege.shell(["ip", "netns", "delete", name])
    }

    /// Namespaces of earlier runs whose process is gone.
    private static func removeStale() {
        for line in Privilege.shell(["ip", "netns", "list"]).output.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            let parts = name.split(separator: "-")
            guard name.hasPrefix("tcpk-priv-"), parts.count >= 3, let pid = Int32(parts[2]),
                  pid != getpid(), kill(pid, 0) != 0 else { continue }
            Privilege.shell(["ip", "netns", "delete", name])
        }
    }

    /// Connects to a closed port on the namespace's loopback: the kernel
    /// answers the SYN with an RST, one rejected attempt for tcpeek.
    func rejectedConnection(port: Int) {
        Privilege.shell(["ip", "netns", "exec", name, "python3", "-c",
                         "import socket\ntry:\n    socket.create_connection(('127.0.0.1', \(port)), timeout=2)\nexcept OSError:\n    pass"])
    }
}

/// A temporary directory (mode 0755, so that `nobody` can run a binary in
/// it but write nothing), removed at the end.
private final class ScratchDirectory {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("tcpeek-priv-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The identity of one thread, from /proc/<pid>/task/<tid>/status.
private struct ThreadIdentity: CustomStringConvertible {
    var uids: [UInt32] = []
    var gids: [UInt32] = []
    var groups: [UInt32] = []
    var effective: UInt64 = .max
    var permitted: UInt64 = .max
    var ambient: UInt64 = .max

    init?(status path: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard let key = fields.first else { continue }
            let values = fields.dropFirst()
            switch key {
            case "Uid:": uids = values.compactMap { UInt32($0) }
            case "Gid:": gids = values.compactMap { UInt32($0) }
            case "Groups:": groups = values.compactMap { UInt32($0) }
            case "CapEff:": effective = values.first.flatMap { UInt64($0, radix: 16) } ?? .max
            case "CapPrm:": permitted = values.first.flatMap { UInt64($0, radix: 16) } ?? .max
            case "CapAmb:": ambient = values.first.flatMap { UInt64($0, radix: 16) } ?? .max
            default: break
            }
        }
    }

    var description: String {
        "uid \(uids) gid \(gids) groups \(groups) CapEff \(String(effective, radix: 16)) CapPrm \(String(permitted, radix: 16)) CapAmb \(String(ambient, radix: 16))"
    }

    /// Every thread of a process, by thread ID.
    static func threads(of pid: Int32) -> [String: ThreadIdentity] {
        let tasks = "/proc/\(pid)/task"
        var result: [String: ThreadIdentity] = [:]
        for tid in (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? [] {
            if let identity = ThreadIdentity(status: "\(tasks)/\(tid)/status") { result[tid] = identity }
        }
        return result
    }
}

/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13).
private let netAdminAndRaw: UInt64 = 1 << 12 | 1 << 13

/// Starts `tcpeek record -i lo ARGS` in the namespace, possibly through a
/// wrapper (`setpriv ...`); waits until it captures.
private func startCapture(in namespace: PrivateNamespace, binary: String, wrapper: [String] = [],
                          _ arguments: [String]) async throws -> ChildProcess {
    let argv = ["/usr/bin/env", "ip", "netns", "exec", namespace.name] + wrapper + [binary, "record", "-i", "lo"] + arguments
    let child = try ChildProcess(name: "tcpeek", argv: argv)
    let listening = await child.wait(timeout: 20) { $0.stderr.text.contains("listening on lo") }
    if !listening {
        child.stop(SIGKILL)
        throw LabError("tcpeek did not start capturing: \(child.transcript)")
    }
    return child
}

/// Ends the capture with SIGINT; its exit status and transcript.
private func finish(_ child: ChildProcess) -> (Int32?, String) {
    child.stop(SIGINT, grace: 10)
    return (child.exitStatus, child.transcript)
}

@Suite("privileges of a live capture", .serialized,
       .enabled("needs root and network namespaces (probed with `ip netns add`)") { Privilege.shouldRun })
struct PrivilegeTests {
    @Test("-u nobody: capture, database and socket opened as root, then every thread runs as nobody with no capability",
          .timeLimit(.minutes(2)))
    func dropsToUser() async throws {
        if let reason = Privilege.unavailableReason {
            Issue.record("CI=true, but the privilege cases cannot run: \(reason)")
            return
        }
        let namespace = try PrivateNamespace("drop")
        let scratch = try ScratchDirectory()
        let database = scratch.path + "/history.db", socket = scratch.path + "/tcpeek.sock"
        let nobody = try #require(getpwnam(Privilege.user)).pointee
        let (uid, gid) = (nobody.pw_uid, nobody.pw_gid)
        let child = try await startCapture(in: namespace, binary: Privilege.binary,
                                           ["-u", Privilege.user, "--db", database, "-U", socket, "--batch-ms", "100"])
        defer { child.stop(SIGKILL) }

        // The drop happens right after the servers start: wait for it.
        var threads: [String: ThreadIdentity] = [:]
        let deadline = Date().addingTimeInterval(10)
        repeat {
            threads = ThreadIdentity.threads(of: child.pid)
            if !threads.isEmpty, threads.values.allSatisfy({ $0.uids.first == uid }) { break }
            try await Task.sleep(for: .milliseconds(50))
        } while Date() < deadline
        #expect(!threads.isEmpty, "no /proc/\(child.pid)/task: \(child.transcript)")
        for (tid, identity) in threads.sorted(by: { $0.key < $1.key }) {
            #expect(identity.uids == [uid, uid, uid, uid], "thread \(tid): \(identity)")
            #expect(identity.gids == [gid, gid, gid, gid], "thread \(tid): \(identity)")
            #expect(!identity.groups.contains(0), "thread \(tid) kept group root: \(identity)")
            #expect(identity.effective == 0 && identity.permitted == 0 && identity.ambient == 0,
                    "thread \(tid) kept capabilities: \(identity)")
        }
        // What was opened as root is there: the database and the socket.
        #expect(FileManager.default.fileExists(atPath: database), "\(child.transcript)")
        #expect(FileManager.default.fileExists(atPath: socket), "\(child.transcript)")
        #expect(!child.stderr.text.contains("notice: running as root"), "no root notice with -u")

        // Still capturing after the drop: one rejected attempt, recorded.
        namespace.rejectedConnection(port: 9)
        let seen = await child.wait(timeout: 10) { $0.stderr.text.contains("failure (reject)") }
        #expect(seen, "the rejected attempt after the drop: \(child.transcript)")
        let (status, transcript) = finish(child)
        #expect(status == 0, "\(transcript)")
        #expect(transcript.contains("Connection Rejected   :      1"), "\(transcript)")
        #expect(!transcript.contains("could not be recorded"), "\(transcript)")
        let rows = Privilege.shell(["sqlite3", "-readonly", database, "SELECT count(*) FROM sessions"])
        #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "sessions in the database: \(rows.output)")
    }

    @Test("root without -u: exactly one notice recommending -u", .timeLimit(.minutes(3)))
    func rootNotice() async throws {
        if let reason = Privilege.unavailableReason {
            Issue.record("CI=true, but the privilege cases cannot run: \(reason)")
            return
        }
        let namespace = try PrivateNamespace("notice")
        let child = try await startCapture(in: namespace, binary: Privilege.binary, ["--no-db", "--no-socket"])
        defer { child.stop(SIGKILL) }
        // tcpeek handles SIGINT once its capture loop runs, just after the
        // "listening" line: give it that moment.
        try await Task.sleep(for: .milliseconds(500))
        let (status, transcript) = finish(child)
        #expect(status == 0, "\(transcript)")
        let notices = child.stderr.lines.filter { $0.contains("-u") && $0.contains("root") }
        #expect(notices.count == 1, "\(transcript)")
        #expect(notices.first?.hasPrefix("notice: ") == true, "\(notices)")
    }

    @Test("a non-root user with only cap_net_raw,cap_net_admin (setcap on a copy of the binary) captures",
          .timeLimit(.minutes(2)))
    func capabilitiesInsteadOfRoot() async throws {
        if let reason = Privilege.unavailableReason {
            Issue.record("CI=true, but the privilege cases cannot run: \(reason)")
            return
        }
        let setcap = Privilege.shell(["which", "setcap"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(!setcap.isEmpty, "setcap is missing (apt-get install libcap2-bin; make deps installs it)")
        let namespace = try PrivateNamespace("caps")
        let scratch = try ScratchDirectory()
        let copy = scratch.path + "/tcpeek"
        try FileManager.default.copyItem(atPath: Privilege.binary, toPath: copy)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy)
        let given = Privilege.shell([setcap, "cap_net_raw,cap_net_admin=eip", copy])
        try #require(given.status == 0, "setcap: \(given.output)")

        let nobody = try #require(getpwnam(Privilege.user)).pointee
        let uid = nobody.pw_uid
        // setpriv: the user's IDs, no supplementary group, nothing inherited.
        let wrapper = ["setpriv", "--reuid=\(uid)", "--regid=\(nobody.pw_gid)", "--clear-groups", "--inh-caps=-all", "--"]
        let child = try await startCapture(in: namespace, binary: copy, wrapper: wrapper, ["--no-db", "--no-socket"])
        defer { child.stop(SIGKILL) }

        for (tid, identity) in ThreadIdentity.threads(of: child.pid) {
            #expect(identity.uids == [uid, uid, uid, uid], "thread \(tid): \(identity)")
            // At most the two capabilities the file grants.
            #expect(identity.effective & ~netAdminAndRaw == 0 && identity.permitted & ~netAdminAndRaw == 0,
                    "thread \(tid): \(identity)")
        }
        #expect(!child.stderr.text.contains("notice: running as root"), "not root: no notice")
        namespace.rejectedConnection(port: 9)
        let seen = await child.wait(timeout: 10) { $0.stderr.text.contains("failure (reject)") }
        #expect(seen, "a capability-limited capture sees the rejected attempt: \(child.transcript)")
        let (status, transcript) = finish(child)
        #expect(status == 0, "\(transcript)")
        #expect(transcript.contains("Connection Rejected   :      1"), "\(transcript)")
    }

    @Test("-u 65534 (a numeric uid, as the original accepted): capture as root, then run as that uid",
          .timeLimit(.minutes(2)))
    func numericUser() async throws {
        if let reason = Privilege.unavailableReason {
            Issue.record("CI=true, but the privilege cases cannot run: \(reason)")
            return
        }
        let namespace = try PrivateNamespace("uid")
        let child = try await startCapture(in: namespace, binary: Privilege.binary, ["-u", "65534", "--no-db", "--no-socket"])
        defer { child.stop(SIGKILL) }
        var threads: [String: ThreadIdentity] = [:]
        let deadline = Date().addingTimeInterval(10)
        repeat {
            threads = ThreadIdentity.threads(of: child.pid)
            if !threads.isEmpty, threads.values.allSatisfy({ $0.uids.first == 65534 }) { break }
            try await Task.sleep(for: .milliseconds(50))
        } while Date() < deadline
        for (tid, identity) in threads { #expect(identity.uids == [65534, 65534, 65534, 65534], "thread \(tid): \(identity)") }
        namespace.rejectedConnection(port: 9)
        let seen = await child.wait(timeout: 10) { $0.stderr.text.contains("failure (reject)") }
        #expect(seen, "\(child.transcript)")
        let (status, transcript) = finish(child)
        #expect(status == 0, "\(transcript)")
    }

    @Test("-l err hides the root notice (and the other notices); the summary stays", .timeLimit(.minutes(2)))
    func loglevelHidesRootNotice() async throws {
        if let reason = Privilege.unavailableReason {
            Issue.record("CI=true, but the privilege cases cannot run: \(reason)")
            return
        }
        let namespace = try PrivateNamespace("quiet")
        // The readiness line is a notice too: nothing to wait for but time.
        let argv = ["/usr/bin/env", "ip", "netns", "exec", namespace.name, Privilege.binary, "record", "-i", "lo",
                    "-l", "err", "--no-db", "--no-socket"]
        let child = try ChildProcess(name: "tcpeek", argv: argv)
        defer { child.stop(SIGKILL) }
        try await Task.sleep(for: .seconds(2))
        let (status, transcript) = finish(child)
        #expect(status == 0, "\(transcript)")
        #expect(!child.stderr.text.contains("running as root"), "\(transcript)")
        #expect(!child.stderr.text.contains("listening on"), "\(transcript)")
        #expect(child.stderr.text.contains("Connection Rejected"), "the summary: \(transcript)")
    }
}
