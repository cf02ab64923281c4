import ServiceLifecycle
import TCPeekCore
import TCPeekText
import TCPeekSystem

/// Prints a line per closed session on a thread of its own, so that a slow
/// terminal or pipe never holds up the capture: the live lines on standard
/// error, or `--json-lines` on standard output. It drains its queue until
/// the capture closes it, then waits for its turn to stop.
struct PrinterService: Service {
    private let queue: SessionQueue
    /// Its thread's name, and its name in the lifecycle's debug messages.
    let name: String
    private let line: @Sendable (Session) -> String
    private let stream: StandardStream?
    private let streamClosed: @Sendable () -> Void
    /// Set once every queued session has been printed.
    let drained = Eventually<Void>()

    /// `stream` nil drains the queue without printing (`-q`).
    /// `streamClosed` is called once if the stream's reader goes away.
    init(queue: SessionQueue, name: String, stream: StandardStream?, line: @escaping @Sendable (Session) -> String,
         streamClosed: @escaping @Sendable () -> Void = {}) {
        self.queue = queue
        self.name = name
        self.stream = stream
        self.line = line
        self.streamClosed = streamClosed
    }

    /// The original's live lines on standard error, after their header.
    static func liveLines(queue: SessionQueue, quiet: Bool) -> PrinterService {
        if !quiet { Terminal.write("\n" + Report.liveHeader + "\n") }
        return PrinterService(queue: queue, name: "tcpeek-printer", stream: quiet ? nil : .error, line: Report.liveLine)
    }

    func run() async {
        await DedicatedThread.run(name: name) { [self] in printUntilClosed() }
        drained.resolve(())
        try? await gracefulShutdown()
    }

    private func printUntilClosed() {
        var isOpen = stream != nil
        while let batch = queue.next() {
            guard isOpen, let stream else { continue }
            var text = ""
            for session in batch { text += line(session) + "\n" }
            // Live lines share standard error with the progress bar and messages.
            let written = stream == .error ? Terminal.write(text) : stream.write(text)
            if !written {
                isOpen = false
                streamClosed()
            }
        }
    }
}
