// `tcpeek query --clickhouse` (issue 16): corpus captures recorded as
// different hosts, their sessions in a private ClickHouse 18.16; each fleet
// answer over one host is the local query's answer on that host's
// database (the same JSON), over all hosts the sums, and a replayed batch
// changes nothing.
import Foundation
import Testing
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("tcpeek query --clickhouse", .serialized)
struct FleetQueryTests {
    /// The range every comparison asks about: `--until` fixed, so the
    /// local and the fleet answer end at the same time.
    static let range = ["--since", "all", "--until", "2030-01-01T00:00:00Z"]

    /// A host's recording: the name it ships under and its database.
    struct Host {
        let name: String
        let db: String
    }

    /// Four captures recorded as four hosts (gnutella with the Gnutella
    /// port as a second filter; synscan with two more, whose order only the
    /// sessions' filter lists tell; instagram over four years; router6 IPv6),
    /// a server, and each database shipped into it (`tcpeek ship --init
    /// --once`) under its host's name.
    final class Fleet {
        let folder: TemporaryFolder
        let server: ClickHouseTestServer
        let hosts: [Host]

        init() async throws {
            let folder = try TemporaryFolder("fleet-query")
            do {
                (hosts, server) = try await Self.recordAndShip(in: folder)
            } catch {
                folder.remove()
                throw error
            }
            self.folder = folder
        }

        /// The recordings, and a server they were shipped into; the server
        /// stopped again if shipping fails (a failed init runs no deinit).
        private static func recordAndShip(in folder: TemporaryFolder) async throws -> ([Host], ClickHouseTestServer) {
            var hosts: [Host] = []
            for (name, capture, filters) in [("gnutella", "ndpi__gnutella.pcap", ["p6346:ANY@*:6346"]),
                                             // web before any by bit, any before web by name and first session.
                                             ("synscan", "ndpi__synscan.pcap", ["web:ANY@*:22:80:443", "any:ANY@*:*"]),
                                             ("instagram", "ndpi__instagram.pcap", []),
                                             ("router6", "suricata__kill_router6.pcap", [])] {
                let db = folder.file("\(name).db")
                let result = try await record(StorePaths.capture(capture), db: db, in: folder.path, filters)
                try #require(result.status == 0, "\(result)")
                hosts.append(Host(name: name, db: db))
            }
            let server = try ClickHouseTestServer(label: "fleet-query-clickhouse")
            do {
                for host in hosts {
                    let shipped = try await ReapedChild.run(
                        [try StorePaths.requireTCPeek(), "ship", "--init", "--once", "--db", host.db, "--host", host.name,
                         "--clickhouse-password-file", server.passwordFile, server.url],
                        in: folder.path, environment: ["TCPEEK_CLICKHOUSE_USER": ClickHouseTestServer.user])
                    try #require(shipped.status == 0, "\(shipped)")
                }
            } catch {
                server.stop()
                throw error
            }
            return (hosts, server)
        }

        deinit {
            server.stop()
            folder.remove()
        }

        /// `tcpeek query --clickhouse URL ...` with the test user's credentials.
        func fleetQuery(_ arguments: [String]) async throws -> RunResult {
            let tcpeek = try StorePaths.requireTCPeek()
            return try await ReapedChild.run([tcpeek, "query", "--clickhouse", server.url, "--clickhouse-password-file", server.passwordFile]
                                       + arguments, in: folder.path, environment: ["TCPEEK_CLICKHOUSE_USER": ClickHouseTestServer.user])
        }

        func localQuery(_ host: Host, _ arguments: [String]) async throws -> RunResult {
            try await ReapedChild.run([try StorePaths.requireTCPeek(), "query", "--db", host.db] + arguments, in: folder.path)
        }
    }

    // MARK: One host: the local answer

    /// Every question, asked of one host in the fleet and of its database:
    /// the same JSON (sessions carry their host besides).
    @Test func oneHostAnswersAsItsDatabase() async throws {
        let fleet = try await Fleet()
        let questions: [[String]] = [
            [], ["--by", "minute"], ["--by", "hour"], ["--by", "day"], ["--by", "total"], ["--by", "cause"],
            ["--filter", "p6346"], ["--filter", "all", "--by", "minute"],
            ["--top", "server"], ["--top", "client"], ["--top", "port"], ["--top", "port", "--limit", "3"],
            ["--top", "server", "--filter", "p6346"], ["--top", "port", "--filter", "web"], ["--filter", "any", "--filter", "web"],
            ["--sessions", "--limit", "1000"], ["--sessions", "--outcome", "timeout"], ["--sessions", "--filter", "p6346"],
            ["--sessions", "--port", "6346"], ["--sessions", "--client", "10.0.0.0/8"],
            ["--sessions", "--server", "64.13.0.0/16"], ["--sessions", "--server", "2001:16b8::/32"],
            ["--sessions", "--client", "2001:db8:1::/48"], ["--sessions", "--client", "192.168.0.103"],
            ["--since", "1970-01-01T00:01:00Z", "--until", "1970-01-01T00:02:30Z", "--by", "minute"],
        ]
        for host in fleet.hosts {
            for question in questions {
                if question.contains("p6346"), host.name != "gnutella" { continue }
                if question.contains("web"), host.name != "synscan" { continue }
                let arguments = (question.contains("--since") ? [] : Self.range) + question + ["--format", "json"]
                let local = try await fleet.localQuery(host, arguments)
                try #require(local.status == 0, "\(local)")
                let remote = try await fleet.fleetQuery(arguments + ["--host", host.name])
                try #require(remote.status == 0, "\(remote)")
                var answer = try parseJSONArray(remote.stdout)
                if question.contains("--sessions") {
                    #expect(answer.allSatisfy { $0["host"] as? String == host.name }, "\(host.name) \(question)")
                    answer = answer.map { $0.filter { $0.key != "host" } }
                }
                #expect(NSArray(array: answer).isEqual(to: try parseJSONArray(local.stdout)),
                        "\(host.name) \(question):\nfleet \(remote.stdout.prefix(3000))\nlocal \(local.stdout.prefix(3000))")
            }
        }
    }

    /// The table and CSV come from the same renderers: byte for byte the local ones.
    @Test func tableAndCSVAreTheLocalOnes() async throws {
        let fleet = try await Fleet()
        let host = fleet.hosts[0]
        for question in [["--format", "table"], ["--format", "csv"], ["--by", "cause", "--format", "table"],
                         ["--top", "server", "--format", "csv"], ["--by", "minute", "--format", "csv"]] {
            let local = try await fleet.localQuery(host, Self.range + question)
            let remote = try await fleet.fleetQuery(Self.range + question + ["--host", host.name])
            try #require(local.status == 0 && remote.status == 0, "\(local)\n\(remote)")
            #expect(remote.stdout == local.stdout, "\(question)")
        }
    }

    // MARK: Three hosts: the sums

    @Test func fleetTotalsAreTheSumsOfTheHosts() async throws {
        let fleet = try await Fleet()
        let arguments = Self.range + ["--filter", "all", "--format", "json"]
        var sums: [String: Int] = [:]
        for host in fleet.hosts {
            let local = try await fleet.localQuery(host, arguments)
            try #require(local.status == 0, "\(local)")
            let row = try #require(try parseJSONArray(local.stdout).first)
            for (key, value) in Self.counts(row) { sums[key, default: 0] += value }
        }
        #expect(sums["success"] ?? 0 > 0 && sums["failure"] ?? 0 > 0, "the captures hold successes and failures")
        let total = try await fleet.fleetQuery(arguments)
        try #require(total.status == 0, "\(total)")
        let rows = try parseJSONArray(total.stdout)
        #expect(rows.count == 1)
        #expect(Self.counts(try #require(rows.first)) == sums)

        // --by host: a row for each host (its ALL), the hosts' own answers.
        let byHost = try await fleet.fleetQuery(Self.range + ["--by", "host", "--filter", "all", "--format", "json"])
        try #require(byHost.status == 0, "\(byHost)")
        let hostRows = try parseJSONArray(byHost.stdout)
        #expect(hostRows.compactMap { $0["host"] as? String } == fleet.hosts.map(\.name).sorted())
        for host in fleet.hosts {
            let local = try parseJSONArray(try await fleet.localQuery(host, arguments).stdout)
            let row = try #require(hostRows.first { $0["host"] as? String == host.name })
            #expect(NSDictionary(dictionary: row.filter { $0.key != "host" }).isEqual(to: local[0]), "\(host.name)")
        }
        let table = try await fleet.fleetQuery(Self.range + ["--by", "host"])
        #expect(table.status == 0 && table.stdout.hasPrefix("HOST"), "\(table)")
        for host in fleet.hosts { #expect(table.stdout.contains(host.name), "\(table)") }

        // --top over the fleet: each server's attempts summed over the hosts.
        var attempts: [String: Int] = [:]
        for host in fleet.hosts {
            let local = try await fleet.localQuery(host, Self.range + ["--top", "server", "--limit", "100000", "--format", "json"])
            for row in try parseJSONArray(local.stdout) {
                attempts[row["server"] as? String ?? "", default: 0] += row["attempts"] as? Int ?? 0
            }
        }
        let top = try await fleet.fleetQuery(Self.range + ["--top", "server", "--limit", "100000", "--format", "json"])
        try #require(top.status == 0, "\(top)")
        var fleetAttempts: [String: Int] = [:]
        for row in try parseJSONArray(top.stdout) { fleetAttempts[row["server"] as? String ?? ""] = row["attempts"] as? Int }
        #expect(fleetAttempts == attempts)

        // --sessions over the fleet: every host's, newest first.
        let sessions = try await fleet.fleetQuery(Self.range + ["--sessions", "--limit", "100000", "--format", "json"])
        try #require(sessions.status == 0, "\(sessions)")
        let listed = try parseJSONArray(sessions.stdout)
        var expected = 0
        for host in fleet.hosts {
            let local = try await fleet.localQuery(host, Self.range + ["--sessions", "--limit", "100000", "--format", "json"])
            let count = try parseJSONArray(local.stdout).count
            #expect(listed.filter { $0["host"] as? String == host.name }.count == count, "\(host.name)")
            expected += count
        }
        #expect(listed.count == expected)
        let starts = listed.compactMap { $0["started_at"] as? String }
        #expect(starts == starts.sorted(by: >), "newest first")
    }

    // MARK: Replays

    /// The same rows inserted again (a batch ClickHouse took but never
    /// acknowledged) change no answer: the queries read `sessions FINAL`.
    @Test func aReplayedBatchChangesNoAnswer() async throws {
        let fleet = try await Fleet()
        let questions = [[], ["--by", "minute"], ["--by", "host"], ["--by", "cause"], ["--top", "server"],
                         ["--sessions", "--limit", "100000"]]
        var before: [String] = []
        for question in questions {
            let answer = try await fleet.fleetQuery(Self.range + question + ["--format", "json"])
            try #require(answer.status == 0, "\(answer)")
            before.append(answer.stdout)
        }
        // Merges stopped: the copies stay side by side as separate parts.
        // The same rows again, as a batch sent twice arrives.
        try fleet.server.execute("SYSTEM STOP MERGES")
        try fleet.server.execute("INSERT INTO tcpeek.sessions SELECT * FROM tcpeek.sessions WHERE host = 'gnutella'")
        let rows = try fleet.server.execute("SELECT count() FROM tcpeek.sessions WHERE host = 'gnutella' FORMAT TabSeparated")
        let distinct = try fleet.server.execute("SELECT count() FROM tcpeek.sessions FINAL WHERE host = 'gnutella' FORMAT TabSeparated")
        #expect(Int(rows.trimmingCharacters(in: .whitespacesAndNewlines)) == 2 * (Int(distinct.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1),
                "the replay is in the table twice")
        for (question, earlier) in zip(questions, before) {
            let answer = try await fleet.fleetQuery(Self.range + question + ["--format", "json"])
            #expect(answer.stdout == earlier, "\(question)")
        }
    }

    // MARK: Errors

    @Test func aServerThatRefusesGivesAClearMessage() async throws {
        let folder = try TemporaryFolder("fleet-query-errors")
        defer { folder.remove() }
        let server = try ClickHouseTestServer(label: "fleet-query-errors-clickhouse")
        defer { server.stop() }
        let tcpeek = try StorePaths.requireTCPeek()
        let wrongPassword = folder.file("wrong")
        try "not-the-password\n".write(toFile: wrongPassword, atomically: true, encoding: .utf8)
        let user = ["TCPEEK_CLICKHOUSE_USER": ClickHouseTestServer.user]

        let refused = try await ReapedChild.run([tcpeek, "query", "--clickhouse", server.url, "--clickhouse-password-file", wrongPassword],
                                    in: folder.path, environment: user)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("127.0.0.1:\(server.httpPort)") && refused.stderr.contains("assword"), "\(refused)")

        // No `tcpeek ship --init` yet: no database, no table.
        let missing = try await ReapedChild.run([tcpeek, "query", "--clickhouse", server.url, "--clickhouse-password-file", server.passwordFile],
                                    in: folder.path, environment: user)
        #expect(missing.status == 1, "\(missing)")
        #expect(missing.stderr.contains("ship --init"), "\(missing)")
        try server.execute("CREATE DATABASE tcpeek")
        let noTable = try await ReapedChild.run([tcpeek, "query", "--clickhouse", server.url, "--clickhouse-password-file", server.passwordFile,
                                     "--sessions"], in: folder.path, environment: user)
        #expect(noTable.status == 1, "\(noTable)")
        #expect(noTable.stderr.contains("ship --init"), "\(noTable)")

        let port = try clickHouseFreePort()
        let unreachable = try await ReapedChild.run([tcpeek, "query", "--clickhouse", "http://127.0.0.1:\(port)/",
                                         "--clickhouse-password-file", server.passwordFile], in: folder.path, environment: user)
        #expect(unreachable.status == 1, "\(unreachable)")
        #expect(unreachable.stderr.contains("127.0.0.1:\(port)"), "\(unreachable)")

        let inURL = try await ReapedChild.run([tcpeek, "query", "--clickhouse", "http://tcpeek:secret@127.0.0.1:\(server.httpPort)/"],
                                             in: folder.path)
        #expect(inURL.status == 64 && inURL.stderr.contains("TCPEEK_CLICKHOUSE_USER") && inURL.stderr.contains("tcpeek query"),
                "\(inURL)")

        let unknownHost = try await ReapedChild.run([tcpeek, "query", "--host", "nowhere"], in: folder.path)
        #expect(unknownHost.status != 0 && unknownHost.stderr.contains("--clickhouse"), "\(unknownHost)")
    }

    @Test func whatIsMissingIsNamed() async throws {
        let fleet = try await Fleet()
        let host = try await fleet.fleetQuery(Self.range + ["--host", "nowhere"])
        #expect(host.status == 1, "\(host)")
        #expect(host.stderr.contains("nowhere") && host.stderr.contains("gnutella"), "\(host)")
        let filter = try await fleet.fleetQuery(Self.range + ["--filter", "nothing"])
        #expect(filter.status == 1, "\(filter)")
        #expect(filter.stderr.contains("nothing") && filter.stderr.contains("p6346"), "\(filter)")

        // A range without sessions: where the fleet's (or the host's) are.
        let later = ["--since", "2029-01-01T00:00:00Z", "--until", "2030-01-01T00:00:00Z"]
        let fleetEmpty = try await fleet.fleetQuery(later)
        #expect(fleetEmpty.status == 0, "\(fleetEmpty)")
        #expect(fleetEmpty.stderr.contains("no sessions from 2029-01-01 00:00:00Z to 2030-01-01 00:00:00Z; "
            + "the fleet shipped 1970-01-01 00:01:01Z .. 2019-09-18 08:44:"), "\(fleetEmpty)")
        let hostEmpty = try await fleet.fleetQuery(later + ["--host", "synscan", "--sessions"])
        #expect(hostEmpty.status == 0, "\(hostEmpty)")
        #expect(hostEmpty.stderr.contains("host synscan shipped 2010-07-04 20:24:16Z .. 2010-07-04 20:24:"), "\(hostEmpty)")
    }

    // MARK: Helpers

    /// The counts of an aggregate row, flattened (`success`, `dupsyn`, `timeout` ...).
    static func counts(_ row: [String: Any]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for group in ["success", "failure"] {
            for (key, value) in row[group] as? [String: Int] ?? [:] {
                counts[key == "total" ? group : key] = value
            }
        }
        return counts
    }
}
