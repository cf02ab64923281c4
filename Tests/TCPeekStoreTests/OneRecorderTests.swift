// One database has one recorder (issue 13): a second `tcpeek record` is
// refused at start naming the first, readers go on meanwhile, and a
// recorder killed with -9 does not block the next. Plus the paths a user
// can get wrong: a folder, a file in the way, a one-letter name.
import Foundation
import GRDB
import Testing
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("One recorder per database, and database paths", .serialized)
struct OneRecorderTests {
    static let gnutella = StorePaths.capture("ndpi__gnutella.pcap")

    /// A live recorder on the loopback of a network namespace of its own
    /// (no traffic: it only holds the database), or nil without root.
    static func liveRecorder(db: String, in folder: TemporaryFolder, namespace: String) async throws -> Child? {
        guard geteuid() == 0, let ip = StorePaths.tool("ip") else { return nil }
        _ = try? runTool("ip", ["netns", "del", namespace])
        try #require(try runTool("ip", ["netns", "add", namespace]).status == 0)
        _ = try runTool("ip", ["-n", namespace, "link", "set", "lo", "up"])
        let child = try Child([ip, "netns", "exec", namespace, try StorePaths.requireTCPeek(), "record", "-q", "-i", "lo",
                               "--db", db, "--no-socket"], outputIn: folder.path)
        let ready = await child.wait(timeout: 30) { child.stderr.contains("listening on lo") }
        try #require(ready, "the live recorder did not start: \(child.transcript)")
        // Listening comes before the database is opened.
        try await Task.sleep(for: .milliseconds(500))
        return child
    }

    @Test func aSecondRecorderIsRefusedNamingTheFirstAndReadersGoOn() async throws {
        let folder = try TemporaryFolder("one-recorder")
        defer { folder.remove() }
        let db = folder.file("history.db")
        // Dated an hour ago: the live recorder's retention keeps it.
        let recent = folder.file("recent.pcap")
        _ = try await synthesize(recent, in: folder.path, ["--mode", "mix", "--attempts", "200", "--duration", "5",
                                                           "--start", "\(Int(Date().timeIntervalSince1970) - 3600)"])
        let filled = try await record(recent, db: db, in: folder.path)
        try #require(filled.status == 0, "\(filled)")
        let rows = try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") } ?? 0
        let namespace = "tcpk-rec-\(getpid())"
        guard let first = try await Self.liveRecorder(db: db, in: folder, namespace: namespace) else {
            print("OneRecorderTests: not root, the live recorder is not tried")
            return
        }
        defer {
            first.signal(SIGKILL)
            _ = try? runTool("ip", ["netns", "del", namespace])
        }

        let second = try await record(recent, db: db, in: folder.path)
        #expect(second.status == 1, "\(second)")
        #expect(second.stderr.contains("database '\(db)' is being recorded by another tcpeek (pid \(first.pid))"), "\(second)")
        #expect(!second.stderr.contains("TCPEEK SUMMARY"), "refused at start: \(second)")
        #expect(try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") } == rows,
                "nothing counted twice")

        let reading = try await query(db: db, in: folder.path, ["--since", "all", "--format", "csv"])
        #expect(reading.status == 0, "query reads while the recorder runs: \(reading)")
        let direct = try runTool("sqlite3", [db, "SELECT count(*) FROM sessions"])
        #expect(direct.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(rows)", "\(direct)")

        // Killed without a chance to clean up: the kernel drops its lock.
        await first.kill9AndWait()
        let third = try await record(recent, db: db, in: folder.path)
        #expect(third.status == 0, "after kill -9 the next recorder runs: \(third)")
        #expect(try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") } == 2 * rows)
    }

    @Test func aFolderWhereTheDatabaseBelongsIsAnErrorNotACrash() async throws {
        let folder = try TemporaryFolder("db-folder")
        defer { folder.remove() }
        let tcpeek = try StorePaths.requireTCPeek()
        try FileManager.default.createDirectory(atPath: folder.file("d"), withIntermediateDirectories: false)
        for argv in [[tcpeek, "record", "-q", "-r", Self.gnutella, "--db", "d"], [tcpeek, "query", "--db", "d"]] {
            let result = try await run(argv, in: folder.path)
            #expect(result.status == 1, "\(result)")
            #expect(result.stderr.contains("error: 'd' is a folder, not a database file; name the file itself, e.g. --db d/tcpeek.db"),
                    "\(result)")
        }
        // A file where the database's folder belongs.
        _ = FileManager.default.createFile(atPath: folder.file("plain"), contents: Data("x".utf8))
        let blocked = try await run([tcpeek, "record", "-q", "-r", Self.gnutella, "--db", "plain/history.db"], in: folder.path)
        #expect(blocked.status == 1, "\(blocked)")
        #expect(blocked.stderr.contains("cannot create the database folder 'plain': a file of that name is in the way"), "\(blocked)")
        let missing = try await run([tcpeek, "query", "--db", "plain/history.db"], in: folder.path)
        #expect(missing.status == 1, "\(missing)")
        #expect(missing.stderr.contains("no database at 'plain/history.db'"), "\(missing)")
    }

    /// Foundation traps on a one-letter relative path's folder; tcpeek must not.
    @Test func aOneLetterDatabaseNameWorks() async throws {
        let folder = try TemporaryFolder("db-letter")
        defer { folder.remove() }
        let result = try await record(Self.gnutella, db: "x", in: folder.path)
        #expect(result.status == 0, "\(result)")
        let answer = try await query(db: "x", in: folder.path, ["--since", "all", "--format", "csv"])
        #expect(answer.status == 0, "\(answer)")
    }

    /// An ordinary user's default follows $XDG_DATA_HOME, else $HOME (as
    /// every XDG program does), not the passwd entry's home (nobody's is
    /// /nonexistent).
    @Test func theDefaultPathFollowsTheEnvironment() {
        #expect(HistoryDatabase.defaultPath(euid: 0, environment: ["HOME": "/root"]) == "/var/lib/tcpeek/tcpeek.db")
        #expect(HistoryDatabase.defaultPath(euid: 1000, environment: ["HOME": "/home/ana"]) == "/home/ana/.local/share/tcpeek/tcpeek.db")
        #expect(HistoryDatabase.defaultPath(euid: 1000, environment: ["HOME": "/home/ana", "XDG_DATA_HOME": "/data"])
            == "/data/tcpeek/tcpeek.db")
    }

    @Test func theLockIsHeldForTheRecordersLifetimeOnly() throws {
        let folder = try TemporaryFolder("lock-lifetime")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let first = try HistoryDatabase.openForRecording(path: db)
        #expect(throws: StoreError.otherRecorder(path: db, pid: getpid())) {
            _ = try HistoryDatabase.openForRecording(path: db)
        }
        first.close()
        // A child that another test of this process is spawning holds a copy
        // of every descriptor until its exec: give the lock a moment.
        var second: HistoryDatabase?
        for _ in 0..<50 where second == nil {
            second = try? HistoryDatabase.openForRecording(path: db)
            if second == nil { usleep(20_000) }
        }
        #expect(second != nil, "the next recorder takes the database once the first has closed it")
        second?.close()
    }
}
