// A real Prometheus scrapes a real `tcpeek record` reading a known capture,
// and the figures read back through its HTTP API are the summary's. Also:
// the contrib/ files validate with promtool and only name metrics tcpeek
// exposes, and the command line checks its metrics flags.

import Foundation
import Testing
@testable import TCPeekServer

@Suite("Metrics: a real Prometheus, contrib files, command line")
struct MetricsPrometheusTests {
    static let capture = "ndpi__gnutella.pcap"

    /// The per-outcome figures of the first filter in `--json-summary`.
    static func summaryFigures(_ json: String) throws -> (filter: String, outcomes: [String: Int]) {
        guard let line = json.split(separator: "\n").last(where: { $0.hasPrefix("[") }),
              let elements = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String: Any]],
              let (name, body) = elements.first?.first,
              let filter = body as? [String: [String: Int]],
              let success = filter["success"]?["total"], let failure = filter["failure"]
        else { throw MetricsTestError("no JSON summary in: \(json)") }
        var outcomes = ["success": success]
        for outcome in ["reject", "abort", "unreach", "timeout"] { outcomes[outcome] = failure[outcome] ?? -1 }
        return (name, outcomes)
    }

    /// Where the recorder's log says the metrics are served.
    static func metricsPort(inLog log: String) -> Int? {
        guard let match = log.firstMatch(of: #/metrics\.address=127\.0\.0\.1:(\d+)/#) else { return nil }
        return Int(match.1)
    }

    /// The bucket bounds of `MetricsExporter.durationBuckets` around `value`.
    static func bucket(of value: Double) -> ClosedRange<Double> {
        let buckets = MetricsExporter.durationBuckets
        guard let index = buckets.firstIndex(where: { value <= $0 }) else { return buckets.last!...Double.infinity }
        return (index == 0 ? 0 : buckets[index - 1])...buckets[index]
    }

    @Test(.timeLimit(.minutes(3)))
    func prometheusReadsTheSummaryFiguresBack() async throws {
        let (prometheusBinary, promtool) = try MetricsPaths.prometheusTools()
        let tcpeek = try MetricsPaths.tcpeek()
        guard let sqlite3 = MetricsPaths.tool("sqlite3") else { throw MetricsTestError("sqlite3 is missing (make deps)") }
        let folder = try MetricsPaths.temporaryFolder("prom")
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("history.db").path

        // 1. The recorder reads the file, prints its summary, then stays.
        let recorder = try MetricsChild([
            tcpeek, "record", "-r", MetricsPaths.capture(Self.capture), "--db", database, "-q", "--json-summary",
            "--metrics-listen", "127.0.0.1:0", "--metrics-stay", "--host-label", "prom-test-host", "-l", "debug",
        ])
        defer { recorder.stop(SIGKILL) }
        let summarized = await recorder.wait(timeout: 20) { $0.stdout.contains("[{") && $0.stdout.hasSuffix("\n") }
        try #require(summarized, "no summary:\n\(recorder.transcript)")
        let port = try #require(Self.metricsPort(inLog: recorder.stderr), "no metrics address logged:\n\(recorder.transcript)")
        let (filter, expected) = try Self.summaryFigures(recorder.stdout)
        #expect(filter == "ALL")
        #expect(expected == ["success": 56, "reject": 12, "timeout": 67, "unreach": 4, "abort": 0])

        // 2. promtool accepts the exposition as tcpeek serves it.
        let exposition = try metricsHTTP(port: port, path: "/metrics")
        #expect(exposition.status == 200)
        let check = try metricsRun([promtool, "check", "metrics"], stdin: Data(exposition.body.utf8))
        #expect(check.status == 0 && check.stdout.isEmpty && check.stderr.isEmpty,
                "promtool check metrics: \(check.stdout)\(check.stderr)")

        // 3. Prometheus scrapes it every second.
        let prometheus = try MetricsPrometheus(binary: prometheusBinary, targets: ["127.0.0.1:\(port)"])
        defer { prometheus.stop() }
        let selector = #"{job="tcpeek",host="prom-test-host",filter="ALL"}"#
        // A failure's series are split by cause: summed, they are the summary's figures.
        let handshakes = try await prometheus.wait(for: "sum by (outcome) (tcpeek_handshakes_total\(selector))") {
            $0.count == 5
        }
        var scraped: [String: Int] = [:]
        for result in handshakes { scraped[result.labels["outcome"] ?? "?"] = Int(result.value) }
        #expect(scraped == expected, "Prometheus has \(scraped), the summary says \(expected)")
        let uncaused = try prometheus.query(#"tcpeek_handshakes_total{job="tcpeek",outcome!="success",cause=""}"#)
        #expect(uncaused.isEmpty, "every failure series names its cause: \(uncaused)")

        let up = try prometheus.query(#"up{job="tcpeek"}"#)
        #expect(up.map(\.value) == [1])
        let count = try prometheus.query("tcpeek_handshake_duration_seconds_count\(selector)")
        #expect(count.map(\.value) == [56])
        let quantile = try prometheus.query(
            "histogram_quantile(0.5, sum by (le) (tcpeek_handshake_duration_seconds_bucket\(selector)))")
        let median = try #require(quantile.first?.value, "no quantile")
        let build = try prometheus.query(#"tcpeek_build_info{host="prom-test-host"}"#)
        #expect(build.count == 1 && build.first?.labels["version"]?.isEmpty == false
                && build.first?.labels["libpcap"]?.contains("libpcap") == true)
        // Prometheus asked for OpenMetrics and could read it.
        #expect(recorder.stderr.contains("metrics.format=openmetrics"), "\(recorder.stderr)")

        // 4. SIGTERM ends --metrics-stay; the recorder exits normally.
        recorder.stop(SIGTERM, grace: 10)
        #expect(recorder.exitStatus == 0, "\(recorder.transcript)")

        // 5. The median of the recorded successful handshakes falls in the
        // bucket where Prometheus puts it; the run carries the host label.
        let durations = try metricsRun([sqlite3, database,
                                        "SELECT duration FROM sessions WHERE outcome = 'success' ORDER BY duration"])
        let values = durations.stdout.split(separator: "\n").compactMap { Double($0) }
        try #require(values.count == 56, "\(durations.stdout)\(durations.stderr)")
        // The median is the mean of the 28th and 29th; the quantile lies in
        // the bucket of the 28th (interpolated), so allow both buckets.
        let low = Self.bucket(of: values[27]), high = Self.bucket(of: values[28])
        #expect(low.lowerBound <= median && median <= high.upperBound,
                "histogram_quantile(0.5) = \(median), recorded median \((values[27] + values[28]) / 2) in \(low) ... \(high)")
        let host = try metricsRun([sqlite3, database, "SELECT host FROM runs"])
        #expect(host.stdout == "prom-test-host\n")
    }

    @Test func rulesPassPromtoolAndTheirUnitTests() throws {
        let promtool = try MetricsPaths.prometheusTools().promtool
        let rules = MetricsPaths.contrib("prometheus/tcpeek-rules.yml")
        let check = try metricsRun([promtool, "check", "rules", rules])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let unit = try metricsRun([promtool, "test", "rules", MetricsPaths.contrib("prometheus/tcpeek-rules.test.yml")])
        #expect(unit.status == 0, "\(unit.stdout)\(unit.stderr)")
        let config = try metricsRun([promtool, "check", "config", MetricsPaths.contrib("prometheus/prometheus.yml")])
        #expect(config.status == 0, "\(config.stdout)\(config.stderr)")
    }

    /// The metric names tcpeek exposes (histogram series included).
    static func exposedNames() -> Set<String> {
        let exporter = MetricsExporter(filterNames: ["RX"], hostLabel: "h", version: "v", libpcapVersion: "l")
        let text = String(decoding: exporter.exposition(.prometheusText), as: UTF8.self)
        return Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap {
            $0.split(separator: "{").first.map(String.init)
        })
    }

    @Test func contribFilesNameOnlyExposedMetrics() throws {
        let exposed = Self.exposedNames()
        #expect(exposed.contains("tcpeek_handshake_duration_seconds_bucket"))
        var expressions: [String] = []
        let rules = try String(contentsOfFile: MetricsPaths.contrib("prometheus/tcpeek-rules.yml"), encoding: .utf8)
        expressions.append(rules)
        let dashboardData = try Data(contentsOf: URL(fileURLWithPath: MetricsPaths.contrib("grafana/tcpeek.json")))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: dashboardData) as? [String: Any])
        #expect(dashboard["uid"] as? String == "tcpeek-handshakes")
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        var panelExpressions = 0
        for panel in panels {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                if let expr = target["expr"] as? String {
                    expressions.append(expr)
                    panelExpressions += 1
                }
            }
        }
        #expect(panelExpressions >= 10)
        for expression in expressions {
            // Names with a colon are recording rules built from the metrics.
            for match in expression.matches(of: #/[a-z_:]*tcpeek_[a-z_:]*/#) where !match.output.contains(":") {
                #expect(exposed.contains(String(match.output)), "\(match.output) is not a tcpeek metric")
            }
        }
    }

    @Test(arguments: [
        (["--metrics-stay"], "--metrics-stay needs --metrics-listen"),
        (["--stay", "--no-socket"], "--stay needs -U PATH or --metrics-listen"),
        (["--metrics-listen", "9465"], "--metrics-listen '9465': expected ADDR:PORT"),
        (["--metrics-listen", "::1:9465"], "--metrics-listen '::1:9465': put an IPv6 address in brackets"),
        (["--host-label", ""], "--host-label must not be empty"),
    ])
    func badMetricsFlagsAreUsageErrors(arguments: [String], message: String) throws {
        let tcpeek = try MetricsPaths.tcpeek()
        let result = try metricsRun(
            [tcpeek, "record", "-r", MetricsPaths.capture(Self.capture), "--no-db", "-q"] + arguments)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func aTakenMetricsPortFailsTheRunBeforeReading() throws {
        let tcpeek = try MetricsPaths.tcpeek()
        let capture = MetricsFakeCapture(filterNames: ["RX"])
        let server = try MetricsServer(listen: MetricsListenAddress(host: "127.0.0.1", port: 0),
                                       context: capture.context, hostLabel: "h", logger: MetricsServerTests.logger)
        defer { server.stop() }
        let result = try metricsRun([tcpeek, "record", "-r", MetricsPaths.capture(Self.capture), "--no-db", "-q",
                                     "--metrics-listen", "127.0.0.1:\(server.boundAddress.port)"])
        #expect(result.status == 1)
        #expect(result.stderr.contains(
            "error: cannot serve metrics on 127.0.0.1:\(server.boundAddress.port): Address already in use; "
                + "choose another --metrics-listen address"), "\(result.stderr)")
    }

    @Test func withoutStayTheRecorderExitsAtTheEndOfTheFile() throws {
        let tcpeek = try MetricsPaths.tcpeek()
        let result = try metricsRun([tcpeek, "record", "-r", MetricsPaths.capture(Self.capture), "--no-db", "-q",
                                     "--metrics-listen", "127.0.0.1:0"], timeout: 20)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("serving Prometheus metrics"))
    }
}
