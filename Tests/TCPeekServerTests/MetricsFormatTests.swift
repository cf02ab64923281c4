// Pure parts of the metrics server: --metrics-listen parsing, Accept
// negotiation, the OpenMetrics rewrite and routing.

import NIOHTTP1
import Testing
@testable import TCPeekServer

@Suite("Metrics: addresses, formats, routes")
struct MetricsFormatTests {
    @Test(arguments: [
        ("127.0.0.1:9465", "127.0.0.1", 9465),
        ("[::]:9465", "::", 9465),
        ("[::1]:0", "::1", 0),
        ("0.0.0.0:65535", "0.0.0.0", 65535),
        ("localhost:9100", "localhost", 9100),
    ])
    func parsesListenAddresses(text: String, host: String, port: Int) throws {
        let address = try MetricsListenAddress(parsing: text)
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.description == text)
    }

    @Test(arguments: [
        ("9465", "expected ADDR:PORT"),
        (":9465", "the address is empty"),
        ("::1:9465", "put an IPv6 address in brackets"),
        ("[::1:9465", "missing ']'"),
        ("[::1]9465", "expected ':PORT' after ']'"),
        ("127.0.0.1:", "the port must be a number from 0 to 65535"),
        ("127.0.0.1:65536", "the port must be a number from 0 to 65535"),
        ("127.0.0.1:-1", "the port must be a number from 0 to 65535"),
        ("127.0.0.1:http", "the port must be a number from 0 to 65535"),
    ])
    func rejectsBadListenAddresses(text: String, reason: String) {
        #expect {
            try MetricsListenAddress(parsing: text)
        } throws: { error in
            guard let error = error as? MetricsListenAddressError else { return false }
            return error.description == "--metrics-listen '\(text)': " + error.reason && error.reason.hasPrefix(reason)
        }
    }

    @Test(arguments: [
        // What Prometheus 2.x sends.
        ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
            + "text/plain;version=0.0.4;q=0.5,*/*;q=0.1", MetricsFormat.openMetrics),
        ("application/openmetrics-text; version=1.0.0", .openMetrics),
        ("text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.5", .prometheusText),
        ("text/plain", .prometheusText),
        ("*/*", .prometheusText),
        ("application/json", .prometheusText),
        ("application/openmetrics-text;q=0", .prometheusText),
        ("", .prometheusText),
    ])
    func negotiatesTheFormat(accept: String, expected: MetricsFormat) {
        #expect(MetricsFormat.negotiate(accept: accept) == expected)
    }

    @Test func withoutAcceptTheTextFormatIsServed() {
        #expect(MetricsFormat.negotiate(accept: nil) == .prometheusText)
    }

    @Test func openMetricsNamesCounterAndInfoFamiliesWithoutSuffix() {
        let text = """
            # HELP tcpeek_handshakes_total Attempts "closed".
            # TYPE tcpeek_handshakes_total counter
            tcpeek_handshakes_total{host="h",filter="RX",outcome="success"} 3
            # HELP tcpeek_build_info Always 1.
            # TYPE tcpeek_build_info gauge
            tcpeek_build_info{host="h",version="1",libpcap="x"} 1.0
            # HELP tcpeek_open_attempts Open.
            # TYPE tcpeek_open_attempts gauge
            tcpeek_open_attempts{host="h"} 2.0
            # TYPE tcpeek_handshake_duration_seconds histogram
            tcpeek_handshake_duration_seconds_bucket{host="h",filter="RX",le="0.0001"} 0

            """
        let converted = String(decoding: MetricsFormat.openMetrics(fromPrometheusText: Array(text.utf8)), as: UTF8.self)
        #expect(converted == """
            # HELP tcpeek_handshakes Attempts \\"closed\\".
            # TYPE tcpeek_handshakes counter
            tcpeek_handshakes_total{host="h",filter="RX",outcome="success"} 3
            # HELP tcpeek_build Always 1.
            # TYPE tcpeek_build info
            tcpeek_build_info{host="h",version="1",libpcap="x"} 1.0
            # HELP tcpeek_open_attempts Open.
            # TYPE tcpeek_open_attempts gauge
            tcpeek_open_attempts{host="h"} 2.0
            # TYPE tcpeek_handshake_duration_seconds histogram
            tcpeek_handshake_duration_seconds_bucket{host="h",filter="RX",le="0.0001"} 0
            # EOF

            """)
    }

    @Test(arguments: [
        (HTTPMethod.GET, "/metrics", MetricsRoute.metrics(.prometheusText)),
        (.HEAD, "/metrics", .metrics(.prometheusText)),
        (.GET, "/metrics?name[]=x", .metrics(.prometheusText)),
        (.GET, "/", .notFound),
        (.GET, "/metrics/", .notFound),
        (.GET, "/metricsx", .notFound),
        (.GET, "/api/v1/query", .notFound),
        (.POST, "/metrics", .methodNotAllowed),
        (.DELETE, "/metrics", .methodNotAllowed),
        (.POST, "/other", .notFound),
    ])
    func routes(method: HTTPMethod, uri: String, expected: MetricsRoute) {
        #expect(MetricsRoute(method: method, uri: uri, accept: nil) == expected)
    }
}
