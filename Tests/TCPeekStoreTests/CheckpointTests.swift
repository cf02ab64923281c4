// The recorder's write-ahead log is checkpointed on a thread of its own
// (Checkpointer): while a busy recorder writes, the -wal file must stay
// near its limit instead of growing with everything recorded, every row
// must be there, and once the recording is over and the database closed,
// no -wal file may be left behind (a database at rest is read by users who
// cannot write its folder; see HistoryDatabase.openForReading).
import Foundation
import GRDB
import Logging
import TCPeekCore
@testable import TCPeekStore
import Testing

@Suite("checkpoints off the recorder's thread")
struct CheckpointTests {
    static let sessions = 300_000
    static let batch = 2_000

    static func session(_ index: Int) -> Session {
        Session(client: IPAddress(ipv4: 0xC633_6400 | UInt32(index % 250 + 1)),
                server: IPAddress(ipv4: 0xCB00_7100 | UInt32(index % 7 + 1)),
                clientPort: UInt16(32_768 + index % 28_000), serverPort: 443,
                startedAt: Timestamp(seconds: 1_800_000_000 + Int64(index / 1000), microseconds: Int64(index % 1000) * 997),
                duration: .init(microseconds: 1_500 + Int64(index % 300)),
                outcome: index % 50 == 0 ? .timeout : .success, filters: FilterMask(rawValue: 1))
    }

    /// Records `sessions` synthetic sessions, pushed as fast as the queue
    /// takes them so that the writer is never idle; returns the largest
    /// -wal file seen while recording.
    static func recordBusily(into path: String, logLimitPages: Int) throws -> Int {
        var options = RecorderOptions()
        options.logLimitPages = logLimitPages
        var largestLog = 0
        try recordInProcess(into: path, options: options, feed: { recorder in
            for start in stride(from: 0, to: sessions, by: batch) {
                recorder.queue.push((start..<start + batch).map(session), waitWhenFull: true)
                largestLog = max(largestLog, fileSize(path + "-wal"))
            }
        }, finished: { recorder in
            largestLog = max(largestLog, fileSize(path + "-wal"))
            #expect(recorder.recorded == UInt64(sessions))
        })
        return largestLog
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    @Test("a busy recorder's -wal file stays near its limit; every row is written; no -wal is left")
    func logStaysSmall() throws {
        let folder = try TemporaryFolder("checkpoint")
        defer { folder.remove() }
        let path = folder.file("history.db")
        let limit = 1000
        let largestLog = try Self.recordBusily(into: path, logLimitPages: limit)
        // 300,000 sessions take about 60 MB of pages: a log that never
        // started over would hold them all.
        #expect(largestLog > 0)
        #expect(largestLog < 3 * limit * 4120, "largest -wal file: \(largestLog) bytes")
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the -wal file is removed at close")
        let (integrity, rows, inconsistencies) = try inspect(path) { db in
            (try String.fetchOne(db, sql: "PRAGMA integrity_check"),
             try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions"),
             try rollupInconsistencies(db))
        }
        #expect(integrity == "ok")
        #expect(rows == Self.sessions)
        #expect(inconsistencies == [])
        // The log would have grown this large without checkpoints.
        let pages = try inspect(path) { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
        #expect(pages > 4 * limit, "the recording wrote \(pages) pages")
    }
}
