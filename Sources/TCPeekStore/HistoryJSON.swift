import Foundation
import TCPeekCore
import TCPeekWire

/// `tcpeek query --format json` and the socket's `WINDOW` and `QUERY`
/// answers: aggregate rows as TCPeekWire's `AggregateAnswer`.
public enum HistoryJSON {
    public static func aggregates(_ rows: [AggregateRow]) -> String {
        WireJSON.text(rows.map(AggregateAnswer.init))
    }
}

extension AggregateAnswer {
    /// The row as the JSON shows it: times in UTC, percentiles to the microsecond.
    public init(_ row: AggregateRow) {
        self.init(filter: row.filter, from: WireTime.text(row.from), to: WireTime.text(row.to),
                  success: SuccessCounts(row.counters), failure: FailureCounts(row.counters),
                  handshakeMilliseconds: HandshakePercentiles(p50: row.p50.flatMap(WireMilliseconds.init),
                                                              p95: row.p95.flatMap(WireMilliseconds.init),
                                                              p99: row.p99.flatMap(WireMilliseconds.init)))
    }
}
