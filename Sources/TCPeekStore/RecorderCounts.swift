import Synchronization

/// What the recorder has written and lost so far: counted by its writer
/// thread, read by others (the summary, `STATUS`, metrics) under a brief lock.
final class RecorderCounts: Sendable {
    private struct State {
        var recorded: UInt64 = 0
        var failed: UInt64 = 0
        var lastError: StoreError?
    }

    private let state = Mutex(State())

    /// Sessions written.
    var recorded: UInt64 { state.withLock { $0.recorded } }
    /// Sessions the database refused for good.
    var failed: UInt64 { state.withLock { $0.failed } }
    var lastError: StoreError? { state.withLock { $0.lastError } }

    func addRecorded(_ count: Int) { state.withLock { $0.recorded &+= UInt64(count) } }
    func addFailed(_ count: Int) { state.withLock { $0.failed &+= UInt64(count) } }
    func noteError(_ error: StoreError) { state.withLock { $0.lastError = error } }
}
