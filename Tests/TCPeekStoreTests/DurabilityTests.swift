// Every closed session reaches the database before tcpeek exits on SIGTERM,
// SIGINT and end of file; after kill -9 the database opens cleanly and holds
// a consistent prefix of the work.
import Foundation
import GRDB
import Testing
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

/// A network namespace of this test process, with only `lo`, deleted by `remove()`.
final class LoopbackNamespace: @unchecked Sendable {
    let name: String
    private let ip: String

    init(_ tag: String) throws {
        guard let ip = StorePaths.tool("ip") else { throw StoreTestError("iproute2 (ip) is not installed") }
        self.ip = ip
        name = "tcpk-store-\(getpid())-\(tag)"
        Self.removeStale(ip: ip)
        _ = try? runTool("ip", ["netns", "del", name])
        let added = try runTool("ip", ["netns", "add", name])
        guard added.status == 0 else { throw StoreTestError("cannot create namespace \(name): \(added.stderr)") }
        let up = try runTool("ip", ["netns", "exec", name, ip, "link", "set", "lo", "up"])
        guard up.status == 0 else {
            remove()
            throw StoreTestError("cannot bring lo up in \(name): \(up.stderr)")
        }
    }

    /// `ip netns exec NAME argv...`
    func exec(_ argv: [String]) -> [String] { [ip, "netns", "exec", name] + argv }

    func remove() {
        // Whatever still runs inside goes first, then the namespace.
        if let pids = try? runTool("ip", ["netns", "pids", name]) {
            for pid in pids.stdout.split(whereSeparator: \.isWhitespace).compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
        _ = try? runTool("ip", ["netns", "del", name])
    }

    /// Namespaces `tcpk-store-<pid>-*` left by test processes that are gone.
    private static func removeStale(ip: String) {
        guard let list = try? runTool("ip", ["netns", "list"]) else { return }
        for line in list.stdout.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            let parts = name.split(separator: "-")
            guard name.hasPrefix("tcpk-store-"), parts.count >= 4, let pid = Int32(parts[2]), pid != getpid(),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = try? runTool("ip", ["netns", "del", name])
        }
    }
}

@Suite("Durability")
struct DurabilityTests {
    /// Connections made inside the namespace: `ok` to a listening port,
    /// `refused` to a closed one. Prints "ok refused" when done.
    static let client = """
        import socket, sys
        ok, refused = int(sys.argv[1]), int(sys.argv[2])
        server = socket.socket(); server.bind(("127.0.0.1", 5555)); server.listen(64)
        made = 0
        for _ in range(ok):
            c = socket.create_connection(("127.0.0.1", 5555)); a, _ = server.accept(); a.close(); c.close(); made += 1
        failed = 0
        for _ in range(refused):
            try:
                socket.create_connection(("127.0.0.1", 5556), timeout=2).close()
            except ConnectionRefusedError:
                failed += 1
        print(made, failed)
        """

    @Test(arguments: [SIGTERM, SIGINT])
    func aStopSignalDuringALiveCaptureLosesNothing(signal: Int32) async throws {
        let tcpeek = try StorePaths.requireTCPeek()
        let python = try #require(StorePaths.tool("python3"), "python3 is needed")
        let folder = try TemporaryFolder("live")
        defer { folder.remove() }
        let namespace = try LoopbackNamespace(signal == SIGTERM ? "term" : "int")
        defer { namespace.remove() }
        let db = folder.file("live.db")
        let recorder = try Child(namespace.exec([tcpeek, "record", "-i", "lo", "--db", db, "-t", "2", "-q", "--json-summary", "--no-socket",
                                                 "--batch-ms", "60000"]),
                                 outputIn: folder.path)
        defer { if recorder.isRunning { recorder.signal(SIGKILL) } }
        let listening = await recorder.wait(timeout: 20) { recorder.stderr.contains("listening on lo") }
        try #require(listening, "tcpeek did not start:\n\(recorder.transcript)")
        try await Task.sleep(for: .milliseconds(300))

        let traffic = try await run(namespace.exec([python, "-c", Self.client, "12", "5"]), in: folder.path, timeout: 60)
        try #require(traffic.status == 0 && traffic.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "12 5", "\(traffic)")
        // The batch interval is a minute: what is in the database at the end
        // was written because of the signal, not by the timer.
        try await Task.sleep(for: .milliseconds(500))
        recorder.signal(signal)
        let exited = await recorder.waitForExit(timeout: 20)
        try #require(exited, "tcpeek did not stop on signal \(signal)")
        #expect(recorder.status == 0, "\(recorder.transcript)")

        let summary = try parseSummary(recorder.stdout)
        let rx = try #require(summary["RX"])
        let tx = try #require(summary["TX"])
        // On lo both ends are local: each attempt is counted once, as RX.
        #expect(rx.success == 12 && rx.reject == 5, "\(rx)")
        #expect(tx.total == 0, "\(tx)")
        try inspect(db) { (db) throws in
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") == rx.total + tx.total)
            #expect(try outcomeCounts(db, filter: "RX") == rx)
            #expect(try outcomeCounts(db, filter: "TX") == tx)
            #expect(try outcomeCounts(db) == rx)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions WHERE server_addr = '127.0.0.1' AND client_addr = '127.0.0.1'") == 17)
            #expect(try Set(Int.fetchAll(db, sql: "SELECT DISTINCT server_port FROM sessions")) == [5555, 5556])
            let run = try #require(try Row.fetchOne(db, sql: "SELECT * FROM runs"))
            #expect(run["source_kind"] as String == "interface" && run["source"] as String == "lo")
            #expect(run["sessions_recorded"] as Int == 17 && run["sessions_not_recorded"] as Int == 0)
            #expect(run["ended_at"] as Double? != nil)
            #expect(try rollupInconsistencies(db).isEmpty)
        }
        // Read back through the query command too.
        let counts = try await query(db: db, in: folder.path, ["--since", "1h", "--filter", "RX", "--format", "json"])
        try #require(counts.status == 0, "\(counts)")
        let row = try #require(try parseJSONArray(counts.stdout).first)
        #expect((row["success"] as? [String: Any])?["total"] as? Int == 12)
        #expect((row["failure"] as? [String: Any])?["reject"] as? Int == 5)
    }

    @Test func endOfFileWritesEverySessionWithTheLongestBatchInterval() async throws {
        let folder = try TemporaryFolder("eof")
        defer { folder.remove() }
        let db = folder.file("eof.db")
        // Batches bigger than the captures and a timer that never fires:
        // only the end of the file can write them.
        for name in ["ndpi__gnutella.pcap", "zeek__pop3-pop3.pcap", "suricata__kill_router6.pcap"] {
            let result = try await record(StorePaths.capture(name), db: db, in: folder.path,
                                          ["--batch-size", "100000", "--batch-ms", "600000"] + RecorderConsistencyTests.keepEverything)
            try #require(result.status == 0, "\(result)")
            // A clean exit leaves the whole database in its file.
            #expect(!FileManager.default.fileExists(atPath: db + "-wal"), "the WAL was not checkpointed at exit")
            let all = try #require(try parseSummary(result.stdout)["ALL"])
            #expect(all.total > 0)
            try inspect(db) { (db) throws in
                let runID = try #require(try Int64.fetchOne(db, sql: "SELECT max(id) FROM runs"))
                #expect(try outcomeCounts(db, runID: runID) == all, "\(name)")
                #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions WHERE run_id = ?", arguments: [runID]) == all.total)
            }
        }
        try inspect(db) { (db) throws in #expect(try rollupInconsistencies(db).isEmpty) }
    }

    @Test func killDashNineLeavesAConsistentPrefix() async throws {
        let tcpeek = try StorePaths.requireTCPeek()
        let folder = try TemporaryFolder("kill9")
        defer { folder.remove() }
        let capture = folder.file("big.pcap")
        let expected = try await synthesize(capture, in: folder.path, ["--mode", "mix", "--attempts", "60000", "--duration", "600",
                                                                       "--snaplen", "128"])
        let total = Int(expected["attempts"] ?? 0)
        let db = folder.file("killed.db")
        // Through a FIFO holding back the second half: the recorder cannot
        // finish before the kill, however fast it is.
        let fifo = try CaptureFIFO(capture: capture, at: folder.file("capture.fifo"))
        let recorder = try Child([tcpeek, "record", "-q", "-r", fifo.path, "--db", db, "--batch-size", "100", "--batch-ms", "50"],
                                 outputIn: folder.path)
        defer { if recorder.isRunning { recorder.signal(SIGKILL) } }
        try fifo.feed(upTo: 0.5)
        let writing = await recorder.wait(timeout: 30) {
            let rows = (try? inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") ?? 0 }) ?? 0
            return rows > 0
        }
        try #require(writing, "nothing was written:\n\(recorder.transcript)")
        await recorder.kill9AndWait()
        try #require(recorder.signalled == SIGKILL, "tcpeek ended before the kill: \(recorder.transcript)")

        let rows = try inspect(db) { (db) throws in
            #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
            let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") ?? -1
            #expect(rows > 0 && rows < total, "\(rows) of \(total)")
            // Whole batches only: sessions, their filters and the rollups agree.
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM session_filters") == rows)
            #expect(try Int.fetchOne(db, sql: "SELECT sum(success + failure) FROM rollups_minute") == rows)
            #expect(try rollupInconsistencies(db).isEmpty)
            let run = try #require(try Row.fetchOne(db, sql: "SELECT * FROM runs"))
            #expect(run["sessions_recorded"] as Int == rows)
            #expect(run["ended_at"] as Double? == nil, "a killed run has no end")
            return rows
        }
        // The prefix: rows are the earliest-closed attempts of the capture.
        // The order of closing is that of the live lines (stderr) of the
        // same capture read completely; a batch's rows are written in order
        // of start, so ids do not tell it.
        let complete = try await run([tcpeek, "record", "-r", capture, "--no-db", "--no-socket"], in: folder.path, timeout: 120)
        try #require(complete.status == 0, "\(complete)")
        let closed = complete.stderr.split(separator: "\n").compactMap(Self.attemptOfLiveLine)
        #expect(closed.count == total)
        let killed = try inspect(db) {
            try String.fetchAll($0, sql: "SELECT printf('%s %d %s %d %s', client_addr, client_port, server_addr, server_port, outcome) FROM sessions")
        }
        #expect(Self.multiset(killed) == Self.multiset(closed.prefix(rows)),
                "the killed run's rows are not the first \(rows) attempts to close")

        // tcpeek itself reads it, and records into it again.
        let listing = try await query(db: db, in: folder.path, ["--since", "all", "--format", "json"])
        #expect(listing.status == 0, "\(listing)")
        let again = try await record(StorePaths.capture("ndpi__gnutella.pcap"), db: db, in: folder.path,
                                     RecorderConsistencyTests.keepEverything)
        #expect(again.status == 0, "\(again)")
        try inspect(db) { (db) throws in
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") == rows + 139)
            #expect(try rollupInconsistencies(db).isEmpty)
        }
    }

    /// "CLIENT PORT SERVER PORT OUTCOME" of a live line
    /// (`   0.023 | 24-01-01 00:00:01.133 | [2001:db8:1::1]:1024  [2001:db8:2::10]:80 | failure (reject) | 0 0`),
    /// nil for any other line.
    static func attemptOfLiveLine(_ line: Substring) -> String? {
        let fields = line.split(separator: "|", omittingEmptySubsequences: false)
        guard fields.count == 5 else { return nil }
        let endpoints = fields[2].split(separator: " ").compactMap { endpoint -> String? in
            guard let colon = endpoint.lastIndex(of: ":") else { return nil }
            let address = endpoint[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            return "\(address) \(endpoint[endpoint.index(after: colon)...])"
        }
        let result = fields[3].trimmingCharacters(in: .whitespaces)
        let outcome = result.hasPrefix("failure (") ? String(result.dropFirst(9).dropLast()) : result
        guard endpoints.count == 2, ["success", "reject", "abort", "timeout", "unreach"].contains(outcome) else { return nil }
        return "\(endpoints[0]) \(endpoints[1]) \(outcome)"
    }

    static func multiset(_ items: some Sequence<String>) -> [String: Int] {
        items.reduce(into: [:]) { $0[$1, default: 0] += 1 }
    }
}
