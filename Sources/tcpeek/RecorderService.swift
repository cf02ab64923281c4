import ServiceLifecycle
import TCPeekCore
import TCPeekStore

/// The history: the recorder's writer thread and its checkpointer, and the
/// database they write. Once the capture has ended and closed the
/// recorder's queue, it writes what is left, completes the run's row and
/// closes the database, so every closed session is recorded before the
/// summary (which reports what could not be) and before the servers stop.
struct RecorderService: Service {
    let recorder: Recorder
    let database: HistoryDatabase
    let capture: CaptureService
    /// Set once everything is written and the database is closed.
    let finished = Eventually<Void>()

    func run() async {
        recorder.start()
        let outcome = await capture.outcome.value
        let end = outcome.isUnusable
            ? RunEnd(endedAt: Timestamp.wallClock.seconds, capture: nil, evicted: 0, stillOpen: 0)
            : RunEnd(endedAt: Timestamp.wallClock.seconds, capture: outcome.snapshot.capture,
                     evicted: outcome.snapshot.tracker.evicted, stillOpen: outcome.stillOpen)
        // `finish` waits for the writer thread to drain the queue: seconds
        // after a large file, too long to hold a shared thread.
        await DedicatedThread.run(name: "tcpeek-recorder-finish") { [recorder, database] in
            recorder.finish(end)
            database.close()
        }
        finished.resolve(())
        try? await gracefulShutdown()
    }
}
