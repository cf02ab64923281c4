import TCPeekCore

/// A (minute or hour, filter) of the rollups; `filter` is the run's bit.
struct RollupKey: Hashable {
    var minute: Int64
    var filter: Int
}

/// What one batch adds to the minutes' rollups, for each (minute, filter)
/// it touches. Sessions one after another nearly always share their
/// minute, so the current minute's rollups are kept at hand: a hash table
/// is consulted only when the minute changes, not for every session (where
/// it cost a twentieth of the recorder's time).
struct BatchRollups {
    let filterCount: Int
    /// Each minute seen, first seen first.
    private var minutes: [Int64] = []
    /// `filterCount` rollups for each of `minutes`, in that order.
    private var rollups: [Rollup] = []
    private var slots: [Int64: Int] = [:]
    private var currentMinute = Int64.min
    private var currentSlot = 0

    init(filterCount: Int) {
        self.filterCount = filterCount
    }

    mutating func add(_ session: Session) {
        // The minute of the start, rounded down (before 1970 too).
        let (quotient, remainder) = session.startedAt.microseconds.quotientAndRemainder(dividingBy: 60_000_000)
        let minute = (remainder < 0 ? quotient - 1 : quotient) * 60
        if minute != currentMinute {
            currentMinute = minute
            if let slot = slots[minute] {
                currentSlot = slot
            } else {
                currentSlot = minutes.count
                slots[minute] = currentSlot
                minutes.append(minute)
                rollups.append(contentsOf: repeatElement(Rollup(), count: filterCount))
            }
        }
        let bucket = session.outcome == .success ? Schema.handshakeBucket(microseconds: session.duration.microseconds) : nil
        for index in session.filters where index < filterCount {
            rollups[currentSlot * filterCount + index].add(session, bucket: bucket)
        }
    }

    /// The (minute, filter) rollups that counted at least one session.
    var touched: some Sequence<(key: RollupKey, rollup: Rollup)> {
        rollups.indices.lazy
            .filter { rollups[$0].counters.total > 0 }
            .map { (RollupKey(minute: minutes[$0 / filterCount], filter: $0 % filterCount), rollups[$0]) }
    }
}

/// What one batch adds to one (minute or hour, filter) of the rollups.
struct Rollup {
    var counters = FilterCounters()
    var handshakeSeconds = 0.0
    var histogram = HandshakeHistogram()
    var causes = CauseTally()

    mutating func add(_ session: Session, bucket: Int?) {
        counters.record(session)
        if !session.cause.isEmpty { causes.add(session.outcome, session.cause) }
        if session.outcome == .success { handshakeSeconds += Double(max(0, session.duration.microseconds)) / 1_000_000 }
        if let bucket { histogram.add(bucket: bucket, count: 1) }
    }

    mutating func add(_ other: Rollup) {
        counters += other.counters
        handshakeSeconds += other.handshakeSeconds
        histogram.add(other.histogram)
        causes.add(other.causes)
    }
}
