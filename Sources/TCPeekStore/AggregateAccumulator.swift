import TCPeekCore

/// One filter's time bucket of an aggregate answer.
struct GroupKey: Hashable {
    var filter: String
    var start: Double
}

/// Adds rollup rows and sessions up into the rows of one
/// `HistoryQuery.aggregate` answer: counters and handshake-time histograms
/// per (filter, time bucket), for the filters asked about only. Public for
/// the fleet query (TCPeekFleet), which adds ClickHouse's sums into it, so
/// both answers list their buckets and compute their percentiles alike.
public struct AggregateAccumulator {
    private let since: Double
    private let until: Double
    private let bucketing: TimeBucketing
    private let wanted: Set<String>
    // Rows come grouped by filter within a time: one Set lookup per run.
    private var lastFilter: String?
    private var lastWanted = false
    private var counters: [GroupKey: FilterCounters] = [:]
    private var histograms = HistogramAccumulator()
    private var causes: [GroupKey: CauseCounts] = [:]

    public init(since: Double, until: Double, bucketing: TimeBucketing, filters: [String]) {
        self.since = since
        self.until = until
        self.bucketing = bucketing
        self.wanted = Set(filters)
    }

    /// Whether rows of `filter` count in the answer.
    public mutating func wants(_ filter: String) -> Bool {
        if filter != lastFilter {
            lastFilter = filter
            lastWanted = wanted.contains(filter)
        }
        return lastWanted
    }

    private func key(_ filter: String, _ time: Double) -> GroupKey {
        guard let size = bucketing.seconds else { return GroupKey(filter: filter, start: since) }
        return GroupKey(filter: filter, start: (time / size).rounded(.down) * size)
    }

    /// Adds a rollup row's counters at `time`.
    public mutating func add(_ figures: FilterCounters, filter: String, time: Double) {
        counters[key(filter, time), default: FilterCounters()] += figures
    }

    /// Adds `count` attempts of `outcome` with `causes` (none: nothing to add).
    public mutating func add(_ outcome: Outcome, _ causes: Causes, count: UInt64, filter: String, time: Double) {
        guard !causes.isEmpty else { return }
        self.causes[key(filter, time), default: CauseCounts()].add(outcome, causes, count: count)
    }

    /// Adds a row of `rollup_handshake_buckets`.
    public mutating func add(bucket: Int, count: Int64, filter: String, time: Double) {
        histograms.add(key(filter, time), bucket: bucket, count: count)
    }

    /// Adds an hour's `handshake_buckets` JSON; false if it is not of that shape.
    mutating func add(bucketsJSON: String, filter: String, time: Double) -> Bool {
        var text = bucketsJSON
        let k = key(filter, time)
        return text.withUTF8 { histograms.add(k, bucketsJSON: $0) }
    }

    /// Adds a session that `filter` counted, started at `time` as stored.
    mutating func add(_ session: Session, filter: String, time: Double) {
        let k = key(filter, time)
        counters[k, default: FilterCounters()].record(session)
        if session.outcome == .success {
            histograms.add(k, bucket: Schema.handshakeBucket(microseconds: session.duration.microseconds), count: 1)
        }
    }

    /// The answer: a row for each of `filters` (in that order) and each
    /// time bucket listed (`HistoryQuery.bucketStarts`).
    public mutating func rows(filters: [String]) -> [AggregateRow] {
        histograms.flush()
        let histogramsByGroup = histograms.histograms
        let starts = bucketing.seconds.map { size in
            HistoryQuery.bucketStarts(
                holdingData: Set(counters.keys.map(\.start)).union(histogramsByGroup.keys.map(\.start)), size: size)
        } ?? [since]
        var rows: [AggregateRow] = []
        for filter in filters {
            for start in starts {
                let k = GroupKey(filter: filter, start: start)
                let histogram = histogramsByGroup[k] ?? HandshakeHistogram()
                let to = bucketing.seconds.map { min(until, start + $0) } ?? until
                rows.append(AggregateRow(
                    filter: filter, from: max(since, start), to: to, counters: counters[k] ?? FilterCounters(),
                    handshakes: HandshakeTimes(histogram), causes: causes[k] ?? CauseCounts()))
            }
        }
        return rows
    }
}

/// Adds bucket rows into per-group histograms. Rows come in key order, so
/// consecutive rows nearly always share a group: the group's histogram is
/// kept at hand and the dictionary touched only when the group changes.
private struct HistogramAccumulator {
    private(set) var histograms: [GroupKey: HandshakeHistogram] = [:]
    private var currentKey: GroupKey?
    private var current = HandshakeHistogram()

    mutating func add(_ key: GroupKey, bucket: Int, count: Int64) {
        select(key)
        current.add(bucket: bucket, count: count)
    }

    /// Adds an hour's `handshake_buckets` JSON; false if it is not of that shape.
    mutating func add(_ key: GroupKey, bucketsJSON: UnsafeBufferPointer<UInt8>) -> Bool {
        select(key)
        return current.add(bucketsJSON: bucketsJSON)
    }

    private mutating func select(_ key: GroupKey) {
        if key != currentKey {
            flush()
            currentKey = key
            current = histograms.removeValue(forKey: key) ?? HandshakeHistogram()
        }
    }

    mutating func flush() {
        if let currentKey { histograms[currentKey] = current }
        currentKey = nil
    }
}
