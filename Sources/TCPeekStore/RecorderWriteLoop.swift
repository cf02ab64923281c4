import TCPeekCore
import TCPeekSystem

/// The writer thread of DESIGN.md: takes closed sessions from the queue
/// and writes them in batches (size or time, whichever comes first),
/// pruning old history between batches, until the queue is closed and
/// everything taken is written or counted as not recorded.
struct RecorderWriteLoop {
    let queue: SessionQueue
    let batches: BatchWriter
    var backlog: SessionBacklog
    var pruner: HistoryPruner
    let batchSize: Int
    let batchInterval: Duration

    mutating func run() {
        var lastWrite = ContinuousClock.now
        var isOpen = true
        while isOpen {
            let wait = max(1, Int((batchInterval - (ContinuousClock.now - lastWrite)) / .milliseconds(1)))
            if let batch = queue.next(waitingAtMost: wait) {
                backlog.append(contentsOf: batch)
            } else {
                isOpen = false
            }
            let due = ContinuousClock.now - lastWrite >= batchInterval
            if backlog.count >= batchSize || (due && !backlog.isEmpty) || (!isOpen && !backlog.isEmpty) {
                backlog.write(through: batches, final: !isOpen)
                lastWrite = ContinuousClock.now
            } else if due {
                lastWrite = ContinuousClock.now
            }
            pruner.pruneIfDue()
        }
    }
}
