import ServiceLifecycle
import Synchronization
import TCPeekCapture
import TCPeekCore

/// How the capture ended, for the recorder, the summary and the exit status.
struct CaptureOutcome: Sendable {
    var end: CaptureEnd
    var failure: CaptureError?
    var snapshot: CaptureSnapshot
    var packetsBackInTime: UInt64
    /// `--stay` after the end of the file: the capture keeps the group, and
    /// so the servers, running until SIGINT or SIGTERM.
    var holdsGroupOpen: Bool

    /// Nothing could be read at all: the file is unusable, not a capture
    /// with an empty result (no summary, exit status 1).
    var isUnusable: Bool {
        if case .readError(_, 0, _)? = failure { return true }
        return false
    }

    /// Attempts a stopped live capture leaves open; the end of a file
    /// closes them all as timeouts.
    var stillOpen: Int { end == .stopped ? snapshot.openAttempts : 0 }
}

/// The capture: libpcap's loop on a thread of its own (it blocks; decoding
/// and tracking run there with no locks or awaits), and the progress bar of
/// a large file read. Started last, stopped first: graceful shutdown breaks
/// the loop, whose end closes every consumer's queue, so each later service
/// drains what is left. At the end of a file it returns by itself, which
/// shuts the group down, unless `--stay` holds the group open.
final class CaptureService: Service {
    let loop: CaptureLoop
    /// Where the file read is, for the progress bar; nil live.
    let file: String?
    /// `--stay`: after the end of the file, keep the group running.
    let stays: Bool
    /// Set once the loop has returned.
    let outcome = Eventually<CaptureOutcome>()
    private let stopRequested = Atomic<Bool>(false)

    init(loop: CaptureLoop, file: String?, stays: Bool) {
        self.loop = loop
        self.file = file
        self.stays = stays
    }

    /// Stops the capture as SIGINT does (standard output was closed under
    /// `--json-lines`); safe from any thread.
    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        loop.requestStop()
    }

    func run() async {
        let progress = file.flatMap { FileProgress.make(for: $0, loop: loop) }
        let result = await withTaskGroup { group in
            if let progress { group.addTask { await progress.drawUntilCancelled() } }
            let result = await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    await DedicatedThread.run(name: "tcpeek-capture") { [loop] in
                        Result { () throws(CaptureError) in try loop.run() }
                    }
                } onCancel: { self.requestStop() }
            } onGracefulShutdown: { self.requestStop() }
            group.cancelAll()
            await group.waitForAll()
            return result
        }
        var outcome = CaptureOutcome(
            end: (try? result.get()) ?? .endOfFile, snapshot: loop.snapshot,
            packetsBackInTime: loop.packetsBackInTime, holdsGroupOpen: false)
        if case .failure(let error) = result { outcome.failure = error }
        outcome.holdsGroupOpen = stays && !stopRequested.load(ordering: .acquiring) && !outcome.isUnusable
        self.outcome.resolve(outcome)
        if outcome.holdsGroupOpen { try? await gracefulShutdown() }
    }
}
