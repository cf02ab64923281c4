import TCPeekCore

/// Attempts per (outcome, cause) of one rollup row's minute or hour and
/// filter: what `rollup_causes_minute` and `rollup_causes_hour` (Schema/0006)
/// hold. Only attempts with a cause are tallied, in a short list searched
/// from the last hit (a batch holds a handful of combinations); those
/// without one are the outcome's count less these (`rows(counters:)`), so a
/// success without flags, most attempts, costs nothing here.
struct CauseTally {
    struct Entry {
        var outcome: Outcome
        var causes: Causes
        var count: Int64
    }

    private(set) var entries: [Entry] = []
    private var last = 0

    mutating func add(_ outcome: Outcome, _ causes: Causes, count: Int64 = 1) {
        if last < entries.count, entries[last].outcome == outcome, entries[last].causes == causes {
            entries[last].count += count
            return
        }
        if let index = entries.firstIndex(where: { $0.outcome == outcome && $0.causes == causes }) {
            last = index
            entries[index].count += count
        } else {
            last = entries.count
            entries.append(Entry(outcome: outcome, causes: causes, count: count))
        }
    }

    mutating func add(_ other: CauseTally) {
        for entry in other.entries { add(entry.outcome, entry.causes, count: entry.count) }
    }

    /// Every (outcome, cause text, count) with a count: the tallied causes,
    /// and, as cause '', the attempts of each outcome of `counters` without one.
    func rows(counters: FilterCounters) -> [(outcome: Outcome, cause: String, count: Int64)] {
        var rows = entries.filter { $0.count != 0 }.map { (outcome: $0.outcome, cause: $0.causes.description, count: $0.count) }
        for outcome in Outcome.allCases {
            let tallied = entries.lazy.filter { $0.outcome == outcome }.reduce(0) { $0 + $1.count }
            let without = Int64(clamping: counters[outcome]) - tallied
            if without > 0 { rows.append((outcome, "", without)) }
        }
        return rows
    }
}
