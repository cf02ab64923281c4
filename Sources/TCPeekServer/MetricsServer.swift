import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TCPeekCore
import TCPeekSystem

/// The Prometheus exposition over HTTP/1 (`--metrics-listen`): `GET
/// /metrics` in the Prometheus text format, or OpenMetrics when the
/// scraper's `Accept` asks for it; other paths answer 404.
///
/// One event-loop thread serves scrapes from snapshots; one thread of its
/// own feeds closed sessions to the duration histogram. Neither ever blocks
/// the capture: the feed queue drops (and counts) what it cannot take
/// during a live capture. Clients are held to `Limits` (time, count and
/// size), as the UNIX socket holds its own.
public final class MetricsServer: RunningServer {
    public let exporter: MetricsExporter
    /// The address actually bound (the port is known even when 0 was asked).
    public let boundAddress: MetricsListenAddress
    private let sessions: SessionQueue
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let feedDone = DispatchSemaphore(value: 0)
    private let isStopped = Atomic<Bool>(false)
    private let logger: Logger

    public var feed: SessionQueue? { sessions }
    public var endpoint: String { "metrics on \(boundAddress)" }

    /// Binds `address` and starts serving `context`'s figures, every series
    /// carrying `host` as `hostLabel`, to clients within `limits`; `feed` is
    /// the queue the capture hands closed sessions to.
    public init(listen address: MetricsListenAddress, context: LiveContext, hostLabel: String,
                limits: Limits = Limits(), feed: SessionQueue = SessionQueue(), logger: Logger)
        throws(MetricsServerError)
    {
        let exporter = MetricsExporter(
            filterNames: context.filters.map(\.name), hostLabel: hostLabel,
            version: context.version, libpcapVersion: context.libpcapVersion)
        let figures: @Sendable () -> MetricsFigures = {
            MetricsFigures(snapshot: context.snapshot(), notRecorded: context.notRecorded())
        }
        // One loop serves every connection, so they share one count.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let connections = NIOLoopBoundBox.makeBoxSendingValue(
            MetricsConnections(maximum: limits.maximumConnections, logger: logger), eventLoop: loop)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Answers are written whole, in order, as each request
                    // ends: pipelined requests need no help. The guard
                    // answers malformed ones itself (400, 431).
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: false,
                        withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits.decoderLimits)
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsConnectionGuard(limits: limits, connections: connections, logger: logger))
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsHTTPHandler(exporter: exporter, figures: figures, logger: logger))
                }
            }
        let channel: any Channel
        do {
            channel = try bootstrap.bind(host: address.host, port: address.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw MetricsServerError(address: address, detail: Self.describe(error))
        }
        self.exporter = exporter
        self.sessions = feed
        self.group = group
        self.channel = channel
        self.logger = logger
        var bound = address
        if let port = channel.localAddress?.port { bound.port = port }
        boundAddress = bound
        logger.notice("serving Prometheus metrics", metadata: ["metrics.address": "\(bound)"])

        let thread = Thread { [sessions, exporter, feedDone] in
            while let batch = sessions.next() { exporter.record(batch) }
            feedDone.signal()
        }
        thread.name = "tcpeek-metrics-feed"
        thread.start()
    }

    /// Waits for the feed to drain (the capture has closed it), then closes
    /// the listening socket and the event loop. Idempotent.
    public func stop() {
        guard !isStopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        sessions.close()  // In case the capture never started.
        feedDone.wait()
        if sessions.dropped > 0 {
            logger.warning("the metrics histogram missed sessions while it lagged",
                           metadata: ["metrics.dropped": "\(sessions.dropped)"])
        }
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode))
        }
        if let error = error as? SocketAddressError, case .unknown(let host, _) = error {
            return "no address found for '\(host)'"
        }
        return "\(error)"
    }
}

/// The metrics server could not listen.
public struct MetricsServerError: Error, CustomStringConvertible {
    public var address: MetricsListenAddress
    public var detail: String

    public var description: String {
        "cannot serve metrics on \(address): \(detail); choose another --metrics-listen address"
    }
}
