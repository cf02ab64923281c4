import Foundation
import Testing

/// `tcpeek record -r` on a large file draws a progress bar on standard error
/// when it is a terminal, and prints nothing extra when it is not. The
/// terminal is a real pseudo-terminal made by `script` (util-linux).
@Suite("progress bar while reading a file")
struct ProgressBarTests {
    /// The largest corpus capture (6.8 MB): above the 4 MiB threshold.
    static let largeCapture = TestPaths.capture("zeek__echo-connections.pcap")

    static var scriptPath: String? {
        ["/usr/bin/script", "/bin/script"].first(where: FileManager.default.isExecutableFile)
    }

    @Test("a terminal shows the bar (percentage, packets/s, ETA)",
          .enabled(if: ProgressBarTests.scriptPath != nil, "util-linux 'script' is not installed"))
    func barOnTerminal() throws {
        let binary = try #require(TestPaths.binary)
        let script = try #require(Self.scriptPath)
        let transcript = FileManager.default.temporaryDirectory
            .appendingPathComponent("tcpeek-progress-\(getpid())-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: transcript) }
        let command = "\(binary) record -r \(Self.largeCapture) -q --no-db"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        // -e: the command's status; -q: no banner; -c: the command; then the transcript file.
        process.arguments = ["-e", "-q", "-c", command, transcript.path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let text = try String(contentsOf: transcript, encoding: .utf8)
        #expect(text.contains("packets/s"), "no progress line in: \(text.prefix(2000))")
        #expect(text.contains("ETA"))
        #expect(text.contains("%"))
        #expect(text.contains("TCPEEK SUMMARY"))
    }

    @Test("a pipe gets no progress output")
    func noBarOnPipe() async throws {
        let result = try await runTCPeek(["record", "-r", Self.largeCapture, "-q"], database: .fresh)
        #expect(result.status == 0)
        #expect(!result.stderr.contains("packets/s"))
        #expect(!result.stderr.contains("ETA"))
        #expect(result.stderr.contains("TCPEEK SUMMARY"))
    }
}
