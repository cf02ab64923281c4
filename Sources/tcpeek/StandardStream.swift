import Foundation
import TCPeekSystem

/// Standard output or standard error, written with write(2). Foundation's
/// `FileHandle.write(_:)` traps when the reader has gone (EPIPE), and
/// SIGPIPE would kill the process before its last batch is recorded:
/// `ignoreBrokenPipes()` turns both into a `false` here.
enum StandardStream: Int32 {
    case output = 1
    case error = 2

    /// Called once at start: a closed pipe becomes an error to handle.
    static func ignoreBrokenPipes() { signal(SIGPIPE, SIG_IGN) }

    /// Writes all of `text`; false when the stream is closed or failing.
    @discardableResult
    func write(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return true }
            var offset = 0
            while offset < bytes.count {
                let written = retryingOnInterrupt { Glibc.write(rawValue, base + offset, bytes.count - offset) }
                if written < 0 { return false }
                offset += written
            }
            return true
        }
    }
}
