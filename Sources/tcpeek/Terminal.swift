import Foundation
import Synchronization

/// Messages for the operator on standard error (command output goes to
/// standard output with `print`). Writers share one lock so that a progress
/// bar and live lines never interleave mid-line.
enum Terminal {
    private static let lock = Mutex<Void>(())
    /// Whether a progress bar occupies the last line of the terminal.
    static let hasProgressLine = Mutex(false)

    @discardableResult
    static func write(_ text: String) -> Bool {
        lock.withLock { _ in
            // Live lines overwrite the progress bar, which is redrawn next tick.
            let prefix = hasProgressLine.withLock { $0 } ? "\r\u{1B}[K" : ""
            return StandardStream.error.write(prefix + text)
        }
    }

    static func drawProgress(_ line: String) {
        lock.withLock { _ in _ = StandardStream.error.write("\r\u{1B}[K" + line) }
    }

    static func clearProgress() {
        lock.withLock { _ in
            hasProgressLine.withLock { $0 = false }
            StandardStream.error.write("\r\u{1B}[K")
        }
    }

    static func status(_ text: String) { write(text + "\n") }
    static func warning(_ text: String) { write("warning: " + text + "\n") }
    static func error(_ text: String) { write("error: " + text + "\n") }
}
