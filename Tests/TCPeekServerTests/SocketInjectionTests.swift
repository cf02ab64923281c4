// Hostile socket requests (issue 6, item 6): QUERY fields and WINDOW
// durations that look like SQL reach the database only as bound values or
// closed choices. Each answer is `{"error":...}` or the right figures, and
// the database file is byte for byte what the recorder left.
import Foundation
import TCPeekCore
import TCPeekServer
import TCPeekStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("socket requests that try to inject SQL")
struct SocketInjectionTests {
    /// Names the filter grammar allows that mean something to SQL (`_` is
    /// LIKE's any-character, `--` starts a comment), each counting other
    /// server ports of the gnutella capture.
    static let filters: [(name: String, expression: String)] = [
        ("a_c", "a_c:ANY@*:6346"), ("abc", "abc:ANY@*:9010"), ("_", "_:ANY@*:2886"), ("--", "--:ANY@*:2886:3820"),
        ("NULL", "NULL:ANY@*:4315"), ("sessions", "sessions:ANY@*:14384"), ("x..y", "x..y:ANY@*:6346,*:9010"),
    ]
    static var names: [String] { ["ALL"] + filters.map(\.name) }

    /// Lookalikes of the names above, and plain SQL: none is a recorded filter.
    static let unknownNames = [
        "a' OR 1=1 --", "ALL; DROP TABLE sessions", "x' OR '1'='1", "x\" OR \"1\"=\"1", "%", "a%c", "_bc", "a_",
        "ALL ", "ａ_c", "a_c\u{0}", "a_c\n", "", "*", "--'", "NULL OR 1=1", "sessions; DELETE FROM runs",
    ]

    /// A recorder of the gnutella capture with those filters, serving its socket.
    static func recorder(_ folder: SocketTempFolder) async throws -> (child: SocketChild, socket: String, database: String,
                                                                      summary: [String: [String: [String: Int]]]) {
        let (child, socket, database) = try await socketStayingRecorder(socketGnutella, folder: folder,
                                                                        extra: ["--"] + filters.map(\.expression))
        // --json-summary: [{"NAME":{"success":{...},"failure":{...}}},...,{"pcap":...}]
        let elements = try #require(try socketJSON(child.stdout) as? [[String: Any]], "\(child.transcript)")
        var summary: [String: [String: [String: Int]]] = [:]
        for element in elements {
            for (name, value) in element where name != "pcap" {
                let figures = try #require(value as? [String: Any])
                summary[name] = ["success": try #require(figures["success"] as? [String: Int]),
                                 "failure": try #require(figures["failure"] as? [String: Int])]
            }
        }
        #expect(Set(summary.keys) == Set(names))
        return (child, socket, database, summary)
    }

    /// `text` as a JSON string literal.
    static func json(_ text: String) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed]), as: UTF8.self)
    }

    /// The figures of an answer's row, shaped as in the summary.
    static func figures(_ row: [String: Any]) -> [String: [String: Int]] {
        ["success": row["success"] as? [String: Int] ?? [:], "failure": row["failure"] as? [String: Int] ?? [:]]
    }

    /// The answer is one line holding `{"error":...}` only; its text.
    static func errorText(_ answer: String) -> String? {
        guard answer.hasSuffix("\n"), !answer.dropLast().contains("\n"),
              let object = (try? socketJSON(answer)) as? [String: Any], object.count == 1 else { return nil }
        return object["error"] as? String
    }

    /// What must be the same after the requests: the bytes of the file and
    /// of its -wal file (with --stay the socket's reader is still open when
    /// the recorder closes, so the last transactions stay in the -wal), and
    /// what the database holds.
    static func state(_ database: String) throws -> (bytes: Data?, wal: Data?, sessions: Int, names: [String], all: [AggregateRow]) {
        let wal = FileManager.default.contents(atPath: database + "-wal")
        let history = try HistoryDatabase.openForReading(path: database)
        defer { history.close() }
        let sessions = try HistoryQuery.sessions(history, since: 0, until: 1e10, filters: nil, outcome: nil, client: nil,
                                                 server: nil, port: nil, limit: 100_000).count
        let all = try HistoryQuery.aggregate(history, since: 0, until: 86400, filters: nil, by: .minute)
        return (FileManager.default.contents(atPath: database), wal, sessions, try HistoryQuery.filterNames(in: history), all)
    }

    @Test("QUERY with hostile fields: an error or the exact figures; the database unchanged")
    func hostileQueries() async throws {
        let folder = try SocketTempFolder()
        let (tcpeek, socket, database, summary) = try await Self.recorder(folder)
        defer { tcpeek.stop() }
        let before = try Self.state(database)
        #expect(before.sessions == 139 && Set(before.names) == Set(Self.names))

        let range = #""since":"all","until":"1971-01-01T00:00:00Z""#
        // Each name finds exactly its own row and figures.
        for name in Self.names {
            let answer = try await socketAskAsync(socket, "QUERY {\(range),\"filter\":\(try Self.json(name))}")
            let rows = try #require(try socketJSON(answer) as? [[String: Any]], "\(name): \(answer)")
            #expect(rows.count == 1 && rows.first?["filter"] as? String == name, "\(name): \(answer)")
            #expect(rows.first.map(Self.figures) == summary[name], "\(name): \(answer)")
        }
        let every = try await socketAskAsync(socket, "QUERY {\(range),\"filter\":[\(try Self.names.map(Self.json).joined(separator: ","))]}")
        let everyRows = try #require(try socketJSON(every) as? [[String: Any]], "\(every)")
        #expect(everyRows.compactMap { $0["filter"] as? String } == Self.names)

        // Unknown names, alone or beside a known one: only they are named.
        for name in Self.unknownNames {
            for filter in [try Self.json(name), "[\"ALL\",\(try Self.json(name))]"] {
                let answer = try await socketAskAsync(socket, "QUERY {\(range),\"filter\":\(filter)}")
                let error = try #require(Self.errorText(answer), "\(filter): \(answer)")
                #expect(error.hasPrefix("QUERY: no filter named '\(name)' in the database; known filters: "), "\(filter): \(error)")
            }
        }

        // Another case of a recorded name is that name, as for record and tcpeek query.
        let lower = try await socketAskAsync(socket, "QUERY {\(range),\"filter\":\"all\"}")
        let upper = try await socketAskAsync(socket, "QUERY {\(range),\"filter\":\"ALL\"}")
        #expect(lower == upper && Self.errorText(lower) == nil, "\(lower)")

        // Fields refused before the database is asked anything.
        let refused: [(String, String)] = [
            (#"{"since":"1h'; DROP TABLE sessions; --"}"#, "QUERY: cannot read the time '1h'; DROP TABLE sessions; --'"),
            (#"{"since":"all; DROP TABLE runs"}"#, "QUERY: cannot read the time"),
            (#"{"since":"1970-01-01T00:00:00Z' OR '1'='1"}"#, "QUERY: cannot read the time"),
            (#"{"since":"2026-11-27T10:00:00Z; DELETE FROM sessions"}"#, "QUERY: cannot read the time"),
            (#"{"since":"all","until":"now; DELETE FROM runs"}"#, "QUERY: cannot read the time 'now; DELETE FROM runs'"),
            (#"{"since":1,"filter":"ALL"}"#, "QUERY: 'since' must be a string"),
            (#"{"since":"all","until":{"$gt":""}}"#, "QUERY: 'until' must be a string"),
            (#"{"since":"all","by":"minute; DROP TABLE sessions"}"#, "QUERY: 'by' must be minute, hour, day or total, not 'minute; DROP TABLE sessions'"),
            (#"{"since":"all","by":"strftime('%s', minute)"}"#, "QUERY: 'by' must be minute, hour, day or total"),
            (#"{"since":"all","by":60}"#, "QUERY: 'by' must be minute, hour, day or total"),
            (#"{"since":"all","filter":{"$ne":"x"}}"#, "QUERY: 'filter' must be a name or a list of names"),
            (#"{"since":"all","filter":["ALL",1]}"#, "QUERY: 'filter' must be a name or a list of names"),
            (#"{"since":"all","filter":true}"#, "QUERY: 'filter' must be a name or a list of names"),
            (#"{"since":"all","sql":"DROP TABLE sessions"}"#, "QUERY: unknown field 'sql'"),
            (#"{"since":"all","filter; DROP TABLE sessions":"ALL"}"#, "QUERY: unknown field 'filter; DROP TABLE sessions'"),
            (#"{"since":"all"}; DROP TABLE sessions"#, "QUERY: not valid JSON"),
            (#"' OR 1=1 --"#, "QUERY: not valid JSON"),
            (#""ALL""#, "QUERY: expected a JSON object"),
            (#"["ALL"]"#, "QUERY: expected a JSON object"),
        ]
        for (fields, words) in refused {
            let answer = try await socketAskAsync(socket, "QUERY \(fields)")
            let error = try #require(Self.errorText(answer), "\(fields): \(answer)")
            #expect(error.hasPrefix(words), "\(fields): \(error)")
        }

        // Nothing was written, and the answers are still right.
        let after = try Self.state(database)
        #expect(after.bytes == before.bytes, "the database file changed")
        #expect(after.wal == before.wal, "the -wal file changed")
        #expect(after.sessions == before.sessions && after.names == before.names && after.all == before.all)
        #expect(try await socketAskAsync(socket, "GET") == tcpeek.stdout)
        tcpeek.signal(SIGTERM)
        #expect(await tcpeek.waitForExit(timeout: 10) == 0, "\(tcpeek.transcript)")
    }

    @Test("WINDOW with hostile durations: an error; then the right figures under each exact name")
    func hostileWindows() async throws {
        let folder = try SocketTempFolder()
        let (tcpeek, socket, database, summary) = try await Self.recorder(folder)
        defer { tcpeek.stop() }
        let before = try Self.state(database)

        for duration in ["1h; DROP TABLE sessions", "1h'--", "5m OR 1=1", "1h) OR (1=1", "-1h", "0s", "1e20s", "NaNs", "infs",
                         "1h 1h", "%", "_", "60", "'60s'", "\"1h\"", "1h\u{0}", "1 h"] {
            let answer = try await socketAskAsync(socket, "WINDOW \(duration)")
            let error = try #require(Self.errorText(answer), "WINDOW \(duration): \(answer)")
            #expect(error.hasPrefix("WINDOW: cannot read the duration"), "WINDOW \(duration): \(error)")
        }
        // The whole file (its last packet is at 00:10:00): every filter under its own name.
        let window = try await socketAskAsync(socket, "WINDOW 1h")
        let rows = try #require(try socketJSON(window) as? [[String: Any]], "\(window)")
        #expect(rows.compactMap { $0["filter"] as? String } == Self.names)
        for row in rows {
            let name = row["filter"] as? String ?? "?"
            #expect(Self.figures(row) == summary[name], "\(name): \(row)")
        }
        let after = try Self.state(database)
        #expect(after.bytes == before.bytes, "the database file changed")
        #expect(after.wal == before.wal, "the -wal file changed")
        #expect(after.sessions == 139 && after.names == before.names && after.all == before.all)
        tcpeek.signal(SIGTERM)
        #expect(await tcpeek.waitForExit(timeout: 10) == 0, "\(tcpeek.transcript)")
    }
}
