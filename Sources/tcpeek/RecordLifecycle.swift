import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TCPeekCapture
import TCPeekCore
import TCPeekFleet
import TCPeekSystem
import TCPeekServer
import TCPeekStore
import TCPeekWire

/// `tcpeek record` from its configuration to its exit status. Opens what
/// needs root (the capture, the history, the servers' sockets), gives up
/// root, then runs one service per long-running part in a `ServiceGroup`:
///
///     start: socket, metrics, summary, recorder, printers, capture
///     stop:  capture, printers, recorder, summary, metrics, socket
///
/// SIGINT and SIGTERM shut the group down gracefully in that stop order;
/// so does the end of a file (unless `--stay`). Stopping the capture closes
/// every consumer's queue, so each later service drains what is left: the
/// summary is printed once every closed session is printed and recorded,
/// and the servers go last, removing the socket file.
enum RecordLifecycle {
    static func run(_ configuration: RecordConfiguration, logger: Logger) async throws(ExitCode) {
        let handle = try openCapture(configuration)
        if configuration.leavesFileUnrecorded {
            Terminal.notice("a file read is not recorded unless you name a database: add --db FILE to keep its history")
        }
        let startedAt = Timestamp.wallClock
        let history = try openHistory(configuration, source: handle.source.name, startedAt: startedAt, logger: logger)
        // Before privileges are dropped, like the history itself.
        let shipper = try configuration.ship.flatMap { (endpoint) throws(ExitCode) in
            try history.map { (history) throws(ExitCode) in
                try Ship.openShipper(databasePath: history.database.path, endpoint: endpoint, host: configuration.metrics.host,
                                     options: SessionShipper.Options(), feed: configuration.shipFeed,
                                     logger: logger)
            }
        }

        let printerQueue = SessionQueue()
        let jsonQueue = configuration.jsonLines ? SessionQueue() : nil
        let socketFeed = configuration.socket.isWanted(isLive: configuration.isLive) ? SessionQueue() : nil
        let metricsFeed = configuration.metrics.listen != nil ? SessionQueue() : nil
        let queues = [printerQueue] + [jsonQueue, history?.recorder.queue, socketFeed, metricsFeed].compactMap { $0 }
        let loop = CaptureLoop(handle: handle, options: configuration.tracking, queues: queues, logger: logger)
        // Capture, socket and database are open, then root is given up.
        let servers = try startServersAndDropPrivileges(
            configuration, loop: loop, recorder: history?.recorder, databasePath: history?.database.path,
            socketFeed: socketFeed, metricsFeed: metricsFeed, logger: logger)

        let capture = CaptureService(loop: loop, file: configuration.file, stays: configuration.stays)
        var printers = [PrinterService.liveLines(queue: printerQueue, quiet: configuration.quiet)]
        if let jsonQueue {
            let names = configuration.filters.counting.map(\.name)
            printers.append(PrinterService(
                queue: jsonQueue, name: "tcpeek-json-lines", stream: .output,
                line: { SessionJSON.line($0, filterNames: names) },
                streamClosed: {
                    // `tcpeek record --json-lines | head`: stop as on Ctrl-C,
                    // so every closed attempt is still recorded.
                    Terminal.notice("standard output was closed; stopping")
                    capture.requestStop()
                }))
        }
        let recorder = history.map { RecorderService(recorder: $0.recorder, database: $0.database, capture: capture) }
        let summary = SummaryService(
            filters: configuration.filters.counting, file: configuration.file, startedAt: startedAt,
            printsJSON: configuration.jsonSummary, capture: capture, printers: printers, recorder: recorder,
            endpoints: servers.map(\.endpoint))

        // Every service but the capture returns only once told to stop, so
        // the group stops them in order; the capture's return (the end of a
        // file, or a stop) shuts the group down.
        typealias Entry = ServiceGroupConfiguration.ServiceConfiguration
        var services = servers.map { Entry(service: ServerService(server: $0), serviceName: $0.endpoint) }
        services.append(Entry(service: summary, serviceName: "summary"))
        // Stops after the recorder, so that it ships the last sessions too.
        if let shipper { services.append(Entry(service: ShipService(shipper: shipper, finalPass: true), serviceName: "shipper")) }
        if let recorder { services.append(Entry(service: recorder, serviceName: "recorder")) }
        services += printers.map { Entry(service: $0, serviceName: $0.name) }
        services.append(Entry(service: capture, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "capture"))
        // As the dispatch sources that watch them expect: ignored, so that
        // no thread is killed by one.
        for number in [SIGINT, SIGTERM] { signal(number, SIG_IGN) }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
        do {
            try await group.run()
        } catch {
            Terminal.error("tcpeek record stopped unexpectedly: \(error)")
            throw ExitCode(1)
        }
        try exitStatus(capture: capture.outcome.current, recorder: history?.recorder)
    }

    /// Reports what went wrong after the group has stopped, as the exit status.
    private static func exitStatus(capture: CaptureOutcome?, recorder: Recorder?) throws(ExitCode) {
        if let capture, capture.isUnusable {
            Terminal.error(capture.failure?.description ?? "")
            throw ExitCode(1)
        }
        if let recorder, recorder.notRecorded > 0 {
            let reason = recorder.lastError.map { ": \($0.description)" } ?? " (the writer fell behind)"
            Terminal.error("\(recorder.notRecorded) sessions could not be recorded in the database\(reason)")
        }
        if let failure = capture?.failure {
            Terminal.error(failure.description)
            throw ExitCode(1)
        }
        if let recorder, recorder.notRecorded > 0 { throw ExitCode(1) }
    }

    private static func openCapture(_ configuration: RecordConfiguration) throws(ExitCode) -> PcapHandle {
        do throws(CaptureError) {
            if let file = configuration.file {
                let handle = try PcapHandle.open(file: file)
                Terminal.status("reading from file \(file), link-type \(handle.linkTypeName), snapshot length \(handle.snapshotLength)")
                return handle
            }
            let name: String
            if let interface = configuration.interface { name = interface } else { name = try HostAddresses.defaultInterface() }
            let handle = try PcapHandle.open(interface: name, options: configuration.live)
            Terminal.status("listening on \(name), link-type \(handle.linkTypeName), snapshot length \(handle.snapshotLength) bytes")
            return handle
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
    }

    /// Opens the database (before privileges are dropped) and the run's
    /// recorder; nil when nothing is recorded.
    private static func openHistory(_ configuration: RecordConfiguration, source: String, startedAt: Timestamp,
                                    logger: Logger) throws(ExitCode) -> (database: HistoryDatabase, recorder: Recorder)? {
        guard let path = configuration.databasePath else { return nil }
        let database: HistoryDatabase
        do {
            let readers = try configuration.databaseGroup.map { (name) throws(ValidationErrorText) in
                try GroupName.resolve(name, option: "--db-group")
            }
            database = try HistoryDatabase.openForRecording(path: path, readerGroup: readers) { from, to in
                Terminal.notice("upgrading the history in '\(path)' from schema version \(from) to \(to);"
                    + " a one-time rebuild, about a minute per 10 million recorded sessions")
            }
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(1)
        }
        let run = RunInfo(
            startedAt: startedAt.seconds, sourceKind: configuration.isLive ? "interface" : "file",
            source: source, filters: configuration.filters.counting, host: configuration.metrics.host,
            version: TCPeekVersion.current, libpcap: PcapHandle.libraryVersion)
        do {
            return (database, try Recorder(database: database, run: run, options: configuration.recorder, logger: logger))
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
    }

    /// Binds the socket and the metrics server that are asked for, then
    /// gives up root; on failure, stops what it started.
    private static func startServersAndDropPrivileges(
        _ configuration: RecordConfiguration, loop: CaptureLoop, recorder: Recorder?, databasePath: String?,
        socketFeed: SessionQueue?, metricsFeed: SessionQueue?, logger: Logger
    ) throws(ExitCode) -> [any RunningServer] {
        let live = LiveContext(
            filters: configuration.filters.counting, exclusions: configuration.filters.exclusions,
            snapshot: { [loop] in loop.snapshot },
            notRecorded: { [recorder] in recorder?.notRecorded ?? 0 },
            databasePath: databasePath, source: loop.handle.source.name,
            version: TCPeekVersion.current, libpcapVersion: PcapHandle.libraryVersion)
        var servers: [any RunningServer] = []
        do {
            if let socketFeed {
                servers.append(try configuration.socket.start(
                    context: live, isLive: configuration.isLive, feed: socketFeed,
                    owner: configuration.account.map { ($0.uid, $0.gid) }, logger: logger))
            }
            if let metricsFeed, let listen = configuration.metrics.listen {
                servers.append(try configuration.metrics.start(listen: listen, context: live, feed: metricsFeed, logger: logger))
            }
            if let account = configuration.account {
                try Privileges.drop(to: account)
            } else if Privileges.isRoot, configuration.isLive {
                Terminal.notice(Privileges.rootNotice)
            }
        } catch {
            for server in servers { server.stop() }
            Terminal.error("\(error)")
            throw ExitCode(1)
        }
        return servers
    }
}
