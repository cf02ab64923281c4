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
        try recordInProcess(into: path, feed: { recorder in
            recorder.queue.push((0..<count).map(Self.session), waitWhenFull: true)
        })

        let rows = try inspect(path) { db in
            try Row.fetchAll(db, sql: "SELECT client_port, started_at FROM sessions ORDER BY id")
        }
        #expect(rows.count == count)
        #expect(Set(rows.map { $0[0] as Int }) == Set((0..<count).map { 10_000 + $0 }))
        let starts = rows.map { $0[1] as Double }
        #expect(zip(starts, starts.dropFirst()).allSatisfy { $0 <= $1 }, "rows by id are not in order of start")
    }
}

// The recorder binds a column only when its value differs from what that
// row's slot of the statement held last (SessionInserts, BoundValues): rows
// whose columns change, repeat, and turn NULL and back must each be
// written as they are.
@Suite("every column of every row as the session had it")
struct SessionColumnsTests {
    static let filters = ["a:ANY@*:*", "b:ANY@*:*", "c:ANY@*:*"]

    /// Session `index`: each column cycles through its values with a period
    /// of its own, so that slots see values change, repeat, and go NULL.
    static func session(_ index: Int) -> Session {
        var vlan = VLANPath.none
        if index % 5 == 1 { vlan.push(UInt16(index % 4000 + 1)) }
        if index % 10 == 1 { vlan.push(7) }
        let outcome = Outcome.allCases[index % 7 % Outcome.allCases.count]
        return Session(client: index % 3 == 0 ? IPAddress(ipv4: 0xC633_6400 | UInt32(index % 200))
                                              : IPAddress(high: 0x2001_0DB8_0001_0000, low: UInt64(index)),
                       server: IPAddress(ipv4: 0xCB00_7100 | UInt32(index % 9)),
                       clientPort: UInt16(10_000 + index), serverPort: [80, 443, 443, 22][index % 4],
                       vlan: vlan, startedAt: Timestamp(microseconds: 1_800_000_000_000_000 + Int64(index) * 1_000),
                       duration: .init(microseconds: Int64(index % 11) * 137), outcome: outcome,
                       dupSYN: UInt32(index % 13 == 0 ? 2 : 0), dupSYNACK: UInt32(index % 17 == 0 ? 1 : 0),
                       filters: FilterMask(rawValue: UInt64(index % 8)),
                       direction: [nil, .rx, .tx, .rx][index % 4],
                       icmpType: outcome == .unreach ? UInt8(index % 2 == 0 ? 3 : 1) : 0,
                       icmpCode: outcome == .unreach ? UInt8(index % 5) : 0, wasEvicted: index % 19 == 0)
    }

    /// A row as `sessions` should hold `session`, in the columns' text.
    static func expectedRow(_ session: Session) -> String {
        let vlan = session.vlan == .none ? "NULL" : session.vlan.ids.map(String.init).joined(separator: ".")
        let icmp = session.outcome == .unreach ? "\(session.icmpType)|\(session.icmpCode)" : "NULL|NULL"
        return [String(session.isIPv4 ? 4 : 6), session.client.description, String(session.clientPort),
                session.server.description, String(session.serverPort), vlan, session.direction?.rawValue ?? "NULL",
                session.outcome.description, String(session.dupSYN), String(session.dupSYNACK), icmp,
                session.wasEvicted ? "1" : "0", String(session.filters.rawValue), String(session.duration.microseconds)]
            .joined(separator: "|")
    }

    @Test func rowsHoldTheirSessionsColumns() throws {
        let folder = try TemporaryFolder("session-columns")
        defer { folder.remove() }
        let path = folder.file("history.db")
        // Batches of 1 to 200 sessions: statements of 32 rows and single rows.
        let sessions = (0..<2_000).map(Self.session)
        var options = RecorderOptions()
        options.batchSize = 77
        try recordInProcess(into: path, filters: Self.filters, options: options, feed: { recorder in
            var start = 0
            for size in [1, 33, 200, 5, 64, 31, 32, 2] where start < sessions.count {
                let end = min(sessions.count, start + size)
                recorder.queue.push(Array(sessions[start..<end]), waitWhenFull: true)
                start = end
            }
            recorder.queue.push(Array(sessions[start...]), waitWhenFull: true)
        })

        let rows = try inspect(path) { db in
            try String.fetchAll(db, sql: """
                SELECT family || '|' || client_addr || '|' || client_port || '|' || server_addr || '|' ||
                       server_port || '|' || coalesce(vlan, 'NULL') || '|' || coalesce(direction, 'NULL') || '|' ||
                       outcome || '|' || dup_syn || '|' || dup_synack || '|' || coalesce(icmp_type, 'NULL') || '|' ||
                       coalesce(icmp_code, 'NULL') || '|' || evicted || '|' || filter_bits || '|' ||
                       CAST(round(duration * 1000000) AS INTEGER)
                FROM sessions ORDER BY client_port
                """)
        }
        #expect(rows.count == sessions.count)
        for (row, session) in zip(rows, sessions) {
            #expect(row == Self.expectedRow(session), "session \(session.clientPort)")
        }
    }
}
