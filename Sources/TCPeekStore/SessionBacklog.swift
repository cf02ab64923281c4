import Foundation
import Logging
import TCPeekCore

/// Sessions taken from the queue and not yet written, and what becomes of
/// them when the database refuses a write (locked, disk full): they stay
/// for the next round to retry, up to `maximumBacklog`; beyond that bound,
/// or at the end after one last attempt, they are counted as not recorded.
struct SessionBacklog {
    private var pending: [Session] = []
    private let batchSize: Int
    private let maximumBacklog: Int
    private let counts: RecorderCounts
    private let logger: Logger

    init(batchSize: Int, maximumBacklog: Int, counts: RecorderCounts, logger: Logger) {
        self.batchSize = batchSize
        self.maximumBacklog = maximumBacklog
        self.counts = counts
        self.logger = logger
        pending.reserveCapacity(batchSize)
    }

    var count: Int { pending.count }
    var isEmpty: Bool { pending.isEmpty }

    mutating func append(contentsOf sessions: some Sequence<Session>) {
        pending.append(contentsOf: sessions)
    }

    /// Writes the backlog through `writer` in transactions of at most a
    /// batch each; `final` when nothing more will come (the last round).
    mutating func write(through writer: BatchWriter, final: Bool) {
        // Chunks are taken in place and the written ones removed once at
        // the end: a lagging writer holds many batches, and removing each
        // from the front would move all the others every time.
        var written = 0
        defer { pending.removeFirst(written) }
        while written < pending.count {
            let chunk = pending[written..<min(pending.count, written + batchSize)]
            do {
                try writer.write(chunk)
                written += chunk.count
                counts.addRecorded(chunk.count)
            } catch {
                logger.error("cannot write sessions to the database; will retry",
                             metadata: ["store.path": "\(writer.database.path)", "store.error": "\(error)"])
                counts.noteError(error)
                if final {
                    // One last attempt after a pause (a lock may be brief).
                    Thread.sleep(forTimeInterval: 1)
                    if (try? writer.write(chunk)) != nil {
                        written += chunk.count
                        counts.addRecorded(chunk.count)
                        continue
                    }
                    counts.addFailed(pending.count - written)
                    written = pending.count
                } else if pending.count - written > maximumBacklog {
                    let excess = pending.count - written - maximumBacklog
                    written += excess
                    counts.addFailed(excess)
                }
                return
            }
        }
    }
}
