#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TCPeekCore

/// The bounded hand-off of closed sessions from the capture thread to one
/// consumer (the live printer, the recorder). The capture thread pushes
/// whole batches, taking the lock once per `pcap_dispatch` call, not per
/// packet.
///
/// `@unchecked Sendable`: every stored `var` is read and written only while
/// holding `mutex`; the pthread objects live at fixed addresses.
public final class SessionQueue: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var buffer: [Session] = []
    private var isClosed = false
    private var droppedCount: UInt64 = 0
    public let capacity: Int

    public init(capacity: Int = 1 << 16) {
        self.capacity = max(1, capacity)
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    private func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Appends a batch. When full, a live capture drops what does not fit
    /// (counted: the capture must never wait on a consumer), while a file
    /// read waits (results must not depend on how fast the file is read).
    public func push(_ batch: [Session], waitWhenFull: Bool) {
        guard !batch.isEmpty else { return }
        withLock {
            var remaining = batch[...]
            while !remaining.isEmpty {
                let room = capacity - buffer.count
                if room > 0 {
                    let taken = remaining.prefix(room)
                    buffer.append(contentsOf: taken)
                    remaining = remaining.dropFirst(taken.count)
                    pthread_cond_broadcast(condition)
                } else if waitWhenFull && !isClosed {
                    pthread_cond_wait(condition, mutex)
                } else {
                    droppedCount &+= UInt64(remaining.count)
                    return
                }
            }
        }
    }

    /// Takes everything queued, waiting while empty; nil once closed and drained.
    public func next() -> [Session]? {
        withLock {
            while buffer.isEmpty && !isClosed { pthread_cond_wait(condition, mutex) }
            return takeAll()
        }
    }

    /// Like `next()`, but returns an empty batch after `milliseconds`
    /// without sessions (so a consumer can act on time, such as a recorder
    /// flushing a partial batch).
    public func next(waitingAtMost milliseconds: Int) -> [Session]? {
        withLock {
            if buffer.isEmpty && !isClosed {
                var deadline = timespec()
                clock_gettime(CLOCK_REALTIME, &deadline)
                let nanoseconds = Int(deadline.tv_nsec) + (milliseconds % 1000) * 1_000_000
                deadline.tv_sec += milliseconds / 1000 + nanoseconds / 1_000_000_000
                deadline.tv_nsec = nanoseconds % 1_000_000_000
                while buffer.isEmpty && !isClosed {
                    if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
                }
            }
            if buffer.isEmpty && isClosed { return nil }
            return takeAll() ?? []
        }
    }

    private func takeAll() -> [Session]? {
        if buffer.isEmpty { return nil }
        let batch = buffer
        buffer.removeAll(keepingCapacity: true)
        pthread_cond_broadcast(condition)
        return batch
    }

    /// No more pushes; consumers drain what is left, then see nil.
    public func close() {
        withLock {
            isClosed = true
            pthread_cond_broadcast(condition)
        }
    }

    /// Sessions that did not fit while the consumer lagged.
    public var dropped: UInt64 { withLock { droppedCount } }
}
