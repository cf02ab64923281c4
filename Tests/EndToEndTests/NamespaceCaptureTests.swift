// End-to-end: the real tcpeek binary captures live on a veth in a private
// network namespace while real sockets (Linux's TCP stack, driven by python3)
// produce every outcome over IPv4 and IPv6; the live lines, the text summary
// and the JSON summary must match the traffic exactly.
//
// Traffic (per family, client 198.51.100.1 / 2001:db8::1 -> server .2 / ::2),
// all started at once by Scripts/e2e_client.py:
//   8080  3 connects to a listener                        -> success
//   8081  2 connects to a closed port (RST)               -> failure (reject)
//   8082  SYN dropped by nft in the server namespace      -> failure (timeout)
//         (client: tcp_syn_retries=1 and, where the kernel has it,
//         tcp_syn_linear_timeouts=0, so exactly SYN at 0 s + one
//         retransmission at 1 s; tcpeek -t 3 closes it at 1 s + 3 s)
//   8083  first SYN dropped, its retransmission answered by nft "reject with
//         icmp(v6) port-unreachable"                      -> failure (unreach)
//         (the first SYN is dropped on purpose: an ICMP error that arrives
//         while connect() still holds the socket lock is only a soft error
//         on Linux and the SYN is retried, which would make the number of
//         attempts racy; the timer-driven retransmission is never in that
//         window, so exactly one ICMP, one attempt with DUP SYN 1)
//   8084  listener; the client's pure ACKs are dropped by nft in the CLIENT
//         namespace until 2 s after connect, so the server retransmits its
//         SYN/ACK at ~1 s and ~3 s and the ACK of the second retransmission
//         completes the handshake                         -> success, DUP S/A 2
// Then one more attempt (IPv4, port 8085, its SYN repeated every 0.5 s by a
// raw socket and dropped) is left open when tcpeek gets
// SIGINT: it must not be counted anywhere.
//
// When tcpdump is installed it captures on the same interface, and the wire
// is checked too (so a failure says whether the lab or tcpeek was wrong).

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Plan

private enum Port {
    static let success = 8080
    static let reject = 8081
    static let timeout = 8082
    static let unreach = 8083
    static let synack = 8084
    static let pending = 8085
}

private let captureTimeout = 3  // tcpeek -t
private let successCount = 3
private let rejectCount = 2
private let ackReleaseDelay = 2.0  // s after connect: between SYN/ACK retransmissions 1 (~1 s) and 2 (~3 s)
private let synackHold = 4.5  // s the SYN/ACK-retransmission connections stay open (no data)

private let serverRuleset = """
    table inet tcpk_e2e {
      set unreach4 { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 1m; }
      set unreach6 { type ipv6_addr . inet_service; flags dynamic,timeout; timeout 1m; }
      chain input {
        type filter hook input priority 0; policy accept;
        tcp dport { \(Port.timeout), \(Port.pending) } drop
        tcp dport \(Port.unreach) ip saddr . tcp sport @unreach4 reject with icmp type port-unreachable
        tcp dport \(Port.unreach) ip6 saddr . tcp sport @unreach6 reject with icmpv6 type port-unreachable
        tcp dport \(Port.unreach) meta nfproto ipv4 add @unreach4 { ip saddr . tcp sport } drop
        tcp dport \(Port.unreach) meta nfproto ipv6 add @unreach6 { ip6 saddr . tcp sport } drop
      }
    }

    """

private let clientSysctls: [(String, String)] = [
    ("net/ipv4/tcp_syn_retries", "1"),
    ("?net/ipv4/tcp_syn_linear_timeouts", "0"),  // Linux >= 6.5 retries SYNs at linear 1 s steps by default
]

private let namedFilters = ["web:RX@*:\(Port.success)", "v6:RX@[2001:db8::/64]:%"]

// MARK: - Expected results

struct FilterCounts: Equatable, CustomStringConvertible {
    var success = 0, dupsyn = 0, dupsynack = 0
    var failure = 0, timeout = 0, reject = 0, unreach = 0, abort = 0

    var description: String {
        "success \(success) (dupsyn \(dupsyn), dupsynack \(dupsynack)); failure \(failure) "
            + "(timeout \(timeout), reject \(reject), unreach \(unreach), abort \(abort))"
    }
}

/// Per family: 3 + 1 successes (the 8084 one with retransmitted SYN/ACKs),
/// 2 rejects, 1 timeout, 1 unreach.
private func perFamily(families: Int) -> FilterCounts {
    FilterCounts(success: (successCount + 1) * families, dupsyn: 0, dupsynack: families,
                 failure: (rejectCount + 2) * families, timeout: families,
                 reject: rejectCount * families, unreach: families, abort: 0)
}

private let expectedFilters: [(String, FilterCounts)] = [
    ("RX", perFamily(families: 2)),
    ("TX", FilterCounts()),
    ("web", FilterCounts(success: successCount * 2)),
    ("v6", perFamily(families: 1)),
]

private enum Family: String, CaseIterable, CustomStringConvertible {
    case v4, v6
    var client: String { self == .v4 ? NetworkNamespaceLab.clientAddress4 : NetworkNamespaceLab.clientAddress6 }
    var server: String { self == .v4 ? NetworkNamespaceLab.serverAddress4 : NetworkNamespaceLab.serverAddress6 }
    /// As tcpeek prints an endpoint: `a.b.c.d:port`, `[v6]:port`.
    func endpoint(_ address: String, _ port: Int) -> String {
        self == .v4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
    var description: String { rawValue == "v4" ? "IPv4" : "IPv6" }
}

/// What one scenario must look like in a live line.
private struct Scenario {
    let name: String
    let port: Int
    let clientResult: String  // what connect() must have returned
    let results: String  // RESULTS column
    let dupSyn: Int
    let dupSynAck: Int
    let time: ClosedRange<Double>  // TIME(s) column
}

private let scenarios: [Scenario] = [
    Scenario(name: "success", port: Port.success, clientResult: "ok", results: "success",
             dupSyn: 0, dupSynAck: 0, time: 0...0.5),
    Scenario(name: "reject", port: Port.reject, clientResult: "ECONNREFUSED", results: "failure (reject)",
             dupSyn: 0, dupSynAck: 0, time: 0...0.5),
    // last SYN at ~1 s, plus -t 3
    Scenario(name: "timeout", port: Port.timeout, clientResult: "ETIMEDOUT", results: "failure (timeout)",
             dupSyn: 1, dupSynAck: 0, time: 3.8...4.6),
    // retransmitted SYN at ~1 s answered by the ICMP error
    Scenario(name: "unreach", port: Port.unreach, clientResult: "ECONNREFUSED", results: "failure (unreach)",
             dupSyn: 1, dupSynAck: 0, time: 0.8...1.6),
    // SYN/ACK retransmissions at ~1 s and ~3 s, the second one ACKed
    Scenario(name: "synack", port: Port.synack, clientResult: "ok", results: "success",
             dupSyn: 0, dupSynAck: 2, time: 2.7...3.7),
]

// MARK: - Parsing tcpeek's output

struct LiveLine: CustomStringConvertible {
    let raw: String
    let time: Double
    let source: String
    let destination: String
    let results: String
    let dupSyn: Int
    let dupSynAck: Int
    /// The cause after the original's columns; nil for a success without flags.
    let cause: String?
    var description: String { raw }
}

/// A live line as SPEC §4 lays it out, with the cause after it.
private var liveLinePattern: Regex<(Substring, Substring, Substring, Substring, Substring, Substring, Substring, Substring?)> {
    #/^\s*(\d+\.\d{3}) \| \d{2}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \|\s+(\S+)\s+(\S+)\s+\|\s+(success|failure \((?:reject|timeout|unreach|abort)\))\s+\|\s+(\d+)\s+(\d+)(?:  ([a-z][a-z,-]*))?\s*$/#
}

/// The live lines among a tcpeek's standard error lines.
func liveLines(_ stderr: [String]) -> [LiveLine] {
    stderr.compactMap { line in
        guard let m = line.wholeMatch(of: liveLinePattern),
              let time = Double(m.1), let dupSyn = Int(m.5), let dupSynAck = Int(m.6) else { return nil }
        return LiveLine(raw: line, time: time, source: String(m.2), destination: String(m.3),
                        results: String(m.4), dupSyn: dupSyn, dupSynAck: dupSynAck, cause: m.7.map(String.init))
    }
}

private struct PcapStats: Equatable {
    var recv: Int, drop: Int, ifdrop: Int
}

private struct JSONSummary {
    var order: [String] = []
    var filters: [String: FilterCounts] = [:]
    var pcap: PcapStats?
}

private func int(_ any: Any?) -> Int? {
    if let n = any as? Int { return n }
    if let n = any as? NSNumber { return n.intValue }
    return nil
}

private func parseJSONSummary(_ text: String) throws -> JSONSummary {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    let any = try JSONSerialization.jsonObject(with: Data(trimmed.utf8))
    guard let elements = any as? [Any] else { throw LabError("the JSON summary is not an array: \(trimmed)") }
    var summary = JSONSummary()
    for element in elements {
        guard let object = element as? [String: Any], object.count == 1, let (key, value) = object.first else {
            throw LabError("JSON summary element is not a one-key object: \(element)")
        }
        summary.order.append(key)
        if key == "pcap" {
            guard let stats = (value as? [String: Any])?["stats"] as? [String: Any],
                  let recv = int(stats["recv"]), let drop = int(stats["drop"]), let ifdrop = int(stats["ifdrop"])
            else { throw LabError("bad pcap element: \(value)") }
            summary.pcap = PcapStats(recv: recv, drop: drop, ifdrop: ifdrop)
            continue
        }
        guard let sections = value as? [String: Any],
              let s = sections["success"] as? [String: Any], let f = sections["failure"] as? [String: Any],
              let success = int(s["total"]), let dupsyn = int(s["dupsyn"]), let dupsynack = int(s["dupsynack"]),
              let failure = int(f["total"]), let timeout = int(f["timeout"]), let reject = int(f["reject"]),
              let unreach = int(f["unreach"]), let abort = int(f["abort"])
        else { throw LabError("bad filter element \(key): \(value)") }
        summary.filters[key] = FilterCounts(success: success, dupsyn: dupsyn, dupsynack: dupsynack,
                                            failure: failure, timeout: timeout, reject: reject,
                                            unreach: unreach, abort: abort)
    }
    return summary
}

/// The numbers of one filter's block in the text summary (-1 where a line is
/// missing), or nil when there is no ` NAME` line after the summary banner.
private func textSummaryBlock(_ name: String, in stderr: [String]) -> FilterCounts? {
    guard let banner = stderr.firstIndex(where: { $0.contains("TCPEEK SUMMARY") }),
          let start = stderr[banner...].firstIndex(where: {
              $0.trimmingCharacters(in: .whitespaces) == name && $0.hasPrefix(" ")
          }) else { return nil }
    var block: [String] = []
    for line in stderr[(start + 1)...] {
        if line.hasPrefix("---") || line.hasPrefix("===") { break }
        block.append(line)
    }
    func value(_ pattern: Regex<(Substring, Substring)>) -> Int {
        for line in block { if let m = line.firstMatch(of: pattern), let n = Int(m.1) { return n } }
        return -1
    }
    return FilterCounts(
        success: value(#/Success:\s*(\d+) session/#),
        dupsyn: value(#/SYN Segment Duplicate\s*:\s*(\d+)/#),
        dupsynack: value(#/S\/A Segment Duplicate\s*:\s*(\d+)/#),
        failure: value(#/Failure:\s*(\d+) session/#),
        timeout: value(#/Connection Timed Out\s*:\s*(\d+)/#),
        reject: value(#/Connection Rejected\s*:\s*(\d+)/#),
        unreach: value(#/ICMP Unreachable\s*:\s*(\d+)/#),
        abort: value(#/Connection Aborted\s*:\s*(\d+)/#))
}

private func textPcapStats(in stderr: [String]) -> PcapStats? {
    guard let start = stderr.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "pcap stats" })
    else { return nil }
    func value(_ key: String) -> Int? {
        for line in stderr[(start + 1)...].prefix(5) {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                return Int(parts[1].trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }
    guard let recv = value("recv"), let drop = value("drop"), let ifdrop = value("ifdrop") else { return nil }
    return PcapStats(recv: recv, drop: drop, ifdrop: ifdrop)
}

// MARK: - The wire, as tcpdump saw it

private struct WireSegment {
    let family: Family
    let sourcePort: Int
    let destinationPort: Int
    let flags: String  // tcpdump's: S, S., R., ., F., P. ...
}

private struct Wire {
    var segments: [WireSegment] = []
    var icmpUnreachable: [Family: Int] = [:]  // quoting a segment to Port.unreach

    init(tcpdumpOutput: String) {
        let tcp = #/ (IP6?) (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\]/#
        for line in tcpdumpOutput.split(separator: "\n") {
            if let m = line.firstMatch(of: tcp), let sport = Int(m.3), let dport = Int(m.5) {
                segments.append(WireSegment(family: m.1 == "IP6" ? .v6 : .v4,
                                            sourcePort: sport, destinationPort: dport, flags: String(m.6)))
            } else if line.contains("unreachable"), line.contains("tcp port \(Port.unreach)") {
                icmpUnreachable[line.contains(" IP6 ") ? .v6 : .v4, default: 0] += 1
            }
        }
    }

    /// Segments of the connection from client port `sport` to `port`, in
    /// capture order, as "C:flags" (from the client) or "S:flags".
    func conversation(_ family: Family, sport: Int, port: Int) -> [String] {
        segments.compactMap { s in
            guard s.family == family else { return nil }
            if s.sourcePort == sport && s.destinationPort == port { return "C:" + s.flags }
            if s.sourcePort == port && s.destinationPort == sport { return "S:" + s.flags }
            return nil
        }
    }
}

// MARK: - Helpers

/// Records whether any expectation failed, so the transcripts get printed.
private final class Verdict {
    var failed = false

    func expect(_ condition: Bool, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(condition, comment, sourceLocation: sourceLocation)
        if !condition { failed = true }
    }

    func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual == expected, "\(what)", sourceLocation: sourceLocation)
        if actual != expected { failed = true }
    }
}

private struct ClientOutcome: Decodable {
    let sport: Int
    let result: String
    let elapsed: Double
    let started: Double  // unix time of the connect()
}

// MARK: - The test

@Suite("tcpeek end-to-end with the kernel TCP stack", .serialized)
struct NamespaceCaptureTests {
    @Test("live capture on a veth counts every outcome of real IPv4 and IPv6 handshakes exactly",
          .enabled("needs root and network namespaces (probed with `ip netns add`)") {
              NetworkNamespaceLab.availability.shouldRun
          },
          .timeLimit(.minutes(2)))
    func liveCaptureCountsEveryOutcome() async throws {
        if let reason = NetworkNamespaceLab.availability.unavailableReason {
            Issue.record("CI=true and running as root, but the namespace lab cannot be built: \(reason)")
            return
        }
        let started = Date()
        var phases: [String] = []
        func phase(_ name: String) { phases.append(String(format: "%@ %.1f s", name, Date().timeIntervalSince(started))) }
        let binary = tcpeekBinary()
        try #require(FileManager.default.isExecutableFile(atPath: binary),
                     "tcpeek binary not found at \(binary) (build with `swift build --build-tests`, or set TCPEEK_BINARY)")
        let python = try #require(findTool("python3"), "python3 not found")
        let nft = try #require(findTool("nft"), "nft not found")
        let tcpdump = findTool("tcpdump")
        let clientScript = scriptsDirectory.appendingPathComponent("e2e_client.py").path
        let serverScript = scriptsDirectory.appendingPathComponent("e2e_server.py").path

        let lab = try NetworkNamespaceLab(serverRuleset: serverRuleset, clientSysctls: clientSysctls)
        defer { lab.teardown() }
        phase("lab built")
        let veth = NetworkNamespaceLab.serverInterface
        let verdict = Verdict()
        var transcripts: [ChildProcess] = []
        defer {
            if verdict.failed {
                print("===== end-to-end transcripts (namespaces \(lab.clientNamespace), \(lab.serverNamespace)) =====")
                for child in transcripts { print(child.transcript) }
            }
        }

        // Reference capture, to tell a lab problem from a tcpeek problem.
        var sniffer: ChildProcess?
        if let tcpdump {
            let child = try lab.spawn("tcpdump", in: lab.serverNamespace,
                                      [tcpdump, "-i", veth, "-n", "-l", "-tt", "-S", "-U", "tcp or icmp or icmp6"])
            transcripts.append(child)
            let ready = await child.wait(timeout: 10) { $0.stderr.text.contains("listening on \(veth)") }
            try #require(ready, "tcpdump did not start: \(child.transcript)")
            sniffer = child
        } else {
            print("EndToEndTests: tcpdump not installed; the wire itself is not cross-checked")
        }

        let server = try lab.spawn("server", in: lab.serverNamespace,
                                   [python, serverScript, String(Port.success), String(Port.synack)])
        transcripts.append(server)
        let serverReady = await server.wait(timeout: 10) { $0.stdout.text.hasPrefix("ready") }
        try #require(serverReady, "the test server did not start: \(server.transcript)")

        let databaseFolder = FileManager.default.temporaryDirectory
            .appendingPathComponent("tcpeek-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: databaseFolder) }
        let database = databaseFolder.appendingPathComponent("history.db").path
        let tcpeek = try lab.spawn("tcpeek", in: lab.serverNamespace,
                                   [binary, "record", "-i", veth, "--no-socket", "-t", String(captureTimeout), "--json-summary",
                                    "--db", database] + namedFilters)
        transcripts.append(tcpeek)
        let listening = await tcpeek.wait(timeout: 15) { child in
            child.stderr.lines.contains { $0.contains("listening on \(veth)") }
        }
        try #require(listening, "tcpeek did not log `listening on \(veth)`: \(tcpeek.transcript)")
        verdict.expect(tcpeek.stderr.lines.contains { $0.hasPrefix("listening on \(veth)") },
                       "the readiness line starts with `listening on \(veth)`")

        // All scenarios, both families, at once (~4.6 s).
        let plan: [String: Any] = [
            "targets": Family.allCases.map(\.server),
            "nft": nft, "table": "tcpk_e2e",
            "success": ["port": Port.success, "count": successCount],
            "reject": ["port": Port.reject, "count": rejectCount],
            "timeout": ["port": Port.timeout],
            "unreach": ["port": Port.unreach],
            "synack": ["port": Port.synack, "release": ackReleaseDelay, "hold": synackHold],
        ]
        let planJSON = String(decoding: try JSONSerialization.data(withJSONObject: plan), as: UTF8.self)
        phase("tcpeek listening")

        // Run the traffic while watching tcpeek's live lines, noting when each
        // one first shows up (to time how fast timeouts are reported).
        let client = try lab.spawn("client", in: lab.clientNamespace, [python, clientScript, "plan", planJSON])
        transcripts.append(client)
        let expectedLines = Family.allCases.count * (successCount + rejectCount + 3)
        var firstSeen: [String: Date] = [:]  // live line's SRC IP:PORT -> when the test first saw it
        let settled = await tcpeek.wait(timeout: 25) { child in
            let now = Date()
            for line in liveLines(child.stderr.lines) where firstSeen[line.source] == nil {
                firstSeen[line.source] = now
            }
            return !client.isRunning && firstSeen.count >= expectedLines
        }
        phase("all lines reported")
        try #require(client.waitForExit(timeout: 10), "the client did not finish: \(client.transcript)")
        try #require(client.exitStatus == 0, "the client failed: \(client.transcript)")
        verdict.expect(settled, "all \(expectedLines) live lines within 25 s (saw \(firstSeen.count))")
        let outcomes = try JSONDecoder().decode([String: [String: [ClientOutcome]]].self,
                                                from: Data(client.stdout.text.utf8))

        // The client side must have seen what the lab was built to produce.
        var sports: [Family: [String: [Int]]] = [:]
        var latencies: [String] = []
        for family in Family.allCases {
            let mine = try #require(outcomes[family.server], "client results for \(family): \(client.stdout.text)")
            for scenario in scenarios {
                let expectedCount = scenario.name == "success" ? successCount
                    : scenario.name == "reject" ? rejectCount : 1
                let got = mine[scenario.name] ?? []
                verdict.expectEqual(got.map(\.result), Array(repeating: scenario.clientResult, count: expectedCount),
                                    "lab: connect() results of \(scenario.name) over \(family)")
                sports[family, default: [:]][scenario.name] = got.map(\.sport)
            }
            // A timeout falls due -t seconds after the last SYN, the
            // retransmission 1 s after connect(); it must be reported within
            // about a second even though the interface is idle by then.
            for attempt in mine["timeout"] ?? [] {
                let due = Date(timeIntervalSince1970: attempt.started + 1.0 + Double(captureTimeout))
                guard let seen = firstSeen[family.endpoint(family.client, attempt.sport)] else { continue }
                let latency = seen.timeIntervalSince(due)
                latencies.append(String(format: "%@ %.2f s", family.description, latency))
                verdict.expect(latency < 2.0,
                               "the \(family) timeout is reported within about a second of falling due (took \(latency) s)")
            }
        }

        // One attempt still open at shutdown: must not be counted.
        let pending = try lab.spawn("pending", in: lab.clientNamespace,
                                    [python, clientScript, "pending", NetworkNamespaceLab.serverAddress4,
                                     String(Port.pending)])
        transcripts.append(pending)
        _ = await pending.wait(timeout: 5) { $0.stdout.text.hasSuffix("\n") }
        let pendingPort = Int(pending.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        if let sniffer {
            _ = await sniffer.wait(timeout: 3) { child in
                Wire(tcpdumpOutput: child.stdout.text).conversation(.v4, sport: pendingPort, port: Port.pending)
                    .contains("C:S")
            }
        }
        try await Task.sleep(for: .milliseconds(500))  // let tcpeek take the SYN in (the client repeats it every 0.5 s)

        phase("SIGINT")
        tcpeek.signal(SIGINT)
        let exited = tcpeek.waitForExit(timeout: 15)
        try #require(exited, "tcpeek did not exit within 15 s of SIGINT: \(tcpeek.transcript)")
        verdict.expectEqual(tcpeek.exitDescription, "exit status 0", "tcpeek's exit after SIGINT")
        sniffer?.stop(SIGINT)
        pending.stop(SIGKILL)
        phase("tcpeek exited")
        let stderr = tcpeek.stderr.lines
        let stdout = tcpeek.stdout.text

        // Live lines.
        verdict.expect(stderr.contains { $0.contains("TIME(s)") && $0.contains("RESULTS") && $0.contains("DUP S/A") },
                       "the live-line header is printed")
        let lines = liveLines(stderr)
        verdict.expectEqual(lines.count, expectedLines, "number of live lines")
        for family in Family.allCases {
            for scenario in scenarios {
                for sport in sports[family]?[scenario.name] ?? [] {
                    let source = family.endpoint(family.client, sport)
                    let matching = lines.filter { $0.source == source }
                    verdict.expectEqual(matching.count, 1, "live lines from \(source) (\(scenario.name))")
                    guard let line = matching.first else { continue }
                    verdict.expectEqual(line.destination, family.endpoint(family.server, scenario.port),
                                        "destination in `\(line.raw)`")
                    verdict.expectEqual(line.results, scenario.results, "RESULTS in `\(line.raw)`")
                    verdict.expectEqual(line.dupSyn, scenario.dupSyn, "DUP SYN in `\(line.raw)`")
                    verdict.expectEqual(line.dupSynAck, scenario.dupSynAck, "DUP S/A in `\(line.raw)`")
                    verdict.expect(scenario.time.contains(line.time),
                                   "TIME(s) \(line.time) of `\(line.raw)` within \(scenario.time)")
                    if scenario.results != "success" {
                        verdict.expect(line.cause != nil, "a failure's line ends with its cause: `\(line.raw)`")
                    }
                }
            }
            let familyLines = lines.filter { $0.source.hasPrefix(family == .v6 ? "[" : family.client + ":") }
            verdict.expectEqual(familyLines.count, expectedLines / 2, "\(family) live lines (IPv6 bracketed)")
        }
        verdict.expect(!lines.contains { $0.destination.hasSuffix(":\(Port.pending)") },
                       "no live line for the attempt still open at shutdown")
        for results in ["success", "failure (reject)", "failure (timeout)", "failure (unreach)"] {
            verdict.expect(lines.contains { $0.results == results }, "a live line says `\(results)`")
        }

        // JSON summary on stdout.
        let json = try #require(try? parseJSONSummary(stdout), "stdout is not the JSON summary: `\(stdout)`")
        verdict.expectEqual(json.order, expectedFilters.map(\.0) + ["pcap"], "JSON summary elements, in order")
        for (name, expected) in expectedFilters {
            verdict.expectEqual(json.filters[name], expected, "JSON counts of \(name)")
        }
        verdict.expectEqual(json.filters["RX"]?.dupsynack, Family.allCases.count,
                            "RX success.dupsynack == successful sessions with a retransmitted SYN/ACK")
        verdict.expectEqual(json.pcap?.drop, 0, "pcap drop")
        verdict.expect((json.pcap?.recv ?? 0) > 0, "pcap recv > 0 (\(String(describing: json.pcap)))")

        // The history: on SIGINT every closed session is in the database
        // before exit, counted by the same filters as the summary.
        if let sqlite = ["/usr/bin/sqlite3", "/bin/sqlite3"].first(where: FileManager.default.isExecutableFile) {
            let rows = try runSQL(sqlite, database, "SELECT count(*) FROM sessions")
            verdict.expectEqual(Int(rows), perFamily(families: 2).success + perFamily(families: 2).failure,
                                "sessions rows == attempts closed (\(database))")
            for (name, expected) in expectedFilters {
                let counted = try runSQL(sqlite, database,
                                         "SELECT count(*) FROM session_filters WHERE filter = '\(name)'")
                verdict.expectEqual(Int(counted), expected.success + expected.failure, "session_filters rows of \(name)")
            }
        } else {
            Issue.record("sqlite3 is not installed: the history written by the live capture is not checked")
        }

        // Text summary on stderr.
        verdict.expect(stderr.contains { $0.contains("========== TCPEEK SUMMARY ==========") },
                       "the text summary banner is printed")
        for (name, expected) in expectedFilters {
            verdict.expectEqual(textSummaryBlock(name, in: stderr), expected, "text summary block ` \(name)`")
        }
        let rxSuccess = perFamily(families: 2).success
        verdict.expect(stderr.contains { $0.contains("Success: \(rxSuccess) session") },
                       "the summary says `Success: \(rxSuccess) session`")
        verdict.expectEqual(textPcapStats(in: stderr)?.drop, 0, "text summary pcap drop")
        // SPEC §1: on shutdown the summary says how many attempts were still
        // open (the 8085 one); the wording is free, so look for "open" and 1.
        let summaryLines = stderr.drop { !$0.contains("TCPEEK SUMMARY") }
        verdict.expect(summaryLines.contains { $0.lowercased().contains("open") && $0.contains(#/\b1\b/#) },
                       "the summary says 1 attempt was still open at shutdown")

        // The wire (lab self-check), when tcpdump ran.
        if let sniffer {
            let wire = Wire(tcpdumpOutput: sniffer.stdout.text)
            for family in Family.allCases {
                let expectedWire: [String: [String]] = [
                    "success": ["C:S", "S:S.", "C:."],
                    "reject": ["C:S", "S:R."],
                    "timeout": ["C:S", "C:S"],
                    "unreach": ["C:S", "C:S"],
                    "synack": ["C:S", "S:S.", "S:S.", "S:S.", "C:."],
                ]
                for (scenario, prefix) in expectedWire {
                    for sport in sports[family]?[scenario] ?? [] {
                        let conversation = wire.conversation(family, sport: sport, port: scenarioPort(scenario))
                        verdict.expectEqual(Array(conversation.prefix(prefix.count)), prefix,
                                            "lab: wire of \(scenario) from port \(sport) over \(family): \(conversation)")
                        if scenario == "timeout" || scenario == "unreach" {
                            verdict.expectEqual(conversation.count, 2, "lab: SYNs of \(scenario) over \(family)")
                        }
                    }
                }
                verdict.expectEqual(wire.icmpUnreachable[family, default: 0], 1,
                                    "lab: ICMP port unreachables over \(family)")
            }
            verdict.expect(wire.conversation(.v4, sport: pendingPort, port: Port.pending).contains("C:S"),
                           "lab: the pending attempt's SYN was on the wire before SIGINT")
        }

        lab.teardown()
        phase("torn down")
        print("EndToEndTests: namespace capture test: " + phases.joined(separator: ", ")
            + "; timeout reporting latency " + latencies.joined(separator: ", "))
    }
}

/// Runs one query with the sqlite3 shell and returns its trimmed output.
private func runSQL(_ sqlite: String, _ database: String, _ sql: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: sqlite)
    process.arguments = [database, sql]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

private func scenarioPort(_ name: String) -> Int {
    scenarios.first { $0.name == name }?.port ?? -1
}
