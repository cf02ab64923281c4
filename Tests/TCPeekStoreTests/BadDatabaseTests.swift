// `tcpeek record` on a database it cannot use: a clear message, exit
// status 1, and the file as it was.
import Foundation
import GRDB
import Testing
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Bad databases for tcpeek record")
struct BadDatabaseTests {
    static let gnutella = StorePaths.capture("ndpi__gnutella.pcap")

    /// A database holding the gnutella capture, checkpointed into its file.
    static func goodDatabase(_ path: String, in folder: TemporaryFolder) async throws {
        let result = try await record(gnutella, db: path, in: folder.path)
        try #require(result.status == 0, "\(result)")
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
    }

    static func errorLines(_ result: RunResult) -> String {
        result.stderr.split(separator: "\n").filter { $0.contains("error") }.joined(separator: "\n")
    }

    @Test func aDatabaseLockedByAnotherWriter() async throws {
        let folder = try TemporaryFolder("locked")
        defer { folder.remove() }
        let path = folder.file("locked.db")
        try await Self.goodDatabase(path, in: folder)
        let before = try #require(fileBytes(path))

        // Another writer holds the write lock for the whole run.
        let result = try holdingTheWriteLock(of: path) {
            try runBlocking([StorePaths.requireTCPeek(), "record", "-q", "-r", Self.gnutella, "--db", path], in: folder.path)
        }
        #expect(result.status == 1, "\(result)")
        let message = Self.errorLines(result)
        #expect(message.contains("locked by another writer"), "\(result)")
        #expect(message.contains(path))
        #expect(!result.stderr.contains("SUMMARY"), "it must not capture without its database")
        // Nothing lost, nothing added.
        #expect(fileBytes(path) == before)
        try inspect(path) { (db) throws in
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") == 1)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") == 139)
            #expect(try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok")
        }
    }

    @Test func readOnlyFileOrFolder() async throws {
        let folder = try TemporaryFolder("rodb")
        defer { folder.remove() }
        let file = folder.file("file.db")
        try await Self.goodDatabase(file, in: folder)
        let fileBefore = try #require(fileBytes(file))
        try folder.makeImmutable(file)
        let onFile = try await record(Self.gnutella, db: file, in: folder.path)
        folder.makeMutable(file)
        #expect(onFile.status == 1, "\(onFile)")
        #expect(Self.errorLines(onFile).contains("cannot be written (the file is not writable"), "\(onFile)")
        #expect(fileBytes(file) == fileBefore)

        let locked = folder.file("locked")
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        let existing = locked + "/existing.db"
        try await Self.goodDatabase(existing, in: folder)
        let existingBefore = try #require(fileBytes(existing))
        try folder.makeImmutable(locked)
        for path in [existing, locked + "/new.db", locked + "/sub/new.db"] {
            let result = try await record(Self.gnutella, db: path, in: folder.path)
            #expect(result.status == 1, "\(result)")
            let message = Self.errorLines(result)
            #expect(message.contains("cannot be written") || message.contains("cannot create the database folder"), "\(result)")
            #expect(message.contains(locked), "the message names the folder: \(message)")
        }
        folder.makeMutable(locked)
        #expect(fileBytes(existing) == existingBefore)
        // The lock file is the first recorder's, made before the folder was locked.
        #expect(try FileManager.default.contentsOfDirectory(atPath: locked).sorted() == ["existing.db", "existing.db.lock"])
    }

    @Test(arguments: ["random", "header-then-random", "truncated", "other-tool", "newer"])
    func aFileThatIsNotAUsableTCPeekDatabase(kind: String) async throws {
        let folder = try TemporaryFolder("corrupt")
        defer { folder.remove() }
        let path = folder.file("\(kind).db")
        let expectedMessage: String
        switch kind {
        case "random":
            var bytes = pseudoRandomBytes(50_000, seed: 1)
            bytes[0] = 0
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            expectedMessage = "is not a tcpeek database (it is not an SQLite database)"
        case "header-then-random":
            var bytes = Array("SQLite format 3\0".utf8) + pseudoRandomBytes(50_000, seed: 2)
            bytes[16] = 0x10; bytes[17] = 0x00  // a page size, so that SQLite gets as far as the pages
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            expectedMessage = "is not a tcpeek database"
        case "truncated":
            // A real tcpeek database cut after its first pages.
            let source = folder.file("source.db")
            let made = try await record(StorePaths.capture("ndpi__synscan.pcap"), db: source, in: folder.path)
            try #require(made.status == 0, "\(made)")
            let bytes = try #require(fileBytes(source))
            #expect(bytes.count > 40_000)
            _ = FileManager.default.createFile(atPath: path, contents: bytes.prefix(12_288))
            expectedMessage = "database disk image is malformed"
        case "other-tool":
            try executeSQL(path, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('keep me')")
            expectedMessage = "is not a tcpeek database (it has tables (notes) but no tcpeek schema version)"
        default:
            try MigrationTests.makeNewerDatabase(path)
            expectedMessage = "was written by a newer tcpeek (schema version \(Schema.latestVersion + 1)"
        }
        let before = try #require(fileBytes(path))
        let result = try await record(Self.gnutella, db: path, in: folder.path)
        #expect(result.status == 1, "\(kind): \(result)")
        let message = Self.errorLines(result)
        #expect(message.contains(expectedMessage), "\(kind): \(result)")
        #expect(message.contains(path) && message.contains("--db"), "\(kind): \(message)")
        #expect(!result.stderr.contains("SUMMARY"), "\(kind): it must not capture without its database")
        #expect(fileBytes(path) == before, "\(kind): the file was changed")
        // tcpeek query refuses it as well, still without touching it.
        let read = try await query(db: path, in: folder.path, ["--since", "all"])
        #expect(read.status == 1, "\(kind): \(read)")
        #expect(fileBytes(path) == before, "\(kind): reading changed the file")
    }

    @Test func aFullDiskIsReportedAndWhatWasWrittenIsConsistent() async throws {
        let folder = try TemporaryFolder("full")
        defer { folder.remove() }
        let capture = folder.file("mix.pcap")
        let expected = try await synthesize(capture, in: folder.path, ["--mode", "mix", "--attempts", "20000", "--duration", "300",
                                                                       "--snaplen", "128"])
        let small = try folder.mountTmpfs("small", size: "600k")
        let db = small + "/full.db"
        let result = try await record(capture, db: db, in: folder.path, ["--batch-size", "200"])
        #expect(result.status == 1, "\(result)")
        #expect(Self.errorLines(result).contains("the disk is full"), "\(result)")
        // The summary counts every attempt and says how many were not recorded.
        let all = try #require(try parseSummary(result.stdout)["ALL"])
        #expect(Double(all.total) == expected["attempts"])
        let notRecorded = try #require(result.stderr.firstMatch(of: #/not recorded\s*:\s*(\d+)/#).flatMap { Int($0.output.1) },
                                       "\(result)")
        #expect(notRecorded > 0)
        #expect(result.stderr.contains("\(notRecorded) sessions could not be recorded in the database"))
        try inspect(db) { (db) throws in
            #expect(try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok")
            let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") ?? -1
            #expect(rows > 0, "some sessions fit before the disk filled up")
            #expect(rows + notRecorded == all.total, "\(rows) written + \(notRecorded) not recorded")
            #expect(try rollupInconsistencies(db).isEmpty)
        }
    }
}

/// Runs a command to completion from synchronous code (inside a database
/// transaction the test holds open).
func runBlocking(_ argv: [String], in folder: String, timeout: Double = 60) throws -> RunResult {
    let child = try Child(argv, outputIn: folder)
    let deadline = Date().addingTimeInterval(timeout)
    while child.isRunning && Date() < deadline { usleep(10_000) }
    if child.isRunning {
        child.signal(SIGKILL)
        throw StoreTestError("`\(argv.joined(separator: " "))` did not finish in \(timeout) s")
    }
    return RunResult(argv: argv, status: child.status, stdout: child.stdout, stderr: child.stderr)
}

/// Reproducible noise (a 64-bit LCG), so a failure can be replayed.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

/// `sqlite3 .dump` keeps the tables and rows but not `PRAGMA user_version`:
/// such a copy is recognised by its tables and the error says how to give
/// the version back; `.backup` keeps it.
@Suite("A database restored from sqlite3")
struct RestoredDatabaseTests {
    @Test func aDumpRestoreIsRecognisedAndTheHintWorks() async throws {
        let folder = try TemporaryFolder("restored")
        defer { folder.remove() }
        let original = folder.file("history.db"), restored = folder.file("restored.db"), backup = folder.file("backup.db")
        try await BadDatabaseTests.goodDatabase(original, in: folder)
        let dump = try runTool("sqlite3", [original, ".dump"])
        try #require(dump.status == 0, "\(dump)")
        try dump.stdout.write(toFile: folder.file("dump.sql"), atomically: true, encoding: .utf8)
        let loaded = try await run(["/bin/sh", "-c", "sqlite3 '\(restored)' < '\(folder.file("dump.sql"))'"], in: folder.path)
        try #require(loaded.status == 0, "\(loaded)")
        let before = try #require(fileBytes(restored))

        let hint = "sqlite3 '\(restored)' 'PRAGMA user_version = \(Schema.latestVersion)'"
        let asked = try await query(db: restored, in: folder.path, ["--since", "all"])
        #expect(asked.status == 1, "\(asked)")
        #expect(asked.stderr.contains("holds tcpeek's tables but no schema version"), "\(asked)")
        #expect(asked.stderr.contains("Its tables are exactly those of schema version \(Schema.latestVersion)"), "\(asked)")
        #expect(asked.stderr.contains(hint), "\(asked)")
        let recording = try await record(BadDatabaseTests.gnutella, db: restored, in: folder.path)
        #expect(recording.status == 1, "\(recording)")
        #expect(recording.stderr.contains(hint), "\(recording)")
        #expect(fileBytes(restored) == before, "left untouched")

        // The hint, followed, makes it whole.
        try #require(try runTool("sqlite3", [restored, "PRAGMA user_version = \(Schema.latestVersion)"]).status == 0)
        let whole = try await query(db: restored, in: folder.path, ["--since", "all", "--format", "csv"])
        let reference = try await query(db: original, in: folder.path, ["--since", "all", "--format", "csv"])
        #expect(whole.status == 0, "\(whole)")
        // The figures after FILTER, FROM, TO.
        func figures(_ csv: String) -> [String] {
            csv.split(separator: "\n").dropFirst().map { line in line.split(separator: ",").dropFirst(3).joined(separator: ",") }
        }
        #expect(figures(whole.stdout) == figures(reference.stdout), "the same figures as the original")
        #expect(!figures(whole.stdout).isEmpty)

        // `.backup` keeps the version: nothing to do.
        try #require(try runTool("sqlite3", [original, ".backup '\(backup)'"]).status == 0)
        #expect(try await query(db: backup, in: folder.path, ["--since", "all"]).status == 0)
    }
}

/// Runs `body` while a connection of this process holds the database's
/// write lock (`BEGIN EXCLUSIVE` with an uncommitted insert), then rolls back.
func holdingTheWriteLock<T>(of path: String, _ body: () throws -> T) throws -> T {
    let holder = try DatabaseQueue(path: path)
    defer { try? holder.close() }
    return try holder.writeWithoutTransaction { db in
        try db.execute(sql: "BEGIN EXCLUSIVE")
        defer { try? db.execute(sql: "ROLLBACK") }
        try db.execute(sql: "INSERT INTO runs (started_at, source_kind, source, filters, version) VALUES (0, 'file', 'other writer', '[]', 'x')")
        return try body()
    }
}

/// Runs SQL on a file with a plain connection (another tool's database).
func executeSQL(_ path: String, _ sql: String) throws {
    let queue = try DatabaseQueue(path: path)
    try queue.writeWithoutTransaction { try $0.execute(sql: sql) }
    try queue.close()
}
