import Foundation
import TCPeekCapture
import TCPeekCore

/// Prints a line per closed session on its own thread, so a slow terminal
/// or pipe never holds up the capture: the live lines on standard error,
/// or `--json-lines` on standard output.
final class SessionPrinter: Sendable {
    private let queue: SessionQueue
    private let finished = DispatchSemaphore(value: 0)
    private let name: String
    private let line: @Sendable (Session) -> String
    private let stream: StandardStream?
    private let streamClosed: @Sendable () -> Void

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
    static func liveLines(queue: SessionQueue, quiet: Bool) -> SessionPrinter {
        if !quiet { Terminal.write("\n" + Report.liveHeader + "\n") }
        return SessionPrinter(queue: queue, name: "tcpeek-printer", stream: quiet ? nil : .error, line: Report.liveLine)
    }

    func start() {
        let thread = Thread { [self] in
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
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Returns once every queued session has been printed.
    func wait() { finished.wait() }
}
