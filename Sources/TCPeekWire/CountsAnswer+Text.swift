import TCPeekCore

/// What `--json-summary` prints and the socket's `GET` and `REFRESH`
/// answer, as text.
extension CountsAnswer {
    /// `CountsAnswer` of `GET` (and `--json-summary`), as text.
    public static func getJSON(filters: [Filter], counters: Counters, capture: CaptureStatistics?) -> String {
        WireJSON.text(CountsAnswer(filters: filters, counters: counters, capture: capture))
    }

    /// `CountsAnswer` of `REFRESH`, as text.
    public static func refreshJSON(filters: [Filter], deltas: [FilterCounters]) -> String {
        WireJSON.text(CountsAnswer(filters: filters, refreshDeltas: deltas))
    }
}
