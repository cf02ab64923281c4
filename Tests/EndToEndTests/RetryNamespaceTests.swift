// End-to-end: one connect() refused by an ICMP port unreachable is one
// attempt (SPEC §1), whatever the kernel does with the error.
//
// The server namespace answers every SYN to port 8090 with nft's "reject
// with icmp(v6) port-unreachable", the first SYN included. On the veth the
// ICMP error comes back while connect() may still hold the socket lock; Linux
// then keeps it as a soft error and re-sends the same SYN at its first
// retransmission (1 s), whose ICMP error ends connect(). Whether a given
// connect() saw that re-send is a race: either way tcpeek must print one
// `failure (unreach)` line per connect(), with the re-sent SYNs as DUP SYN.
//
// Phase 1 waits for the lines (they come ~3 s after the last ICMP error, when
// the retry window has passed on the idle clock); phase 2 stops tcpeek right
// after its connect()s, inside the window: the pending verdicts stand.

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

private let refusedPort = 8090

private let retryRuleset = """
    table inet tcpk_retry {
      chain input {
        type filter hook input priority 0; policy accept;
        tcp dport \(refusedPort) meta nfproto ipv4 reject with icmp type port-unreachable
        tcp dport \(refusedPort) meta nfproto ipv6 reject with icmpv6 type port-unreachable
      }
    }

    """

/// connect()s each target `count` times, one after the other; prints one
/// JSON list of {"target", "sport", "result"}.
private let connectScript = """
    import errno, json, socket, sys
    count = int(sys.argv[1]); port = int(sys.argv[2]); out = []
    for target in sys.argv[3:]:
        family = socket.AF_INET6 if ":" in target else socket.AF_INET
        for _ in range(count):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(10)
            s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            sport = s.getsockname()[1]
            try:
                s.connect((target, port)); result = "connected"
            except OSError as e:
                result = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
            s.close()
            out.append({"target": target, "sport": sport, "result": result})
    print(json.dumps(out), flush=True)

    """

private struct Refusal: Decodable {
    let target: String
    let sport: Int
    let result: String
    var source: String {
        target.contains(":") ? "[\(NetworkNamespaceLab.clientAddress6)]:\(sport)"
            : "\(NetworkNamespaceLab.clientAddress4):\(sport)"
    }
}

// Nested in NamespaceCaptureTests (serialized): one lab at a time per process.
extension NamespaceCaptureTests {
    @Suite("one connect() is one attempt, with the kernel's own retries")
    struct RetryNamespaceTests {
        @Test("an ICMP port unreachable answering every SYN: one unreach per connect(), live and at shutdown",
              .enabled("needs root and network namespaces (probed with `ip netns add`)") {
                  NetworkNamespaceLab.availability.shouldRun
              },
              .timeLimit(.minutes(2)))
        func oneUnreachPerConnect() async throws {
            if let reason = NetworkNamespaceLab.availability.unavailableReason {
                Issue.record("CI=true and running as root, but the namespace lab cannot be built: \(reason)")
                return
            }
            let binary = tcpeekBinary()
            try #require(FileManager.default.isExecutableFile(atPath: binary), "tcpeek binary not found at \(binary)")
            let python = try #require(findTool("python3"), "python3 not found")
            let lab = try NetworkNamespaceLab(serverRuleset: retryRuleset, clientSysctls: [])
            defer { lab.teardown() }
            let veth = NetworkNamespaceLab.serverInterface
            var transcripts: [ChildProcess] = []
            var passed = false
            defer {
                if !passed { for child in transcripts { print(child.transcript) } }
            }

            var sniffer: ChildProcess?
            if let tcpdump = findTool("tcpdump") {
                let child = try lab.spawn("tcpdump", in: lab.serverNamespace,
                                          [tcpdump, "-i", veth, "-n", "-l", "-S", "-U", "tcp dst port \(refusedPort)"])
                transcripts.append(child)
                _ = await child.wait(timeout: 10) { $0.stderr.text.contains("listening on \(veth)") }
                sniffer = child
            }
            let folder = FileManager.default.temporaryDirectory
                .appendingPathComponent("tcpeek-retry-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            defer { try? FileManager.default.removeItem(at: folder) }
            let tcpeek = try lab.spawn("tcpeek", in: lab.serverNamespace,
                                       [binary, "record", "-i", veth, "--no-socket", "-t", "10",
                                        "--db", folder.appendingPathComponent("history.db").path])
            transcripts.append(tcpeek)
            let listening = await tcpeek.wait(timeout: 15) { child in
                child.stderr.lines.contains { $0.contains("listening on \(veth)") }
            }
            try #require(listening, "tcpeek did not start: \(tcpeek.transcript)")

            func refuse(count: Int) async throws -> [Refusal] {
                let client = try lab.spawn("client", in: lab.clientNamespace,
                                           [python, "-c", connectScript, String(count), String(refusedPort),
                                            NetworkNamespaceLab.serverAddress4, NetworkNamespaceLab.serverAddress6])
                transcripts.append(client)
                try #require(client.waitForExit(timeout: 60), "the client did not finish: \(client.transcript)")
                let refusals = try JSONDecoder().decode([Refusal].self, from: Data(client.stdout.text.utf8))
                #expect(refusals.count == 2 * count)
                #expect(refusals.allSatisfy { $0.result == "ECONNREFUSED" }, "lab: connect() results \(refusals)")
                return refusals
            }

            // Phase 1: the lines come once the retry window has passed.
            let first = try await refuse(count: 4)
            let shown = await tcpeek.wait(timeout: 10) { liveLines($0.stderr.lines).count >= first.count }
            #expect(shown, "one line per connect() within 10 s: \(tcpeek.stderr.text)")

            // Phase 2: stopped inside the window, the pending verdicts stand.
            let second = try await refuse(count: 2)
            tcpeek.signal(SIGINT)
            try #require(tcpeek.waitForExit(timeout: 15), "tcpeek did not exit after SIGINT: \(tcpeek.transcript)")
            sniffer?.stop(SIGINT)

            let lines = liveLines(tcpeek.stderr.lines)
            let refusals = first + second
            #expect(lines.count == refusals.count, "one live line per connect(): \(lines)")
            var resent: [String: Int] = [:]
            for refusal in refusals {
                let mine = lines.filter { $0.source == refusal.source }
                #expect(mine.count == 1, "\(refusal.source): \(mine)")
                #expect(mine.allSatisfy { $0.results == "failure (unreach)" && $0.cause == "port-unreachable" },
                        "\(refusal.source): \(mine)")
                guard let sniffer, let line = mine.first else { continue }
                let port = refusal.target.contains(":") ? "\(NetworkNamespaceLab.clientAddress6).\(refusal.sport) >"
                    : "\(NetworkNamespaceLab.clientAddress4).\(refusal.sport) >"
                let syns = sniffer.stdout.lines.filter { $0.contains(port) && $0.contains("Flags [S") }.count
                #expect(line.dupSyn == syns - 1, "\(refusal.source): DUP SYN \(line.dupSyn), \(syns) SYNs on the wire")
                if syns > 1 { resent[refusal.target.contains(":") ? "IPv6" : "IPv4", default: 0] += 1 }
            }
            print("RetryNamespaceTests: the kernel re-sent the SYN after the ICMP error for "
                  + "\(resent["IPv4", default: 0]) of \(refusals.count / 2) IPv4 and \(resent["IPv6", default: 0]) of "
                  + "\(refusals.count / 2) IPv6 connect()s\(sniffer == nil ? " (tcpdump not installed: not counted)" : "")")
            passed = true
        }
    }
}
