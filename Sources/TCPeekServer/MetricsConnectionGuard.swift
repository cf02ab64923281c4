import Logging
import NIOCore
import NIOHTTP1

extension MetricsServer {
    /// What the metrics server grants one client, as the UNIX socket does:
    /// a scrape is one small request answered at once, so anything slower,
    /// larger or more numerous is a client to let go.
    public struct Limits: Sendable {
        /// A request must arrive whole within this time of connecting, or
        /// of the previous answer on a kept-alive connection: 408, closed.
        public var requestTimeout = TimeAmount.seconds(10)
        /// Connections open at once. One more closes (408) the connection
        /// that has waited longest for its request, so a crowd of idle
        /// clients cannot keep a scraper out.
        public var maximumConnections = 100
        /// The request line and header fields together, in bytes: 431.
        public var maximumHeadSize = 16 * 1024
        /// One header field (or the request line), in bytes: 431.
        public var maximumFieldSize = 8 * 1024
        /// A body, in bytes (GET and HEAD need none): 413 as soon as it is
        /// announced (`Content-Length`) or received (chunked).
        public var maximumBodySize = 4 * 1024

        public init() {}

        var decoderLimits: NIOHTTPDecoderLimitConfiguration {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderListSize = maximumHeadSize
            limits.maxHeaderFieldSize = maximumFieldSize
            limits.maxHeaderFieldCount = 100
            return limits
        }
    }
}

/// The open connections of one metrics server; its event loop only (it has
/// one), which `NIOLoopBoundBox` checks.
final class MetricsConnections {
    private var open: [ObjectIdentifier: MetricsConnectionGuard] = [:]
    private let maximum: Int
    private let logger: Logger
    private var hasWarned = false

    init(maximum: Int, logger: Logger) {
        self.maximum = maximum
        self.logger = logger
    }

    /// Counts `connection` in, closing the one waiting longest for its
    /// request when the limit is reached.
    func admit(_ connection: MetricsConnectionGuard) {
        while open.count >= maximum, let oldest = open.values.min(by: { $0.waitingSince < $1.waitingSince }) {
            if !hasWarned {
                hasWarned = true
                logger.warning("""
                    the metrics server has \(maximum) connections open, its limit: each new one now closes the one \
                    that has waited longest for a request; look for a client that connects without asking
                    """)
            }
            leave(oldest)
            oldest.give(up: .requestTimeout, "Closed to make room: no request came on this connection\n")
        }
        open[ObjectIdentifier(connection)] = connection
    }

    func leave(_ connection: MetricsConnectionGuard) {
        open[ObjectIdentifier(connection)] = nil
    }
}

/// Holds one metrics connection to `MetricsServer.Limits`: sits between the
/// HTTP decoder and `MetricsHTTPHandler`, passes what is within the limits
/// and answers the rest itself (408, 413, 431, 400), then closes. Event
/// loop only.
final class MetricsConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// When the wait for the current request began: the connection, or the
    /// previous answer.
    private(set) var waitingSince = NIODeadline.now()
    private let limits: MetricsServer.Limits
    private let connections: NIOLoopBoundBox<MetricsConnections>
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var deadline: Scheduled<Void>?
    private var bodyBytes = 0
    /// An answer of the guard's own went out: the rest of the input is dropped.
    private var hasGivenUp = false

    init(limits: MetricsServer.Limits, connections: NIOLoopBoundBox<MetricsConnections>, logger: Logger) {
        self.limits = limits
        self.connections = connections
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        connections.value.admit(self)
        startWaiting(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        connections.value.leave(self)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !hasGivenUp else { return }
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            bodyBytes = 0
            if let announced = head.headers.first(name: "content-length").flatMap(UInt64.init),
               announced > UInt64(limits.maximumBodySize) {
                give(up: .payloadTooLarge, "A request body may take \(limits.maximumBodySize) bytes; the metrics need none\n")
                return
            }
        case .body(let bytes):
            bodyBytes += bytes.readableBytes
            if bodyBytes > limits.maximumBodySize {
                give(up: .payloadTooLarge, "A request body may take \(limits.maximumBodySize) bytes; the metrics need none\n")
                return
            }
        case .end:
            deadline?.cancel()
            deadline = nil
            // Answers go out whole at once: one still unsent when the next
            // request ends is a client that asks without reading, and would
            // pile its answers up here.
            if !context.channel.isWritable {
                logger.debug("metrics client does not read its answers")
                hasGivenUp = true
                hangUp(context)
                return
            }
        }
        context.fireChannelRead(data)
        guard case .end = part, !hasGivenUp, context.channel.isActive else { return }
        startWaiting(context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError else {
            logger.debug("metrics client dropped", metadata: ["metrics.error": "\(error)"])
            hangUp(context)
            return
        }
        if error == .headerOverflow {
            give(up: .requestHeaderFieldsTooLarge, """
                A request line and header fields may take \(limits.maximumHeadSize) bytes, \
                one field \(limits.maximumFieldSize)\n
                """)
        } else {
            give(up: .badRequest, "Not an HTTP/1 request: \(error)\n")
        }
    }

    private func startWaiting(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        waitingSince = .now()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: limits.requestTimeout) {
            self.deadline = nil
            let milliseconds = self.limits.requestTimeout.nanoseconds / 1_000_000
            let time = milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
            self.give(up: .requestTimeout, "No complete request within \(time)\n")
        }
    }

    /// Answers `status` with `text` and closes: the connection serves nothing more.
    func give(up status: HTTPResponseStatus, _ text: String) {
        guard !hasGivenUp, let context, context.channel.isActive else { return }
        hasGivenUp = true
        deadline?.cancel()
        deadline = nil
        logger.debug("metrics client refused", metadata: ["metrics.status": "\(status.code)"])
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(text.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                      promise: nil)
        var body = context.channel.allocator.buffer(capacity: text.utf8.count)
        body.writeString(text)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            self.hangUp(context)
        }
    }

    /// Shuts the output first so the client sees the end of the answer,
    /// then closes.
    private func hangUp(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        context.close(mode: .output, promise: nil)
        context.close(promise: nil)
    }
}
