import Foundation
import Logging
import Synchronization

/// Messages for the operator on standard error (command output goes to
/// standard output with `print`). Writers share one lock so that a progress
/// bar and live lines never interleave mid-line.
///
/// Every message has one format, `LEVEL: text`, whichever way it comes
/// (these functions or a `Logger`, through `TerminalLogHandler`); only the
/// readiness line keeps tcpdump's wording (`listening on ...`). `-l` hides
/// every message below its level. Under systemd each line starts with its
/// syslog priority (`<4>`, sd-daemon(3)) so that the journal files it at
/// that priority.
enum Terminal {
    private static let lock = Mutex<Void>(())
    /// Whether a progress bar occupies the last line of the terminal.
    static let hasProgressLine = Mutex(false)
    /// The least severe level shown (`-l`).
    private static let threshold = Mutex(Logger.Level.notice)

    /// Whether standard error is systemd's journal stream: JOURNAL_STREAM
    /// names its device and inode (a child whose standard error was
    /// redirected elsewhere inherits the variable, so both are compared).
    static let writesToJournal: Bool = {
        guard let value = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        var info = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]),
              fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }()

    static var level: Logger.Level {
        get { threshold.withLock { $0 } }
        set { threshold.withLock { $0 = newValue } }
    }

    /// Whether a message at `level` is shown.
    static func shows(_ messageLevel: Logger.Level) -> Bool { messageLevel >= level }

    /// Program output on standard error (live lines, the summary): never
    /// hidden by `-l`; journal priority info.
    /// False when standard error is closed.
    @discardableResult
    static func write(_ text: String) -> Bool { emit(text, priority: 6) }

    @discardableResult
    private static func emit(_ text: String, priority: Int) -> Bool {
        let body = writesToJournal ? prefixingLines(of: text, with: "<\(priority)>") : text
        return lock.withLock { _ in
            // Live lines overwrite the progress bar, which is redrawn next tick.
            let prefix = hasProgressLine.withLock { $0 } ? "\r\u{1B}[K" : ""
            return StandardStream.error.write(prefix + body)
        }
    }

    private static func prefixingLines(of text: String, with prefix: String) -> String {
        var result = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0) {
            result += prefix + line + "\n"
        }
        return text.hasSuffix("\n") ? result : String(result.dropLast())
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

    /// One message at `level`: `LEVEL: text`, unless `-l` hides it.
    static func log(_ level: Logger.Level, _ text: String) {
        guard shows(level) else { return }
        emit(name(of: level) + ": " + text + "\n", priority: priority(of: level))
    }

    /// The readiness line (`listening on ...`), a notice in tcpdump's words.
    static func status(_ text: String) {
        guard shows(.notice) else { return }
        emit(text + "\n", priority: priority(of: .notice))
    }

    static func notice(_ text: String) { log(.notice, text) }
    static func warning(_ text: String) { log(.warning, text) }
    static func error(_ text: String) { log(.error, text) }

    /// The word a line starts with: swift-log's names, `trace` shown as `debug`.
    static func name(of level: Logger.Level) -> String {
        level == .trace ? "debug" : level.rawValue
    }

    /// The syslog priority of a level (sd-daemon(3)'s `<N>` prefix).
    static func priority(of level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }
}

/// Routes swift-log's messages (the recorder, the servers) into the
/// terminal's single format: `LEVEL: message (key=value, ...)`.
struct TerminalLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .notice

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        let details = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        Terminal.log(event.level, details.isEmpty ? "\(event.message)" : "\(event.message) (\(details))")
    }
}
