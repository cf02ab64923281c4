import ArgumentParser
import Foundation
import Logging
import TCPeekCapture
import TCPeekCore
import TCPeekServer
import TCPeekStore
import TCPeekWire
import Synchronization

/// `tcpeek record`: capture, classify every handshake, print, count.
struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch TCP handshakes live or in a capture file, print each attempt and a summary.",
        discussion: """
            EXPRESSION is NAME:DIR@ADDR[/PREFIX]:PORT[:PORT...][,ADDR[/PREFIX]:PORT[:PORT...]...]
              DIR is RX (this host is the server), TX (this host is the client) or ANY.
              ADDR and PORT may be '*' or '%' (any); IPv6 addresses go in brackets.
              An empty NAME excludes matching attempts from every filter.
            The filters RX:RX@*:* and TX:TX@*:* always exist (ALL:ANY@*:* for a file read
            without --local-addr).

            Examples:
              tcpeek -i eth0 http:RX@%:80:443
              tcpeek -i eth0 lan:TX@192.168.0.0/24:%
              tcpeek -i eth0 web6:RX@[2001:db8::/32]:443 :RX@*:22 :TX@*:22
              tcpeek -r capture.pcap --local-addr 198.51.100.7 --json-summary
            """
    )

    @Option(name: [.customShort("u"), .long], help: "Drop to this user (a name or a numeric uid) once the capture is open.")
    var user: String?

    @Option(name: [.customShort("i"), .long], help: "Capture on this interface ('any' for all; default: the first up, non-loopback one).")
    var interface: String?

    @Option(name: [.customShort("r"), .customLong("read")], help: "Read this pcap or pcapng file instead of capturing live.")
    var file: String?

    @OptionGroup(title: "Socket server")
    var socketOptions: SocketOptions

    @OptionGroup(title: "Prometheus metrics")
    var metricsOptions: MetricsOptions

    @OptionGroup(title: "After a file read")
    var stayOptions: StayOptions

    // Parsed by `ChecksumLevel.parse`, whose message names the option as
    // "-c/--checksum" and its values, which ArgumentParser's own would not;
    // a transform hides the default from the help, so the help states it.
    @Option(name: [.customShort("c"), .long],
            help: ArgumentHelp("Checksums to verify. (default: \(ChecksumLevel.standard.rawValue))", argumentType: ChecksumLevel.self),
            transform: ChecksumLevel.parse)
    var checksum = ChecksumLevel.standard

    @Option(name: [.customShort("t"), .long], help: "Seconds without a segment after which an attempt times out.")
    var timeout: Int = 60

    @Option(name: [.customShort("B"), .long], help: "libpcap buffer size in MB.")
    var buffer: Int = 2

    @Option(name: [.customShort("l"), .long], help: "Log level, a syslog level name.")
    var loglevel: LogLevelName = .notice

    @Flag(name: [.customShort("q"), .long], help: "Do not print a line per attempt.")
    var quiet = false

    @Flag(help: "Capture in promiscuous mode.")
    var promisc = false

    @Flag(help: "Interpret ICMP unreachables (the default; kept for the original's command lines).")
    var icmp = false

    @Flag(name: .customLong("no-icmp"), help: "Ignore ICMP unreachables.")
    var noICMP = false

    @Option(name: .customLong("local-addr"), help: "An address or network of this host (repeatable; default: the interface's addresses).")
    var localAddresses: [String] = []

    @Option(name: .customLong("max-pending"), help: "Most attempts kept open; beyond it the oldest is closed as timeout early.")
    var maxPending: Int = 1_000_000

    @Flag(name: .customLong("json-summary"), help: "Also print the summary as the socket's GET JSON on standard output.")
    var jsonSummary = false

    @Flag(name: .customLong("json-lines"), help: "Write each closed attempt as one JSON object per line on standard output (the sessions table's columns).")
    var jsonLines = false

    @Option(help: "History database (live default: /var/lib/tcpeek/tcpeek.db as root, else $XDG_DATA_HOME/tcpeek/tcpeek.db; a file read records only with --db).")
    var db: String?

    @Option(name: .customLong("db-group"), help: "Group (name or number) given read access to the history database and its folder, so that its members may query it.")
    var dbGroup: String?

    @Flag(name: .customLong("no-db"), help: "Do not record history.")
    var noDB = false

    @Option(name: .customLong("batch-size"), help: "Sessions per database transaction at most.")
    var batchSize: Int = 5000

    @Option(name: .customLong("batch-ms"), help: "Milliseconds between database transactions at most.")
    var batchMilliseconds: Int = 500

    @Option(name: .customLong("retention-days"), help: "Days of sessions to keep, counted back from now; 0 keeps them forever (live default: 30; a file read prunes only when this is given).")
    var retentionDays: Double?

    @Option(name: .customLong("rollup-retention-days"), help: "Days of per-minute and hourly rollups to keep; 0 keeps them forever (live default: 400; a file read prunes only when this is given).")
    var rollupRetentionDays: Double?

    @OptionGroup
    var version: VersionFlag

    @Argument(help: "Filters (see below).")
    var expressions: [String] = []

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("-t/--timeout must be a positive number of seconds, not \(timeout)") }
        guard buffer > 0 else { throw ValidationError("-B/--buffer must be a positive number of MB, not \(buffer)") }
        guard maxPending > 0 else { throw ValidationError("--max-pending must be positive, not \(maxPending)") }
        if file != nil, interface != nil {
            throw ValidationError("-r/--read and -i/--interface exclude each other: read a file or capture live")
        }
        if icmp, noICMP { throw ValidationError("--icmp and --no-icmp exclude each other") }
        try stayOptions.validate(isFile: file != nil, servesSocket: socketOptions.socket != nil && !socketOptions.noSocket,
                                 servesMetrics: metricsOptions.listen != nil)
        if noDB, db != nil || dbGroup != nil { throw ValidationError("--no-db excludes --db and --db-group") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, not \(batchSize)") }
        guard batchMilliseconds > 0 else { throw ValidationError("--batch-ms must be positive, not \(batchMilliseconds)") }
        for (flag, days) in [("--retention-days", retentionDays), ("--rollup-retention-days", rollupRetentionDays)] {
            if let days, !(days >= 0 && days.isFinite) {
                throw ValidationError("\(flag) must be a number of days, 0 to keep everything, not \(days)")
            }
        }
        if db?.isEmpty == true { throw ValidationError("--db needs a file path") }
    }

    func run() throws {
        StandardStream.ignoreBrokenPipes()
        let level = loglevel.level
        Terminal.level = level
        LoggingSystem.bootstrap { _ in TerminalLogHandler(logLevel: level) }
        // -u is checked before anything is opened; privileges drop later.
        let account: Privileges.Account?
        do throws(Privileges.DropError) {
            account = try user.map { (name) throws(Privileges.DropError) in try Privileges.Account.resolve(name) }
            try account?.checkSwitchable()
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
        let logger = Logger(label: "tcpeek")

        let filterSet: FilterSet
        let local: LocalAddresses?
        do {
            let parsed = try expressions.map { (text) throws(FilterParseError) in try Filter.parse(text) }
            local = localAddresses.isEmpty ? nil : try LocalAddresses.parse(localAddresses)
            filterSet = try FilterSet(filters: parsed, hasLocalNotion: file == nil || local != nil)
        } catch let error as FilterParseError {
            Terminal.error(error.description)
            throw ExitCode(2)
        } catch let error as LocalAddressParseError {
            Terminal.error("--local-addr: \(error.description)")
            throw ExitCode(2)
        }
        for warning in filterSet.warnings { Terminal.warning(warning) }

        let handle: PcapHandle
        do throws(CaptureError) {
            if let file {
                handle = try PcapHandle.open(file: file)
                Terminal.status("reading from file \(file), link-type \(handle.linkTypeName), snapshot length \(handle.snapshotLength)")
            } else {
                let name: String
                if let interface { name = interface } else { name = try HostAddresses.defaultInterface() }
                var options = LiveOptions()
                options.promiscuous = promisc
                options.bufferMegabytes = buffer
                // Headers only, unless TCP checksums must be verified over the payload.
                options.snapLength = checksum.mode == .all ? 65535 : 256
                handle = try PcapHandle.open(interface: name, options: options)
                Terminal.status("listening on \(name), link-type \(handle.linkTypeName), snapshot length \(handle.snapshotLength) bytes")
            }
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
        // The database is opened before privileges are dropped.
        var database: HistoryDatabase?
        if file != nil, db == nil, !noDB {
            // A capture from elsewhere never mixes into the host's live history.
            Terminal.notice("a file read is not recorded unless you name a database: add --db FILE to keep its history")
        } else if !noDB {
            do {
                let path = db ?? HistoryDatabase.defaultPath
                let readers = try dbGroup.map { (name) throws(ValidationErrorText) in try GroupName.resolve(name, option: "--db-group") }
                database = try HistoryDatabase.openForRecording(path: path, readerGroup: readers) { from, to in
                    Terminal.notice("upgrading the history in '\(path)' from schema version \(from) to \(to);"
                        + " a one-time rebuild, about a minute per 10 million recorded sessions")
                }
            } catch {
                Terminal.error("\(error)")
                throw ExitCode(1)
            }
        }

        var tracking = TrackingOptions(filters: filterSet, localAddresses: local)
        tracking.checksumMode = checksum.mode
        tracking.interpretsICMP = !noICMP
        tracking.timeout = .seconds(Int64(timeout))
        tracking.maxPending = maxPending

        let startedAt = Timestamp.wallClock
        var recorder: Recorder?
        if let database {
            var recorderOptions = RecorderOptions()
            recorderOptions.batchSize = batchSize
            recorderOptions.batchInterval = batchMilliseconds
            recorderOptions.retentionDays = Self.retention(retentionDays, live: 30, isFile: file != nil)
            recorderOptions.rollupRetentionDays = Self.retention(rollupRetentionDays, live: 400, isFile: file != nil)
            let run = RunInfo(
                startedAt: startedAt.seconds, sourceKind: file == nil ? "interface" : "file",
                source: handle.source.name, filters: filterSet.counting, host: metricsOptions.host,
                version: TCPeekVersion.current, libpcap: PcapHandle.libraryVersion)
            do {
                recorder = try Recorder(database: database, run: run, options: recorderOptions, logger: logger)
            } catch {
                Terminal.error(error.description)
                throw ExitCode(1)
            }
            recorder?.start()
        }
        // The servers start before the capture loop exists: they reach it
        // through this box once it does.
        let loopBox = LoopReference()
        let filterCount = filterSet.counting.count
        let live = LiveContext(
            filters: filterSet.counting, exclusions: filterSet.exclusions,
            snapshot: { [loopBox] in loopBox.loop?.snapshot ?? CaptureSnapshot(counters: Counters(filterCount: filterCount)) },
            notRecorded: { [recorder] in recorder?.notRecorded ?? 0 },
            databasePath: database?.path, source: handle.source.name,
            version: TCPeekVersion.current, libpcapVersion: PcapHandle.libraryVersion)
        var servers: [any RunningServer] = []
        do {
            if let server = try socketOptions.start(context: live, isLive: file == nil, owner: account.map { ($0.uid, $0.gid) }, logger: logger) { servers.append(server) }
            if let server = try metricsOptions.start(context: live, isLive: file == nil, logger: logger) { servers.append(server) }
        } catch {
            for server in servers { server.stop() }
            Terminal.error("\(error)")
            throw ExitCode(1)
        }
        // Capture, socket and database are open: now give up root.
        if let account {
            do { try Privileges.drop(to: account) } catch {
                for server in servers { server.stop() }
                Terminal.error(error.description)
                throw ExitCode(1)
            }
        } else if Privileges.isRoot, file == nil {
            Terminal.notice(Privileges.rootNotice)
        }
        let printerQueue = SessionQueue()
        let jsonQueue = jsonLines ? SessionQueue() : nil
        let queues = [printerQueue] + (jsonQueue.map { [$0] } ?? []) + (recorder.map { [$0.queue] } ?? [])
            + servers.compactMap(\.feed)
        let loop = CaptureLoop(handle: handle, options: tracking, queues: queues, logger: logger)
        loopBox.loop = loop
        var printers = [SessionPrinter.liveLines(queue: printerQueue, quiet: quiet)]
        if let jsonQueue {
            let names = filterSet.counting.map(\.name)
            printers.append(SessionPrinter(
                queue: jsonQueue, name: "tcpeek-json-lines", stream: .output,
                line: { SessionJSON.line($0, filterNames: names) },
                streamClosed: {
                    // `tcpeek record --json-lines | head`: stop as on Ctrl-C,
                    // so every closed attempt is still recorded.
                    Terminal.notice("standard output was closed; stopping")
                    loop.requestStop()
                }))
        }
        for printer in printers { printer.start() }
        let signals = StopSignals { loop.requestStop() }
        let progress = file.flatMap { FileProgress.make(for: $0, loop: loop) }
        progress?.start()

        let end: CaptureEnd
        var failure: CaptureError?
        do {
            end = try loop.run()
        } catch {
            failure = error
            end = .endOfFile
        }
        signals.cancel()
        progress?.stop()
        for printer in printers { printer.wait() }
        let snapshot = loop.snapshot
        if case .readError(_, 0, _)? = failure {
            // Nothing could be read at all: the file is unusable, not a capture
            // with an empty result.
            recorder?.finish(RunEnd(endedAt: Timestamp.wallClock.seconds, capture: nil, evicted: 0, stillOpen: 0))
            database?.close()
            for server in servers { server.stop() }
            Terminal.error(failure?.description ?? "")
            throw ExitCode(1)
        }
        recorder?.finish(RunEnd(
            endedAt: Timestamp.wallClock.seconds, capture: snapshot.capture, evicted: snapshot.tracker.evicted,
            stillOpen: end == .stopped ? snapshot.openAttempts : 0))
        database?.close()

        let isFile = file != nil
        if isFile, loop.packetsBackInTime > 0 {
            let count = loop.packetsBackInTime
            Terminal.warning(
                "\(count) \(count == 1 ? "packet is" : "packets are") timestamped earlier than a packet before "
                    + "\(count == 1 ? "it" : "them") in '\(file ?? "")'; packet time never runs backwards, so "
                    + "\(count == 1 ? "it was" : "they were") taken at the latest time seen")
        }
        let from = isFile ? (snapshot.firstPacket ?? startedAt) : startedAt
        let to = isFile ? (snapshot.lastPacket ?? startedAt) : Timestamp.wallClock
        let context = Report.SummaryContext(
            from: from, to: to, capture: snapshot.capture,
            stillOpen: end == .stopped ? snapshot.openAttempts : 0,
            evicted: snapshot.tracker.evicted, malformedPackets: snapshot.decode.malformedTotal,
            notRecorded: recorder?.notRecorded)
        Terminal.write("\n" + Report.summary(filters: filterSet.counting, counters: snapshot.counters, context: context) + "\n")
        if jsonSummary {
            let json = Report.getJSON(filters: filterSet.counting, counters: snapshot.counters,
                                      capture: snapshot.capture)
            StandardStream.output.write(json + "\n")
        }
        stayOptions.waitIfAsked(servers: servers)
        for server in servers { server.stop() }
        if let recorder, recorder.notRecorded > 0 {
            let reason = recorder.lastError.map { ": \($0.description)" } ?? " (the writer fell behind)"
            Terminal.error("\(recorder.notRecorded) sessions could not be recorded in the database\(reason)")
        }
        if let failure {
            Terminal.error(failure.description)
            throw ExitCode(1)
        }
        if let recorder, recorder.notRecorded > 0 { throw ExitCode(1) }
    }
}

extension Record {
    /// The days a recorder keeps, or nil to keep everything: a file read is
    /// analysis and prunes nothing unless asked; 0 means forever.
    static func retention(_ given: Double?, live: Double, isFile: Bool) -> Double? {
        guard let days = given ?? (isFile ? nil : live), days > 0 else { return nil }
        return days
    }
}

/// Lets the servers, started before the capture loop exists, reach it.
final class LoopReference: Sendable {
    private let value = Mutex<CaptureLoop?>(nil)
    var loop: CaptureLoop? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
