import Foundation

/// Runs blocking work (libpcap's loop, a queue drained until it closes, the
/// recorder's final flush) on a thread of its own, so that it never holds
/// one of Swift's few shared threads, and resumes the awaiting service
/// when the work returns.
enum DedicatedThread {
    static func run<Result: Sendable>(name: String, _ work: @escaping @Sendable () -> Result) async -> Result {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: work()) }
            thread.name = name
            thread.start()
        }
    }
}
