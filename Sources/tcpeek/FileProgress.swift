import Foundation
import TCPeekCapture

/// A progress bar on standard error while a large file is read, drawn only
/// when standard error is a terminal (scripts and logs get nothing extra).
final class FileProgress: Sendable {
    private let loop: CaptureLoop
    private let total: Int64
    /// Files smaller than this are read too fast for a bar to help.
    static let minimumSize: Int64 = 4 << 20

    /// A progress bar for `path`, or nil when none should be drawn.
    static func make(for path: String, loop: CaptureLoop) -> FileProgress? {
        guard isatty(STDERR_FILENO) != 0,
              let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int64,
              size >= minimumSize else { return nil }
        return FileProgress(loop: loop, total: size)
    }

    private init(loop: CaptureLoop, total: Int64) {
        self.loop = loop
        self.total = total
    }

    /// Redraws the bar four times a second until the task is cancelled,
    /// then draws the final state (100 %) and clears the line for the summary.
    func drawUntilCancelled() async {
        Terminal.hasProgressLine.withLock { $0 = true }
        let begin = ContinuousClock.now
        draw(elapsed: .zero)
        while (try? await Task.sleep(for: .milliseconds(250))) != nil {
            draw(elapsed: ContinuousClock.now - begin)
        }
        draw(elapsed: ContinuousClock.now - begin)
        Terminal.clearProgress()
    }

    private func draw(elapsed: Duration) {
        let snapshot = loop.snapshot
        let offset = min(total, snapshot.fileOffset ?? 0)
        let fraction = total > 0 ? Double(offset) / Double(total) : 0
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(snapshot.decode.packets) / seconds : 0
        let remaining = fraction > 0.001 ? seconds * (1 - fraction) / fraction : nil
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let eta = remaining.map { "ETA \(Self.clock(Int($0.rounded(.up))))" } ?? "ETA --"
        Terminal.drawProgress(String(format: "[%@] %5.1f%%  %@ packets/s  %@", bar, fraction * 100, Self.compact(rate), eta))
    }

    static func compact(_ value: Double) -> String {
        if value >= 1e6 { return String(format: "%.2fM", value / 1e6) }
        if value >= 1e3 { return String(format: "%.1fk", value / 1e3) }
        return String(format: "%.0f", value)
    }

    static func clock(_ seconds: Int) -> String {
        seconds >= 3600 ? String(format: "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
            : String(format: "%d:%02d", seconds / 60, seconds % 60)
    }
}
