import Foundation
import TCPeekCore
import TCPeekWire

/// `tcpeek query --format json` and the socket's `WINDOW` and `QUERY`
/// answers: aggregate rows as TCPeekWire's `AggregateAnswer`.
public enum HistoryJSON {
    public static func aggregates(_ rows: [AggregateRow]) -> String {
        WireJSON.text(rows.map(AggregateAnswer.init))
    }

    /// `tcpeek query --by cause`: for each row (a filter over the range),
    /// each outcome it counted, that outcome's causes in `Cause` order, then
    /// its attempts without a cause (`cause` null).
    public static func causeAnswers(_ rows: [AggregateRow]) -> [CauseAnswer] {
        rows.flatMap { row in
            Outcome.allCases.flatMap { outcome -> [CauseAnswer] in
                let total = row.counters[outcome]
                guard total > 0 else { return [] }
                func answer(_ cause: String?, _ count: UInt64) -> CauseAnswer {
                    CauseAnswer(filter: row.filter, from: WireTime.text(row.from), to: WireTime.text(row.to),
                                outcome: outcome.description, cause: cause, count: count, outcomeTotal: total)
                }
                var answers = row.causes.causes(of: outcome).map { answer($0.cause.description, $0.count) }
                let without = total - min(total, row.causes.withCause[outcome] ?? 0)
                if without > 0 { answers.append(answer(nil, without)) }
                return answers
            }
        }
    }
}

extension AggregateAnswer {
    /// The row as the JSON shows it: times in UTC, percentiles to the microsecond.
    public init(_ row: AggregateRow) {
        self.init(filter: row.filter, from: WireTime.text(row.from), to: WireTime.text(row.to),
                  success: SuccessCounts(row.counters), failure: FailureCounts(row.counters),
                  handshakeMilliseconds: HandshakePercentiles(p50: row.p50.flatMap(WireMilliseconds.init),
                                                              p95: row.p95.flatMap(WireMilliseconds.init),
                                                              p99: row.p99.flatMap(WireMilliseconds.init)),
                  causes: row.causes.answer, host: row.host)
    }
}
