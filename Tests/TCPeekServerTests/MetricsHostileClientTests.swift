// The metrics HTTP server against clients that hold on or send too much
// (issue 13, item 11), as the socket's tests do for the socket: a crowd of
// idle connections beyond the cap does not keep a scraper out, a request
// that never ends is answered 408 at the deadline, a body announced larger
// than the limit 413 at once, an over-long head 431. Every test ends with a
// normal scrape answered.

import Foundation
import Logging
import NIOCore
import Synchronization
import Testing
@testable import TCPeekServer

#if canImport(Glibc)
import Glibc
#endif

/// Every message a server logged, for counting.
final class MetricsLogMessages: Sendable {
    private let messages = Mutex<[(level: Logger.Level, text: String)]>([])

    func append(_ level: Logger.Level, _ text: String) { messages.withLock { $0.append((level, text)) } }

    var warnings: [String] { messages.withLock { $0.filter { $0.level == .warning }.map(\.text) } }
}

/// Keeps every message logged at `.debug` and above.
struct MetricsLogRecorder: LogHandler {
    let messages: MetricsLogMessages
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        messages.append(event.level, "\(event.message)")
    }
}

/// One raw TCP connection to the server, for sending whatever a test likes.
final class MetricsRawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MetricsTestError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw MetricsTestError("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw MetricsTestError("send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Everything until the server closes, or what came within `timeout`
    /// (`closed` false then).
    func readToEnd(timeout: TimeInterval) -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return (String(decoding: received, as: UTF8.self), false) }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(left * 1000) + 1) > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return (String(decoding: received, as: UTF8.self), true) }  // end, or reset
            received.append(contentsOf: chunk[..<n])
        }
    }

    /// The status code of the first answer in `text`, if any.
    static func status(_ text: String) -> Int? {
        let words = text.prefix(while: { $0 != "\r" }).split(separator: " ")
        guard words.count >= 2, words[0].hasPrefix("HTTP/1.") else { return nil }
        return Int(words[1])
    }
}

@Suite("Metrics: hostile HTTP clients")
struct MetricsHostileClientTests {
    /// Starts a server with `limits` changed by `adjust`, runs `body` with
    /// its port and the messages it logged, stops it.
    func withServer<T>(_ adjust: (inout MetricsServer.Limits) -> Void = { _ in },
                       _ body: (_ port: Int, _ log: MetricsLogMessages) async throws -> T)
        async throws -> T
    {
        var limits = MetricsServer.Limits()
        adjust(&limits)
        let capture = MetricsFakeCapture(filterNames: ["web"])
        let log = MetricsLogMessages()
        let logger = Logger(label: "tcpeek.metrics.test") { _ in MetricsLogRecorder(messages: log) }
        let server = try MetricsServer(listen: MetricsListenAddress(host: "127.0.0.1", port: 0), context: capture.context,
                                       hostLabel: "test-host", limits: limits, logger: logger)
        defer { server.stop() }
        return try await body(server.boundAddress.port, log)
    }

    /// A normal scrape, timed.
    func scrape(_ port: Int) throws -> (status: Int, seconds: Double, body: String) {
        let started = Date()
        let answer = try metricsHTTP(port: port, path: "/metrics")
        return (answer.status, Date().timeIntervalSince(started), answer.body)
    }

    @Test("200 idle connections beyond a cap of 20: the longest waiting are closed with 408, once logged; a scrape is answered")
    func idleCrowdDoesNotKeepAScraperOut() async throws {
        // A deadline far beyond the test's run, however loaded the machine.
        try await withServer({ $0.maximumConnections = 20; $0.requestTimeout = .seconds(120) }) { port, log in
            var crowd: [MetricsRawConnection] = []
            for index in 0..<200 {
                let connection = try MetricsRawConnection(port: port)
                if index % 2 == 1 { try connection.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n") }  // never ends
                crowd.append(connection)
            }
            try await Task.sleep(for: .milliseconds(500))  // all accepted
            let answer = try scrape(port)
            #expect(answer.status == 200)
            #expect(answer.body.contains("tcpeek_handshakes_total"))
            #expect(answer.seconds < 3, "the scrape took \(answer.seconds) s")
            // The first 180 (and the scrape's own room) were closed to make room, each with a 408.
            var refused = 0
            for connection in crowd.prefix(180) {
                let (text, closed) = connection.readToEnd(timeout: 2)
                if closed, MetricsRawConnection.status(text) == 408 { refused += 1 }
            }
            #expect(refused == 180)
            // The last ones still wait for their requests.
            let (text, closed) = try #require(crowd.last).readToEnd(timeout: 0.2)
            #expect(!closed && text.isEmpty)
            let warnings = log.warnings
            #expect(warnings.count == 1, "\(warnings)")
            #expect(warnings.first?.hasPrefix("the metrics server has 20 connections open, its limit") == true)
        }
    }

    @Test("a silent client and a half-sent request are answered 408 and closed at the deadline; others are served meanwhile")
    func slowClientsGet408() async throws {
        try await withServer({ $0.requestTimeout = .seconds(1) }) { port, _ in
            let silent = try MetricsRawConnection(port: port)
            let half = try MetricsRawConnection(port: port)
            try half.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/")
            let started = Date()
            #expect(try scrape(port).status == 200)
            for connection in [silent, half] {
                let (text, closed) = connection.readToEnd(timeout: 8)
                let elapsed = Date().timeIntervalSince(started)
                #expect(closed)
                #expect(MetricsRawConnection.status(text) == 408, "\(text)")
                #expect(text.hasSuffix("No complete request within 1 s\n"), "\(text)")
                #expect(elapsed > 0.8 && elapsed < 6, "closed after \(elapsed) s")
            }
            // A kept-alive connection gets its answer, then the same deadline for its next request.
            let kept = try MetricsRawConnection(port: port)
            try kept.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let (text, closed) = kept.readToEnd(timeout: 8)
            #expect(closed)
            #expect(MetricsRawConnection.status(text) == 200)
            #expect(text.contains("\r\n\r\nNo complete request within 1 s\n") || text.contains("HTTP/1.1 408"), "\(text)")
        }
    }

    @Test("a body announced or sent larger than the limit is answered 413 at once; a small POST gets 405", arguments: [
        ("POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000000\r\n\r\n", 413),
        ("PUT /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 4097\r\n\r\n", 413),
        ("GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999\r\n\r\n", 413),
        ("POST /metrics HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n" + String(repeating: "x", count: 8192), 413),
        ("POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", 405),
    ])
    func largeBodies(_ request: String, _ expected: Int) async throws {
        try await withServer { port, _ in
            let connection = try MetricsRawConnection(port: port)
            try connection.send(request)
            let started = Date()
            let (text, closed) = connection.readToEnd(timeout: 5)
            #expect(closed)
            #expect(MetricsRawConnection.status(text) == expected, "\(text)")
            #expect(Date().timeIntervalSince(started) < 3)
            if expected == 413 { #expect(text.hasSuffix("A request body may take 4096 bytes; the metrics need none\n")) }
            #expect(try scrape(port).status == 200)
        }
    }

    @Test("a request head beyond 16 KiB, a field or request line beyond 8 KiB, or 101 fields: 431", arguments: [
        "GET /metrics HTTP/1.1\r\nHost: h\r\nX-Long: \(String(repeating: "a", count: 9000))\r\n\r\n",
        "GET /metrics?\(String(repeating: "q", count: 9000)) HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: h\r\n"
            + (0..<3).map { "X-Part-\($0): \(String(repeating: "b", count: 6000))\r\n" }.joined() + "\r\n",
        "GET /metrics HTTP/1.1\r\nHost: h\r\n" + (0..<100).map { "X-\($0): 1\r\n" }.joined() + "\r\n",
    ])
    func longHeads(_ request: String) async throws {
        try await withServer { port, _ in
            let connection = try MetricsRawConnection(port: port)
            try connection.send(request)
            let (text, closed) = connection.readToEnd(timeout: 5)
            #expect(closed)
            #expect(MetricsRawConnection.status(text) == 431, "\(text.prefix(200))")
            #expect(text.hasSuffix("A request line and header fields may take 16384 bytes, one field 8192\n"))
            #expect(try scrape(port).status == 200)
        }
    }

    @Test("a client that asks again and again without reading is closed, not answered 5,000 times")
    func askingWithoutReading() async throws {
        try await withServer { port, _ in
            let connection = try MetricsRawConnection(port: port)
            let requests = 5000
            // The server may close while this is still being sent.
            try? connection.send(String(repeating: "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", count: requests))
            try await Task.sleep(for: .seconds(1))
            let (text, closed) = connection.readToEnd(timeout: 10)
            let answers = text.components(separatedBy: "HTTP/1.1 200 OK").count - 1
            #expect(closed)
            #expect(answers < requests, "\(answers) answers")
            #expect(try scrape(port).status == 200)
        }
    }

    @Test("heads within the limits are served; garbage is answered 400")
    func withinTheLimits() async throws {
        try await withServer { port, _ in
            let fine = try MetricsRawConnection(port: port)
            try fine.send("GET /metrics HTTP/1.1\r\nHost: h\r\nX-Long: \(String(repeating: "a", count: 7000))\r\n"
                          + (0..<90).map { "X-\($0): 1\r\n" }.joined() + "Connection: close\r\n\r\n")
            let (text, closed) = fine.readToEnd(timeout: 5)
            #expect(closed)
            #expect(MetricsRawConnection.status(text) == 200, "\(text.prefix(200))")
            let garbage = try MetricsRawConnection(port: port)
            try garbage.send("\u{1}\u{2}\u{3} not http\r\n\r\n")
            let answer = garbage.readToEnd(timeout: 5)
            #expect(answer.closed)
            #expect(MetricsRawConnection.status(answer.text) == 400, "\(answer.text)")
        }
    }
}
