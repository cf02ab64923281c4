import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TCPeekCore
import TCPeekSystem

/// The UNIX socket server of `tcpeek record` (SPEC §4, "Socket protocol"):
/// one request line in, one JSON document out, then the connection closes.
///
/// I/O runs on one SwiftNIO event loop; answers that read the database run
/// on a small thread pool; closed sessions reach the `WINDOW` ring through
/// `feed`, drained by a thread of the server's own. Nothing here waits on
/// the capture thread.
public final class SocketServer: RunningServer {
    public struct Options: Sendable {
        public var path: String
        public var access = SocketFile.Access()
        /// A client must have sent its request line within this time.
        public var requestTimeout = TimeAmount.seconds(5)
        /// A client must have taken the answer within this time.
        public var answerTimeout = TimeAmount.seconds(5)
        /// Connections beyond this many are answered `{"error":...}` at once.
        public var maximumClients = 1024
        /// The in-memory part of `WINDOW`.
        public var recent = SocketRecentSessions()

        public init(path: String) {
            self.path = path
        }
    }

    public let path: String
    public let feed: SessionQueue?
    public var endpoint: String { "the socket \(path)" }
    public let responder: SocketResponder
    private let group: MultiThreadedEventLoopGroup
    private let threadPool: NIOThreadPool
    private let channel: any Channel
    private let file: Mutex<SocketFile?>
    private let logger: Logger

    private init(path: String, feed: SessionQueue, responder: SocketResponder, group: MultiThreadedEventLoopGroup,
                 threadPool: NIOThreadPool, channel: any Channel, file: SocketFile, logger: Logger) {
        self.path = path
        self.feed = feed
        self.responder = responder
        self.group = group
        self.threadPool = threadPool
        self.channel = channel
        self.file = Mutex(file)
        self.logger = logger
    }

    /// Prepares the path (folder, lock, stale file), binds, and serves.
    /// `feed` is the queue the capture hands closed sessions to (made
    /// before the capture, which needs every queue when it is created).
    public static func start(options: Options, context: LiveContext, isLive: Bool, feed: SessionQueue = SessionQueue(),
                             logger: Logger) throws(SocketServerError) -> SocketServer {
        var file = try SocketFile.prepare(path: options.path, access: options.access) { path in
            logger.notice("replaced a stale socket file left by a tcpeek that is gone", metadata: ["socket.path": "\(path)"])
        }
        let responder = SocketResponder(context: context, isLive: isLive, recent: options.recent, logger: logger)
        responder.openDatabaseEarly()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let clients = SocketClientCount()
        let settings = SocketConnectionHandler.Settings(
            requestTimeout: options.requestTimeout, answerTimeout: options.answerTimeout,
            maximumClients: options.maximumClients)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SocketConnectionHandler(
                        responder: responder, threadPool: threadPool, clients: clients, settings: settings, logger: logger))
                }
            }
        let channel: any Channel
        do {
            channel = try bootstrap.bind(unixDomainSocketPath: options.path).wait()
            try file.bound(access: options.access)
        } catch {
            try? group.syncShutdownGracefully()
            try? threadPool.syncShutdownGracefully()
            responder.close()
            _ = file.remove()
            if let error = error as? SocketServerError { throw error }
            throw SocketServerError("cannot listen on the socket '\(options.path)': \(error)")
        }
        let feeder = Thread { [feed, responder] in
            var lost: UInt64 = 0
            while let batch = feed.next() {
                responder.record(batch)
                let dropped = feed.dropped
                if dropped != lost {
                    responder.lostSessions(dropped &- lost)
                    lost = dropped
                }
            }
        }
        feeder.name = "tcpeek.socket.feed"
        feeder.start()
        logger.info("socket server listening", metadata: ["socket.path": "\(options.path)"])
        return SocketServer(path: options.path, feed: feed, responder: responder, group: group, threadPool: threadPool,
                            channel: channel, file: file, logger: logger)
    }

    /// Stops accepting, closes every connection, removes the socket file.
    /// Safe to call more than once.
    public func stop() {
        guard let file = file.withLock({ file in defer { file = nil }; return file }) else { return }
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
        try? threadPool.syncShutdownGracefully()
        responder.close()
        feed?.close()
        if let failure = file.remove() {
            logger.warning("the socket file could not be removed", metadata: ["socket.path": "\(path)", "socket.error": "\(failure)"])
        }
    }
}

/// How many connections are open, shared by every connection's handler.
final class SocketClientCount: Sendable {
    let value = Atomic<Int>(0)
}

/// One client: reads its request line, answers, closes. Event loop only.
final class SocketConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Settings: Sendable {
        var requestTimeout: TimeAmount
        var answerTimeout: TimeAmount
        var maximumClients: Int
    }

    private let responder: SocketResponder
    private let threadPool: NIOThreadPool
    private let clients: SocketClientCount
    private let settings: Settings
    private let logger: Logger
    private var reader = SocketLineReader()
    private var deadline: Scheduled<Void>?
    private var isCounted = false

    init(responder: SocketResponder, threadPool: NIOThreadPool, clients: SocketClientCount, settings: Settings, logger: Logger) {
        self.responder = responder
        self.threadPool = threadPool
        self.clients = clients
        self.settings = settings
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        isCounted = true
        let open = clients.value.wrappingAdd(1, ordering: .relaxed).newValue
        guard open <= settings.maximumClients else {
            send(SocketResponder.error("too many clients (\(settings.maximumClients)); try again"), context: context)
            return
        }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: settings.requestTimeout) {
            self.logger.debug("socket client sent no request in time")
            self.hangUp(context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        if isCounted {
            isCounted = false
            clients.value.wrappingSubtract(1, ordering: .relaxed)
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(reader.received(unwrapInboundIn(data)), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            handle(reader.inputClosed(), context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("socket client dropped", metadata: ["socket.error": "\(error)"])
        hangUp(context)
    }

    private func handle(_ action: SocketLineReader.Action, context: ChannelHandlerContext) {
        switch action {
        case .needMore:
            return
        case .nothing:
            hangUp(context)
        case .tooLong:
            send(SocketResponder.error("request longer than \(SocketRequest.maximumLineLength) bytes"), context: context)
        case .line(let line):
            let request: SocketRequest
            do throws(SocketRequestError) {
                request = try SocketRequest.parse(line)
            } catch {
                send(SocketResponder.error(error.description), context: context)
                return
            }
            guard SocketResponder.readsDatabase(request) else {
                send(responder.answer(request), context: context)
                return
            }
            // The database may take a while: off the event loop.
            deadline?.cancel()
            deadline = nil
            let responder = self.responder
            threadPool.runIfActive(eventLoop: context.eventLoop) { responder.answer(request) }
                .assumeIsolated()
                .whenComplete { result in
                    switch result {
                    case .success(let answer): self.send(answer, context: context)
                    case .failure: self.hangUp(context)
                    }
                }
        }
    }

    /// Shuts the connection's output first, then closes it: the client sees
    /// the end of the answer even if a copy of the descriptor lives on in
    /// a child process (NIO does not accept with SOCK_CLOEXEC).
    private func hangUp(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        context.close(mode: .output, promise: nil)
        context.close(promise: nil)
    }

    /// Writes the answer and a line end, then closes; a client that does
    /// not take it within `answerTimeout` is dropped.
    private func send(_ answer: String, context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        guard context.channel.isActive else { return }
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: settings.answerTimeout) {
            self.logger.debug("socket client did not take its answer in time")
            self.hangUp(context)
        }
        var buffer = context.channel.allocator.buffer(capacity: answer.utf8.count + 1)
        buffer.writeString(answer)
        buffer.writeInteger(UInt8(ascii: "\n"))
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            self.hangUp(context)
        }
    }
}
