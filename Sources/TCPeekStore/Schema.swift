import Foundation
import GRDB

/// The history database's schema: the numbered migrations of `Schema/`,
/// compiled into the binary, applied in order with the version kept in
/// `PRAGMA user_version`.
public enum Schema {
    struct Migration: Sendable {
        let version: Int
        let name: String
        let sql: String
    }

    /// The version this build writes.
    public static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// The tables (or, for `session_filters` since version 4, the view)
    /// every tcpeek database has had since version 1; their absence in a
    /// non-empty file means it belongs to something else.
    static let ownTables: Set<String> = ["runs", "sessions", "session_filters", "rollups_minute", "rollup_handshake_buckets"]

    /// SQL true when session `s` counts in the filter of `run_filters` row
    /// `f`: the join of the `session_filters` view (Schema/0004), written
    /// out where a query must be driven by `sessions`' time index.
    static let sessionCountedByFilter = "f.run_id = s.run_id AND (s.filter_bits >> f.bit) & 1"

    /// Brings `db` to the latest version. Refuses, without changing
    /// anything, a database written by a newer tcpeek or one that is not a
    /// tcpeek database at all.
    static func migrate(_ db: Database, path: String, willUpgrade: (_ from: Int, _ to: Int) -> Void = { _, _ in }) throws {
        // One immediate transaction: the version is read under the write
        // lock, so recorders starting together on a new file cannot both
        // create the tables.
        try db.inTransaction(.immediate) {
            let version = try check(db, path: path)
            if version > 0, version < latestVersion { willUpgrade(version, latestVersion) }
            for migration in migrations where migration.version > version {
                try db.execute(sql: migration.sql)
                try db.execute(sql: "PRAGMA user_version = \(migration.version)")
            }
            return .commit
        }
    }

    /// The schema version of `db` if this tcpeek can use it; only reads.
    /// Throws for a database written by a newer tcpeek or one that is not a
    /// tcpeek database at all.
    @discardableResult
    static func check(_ db: Database, path: String) throws -> Int {
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if version > latestVersion {
            throw StoreError.newerSchema(path: path, found: version, known: latestVersion)
        }
        if version == 0, let refusal = try unversioned(db, path: path) { throw refusal }
        let tables = try Set(String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'"))
        if version > 0, !ownTables.isSubset(of: tables) {
            throw StoreError.notTCPeekDatabase(path: path, detail: "schema version \(version) but tables are missing")
        }
        return version
    }

    /// Why a file without a schema version cannot be used, or nil when it
    /// is empty. tcpeek's tables without a version are a copy restored from
    /// `sqlite3 .dump`, which does not keep `PRAGMA user_version`: the
    /// error says how to give it back.
    static func unversioned(_ db: Database, path: String) throws -> StoreError? {
        let tables = try Set(String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'"))
        if tables.isEmpty { return nil }
        guard ownTables.isSubset(of: tables) else {
            return .notTCPeekDatabase(path: path, detail: "it has tables (\(tables.sorted().prefix(5).joined(separator: ", "))) but no tcpeek schema version")
        }
        return .restoredWithoutVersion(path: path, matches: try definitions(db) == latestDefinitions(), latest: latestVersion)
    }

    /// Every table, index, view and trigger as SQLite keeps its SQL.
    private static func definitions(_ db: Database) throws -> Set<String> {
        try Set(String.fetchAll(db, sql: """
            SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'
            """))
    }

    /// The definitions of a database this tcpeek creates.
    private static func latestDefinitions() throws -> Set<String> {
        let scratch = try DatabaseQueue()
        return try scratch.inDatabase { db in
            for migration in migrations { try db.execute(sql: migration.sql) }
            return try definitions(db)
        }
    }

    /// The bucket of the handshake-time histogram holding `microseconds`
    /// (see `rollup_handshake_buckets` in Schema/0001_initial.sql).
    public static func handshakeBucket(microseconds: Int64) -> Int {
        guard microseconds >= 1 else { return 0 }
        return Int((Double(microseconds).logarithm / bucketLogBase).rounded(.down)) + 1
    }

    /// A representative duration (the geometric middle) of a bucket, in
    /// microseconds: within 1 % of every duration the bucket holds.
    public static func handshakeBucketMiddle(_ bucket: Int) -> Double {
        guard bucket > 0 else { return 0.5 }
        let low = (Double(bucket - 1) * bucketLogBase).exponential
        let high = (Double(bucket) * bucketLogBase).exponential
        return (low * high).squareRoot()
    }

    static let bucketLogBase = 1.02.logarithm
}

extension Double {
    var logarithm: Double { Foundation.log(self) }
    var exponential: Double { Foundation.exp(self) }
}
