// `tcpeek record --ship` ships what the recorder commits from memory
// (CommittedRowFeed, encoding in the writer's thread) rather than reading it back
// from the database: the rows must be the bytes the database path makes,
// and a feed that is full (ClickHouse slow) or starts later than the
// cursor must leave the gap to the database, never a session lost or
// sent twice.
import Foundation
import GRDB
import Logging
import NIOCore
import TCPeekCore
import Testing
@testable import TCPeekFleet
@testable import TCPeekStore

@Suite(.serialized) struct FleetFeedTests {
    /// Sessions of every kind of column: SessionColumnsTests' cycle (NULLs,
    /// VLANs, IPv6, unreaches, filter bits) and EvidenceSessions' causes and
    /// evidence, some across a UTC midnight.
    static func sessions() -> [Session] {
        let midnight: Int64 = 86_400 * 20_834
        return (0..<1_500).map(SessionColumnsTests.session)
            + EvidenceSessions.kinds(at: midnight - 5) + EvidenceSessions.kinds(at: midnight + 100, clientPort: 50_000)
    }

    /// Records `sessions` through a recorder whose commits go to `feed`,
    /// in pushes of uneven sizes, batches of 77.
    static func record(_ sessions: [Session], into path: String, feed: CommittedRowFeed) throws {
        var options = RecorderOptions()
        options.batchSize = 77
        options.committed = feed
        try recordInProcess(into: path, filters: SessionColumnsTests.filters, options: options, feed: { recorder in
            var start = 0
            for size in [1, 33, 200, 5, 64, 31, 32, 2, 500] where start < sessions.count {
                let end = min(sessions.count, start + size)
                recorder.queue.push(Array(sessions[start..<end]), waitWhenFull: true)
                start = end
            }
            recorder.queue.push(Array(sessions[start...]), waitWhenFull: true)
        })
    }

    @Test func committedSessionsMakeTheBytesTheirRowsMake() throws {
        let folder = try TemporaryFolder("feed-bytes")
        defer { folder.remove() }
        let path = folder.file("h.db")
        try HistoryDatabase.openForRecording(path: path).close()
        let database = try HistoryDatabase.openForShipping(path: path)
        defer { database.close() }
        let context = FleetRowContext(database: database, host: "h\tx", databaseID: try database.identity())
        let feed = CommittedRowFeed()
        feed.attach(context)
        let sessions = Self.sessions()
        try Self.record(sessions, into: path, feed: feed)
        #expect(feed.count == sessions.count)
        #expect(feed.firstID == 1)

        let reader = SessionBatchReader(context: context)
        var cursor: Int64 = 0
        var batches = 0
        while let committed = feed.batch(after: cursor, limit: 300, into: { context.buffer(capacity: 0) }) {
            let stored = try #require(try reader.batch(after: cursor, limit: committed.count))
            #expect((committed.firstID, committed.lastID, committed.count, committed.day)
                    == (stored.firstID, stored.lastID, stored.count, stored.day))
            #expect(committed.rows == stored.rows, "the rows after \(cursor) differ")
            cursor = committed.lastID
            batches += 1
        }
        #expect(cursor == Int64(sessions.count))
        // Two midnights split batches, and 300 does.
        #expect(batches >= sessions.count / 300 + 2)
        // What the feed held is gone once asked past.
        #expect(feed.count == 0)
        #expect(try reader.batch(after: cursor, limit: 300) == nil)
    }

    /// A feed that kept only some batches (full while ClickHouse was slow)
    /// and a shipper starting behind it: the stretches it lacks come from
    /// the database, each session reaches ClickHouse once, as stored.
    @Test func aFeedWithGapsShipsEverySessionOnce() async throws {
        let server = try ClickHouseTestServer(label: "ch-feed")
        defer { server.stop() }
        let folder = try TemporaryFolder("feed-gaps")
        defer { folder.remove() }
        let endpoint = try ClickHouseClientTests.endpoint(server)
        let client = ClickHouseClient(endpoint: endpoint)
        try await ClickHouseSchema.create(with: client)
        await client.shutdown()

        let path = folder.file("h.db")
        try HistoryDatabase.openForRecording(path: path).close()
        let sessions = Self.sessions()
        // Room for a few commits of 77 only: the others are not kept.
        let feed = CommittedRowFeed(capacity: 30_000)
        var options = SessionShipper.Options()
        options.batchSize = 100
        let shipper = try SessionShipper(databasePath: path, endpoint: endpoint, host: "fed", options: options, feed: feed,
                                         logger: Logger(label: "test"))
        try Self.record(sessions, into: path, feed: feed)
        #expect(feed.count > 0 && feed.count < 300)
        // And the shipper starts behind what the feed holds.
        _ = feed.batch(after: 100, limit: 1, into: { ByteBufferAllocator().buffer(capacity: 0) })
        #expect(try #require(feed.firstID) > 1)

        let shipped = try await shipper.shipAvailable()
        await shipper.close()
        #expect(shipped.sessions == sessions.count)
        #expect(shipped.cursor == Int64(sessions.count))

        // The same database shipped again from the database alone, as another host.
        try await DatabaseQueue(path: path).write { try $0.execute(sql: "DELETE FROM ship_cursors") }
        let again = try SessionShipper(databasePath: path, endpoint: endpoint, host: "stored", logger: Logger(label: "test"))
        #expect(try await again.shipAvailable().sessions == sessions.count)
        await again.close()

        let columns = SessionBatch.columns.filter { $0 != "host" }
            .map { "ifNull(toString(\($0)), 'NULL')" }.joined(separator: ", '|', ")
        let answer = try server.execute("""
            SELECT host, count(), uniqExact(session_id), sum(cityHash64(concat(\(columns))))
            FROM tcpeek.sessions GROUP BY host ORDER BY host FORMAT TSV
            """)
        let rows = answer.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.count == 2)
        #expect(rows.map { $0[0] } == ["fed", "stored"])
        #expect(rows.allSatisfy { $0[1] == String(sessions.count) && $0[2] == String(sessions.count) })
        #expect(rows.first?[3] == rows.last?[3], "the rows shipped from memory differ from the stored ones")
    }
}

extension SessionBatch: Equatable {
    public static func == (a: SessionBatch, b: SessionBatch) -> Bool {
        (a.rows, a.count, a.firstID, a.lastID, a.day) == (b.rows, b.count, b.firstID, b.lastID, b.day)
    }
}
