// Retention in ClickHouse 18.16 (no TTL there): whole day partitions of
// `sessions` and month partitions of `sessions_minute` and `rollups_minute`,
// against the real server.
import Foundation
import NIOCore
import Testing
@testable import TCPeekFleet

@Suite struct ClickHouseRetentionTests {
    /// One session per start time, the columns of ClickHouseClientTests.
    static func row(id: Int, started: Int) -> String {
        "h1\tdb1\t1\t\(id)\t\(started)\t\(started).5\t0.001\t4\t198.51.100.7\t\(40_000 + id)\t198.51.100.2\t80\t\\N\t\\N\tsuccess\t0\t0\t\\N\t\\N\t0\t['all']\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t0\t\\N\t0\n"
    }

    @Test func dropsTheDaysAndMonthsWhollyOlderThanTheLimit() async throws {
        let server = try ClickHouseTestServer(label: "ch-retention")
        defer { server.stop() }
        let client = ClickHouseClient(endpoint: try ClickHouseClientTests.endpoint(server))
        do {
            try await ClickHouseSchema.create(with: client)
            // 2026-10-31 23:59, 2026-11-01 00:00, 2026-11-30 12:00, 2026-12-01 00:00, 2026-12-06 12:00
            let starts = [1_793_491_140, 1_793_491_200, 1_796_040_000, 1_796_083_200, 1_796_558_400]
            let tsv = starts.enumerated().map { Self.row(id: $0 + 1, started: $1) }.joined()
            try await client.insert(into: "sessions", columns: ClickHouseClientTests.columns, format: .tabSeparated, rows: ByteBuffer(string: tsv))
            // Shipped rollups of 2026-09-30 23:59 and of the same minutes as the sessions.
            let rollups = ([1_790_812_740] + starts).map { minute in
                "h1\tdb1\t\(RollupShipper.dateTime(Int64(minute / 60 * 60)))\tall\t1\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0.5\t1\n"
            }.joined()
            try await client.insert(into: "rollups_minute", columns: RollupShipper.columns, format: .tabSeparated, rows: ByteBuffer(string: rollups))
            // Now 2026-12-07 12:00; 6.5 days: the limit is 2026-12-01 00:00.
            let now = Date(timeIntervalSince1970: 1_796_644_800)
            let retention = ClickHouseRetention(days: 6.5)
            let dropped = try await retention.prune(with: client, now: now)
            #expect(dropped.days == ["2026-10-31", "2026-11-01", "2026-11-30"])
            #expect(dropped.months == ["202609", "202610", "202611"])
            let left = try await client.select("SELECT session_id FROM sessions ORDER BY session_id FORMAT TabSeparated")
            #expect(left == [["4"], ["5"]])
            let minutes = try await client.select("""
                SELECT toYYYYMM(minute), countMerge(attempts) FROM sessions_minute GROUP BY toYYYYMM(minute) FORMAT TabSeparated
                """)
            #expect(minutes == [["202612", "2"]])
            let rollupMonths = try await client.select("""
                SELECT toYYYYMM(minute), sum(success) FROM rollups_minute FINAL GROUP BY toYYYYMM(minute) FORMAT TabSeparated
                """)
            #expect(rollupMonths == [["202612", "2"]])
            // Again: nothing more to drop.
            #expect(try await retention.prune(with: client, now: now).isEmpty)
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    }

    @Test func partitionNamesAreReadAsUTC() {
        #expect(ClickHouseRetention.dayStart("2026-12-07") == 1_796_601_600)
        #expect(ClickHouseRetention.monthEnd("202612") == 1_798_761_600)  // 2027-01-01
        #expect(ClickHouseRetention.monthEnd("202613") == nil)
        #expect(ClickHouseRetention.dayStart("tuple()") == nil)
        // A capture's clock at 0 (some are): 18.16 names that day so.
        #expect(ClickHouseRetention.dayStart("0000-00-00") == 0)
    }
}
