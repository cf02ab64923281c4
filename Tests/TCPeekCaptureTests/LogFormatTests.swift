// Every message tcpeek writes to standard error has one format, whichever
// way it comes (the command's own messages or swift-log's, here the socket
// server's notice about a stale socket file): `LEVEL: text`. Under systemd
// (JOURNAL_STREAM naming standard error) each line starts with its syslog
// priority, `<5>` for a notice (sd-daemon(3)), so `journalctl -p` filters
// it; `-l` hides every message below its level.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs the binary on the demo capture with a stale socket file at `-U`
/// (so that the socket server logs a notice), standard error to a file;
/// with `journal`, JOURNAL_STREAM names that file as systemd would.
private func runWithStaleSocket(_ extra: [String], journal: Bool) throws -> (status: Int32, lines: [String]) {
    let binary = try #require(TestPaths.binary, "no tcpeek binary next to the tests; build it or set TCPEEK_BINARY")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tcpeek-log-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let socketPath = directory.appendingPathComponent("stale.sock").path
    try leaveStaleSocket(at: socketPath)
    let errPath = directory.appendingPathComponent("stderr").path
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))

    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["record", "-r", TestPaths.repository().appendingPathComponent("Demo/gnutella.pcap").path,
                         "--no-db", "-U", socketPath] + extra
    var environment = ProcessInfo.processInfo.environment
    environment["JOURNAL_STREAM"] = nil
    if journal {
        var info = stat()
        #expect(stat(errPath, &info) == 0)
        environment["JOURNAL_STREAM"] = "\(info.st_dev):\(info.st_ino)"
    }
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = err
    try process.run()
    process.waitUntilExit()
    try err.close()
    let text = try String(contentsOfFile: errPath, encoding: .utf8)
    return (process.terminationStatus, text.split(separator: "\n").map(String.init))
}

/// A socket file that nobody listens on, as a killed tcpeek leaves it.
private func leaveStaleSocket(at path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
    }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    try #require(bound == 0, "cannot bind \(path): \(String(cString: strerror(errno)))")
}

@Suite("log lines: one format, syslog priorities under systemd, -l")
struct LogFormatTests {
    @Test("a swift-log message has the same `LEVEL: text` format as the command's own")
    func oneFormat() throws {
        let (status, lines) = try runWithStaleSocket([], journal: false)
        #expect(status == 0, "\(lines)")
        let stale = lines.filter { $0.contains("stale socket file") }
        #expect(stale.count == 1, "\(lines)")
        #expect(stale.first?.hasPrefix("notice: replaced a stale socket file") == true, "\(stale)")
        #expect(stale.first?.contains("socket.path=") == true, "metadata kept: \(stale)")
        #expect(!lines.contains { $0.hasPrefix("<") }, "no priority prefix outside the journal: \(lines)")
    }

    @Test("under systemd (JOURNAL_STREAM) every line starts with its syslog priority")
    func journalPriorities() throws {
        let (status, lines) = try runWithStaleSocket([], journal: true)
        #expect(status == 0, "\(lines)")
        #expect(!lines.isEmpty)
        for line in lines {
            #expect(line.range(of: #"^<[0-7]>"#, options: .regularExpression) != nil, "no priority: '\(line)'")
        }
        #expect(lines.contains { $0.hasPrefix("<5>notice: replaced a stale socket file") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("<5>reading from file ") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("<6>") && $0.contains("Success") }, "the summary at info: \(lines)")
        let failed = try runWithStaleSocket(["--local-addr", "nonsense"], journal: true)
        #expect(failed.status != 0)
        #expect(failed.lines.contains { $0.hasPrefix("<3>error: ") }, "\(failed.lines)")
    }

    @Test("JOURNAL_STREAM naming another file (inherited by a child) adds no prefix")
    func inheritedJournalStream() throws {
        let binary = try #require(TestPaths.binary)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["record", "-r", "/nonexistent/capture.pcap", "--no-db"]
        process.environment = ["JOURNAL_STREAM": "8:12345", "PATH": "/usr/bin:/bin"]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(text.hasPrefix("error: "), "\(text)")
    }

    @Test("-l err hides notices from every source, -l warning too; errors stay")
    func levelFiltersEverything() throws {
        for level in ["err", "warning"] {
            let (status, lines) = try runWithStaleSocket(["-l", level], journal: false)
            #expect(status == 0, "\(lines)")
            #expect(!lines.contains { $0.hasPrefix("notice: ") }, "-l \(level): \(lines)")
            #expect(!lines.contains { $0.hasPrefix("reading from file") }, "-l \(level): \(lines)")
            #expect(lines.contains { $0.contains("Success") }, "the summary is output, not a message: \(lines)")
        }
        let (_, lines) = try runWithStaleSocket(["-l", "notice"], journal: false)
        #expect(lines.contains { $0.hasPrefix("notice: replaced a stale socket file") }, "\(lines)")
    }
}
