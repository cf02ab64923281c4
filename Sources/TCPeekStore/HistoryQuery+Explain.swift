import GRDB
import TCPeekCore
import TCPeekWire

/// `tcpeek explain` (issue 15): one session with its evidence, or a range's
/// failures grouped, each with what the rest of the database says about its
/// server (the handshakes it completed around them, the TTL of its
/// SYN/ACKs). The sentences are `CauseExplanation`'s.
extension HistoryQuery {
    /// How far around the attempts the server's other handshakes count: the
    /// window `CauseJudge` calls "serving".
    static let servingWindow = 60.0

    /// The newest `sessions.id`s a group lists.
    static let sessionIDsListed = 5

    /// `tcpeek explain ID` for an id the database does not hold.
    public struct UnknownSessionError: Error, Sendable, CustomStringConvertible {
        public let id: Int64
        /// The lowest and highest ids the database holds; nil when it holds none.
        public let held: ClosedRange<Int64>?

        public var description: String {
            guard let held else { return "no session \(id): this database holds no sessions yet" }
            return "no session \(id) in the database; it holds sessions \(held.lowerBound) to \(held.upperBound)"
                + " (older ones may have been pruned); 'tcpeek explain' without an id lists the failures with their ids"
        }
    }

    /// Session `id` with its evidence and server context.
    public static func explainSession(_ database: HistoryDatabase, id: Int64) throws(StoreError) -> Result<SessionExplanation, UnknownSessionError> {
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT s.*, (SELECT group_concat(filter, char(31)) FROM run_filters f WHERE \(Schema.sessionCountedByFilter)) AS filters
                FROM sessions s WHERE s.id = ?
                """, arguments: [id]) else {
                let low = try Int64.fetchOne(db, sql: "SELECT min(id) FROM sessions")
                let high = try Int64.fetchOne(db, sql: "SELECT max(id) FROM sessions")
                return .failure(UnknownSessionError(id: id, held: low.flatMap { low in high.map { low...$0 } }))
            }
            let startedAt: Double = row["started_at"]
            let duration: Double = row["duration"]
            let server: String = row["server_addr"]
            let port: Int = row["server_port"]
            let context = try serverContext(db, server: server, port: port, from: startedAt, to: startedAt + duration, excluding: id)
            let milliseconds = { (seconds: Double?) in seconds.flatMap { WireMilliseconds($0 * 1000) } }
            let synRetry: Double = row["syn_retry_time"]
            let dupSYN: Int = row["dup_syn"]
            let synackSeen: Int? = row["synack_seen"]
            let evidence = SessionEvidence(
                synTTL: row["syn_ttl"], syns: dupSYN + 1, synRetryMs: milliseconds(synRetry),
                synackSeen: synackSeen.map { $0 != 0 }, synackTTL: row["synack_ttl"], synackMSS: row["synack_mss"],
                synackWscale: row["synack_wscale"], synacksResent: row["dup_synack"],
                synToSynackMs: milliseconds(row["syn_to_synack"]), synackToAckMs: milliseconds(row["synack_to_ack"]),
                rstTTL: row["rst_ttl"], icmpSender: row["icmp_sender"], icmpType: row["icmp_type"], icmpCode: row["icmp_code"],
                icmpTTL: row["icmp_ttl"], ignoredRST: row["ignored_rst"], ignoredRSTTTL: row["ignored_rst_ttl"],
                captureDropped: (row["capture_dropped"] as Int) != 0, evicted: (row["evicted"] as Int) != 0)
            return .success(SessionExplanation(
                id: id, startedAt: startedAt, duration: duration, client: row["client_addr"], clientPort: row["client_port"],
                server: server, serverPort: port, direction: row["direction"], outcome: row["outcome"], cause: row["cause"],
                // Every row recorded since schema 6 has its SYN's TTL.
                hasEvidence: (row["syn_ttl"] as Int?) != nil,
                filters: ((row["filters"] as String?) ?? "").split(separator: "\u{1F}").map(String.init),
                evidence: evidence, serverContext: context))
        }
    }

    /// The failures started in `[since, until)` that one of `filters` (any
    /// when nil) counted, to `server` (and `port`) when given, per (server,
    /// port, outcome, cause): the biggest groups first, the newest first
    /// among equals, at most `limit`; and the successes of the same sessions.
    public static func explainFailures(
        _ database: HistoryDatabase, since: Double, until: Double, filters: [String]?, server: IPNetwork?, port: Int?,
        limit: Int
    ) throws(StoreError) -> (groups: [FailureGroup], failures: Int, successes: SuccessSummary) {
        var conditions = SessionConditions(since: since, until: until, filters: filters)
        if let server { conditions.append(address: "server_addr", in: server) }
        if let port { conditions.append("s.server_port = ?", [port]) }
        let networks = conditions.networks
        // `count` over the window adds the group's siblings of the same
        // server port and outcome: "12 of 14 timeouts".
        let groupsSQL = """
            SELECT s.server_addr AS server, s.server_port AS port, s.outcome AS outcome, coalesce(s.cause, '') AS cause,
                   count(*) AS n, sum(count(*)) OVER (PARTITION BY s.server_addr, s.server_port, s.outcome) AS outcome_n,
                   min(s.started_at) AS first, max(s.started_at) AS last, count(DISTINCT s.client_addr) AS clients,
                   group_concat(DISTINCT s.syn_ttl) AS syn_ttls, group_concat(DISTINCT s.rst_ttl) AS rst_ttls,
                   group_concat(DISTINCT s.icmp_sender) AS senders, group_concat(DISTINCT s.icmp_code) AS codes,
                   min(s.dup_syn) + 1 AS syns_min, max(s.dup_syn) + 1 AS syns_max, sum(s.capture_dropped) AS dropped
            FROM sessions s WHERE \(conditions.sql) AND s.outcome <> 'success'
            GROUP BY 1, 2, 3, 4 ORDER BY n DESC, last DESC, server, port LIMIT ?
            """
        return try database.read { db in
            if !networks.isEmpty { db.add(function: SessionAddressFunction.make(networks)) }
            var groups: [FailureGroup] = []
            for row in try Row.fetchAll(db, sql: groupsSQL, arguments: StatementArguments(conditions.arguments + [limit])) {
                let server: String = row["server"], port: Int = row["port"], outcome: String = row["outcome"]
                let cause: String = row["cause"]
                let first: Double = row["first"], last: Double = row["last"]
                var members = conditions
                members.append("s.server_addr = ? AND s.server_port = ? AND s.outcome = ? AND coalesce(s.cause, '') = ?",
                               [server, port, outcome, cause])
                let ids = try Int64.fetchAll(db, sql: "SELECT s.id FROM sessions s WHERE \(members.sql) ORDER BY s.started_at DESC, s.id DESC LIMIT ?",
                                             arguments: StatementArguments(members.arguments + [sessionIDsListed]))
                groups.append(FailureGroup(
                    server: server, serverPort: port, outcome: outcome, cause: cause.isEmpty ? nil : cause,
                    count: row["n"], outcomeCount: row["outcome_n"], first: first, last: last, clients: row["clients"],
                    synTTLs: numbers(row["syn_ttls"]), rstTTLs: numbers(row["rst_ttls"]),
                    icmpSenders: ((row["senders"] as String?) ?? "").split(separator: ",").map(String.init).sorted(),
                    icmpCodes: numbers(row["codes"]), synsMin: row["syns_min"], synsMax: row["syns_max"],
                    captureDropped: row["dropped"],
                    serverContext: try serverContext(db, server: server, port: port, from: first, to: last, excluding: nil),
                    sessionIDs: ids))
            }
            let failures = try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions s WHERE \(conditions.sql) AND s.outcome <> 'success'",
                                            arguments: StatementArguments(conditions.arguments)) ?? 0
            return (groups, failures, try successSummary(db, conditions))
        }
    }

    /// What the other sessions say about `server`:`port` from a minute
    /// before `from` to a minute after `to`.
    private static func serverContext(
        _ db: Database, server: String, port: Int, from: Double, to: Double, excluding id: Int64?
    ) throws -> ServerContext {
        let span: [any DatabaseValueConvertible] = [from - servingWindow, to + servingWindow]
        let completed = try Row.fetchOne(db, sql: """
            SELECT count(*) AS n, count(DISTINCT client_addr) AS clients FROM sessions
            WHERE started_at >= ? AND started_at <= ? AND server_addr = ? AND server_port = ? AND outcome = 'success' AND id IS NOT ?
            """, arguments: StatementArguments(span + [server, port, id]))
        let ttls = try Int.fetchAll(db, sql: """
            SELECT synack_ttl FROM sessions WHERE started_at >= ? AND started_at <= ? AND server_addr = ? AND synack_ttl IS NOT NULL
            GROUP BY synack_ttl ORDER BY count(*) DESC, synack_ttl LIMIT 3
            """, arguments: StatementArguments(span + [server]))
        return ServerContext(completed: completed?["n"] ?? 0, clients: completed?["clients"] ?? 0, synackTTLs: ttls)
    }

    /// The successes among the sessions `conditions` selects, per flag.
    private static func successSummary(_ db: Database, _ conditions: SessionConditions) throws -> SuccessSummary {
        var counts = [UInt64](repeating: 0, count: Cause.allCases.count)
        var total = 0
        var retry = 0.0
        var texts = CauseTexts()
        let rows = try Row.fetchCursor(db, sql: """
            SELECT s.cause AS cause, count(*) AS n, sum(CASE WHEN s.dup_syn > 0 THEN s.syn_retry_time ELSE 0 END) AS retry
            FROM sessions s WHERE \(conditions.sql) AND s.outcome = 'success' GROUP BY s.cause
            """, arguments: StatementArguments(conditions.arguments))
        while let row = try rows.next() {
            let n: Int = row["n"]
            total += n
            retry += (row["retry"] as Double?) ?? 0
            for cause in texts.causes(row["cause"]) { counts[Int(cause.rawValue)] += UInt64(n) }
        }
        let flags = Cause.allCases.filter { counts[Int($0.rawValue)] > 0 }.map { (name: $0.description, count: counts[Int($0.rawValue)]) }
        return SuccessSummary(count: total, flags: CausesAnswer(flags), retryMs: WireMilliseconds(retry * 1000))
    }

    /// `group_concat`'s `64,63` as sorted numbers.
    private static func numbers(_ text: String?) -> [Int] {
        (text ?? "").split(separator: ",").compactMap { Int($0) }.sorted()
    }
}
