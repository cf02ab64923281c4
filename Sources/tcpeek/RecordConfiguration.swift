import ArgumentParser
import TCPeekCapture
import TCPeekCore
import TCPeekFleet
import TCPeekStore

/// `tcpeek record`'s command line, checked and resolved once (the account
/// of `-u`, the filters, the local addresses): everything the services are
/// built from, and nothing opened yet.
struct RecordConfiguration {
    var account: Privileges.Account?
    var filters: FilterSet
    var tracking: TrackingOptions
    /// The file read (`-r`); nil captures live.
    var file: String?
    /// `-i`; nil is the first up, non-loopback interface.
    var interface: String?
    var live: LiveOptions
    /// nil records nothing (`--no-db`, or a file read without `--db`).
    var databasePath: String?
    var databaseGroup: String?
    /// A file read without `--db`: said once the file is open.
    var leavesFileUnrecorded: Bool
    var recorder: RecorderOptions
    var quiet: Bool
    var jsonLines: Bool
    var jsonSummary: Bool
    var stays: Bool
    var socket: SocketOptions
    var metrics: MetricsOptions
    /// `--ship URL`: ClickHouse, where the shipper inside the recorder sends the history.
    var ship: ClickHouseEndpoint?
    /// What the recorder commits, encoded for that shipper.
    var shipFeed: CommittedRowFeed?

    var isLive: Bool { file == nil }

    /// Resolves `command`'s options, or prints what is wrong and throws its
    /// exit status (2 for a filter or `--local-addr`, 1 otherwise).
    init(_ command: Record) throws(ExitCode) {
        // -u is checked before anything is opened; privileges drop later.
        do throws(Privileges.DropError) {
            account = try command.user.map { (name) throws(Privileges.DropError) in try Privileges.Account.resolve(name) }
            try account?.checkSwitchable()
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
        let local: LocalAddresses?
        do {
            let parsed = try command.expressions.map { (text) throws(FilterParseError) in try Filter.parse(text) }
            local = command.localAddresses.isEmpty ? nil : try LocalAddresses.parse(command.localAddresses)
            filters = try FilterSet(filters: parsed, hasLocalNotion: command.file == nil || local != nil)
        } catch let error as FilterParseError {
            Terminal.error(error.description)
            throw ExitCode(2)
        } catch let error as LocalAddressParseError {
            Terminal.error("--local-addr: \(error.description)")
            throw ExitCode(2)
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(2)
        }
        for warning in filters.warnings { Terminal.warning(warning) }

        tracking = TrackingOptions(filters: filters, localAddresses: local)
        tracking.checksumMode = command.checksum.mode
        tracking.interpretsICMP = !command.noICMP
        tracking.timeout = .seconds(Int64(command.timeout))
        tracking.maxPending = command.maxPending

        file = command.file
        interface = command.interface
        live = LiveOptions()
        live.promiscuous = command.promisc
        live.bufferMegabytes = command.buffer
        // Headers only, unless TCP checksums must be verified over the payload.
        live.snapLength = command.checksum.mode == .all ? 65535 : 256

        // A capture from elsewhere never mixes into the host's live history.
        leavesFileUnrecorded = command.file != nil && command.db == nil && !command.noDB
        databasePath = command.noDB || (command.file != nil && command.db == nil)
            ? nil : command.db ?? HistoryDatabase.defaultPath
        databaseGroup = command.dbGroup
        recorder = RecorderOptions()
        recorder.batchSize = command.batchSize
        recorder.batchInterval = command.batchMilliseconds
        recorder.retentionDays = Record.retention(command.retentionDays, live: 30, isFile: command.file != nil)
        recorder.rollupRetentionDays = Record.retention(command.rollupRetentionDays, live: 400, isFile: command.file != nil)
        recorder.shipKeepMax = max(0, command.shipKeepMax)

        quiet = command.quiet
        jsonLines = command.jsonLines
        jsonSummary = command.jsonSummary
        stays = command.stayOptions.wanted
        socket = command.socketOptions
        metrics = command.metricsOptions
        do {
            ship = try command.shipURL.map { try command.clickhouseOptions.endpoint(url: $0) }
        } catch {
            Terminal.error("--ship: \(error)")
            throw ExitCode(64)
        }
        // The shipper takes what the recorder commits from memory.
        if ship != nil {
            shipFeed = CommittedRowFeed()
            recorder.committed = shipFeed
        }
    }
}
