import Foundation
import TCPeekCore
import TCPeekText
import TCPeekStore
import TCPeekWire

/// Table, JSON and CSV renderings of query results.
enum QueryOutput {
    static func aggregates(
        _ rows: [AggregateRow], format: Query.Format, bucketing: TimeBucketing, clock: TableClock, isTerminal: Bool
    ) -> String {
        switch format {
        case .json:
            return HistoryJSON.aggregates(rows) + "\n"
        case .csv:
            let byHost = rows.contains { $0.host != nil }
            var lines = [(byHost ? "host," : "") + "filter,from,to,success,dupsyn,dupsynack,failure,timeout,reject,unreach,abort,p50_ms,p95_ms,p99_ms"]
            for row in rows {
                let c = row.counters
                let hostCell: [String] = byHost ? [row.host ?? ""] : []
                lines.append((hostCell + [row.filter, WireTime.text(row.from), WireTime.text(row.to), "\(c.success)",
                              "\(c.successWithDupSYN)", "\(c.successWithDupSYNACK)", "\(c.failure)", "\(c.timeout)",
                              "\(c.reject)", "\(c.unreach)", "\(c.abort)", csvNumber(row.p50), csvNumber(row.p95),
                              csvNumber(row.p99)]).map(csvField).joined(separator: ","))
            }
            return lines.joined(separator: "\n") + "\n"
        case .table:
            // A fleet answer by host (`--by host`) leads with the host.
            let hostColumn = rows.contains { $0.host != nil } ? ["HOST"] : []
            var header = hostColumn + ["FILTER", "FROM", "TO", "SUCCESS", "DUPSYN", "DUPS/A", "FAILURE", "TIMEOUT", "REJECT",
                                       "UNREACH", "ABORT", "P50 ms", "P95 ms", "P99 ms"]
            let maxFailures = rows.map(\.counters.failure).max() ?? 0
            if isTerminal, bucketing != .total { header.append("FAILURES") }
            var table = [header]
            for row in rows {
                let c = row.counters
                let hostCell: [String] = hostColumn.isEmpty ? [] : [row.host ?? ""]
                var cells = hostCell + [row.filter, clock.text(row.from), clock.text(row.to), "\(c.success)", "\(c.successWithDupSYN)",
                             "\(c.successWithDupSYNACK)", "\(c.failure)", "\(c.timeout)", "\(c.reject)", "\(c.unreach)",
                             "\(c.abort)", tableNumber(row.p50), tableNumber(row.p95), tableNumber(row.p99)]
                if isTerminal, bucketing != .total { cells.append(bar(c.failure, of: maxFailures)) }
                table.append(cells)
            }
            let leftAligned: Set<Int> = hostColumn.isEmpty ? [0, 1, 2, 14] : [0, 1, 2, 3, 15]
            return TextTable.render(table, leftAligned: leftAligned) + causeLines(rows, bucketing: bucketing, clock: clock)
        }
    }

    /// Under the aggregate table, a line per row with causes: `causes ALL:
    /// closed-port 3, no-answer 12, after-retries 40` (with the bucket's
    /// start when the range is cut into buckets). Nothing when no row has any.
    static func causeLines(_ rows: [AggregateRow], bucketing: TimeBucketing, clock: TableClock) -> String {
        let lines = rows.filter { !$0.causes.isEmpty }.map { row in
            let filter = row.host.map { "\($0) \(row.filter)" } ?? row.filter
            let which = bucketing == .total ? filter : "\(filter) \(clock.text(row.from))"
            return "causes \(which): " + row.causes.byName.map { "\($0.name) \($0.count)" }.joined(separator: ", ")
        }
        return lines.isEmpty ? "" : "\n" + lines.joined(separator: "\n") + "\n"
    }

    /// `--by cause`: each filter's outcomes, their causes and the attempts
    /// without one, with the share of the outcome's attempts.
    static func causes(_ rows: [AggregateRow], format: Query.Format) -> String {
        let answers = HistoryJSON.causeAnswers(rows)
        switch format {
        case .json:
            return WireJSON.text(answers) + "\n"
        case .csv:
            var lines = ["filter,from,to,outcome,cause,count,outcome_total,share"]
            for answer in answers {
                lines.append([answer.filter, answer.from, answer.to, answer.outcome, answer.cause ?? "", "\(answer.count)",
                              "\(answer.outcomeTotal)", String(format: "%.4f", answer.share.value)].map(csvField).joined(separator: ","))
            }
            return lines.joined(separator: "\n") + "\n"
        case .table:
            var table = [["FILTER", "OUTCOME", "CAUSE", "COUNT", "SHARE"]]
            for answer in answers {
                table.append([answer.filter, answer.outcome, answer.cause ?? "-", "\(answer.count)",
                              String(format: "%.1f%%", answer.share.value * 100)])
            }
            return TextTable.render(table, leftAligned: [0, 1, 2])
        }
    }

    static func sessions(_ rows: [SessionAnswer], format: Query.Format, clock: TableClock) -> String {
        switch format {
        case .json:
            return WireJSON.text(rows) + "\n"
        case .csv:
            // A fleet answer (`--clickhouse`) leads with the host that recorded the session.
            let withHost = rows.contains { $0.host != nil }
            var lines = [(withHost ? "host," : "") + "started_at,duration_ms,client,client_port,server,server_port,direction,outcome,dupsyn,dupsynack,filters"]
            for row in rows {
                let hostCell: [String] = withHost ? [row.host ?? ""] : []
                lines.append((hostCell + [WireTime.text(row.startedAt), WireMilliseconds.text(WireMilliseconds(row.duration * 1000)), row.client,
                              "\(row.clientPort)", row.server, "\(row.serverPort)", row.direction ?? "", row.outcome,
                              "\(row.dupSYN)", "\(row.dupSYNACK)", row.filters.joined(separator: ",")]).map(csvField).joined(separator: ","))
            }
            return lines.joined(separator: "\n") + "\n"
        case .table:
            let hostColumn = rows.contains { $0.host != nil } ? ["HOST"] : []
            var table = [hostColumn + ["STARTED", "TIME ms", "CLIENT", "SERVER", "DIR", "OUTCOME", "DUPSYN", "DUPS/A", "FILTERS"]]
            for row in rows {
                let hostCell: [String] = hostColumn.isEmpty ? [] : [row.host ?? ""]
                table.append(hostCell + [clock.text(row.startedAt), tableNumber(row.duration * 1000),
                              endpoint(row.client, row.clientPort), endpoint(row.server, row.serverPort),
                              row.direction ?? "-", row.outcome, "\(row.dupSYN)", "\(row.dupSYNACK)", row.filters.joined(separator: ",")])
            }
            let leftAligned: Set<Int> = hostColumn.isEmpty ? [0, 2, 3, 4, 5, 8] : [0, 1, 3, 4, 5, 6, 9]
            return TextTable.render(table, leftAligned: leftAligned)
        }
    }

    static func top(_ rows: [TopAnswer], kind: HistoryQuery.TopKind, format: Query.Format) -> String {
        switch format {
        case .json:
            return WireJSON.text(rows) + "\n"
        case .csv:
            var lines = ["\(kind.rawValue),failures,timeout,reject,unreach,abort,attempts"]
            for row in rows {
                lines.append([row.key, "\(row.failures)", "\(row.timeout)", "\(row.reject)", "\(row.unreach)",
                              "\(row.abort)", "\(row.attempts)"].map(csvField).joined(separator: ","))
            }
            return lines.joined(separator: "\n") + "\n"
        case .table:
            var table = [[kind.rawValue.uppercased(), "FAILURES", "TIMEOUT", "REJECT", "UNREACH", "ABORT", "ATTEMPTS"]]
            for row in rows {
                table.append([row.key, "\(row.failures)", "\(row.timeout)", "\(row.reject)", "\(row.unreach)",
                              "\(row.abort)", "\(row.attempts)"])
            }
            return TextTable.render(table, leftAligned: [0])
        }
    }

    // MARK: Helpers

    static func bar(_ value: UInt64, of maximum: UInt64) -> String {
        guard maximum > 0, value > 0 else { return "" }
        let eighths = Int((Double(value) / Double(maximum) * 80).rounded(.up))
        let blocks = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        return String(repeating: "█", count: eighths / 8) + blocks[eighths % 8]
    }

    static func tableNumber(_ value: Double?) -> String {
        guard let value else { return "-" }
        return String(format: "%.3f", value)
    }

    static func csvNumber(_ value: Double?) -> String {
        value.map { String(format: "%.3f", $0) } ?? ""
    }

    static func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    static func endpoint(_ address: String, _ port: Int) -> String {
        address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }
}

/// How the table writes a time: UTC by default, as CSV, JSON and tcpeekstat
/// do (`2026-11-27 10:00:00Z`), or local time with its offset (`--local`:
/// `2026-11-27 11:00:00+01:00`, each time with its own, across a change of
/// daylight saving time). Whole seconds; `--since` reads either form back.
enum TableClock {
    case utc, local

    func text(_ seconds: Double) -> String {
        let (text, offset) = TimeText.format(Int64(seconds.rounded(.down)), "%Y-%m-%d %H:%M:%S", in: self == .utc ? .utc : .local)
        guard self == .local else { return text + "Z" }
        let minutes = abs(offset) / 60
        return text + (offset < 0 ? "-" : "+") + TextTable.zeroPad(minutes / 60, 2) + ":" + TextTable.zeroPad(minutes % 60, 2)
    }
}
