import GRDB
import TCPeekCore
import TCPeekWire

/// The sessions themselves: listed (`--sessions`) and ranked (`--top`).
extension HistoryQuery {
    /// Sessions newest first, every condition a bound parameter. `client`
    /// and `server` match an address however it was written (they are
    /// parsed values) or every address of a network.
    public static func sessions(
        _ database: HistoryDatabase, since: Double, until: Double, filters: [String]?, outcome: String?,
        client: IPNetwork?, server: IPNetwork?, port: Int?, limit: Int
    ) throws(StoreError) -> [SessionAnswer] {
        var conditions = SessionConditions(since: since, until: until, filters: filters)
        if let outcome { conditions.append("s.outcome = ?", [outcome]) }
        if let client { conditions.append(address: "client_addr", in: client) }
        if let server { conditions.append(address: "server_addr", in: server) }
        let networks = conditions.networks
        if let port { conditions.append("s.server_port = ?", [port]) }
        let sql = """
            SELECT s.started_at, s.duration, s.client_addr, s.client_port, s.server_addr, s.server_port, s.direction,
                   s.outcome, s.dup_syn, s.dup_synack,
                   (SELECT group_concat(filter, char(31)) FROM run_filters f WHERE \(Schema.sessionCountedByFilter)) AS filters
            FROM sessions s WHERE \(conditions.sql)
            ORDER BY s.started_at DESC LIMIT ?
            """
        return try database.read { db in
            if !networks.isEmpty { db.add(function: SessionAddressFunction.make(networks)) }
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(conditions.arguments + [limit])).map(sessionAnswer)
        }
    }

    /// What `--top` ranks.
    public enum TopKind: String, Sendable, CaseIterable {
        case server, client, port

        var column: String {
            switch self {
            case .server: "server_addr"
            case .client: "client_addr"
            case .port: "server_port"
            }
        }
    }

    /// The endpoints with the most failures.
    public static func top(
        _ database: HistoryDatabase, kind: TopKind, since: Double, until: Double, filters: [String]?, limit: Int
    ) throws(StoreError) -> [TopAnswer] {
        let conditions = SessionConditions(since: since, until: until, filters: filters)
        // The column name comes from the enum above, never from the user.
        let sql = """
            SELECT CAST(\(kind.column) AS TEXT) AS key,
                   sum(outcome <> 'success') AS failures, sum(outcome = 'timeout') AS timeout,
                   sum(outcome = 'reject') AS reject, sum(outcome = 'unreach') AS unreach,
                   sum(outcome = 'abort') AS abort, count(*) AS attempts
            FROM sessions s WHERE \(conditions.sql)
            GROUP BY \(kind.column) HAVING failures > 0
            ORDER BY failures DESC, key LIMIT ?
            """
        return try database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(conditions.arguments + [limit])).map { topAnswer($0, kind: kind) }
        }
    }
}

extension HistoryQuery {
    private static func sessionAnswer(_ row: Row) -> SessionAnswer {
        SessionAnswer(
            startedAt: row["started_at"], duration: row["duration"], client: row["client_addr"],
            clientPort: row["client_port"], server: row["server_addr"], serverPort: row["server_port"],
            direction: row["direction"], outcome: row["outcome"], dupSYN: row["dup_syn"],
            dupSYNACK: row["dup_synack"],
            // U+001F, a control character, cannot be in a filter's name.
            filters: ((row["filters"] as String?) ?? "").split(separator: "\u{1F}").map(String.init))
    }

    private static func topAnswer(_ row: Row, kind: TopKind) -> TopAnswer {
        TopAnswer(kind: kind.rawValue, key: row["key"], failures: row["failures"], timeout: row["timeout"],
                  reject: row["reject"], unreach: row["unreach"], abort: row["abort"], attempts: row["attempts"])
    }
}
