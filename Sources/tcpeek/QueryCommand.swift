import ArgumentParser
import Foundation
import TCPeekCore
import TCPeekStore

/// `tcpeek query`: history from the database (works while a recorder writes it).
struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer historical questions from the database written by 'tcpeek record'.",
        discussion: """
            TIME is a duration back from now (90s, 15m, 1h, 2d), an ISO-8601 time
            (2026-11-27T10:00:00Z, 2026-11-27 10:00 in local time), or 'all'.

            Examples:
              tcpeek query --since 1h --filter http-rx
              tcpeek query --since 1d --by hour --format csv
              tcpeek query --since 15m --sessions --outcome timeout
              tcpeek query --since 1h --top server
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

    @Option(help: "The database file (default: \(HistoryDatabase.defaultPath)).")
    var db: String?

    @Option(help: "Start of the range (default: 1h).")
    var since: String = "1h"

    @Option(help: "End of the range (default: now).")
    var until: String?

    @Option(name: .customLong("filter"), help: "Only this filter (repeatable; default: all).")
    var filters: [String] = []

    @Option(help: "Time buckets: minute, hour, day or total.")
    var by: TimeBucketing = .total

    @Option(help: "Output format: table, json or csv.")
    var format: Format = .table

    @Flag(help: "List sessions instead of aggregates.")
    var sessions = false

    @Option(help: "With --sessions: only this outcome (success, reject, abort, unreach, timeout).")
    var outcome: String?

    @Option(help: "With --sessions: only this client address.")
    var client: String?

    @Option(help: "With --sessions: only this server address.")
    var server: String?

    @Option(help: "With --sessions: only this server port.")
    var port: Int?

    @Option(help: "With --sessions or --top: at most this many rows.")
    var limit: Int = 100

    @Option(help: "Rank endpoints by failures: server, client or port.")
    var top: HistoryQuery.TopKind?

    func validate() throws {
        if let outcome, Outcome(outcome) == nil {
            throw ValidationError("--outcome must be one of \(Outcome.allCases.map(\.description).joined(separator: ", ")), not '\(outcome)'")
        }
        if sessions, top != nil { throw ValidationError("--sessions and --top exclude each other") }
        if !sessions, outcome != nil || client != nil || server != nil || port != nil {
            throw ValidationError("--outcome, --client, --server and --port need --sessions")
        }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0-65535, not \(port)") }
    }

    func run() throws {
        let now = Date().timeIntervalSince1970
        let range: (Double, Double)
        do throws(TimeExpression.ParseError) {
            let end: Double
            if let until { end = try TimeExpression.parse(until, now: now) } else { end = now }
            range = (try TimeExpression.parse(since, now: now), end)
        } catch {
            throw ValidationError(error.description)
        }
        guard range.1 > range.0 else {
            throw ValidationError("--until must be after --since")
        }
        let database: HistoryDatabase
        do {
            database = try HistoryDatabase.openForReading(path: db ?? HistoryDatabase.defaultPath)
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
        let known: [String]
        do { known = try HistoryQuery.filterNames(in: database) } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
        let unknown = filters.filter { !known.contains($0) }
        if !unknown.isEmpty {
            Terminal.error("no filter named \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in the database; "
                + (known.isEmpty ? "nothing is recorded yet" : "known filters: \(known.joined(separator: ", "))"))
            throw ExitCode(1)
        }
        do throws(StoreError) {
            let chosen = filters.isEmpty ? nil : filters
            let output: String
            if sessions {
                let rows = try HistoryQuery.sessions(database, since: range.0, until: range.1, filters: chosen,
                                                     outcome: outcome, client: client, server: server, port: port, limit: limit)
                output = QueryOutput.sessions(rows, format: format)
            } else if let top {
                let rows = try HistoryQuery.top(database, kind: top, since: range.0, until: range.1, filters: chosen, limit: limit)
                output = QueryOutput.top(rows, kind: top, format: format)
            } else {
                let rows = try HistoryQuery.aggregate(database, since: range.0, until: range.1, filters: chosen, by: by)
                output = QueryOutput.aggregates(rows, format: format, bucketing: by, isTerminal: isatty(STDOUT_FILENO) != 0)
            }
            print(output, terminator: output.hasSuffix("\n") || output.isEmpty ? "" : "\n")
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
    }
}

extension TimeBucketing: ExpressibleByArgument {}
extension HistoryQuery.TopKind: ExpressibleByArgument {}
