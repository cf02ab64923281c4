import Foundation
import TCPeekCapture
import TCPeekCore

/// Prints a live line per closed session on standard error, on its own
/// thread so a slow terminal or pipe never holds up the capture.
final class LivePrinter: Sendable {
    private let queue: SessionQueue
    private let quiet: Bool
    private let finished = DispatchSemaphore(value: 0)

    init(queue: SessionQueue, quiet: Bool) {
        self.queue = queue
        self.quiet = quiet
    }

    func start() {
        if !quiet { Terminal.write("\n" + Report.liveHeader + "\n") }
        let thread = Thread { [queue, quiet, finished] in
            while let batch = queue.next() {
                guard !quiet else { continue }
                var text = ""
                for session in batch { text += Report.liveLine(session) + "\n" }
                Terminal.write(text)
            }
            finished.signal()
        }
        thread.name = "tcpeek-printer"
        thread.start()
    }

    /// Returns once every queued session has been printed.
    func wait() { finished.wait() }
}
