import ArgumentParser
import Foundation
import TCPeekCore
import TCPeekFleet
import TCPeekStore

/// `tcpeek query --clickhouse URL`: the local query's questions over the
/// fleet's history (`FleetQuery`), rendered by the same `QueryOutput`.
extension Query {
    func runFleet(url: String) async throws {
        let range = try history.range(now: Date().timeIntervalSince1970)
        let clientNetwork = try Self.network(client, option: "--client")
        let serverNetwork = try Self.network(server, option: "--server")
        let clock: TableClock = local ? .local : .utc
        let endpoint = try fleet.connection.endpoint(url: url)
        let client = ClickHouseClient(endpoint: endpoint)
        let query = FleetQuery(client: client, database: endpoint.database, host: fleet.host)
        let result: Result<Void, any Error>
        do {
            try await answer(query, range: range, client: clientNetwork, server: serverNetwork, clock: clock, url: endpoint.url)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        await client.shutdown()
        switch result {
        case .success: return
        case let .failure(error as ExitCode): throw error
        case let .failure(error):
            Terminal.error("\(error)")
            throw ExitCode(1)
        }
    }

    private func answer(
        _ query: FleetQuery, range: (Double, Double), client: IPNetwork?, server: IPNetwork?, clock: TableClock, url: String
    ) async throws {
        if let host = query.host {
            let hosts = try await query.hosts()
            guard hosts.contains(host) else {
                Terminal.error("no host named '\(host)' shipped sessions to \(url); "
                    + (hosts.isEmpty ? "none has yet" : "the hosts are \(hosts.joined(separator: ", "))"))
                throw ExitCode(1)
            }
        }
        let known = try await query.filterNames()
        let chosen: [String]?
        do {
            chosen = filters.isEmpty ? nil : try HistoryQuery.filters(named: filters, known: known)
        } catch {
            Terminal.error("\(error)")
            throw ExitCode(1)
        }
        // One row more than --limit tells whether the list stopped there.
        let fetchLimit = min(limit, Int.max - 1) + 1
        let output: String
        let foundNothing: Bool
        var truncation: String?
        if sessions {
            let rows = try await query.sessions(since: range.0, until: range.1, filters: chosen, outcome: outcome?.description,
                                                client: client, server: server, port: port, limit: fetchLimit)
            if rows.count > limit { truncation = "showing the newest \(limit) sessions; --limit N for more" }
            output = QueryOutput.sessions(Array(rows.prefix(limit)), format: format, clock: clock)
            foundNothing = rows.isEmpty
        } else if let top {
            let rows = try await query.top(kind: top, since: range.0, until: range.1, filters: chosen, limit: fetchLimit)
            if rows.count > limit { truncation = "showing the top \(limit) of the \(top.rawValue)s with failures; --limit N for more" }
            output = QueryOutput.top(Array(rows.prefix(limit)), kind: top, format: format)
            foundNothing = rows.isEmpty
        } else {
            let bucketing = by.timeBucketing ?? .total
            let rows = by == .host
                ? try await query.aggregateByHost(since: range.0, until: range.1, filters: chosen ?? known)
                : try await query.aggregate(since: range.0, until: range.1, filters: chosen ?? known, by: bucketing)
            output = by == .cause
                ? QueryOutput.causes(rows, format: format)
                : QueryOutput.aggregates(rows, format: format, bucketing: bucketing, clock: clock,
                                         isTerminal: isatty(STDOUT_FILENO) != 0)
            foundNothing = rows.allSatisfy { $0.counters.success == 0 && $0.counters.failure == 0 }
        }
        print(output, terminator: output.hasSuffix("\n") || output.isEmpty ? "" : "\n")
        if let truncation { Terminal.status(truncation) }
        if foundNothing, !(try await query.holdsData(since: range.0, until: range.1)) {
            let whose = query.host.map { "host \($0)" } ?? "the fleet"
            guard let span = try await query.span() else {
                Terminal.status("no sessions: \(whose) has shipped none to \(url) yet")
                return
            }
            let asked = history.until == nil && DurationText.seconds(history.since) != nil
                ? "in the last \(history.since.trimmingCharacters(in: .whitespaces))"
                : "from \(clock.text(range.0)) to \(clock.text(range.1))"
            Terminal.status("no sessions \(asked); \(whose) shipped \(clock.text(span.lowerBound)) .. \(clock.text(span.upperBound))")
        }
    }
}
