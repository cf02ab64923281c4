import ArgumentParser
import Foundation
import TCPeekCore
import TCPeekStore
import TCPeekWire

/// `tcpeek explain`: why attempts failed, in plain words with their
/// evidence (issue 15), from the database `query` reads.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say why connection attempts failed, with the evidence, from the database written by 'tcpeek record'.",
        discussion: """
            With an ID (a session's number, sessions.id: every group of failures lists
            its newest ones), one session: its verdict, how sure it is, and its evidence
            (TTLs and hop counts, SYN/ACK options, the halves of the handshake, the ICMP
            sender). Otherwise the failures of the range, of one server (--server) or
            filter (--filter) or all of them, grouped by server port and cause, the
            biggest group first, each with what the server did meanwhile; then the
            successes' flags.

            ADDRESS[:PORT] is an address or network as 'tcpeek query --server' takes it,
            with an optional port: 203.0.113.9:5432, [2001:db8::1]:5432, 198.51.100.0/24.
            TIME is as in 'tcpeek query'.

            Examples:
              tcpeek explain
              tcpeek explain --server 203.0.113.9:5432 --since 1d
              tcpeek explain --filter web --format json
              tcpeek explain 1041
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Argument(help: ArgumentHelp("One session to explain, by its id.", valueName: "id"))
    var id: String?

    @Option(help: ArgumentHelp("Only the failures to this server (and port).", valueName: "address[:port]"))
    var server: String?

    @Option(name: .customLong("filter"),
            help: ArgumentHelp("Only the failures this filter counted, its name in any case (repeatable).", valueName: "name"))
    var filters: [String] = []

    @OptionGroup var history: HistoryOptions

    @Option(help: "At most this many groups of failures.")
    var limit: Int = 20

    @Option(help: "Output format.")
    var format: Format = .text

    @OptionGroup
    var version: VersionFlag

    /// `--server`'s `ADDRESS[:PORT]`: the address part is `query --server`'s
    /// syntax (`Query.network`); a port follows the last `:` of an IPv4
    /// address or network, or the `]` of a bracketed IPv6 one (a bare IPv6
    /// address has no port: `2001:db8::1:443` is an address).
    static func serverAndPort(_ text: String) throws -> (network: IPNetwork, port: Int?) {
        var address = text[...]
        var portText: Substring?
        if text.hasPrefix("["), let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") {
            address = text[...close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else if !text.hasPrefix("["), text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            address = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (0...65535).contains(value) else {
                throw ValidationError("--server '\(text)': the port '\(portText)' is not a number 0-65535; "
                    + "write 203.0.113.9:5432, or [2001:db8::1]:5432 for IPv6")
            }
            port = value
        }
        guard let network = try Query.network(String(address), option: "--server",
                                              portAdvice: "with a port after it if you like (203.0.113.9:5432, [2001:db8::1]:5432)") else {
            throw ValidationError("--server needs an address")
        }
        return (network, port)
    }

    func validate() throws {
        if let id {
            guard Int64(id) != nil else {
                throw ValidationError("'\(id)' is not a session id; an id is a whole number (sessions.id), "
                    + "as the groups of 'tcpeek explain' list them")
            }
            if server != nil || !filters.isEmpty {
                throw ValidationError("a session id explains that session alone; it excludes --server and --filter")
            }
        }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
        if let server { _ = try Self.serverAndPort(server) }
    }

    func run() throws {
        let database = try history.openDatabase()
        defer { database.close() }
        let answer: ExplainAnswer
        do {
            answer = try explanation(database)
        } catch let error as StoreError {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
        let output = format == .json ? WireJSON.text(answer) + "\n" : answer.text
        print(output, terminator: "")
        if answer.groups.count == limit, answer.groups.reduce(0, { $0 + $1.count }) < answer.failures {
            Terminal.status("showing the \(limit) biggest groups of failures; --limit N for more")
        }
    }

    /// One session, or the failures of the range.
    private func explanation(_ database: HistoryDatabase) throws -> ExplainAnswer {
        guard let id, let number = Int64(id) else { return try rangeAnswer(database) }
        switch try HistoryQuery.explainSession(database, id: number) {
        case .success(let session):
            return ExplainAnswer(subject: ExplainSubject(kind: "session", id: number), session: session)
        case .failure(let unknown):
            Terminal.error(unknown.description)
            throw ExitCode(1)
        }
    }

    /// The failures of the range (and its successes' flags).
    private func rangeAnswer(_ database: HistoryDatabase) throws -> ExplainAnswer {
        let range = try history.range(now: Date().timeIntervalSince1970)
        let target = try server.map(Self.serverAndPort)
        let chosen: [String]?
        do {
            chosen = filters.isEmpty ? nil : try HistoryQuery.filters(named: filters, known: HistoryQuery.filterNames(in: database))
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(1)
        }
        let found = try HistoryQuery.explainFailures(database, since: range.0, until: range.1, filters: chosen,
                                                     server: target?.network, port: target?.port, limit: limit)
        let subject: ExplainSubject
        if let target {
            subject = ExplainSubject(kind: "server", server: target.network.isHost ? target.network.address.description : target.network.description, port: target.port, filters: chosen ?? [])
        } else if let chosen {
            subject = ExplainSubject(kind: "filter", filters: chosen)
        } else {
            subject = ExplainSubject(kind: "all")
        }
        return ExplainAnswer(subject: subject, from: WireTime.text(range.0), to: WireTime.text(range.1),
                             groups: Array(found.groups.prefix(limit)), failures: found.failures, successes: found.successes)
    }
}
