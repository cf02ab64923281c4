// End-to-end: `tcpeek record -i any` in the server namespace sees handshakes
// on two interfaces at once, the veth (from the client namespace) and the
// loopback (the server namespace connecting to itself), over IPv4 and IPv6,
// and counts each attempt exactly once.

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Nested in NamespaceCaptureTests, whose `.serialized` applies to nested
// suites too: the lab's namespaces are named after the process.
extension NamespaceCaptureTests {
@Suite("tcpeek -i any with the kernel TCP stack")
struct AnyInterfaceTests {
    /// Connects to each target in turn; prints one line per connect():
    /// `ok` or the errno name.
    static let connector = """
        import errno, socket, sys
        for target in sys.argv[1:]:
            host, port = target.rsplit(":", 1)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect((host.strip("[]"), int(port)))
                print("ok", flush=True)
            except OSError as e:
                print(errno.errorcode.get(e.errno, str(e)), flush=True)
            finally:
                s.close()
        """

    @Test("capture on `any` counts veth and loopback handshakes of both families once each",
          .enabled("needs root and network namespaces (probed with `ip netns add`)") {
              NetworkNamespaceLab.availability.shouldRun
          },
          .timeLimit(.minutes(2)))
    func anyCountsEveryAttemptOnce() async throws {
        if let reason = NetworkNamespaceLab.availability.unavailableReason {
            Issue.record("CI=true and running as root, but the namespace lab cannot be built: \(reason)")
            return
        }
        let binary = tcpeekBinary()
        let python = try #require(findTool("python3"), "python3 not found")
        let lab = try NetworkNamespaceLab(serverRuleset: "", clientSysctls: [])
        defer { lab.teardown() }
        var transcripts: [ChildProcess] = []
        var passed = false
        defer { if !passed { for child in transcripts { print(child.transcript) } } }

        transcripts.append(try await lab.startServer(ports: [8080]))

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tcpeek-any-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tcpeek = try lab.spawn("tcpeek", in: lab.serverNamespace,
                                   [binary, "record", "-i", "any", "--no-socket", "-t", "3", "--json-summary",
                                    "--db", folder.appendingPathComponent("history.db").path, "all:ANY@*:*"])
        transcripts.append(tcpeek)
        let listening = await tcpeek.wait(timeout: 15) { $0.stderr.lines.contains { $0.hasPrefix("listening on any") } }
        try #require(listening, "tcpeek did not start on `any`")
        #expect(tcpeek.stderr.text.contains("LINUX_SLL2"), "libpcap offers cooked v2 on `any`, and tcpeek takes it")

        // Over the veth: 2 successes and 1 reject per family. Over the
        // loopback of the server namespace: 1 success and 1 reject per family.
        let remote = ["198.51.100.2:8080", "198.51.100.2:8080", "198.51.100.2:8081",
                      "[2001:db8::2]:8080", "[2001:db8::2]:8080", "[2001:db8::2]:8081"]
        let local = ["127.0.0.1:8080", "127.0.0.1:8081", "[::1]:8080", "[::1]:8081"]
        for (namespace, targets) in [(lab.clientNamespace, remote), (lab.serverNamespace, local)] {
            let client = try lab.spawn("client", in: namespace, [python, "-c", Self.connector] + targets)
            transcripts.append(client)
            try #require(client.waitForExit(timeout: 30) && client.exitStatus == 0, "the client failed")
            let results = client.stdout.lines.filter { !$0.isEmpty }
            #expect(results == targets.map { $0.hasSuffix(":8081") ? "ECONNREFUSED" : "ok" }, "lab: connect() results")
        }
        let expectedLines = remote.count + local.count
        let reported = await tcpeek.wait(timeout: 10) { child in
            child.stderr.lines.filter { $0.contains("|      success      |") || $0.contains("| failure (") }.count >= expectedLines
        }
        #expect(reported, "every attempt reported live")
        // Late duplicates would show up now.
        try await Task.sleep(for: .milliseconds(500))
        tcpeek.signal(SIGINT)
        try #require(tcpeek.waitForExit(timeout: 15), "tcpeek did not stop on SIGINT")
        #expect(tcpeek.exitStatus == 0)

        let lines = tcpeek.stderr.lines.filter { $0.contains("|      success      |") || $0.contains("| failure (") }
        #expect(lines.count == expectedLines, "one live line per connect(): \(lines)")
        for (server, successes, rejects) in [("198.51.100.2", 2, 1), ("[2001:db8::2]", 2, 1),
                                             ("127.0.0.1", 1, 1), ("[::1]", 1, 1)] {
            let mine = lines.filter { $0.contains(" \(server):808") }
            #expect(mine.filter { $0.contains("|      success      |") }.count == successes, "successes to \(server): \(mine)")
            #expect(mine.filter { $0.contains("failure (reject)") }.count == rejects, "rejects to \(server): \(mine)")
        }
        let summary = tcpeek.stdout.text
        #expect(summary.contains("{\"all\":{\"success\":{\"total\":6,"), "the summary counts 6 successes: \(summary)")
        #expect(summary.contains("\"failure\":{\"total\":4,\"timeout\":0,\"reject\":4,"), "and 4 rejects: \(summary)")
        passed = true
    }
}
}
