// Opening databases for recording and reading: migration from empty and
// from every earlier version, and refusing (without touching the file) what
// tcpeek must not write to.
import Foundation
import GRDB
import Testing
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Schema migration and refusals")
struct MigrationTests {
    /// Table, view and index names the files of `Schema/` leave when run
    /// in order by SQLite itself on an empty in-memory database (a later
    /// file may drop, rebuild or rename what an earlier one created).
    static func schemaObjects() throws -> (tables: Set<String>, views: Set<String>, indexes: Set<String>) {
        let folder = StorePaths.repository.appendingPathComponent("Schema")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        let queue = try DatabaseQueue()
        return try queue.writeWithoutTransaction { db in
            for file in files {
                try db.execute(sql: try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8))
            }
            func names(_ type: String) throws -> Set<String> {
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%'",
                                        arguments: [type]))
            }
            return (try names("table"), try names("view"), try names("index"))
        }
    }

    static func objects(_ path: String) throws -> (version: Int, tables: Set<String>, views: Set<String>, indexes: Set<String>) {
        try inspect(path) { (db) throws in
            (try Int.fetchOne(db, sql: "PRAGMA user_version") ?? -1,
             Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")),
             Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'view'")),
             Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")))
        }
    }

    @Test func migratingAnEmptyFileCreatesEverySchemaObjectAndReopeningIsANoOp() throws {
        let folder = try TemporaryFolder("migrate")
        defer { folder.remove() }
        let expected = try Self.schemaObjects()
        #expect(expected.tables.isSuperset(of: ["runs", "sessions", "run_filters", "rollups_minute"]))
        #expect(expected.views == ["session_filters", "rollup_handshake_buckets_hour"])

        // An existing empty file, and a path whose folders do not exist yet.
        let empty = folder.file("empty.db")
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let nested = folder.file("a/b/new.db")
        for path in [empty, nested] {
            let database = try HistoryDatabase.openForRecording(path: path)
            database.close()
            let found = try Self.objects(path)
            #expect(found.version == Schema.latestVersion)
            #expect(found.tables == expected.tables, "tables of \(path)")
            #expect(found.views == expected.views, "views of \(path)")
            #expect(found.indexes == expected.indexes, "indexes of \(path)")
        }
        // Reopening (for recording, then for reading) changes nothing: no
        // migration runs again and what the file holds stays. (Not byte for
        // byte: GRDB's pool creates and drops a table when it finds no WAL.)
        let before = try Self.contents(empty)
        for _ in 0..<2 {
            try HistoryDatabase.openForRecording(path: empty).close()
            #expect(try Self.contents(empty) == before, "reopening a current database changed it")
        }
        let pages = try inspect(empty) { try Int.fetchOne($0, sql: "PRAGMA page_count") }
        try HistoryDatabase.openForRecording(path: empty).close()
        #expect(try inspect(empty) { try Int.fetchOne($0, sql: "PRAGMA page_count") } == pages, "each reopening grows the file")
        let bytes = try #require(fileBytes(empty))
        let reader = try HistoryDatabase.openForReading(path: empty)
        #expect(try HistoryQuery.filterNames(in: reader) == [])
        reader.close()
        #expect(fileBytes(empty) == bytes, "reading changed the file")
        #expect(try Self.contents(empty) == before)
    }

    /// Everything a database holds that matters: version, schema, rows.
    static func contents(_ path: String) throws -> [String] {
        try inspect(path) { db in
            var lines = ["user_version \(try Int.fetchOne(db, sql: "PRAGMA user_version") ?? -1)"]
            lines += try String.fetchAll(db, sql: "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name")
            for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name") {
                lines += try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1").map { "\(table) \($0)" }
            }
            lines.append(try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "")
            return lines
        }
    }

    /// A database left at each earlier version (0 = nothing applied) is
    /// brought to the latest, keeping what it holds.
    @Test func migratingFromEachEarlierVersion() throws {
        let folder = try TemporaryFolder("earlier")
        defer { folder.remove() }
        let expected = try Self.schemaObjects()
        for version in 0..<Schema.latestVersion {
            let path = folder.file("v\(version).db")
            let queue = try DatabaseQueue(path: path)
            try queue.writeWithoutTransaction { db in
                for migration in Schema.migrations where migration.version <= version {
                    try db.execute(sql: migration.sql)
                    try db.execute(sql: "PRAGMA user_version = \(migration.version)")
                }
                if version >= 1 {
                    try db.execute(sql: """
                        INSERT INTO runs (id, started_at, source_kind, source, filters, version) VALUES
                            (1, 1, 'file', 'x', '[]', 'old'),
                            (2, 2, 'interface', 'eth0', '[{"name":"RX","expression":"RX:RX@%:*"},{"name":"web","expression":"web:ANY@*:80"}]', 'old');
                        INSERT INTO sessions (id, run_id, started_at, duration, family, client_addr, client_port, server_addr, server_port, outcome)
                            VALUES (1, 1, 100.5, 0.25, 4, '192.0.2.1', 40000, '192.0.2.2', 80, 'success'),
                                   (2, 2, 200.5, 0.5, 4, '192.0.2.1', 40001, '192.0.2.2', 80, 'success'),
                                   (3, 2, 201.5, 0.5, 4, '192.0.2.1', 40002, '192.0.2.2', 80, 'success'),
                                   (4, 2, 202.5, 0.5, 4, '192.0.2.1', 40003, '192.0.2.2', 80, 'success');
                        INSERT INTO rollup_handshake_buckets (minute, filter, bucket, count)
                            VALUES (3600, 'RX', 500, 2), (3660, 'RX', 500, 3), (3660, 'RX', 501, 1), (7200, 'RX', 500, 4);
                        INSERT INTO rollups_minute (minute, filter, success, failure, timeout, handshake_sum)
                            VALUES (3600, 'RX', 2, 1, 1, 0.5), (3660, 'RX', 4, 0, 0, 1.0), (7200, 'RX', 4, 2, 2, 1.25);
                        """)
                }
                if version >= 1, version < 4 {
                    try db.execute(sql: """
                        INSERT INTO session_filters (session_id, filter) VALUES (2, 'RX'), (2, 'web'), (3, 'web'), (4, 'RX');
                        """)
                } else if version >= 4 {
                    // What a version-4 recorder writes: the filters as bits named per run.
                    try db.execute(sql: """
                        INSERT INTO run_filters (run_id, bit, filter) VALUES (2, 0, 'RX'), (2, 1, 'web');
                        UPDATE sessions SET filter_bits = CASE id WHEN 2 THEN 3 WHEN 3 THEN 2 WHEN 4 THEN 1 ELSE 0 END;
                        """)
                }
                if version >= 5 {
                    // What a version-5 recorder writes beside those minutes.
                    try db.execute(sql: """
                        INSERT INTO rollups_hour (hour, filter, success, failure, timeout, handshake_sum, handshake_buckets)
                            VALUES (3600, 'RX', 6, 1, 1, 1.5, '{"500":5,"501":1}'), (7200, 'RX', 4, 2, 2, 1.25, '{"500":4}');
                        """)
                } else if version >= 3 {
                    // What a version-3 recorder writes beside those minutes.
                    try db.execute(sql: """
                        INSERT INTO rollup_handshake_buckets_hour (hour, filter, bucket, count)
                            VALUES (3600, 'RX', 500, 5), (3600, 'RX', 501, 1), (7200, 'RX', 500, 4);
                        """)
                }
            }
            try queue.close()
            var upgrades: [String] = []
            let database = try HistoryDatabase.openForRecording(path: path) { upgrades.append("\($0)->\($1)") }
            database.close()
            // A new file is not an upgrade; an older one is announced.
            #expect(upgrades == (version == 0 ? [] : ["\(version)->\(Schema.latestVersion)"]))
            let found = try Self.objects(path)
            #expect(found.version == Schema.latestVersion, "from version \(version)")
            #expect(found.tables == expected.tables)
            #expect(found.views == expected.views)
            #expect(found.indexes == expected.indexes)
            if version >= 1 {
                #expect(try inspect(path) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") } == 4)
                // Version 4 keeps which filters counted each session, as bits named per run.
                let counted = try inspect(path) {
                    try String.fetchAll($0, sql: "SELECT session_id || ' ' || filter FROM session_filters ORDER BY 1")
                }
                #expect(counted == ["2 RX", "2 web", "3 web", "4 RX"], "from version \(version)")
                let bits = try inspect(path) { try Int.fetchAll($0, sql: "SELECT filter_bits FROM sessions ORDER BY id") }
                #expect(bits == [0, 3, 2, 1], "from version \(version)")
                // Version 3 fills the hourly buckets from the minutes already there.
                let hourly = try inspect(path) {
                    try String.fetchAll($0, sql: """
                        SELECT printf('%d %s %d %d', hour, filter, bucket, count) FROM rollup_handshake_buckets_hour ORDER BY 1
                        """)
                }
                #expect(hourly == ["3600 RX 500 5", "3600 RX 501 1", "7200 RX 500 4"], "from version \(version)")
                // Version 5 sums the minutes of each hour into one row, histogram included.
                let hours = try inspect(path) {
                    try String.fetchAll($0, sql: """
                        SELECT printf('%d %s %d %d %d %g %s', hour, filter, success, failure, timeout, handshake_sum,
                                      handshake_buckets) FROM rollups_hour ORDER BY 1
                        """)
                }
                #expect(hours == ["3600 RX 6 1 1 1.5 {\"500\":5,\"501\":1}", "7200 RX 4 2 2 1.25 {\"500\":4}"],
                        "from version \(version)")
                // Version 6 fills the per-cause rollups from the minutes and hours: no cause known.
                // (A version-6 file has its own, written by its recorder: none here.)
                let derivedCauses = version < 6
                let causes = try inspect(path) {
                    try String.fetchAll($0, sql: """
                        SELECT printf('%d %s %s %s %d', hour, filter, outcome, quote(cause), count) FROM rollup_causes_hour
                        UNION ALL
                        SELECT printf('minute %d %s %s %s %d', minute, filter, outcome, quote(cause), count) FROM rollup_causes_minute
                        ORDER BY 1
                        """)
                }
                #expect(causes == (!derivedCauses ? [] : ["3600 RX success '' 6", "3600 RX timeout '' 1", "7200 RX success '' 4", "7200 RX timeout '' 2",
                                   "minute 3600 RX success '' 2", "minute 3600 RX timeout '' 1", "minute 3660 RX success '' 4",
                                   "minute 7200 RX success '' 4", "minute 7200 RX timeout '' 2"]), "from version \(version)")
            }
        }
    }

    /// Version 6 (issue 15) upgrades a version-5 database in place: the
    /// evidence columns appear, NULL or their defaults in the old rows; the
    /// one cause the old columns prove (a success with a retransmitted SYN:
    /// `after-retries`) is derived; and the per-cause rollups are filled from
    /// the minute and hour rollups, '' for attempts without a known cause.
    @Test func upgradingVersion5AddsTheEvidenceColumnsAndCauseRollups() throws {
        let folder = try TemporaryFolder("v5")
        defer { folder.remove() }
        let path = folder.file("v5.db")
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            for migration in Schema.migrations where migration.version <= 5 {
                try db.execute(sql: migration.sql)
            }
            try db.execute(sql: """
                PRAGMA user_version = 5;
                INSERT INTO runs (id, started_at, source_kind, source, filters, version) VALUES
                    (1, 1, 'interface', 'eth0', '[{"name":"ALL","expression":"ALL:ANY@*:*"}]', 'old');
                INSERT INTO run_filters (run_id, bit, filter) VALUES (1, 0, 'ALL');
                INSERT INTO sessions (id, run_id, started_at, duration, family, client_addr, client_port, server_addr,
                                      server_port, outcome, dup_syn, icmp_type, icmp_code, filter_bits) VALUES
                    (1, 1, 3600.5, 0.25, 4, '192.0.2.1', 40000, '192.0.2.2', 80, 'success', 0, NULL, NULL, 1),
                    (2, 1, 3601.5, 1.25, 4, '192.0.2.1', 40001, '192.0.2.2', 80, 'success', 1, NULL, NULL, 1),
                    (3, 1, 3602.5, 3.0, 4, '192.0.2.1', 40002, '192.0.2.2', 80, 'timeout', 2, NULL, NULL, 1),
                    (4, 1, 3603.5, 0.1, 4, '192.0.2.1', 40003, '192.0.2.2', 80, 'unreach', 0, 3, 3, 1);
                INSERT INTO rollups_minute (minute, filter, success, success_dup_syn, failure, timeout, unreach, dup_syn)
                    VALUES (3600, 'ALL', 2, 1, 2, 1, 1, 3);
                INSERT INTO rollups_hour (hour, filter, success, success_dup_syn, failure, timeout, unreach, dup_syn)
                    VALUES (3600, 'ALL', 2, 1, 2, 1, 1, 3), (7200, 'ALL', 5, 0, 1, 0, 0, 0);
                UPDATE rollups_hour SET reject = 1 WHERE hour = 7200;
                """)
        }
        try queue.close()
        try HistoryDatabase.openForRecording(path: path).close()

        let evidenceColumns = ["cause", "syn_ttl", "synack_ttl", "rst_ttl", "synack_seen", "icmp_sender", "icmp_ttl",
                               "synack_mss", "synack_wscale", "syn_to_synack", "synack_to_ack", "syn_retry_time",
                               "ignored_rst", "ignored_rst_ttl", "capture_dropped"]
        let columns = try inspect(path) { try String.fetchAll($0, sql: "SELECT name FROM pragma_table_info('sessions')") }
        #expect(Array(columns.suffix(evidenceColumns.count)) == evidenceColumns)
        #expect(try inspect(path) { try Int.fetchOne($0, sql: "PRAGMA user_version") } == Schema.latestVersion)

        let rows = try inspect(path) {
            try String.fetchAll($0, sql: """
                SELECT printf('%d %s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%g|%d|%s|%d', id, quote(cause), quote(syn_ttl),
                              quote(synack_ttl), quote(rst_ttl), quote(synack_seen), quote(icmp_sender), quote(icmp_ttl),
                              quote(synack_mss), quote(synack_wscale), quote(syn_to_synack), quote(synack_to_ack),
                              syn_retry_time, ignored_rst, quote(ignored_rst_ttl), capture_dropped)
                FROM sessions ORDER BY id
                """)
        }
        let unknown = "NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|0|0|NULL|0"
        #expect(rows == ["1 NULL|\(unknown)", "2 'after-retries'|\(unknown)", "3 NULL|\(unknown)", "4 NULL|\(unknown)"])

        let minutes = try inspect(path) {
            try String.fetchAll($0, sql: """
                SELECT printf('%d %s %s %s %d', minute, filter, outcome, quote(cause), count)
                FROM rollup_causes_minute ORDER BY minute, filter, outcome, cause
                """)
        }
        #expect(minutes == ["3600 ALL success '' 1", "3600 ALL success 'after-retries' 1", "3600 ALL timeout '' 1",
                            "3600 ALL unreach '' 1"])
        let hours = try inspect(path) {
            try String.fetchAll($0, sql: """
                SELECT printf('%d %s %s %s %d', hour, filter, outcome, quote(cause), count)
                FROM rollup_causes_hour ORDER BY hour, filter, outcome, cause
                """)
        }
        #expect(hours == ["3600 ALL success '' 1", "3600 ALL success 'after-retries' 1", "3600 ALL timeout '' 1",
                          "3600 ALL unreach '' 1", "7200 ALL reject '' 1", "7200 ALL success '' 5"])
    }

    /// Version 7 (issue 16) upgrades a version-6 database in place: its
    /// sessions stay, it gets one random identity (kept on every later
    /// open, different from any other database's) and no ship cursor yet.
    @Test func upgradingVersion6AddsAnIdentityAndShipCursors() throws {
        let folder = try TemporaryFolder("v6")
        defer { folder.remove() }
        var identities: [String] = []
        for name in ["a.db", "b.db"] {
            let path = folder.file(name)
            let queue = try DatabaseQueue(path: path)
            try queue.writeWithoutTransaction { db in
                for migration in Schema.migrations where migration.version <= 6 {
                    try db.execute(sql: migration.sql)
                }
                try db.execute(sql: """
                    PRAGMA user_version = 6;
                    INSERT INTO runs (id, started_at, source_kind, source, filters, version) VALUES
                        (1, 1, 'interface', 'eth0', '[{"name":"ALL","expression":"ALL:ANY@*:*"}]', 'old');
                    INSERT INTO run_filters (run_id, bit, filter) VALUES (1, 0, 'ALL');
                    INSERT INTO sessions (id, run_id, started_at, duration, family, client_addr, client_port, server_addr,
                                          server_port, outcome, filter_bits) VALUES
                        (7, 1, 3600.5, 0.25, 4, '192.0.2.1', 40000, '192.0.2.2', 80, 'success', 1);
                    """)
            }
            try queue.close()
            var upgrades: [String] = []
            try HistoryDatabase.openForRecording(path: path) { upgrades.append("\($0)->\($1)") }.close()
            #expect(upgrades == ["6->\(Schema.latestVersion)"])
            let identity = try inspect(path) { try String.fetchAll($0, sql: "SELECT id FROM database_identity") }
            #expect(identity.count == 1)
            #expect(identity.first?.count == 32 && identity.first?.allSatisfy(\.isHexDigit) == true, "\(identity)")
            #expect(try inspect(path) { try Int.fetchOne($0, sql: "SELECT count(*) FROM ship_cursors") } == 0)
            #expect(try inspect(path) { try Int.fetchAll($0, sql: "SELECT id FROM sessions") } == [7])
            // Reopening changes nothing.
            try HistoryDatabase.openForRecording(path: path).close()
            #expect(try inspect(path) { try String.fetchAll($0, sql: "SELECT id FROM database_identity") } == identity)
            identities += identity
        }
        #expect(identities.count == 2 && identities[0] != identities[1])
    }

    /// Version 8 (issue 16, the rollups shipped) keeps a version-7
    /// database's session cursors and gives each a rollup cursor that has
    /// nothing yet, so the first ship after the upgrade sends every rollup.
    @Test func upgradingVersion7KeepsTheCursorsAndStartsTheRollupCursorAtNothing() throws {
        let folder = try TemporaryFolder("v7")
        defer { folder.remove() }
        let path = folder.file("h.db")
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            for migration in Schema.migrations where migration.version <= 7 {
                try db.execute(sql: migration.sql)
            }
            try db.execute(sql: """
                PRAGMA user_version = 7;
                INSERT INTO ship_cursors (destination, session_id, shipped_at) VALUES ('http://127.0.0.1:8123/tcpeek', 42, 1.5);
                """)
        }
        try queue.close()
        var upgrades: [String] = []
        let database = try HistoryDatabase.openForShipping(path: path)
        database.close()
        try HistoryDatabase.openForRecording(path: path) { upgrades.append("\($0)->\($1)") }.close()
        #expect(upgrades == [], "openForShipping upgraded it already")
        #expect(try inspect(path) { try Int.fetchOne($0, sql: "PRAGMA user_version") } == 8)
        let cursor = try inspect(path) {
            try Row.fetchAll($0, sql: "SELECT destination, session_id, shipped_at, rollup_minute, rollup_session_id FROM ship_cursors")
                .map { "\($0[0] as String) \($0[1] as Int64) \($0[2] as Double) \($0[3] as Int64) \($0[4] as Int64)" }
        }
        #expect(cursor == ["http://127.0.0.1:8123/tcpeek 42 1.5 -1 0"])
        let reopened = try HistoryDatabase.openForShipping(path: path)
        #expect(try reopened.rollupCursor(destination: "http://127.0.0.1:8123/tcpeek") == .none)
        #expect(try reopened.rollupCursor(destination: "elsewhere") == .none)
        try reopened.moveRollupCursor(destination: "elsewhere", to: .init(minute: 120, sessionID: 5))
        #expect(try reopened.shipCursor(destination: "elsewhere") == 0)
        #expect(try reopened.rollupCursor(destination: "elsewhere") == .init(minute: 120, sessionID: 5))
        reopened.close()
    }

    /// A tcpeek database of a newer version, in rollback-journal mode (as
    /// another tool would leave it), so that switching it to WAL would show.
    static func makeNewerDatabase(_ path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            for migration in Schema.migrations { try db.execute(sql: migration.sql) }
            try db.execute(sql: "CREATE TABLE future_things (id INTEGER PRIMARY KEY)")
            try db.execute(sql: "PRAGMA user_version = \(Schema.latestVersion + 1)")
        }
        try queue.close()
    }

    @Test func aNewerDatabaseIsRefusedAndLeftByteForByte() throws {
        let folder = try TemporaryFolder("newer")
        defer { folder.remove() }
        let path = folder.file("newer.db")
        try Self.makeNewerDatabase(path)
        let before = try #require(fileBytes(path))
        #expect(throws: StoreError.newerSchema(path: path, found: Schema.latestVersion + 1, known: Schema.latestVersion)) {
            try HistoryDatabase.openForRecording(path: path)
        }
        #expect(fileBytes(path) == before, "refusing a newer database changed it")
        #expect(throws: StoreError.newerSchema(path: path, found: Schema.latestVersion + 1, known: Schema.latestVersion)) {
            try HistoryDatabase.openForReading(path: path)
        }
        #expect(fileBytes(path) == before)
        let message = StoreError.newerSchema(path: path, found: Schema.latestVersion + 1, known: Schema.latestVersion).description
        #expect(message.contains("newer tcpeek") && message.contains("left untouched"))
        #expect(try inspect(path) { try Int.fetchOne($0, sql: "PRAGMA user_version") } == Schema.latestVersion + 1)
    }

    @Test func aDatabaseOfAnotherToolIsRefusedAndLeftByteForByte() throws {
        let folder = try TemporaryFolder("foreign")
        defer { folder.remove() }
        let path = folder.file("other.db")
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
            try db.execute(sql: "INSERT INTO accounts (name) VALUES ('alice'), ('bob')")
        }
        try queue.close()
        let before = try #require(fileBytes(path))
        for open in [{ try HistoryDatabase.openForRecording(path: path) }, { try HistoryDatabase.openForReading(path: path) }] {
            do {
                _ = try open()
                Issue.record("a foreign database was accepted")
            } catch let error as StoreError {
                guard case .notTCPeekDatabase(let where_, _) = error else {
                    Issue.record("unexpected error \(error)")
                    continue
                }
                #expect(where_ == path)
                #expect(error.description.contains("not a tcpeek database"))
            }
            #expect(fileBytes(path) == before, "refusing a foreign database changed it")
        }
        #expect(try inspect(path) { try String.fetchAll($0, sql: "SELECT name FROM accounts ORDER BY id") } == ["alice", "bob"])
    }

    @Test(arguments: ["random", "header-then-random", "short"])
    func aFileThatIsNotADatabaseIsRefusedAndLeftByteForByte(kind: String) throws {
        let folder = try TemporaryFolder("notdb")
        defer { folder.remove() }
        let path = folder.file("\(kind).db")
        var bytes = pseudoRandomBytes(20_000, seed: 3)
        switch kind {
        case "header-then-random": bytes.replaceSubrange(0..<16, with: Array("SQLite format 3\0".utf8))
        case "short": bytes = Array("hello\n".utf8)
        default: if bytes.starts(with: Array("SQLite".utf8)) { bytes[0] = 0 }
        }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        for open in [{ try HistoryDatabase.openForRecording(path: path) }, { try HistoryDatabase.openForReading(path: path) }] {
            do {
                _ = try open()
                Issue.record("\(kind): accepted as a database")
            } catch let error as StoreError {
                guard case .notTCPeekDatabase = error else {
                    Issue.record("\(kind): unexpected error \(error)")
                    continue
                }
            }
            #expect(fileBytes(path) == Data(bytes), "\(kind): refusing it changed the file")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") } == ["\(kind).db"],
                "no -wal or -shm file is left beside it")
    }

    @Test func readOnlyFileAndFolderAreRefusedWithAClearMessage() throws {
        let folder = try TemporaryFolder("readonly")
        defer { folder.remove() }
        // A good database made immutable (read-only even for root).
        let file = folder.file("file.db")
        try HistoryDatabase.openForRecording(path: file).close()
        let fileBefore = try #require(fileBytes(file))
        try folder.makeImmutable(file)
        do {
            _ = try HistoryDatabase.openForRecording(path: file)
            Issue.record("an immutable file was opened for recording")
        } catch {
            guard case .readOnly(let where_, let detail) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(where_ == file)
            #expect(detail.contains("file is not writable"), "\(detail)")
            #expect(error.description.contains("cannot be written") && error.description.contains("--no-db"))
        }
        // Reading it still works.
        try HistoryDatabase.openForReading(path: file).close()
        folder.makeMutable(file)
        #expect(fileBytes(file) == fileBefore)

        // A folder that cannot be written: neither a new database nor an
        // existing one (SQLite must create its -wal and -shm files there).
        let locked = folder.file("locked")
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
        let existing = locked + "/existing.db"
        try HistoryDatabase.openForRecording(path: existing).close()
        let existingBefore = try #require(fileBytes(existing))
        try folder.makeImmutable(locked)
        for path in [existing, locked + "/new.db"] {
            do {
                _ = try HistoryDatabase.openForRecording(path: path)
                Issue.record("\(path) was opened for recording in a read-only folder")
            } catch {
                guard case .readOnly(_, let detail) = error else {
                    Issue.record("\(path): unexpected error \(error)")
                    continue
                }
                #expect(detail.contains("folder") && detail.contains("not writable"), "\(detail)")
            }
        }
        folder.makeMutable(locked)
        #expect(fileBytes(existing) == existingBefore)
        #expect(!FileManager.default.fileExists(atPath: locked + "/new.db"))
    }

    @Test func readingAMissingDatabaseSaysSo() throws {
        let folder = try TemporaryFolder("missing")
        defer { folder.remove() }
        let path = folder.file("nothing.db")
        #expect(throws: StoreError.notFound(path: path)) { try HistoryDatabase.openForReading(path: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// The handshake buckets keep every duration within 1 % of its bucket's middle.
    @Test func handshakeBucketsAreWithinOnePercent() {
        var micros: Int64 = 1
        while micros < 600_000_000 {
            let middle = Schema.handshakeBucketMiddle(Schema.handshakeBucket(microseconds: micros))
            #expect(abs(middle - Double(micros)) / Double(micros) <= 0.01, "\(micros) µs")
            micros = micros * 3 / 2 + 1
        }
    }
}
