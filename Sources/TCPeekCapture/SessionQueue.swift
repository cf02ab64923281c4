import Foundation
import TCPeekCore

/// The bounded hand-off of closed sessions from the capture thread to the
/// consumers (live printer, recorder). The capture thread pushes whole
/// batches, taking the lock once per `pcap_dispatch` call, not per packet.
///
/// `@unchecked Sendable`: every stored property is read and written only
/// while holding `condition`'s lock.
public final class SessionQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var buffer: [Session] = []
    private var isClosed = false
    private var droppedCount: UInt64 = 0
    public let capacity: Int

    public init(capacity: Int = 1 << 16) {
        self.capacity = capacity
        buffer.reserveCapacity(capacity)
    }

    /// Appends a batch. When full, a live capture drops what does not fit
    /// (counted: the capture must never wait on a consumer), while a file
    /// read waits (results must not depend on how fast the file is read).
    public func push(_ batch: [Session], waitWhenFull: Bool) {
        guard !batch.isEmpty else { return }
        condition.lock()
        defer { condition.unlock() }
        var remaining = batch[...]
        while !remaining.isEmpty {
            let room = capacity - buffer.count
            if room > 0 {
                let taken = remaining.prefix(room)
                buffer.append(contentsOf: taken)
                remaining = remaining.dropFirst(taken.count)
                condition.broadcast()
            } else if waitWhenFull && !isClosed {
                condition.wait()
            } else {
                droppedCount &+= UInt64(remaining.count)
                return
            }
        }
    }

    /// Takes everything queued, waiting while empty; nil once closed and drained.
    public func next() -> [Session]? {
        condition.lock()
        defer { condition.unlock() }
        while buffer.isEmpty && !isClosed { condition.wait() }
        if buffer.isEmpty { return nil }
        let batch = buffer
        buffer.removeAll(keepingCapacity: true)
        condition.broadcast()
        return batch
    }

    /// No more pushes; consumers drain what is left, then see nil.
    public func close() {
        condition.lock()
        isClosed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Sessions that did not fit while the consumers lagged.
    public var dropped: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return droppedCount
    }
}
