import ArgumentParser
import Foundation
import TCPeekCore
import TCPeekStore

/// `tcpeek query`: history from the database (works while a recorder writes
/// it), or from the fleet's in ClickHouse (`--clickhouse`, FleetQueryCommand).
struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer historical questions from the database written by 'tcpeek record'.",
        discussion: """
            TIME is a duration back from now (90s, 15m, 1h, 2d), an ISO-8601 time
            (2026-11-27T10:00:00Z, 2026-11-27 10:00:00Z as the table writes it,
            2026-11-27 10:00 in local time), or 'all'. Times are shown in UTC;
            --local shows the table's in local time, with the offset.

            ADDRESS is an IPv4 or IPv6 address however written (2001:DB8:0::1,
            [2001:db8::1]) or a network (198.51.100.0/24, 2001:db8::/64).

            Examples:
              tcpeek query --since 1h --filter http-rx
              tcpeek query --since 1d --by hour --format csv
              tcpeek query --since 30d --by cause
              tcpeek query --since 15m --sessions --outcome timeout
              tcpeek query --since 1h --top server
              tcpeek query --since 1d --sessions --server 2001:db8::/64

            Every host's history in ClickHouse (filled by 'tcpeek ship'):
              tcpeek query --clickhouse http://clickhouse:8123/ --since 1d --by host
              tcpeek query --clickhouse http://clickhouse:8123/ --host web1 --top server
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

    @OptionGroup var history: HistoryOptions

    @Option(name: .customLong("filter"),
            help: ArgumentHelp("Only this filter, its name in any case (repeatable; default: every filter).", valueName: "name"))
    var filters: [String] = []

    @Option(help: ArgumentHelp("Time buckets, or 'cause': each outcome's attempts per cause over the whole range, "
                               + "or 'host' (with --clickhouse): each host's figures over the whole range."))
    var by: QueryGrouping = .total

    @Option(help: "Output format.")
    var format: Format = .table

    @Flag(help: "List sessions instead of aggregates.")
    var sessions = false

    @Option(help: "With --sessions: only this outcome.")
    var outcome: Outcome?

    @Option(help: ArgumentHelp("With --sessions: only this client address or network.", valueName: "address"))
    var client: String?

    @Option(help: ArgumentHelp("With --sessions: only this server address or network.", valueName: "address"))
    var server: String?

    @Option(help: "With --sessions: only this server port.")
    var port: Int?

    @Option(help: "With --sessions or --top: at most this many rows.")
    var limit: Int = 100

    @Option(help: "Rank endpoints by failures.")
    var top: HistoryQuery.TopKind?

    @Flag(help: "Show the table's times in local time (with the offset) instead of UTC.")
    var local = false

    @OptionGroup var fleet: FleetQueryOptions

    @OptionGroup
    var version: VersionFlag

    /// A `--client`/`--server` value as a network (one address is a /32 or
    /// /128), read as `--local-addr` reads its values; `portAdvice` says
    /// where the command takes a port.
    static func network(_ text: String?, option: String,
                        portAdvice: String = "and a server port with --port") throws -> IPNetwork? {
        guard let text else { return nil }
        do {
            return try IPNetwork(parsing: text)
        } catch {
            throw ValidationError("\(option) '\(text)': \(error.reason); write an address (198.51.100.7, 2001:db8::1) "
                + "or a network (198.51.100.0/24, 2001:db8::/64), \(portAdvice)")
        }
    }

    func validate() throws {
        if sessions, top != nil { throw ValidationError("--sessions and --top exclude each other") }
        if by == .cause, sessions || top != nil {
            throw ValidationError("--by cause counts attempts per cause; it excludes --sessions and --top")
        }
        if by == .host {
            if fleet.clickhouse == nil { throw ValidationError("--by host groups the fleet's history: it needs --clickhouse URL") }
            if sessions || top != nil { throw ValidationError("--by host excludes --sessions and --top") }
        }
        if fleet.clickhouse != nil, history.db != nil {
            throw ValidationError("--db and --clickhouse exclude each other: one database, or the fleet's history")
        }
        if !sessions, outcome != nil || client != nil || server != nil || port != nil {
            throw ValidationError("--outcome, --client, --server and --port need --sessions")
        }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0-65535, not \(port)") }
        _ = try Self.network(client, option: "--client")
        _ = try Self.network(server, option: "--server")
    }

    func run() async throws {
        if let url = fleet.clickhouse {
            try await runFleet(url: url)
            return
        }
        let range = try history.range(now: Date().timeIntervalSince1970)
        let clientNetwork = try Self.network(client, option: "--client")
        let serverNetwork = try Self.network(server, option: "--server")
        let clock: TableClock = local ? .local : .utc
        let database = try history.openDatabase()
        let chosen: [String]?
        do {
            chosen = filters.isEmpty ? nil : try HistoryQuery.filters(named: filters, known: HistoryQuery.filterNames(in: database))
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(1)
        }
        // One row more than --limit tells whether the list stopped there.
        let fetchLimit = min(limit, Int.max - 1) + 1
        do throws(StoreError) {
            let output: String
            let foundNothing: Bool
            var truncation: String?
            let data: HistoryQuery.RecordedData
            if sessions {
                let rows = try HistoryQuery.sessions(database, since: range.0, until: range.1, filters: chosen,
                                                     outcome: outcome?.description, client: clientNetwork, server: serverNetwork,
                                                     port: port, limit: fetchLimit)
                if rows.count > limit { truncation = "showing the newest \(limit) sessions; --limit N for more" }
                output = QueryOutput.sessions(Array(rows.prefix(limit)), format: format, clock: clock)
                (foundNothing, data) = (rows.isEmpty, .sessions)
            } else if let top {
                let rows = try HistoryQuery.top(database, kind: top, since: range.0, until: range.1, filters: chosen, limit: fetchLimit)
                if rows.count > limit { truncation = "showing the top \(limit) of the \(top.rawValue)s with failures; --limit N for more" }
                output = QueryOutput.top(Array(rows.prefix(limit)), kind: top, format: format)
                (foundNothing, data) = (rows.isEmpty, .sessions)
            } else {
                let bucketing = by.timeBucketing ?? .total
                let rows = try HistoryQuery.aggregate(database, since: range.0, until: range.1, filters: chosen, by: bucketing)
                output = by == .cause
                    ? QueryOutput.causes(rows, format: format)
                    : QueryOutput.aggregates(rows, format: format, bucketing: bucketing, clock: clock,
                                             isTerminal: isatty(STDOUT_FILENO) != 0)
                foundNothing = rows.allSatisfy { $0.counters.success == 0 && $0.counters.failure == 0 }
                data = .sessionsAndRollups
            }
            print(output, terminator: output.hasSuffix("\n") || output.isEmpty ? "" : "\n")
            if let truncation { Terminal.status(truncation) }
            if foundNothing, !(try HistoryQuery.holdsData(data, in: database, since: range.0, until: range.1)) {
                Terminal.status(try whereTheDataIs(data, in: database, range: range, clock: clock))
            }
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
    }

    /// For a range holding nothing: that it is empty, and where the
    /// database's data is, in times `--since`/`--until` read back.
    private func whereTheDataIs(
        _ data: HistoryQuery.RecordedData, in database: HistoryDatabase, range: (Double, Double), clock: TableClock
    ) throws(StoreError) -> String {
        guard let span = try HistoryQuery.span(of: data, in: database) else {
            return "no sessions: this database holds none yet"
        }
        let asked = history.until == nil && DurationText.seconds(history.since) != nil
            ? "in the last \(history.since.trimmingCharacters(in: .whitespaces))"
            : "from \(clock.text(range.0)) to \(clock.text(range.1))"
        return "no sessions \(asked); this database holds \(clock.text(span.lowerBound)) .. \(clock.text(span.upperBound))"
    }
}

/// `--by`: a time bucketing, or `cause` (issue 15): the range as one
/// bucket, its attempts listed per outcome and cause instead of as figures.
enum QueryGrouping: String, ExpressibleByArgument, CaseIterable {
    case minute, hour, day, total, cause, host

    /// The buckets the aggregate is read in; nil for `cause` and `host`, read as `total`.
    var timeBucketing: TimeBucketing? { TimeBucketing(rawValue: rawValue) }
}
extension HistoryQuery.TopKind: ExpressibleByArgument {}

/// `--outcome` takes the words of JSON and the database, not the raw values.
extension Outcome: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var allValueStrings: [String] { allCases.map(\.description) }
    public static var allValueDescriptions: [String: String] { [:] }
}
