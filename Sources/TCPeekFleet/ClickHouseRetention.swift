import Foundation

/// Retention in ClickHouse. 18.16, Debian's, has no table TTL (it came in
/// 19.6), so the shipper drops whole partitions instead: the days of
/// `sessions` (partitioned by UTC day) older than the limit, and the months
/// of `sessions_minute` and `rollups_minute` (by month) that end before it. Dropping a partition
/// is cheap and idempotent, so every host's shipper may do it.
public struct ClickHouseRetention: Sendable {
    public let days: Double

    public init(days: Double) {
        self.days = days
    }

    /// What one round dropped.
    public struct Dropped: Sendable, Equatable {
        /// `YYYY-MM-DD` of the dropped `sessions` days.
        public var days: [String] = []
        /// `YYYYMM` of the dropped months of `sessions_minute` or
        /// `rollups_minute` (each once, in order).
        public var months: [String] = []
        public var isEmpty: Bool { days.isEmpty && months.isEmpty }
    }

    /// Drops what is older than `days` before `now`: a day of sessions once
    /// all of it is, a month of minutes once all of it is.
    public func prune(with client: ClickHouseClient, now: Date = Date()) async throws(ClickHouseError) -> Dropped {
        let limit = now.timeIntervalSince1970 - days * 86_400
        // A plain identifier: ClickHouseEndpoint refuses any other name.
        let database = client.endpoint.database
        let parts = try await client.select("""
            SELECT DISTINCT table, partition FROM system.parts
            WHERE database = '\(database)' AND active AND table IN ('sessions', 'sessions_minute', 'rollups_minute')
            ORDER BY table, partition FORMAT TabSeparated
            """)
        var dropped = Dropped()
        for part in parts where part.count == 2 {
            // `partition` is the partition expression's value as SQL: '2026-12-07' or 202612.
            let value = part[1].trimmingCharacters(in: CharacterSet(charactersIn: "'"))
            switch part[0] {
            case "sessions":
                guard let dayStart = Self.dayStart(value), dayStart + 86_400 <= limit else { continue }
                try await client.execute("ALTER TABLE \(database).sessions DROP PARTITION '\(value)'")
                dropped.days.append(value == Self.epochDay ? "1970-01-01" : value)
            case "sessions_minute", "rollups_minute":
                guard let monthEnd = Self.monthEnd(value), monthEnd <= limit else { continue }
                try await client.execute("ALTER TABLE \(database).\(part[0]) DROP PARTITION \(value)")
                if !dropped.months.contains(value) { dropped.months.append(value) }
            default:
                continue
            }
        }
        dropped.months.sort()
        return dropped
    }

    /// How 18.16 writes the day 1970-01-01 (a Date of 0).
    static let epochDay = "0000-00-00"

    /// Epoch seconds of a `YYYY-MM-DD` day's start, UTC.
    static func dayStart(_ text: String) -> Double? {
        if text == epochDay { return 0 }
        let fields = text.split(separator: "-").compactMap { Int($0) }
        guard fields.count == 3 else { return nil }
        return utcSeconds(year: fields[0], month: fields[1], day: fields[2])
    }

    /// Epoch seconds of the end of a `YYYYMM` month, UTC.
    static func monthEnd(_ text: String) -> Double? {
        guard text.count == 6, let number = Int(text) else { return nil }
        let (year, month) = (number / 100, number % 100)
        guard (1...12).contains(month) else { return nil }
        return month == 12 ? utcSeconds(year: year + 1, month: 1, day: 1) : utcSeconds(year: year, month: month + 1, day: 1)
    }

    private static func utcSeconds(year: Int, month: Int, day: Int) -> Double? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: year, month: month, day: day))?.timeIntervalSince1970
    }
}
