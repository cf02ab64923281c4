import ArgumentParser
import Logging
import TCPeekCapture
import TCPeekCore
import TCPeekStore

/// `tcpeek record`: capture, classify every handshake, print, count.
struct Record: AsyncParsableCommand {
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

    @Option(name: .customLong("ship-keep-max"), help: "Sessions not yet shipped (by any 'tcpeek ship') that retention keeps past --retention-days at most.")
    var shipKeepMax: Int = 10_000_000

    @Option(name: .customLong("ship"), help: ArgumentHelp("Also ship the history to ClickHouse at this URL as it is recorded (see 'tcpeek ship --help'; the host is --host-label's).", valueName: "url"))
    var shipURL: String?

    @OptionGroup(title: "Shipping to ClickHouse (--ship)")
    var clickhouseOptions: ClickHouseOptions

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
        if shipURL != nil, noDB || (file != nil && db == nil) {
            throw ValidationError("--ship ships the history database: it needs one (--db FILE for a file read; not --no-db)")
        }
    }

    func run() async throws {
        StandardStream.ignoreBrokenPipes()
        let level = loglevel.level
        Terminal.level = level
        LoggingSystem.bootstrap { _ in TerminalLogHandler(logLevel: level) }
        let configuration = try RecordConfiguration(self)
        try await RecordLifecycle.run(configuration, logger: Logger(label: "tcpeek"))
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
