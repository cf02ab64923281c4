// End-to-end: a SYN flood, live, in the namespace lab (issue 6 item 4).
//
// A raw-socket sender in the client namespace (Scripts/syn_flood.py) sends
// up to 200,000 distinct SYNs (20,000 a second, at most 18 s), from spoofed sources inside
// 198.51.100.0/24 to ports 9000-9099 of the server, where nftables drops them
// (no RST, no SYN/ACK: every one stays open until evicted). tcpeek records
// live on the server's veth with --max-pending 5000, its socket and its
// metrics on, while real kernel handshakes (Scripts/e2e_client.py against
// Scripts/e2e_server.py) run interleaved with the flood.
//
// Checked: tcpeek keeps running, its socket answers GET and STATUS during and
// after the flood, STATUS shows evictions and at most 5000 open attempts,
// every flood SYN is either evicted or still open, the metrics'
// tcpeek_evicted_attempts_total equals STATUS's figure once the capture has
// settled, every legitimate handshake is counted as a success (exact
// counts), and after SIGINT the summary's evicted and still-open figures
// equal STATUS's.
//
// The plan's SYN/ACK-retransmission handshakes (open ~3 s, far longer than a
// flood SYN lives in a 5000-slot table at this rate) complete before the
// flood starts; the plain handshakes go on through it.

import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

private enum FloodPlan {
    static let maxPending = 5000
    /// SYNs the sender may send, and for how long at most.
    static let count = 200_000
    static let seconds = 18.0
    /// About 10 s at this rate: the flood outlasts the plain handshakes.
    static let rate = 20_000
    /// Ports the server drops (the flood's destinations).
    static let floodPorts = "9000-9099"
    static let successPort = 8080
    static let rejectPort = 8081
    static let synackPort = 8084
    /// The plan's timeout and unreach scenarios run no attempt (count 0).
    static let unusedPort = 8089
    /// Plain handshakes per family, 50 ms apart (e2e_client.py): ~7.5 s.
    static let successCount = 150
    static let rejectCount = 2
    static let metricsAddress = "127.0.0.1:9465"
    static let hostLabel = "flood-lab"
}

private let floodRuleset = """
    table inet tcpk_flood {
      chain input {
        type filter hook input priority 0; policy accept;
        tcp dport \(FloodPlan.floodPorts) drop
      }
    }

    """

private let floodFilters = ["web:RX@*:\(FloodPlan.successPort)", "synack:RX@*:\(FloodPlan.synackPort)"]

// MARK: - Socket and metrics clients

/// Runs blocking work on a thread of its own, off Swift's shared pool.
private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}

/// One request over tcpeek's UNIX socket (a path in the shared file system:
/// reachable from the test's namespace); the whole answer.
private func askSocket(_ path: String, _ request: String, timeout: Int = 5) throws -> String {
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard descriptor >= 0 else { throw LabError("socket(): \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var time = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard connected == 0 else { throw LabError("connect(\(path)): \(String(cString: strerror(errno)))") }
    let line = Array((request + "\n").utf8)
    guard line.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == line.count else {
        throw LabError("send(\(request)): \(String(cString: strerror(errno)))")
    }
    var answer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count == 0 { break }
        if count < 0 {
            if errno == EINTR { continue }
            throw LabError("recv(\(request)): \(String(cString: strerror(errno))) after \(answer.count) bytes")
        }
        answer.append(contentsOf: chunk[..<count])
    }
    return String(decoding: answer, as: UTF8.self)
}

/// STATUS and GET, parsed.
private struct FloodFigures: CustomStringConvertible {
    var status: [String: Any]
    var get: [[String: Any]]

    var attempts: [String: Any] { status["attempts"] as? [String: Any] ?? [:] }
    var open: Int? { attempts["open"] as? Int }
    var evicted: Int? { attempts["evicted"] as? Int }
    var packets: Int? { status["packets"] as? Int }
    var pcap: [String: Int]? { status["pcap"] as? [String: Int] }

    /// `section.item` of filter `name` in GET.
    func count(_ name: String, _ section: String, _ item: String) -> Int? {
        for element in get {
            if let body = element[name] as? [String: [String: Int]] { return body[section]?[item] }
        }
        return nil
    }

    var description: String {
        "open \(open.map(String.init) ?? "?"), evicted \(evicted.map(String.init) ?? "?"), "
            + "packets \(packets.map(String.init) ?? "?"), pcap \(pcap.map { "\($0)" } ?? "?"), "
            + "RX success \(count("RX", "success", "total").map(String.init) ?? "?")"
    }
}

private func askFigures(_ path: String) async throws -> FloodFigures {
    let (statusText, getText) = try await offPool { (try askSocket(path, "STATUS"), try askSocket(path, "GET")) }
    guard let status = try JSONSerialization.jsonObject(with: Data(statusText.utf8)) as? [String: Any],
          status["attempts"] != nil else { throw LabError("STATUS is not the status object: \(statusText)") }
    guard let get = try JSONSerialization.jsonObject(with: Data(getText.utf8)) as? [[String: Any]] else {
        throw LabError("GET is not the original's array: \(getText)")
    }
    return FloodFigures(status: status, get: get)
}

/// The value of the series `name{...}` in a Prometheus text exposition.
private func metricValue(_ exposition: String, _ series: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1).split(separator: " ").first ?? "")
    }
    return nil
}

/// The number after `label` in the text summary (`   evicted           : 195000`).
private func floodSummaryValue(_ label: String, in text: String) -> Int? {
    guard let banner = text.range(of: "TCPEEK SUMMARY") else { return nil }
    for line in text[banner.upperBound...].split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == label {
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }
    }
    return nil
}

/// Records whether any expectation failed, so the transcripts get printed.
private final class FloodVerdict {
    var failed = false

    func expect(_ condition: Bool, _ comment: Comment = "", sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(condition, comment, sourceLocation: sourceLocation)
        if !condition { failed = true }
    }
}

private struct FloodSent: Decodable {
    let sent: Int
    let seconds: Double
    let distinct: Int
    let errors: Int
}

// MARK: - The test

// Nested in NamespaceCaptureTests, whose `.serialized` applies to nested
// suites too: both build the lab, whose namespaces are named after the
// process (tcpk-c-<pid>, tcpk-s-<pid>), so they must never run at once.
extension NamespaceCaptureTests {
    @Suite("tcpeek end-to-end: a live SYN flood")
    struct SynFloodLiveTests {
        @Test("a raw-socket SYN flood into the lab: no crash, a live socket, evictions in STATUS, metrics and summary, legitimate handshakes intact",
              .enabled("needs root and network namespaces (probed with `ip netns add`)") {
                  NetworkNamespaceLab.availability.shouldRun
              },
              .timeLimit(.minutes(2)))
        func liveFlood() async throws {
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
            let clientScript = scriptsDirectory.appendingPathComponent("e2e_client.py").path
            let serverScript = scriptsDirectory.appendingPathComponent("e2e_server.py").path
            let floodScript = scriptsDirectory.appendingPathComponent("syn_flood.py").path

            var template = Array("/tmp/tcpk-flood-XXXXXX".utf8CString)
            let folder = try #require(mkdtemp(&template).map { String(cString: $0) }, "mkdtemp failed")
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let socketPath = folder + "/tcpeek.sock"

            let lab = try NetworkNamespaceLab(serverRuleset: floodRuleset, clientSysctls: [])
            defer { lab.teardown() }
            phase("lab built")
            let verdict = FloodVerdict()
            var transcripts: [ChildProcess] = []
            var finished = false  // false when a #require stopped the test
            defer {
                if verdict.failed || !finished {
                    print("===== SYN flood transcripts (namespaces \(lab.clientNamespace), \(lab.serverNamespace)) =====")
                    for child in transcripts {
                        let text = child.transcript
                        print(text.count > 20_000 ? "[...]" + String(text.suffix(20_000)) : text)
                    }
                }
            }

            let server = try lab.spawn("server", in: lab.serverNamespace,
                                       [python, serverScript, String(FloodPlan.successPort), String(FloodPlan.synackPort)])
            transcripts.append(server)
            let serverReady = await server.wait(timeout: 10) { $0.stdout.text.hasPrefix("ready") }
            try #require(serverReady, "the test server did not start: \(server.transcript)")

            let veth = NetworkNamespaceLab.serverInterface
            let tcpeek = try lab.spawn("tcpeek", in: lab.serverNamespace, [
                binary, "record", "-i", veth, "-q", "--no-db", "-U", socketPath, "--max-pending", String(FloodPlan.maxPending),
                "-B", "32", "--metrics-listen", FloodPlan.metricsAddress, "--host-label", FloodPlan.hostLabel, "--json-summary",
            ] + floodFilters)
            transcripts.append(tcpeek)
            let serving = await tcpeek.wait(timeout: 15) { child in
                child.stderr.text.contains("listening on \(veth)") && child.stderr.text.contains("serving Prometheus metrics")
            }
            try #require(serving, "tcpeek did not start capturing and serving metrics: \(tcpeek.transcript)")
            var initial: FloodFigures?
            for _ in 0..<100 where initial == nil {
                initial = try? await askFigures(socketPath)
                if initial == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            try #require(initial != nil, "tcpeek's socket does not answer: \(tcpeek.transcript)")
            verdict.expect(initial?.status["source"] as? [String: String] == ["kind": "interface", "name": veth])
            phase("tcpeek serving")

            // The legitimate traffic (~7.5 s): plain handshakes and rejects over
            // both families, and the SYN/ACK-retransmission one per family.
            let plan: [String: Any] = [
                "targets": [NetworkNamespaceLab.serverAddress4, NetworkNamespaceLab.serverAddress6],
                "nft": nft, "table": "tcpk_flood_client",
                "success": ["port": FloodPlan.successPort, "count": FloodPlan.successCount],
                "reject": ["port": FloodPlan.rejectPort, "count": FloodPlan.rejectCount],
                "timeout": ["port": FloodPlan.unusedPort, "count": 0],
                "unreach": ["port": FloodPlan.unusedPort, "count": 0],
                "synack": ["port": FloodPlan.synackPort, "release": 2.0, "hold": 4.5],
            ]
            let planJSON = String(decoding: try JSONSerialization.data(withJSONObject: plan), as: UTF8.self)
            let client = try lab.spawn("client", in: lab.clientNamespace, [python, clientScript, "plan", planJSON])
            transcripts.append(client)

            // The SYN/ACK-retransmission handshakes stay open ~3 s: let them
            // complete before the flood, which evicts anything that old.
            var beforeFlood: FloodFigures?
            let synackDeadline = Date().addingTimeInterval(15)
            while Date() < synackDeadline {
                beforeFlood = try await askFigures(socketPath)
                if beforeFlood?.count("synack", "success", "total") == 2 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            try #require(beforeFlood?.count("synack", "success", "total") == 2,
                         "the SYN/ACK-retransmission handshakes did not complete: \(String(describing: beforeFlood))\n\(client.transcript)")
            let webBeforeFlood = beforeFlood?.count("web", "success", "total") ?? 0
            phase("flood starts")

            let seed = Int(getpid())
            let flood = try lab.spawn("flood", in: lab.clientNamespace, [
                python, floodScript, "--target", NetworkNamespaceLab.serverAddress4, "--count", String(FloodPlan.count),
                "--seconds", String(FloodPlan.seconds), "--rate", String(FloodPlan.rate), "--ports", FloodPlan.floodPorts,
                "--seed", String(seed),
            ])
            transcripts.append(flood)

            // During the flood: tcpeek runs, GET and STATUS answer, the table stays bounded.
            var polls = 0, maxOpen = 0, evictedDuring = 0, webDuringFlood = webBeforeFlood
            while flood.isRunning, Date().timeIntervalSince(started) < 50 {
                try await Task.sleep(for: .milliseconds(400))
                verdict.expect(tcpeek.isRunning, "tcpeek stopped during the flood: \(tcpeek.exitDescription)")
                guard tcpeek.isRunning else { break }
                let figures = try await askFigures(socketPath)
                polls += 1
                maxOpen = max(maxOpen, figures.open ?? Int.max)
                evictedDuring = max(evictedDuring, figures.evicted ?? 0)
                if flood.isRunning { webDuringFlood = figures.count("web", "success", "total") ?? webDuringFlood }
                verdict.expect((figures.open ?? Int.max) <= FloodPlan.maxPending, "open attempts during the flood: \(figures)")
            }
            try #require(flood.waitForExit(timeout: 10), "the flood sender did not stop: \(flood.transcript)")
            phase("flood sent")
            verdict.expect(flood.exitStatus == 0, "\(flood.transcript)")
            let sent = try JSONDecoder().decode(FloodSent.self, from: Data(flood.stdout.text.utf8))
            verdict.expect(sent.sent > FloodPlan.maxPending * 4, "the sender sent \(sent.sent) SYNs in \(sent.seconds) s")
            verdict.expect(sent.distinct == sent.sent)
            verdict.expect(polls > 0 && evictedDuring > 0, "STATUS showed evictions while the flood ran (\(polls) polls)")
            let handshakesDuringFlood = webDuringFlood - webBeforeFlood
            verdict.expect(handshakesDuringFlood > 0, "legitimate handshakes completed while the flood ran")
            try #require(client.waitForExit(timeout: 20), "the legitimate client did not finish: \(client.transcript)")
            verdict.expect(client.exitStatus == 0, "\(client.transcript)")
            let outcomes = try #require(
                try JSONSerialization.jsonObject(with: Data(client.stdout.text.utf8)) as? [String: [String: [[String: Any]]]],
                "client output: \(client.transcript)")
            for target in [NetworkNamespaceLab.serverAddress4, NetworkNamespaceLab.serverAddress6] {
                let mine = outcomes[target] ?? [:]
                func results(_ scenario: String) -> [String?]? { mine[scenario]?.map { $0["result"] as? String } }
                verdict.expect(results("success") == Array(repeating: "ok", count: FloodPlan.successCount),
                               "lab: the plain connects to \(target) all succeeded")
                verdict.expect(results("reject") == Array(repeating: "ECONNREFUSED", count: FloodPlan.rejectCount),
                               "lab: the connects to the closed port of \(target) were refused")
                verdict.expect(results("synack") == ["ok"], "lab: the SYN/ACK-retransmission connect to \(target)")
            }

            // Settled: no packet arrives any more; two STATUS answers over more
            // than the capture's publishing interval (500 ms) agree.
            let expectedSuccess = 2 * FloodPlan.successCount + 2
            var settled: FloodFigures?
            var previous: FloodFigures?
            let settleDeadline = Date().addingTimeInterval(10)
            while Date() < settleDeadline {
                let figures = try await askFigures(socketPath)
                if let previous, previous.packets == figures.packets, previous.evicted == figures.evicted,
                   previous.open == figures.open, figures.count("RX", "success", "total") == expectedSuccess {
                    settled = figures
                    break
                }
                previous = figures
                try await Task.sleep(for: .milliseconds(700))
            }
            let after = try #require(settled, "the capture did not settle: \(String(describing: previous))")
            phase("settled")
            let evicted = try #require(after.evicted), open = try #require(after.open)
            verdict.expect(evicted > 0)
            verdict.expect(open <= FloodPlan.maxPending)
            verdict.expect(after.pcap?["drop"] == 0, "libpcap dropped packets: \(after)")
            // Every flood SYN was seen: evicted, or open still (-t 60: none timed out).
            verdict.expect(evicted + open == sent.sent, "evicted \(evicted) + open \(open) vs \(sent.sent) SYNs sent")

            // The legitimate handshakes, exactly; the flood only as timeouts (evictions).
            verdict.expect(after.count("RX", "success", "total") == expectedSuccess)
            verdict.expect(after.count("RX", "success", "dupsynack") == 2)
            verdict.expect(after.count("web", "success", "total") == 2 * FloodPlan.successCount)
            verdict.expect(after.count("synack", "success", "total") == 2)
            verdict.expect(after.count("RX", "failure", "reject") == 2 * FloodPlan.rejectCount, "no RST answered the flood")
            verdict.expect(after.count("RX", "failure", "timeout") == evicted)
            verdict.expect(after.count("RX", "failure", "total") == evicted + 2 * FloodPlan.rejectCount)

            // The metrics say the same as STATUS.
            let scraper = "import urllib.request; print(urllib.request.urlopen("
                + "'http://\(FloodPlan.metricsAddress)/metrics', timeout=5).read().decode(), end='')"
            let scrape = try lab.mustRun(lab.inNamespace(lab.serverNamespace, [python, "-c", scraper]))
            let host = "{host=\"\(FloodPlan.hostLabel)\"}"
            verdict.expect(metricValue(scrape.stdout, "tcpeek_evicted_attempts_total" + host) == Double(evicted),
                           "tcpeek_evicted_attempts_total vs STATUS's \(evicted)")
            verdict.expect(metricValue(scrape.stdout, "tcpeek_open_attempts" + host) == Double(open))
            let final = try await askFigures(socketPath)
            verdict.expect(final.evicted == evicted && final.open == open, "STATUS after the scrape: \(final)")

            // SIGINT: the summary's figures are STATUS's.
            tcpeek.signal(SIGINT)
            let exited = tcpeek.waitForExit(timeout: 15)
            verdict.expect(exited, "tcpeek did not exit within 15 s of SIGINT")
            verdict.expect(tcpeek.exitDescription == "exit status 0", "tcpeek's exit after SIGINT")
            phase("tcpeek exited")
            let summary = tcpeek.stderr.text
            verdict.expect(floodSummaryValue("evicted", in: summary) == evicted, "summary vs STATUS's evicted \(evicted)")
            verdict.expect(floodSummaryValue("still open", in: summary) == open, "summary vs STATUS's open \(open)")
            verdict.expect(floodSummaryValue("malformed packets", in: summary) == after.attempts["malformed_packets"] as? Int)
            let json = try? JSONSerialization.jsonObject(with: Data(tcpeek.stdout.text.utf8)) as? [[String: Any]]
            let rx = json?.first?["RX"] as? [String: [String: Int]]
            verdict.expect(rx?["success"]?["total"] == expectedSuccess, "JSON summary: \(tcpeek.stdout.text)")
            verdict.expect(rx?["failure"]?["timeout"] == evicted, "JSON summary: \(tcpeek.stdout.text)")
            verdict.expect(!FileManager.default.fileExists(atPath: socketPath), "the socket file is removed on exit")

            finished = true
            lab.teardown()
            phase("torn down")
            print("SYN flood live: \(sent.sent) SYNs in \(String(format: "%.1f", sent.seconds)) s + \(expectedSuccess) handshakes "
                + "(at least \(handshakesDuringFlood) during the flood), --max-pending \(FloodPlan.maxPending): "
                + "evicted \(evicted), open \(open), max open seen \(maxOpen), \(polls) socket polls during the flood, "
                + "pcap recv \(after.pcap?["recv"] ?? -1) drop \(after.pcap?["drop"] ?? -1); "
                + phases.joined(separator: ", "))
        }
    }
}
