// End-to-end: `tcpeek record -c 2` on a veth, whose checksum offload (on by
// default) leaves the TCP checksums of the kernel's segments to be filled
// in later: libpcap sees them unfinished, as on any offloading NIC. tcpeek
// must say so once and name `-c 0`, and `-c 0` must count the handshakes.

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
@Suite("tcpeek -c 2 on an offloading veth")
struct ChecksumOffloadLiveTests {
    static let warning = "fail checksum verification; this is what checksum offload looks like on the capturing host: use -c 0 (the default)"

    /// 40 connections, each sending a few bytes: about 300 segments.
    static let connector = """
        import socket, sys
        for _ in range(40):
            s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
            s.sendall(b"checksum offload")
            s.close()
        print("done", flush=True)
        """

    @Test("-c 2 on the client's veth: the warning once; -c 0: the handshakes counted, no warning",
          .enabled("needs root and network namespaces (probed with `ip netns add`)") {
              NetworkNamespaceLab.availability.shouldRun
          },
          .timeLimit(.minutes(2)))
    func offloadIsNamed() async throws {
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
        let veth = NetworkNamespaceLab.clientInterface

        for mode in ["2", "0"] {
            let tcpeek = try lab.spawn("tcpeek -c \(mode)", in: lab.clientNamespace,
                                       [binary, "record", "-i", veth, "-c", mode, "--no-socket", "--no-db",
                                        "--json-summary", "web:TX@*:8080"])
            transcripts.append(tcpeek)
            let listening = await tcpeek.wait(timeout: 15) { $0.stderr.lines.contains { $0.hasPrefix("listening on \(veth)") } }
            try #require(listening, "tcpeek did not start on \(veth)")

            let client = try lab.spawn("client", in: lab.clientNamespace,
                                       [python, "-c", Self.connector, NetworkNamespaceLab.serverAddress4, "8080"])
            transcripts.append(client)
            try #require(client.waitForExit(timeout: 30) && client.exitStatus == 0, "the client failed")
            if mode == "2" {
                let warned = await tcpeek.wait(timeout: 10) { $0.stderr.text.contains(Self.warning) }
                #expect(warned, "no warning under -c 2")
            } else {
                try await Task.sleep(for: .seconds(1))  // the last segments reach tcpeek
            }
            tcpeek.signal(SIGINT)
            try #require(tcpeek.waitForExit(timeout: 15), "tcpeek did not stop on SIGINT")
            #expect(tcpeek.exitStatus == 0)
            let warnings = tcpeek.stderr.text.components(separatedBy: Self.warning).count - 1
            let summary = tcpeek.stdout.text
            if mode == "2" {
                #expect(warnings == 1, "the warning once: \(tcpeek.stderr.text)")
                #expect(summary.contains("{\"web\":{\"success\":{\"total\":0,"), "every segment failed: \(summary)")
            } else {
                #expect(warnings == 0)
                #expect(summary.contains("{\"web\":{\"success\":{\"total\":40,"), "40 handshakes: \(summary)")
            }
        }
        passed = true
    }
}
}
