// A transaction's sessions are written in order of start, not of closing
// (SessionInserts.startOrder): `sessions_by_time` is then extended at its
// end rather than searched from its root for every row. Sessions that
// started at the same microsecond keep the order in which they closed.
import Foundation
import GRDB
import Logging
import TCPeekCore
@testable import TCPeekStore
import Testing

@Suite("order of the rows of a batch")
struct SessionOrderTests {
    /// Session `index` of a batch closed in that order: a timeout every
    /// seventh (started long before the others), pairs that started at the
    /// same microsecond, the rest a little out of order.
    static func session(_ index: Int) -> Session {
        let base: Int64 = 1_800_000_000_000_000
        let start = index % 7 == 0 ? base - 60_000_000 + Int64(index) : base + Int64(index / 2 * 10 + (index % 3) * 25)
        return Session(client: IPAddress(ipv4: 0xC633_6401), server: IPAddress(ipv4: 0xCB00_7101),
                       clientPort: UInt16(10_000 + index), serverPort: 443,
                       startedAt: Timestamp(microseconds: start), duration: .init(microseconds: 1_000),
                       outcome: index % 7 == 0 ? .timeout : .success, filters: FilterMask(rawValue: 1))
    }

    @Test func startOrderSortsByStartAndKeepsTheOrderOfClosingOnTies() {
        let batch = ArraySlice((0..<500).map(Self.session))[100..<400]
        let order = SessionInserts.startOrder(of: batch)
        #expect(order.sorted() == Array(batch.indices))
        for (earlier, later) in zip(order, order.dropFirst()) {
            let (a, b) = (batch[earlier].startedAt, batch[later].startedAt)
            #expect(a < b || (a == b && earlier < later), "position \(earlier) before \(later)")
        }
    }

    @Test("a recorded batch: every session once, ids in order of start")
    func recordedRowsFollowTheStartTimes() throws {
        let folder = try TemporaryFolder("session-order")
        defer { folder.remove() }
        let path = folder.file("history.db")
        let count = 3_000
        let database = try HistoryDatabase.openForRecording(path: path)
        let run = RunInfo(startedAt: 1_800_000_000, sourceKind: "file", source: "synthetic",
                          filters: [try Filter.parse("all:ANY@*:*")], host: nil, version: "test", libpcap: nil)
        let recorder = try Recorder(database: database, run: run, options: RecorderOptions(), logger: Logger(label: "test"))
        recorder.start()
        recorder.queue.push((0..<count).map(Self.session), waitWhenFull: true)
        recorder.queue.close()
        recorder.finish(RunEnd(endedAt: 1_800_000_100, capture: nil, evicted: 0, stillOpen: 0))
        database.close()

        let rows = try inspect(path) { db in
            try Row.fetchAll(db, sql: "SELECT client_port, started_at FROM sessions ORDER BY id")
        }
        #expect(rows.count == count)
        #expect(Set(rows.map { $0[0] as Int }) == Set((0..<count).map { 10_000 + $0 }))
        let starts = rows.map { $0[1] as Double }
        #expect(zip(starts, starts.dropFirst()).allSatisfy { $0 <= $1 }, "rows by id are not in order of start")
    }
}
