import GRDB
import TCPeekCore
import TCPeekWire

/// What a `tcpeek record` run writes into its `runs` row.
public struct RunInfo: Sendable {
    public var startedAt: Double
    public var sourceKind: String
    public var source: String
    public var filters: [Filter]
    public var host: String?
    public var version: String
    public var libpcap: String?

    public init(startedAt: Double, sourceKind: String, source: String, filters: [Filter], host: String?,
                version: String, libpcap: String?) {
        self.startedAt = startedAt
        self.sourceKind = sourceKind
        self.source = source
        self.filters = filters
        self.host = host
        self.version = version
        self.libpcap = libpcap
    }
}

/// How a run ended, for its `runs` row.
public struct RunEnd: Sendable {
    public var endedAt: Double
    public var capture: CaptureStatistics?
    public var evicted: UInt64
    public var stillOpen: Int?
    public init(endedAt: Double, capture: CaptureStatistics?, evicted: UInt64, stillOpen: Int?) {
        self.endedAt = endedAt
        self.capture = capture
        self.evicted = evicted
        self.stillOpen = stillOpen
    }
}

/// A run's row of `runs` (Schema/0001) as the recorder opens it; the
/// columns filled in later are updated through `Columns`.
struct RunRecord: Encodable, MutablePersistableRecord {
    static let databaseTableName = "runs"
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    var id: Int64?
    var startedAt: Double
    var sourceKind: String
    var source: String
    /// A JSON array of `{"name","expression"}`.
    var filters: String
    var host: String?
    var version: String
    var libpcap: String?

    enum Columns {
        static let endedAt = Column("ended_at")
        static let pcapReceived = Column("pcap_recv")
        static let pcapDropped = Column("pcap_drop")
        static let pcapInterfaceDropped = Column("pcap_ifdrop")
        static let sessionsRecorded = Column("sessions_recorded")
        static let sessionsNotRecorded = Column("sessions_not_recorded")
        static let evicted = Column("evicted")
        static let stillOpen = Column("still_open")
    }

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    /// Opens `run`'s row and its filters' rows of `run_filters`; returns the run's id.
    static func open(_ run: RunInfo, in db: Database) throws -> Int64 {
        let filtersJSON = WireJSON.text(run.filters.map(RunFilter.init))
        var record = RunRecord(startedAt: run.startedAt, sourceKind: run.sourceKind, source: run.source,
                               filters: filtersJSON, host: run.host, version: run.version, libpcap: run.libpcap)
        try record.insert(db)
        let runID = record.id ?? db.lastInsertedRowID
        for (bit, filter) in run.filters.enumerated() {
            try RunFilterRecord(runId: runID, bit: bit, filter: filter.name).insert(db)
        }
        return runID
    }

    /// Adds `count` written sessions to run `id`'s count, in the batch's transaction.
    static func addRecorded(_ count: Int, toRun id: Int64, in db: Database) throws {
        try RunRecord.filter(key: id).updateAll(db, Columns.sessionsRecorded += count)
    }

    /// Completes run `id`'s row with how it ended.
    static func complete(_ id: Int64, with end: RunEnd, notRecorded: UInt64, in db: Database) throws {
        try RunRecord.filter(key: id).updateAll(db, [
            Columns.endedAt.set(to: end.endedAt),
            Columns.pcapReceived.set(to: end.capture.map { Int64($0.received) }),
            Columns.pcapDropped.set(to: end.capture.map { Int64($0.dropped) }),
            Columns.pcapInterfaceDropped.set(to: end.capture.map { Int64($0.interfaceDropped) }),
            Columns.sessionsNotRecorded.set(to: Int64(notRecorded)),
            Columns.evicted.set(to: Int64(end.evicted)),
            Columns.stillOpen.set(to: end.stillOpen),
        ])
    }
}

/// A row of `run_filters` (Schema/0004): the filter a run counts with bit
/// `bit` of its sessions' `filter_bits`.
struct RunFilterRecord: Encodable, PersistableRecord {
    static let databaseTableName = "run_filters"
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    var runId: Int64
    var bit: Int
    var filter: String
}
