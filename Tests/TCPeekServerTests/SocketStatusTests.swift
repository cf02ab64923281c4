// The socket's STATUS request: in process against figures the test
// controls (the exact JSON), and over a recorded SYN flood with a small
// --max-pending (served with --stay), where STATUS must say what the
// summary's "attempts" block says; tcpeekstat --status prints the same.
import Foundation
import TCPeekCore
import TCPeekServer
import TCPeekStore
import TCPeekWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The number after `label` on a summary line such as `   evicted           : 19000`.
private func summaryFigure(_ label: String, in text: String) -> Int? {
    guard let banner = text.range(of: "TCPEEK SUMMARY") else { return nil }
    for line in text[banner.upperBound...].split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == label else { continue }
        return Int(parts[1].trimmingCharacters(in: .whitespaces))
    }
    return nil
}

/// The `attempts` object of a STATUS answer.
private func statusAttempts(_ answer: [String: Any]) -> [String: Any] {
    answer["attempts"] as? [String: Any] ?? [:]
}

@Suite("socket STATUS")
struct SocketStatusTests {
    @Test("STATUS answers the snapshot's open, evicted and malformed figures and libpcap's; GET keeps its shape")
    func inProcess() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["RX", "TX"])
        let before = Date().timeIntervalSince1970
        let server = try socketStart(capture, path: folder.file("s.sock"))
        defer { server.stop() }
        let after = Date().timeIntervalSince1970

        // Nothing captured yet: zeros, no packet times, no libpcap figures, no database.
        let empty = try await socketAskAsync(server.path, "STATUS")
        #expect(empty.hasPrefix(#"{"source":{"kind":"interface","name":"test"},"started":""#), "\(empty)")
        #expect(empty.hasSuffix(#","first_packet":null,"last_packet":null,"packets":0,"#
            + #""attempts":{"open":0,"evicted":0,"malformed_packets":0,"not_recorded":null},"#
            + #""pcap":null,"version":"0.1.0","libpcap":"libpcap (test)"}"# + "\n"), "\(empty)")
        let started = try #require((try socketJSON(empty) as? [String: Any])?["started"] as? String)
        let startedAt = try #require(isoMicroseconds(started), "\(started)")
        #expect(Double(startedAt.microseconds) >= (before * 1_000_000).rounded(.down) - 1
            && Double(startedAt.microseconds) <= after * 1_000_000 + 1, "\(started)")

        capture.change { snapshot in
            snapshot.openAttempts = 4321
            snapshot.tracker.evicted = 98_765
            for _ in 0..<3 { snapshot.decode.count(.malformed(.badIPVersion)) }
            snapshot.decode.count(.malformed(.truncatedTCPHeader))
            snapshot.decode.count(.ignored)
            snapshot.capture = CaptureStatistics(received: 1000, dropped: 2, interfaceDropped: 1)
            snapshot.firstPacket = Timestamp(seconds: 1_700_000_000)
            snapshot.lastPacket = Timestamp(seconds: 1_700_000_010, microseconds: 500_000)
        }
        capture.record([socketSession(.success, at: Timestamp(seconds: 1_700_000_001))])
        let status = try await socketAskAsync(server.path, "status\r")
        #expect(status.hasSuffix(#","first_packet":"2023-11-14T22:13:20Z","last_packet":"2023-11-14T22:13:30.500000Z","#
            + #""packets":5,"attempts":{"open":4321,"evicted":98765,"malformed_packets":4,"not_recorded":null},"#
            + #""pcap":{"recv":1000,"drop":2,"ifdrop":1},"version":"0.1.0","libpcap":"libpcap (test)"}"# + "\n"), "\(status)")
        // One shape: the answer is SocketStatus's JSON of the same figures.
        let expected = SocketStatus(
            sourceKind: "interface", source: "test",
            startedAt: startedAt,
            firstPacket: Timestamp(seconds: 1_700_000_000), lastPacket: Timestamp(seconds: 1_700_000_010, microseconds: 500_000),
            packets: 5, openAttempts: 4321, evicted: 98_765, malformedPackets: 4, notRecorded: nil,
            capture: CaptureStatistics(received: 1000, dropped: 2, interfaceDropped: 1),
            version: "0.1.0", libpcapVersion: "libpcap (test)")
        #expect(status == expected.json + "\n")

        // GET is untouched: the original's shape, no trace of evictions.
        let get = try await socketAskAsync(server.path, "GET")
        let current = capture.current
        #expect(get == CountsAnswer.getJSON(filters: capture.filters, counters: current.counters,
                                      capture: current.capture) + "\n")
        #expect(!get.contains("evicted"))

        // STATUS takes no argument, like GET.
        #expect(socketError(try await socketAskAsync(server.path, "STATUS now")) == "STATUS takes no argument, got 'now'")
    }

    @Test("a file read with a database: kind file, not_recorded a number")
    func fileWithDatabase() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["ALL"], databasePath: folder.file("h.db"))
        let server = try socketStart(capture, path: folder.file("s.sock"), isLive: false)
        defer { server.stop() }
        let answer = try #require(try socketJSON(try await socketAskAsync(server.path, "STATUS")) as? [String: Any])
        #expect(answer["source"] as? [String: String] == ["kind": "file", "name": "test"])
        #expect(statusAttempts(answer)["not_recorded"] as? Int == 0)
        #expect(answer["pcap"] is NSNull)
    }

    @Test("over a recorded SYN flood with --max-pending 1000: STATUS says what the summary says; tcpeekstat --status too",
          .timeLimit(.minutes(2)))
    func floodFile() async throws {
        let synthesizer = SocketTestPaths.binaries.appendingPathComponent("tcpeek-synth").path
        try #require(FileManager.default.isExecutableFile(atPath: synthesizer),
                     "no tcpeek-synth next to the tests at \(synthesizer): build with swift build --build-tests")
        let folder = try SocketTempFolder()
        let flood = 20_000, legit = 200, maxPending = 1000
        let capture = folder.file("flood.pcap")
        let synth = try await socketRun([synthesizer, "--mode", "flood", "--attempts", String(flood), "--legit", String(legit),
                                         "--duration", "2", "--output", capture], folder: folder, timeout: 60)
        try #require(synth.status == 0, "\(synth.stderr)")
        let expected = try #require(try socketJSON(synth.stdout) as? [String: Any])
        #expect(expected["timeout"] as? Int == flood && expected["success"] as? Int == legit)

        let socket = folder.file("t.sock")
        let tcpeek = try SocketChild([SocketTestPaths.tcpeek, "record", "-r", capture, "-q", "-U", socket,
                                      "--db", folder.file("t.db"), "--stay", "--json-summary",
                                      "--max-pending", String(maxPending)], folder: folder, name: "tcpeek")
        defer { tcpeek.stop() }
        let serving = await tcpeek.wait(timeout: 60) { $0.stderr.contains("serving the socket \(socket) until SIGINT or SIGTERM") }
        try #require(serving, "\(tcpeek.transcript)")
        let summary = tcpeek.stderr

        let text = try await socketAskAsync(socket, "STATUS")
        let answer = try #require(try socketJSON(text) as? [String: Any], "\(text)")
        let attempts = statusAttempts(answer)
        let evicted = try #require(attempts["evicted"] as? Int, "\(text)")
        let summaryEvicted = try #require(summaryFigure("evicted", in: summary), "\(summary)")
        #expect(evicted == summaryEvicted)
        // The table holds at most 1000: the rest of the flood was evicted
        // (the legitimate handshakes take room for a while too).
        #expect(evicted >= flood - maxPending && evicted <= flood - maxPending + legit, "evicted \(evicted)")
        #expect(attempts["open"] as? Int == summaryFigure("still open", in: summary))
        #expect(attempts["open"] as? Int == 0)  // closed as timeout at the end of the file
        #expect(attempts["malformed_packets"] as? Int == summaryFigure("malformed packets", in: summary))
        #expect(attempts["malformed_packets"] as? Int == 0)
        #expect(attempts["not_recorded"] as? Int == summaryFigure("not recorded", in: summary))
        #expect(attempts["not_recorded"] as? Int == 0)
        #expect(answer["source"] as? [String: String] == ["kind": "file", "name": capture])
        #expect(answer["pcap"] is NSNull)  // libpcap keeps no statistics for a file; the summary shows none
        #expect(!summary.contains("pcap stats"))
        #expect(answer["packets"] as? Int == flood + 8 * legit)  // one SYN each; 8 packets per handshake
        // tcpeek-synth starts at 2024-01-01T00:00:00Z and spreads the flood over 2 s.
        #expect((answer["first_packet"] as? String)?.hasPrefix("2024-01-01T00:00:00") == true, "\(text)")
        #expect((answer["last_packet"] as? String)?.hasPrefix("2024-01-01T00:00:02") == true, "\(text)")

        // GET beside it: byte for byte the JSON summary, every flood SYN a timeout.
        let get = try await socketAskAsync(socket, "GET")
        #expect(get == tcpeek.stdout)
        let all = try #require((try socketJSON(get) as? [[String: Any]])?.first?["ALL"] as? [String: [String: Int]])
        #expect(all["success"]?["total"] == legit)
        #expect(all["failure"]?["timeout"] == flood)

        // tcpeekstat --status: the same figures, readable and as JSON.
        let readable = try await socketRun([SocketTestPaths.tcpeekstat, "-U", socket, "--status"], folder: folder)
        #expect(readable.status == 0, "\(readable.stderr)")
        let lines = readable.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("evicted           : \(evicted)"), "\(readable.stdout)")
        #expect(lines.contains("still open        : 0"), "\(readable.stdout)")
        #expect(lines.contains("malformed packets : 0"), "\(readable.stdout)")
        #expect(lines.contains("not recorded      : 0"), "\(readable.stdout)")
        #expect(lines.contains("source            : file \(capture)"), "\(readable.stdout)")
        #expect(lines.contains("packets           : \(flood + 8 * legit)"), "\(readable.stdout)")
        #expect(!lines.contains { $0.hasPrefix("pcap") }, "\(readable.stdout)")
        let json = try await socketRun([SocketTestPaths.tcpeekstat, "-U", socket, "--status", "-j"], folder: folder)
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.stdout == text)
        for arguments in [["--status", "-w", "5m"], ["--status", "--since", "1h"], ["--status", "-g"]] {
            let refused = try await socketRun([SocketTestPaths.tcpeekstat, "-U", socket] + arguments, folder: folder)
            #expect(refused.status == 64, "\(arguments): \(refused.stderr)")
        }

        tcpeek.signal(SIGTERM)
        #expect(await tcpeek.waitForExit(timeout: 10) == 0, "\(tcpeek.transcript)")
        print("socket STATUS: \(flood) flood SYNs + \(legit) handshakes read with --max-pending \(maxPending): "
            + "evicted \(evicted) (summary \(summaryEvicted))")
    }

    @Test("tcpeekstat --status without a database and with libpcap's figures; a stranger's JSON is refused")
    func tcpeekstatStatusShapes() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["RX"])
        capture.change { snapshot in
            snapshot.openAttempts = 7
            snapshot.tracker.evicted = 12
            snapshot.capture = CaptureStatistics(received: 50, dropped: 3, interfaceDropped: 0)
        }
        let server = try socketStart(capture, path: folder.file("s.sock"))
        defer { server.stop() }
        let result = try await socketRun([SocketTestPaths.tcpeekstat, "-U", server.path, "--status"], folder: folder)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("source            : interface test"), "\(result.stdout)")
        #expect(lines.contains("first packet      : -"), "\(result.stdout)")
        #expect(lines.contains("still open        : 7"), "\(result.stdout)")
        #expect(lines.contains("evicted           : 12"), "\(result.stdout)")
        #expect(lines.contains("not recorded      : - (no database)"), "\(result.stdout)")
        #expect(lines.contains("pcap              : recv 50, drop 3, ifdrop 0"), "\(result.stdout)")
        #expect(lines.last == "version           : tcpeek 0.1.0, libpcap (test)", "\(result.stdout)")

        let peer = try TcpeekstatFakePeer(path: folder.file("json.sock"), reply: #"{"attempts":{"open":1}}"#)
        let stranger = try await socketRun([SocketTestPaths.tcpeekstat, "-U", peer.path, "--status"], folder: folder)
        #expect(stranger.status == 1)
        #expect(stranger.stderr.contains("does not answer like tcpeek (unexpected JSON)"), "\(stranger.stderr)")
    }
}

/// `2026-11-27T10:00:00Z` or `2026-11-27T10:00:00.123456Z` (HistoryJSON.isoTime) to the microsecond.
private func isoMicroseconds(_ text: String) -> Timestamp? {
    guard text.hasSuffix("Z") else { return nil }
    let parts = text.dropLast().split(separator: ".", maxSplits: 1)
    guard let base = ISO8601DateFormatter().date(from: parts[0] + "Z") else { return nil }
    var micros = Int64(base.timeIntervalSince1970.rounded()) * 1_000_000
    if parts.count == 2 {
        guard parts[1].count == 6, let fraction = Int64(parts[1]) else { return nil }
        micros += fraction
    }
    return Timestamp(microseconds: micros)
}
