// Database file safety (issue 6, item 6): filter names and `tcpeek query`
// options that look like SQL reach the database only as bound values, so
// they find exactly what they name and change nothing; the database and its
// folders are created 0640/0750; and a user who may only read the file (not
// write it nor its folder) gets the answers root gets, creating nothing.
import Foundation
import GRDB
import Testing
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("SQL injection and read-only access")
struct InjectionTests {
    static let gnutella = StorePaths.capture("ndpi__gnutella.pcap")

    /// Filter names of every shape the grammar (SPEC §3: anything but ':',
    /// '@' and control characters, at most 64) allows, each counting a set
    /// of server ports of ndpi__gnutella.pcap: LIKE wildcards (`_`, `%`), a
    /// comment start (`--`), quotes, `;`, `,`, spaces, non-ASCII letters, SQL
    /// words and table names, a number, the longest name (`all` cannot be
    /// one: names differ ignoring case; see `refusedNames`).
    static let hostileFilters: [(name: String, ports: Set<Int>)] = [
        ("a_c", [6346]),                // as a LIKE pattern it would match "abc"
        ("abc", [9010]),
        ("_", [2886]),                  // as a LIKE pattern: any one character
        ("--", [2886, 3820]),           // a comment to the line's end
        ("-", [45079]),
        ("or", [2886, 3820, 4315]),
        ("NULL", [4315]),
        ("1", [6523]),
        ("DROP.TABLE.sessions", [14384]),
        ("sessions", [35004]),
        ("x..y", [6346, 9010]),
        (String(repeating: "_-.", count: 21) + "Z", [57648]),
        ("x'--", [6346]),               // a quote closing a literal, then a comment
        ("a;b", [9010]),
        ("b%", [2886]),                 // as a LIKE pattern: "b" and anything
        ("a b", [3820]),
        ("ａ", [45079]),                 // FULLWIDTH LATIN SMALL LETTER A
        ("a\"b\\", [4315]),
        ("é", [6523]),
        ("a,b", [14384]),               // ',' joins names in some outputs
        ("api/v2+#1", [35004]),         // the original's users wrote such names
    ]

    static var hostileExpressions: [String] {
        hostileFilters.map { filter in
            "\(filter.name):ANY@" + filter.ports.sorted().map { "*:\($0)" }.joined(separator: ",")
        }
    }

    /// Names `tcpeek query --filter` must not confuse with a recorded one.
    static let lookalikes = [
        "a' OR 1=1 --", "ALL; DROP TABLE sessions", "x' OR '1'='1", "' OR ''='", "abc' --", "a_c' OR filter LIKE '%",
        "%", "a%", "a%c", "_bc", "a_", "__", "ALL ", " ALL", "ALL\"", "or 1", "ａ_c", "a_c;", "*", "ALL,abc",
        "sessions WHERE 1", "NULL OR 1", "1 OR 1=1", "0", "\\", "a_c\t",
    ]

    /// Names that differ from a recorded one only in case, which `record`
    /// compares ignoring it: `query --filter` finds the recorded filter.
    static let otherCases = ["A_C": "a_c", "Abc": "abc", "all": "ALL", "OR": "or", "null": "NULL"]

    /// A database of the gnutella capture with the built-in ALL and the
    /// hostile filters; the recorder's own counts per name.
    static func hostileDatabase(_ folder: TemporaryFolder) async throws -> (db: String, summary: [String: SummaryCounts]) {
        let db = folder.file("hostile.db")
        // `--` ends the options: names such as "--" and "-" are not flags.
        let result = try await record(gnutella, db: db, in: folder.path, ["--"] + hostileExpressions)
        try #require(result.status == 0, "\(result)")
        let summary = try parseSummary(result.stdout)
        #expect(Set(summary.keys) == Set(["ALL"] + hostileFilters.map(\.name)), "\(summary.keys.sorted())")
        for filter in hostileFilters {
            #expect((summary[filter.name]?.total ?? 0) > 0, "\(filter.name) counts something")
        }
        return (db, summary)
    }

    /// Every table's row count, the schema version and SQLite's integrity check.
    static func contents(_ path: String) throws -> [String: String] {
        try inspect(path) { db in
            var result: [String: String] = [:]
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            result["tables"] = tables.joined(separator: ",")
            for table in Schema.ownTables.sorted() where tables.contains(table) {
                // The name comes from the schema's own list.
                result[table] = String(try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? -1)
            }
            result["user_version"] = String(try Int.fetchOne(db, sql: "PRAGMA user_version") ?? -1)
            result["integrity"] = try String.fetchOne(db, sql: "PRAGMA integrity_check")
            return result
        }
    }

    static func counts(_ row: [String: Any]) -> SummaryCounts {
        let success = row["success"] as? [String: Int] ?? [:], failure = row["failure"] as? [String: Int] ?? [:]
        return SummaryCounts(success: success["total"] ?? -1, dupsyn: success["dupsyn"] ?? -1, dupsynack: success["dupsynack"] ?? -1,
                             timeout: failure["timeout"] ?? -1, reject: failure["reject"] ?? -1,
                             unreach: failure["unreach"] ?? -1, abort: failure["abort"] ?? -1)
    }

    static let range = ["--since", "all", "--until", "1971-01-01T00:00:00Z"]

    @Test func hostileFilterNamesAreStoredAndFoundExactly() async throws {
        let folder = try TemporaryFolder("inject-names")
        defer { folder.remove() }
        let (db, summary) = try await Self.hostileDatabase(folder)

        // The tables carry each name exactly, with the recorder's counts.
        try inspect(db) { (db) throws in
            let names = Set(summary.keys)
            #expect(Set(try String.fetchAll(db, sql: "SELECT DISTINCT filter FROM session_filters")) == names)
            #expect(Set(try String.fetchAll(db, sql: "SELECT DISTINCT filter FROM rollups_minute")) == names)
            for (name, expected) in summary {
                #expect(try outcomeCounts(db, filter: name) == expected, "\(name)")
            }
            #expect(try rollupInconsistencies(db).isEmpty)
        }
        let before = try #require(fileBytes(db))
        let contents = try Self.contents(db)

        // All filters at once: one row each.
        let everything = try await query(db: db, in: folder.path, Self.range + ["--format", "json"])
        try #require(everything.status == 0, "\(everything)")
        let everyRow = try parseJSONArray(everything.stdout)
        #expect(everyRow.count == summary.count)
        #expect(Set(everyRow.compactMap { $0["filter"] as? String }) == Set(summary.keys))
        for row in everyRow { #expect(Self.counts(row) == summary[row["filter"] as? String ?? ""], "\(row)") }

        for filter in Self.hostileFilters {
            let name = filter.name
            let expected = try #require(summary[name])
            // Aggregates: exactly one row, of this name, with its counts.
            let aggregate = try await query(db: db, in: folder.path, Self.range + ["--filter=\(name)", "--format", "json"])
            try #require(aggregate.status == 0, "\(name): \(aggregate)")
            let rows = try parseJSONArray(aggregate.stdout)
            #expect(rows.count == 1 && rows.first?["filter"] as? String == name, "\(name): \(aggregate.stdout)")
            #expect(rows.first.map(Self.counts) == expected, "\(name)")
            // Sessions: those the filter counted, to its ports only.
            let sessions = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--limit", "1000",
                                                                     "--filter=\(name)", "--format", "json"])
            try #require(sessions.status == 0, "\(name): \(sessions)")
            let sessionRows = try parseJSONArray(sessions.stdout)
            #expect(sessionRows.count == expected.total, "\(name)")
            #expect(Set(sessionRows.compactMap { $0["server_port"] as? Int }) == filter.ports, "\(name)")
            #expect(sessionRows.allSatisfy { ($0["filters"] as? [String] ?? []).contains(name) }, "\(name)")
            // --top port: the filter's ports only, as many failures as it counted.
            let top = try await query(db: db, in: folder.path, ["--since", "all", "--top", "port", "--filter=\(name)", "--format", "json"])
            try #require(top.status == 0, "\(name): \(top)")
            let topRows = try parseJSONArray(top.stdout)
            #expect(Set(topRows.compactMap { ($0["port"] as? String).flatMap { Int($0) } }).isSubset(of: filter.ports), "\(name)")
            #expect(topRows.reduce(0) { $0 + ($1["failures"] as? Int ?? 0) } == expected.failure, "\(name)")
        }
        // Two names together: both rows, nothing else.
        let pair = try await query(db: db, in: folder.path, Self.range + ["--filter", "a_c", "--filter=--", "--format", "csv"])
        #expect(pair.status == 0 && Set(pair.stdout.split(separator: "\n").dropFirst().map { String($0.prefix(while: { $0 != "," })) })
            == ["a_c", "--"] && pair.stdout.split(separator: "\n").count == 3, "\(pair)")

        // Look-alikes are unknown names, whatever the command: exit 1, nothing printed.
        for name in Self.lookalikes {
            for command in [[], ["--sessions"], ["--top", "server"]] {
                let result = try await query(db: db, in: folder.path, ["--since", "all", "--filter=\(name)"] + command)
                #expect(result.status == 1, "\(name) \(command): \(result)")
                #expect(result.stderr.contains("no filter named '\(name)' in the database"), "\(name) \(command): \(result)")
                #expect(result.stdout.isEmpty, "\(name) \(command): \(result)")
            }
        }
        // Another case of a recorded name is that name, whatever the command.
        for (spelling, name) in Self.otherCases {
            for command in [Self.range + ["--format", "csv"], ["--since", "all", "--sessions", "--limit", "1000", "--format", "csv"],
                            ["--since", "all", "--top", "port", "--format", "csv"]] {
                let recorded = try await query(db: db, in: folder.path, command + ["--filter=\(name)"])
                let other = try await query(db: db, in: folder.path, command + ["--filter=\(spelling)"])
                #expect(other.status == 0 && other.stdout == recorded.stdout, "\(spelling) \(command): \(other)")
            }
        }
        // The empty name (that of exclusions) names no recorded filter either.
        let empty = try await query(db: db, in: folder.path, ["--since", "all", "--filter", ""])
        #expect(empty.status == 1 && empty.stderr.contains("no filter named ''"), "\(empty)")

        #expect(fileBytes(db) == before, "reading changed the database file")
        #expect(try Self.contents(db) == contents)
    }

    @Test("names the grammar refuses never reach the database", arguments: [
        "a\tb:ANY@*:80", "a\nb:ANY@*:80", "a\u{7F}:ANY@*:80", "a@b:ANY@*:80",
        "all:ANY@*:80", String(repeating: "a", count: 65) + ":ANY@*:80",
    ])
    func refusedNames(expression: String) async throws {
        let folder = try TemporaryFolder("inject-refused")
        defer { folder.remove() }
        let db = folder.file("refused/x.db")
        let result = try await record(Self.gnutella, db: db, in: folder.path, ["--", expression])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("filter '\(expression)'"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: folder.file("refused")), "nothing is created for a refused command line")
    }

    @Test func hostileQueryOptionsChangeNothing() async throws {
        let folder = try TemporaryFolder("inject-options")
        defer { folder.remove() }
        let (db, summary) = try await Self.hostileDatabase(folder)
        let before = try #require(fileBytes(db))
        let contents = try Self.contents(db)

        // Refused before the database is read: exit 64 and the reason.
        let refused: [([String], String)] = [
            (["--since", "1h'; DROP TABLE sessions; --"], "cannot read the time '1h'; DROP TABLE sessions; --'"),
            (["--since", "all; DROP TABLE runs"], "cannot read the time"),
            (["--since", "1970-01-01T00:00:00Z' OR '1'='1"], "cannot read the time"),
            (["--since", "2026-11-27T10:00:00Z; DELETE FROM sessions"], "cannot read the time"),
            (["--since", "1970-01-01 00:00:00 OR 1=1"], "cannot read the time"),
            (["--since", "1h", "--until", "now; DELETE FROM runs"], "cannot read the time 'now; DELETE FROM runs'"),
            (["--top", "server; DROP TABLE sessions"], "server; DROP TABLE sessions"),
            (["--top", "server_addr"], "server_addr"),
            (["--top", "CAST(server_addr AS TEXT)"], "CAST(server_addr AS TEXT)"),
            (["--by", "minute; DROP TABLE sessions"], "minute; DROP TABLE sessions"),
            (["--by", "60"], "60"),
            (["--limit", "1; DELETE FROM sessions"], "1; DELETE FROM sessions"),
            (["--limit", "1 OR 1=1"], "1 OR 1=1"),
            (["--limit=0"], "--limit must be positive"),
            (["--top", "server", "--limit", "9223372036854775808"], "9223372036854775808"),
            (["--sessions", "--port", "6346 OR 1=1"], "6346 OR 1=1"),
            (["--sessions", "--port", "70000"], "--port must be 0-65535"),
            (["--sessions", "--outcome", "success' OR '1'='1"], "Please provide one of 'success', 'reject', 'abort', 'unreach' or 'timeout'"),
            (["--format", "json; DROP TABLE sessions"], "json; DROP TABLE sessions"),
            // Addresses are parsed, so nothing else reaches the database.
            (["--sessions", "--client", "10.0.2.15' OR '1'='1"], "is not an IPv4 or IPv6 address"),
            (["--sessions", "--server", "x' OR 1=1 --"], "is not an IPv4 or IPv6 address"),
            (["--sessions", "--client", "%"], "is not an IPv4 or IPv6 address"),
            (["--sessions", "--server", "%.%.%.%"], "is not an IPv4 or IPv6 address"),
            (["--sessions", "--server", "_"], "is not an IPv4 or IPv6 address"),
            (["--sessions", "--client", "10.0.2.1_"], "is not an IPv4 or IPv6 address"),
            (["--sessions", "--server", "1.2.3.4'); DELETE FROM sessions; --"], "is not an IPv4 or IPv6 address"),
            (["--sessions", "--server", "1.2.3.4/24' OR 1=1"], "prefix '/24' OR 1=1' is not a number"),
        ]
        for (arguments, words) in refused {
            let result = try await query(db: db, in: folder.path, arguments)
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains(words), "\(arguments): \(result)")
            #expect(result.stdout.isEmpty, "\(arguments): \(result)")
        }

        // Unknown filters: exit 1, the known ones listed.
        for arguments in [["--filter", "a' OR 1=1 --"], ["--filter", "ALL; DROP TABLE sessions"],
                          ["--filter", "ALL", "--filter", "x' OR '1'='1"], ["--sessions", "--filter", "%"],
                          ["--top", "client", "--filter", "_%"]] {
            let result = try await query(db: db, in: folder.path, ["--since", "all"] + arguments)
            #expect(result.status == 1, "\(arguments): \(result)")
            #expect(result.stderr.contains("no filter named"), "\(arguments): \(result)")
            #expect(result.stderr.contains("known filters: "), "\(arguments): \(result)")
            let known = result.stderr.components(separatedBy: "known filters: ").last?
                .trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: ", ")
            #expect(Set(known ?? []) == Set(summary.keys), "\(arguments): \(result)")
        }

        // Addresses and networks that hold no session: a correct, empty answer.
        for arguments in [["--client", "10.0.2.16"], ["--server", "192.0.2.0/24"], ["--client", "::ffff:10.0.2.14"],
                          ["--server", "2001:db8::/32"]] {
            let result = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--format", "json"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result)")
            #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(arguments): \(result)")
        }
        // ... and the same options with real values still answer.
        let client = try await query(db: db, in: folder.path, ["--since", "all", "--sessions", "--client", "10.0.2.15", "--limit", "1000",
                                                               "--format", "json"])
        #expect(try parseJSONArray(client.stdout).count == summary["ALL"]?.total, "\(client)")
        let limited = try await query(db: db, in: folder.path, ["--since", "all", "--top", "server", "--limit", "2", "--filter", "_",
                                                                "--format", "csv"])
        #expect(limited.status == 0 && limited.stdout.split(separator: "\n").count == 1 + 1, "\(limited)")

        #expect(fileBytes(db) == before, "a hostile option changed the database file")
        #expect(try Self.contents(db) == contents)
        try inspect(db) { (db) throws in #expect(try rollupInconsistencies(db).isEmpty) }
    }

    @Test func databaseAndFoldersAreCreated0640And0750WhateverTheUmask() async throws {
        let folder = try TemporaryFolder("inject-modes")
        defer { folder.remove() }
        let tcpeek = try StorePaths.requireTCPeek()
        let shell = try #require(StorePaths.tool("sh"))
        let db = folder.file("var/lib/tcpeek/tcpeek.db")
        // umask 000 would make everything world-writable if the modes were left to it.
        let result = try await run([shell, "-c", "umask 000; exec \"$0\" \"$@\"", tcpeek, "record", "-q", "-r", Self.gnutella,
                                    "--db", db], in: folder.path)
        try #require(result.status == 0, "\(result)")
        for (path, mode) in [(folder.file("var"), 0o750), (folder.file("var/lib"), 0o750), (folder.file("var/lib/tcpeek"), 0o750),
                             (db, 0o640)] {
            var status = stat()
            #expect(stat(path, &status) == 0)
            #expect(status.st_mode & 0o7777 == mode, "\(path): \(String(status.st_mode & 0o7777, radix: 8))")
        }
    }

    /// A recorder serving a socket closes its database while the socket's
    /// read-only connection is still open: the history must be in the
    /// database file all the same, not left in the -wal file for readers
    /// who may read only the database file.
    @Test func theDatabaseFileHoldsEverythingAfterARecorderWithASocket() async throws {
        let folder = try TemporaryFolder("inject-socket")
        defer { folder.remove() }
        let db = folder.file("history.db")
        let result = try await record(Self.gnutella, db: db, in: folder.path, ["-U", folder.file("s.sock")])
        try #require(result.status == 0, "\(result)")
        var status = stat()
        #expect(stat(db + "-wal", &status) != 0 || status.st_size == 0, "the history stayed in the -wal file")
        // The database file alone, elsewhere, has every session.
        let alone = folder.file("alone")
        try FileManager.default.createDirectory(atPath: alone, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: db, toPath: alone + "/history.db")
        #expect(try Self.contents(alone + "/history.db")["sessions"] == "139")
    }

    /// Where SQLite cannot create the -shm file (here a folder made
    /// immutable, which stops even root) the file is read without locks;
    /// a read during which the file changed is done again.
    @Test func readsWithoutLocksAreRepeatedWhenTheFileChangesUnderThem() async throws {
        let folder = try TemporaryFolder("inject-unlocked")
        defer { folder.remove() }
        let locked = folder.file("locked")
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        let path = locked + "/history.db"
        let made = try await record(Self.gnutella, db: path, in: folder.path)
        try #require(made.status == 0, "\(made)")
        try folder.makeImmutable(locked)
        defer { folder.makeMutable(locked) }

        let database = try HistoryDatabase.openForReading(path: path)
        defer { database.close() }
        #expect(database.reader == nil, "SQLite's read-only connection needs the -shm file: read without locks")
        #expect(try HistoryQuery.filterNames(in: database) == ["ALL"])
        var calls = 0
        let count = try database.read { db -> Int in
            calls += 1
            if calls == 1 { utimensat(AT_FDCWD, path, nil, 0) }  // as a checkpoint writing the file would
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") ?? -1
        }
        #expect(count == 139 && calls == 2, "count \(count) after \(calls) reads")
        // A file that never stops changing: a clear refusal, not a torn answer.
        do {
            _ = try database.read { _ in utimensat(AT_FDCWD, path, nil, 0) }
            Issue.record("a read of a file changing under it answered")
        } catch {
            #expect(error.description.contains("a writer kept changing it meanwhile; try again"), "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: locked).sorted() == ["history.db", "history.db.lock"], "the recorder's lock file, nothing of the reader's")
        // tcpeek query as root gets its answer there too.
        let answer = try await query(db: path, in: folder.path, Self.range + ["--format", "csv"])
        #expect(answer.status == 0 && answer.stdout.contains("\nALL,1970-01-01T00:00:00Z,1971-01-01T00:00:00Z,56,2,0,83,"), "\(answer)")
    }

    // MARK: A user who may only read

    /// nobody and its group, when this test can switch to them.
    static let reader: (uid: uid_t, gid: gid_t, setpriv: String)? = {
        guard geteuid() == 0, let user = getpwnam("nobody"), let setpriv = StorePaths.tool("setpriv") else { return nil }
        let gid = getgrnam("nogroup")?.pointee.gr_gid ?? user.pointee.pw_gid
        return (user.pointee.pw_uid, gid, setpriv)
    }()

    /// Runs `argv` as nobody, with no supplementary group.
    static func asReader(_ argv: [String], in folder: String) async throws -> RunResult {
        let reader = try #require(Self.reader)
        return try await run([reader.setpriv, "--reuid=\(reader.uid)", "--regid=\(reader.gid)", "--clear-groups", "--"] + argv,
                             in: folder)
    }

    /// A copy of tcpeek that nobody may run (the build folder may not be reachable for it).
    static func readerBinary(_ folder: TemporaryFolder) throws -> String {
        let bin = folder.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let copy = bin + "/tcpeek"
        try FileManager.default.copyItem(atPath: try StorePaths.requireTCPeek(), toPath: copy)
        try #require(chmod(copy, 0o755) == 0)
        return copy
    }

    /// Gives the reader's group the database and its folders: with their
    /// modes (0640, 0750) it can read them and write nothing there.
    static func shareWithReader(_ paths: [String], in folder: TemporaryFolder) async throws {
        let reader = try #require(Self.reader)
        for path in paths { try #require(chown(path, 0, reader.gid) == 0, "chown \(path)") }
        let test = try #require(StorePaths.tool("test"))
        for path in paths {
            let writable = try await asReader([test, "-w", path], in: folder.path)
            #expect(writable.status == 1, "nobody must not be able to write \(path)")
            let readable = try await asReader([test, "-r", path], in: folder.path)
            #expect(readable.status == 0, "nobody must be able to read \(path)")
        }
    }

    static let readerQueries: [[String]] = ["table", "json", "csv"].flatMap { format in
        [range + ["--format", format], range + ["--by", "minute", "--filter", "ALL", "--filter", "a_c", "--format", format],
         ["--since", "all", "--sessions", "--limit", "25", "--format", format],
         ["--since", "all", "--top", "server", "--limit", "10", "--format", format]]
    }

    @Test("tcpeek query as a user who can read the database but write neither it nor its folder",
          .enabled("needs root, the user nobody and setpriv") { InjectionTests.reader != nil })
    func queryAsAUserWhoCanOnlyRead() async throws {
        let folder = try TemporaryFolder("inject-reader")
        defer { folder.remove() }
        let binary = try Self.readerBinary(folder)
        let data = folder.file("data"), dbFolder = folder.file("data/db"), db = folder.file("data/db/history.db")
        let made = try await record(Self.gnutella, db: db, in: folder.path, ["--"] + Self.hostileExpressions)
        try #require(made.status == 0, "\(made)")
        // At rest: WAL mode (file format 2), no -wal or -shm beside it.
        let header = try #require(fileBytes(db)).prefix(20)
        #expect(Array(header.suffix(2)) == [2, 2], "the database is in WAL mode")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dbFolder).sorted() == ["history.db", "history.db.lock"])
        try await Self.shareWithReader([data, dbFolder, db], in: folder)
        let before = try #require(fileBytes(db))

        // Root's answers, from a copy (root's read-only connection leaves
        // -wal and -shm files, which would let the reader in another way).
        let rootFolder = folder.file("root")
        try FileManager.default.createDirectory(atPath: rootFolder, withIntermediateDirectories: false)
        let copy = rootFolder + "/history.db"
        try FileManager.default.copyItem(atPath: db, toPath: copy)
        for arguments in Self.readerQueries {
            let root = try await query(db: copy, in: folder.path, arguments)
            try #require(root.status == 0, "\(root)")
            let asReader = try await Self.asReader([binary, "query", "--db", db] + arguments, in: folder.path)
            #expect(asReader.status == 0, "\(asReader)")
            #expect(asReader.stdout == root.stdout, "\(arguments)")
            #expect(asReader.stderr == root.stderr, "\(asReader)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dbFolder).sorted() == ["history.db", "history.db.lock"], "the reader created files")
        }
        // An unknown, hostile filter name: the same refusal as for root.
        let unknown = try await Self.asReader([binary, "query", "--db", db, "--since", "all", "--filter", "a' OR 1=1 --"], in: folder.path)
        #expect(unknown.status == 1 && unknown.stderr.contains("no filter named 'a' OR 1=1 --'"), "\(unknown)")
        #expect(fileBytes(db) == before)

        // Once root has read the file, the -wal (empty) and -shm files SQLite
        // left take the database's owner, group and mode: the reader's
        // ordinary read-only connection uses them, with the same answers.
        let rootOnOriginal = try await query(db: db, in: folder.path, Self.readerQueries[1])
        try #require(rootOnOriginal.status == 0, "\(rootOnOriginal)")
        let left = try FileManager.default.contentsOfDirectory(atPath: dbFolder).sorted()
        for name in left where name != "history.db" && name != "history.db.lock" {
            var status = stat()
            #expect(stat(dbFolder + "/" + name, &status) == 0)
            #expect(status.st_mode & 0o777 == 0o640 && status.st_gid == Self.reader?.gid, "\(name)")
        }
        let again = try await Self.asReader([binary, "query", "--db", db] + Self.readerQueries[1], in: folder.path)
        #expect(again.status == 0 && again.stdout == rootOnOriginal.stdout, "\(again)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dbFolder).sorted() == left)
        #expect(fileBytes(db) == before, "reading changed the database file")
        #expect(try Self.contents(db)["integrity"] == "ok")
    }

    @Test("a recorder killed with SIGKILL leaves a -wal file: the reader reads it, or is told which file it cannot read",
          .enabled("needs root, the user nobody and setpriv") { InjectionTests.reader != nil })
    func readOnlyUserAfterARecorderWasKilled() async throws {
        let folder = try TemporaryFolder("inject-killed")
        defer { folder.remove() }
        let binary = try Self.readerBinary(folder)
        let tcpeek = try StorePaths.requireTCPeek()
        let dbFolder = folder.file("db"), db = folder.file("db/history.db")
        // The database exists and is shared with the reader's group before
        // the recorder that will be killed opens it.
        let made = try await record(Self.gnutella, db: db, in: folder.path, ["--"] + Self.hostileExpressions)
        try #require(made.status == 0, "\(made)")
        try await Self.shareWithReader([dbFolder, db], in: folder)
        let firstRun = try Self.contents(db)["sessions"]
        #expect(firstRun == "139")

        // A second run (an hour later in packet time), fed through a FIFO
        // held open so it never ends on its own; more than one read's worth
        // of packets (8192) so that it writes before it waits for more.
        let capture = folder.file("later.pcap")
        _ = try await synthesize(capture, in: folder.path, ["--mode", "mix", "--attempts", "20000", "--duration", "300",
                                                            "--start", "3600", "--snaplen", "128"])
        let fifo = folder.file("capture.fifo")
        try #require(mkfifo(fifo, 0o600) == 0)
        let recorder = try Child([tcpeek, "record", "-q", "-r", fifo, "--db", db, "--batch-ms", "20", "--"] + Self.hostileExpressions,
                                 outputIn: folder.path)
        defer { if recorder.isRunning { recorder.signal(SIGKILL) } }
        let writer = open(fifo, O_RDWR)
        try #require(writer >= 0)
        defer { close(writer) }
        let bytes = try #require(fileBytes(capture))
        FileHandle(fileDescriptor: writer, closeOnDealloc: false).write(bytes.prefix(bytes.count * 3 / 5))
        // Wait until what it closed in packet time is written and stays so.
        var written = 139, stableSince = Date()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let now = try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") ?? 0 }
            if now != written { (written, stableSince) = (now, Date()) }
            if written > 139, Date().timeIntervalSince(stableSince) > 1 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(written > 139, "the second run wrote nothing: \(recorder.transcript)")
        await recorder.kill9AndWait()
        try #require(recorder.signalled == SIGKILL)

        let wal = db + "-wal", shm = db + "-shm"
        let walBytes = try #require(fileBytes(wal), "the killed recorder left no -wal file")
        #expect(!walBytes.isEmpty)
        for path in [wal, shm] {
            var status = stat()
            #expect(stat(path, &status) == 0)
            #expect(status.st_mode & 0o777 == 0o640 && status.st_gid == Self.reader?.gid,
                    "\(path) takes the database's mode and group: \(String(status.st_mode & 0o777, radix: 8)) gid \(status.st_gid)")
        }
        let before = try #require(fileBytes(db))
        let listing = try FileManager.default.contentsOfDirectory(atPath: dbFolder).sorted()

        // The reader first (nothing has touched the files since the kill), then root.
        var readerAnswers: [String] = []
        for arguments in Self.readerQueries {
            let answer = try await Self.asReader([binary, "query", "--db", db] + arguments, in: folder.path)
            #expect(answer.status == 0, "\(answer)")
            readerAnswers.append(answer.stdout)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dbFolder).sorted() == listing)
        #expect(fileBytes(db) == before && fileBytes(wal) == walBytes, "the reader changed the database or its -wal")
        for (arguments, readerAnswer) in zip(Self.readerQueries, readerAnswers) {
            let root = try await query(db: db, in: folder.path, arguments)
            try #require(root.status == 0, "\(root)")
            #expect(readerAnswer == root.stdout, "\(arguments)")
        }
        // The answers hold the killed run's sessions, which only the -wal has.
        let total = try await Self.asReader([binary, "query", "--db", db] + Self.range + ["--filter", "ALL", "--format", "json"],
                                            in: folder.path)
        let all = try #require(try parseJSONArray(total.stdout).first.map(Self.counts), "\(total)")
        #expect(all.total == written, "\(all)")

        // A -wal or -shm the reader cannot read: a clear refusal, not an answer
        // without the changes they hold.
        let reader = try #require(Self.reader)
        for (path, words) in [(wal, "this user cannot read its write-ahead log '\(wal)'"), (shm, "this user cannot read '\(shm)'")] {
            try #require(chown(path, 0, 0) == 0)
            let refused = try await Self.asReader([binary, "query", "--db", db, "--since", "all"], in: folder.path)
            try #require(chown(path, 0, reader.gid) == 0)
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.contains(words), "\(refused)")
            #expect(refused.stdout.isEmpty)
        }
        // Without the -shm file (which the reader cannot create in the folder).
        try FileManager.default.moveItem(atPath: shm, toPath: folder.file("shm.saved"))
        let noShm = try await Self.asReader([binary, "query", "--db", db, "--since", "all"], in: folder.path)
        try FileManager.default.moveItem(atPath: folder.file("shm.saved"), toPath: shm)
        #expect(noShm.status == 1, "\(noShm)")
        #expect(noShm.stderr.contains("cannot read them without '\(shm)', which this user cannot create"), "\(noShm)")
        #expect(fileBytes(db) == before && fileBytes(wal) == walBytes)

        // Root still reads everything, and the file is sound.
        let contents = try Self.contents(db)
        #expect(contents["integrity"] == "ok" && contents["sessions"] == String(written), "\(contents)")
        try inspect(db) { (db) throws in #expect(try rollupInconsistencies(db).isEmpty) }
    }
}
