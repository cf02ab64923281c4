import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TCPeekFleet
import TCPeekStore

/// `tcpeek ship`: copies the history to ClickHouse, for questions across
/// many hosts (docs/fleet-design.md).
struct Ship: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the history to ClickHouse, where many hosts' histories meet.",
        discussion: """
            Ships every recorded session to ClickHouse's HTTP interface (http://HOST:8123/,
            or https://HOST:8443/), exactly once: the database keeps, per destination, the
            last session ClickHouse acknowledged. Runs until stopped (SIGINT, SIGTERM),
            waiting with backoff while ClickHouse is down; the history keeps what waits.

            Credentials never go on the command line: the user is $TCPEEK_CLICKHOUSE_USER
            (default 'default'), the password the first line of --clickhouse-password-file
            or $TCPEEK_CLICKHOUSE_PASSWORD. Over https the certificate must chain to the
            system's roots, or to the CAs of --clickhouse-ca-file (an internal CA).

            Examples:
              tcpeek ship --init http://ch.example.org:8123/     (once: create the tables)
              tcpeek ship http://ch.example.org:8123/
              tcpeek ship --once --db /var/lib/tcpeek/tcpeek.db http://ch.example.org:8123/
            """
    )

    @Argument(help: ArgumentHelp("ClickHouse's HTTP URL (or give it with --clickhouse).", valueName: "url"))
    var url: String?

    @Option(name: .customLong("clickhouse"), help: ArgumentHelp("ClickHouse's HTTP URL.", valueName: "url"))
    var clickhouseURL: String?

    @OptionGroup(title: "ClickHouse")
    var clickhouse: ClickHouseOptions

    @Option(help: "The database file (default: \(HistoryDatabase.defaultPath)).")
    var db: String?

    @Option(help: "This host's name in the shipped rows (default: the host name).")
    var host: String?

    @Option(name: .customLong("batch-size"), help: "Sessions per INSERT at most.")
    var batchSize: Int = 100_000

    @Option(help: "Seconds between looks for new sessions once caught up.")
    var interval: Double = 5

    @Option(name: .customLong("clickhouse-retention-days"), help: ArgumentHelp(
        "Drop the days of sessions (and months of minute rollups) older than this from ClickHouse, hourly; ClickHouse 18.16 has no TTL (default: keep them).",
        valueName: "days"))
    var clickhouseRetentionDays: Double?

    @Flag(help: "Ship what is recorded now and exit (0 when all of it was shipped).")
    var once = false

    @Flag(name: .customLong("init"), help: "Create the ClickHouse database, tables and view (harmless when they exist), then exit unless --once ships too.")
    var initialize = false

    @Option(name: [.customShort("l"), .long], help: "Log level, a syslog level name.")
    var loglevel: LogLevelName = .notice

    func validate() throws {
        if url != nil, clickhouseURL != nil { throw ValidationError("give ClickHouse's URL once: as the argument or with --clickhouse") }
        if url == nil, clickhouseURL == nil {
            throw ValidationError("tcpeek ship needs ClickHouse's URL: tcpeek ship http://HOST:8123/")
        }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, not \(batchSize)") }
        guard interval > 0, interval.isFinite else { throw ValidationError("--interval must be a positive number of seconds, not \(interval)") }
        if host?.isEmpty == true { throw ValidationError("--host must not be empty") }
        if db?.isEmpty == true { throw ValidationError("--db needs a file path") }
        if let days = clickhouseRetentionDays, !(days > 0 && days.isFinite) {
            throw ValidationError("--clickhouse-retention-days must be a positive number of days, not \(days.formatted())")
        }
    }

    func run() async throws {
        StandardStream.ignoreBrokenPipes()
        let level = loglevel.level
        Terminal.level = level
        LoggingSystem.bootstrap { _ in TerminalLogHandler(logLevel: level) }
        let logger = Logger(label: "tcpeek")
        let endpoint = try clickhouse.endpoint(url: url ?? clickhouseURL ?? "")
        if initialize {
            try await createTables(endpoint)
            guard once else { return }
        }
        var options = SessionShipper.Options()
        options.batchSize = batchSize
        options.interval = interval
        options.retention = clickhouseRetentionDays.map(ClickHouseRetention.init(days:))
        let shipper = try Self.openShipper(databasePath: db ?? HistoryDatabase.defaultPath, endpoint: endpoint,
                                           host: host ?? ProcessInfo.processInfo.hostName, options: options, logger: logger)
        if once {
            try await shipOnce(shipper)
        } else {
            try await shipUntilStopped(shipper, logger: logger)
        }
    }

    static func openShipper(databasePath: String, endpoint: ClickHouseEndpoint, host: String, options: SessionShipper.Options,
                            feed: CommittedRowFeed? = nil, logger: Logger) throws(ExitCode) -> SessionShipper {
        do {
            return try SessionShipper(databasePath: databasePath, endpoint: endpoint, host: host, options: options,
                                      feed: feed, logger: logger)
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
    }

    private func createTables(_ endpoint: ClickHouseEndpoint) async throws(ExitCode) {
        let client = ClickHouseClient(endpoint: endpoint)
        do {
            try await ClickHouseSchema.create(with: client)
            await client.shutdown()
            Terminal.notice("ClickHouse at \(endpoint.url) has tcpeek's tables in database \(endpoint.database)")
        } catch {
            await client.shutdown()
            Terminal.error(error.description)
            throw ExitCode(1)
        }
    }

    private func shipOnce(_ shipper: SessionShipper) async throws(ExitCode) {
        do {
            let shipped = try await shipper.shipAvailable()
            await shipper.pruneClickHouse()
            await shipper.close()
            Terminal.notice("shipped \(shipped.sessions) sessions to \(shipper.destination) as host \(shipper.host)"
                + " (\(shipped.batches) batches; the cursor is at session \(shipped.cursor)), and \(shipped.rollups) minute rollup rows")
        } catch {
            let waiting = (try? shipper.database.unshippedCount(destination: shipper.destination)) ?? 0
            await shipper.close()
            Terminal.error("\(error); \(waiting) sessions wait in the database")
            throw ExitCode(1)
        }
    }

    private func shipUntilStopped(_ shipper: SessionShipper, logger: Logger) async throws(ExitCode) {
        for number in [SIGINT, SIGTERM] { signal(number, SIG_IGN) }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: ShipService(shipper: shipper, finalPass: false),
                             successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "shipper")],
            gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
        do {
            try await group.run()
        } catch {
            Terminal.error("tcpeek ship stopped unexpectedly: \(error)")
            throw ExitCode(1)
        }
    }
}
