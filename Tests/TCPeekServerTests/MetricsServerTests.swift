// The exporter and the HTTP server in process: figures and histogram,
// bounded cardinality, formats, routes, promtool's verdict.

import Foundation
import Logging
import Synchronization
import TCPeekCore
import Testing
@testable import TCPeekServer

/// A capture's figures that a test changes while the server reads them.
final class MetricsFakeCapture: Sendable {
    let filters: [Filter]
    private let state: Mutex<(snapshot: CaptureSnapshot, notRecorded: UInt64)>

    init(filterNames: [String]) {
        filters = filterNames.map { Filter(name: $0, direction: .any, rules: [.any], expression: "\($0):ANY@*:*") }
        state = Mutex((CaptureSnapshot(counters: Counters(filterCount: filterNames.count)), 0))
    }

    func record(_ sessions: [Session]) {
        state.withLock { for session in sessions { $0.snapshot.counters.record(session) } }
    }

    func change(_ body: @Sendable (inout CaptureSnapshot, inout UInt64) -> Void) {
        state.withLock { body(&$0.snapshot, &$0.notRecorded) }
    }

    var context: LiveContext {
        LiveContext(
            filters: filters, exclusions: [],
            snapshot: { self.state.withLock { $0.snapshot } },
            notRecorded: { self.state.withLock { $0.notRecorded } },
            databasePath: nil, source: "test", version: "9.9.9-test", libpcapVersion: "libpcap version 1.10.3 (test)")
    }
}

/// A session from `client:port` in the filters of `mask`.
func metricsSession(_ outcome: Outcome, microseconds: Int64, mask: UInt64 = 1, client: UInt32 = 0x0A00_0001,
                    port: UInt16 = 40000, dupSYN: UInt32 = 0, dupSYNACK: UInt32 = 0,
                    cause: Cause? = nil) -> Session {
    var session = Session(
        client: IPAddress(ipv4: client), server: IPAddress(ipv4: 0xC633_6402), clientPort: port, serverPort: 443,
        startedAt: Timestamp(seconds: 1_700_000_000), duration: Timestamp.Duration(microseconds: microseconds),
        outcome: outcome, dupSYN: dupSYN, dupSYNACK: dupSYNACK, filters: FilterMask(rawValue: mask))
    if let cause { session.cause = Causes(cause) }
    if outcome == .success {
        // Its two halves, as a captured SYN/ACK gives them.
        session.evidence.synAckHopLimit = 63
        session.evidence.synToSynAck = Timestamp.Duration(microseconds: microseconds / 2)
        session.evidence.synAckToAck = Timestamp.Duration(microseconds: microseconds - microseconds / 2)
    }
    return session
}

@Suite("Metrics: exporter and HTTP server")
struct MetricsServerTests {
    static let logger = Logger(label: "tcpeek-test")

    /// Starts a server on a free loopback port, runs `body`, stops it.
    func withServer<T>(_ capture: MetricsFakeCapture, host: String = "test-host",
                       _ body: (MetricsServer) async throws -> T) async throws -> T {
        let server = try MetricsServer(
            listen: MetricsListenAddress(host: "127.0.0.1", port: 0), context: capture.context, hostLabel: host,
            logger: Self.logger)
        defer { server.stop() }
        return try await body(server)
    }

    /// Hands `sessions` to the server's feed as the capture would, and
    /// counts them in the capture's figures.
    func deliver(_ sessions: [Session], to server: MetricsServer, capture: MetricsFakeCapture) {
        capture.record(sessions)
        server.feed?.push(sessions, waitWhenFull: true)
    }

    /// Scrapes until the histogram of `filter` has counted `count` sessions.
    func scrape(_ server: MetricsServer, untilHistogramCount count: Int, filter: String = "web",
                host: String = "test-host") async throws -> String {
        let series = metricsSeries("tcpeek_handshake_duration_seconds_count{host=\"\(host)\",filter=\"\(filter)\"}")
        let deadline = Date().addingTimeInterval(10)
        while true {
            let text = try metricsHTTP(port: server.boundAddress.port, path: "/metrics").body
            if metricsSamples(text)[series] == Double(count) || Date() > deadline { return text }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func exposesTheCaptureFiguresAndTheHistogram() async throws {
        let capture = MetricsFakeCapture(filterNames: ["web", "ssh"])
        try await withServer(capture) { server in
            deliver([
                metricsSession(.success, microseconds: 50, mask: 0b11),          // 50 µs: first bucket
                metricsSession(.success, microseconds: 1_500, dupSYN: 2, cause: .afterRetries), // 1.5 ms
                metricsSession(.success, microseconds: 3_000_000, dupSYNACK: 1), // 3 s
                metricsSession(.success, microseconds: 90_000_000),              // 90 s: only +Inf
                metricsSession(.reject, microseconds: 200, dupSYN: 1, cause: .resetByMiddlebox),
                metricsSession(.timeout, microseconds: 60_000_000, mask: 0b10, dupSYN: 3, cause: .noAnswer),
                metricsSession(.unreach, microseconds: 100, cause: .filtered),
                metricsSession(.abort, microseconds: 100, cause: .clientGaveUp),
            ], to: server, capture: capture)
            capture.change { snapshot, notRecorded in
                snapshot.capture = CaptureStatistics(received: 1000, dropped: 7, interfaceDropped: 3)
                snapshot.tracker.evicted = 4
                snapshot.openAttempts = 12
                notRecorded = 5
            }
            let text = try await scrape(server, untilHistogramCount: 4)
            let samples = metricsSamples(text)
            func value(_ series: String) -> Double? { samples[metricsSeries(series)] }
            let web = #"host="test-host",filter="web""#
            #expect(value("tcpeek_handshakes_total{\(web),outcome=\"success\"}") == 4)
            // A failure's series carry its cause; every cause's series is there from the start.
            #expect(value("tcpeek_handshakes_total{\(web),outcome=\"reject\",cause=\"reset-by-middlebox\"}") == 1)
            #expect(value("tcpeek_handshakes_total{\(web),outcome=\"reject\",cause=\"closed-port\"}") == 0)
            #expect(value("tcpeek_handshakes_total{\(web),outcome=\"timeout\",cause=\"no-answer\"}") == 0)
            #expect(value("tcpeek_handshakes_total{\(web),outcome=\"unreach\",cause=\"filtered\"}") == 1)
            #expect(value("tcpeek_handshakes_total{\(web),outcome=\"abort\",cause=\"client-gave-up\"}") == 1)
            #expect(value("tcpeek_handshakes_total{host=\"test-host\",filter=\"ssh\",outcome=\"timeout\",cause=\"no-answer\"}") == 1)
            #expect(value("tcpeek_handshakes_total{\(web),outcome=\"timeout\"}") == nil, "no failure series without a cause")
            #expect(value("tcpeek_success_flags_total{\(web),flag=\"after-retries\"}") == 1)
            #expect(value("tcpeek_success_flags_total{\(web),flag=\"inferred\"}") == 0)
            // The two halves of the successes' handshakes.
            #expect(value("tcpeek_syn_to_synack_seconds_count{\(web)}") == 4)
            #expect(value("tcpeek_synack_to_ack_seconds_count{\(web)}") == 4)
            #expect(value("tcpeek_syn_to_synack_seconds_bucket{\(web),le=\"0.0001\"}") == 1)
            #expect(value("tcpeek_handshakes_total{host=\"test-host\",filter=\"ssh\",outcome=\"success\"}") == 1)
            #expect(value("tcpeek_syn_retransmitted_sessions_total{\(web)}") == 1)
            #expect(value("tcpeek_synack_retransmitted_sessions_total{\(web)}") == 1)
            #expect(value("tcpeek_syn_retransmits_total{\(web)}") == 3)
            #expect(value("tcpeek_syn_retransmits_total{host=\"test-host\",filter=\"ssh\"}") == 3)
            #expect(value("tcpeek_synack_retransmits_total{\(web)}") == 1)
            #expect(value("tcpeek_handshake_duration_seconds_bucket{\(web),le=\"0.0001\"}") == 1)
            #expect(value("tcpeek_handshake_duration_seconds_bucket{\(web),le=\"0.001\"}") == 1)
            #expect(value("tcpeek_handshake_duration_seconds_bucket{\(web),le=\"0.0025\"}") == 2)
            #expect(value("tcpeek_handshake_duration_seconds_bucket{\(web),le=\"2.5\"}") == 2)
            #expect(value("tcpeek_handshake_duration_seconds_bucket{\(web),le=\"5.0\"}") == 3)
            #expect(value("tcpeek_handshake_duration_seconds_bucket{\(web),le=\"60.0\"}") == 3)
            #expect(value("tcpeek_handshake_duration_seconds_bucket{\(web),le=\"+Inf\"}") == 4)
            #expect(value("tcpeek_handshake_duration_seconds_count{host=\"test-host\",filter=\"ssh\"}") == 1)
            let sum = try #require(value("tcpeek_handshake_duration_seconds_sum{\(web)}"))
            #expect(abs(sum - 93.00155) < 1e-9)
            #expect(value(#"tcpeek_pcap_received_packets_total{host="test-host"}"#) == 1000)
            #expect(value(#"tcpeek_pcap_dropped_packets_total{host="test-host"}"#) == 7)
            #expect(value(#"tcpeek_pcap_interface_dropped_packets_total{host="test-host"}"#) == 3)
            #expect(value(#"tcpeek_evicted_attempts_total{host="test-host"}"#) == 4)
            #expect(value(#"tcpeek_unrecorded_sessions_total{host="test-host"}"#) == 5)
            #expect(value(#"tcpeek_open_attempts{host="test-host"}"#) == 12)
            #expect(value(#"tcpeek_decode_errors_total{host="test-host",reason="truncated_ip"}"#) == 0)
            #expect(value(#"tcpeek_build_info{host="test-host",version="9.9.9-test",libpcap="libpcap version 1.10.3 (test)"}"#) == 1)
            // Every series carries the host label.
            #expect(samples.keys.allSatisfy { $0.contains(#"host="test-host""#) })
        }
    }

    @Test func countersFollowLaterFiguresAndLibpcapWraps() async throws {
        let capture = MetricsFakeCapture(filterNames: ["web"])
        try await withServer(capture) { server in
            capture.change { snapshot, _ in snapshot.capture = CaptureStatistics(received: 4_294_967_290) }
            _ = try metricsHTTP(port: server.boundAddress.port, path: "/metrics")
            deliver([metricsSession(.success, microseconds: 10)], to: server, capture: capture)
            // ps_recv is a 32-bit counter in libpcap: it wrapped past 2^32.
            capture.change { snapshot, _ in snapshot.capture = CaptureStatistics(received: 5) }
            let samples = metricsSamples(try await scrape(server, untilHistogramCount: 1))
            #expect(samples[metricsSeries(#"tcpeek_pcap_received_packets_total{host="test-host"}"#)] == 4_294_967_301)
            #expect(samples[metricsSeries(#"tcpeek_handshakes_total{host="test-host",filter="web",outcome="success"}"#)] == 1)
        }
    }

    @Test func seriesDoNotGrowWithAddressesOrPorts() async throws {
        let capture = MetricsFakeCapture(filterNames: ["web"])
        try await withServer(capture) { server in
            deliver([metricsSession(.success, microseconds: 700)], to: server, capture: capture)
            let before = metricsSamples(try await scrape(server, untilHistogramCount: 1)).count
            var many: [Session] = []
            for index in 0..<5000 {
                let outcome: Outcome = index % 3 == 0 ? .timeout : .success
                let client = UInt32(0x0A00_0000) | UInt32(index)
                many.append(metricsSession(outcome, microseconds: Int64(index) * 100, client: client,
                                           port: UInt16(1024 + index)))
            }
            deliver(many, to: server, capture: capture)
            let text = try await scrape(server, untilHistogramCount: 1 + many.count { $0.outcome == .success })
            #expect(metricsSamples(text).count == before)
            #expect(!text.contains("10.0.0."))
            #expect(!text.contains("40000"))
        }
    }

    @Test func promtoolAcceptsTheExposition() async throws {
        let promtool = try MetricsPaths.prometheusTools().promtool
        let capture = MetricsFakeCapture(filterNames: ["web", "api-v2.internal"])
        try await withServer(capture) { server in
            deliver([metricsSession(.success, microseconds: 1234, mask: 0b11),
                     metricsSession(.timeout, microseconds: 1234, mask: 0b10)], to: server, capture: capture)
            let text = try await scrape(server, untilHistogramCount: 1)
            let result = try metricsRun([promtool, "check", "metrics"], stdin: Data(text.utf8))
            #expect(result.status == 0, "promtool check metrics:\n\(result.stdout)\(result.stderr)\n\(text)")
            #expect(result.stdout.isEmpty && result.stderr.isEmpty, "lint findings: \(result.stdout)\(result.stderr)")
        }
    }

    @Test func answersInOpenMetricsWhenAskedTo404ElsewhereAnd405ForOtherMethods() async throws {
        let capture = MetricsFakeCapture(filterNames: ["web"])
        try await withServer(capture) { server in
            let port = server.boundAddress.port
            let text = try metricsHTTP(port: port, path: "/metrics")
            #expect(text.status == 200)
            #expect(text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(text.body.contains("# TYPE tcpeek_handshakes_total counter\n"))
            #expect(!text.body.contains("# EOF"))

            let open = try metricsHTTP(port: port, path: "/metrics", headers: [
                "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ])
            #expect(open.status == 200)
            #expect(open.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
            #expect(open.body.contains("# TYPE tcpeek_handshakes counter\n"))
            #expect(open.body.contains("# TYPE tcpeek_build info\n"))
            #expect(open.body.hasSuffix("\n# EOF\n"))

            let head = try metricsHTTP(port: port, method: "HEAD", path: "/metrics")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(Int(head.headers["content-length"] ?? "") == text.body.utf8.count)

            for path in ["/", "/metrics/", "/favicon.ico", "/api/v1/query?query=up"] {
                #expect(try metricsHTTP(port: port, path: path).status == 404, "\(path)")
            }
            let post = try metricsHTTP(port: port, method: "POST", path: "/metrics")
            #expect(post.status == 405)
            #expect(post.headers["allow"] == "GET, HEAD")
        }
    }

    @Test func aTakenPortIsReportedWithWhatToDo() async throws {
        let capture = MetricsFakeCapture(filterNames: ["web"])
        try await withServer(capture) { server in
            let taken = MetricsListenAddress(host: "127.0.0.1", port: server.boundAddress.port)
            #expect {
                _ = try MetricsServer(listen: taken, context: capture.context, hostLabel: "x", logger: Self.logger)
            } throws: { error in
                "\(error)" == "cannot serve metrics on 127.0.0.1:\(taken.port): Address already in use; "
                    + "choose another --metrics-listen address"
            }
        }
    }

    @Test func stopReturnsWhenTheCaptureNeverStarted() throws {
        let capture = MetricsFakeCapture(filterNames: ["web"])
        let server = try MetricsServer(listen: MetricsListenAddress(host: "127.0.0.1", port: 0),
                                       context: capture.context, hostLabel: "h", logger: Self.logger)
        let port = server.boundAddress.port
        server.stop()
        server.stop()  // Idempotent.
        #expect(throws: MetricsTestError.self) { try metricsHTTP(port: port, path: "/metrics") }
    }
}
