// `tcpeek explain` (issue 15 item 3): verdicts with their evidence, over
// real databases: recorded from corpus captures by the binary, and written
// through the recorder with sessions of every kind around one busy server.
import Foundation
import GRDB
import TCPeekCore
import TCPeekWire
import Testing
@testable import TCPeekStore

/// `tcpeek explain --db DB ...` to completion.
func explain(db: String, in folder: String, _ arguments: [String]) async throws -> RunResult {
    let tcpeek = try StorePaths.requireTCPeek()
    return try await run([tcpeek, "explain", "--db", db] + arguments, in: folder, timeout: 60)
}

@Suite("tcpeek explain")
struct ExplainTests {
    static let start: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z
    static let server = IPAddress(ipv4: 0xCB00_7105)  // 203.0.113.5
    static let router = IPAddress(ipv4: 0xC633_6401)  // 198.51.100.1

    static func client(_ index: Int) -> IPAddress { IPAddress(ipv4: 0xC633_6400 + UInt32(10 + index % 23)) }  // 198.51.100.10-32

    static func seconds(_ value: Double) -> Timestamp { Timestamp(microseconds: start * 1_000_000 + Int64(value * 1_000_000)) }

    /// Around 203.0.113.5:5432: 230 successes from 23 clients every 2 s
    /// (three after a retry), 12 timeouts dropped while it served, two
    /// unanswered ones later, one under capture loss; a RST one hop nearer
    /// than the server on port 5433; an ICMP refusal from a router.
    static let sessions: [Session] = {
        var sessions: [Session] = []
        func add(_ at: Double, _ outcome: Outcome, _ cause: Cause?, port: UInt16 = 5432, client: Int = 0, dupSYN: UInt32 = 0,
                 icmp: (UInt8, UInt8) = (0, 0), _ fill: (inout HandshakeEvidence) -> Void = { _ in }) {
            var session = Session(client: Self.client(client), server: server, clientPort: 40_000 &+ UInt16(sessions.count),
                                  serverPort: port, startedAt: seconds(at), duration: .init(microseconds: 3_000_000),
                                  outcome: outcome, dupSYN: dupSYN, filters: FilterMask(rawValue: 1),
                                  icmpType: icmp.0, icmpCode: icmp.1)
            session.evidence.synHopLimit = 64
            fill(&session.evidence)
            if let cause { session.cause.insert(cause) }
            sessions.append(session)
        }
        for index in 0..<230 {
            let retried = index % 100 == 7
            add(Double(index * 2), .success, retried ? .afterRetries : nil, client: index, dupSYN: retried ? 1 : 0) {
                $0.synAckHopLimit = 63
                $0.synAckOptions = SYNOptions(maximumSegmentSize: 1460, windowScale: 7)
                $0.synToSynAck = .init(microseconds: 20_000)
                $0.synAckToAck = .init(microseconds: 95)
                if retried { $0.synRetryTime = .seconds(1) }
            }
        }
        for index in 0..<12 {
            add(100 + Double(index), .timeout, .droppedWhileServing, client: index % 4, dupSYN: 2) { $0.synRetryTime = .seconds(3) }
        }
        add(600, .timeout, .noAnswer, dupSYN: 2) { $0.synRetryTime = .seconds(3) }
        add(601, .timeout, .noAnswer, dupSYN: 2) { $0.synRetryTime = .seconds(3) }
        add(130, .reject, .resetByMiddlebox, port: 5433) { $0.resetHopLimit = 64 }
        add(140, .timeout, .uncertain) { $0.captureDropped = true }
        add(150, .unreach, .filtered, port: 5433, icmp: (3, 13)) {
            $0.unreachableSender = router
            $0.unreachableHopLimit = 63
        }
        return sessions
    }()

    static func database(_ folder: TemporaryFolder) throws -> String {
        let path = folder.file("explain.db")
        var options = RecorderOptions()
        options.retentionDays = 100_000
        options.rollupRetentionDays = 100_000
        try recordInProcess(into: path, filters: ["web:ANY@*:*"], options: options, feed: { recorder in
            recorder.queue.push(Self.sessions, waitWhenFull: true)
        })
        return path
    }

    /// The `sessions.id` of the session with client port `port`.
    static func id(in path: String, clientPort port: Int) throws -> Int64 {
        try #require(try inspect(path) { try Int64.fetchOne($0, sql: "SELECT id FROM sessions WHERE client_port = ?", arguments: [port]) })
    }

    static func clientPort(_ cause: Cause) throws -> Int {
        40_000 + (try #require(sessions.firstIndex { $0.cause.contains(cause) }))
    }

    @Test func aServersFailuresAreGroupedWithWhatTheServerDidMeanwhile() throws {
        let folder = try TemporaryFolder("explain-groups")
        defer { folder.remove() }
        let path = try Self.database(folder)
        let reader = try HistoryDatabase.openForReading(path: path)
        defer { reader.close() }
        let found = try HistoryQuery.explainFailures(reader, since: 0, until: Double(Self.start) + 3600, filters: nil,
                                                     server: try IPNetwork(parsing: "203.0.113.5"), port: 5432, limit: 10)
        #expect(found.failures == 15)
        #expect(found.groups.map { "\($0.outcome) \($0.cause ?? "-") \($0.count)/\($0.outcomeCount)" }
                == ["timeout dropped-while-serving 12/15", "timeout no-answer 2/15", "timeout uncertain 1/15"])
        let serving = found.groups[0]
        // The successes from a minute before the first to a minute after the last.
        let around = Self.sessions.filter {
            $0.outcome == .success && $0.startedAt >= Self.seconds(100 - 60) && $0.startedAt <= Self.seconds(111 + 60)
        }
        #expect(serving.serverContext == ServerContext(completed: around.count, clients: 23, synackTTLs: [63]))
        #expect(serving.verdict == "12 of 15 timeouts to 203.0.113.5:5432 between 00:01:40 and 00:01:51 UTC (2026-01-01) were "
                + "attempts whose SYNs (3 each) went unanswered while the server answered 23 other clients (\(around.count) handshakes): "
                + "dropped at the server (a full accept queue) or by a rate limit")
        #expect(serving.certainty == .likely)
        #expect(serving.sessionIDs.count == 5 && serving.clients == 4 && serving.synTTLs == [64])
        let unanswered = found.groups[1]
        #expect(unanswered.verdict.hasSuffix("were attempts whose SYNs (3 each) went unanswered, and the server completed "
                                             + "no other handshake around them: dropped silently on the path, or nothing answers there"))
        let uncertain = found.groups[2]
        #expect(uncertain.certainty == .unsure && uncertain.because == "libpcap dropped packets while they were open")
        #expect(uncertain.verdict.hasPrefix("1 of 15 timeouts to 203.0.113.5:5432 at 2026-01-01 00:02:20 UTC was unanswered while libpcap dropped packets"))

        #expect(found.successes.count == 230)
        #expect(found.successes.flags == CausesAnswer([("after-retries", 3)]))
        #expect(CauseExplanation.successLine(found.successes) == "successes: 230; after-retries 3 (3.0 s lost to retries)")

        // Text and JSON of the same answer.
        let answer = ExplainAnswer(subject: ExplainSubject(kind: "server", server: "203.0.113.5", port: 5432),
                                   from: "1970-01-01T00:00:00Z", to: "2026-01-01T01:00:00Z", groups: found.groups,
                                   failures: found.failures, successes: found.successes)
        let lines = answer.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "15 failures to 203.0.113.5:5432 from 1970-01-01 00:00:00Z to 2026-01-01 01:00:00Z in 3 groups")
        #expect(lines[2] == serving.verdict)
        #expect(lines[3] == "  how sure     likely: the same server port completed other handshakes meanwhile")
        #expect(lines[4] == "  cause        dropped-while-serving")
        #expect(lines[5] == "  clients      4, SYN TTL 64, 3 SYNs each")
        #expect(lines[6] == "  server       the port completed \(around.count) handshakes from 23 clients within a minute; "
                + "the address's SYN/ACKs came with TTL 63")
        #expect(lines[7].hasPrefix("  sessions     ") && lines[7].hasSuffix(", … (the newest; 'tcpeek explain ID' for one)"))
        #expect(lines.suffix(2) == ["successes: 230; after-retries 3 (3.0 s lost to retries)", ""])
        let json = WireJSON.text(answer)
        #expect(try WireJSON.decode(ExplainAnswer.self, from: json) == answer)
        #expect(json.hasPrefix(#"{"subject":{"kind":"server","id":null,"server":"203.0.113.5","port":5432,"filters":[]},"from":"#))
        #expect(json.contains(#""server":"203.0.113.5","server_port":5432,"outcome":"timeout","cause":"dropped-while-serving","count":12,"outcome_count":15,"first":"2026-01-01T00:01:40Z","#),
                "\(json)")
        #expect(json.hasSuffix(#""failures":15,"successes":{"count":230,"flags":{"after-retries":3},"retry_ms":3000.000}}"#), "\(json)")
    }

    @Test func oneSessionsVerdictNamesWhoAnsweredAndHowSureItIs() throws {
        let folder = try TemporaryFolder("explain-session")
        defer { folder.remove() }
        let path = try Self.database(folder)
        let reader = try HistoryDatabase.openForReading(path: path)
        defer { reader.close() }
        func explained(_ cause: Cause) throws -> SessionExplanation {
            let id = try Self.id(in: path, clientPort: try Self.clientPort(cause))
            return try HistoryQuery.explainSession(reader, id: id).get()
        }
        let middlebox = try explained(.resetByMiddlebox)
        #expect(middlebox.verdict == "198.51.100.10:40244 → 203.0.113.5:5433 rejected: the RST came 1 hop nearer than the server "
                + "(TTL 64 vs 63): a firewall on the path rejected it")
        #expect(middlebox.certainty == .likely)
        #expect(middlebox.evidence.rstTTL == 64 && middlebox.evidence.synackSeen == false)
        #expect(middlebox.serverContext.synackTTLs == [63])

        let filtered = try explained(.filtered)
        #expect(filtered.verdict == "198.51.100.10:40246 → 203.0.113.5:5433 unreachable: 198.51.100.1 (a router, not the server) "
                + "said administratively prohibited (ICMP 3/13): filtered")
        #expect(filtered.certainty == .sure)

        let serving = try explained(.droppedWhileServing)
        #expect(serving.verdict.hasPrefix("198.51.100.10:40230 → 203.0.113.5:5432 timed out: every SYN (3, 3.0 s of retries) went "
                                          + "unanswered while 203.0.113.5:5432 completed "))
        #expect(serving.verdict.hasSuffix("other handshakes within the minute: dropped at the server (a full accept queue) or by a rate limit"))

        let uncertain = try explained(.uncertain)
        #expect(uncertain.certainty == .unsure && uncertain.because == "libpcap dropped packets while it was open")

        let retried = try explained(.afterRetries)
        #expect(retried.verdict == "198.51.100.17:40007 → 203.0.113.5:5432 succeeded after 1 retry (1.0 s lost)")

        let answer = ExplainAnswer(subject: ExplainSubject(kind: "session", id: middlebox.id), session: middlebox)
        #expect(answer.text == """
            session \(middlebox.id), 2026-01-01 00:02:10Z, reject, filters web
            \(middlebox.verdict)
              how sure     likely: the hop counts differ; a route change between the two packets could do the same
              SYN          TTL 64 (~0 hops), 1 sent
              SYN/ACK      none captured
              RST          TTL 64 (~0 hops)
              server       the port completed 0 other handshakes from 0 clients within a minute; the address's SYN/ACKs came with TTL 63

            """)
        #expect(try WireJSON.decode(ExplainAnswer.self, from: WireJSON.text(answer)) == answer)

        let unknown = try HistoryQuery.explainSession(reader, id: 99_999)
        guard case .failure(let error) = unknown else { Issue.record("session 99999 found"); return }
        #expect(error.description.hasPrefix("no session 99999 in the database; it holds sessions 1 to \(Self.sessions.count)"))
    }

    /// The binary: subjects, formats, and the errors with their statuses.
    @Test func theCommandExplainsAndRefusesBadInput() async throws {
        let folder = try TemporaryFolder("explain-command")
        defer { folder.remove() }
        let path = try Self.database(folder)
        let server = try await explain(db: path, in: folder.path, ["--server", "203.0.113.5:5432", "--since", "all"])
        try #require(server.status == 0, "\(server)")
        #expect(server.stdout.hasPrefix("15 failures to 203.0.113.5:5432 from 1970-01-01 00:00:00Z to "), "\(server)")
        #expect(server.stdout.contains("\n12 of 15 timeouts to 203.0.113.5:5432 between 00:01:40 and 00:01:51 UTC (2026-01-01) were "))
        #expect(server.stdout.hasSuffix("\nsuccesses: 230; after-retries 3 (3.0 s lost to retries)\n"))

        // Every failure by default; a network for --server; a filter.
        let all = try await explain(db: path, in: folder.path, ["--since", "all", "--format", "json"])
        let allAnswer = try WireJSON.decode(ExplainAnswer.self, from: all.stdout)
        #expect(allAnswer.subject.kind == "all" && allAnswer.failures == 17 && allAnswer.groups.count == 5)
        let network = try await explain(db: path, in: folder.path, ["--server", "203.0.113.0/24", "--since", "all", "--format", "json"])
        #expect(try WireJSON.decode(ExplainAnswer.self, from: network.stdout).groups == allAnswer.groups)
        let filter = try await explain(db: path, in: folder.path, ["--filter", "WEB", "--since", "all", "--limit", "2"])
        #expect(filter.status == 0)
        #expect(filter.stdout.hasPrefix("17 failures of filter web from "), "\(filter)")
        #expect(filter.stdout.contains(", 14 of them in the 2 biggest groups below"), "\(filter)")
        #expect(filter.stderr.contains("showing the 2 biggest groups of failures; --limit N for more"), "\(filter)")

        let id = try Self.id(in: path, clientPort: try Self.clientPort(.resetByMiddlebox))
        let one = try await explain(db: path, in: folder.path, ["\(id)"])
        #expect(one.status == 0)
        #expect(one.stdout.contains("rejected: the RST came 1 hop nearer than the server (TTL 64 vs 63): a firewall on the path rejected it\n"))
        let oneJSON = try await explain(db: path, in: folder.path, ["\(id)", "--format", "json"])
        #expect(try WireJSON.decode(ExplainAnswer.self, from: oneJSON.stdout).session?.cause == "reset-by-middlebox")

        for (arguments, status, message) in [
            (["99999"], Int32(1), "error: no session 99999 in the database; it holds sessions 1 to 247"),
            (["abc"], 64, "'abc' is not a session id"),
            (["\(id)", "--server", "203.0.113.5"], 64, "a session id explains that session alone; it excludes --server and --filter"),
            (["--server", "203.0.113.500"], 64, "--server '203.0.113.500'"),
            (["--server", "203.0.113.5:http"], 64, "the port 'http' is not a number 0-65535"),
            (["--filter", "nope"], 1, "no filter named 'nope' in the database; known filters: web"),
            (["--since", "yesterday"], 64, "cannot read the time 'yesterday'"),
        ] {
            let result = try await explain(db: path, in: folder.path, arguments)
            #expect(result.status == status, "\(result)")
            #expect(result.stderr.contains(message), "\(result)")
        }
        let missing = try await explain(db: folder.file("none.db"), in: folder.path, [])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no database at '\(folder.file("none.db"))'"), "\(missing)")
    }

    /// A schema-5 database is refused until a recorder upgrades it; then its
    /// old rows say they carry no evidence.
    @Test func olderDatabasesAndRowsRecordedBeforeEvidence() async throws {
        let folder = try TemporaryFolder("explain-v5")
        defer { folder.remove() }
        let path = folder.file("v5.db")
        try Self.makeVersion5(path)
        let refused = try await explain(db: path, in: folder.path, ["2"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("was written by an older tcpeek (schema version 5; this one reads \(Schema.latestVersion))"), "\(refused)")

        try HistoryDatabase.openForRecording(path: path).close()
        let old = try await explain(db: path, in: folder.path, ["2"])
        #expect(old.status == 0, "\(old)")
        #expect(old.stdout == """
            session 2, 1970-01-01 01:00:02Z, timeout, filters ALL
            192.0.2.1:40002 → 192.0.2.2:80 timed out; no cause is known
              how sure     unknown: recorded before tcpeek kept evidence (database schema 6): no cause known
              evidence     recorded before tcpeek kept evidence (database schema 6): no cause known
              SYN          3 sent

            """)
        let range = try await explain(db: path, in: folder.path, ["--since", "all"])
        #expect(range.stdout.contains("\n1 of 1 timeout to 192.0.2.2:80 at 1970-01-01 01:00:02 UTC was recorded before tcpeek kept evidence: no cause is known\n"),
                "\(range)")
        #expect(range.stdout.hasSuffix("\nsuccesses: 1; after-retries 1\n"), "\(range)")
    }

    /// A schema-5 database (before evidence) with an old success and timeout.
    static func makeVersion5(_ path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            for migration in Schema.migrations where migration.version <= 5 { try db.execute(sql: migration.sql) }
            try db.execute(sql: """
                PRAGMA user_version = 5;
                INSERT INTO runs (id, started_at, source_kind, source, filters, version) VALUES
                    (1, 1, 'interface', 'eth0', '[{"name":"ALL","expression":"ALL:ANY@*:*"}]', 'old');
                INSERT INTO run_filters (run_id, bit, filter) VALUES (1, 0, 'ALL');
                INSERT INTO sessions (id, run_id, started_at, duration, family, client_addr, client_port, server_addr,
                                      server_port, outcome, dup_syn, icmp_type, icmp_code, filter_bits) VALUES
                    (1, 1, 3600.5, 1.25, 4, '192.0.2.1', 40001, '192.0.2.2', 80, 'success', 1, NULL, NULL, 1),
                    (2, 1, 3602.5, 3.0, 4, '192.0.2.1', 40002, '192.0.2.2', 80, 'timeout', 2, NULL, NULL, 1);
                """)
        }
        try queue.close()
    }

    // MARK: Corpus

    /// zeek's capture holds a real injected RST: TTL 46 against the server's 49.
    @Test func anInjectedResetFromTheCorpus() async throws {
        let folder = try TemporaryFolder("explain-inject")
        defer { folder.remove() }
        let db = folder.file("inject.db")
        let recorded = try await record(StorePaths.capture("zeek__tcp-rst-inject-rae.pcap"), db: db, in: folder.path)
        try #require(recorded.status == 0, "\(recorded)")
        let result = try await explain(db: db, in: folder.path, ["1"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("1.2.0.2:2527 → 1.2.0.3:6649 succeeded in 1.3 s, the client ignored a RST (TTL 46, server's SYN/ACK TTL 49): injected\n"),
                "\(result)")
        #expect(result.stdout.contains("\n  ignored RST  1, the last TTL 46 (~18 hops)\n"), "\(result)")
        #expect(result.stdout.contains("\n  SYN/ACK      TTL 49 (~15 hops), MSS 1440, window scale 2, "), "\(result)")
        let json = try await explain(db: db, in: folder.path, ["1", "--format", "json"])
        let session = try #require(try WireJSON.decode(ExplainAnswer.self, from: json.stdout).session)
        #expect(session.cause == "injected-reset" && session.certainty == .likely)
        #expect(session.evidence.ignoredRSTTTL == 46 && session.evidence.synackTTL == 49)
    }

    /// kill_router6: a router's ICMPv6 no-route; gnutella: host unreachables
    /// from 10.0.2.2, a router, and rejects.
    @Test func routersAnswersFromTheCorpus() async throws {
        let folder = try TemporaryFolder("explain-routers")
        defer { folder.remove() }
        let v6 = folder.file("v6.db"), gnutella = folder.file("gnutella.db")
        let recordedV6 = try await record(StorePaths.capture("suricata__kill_router6.pcap"), db: v6, in: folder.path)
        try #require(recordedV6.status == 0)
        let recordedGnutella = try await record(StorePaths.capture("ndpi__gnutella.pcap"), db: gnutella, in: folder.path)
        try #require(recordedGnutella.status == 0)

        let noRoute = try await explain(db: v6, in: folder.path, ["--since", "all", "--format", "json"])
        let answer = try WireJSON.decode(ExplainAnswer.self, from: noRoute.stdout)
        #expect(answer.groups.map { "\($0.cause ?? "-") \($0.count) \($0.icmpSenders)" } == [#"no-route 2 ["2001:db8:1::3"]"#])
        #expect(answer.groups.first?.verdict.hasSuffix("were ICMP no route errors (ICMPv6 1/0) from 2001:db8:1::3 (a router, not the server): "
                                                       + "no route to the server's network") == true, "\(answer)")

        let unreachable = try await explain(db: gnutella, in: folder.path, ["--server", "122.117.100.78:9010", "--since", "all"])
        #expect(unreachable.stdout.contains("\n2 of 2 unreachables to 122.117.100.78:9010 between 00:01:25 and 00:01:34 UTC (1970-01-01) were "
                                            + "ICMP host unreachable errors (ICMP 3/1) from 10.0.2.2 (a router, not the server): "
                                            + "the server is down or gone from its link\n"), "\(unreachable)")
        let allText = try await explain(db: gnutella, in: folder.path, ["--since", "all", "--limit", "100", "--format", "json"])
        let all = try WireJSON.decode(ExplainAnswer.self, from: allText.stdout)
        #expect(all.failures == 83)
        #expect(all.groups.reduce(0) { $0 + $1.count } == 83)
        #expect(Set(all.groups.compactMap(\.cause)) == ["closed-port", "reset-by-middlebox", "reset-unattributed", "host-unreachable", "no-answer"])
        let unattributed = try #require(all.groups.first { $0.cause == "reset-unattributed" })
        #expect(unattributed.certainty == .unsure && unattributed.because == "no packet of the server's to compare with")
        #expect(all.successes?.count == 56 && all.successes?.flags == CausesAnswer([("after-retries", 2)]))
    }
}
