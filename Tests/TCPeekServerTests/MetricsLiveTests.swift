// A live capture with metrics, in a network namespace of its own (only its
// loopback is up): python3 makes known connections inside it, and the
// scrape, also from inside, shows them and libpcap's own counters.

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Metrics: live capture in a namespace")
struct MetricsLiveTests {
    /// Runs `argv` inside the namespace `namespace`.
    static func inside(_ namespace: String, _ ip: String, _ argv: [String], stdin: String? = nil) throws -> MetricsProcessResult {
        try metricsRun([ip, "netns", "exec", namespace] + argv, stdin: stdin.map { Data($0.utf8) }, timeout: 20)
    }

    static let traffic = """
        import socket, threading
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 8080))
        server.listen(64)
        def serve():
            while True:
                connection, _ = server.accept()
                connection.close()
        threading.Thread(target=serve, daemon=True).start()
        for _ in range(5):
            socket.create_connection(("127.0.0.1", 8080)).close()
        for _ in range(3):
            try:
                socket.create_connection(("127.0.0.1", 8081))
            except ConnectionRefusedError:
                pass
        """

    static let scrape = """
        import urllib.request
        print(urllib.request.urlopen("http://127.0.0.1:9465/metrics", timeout=5).read().decode(), end="")
        """

    @Test(.enabled(if: geteuid() == 0, "creating a network namespace needs root"), .timeLimit(.minutes(3)))
    func liveHandshakesAndLibpcapCountersAreExposed() async throws {
        let tcpeek = try MetricsPaths.tcpeek()
        guard let ip = MetricsPaths.tool("ip"), let python = MetricsPaths.tool("python3") else {
            throw MetricsTestError("ip (iproute2) and python3 are needed (make deps)")
        }
        let namespace = "tcpk-prom-\(getpid())"
        _ = try? metricsRun([ip, "netns", "delete", namespace])
        let created = try metricsRun([ip, "netns", "add", namespace])
        try #require(created.status == 0, "ip netns add: \(created.stderr)")
        defer { _ = try? metricsRun([ip, "netns", "delete", namespace]) }
        _ = try metricsRun([ip, "-n", namespace, "link", "set", "lo", "up"])

        let recorder = try MetricsChild([
            ip, "netns", "exec", namespace, tcpeek, "record", "-i", "lo", "--no-db", "--no-socket", "-q",
            "--json-summary", "--metrics-listen", "127.0.0.1:9465", "--host-label", "ns-host",
            "web:ANY@*:8080", "closed:ANY@*:8081",
        ])
        defer { recorder.stop(SIGKILL) }
        let listening = await recorder.wait(timeout: 10) { $0.stderr.contains("serving Prometheus metrics") }
        try #require(listening, "\(recorder.transcript)")

        let traffic = try Self.inside(namespace, ip, [python, "-"], stdin: Self.traffic)
        try #require(traffic.status == 0, "\(traffic.stderr)")

        // The capture publishes its figures twice a second.
        var samples: [String: Double] = [:]
        let web = metricsSeries(#"tcpeek_handshakes_total{host="ns-host",filter="web",outcome="success"}"#)
        let closed = metricsSeries(
            #"tcpeek_handshakes_total{host="ns-host",filter="closed",outcome="reject",cause="closed-port"}"#)
        let webCount = metricsSeries(#"tcpeek_handshake_duration_seconds_count{host="ns-host",filter="web"}"#)
        let deadline = Date().addingTimeInterval(10)
        repeat {
            try await Task.sleep(for: .milliseconds(200))
            let scraped = try Self.inside(namespace, ip, [python, "-"], stdin: Self.scrape)
            try #require(scraped.status == 0, "\(scraped.stderr)")
            samples = metricsSamples(scraped.stdout)
        } while (samples[web] != 5 || samples[closed] != 3 || samples[webCount] != 5) && Date() < deadline
        #expect(samples[web] == 5)
        #expect(samples[closed] == 3)
        #expect(samples[webCount] == 5)
        let received = samples[metricsSeries(#"tcpeek_pcap_received_packets_total{host="ns-host"}"#)] ?? 0
        #expect(received >= 8 * 3, "libpcap saw \(received) packets")
        #expect(samples[metricsSeries(#"tcpeek_pcap_dropped_packets_total{host="ns-host"}"#)] == 0)

        recorder.stop(SIGINT, grace: 10)
        #expect(recorder.exitStatus == 0, "\(recorder.transcript)")
        #expect(recorder.stdout.contains(#"{"web":{"success":{"total":5,"#), "\(recorder.stdout)")
        #expect(recorder.stdout.contains(#""reject":3"#), "\(recorder.stdout)")
    }
}
