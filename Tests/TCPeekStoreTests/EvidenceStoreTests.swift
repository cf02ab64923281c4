// The evidence and cause of each session (issue 15) in the database: the
// columns of Schema/0006 written by the recorder, the per-cause rollups kept
// with the other rollups, and pruned with them.
import Foundation
import GRDB
import TCPeekCore
import Testing
@testable import TCPeekStore

@Suite("Evidence and causes in the database")
struct EvidenceStoreTests {
    /// 2012-03-29T10:00:00Z.
    static let start: Int64 = 1_333_015_200

    /// 440 sessions, 40 rounds of the eleven kinds over ~8 minutes: rows
    /// go through the 32-row statement and the one-row one, across minutes.
    static let sessions: [Session] = (0..<40).flatMap {
        EvidenceSessions.kinds(at: start + Int64($0) * 12, clientPort: 10_000 + UInt16($0) * 20)
    }

    static func database(_ folder: TemporaryFolder) throws -> String {
        let path = folder.file("history.db")
        var options = RecorderOptions()
        options.retentionDays = 100_000
        options.rollupRetentionDays = 100_000
        try recordInProcess(into: path, filters: ["web:ANY@*:*"], options: options, feed: { recorder in
            recorder.queue.push(Self.sessions, waitWhenFull: true)
        })
        return path
    }

    @Test func everySessionKeepsItsEvidenceAndCause() throws {
        let folder = try TemporaryFolder("evidence-rows")
        defer { folder.remove() }
        let db = try Self.database(folder)
        let stored = try inspect(db) { db in
            try Row.fetchAll(db, sql: "SELECT \(StoredEvidence.columns) FROM sessions ORDER BY started_at").map(StoredEvidence.init)
        }
        try #require(stored.count == Self.sessions.count)
        for (row, session) in zip(stored, Self.sessions) {
            #expect(row == StoredEvidence(session), "\(session.outcome) \(session.cause)")
        }
        // Spot checks of what the values mean, not only that they round-trip.
        let combined = try #require(stored.first { $0.cause?.contains(",") == true })
        #expect(combined.cause == "after-retries,server-dropped-ack")
        #expect(combined.synRetryTime == 1)
        let filtered = try #require(stored.first { $0.cause == "filtered" })
        #expect(filtered.icmpSender == "198.51.100.1" && filtered.icmpTTL == 63 && filtered.synackSeen == 0)
        let v6 = try #require(stored.first { $0.cause == "port-unreachable" })
        #expect(v6.icmpSender == "2001:db8:2::5")
        #expect(stored.first?.cause == nil && stored.first?.synackMSS == 1460 && stored.first?.synToSynack == 0.02)
        #expect(try inspect(db) { try rollupInconsistencies($0) } == [])
    }

    @Test func causeRollupsCountEachCombinationPerMinuteAndHour() throws {
        let folder = try TemporaryFolder("evidence-rollups")
        defer { folder.remove() }
        let db = try Self.database(folder)
        let total = try inspect(db) { db in
            try String.fetchAll(db, sql: """
                SELECT printf('%s %s %d', outcome, quote(cause), sum(count)) FROM rollup_causes_hour
                GROUP BY outcome, cause ORDER BY outcome, cause
                """)
        }
        #expect(total == [
            "abort 'client-refused-synack' 40", "reject 'closed-port' 40", "reject 'reset-by-middlebox' 40",
            "success '' 40", "success 'after-retries,server-dropped-ack' 40", "success 'inferred' 40",
            "success 'injected-reset' 40", "timeout 'no-answer' 40", "timeout 'uncertain' 40",
            "unreach 'filtered' 40", "unreach 'port-unreachable' 40",
        ])
        #expect(try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(DISTINCT minute) FROM rollup_causes_minute") } == 8)
        #expect(try inspect(db) { try rollupInconsistencies($0) } == [])
    }

    /// Rollup retention removes the per-cause rows with the others.
    @Test func retentionPrunesTheCauseRollups() throws {
        let folder = try TemporaryFolder("evidence-prune")
        defer { folder.remove() }
        let db = try Self.database(folder)
        #expect(try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM rollup_causes_minute") } ?? 0 > 0)
        try recordInProcess(into: db, feed: { _ in })  // RecorderOptions(): rollups kept 400 days
        for table in ["rollups_minute", "rollups_hour", "rollup_causes_minute", "rollup_causes_hour"] {
            #expect(try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM \(table)") } == 0, "\(table)")
        }
    }
}
