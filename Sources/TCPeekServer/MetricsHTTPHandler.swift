import Logging
import NIOCore
import NIOHTTP1

/// What the metrics server answers to one request; pure, so routing is
/// tested without a socket.
public enum MetricsRoute: Sendable, Equatable {
    /// `GET` or `HEAD /metrics` (any query string): the exposition.
    case metrics(MetricsFormat)
    /// Any other path.
    case notFound
    /// `/metrics` with a method other than GET or HEAD.
    case methodNotAllowed

    public init(method: HTTPMethod, uri: String, accept: String?) {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path == "/metrics" else {
            self = .notFound
            return
        }
        guard method == .GET || method == .HEAD else {
            self = .methodNotAllowed
            return
        }
        self = .metrics(MetricsFormat.negotiate(accept: accept))
    }

    public var status: HTTPResponseStatus {
        switch self {
        case .metrics: .ok
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        }
    }
}

/// Answers HTTP/1 requests on one connection (event-loop thread only).
/// Each scrape copies the capture's figures (a short lock) and formats
/// them; nothing here ever waits on the capture.
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let exporter: MetricsExporter
    private let figures: @Sendable () -> MetricsFigures
    private let logger: Logger
    private var request: HTTPRequestHead?

    init(exporter: MetricsExporter, figures: @escaping @Sendable () -> MetricsFigures, logger: Logger) {
        self.exporter = exporter
        self.figures = figures
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break  // A body is ignored.
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let route = MetricsRoute(method: head.method, uri: head.uri, accept: head.headers.first(name: "accept"))
        var headers = HTTPHeaders()
        let body: [UInt8]
        switch route {
        case .metrics(let format):
            exporter.update(figures())
            body = exporter.exposition(format)
            headers.add(name: "Content-Type", value: format.contentType)
            logger.debug("served metrics", metadata: ["metrics.format": "\(format.rawValue)", "metrics.bytes": "\(body.count)"])
        case .notFound:
            body = Array("Not found: the metrics are at /metrics\n".utf8)
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        case .methodNotAllowed:
            body = Array("Only GET and HEAD are allowed on /metrics\n".utf8)
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            headers.add(name: "Allow", value: "GET, HEAD")
        }
        headers.add(name: "Content-Length", value: "\(body.count)")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: route.status, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
