// A SYN flood read from a file by the real binary with the default
// --max-pending: 3,000,000 distinct unanswered SYNs within 10 s of packet
// time (so none can time out: the table must evict), with legitimate
// handshakes interleaved. Peak memory stays under 300 MB, evictions are
// counted and shown in the summary, and every legitimate handshake is
// still classified as a success.
//
// The capture comes from tcpeek-synth (`--mode flood --legit K`), built
// next to the tests by `swift build --build-tests`. TCPEEK_FLOOD_SYNS
// changes the number of flood SYNs (`make flood` sets the full size
// explicitly; the default is the full size too, which takes about 40 s on
// two cores with debug builds).
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

private enum Flood {
    /// Unanswered SYNs (issue 6: 3,000,000).
    static var syns: Int {
        ProcessInfo.processInfo.environment["TCPEEK_FLOOD_SYNS"].flatMap { Int($0) } ?? 3_000_000
    }
    /// Legitimate handshakes spread evenly through the flood.
    static let legit = 1_000
    /// tcpeek's default --max-pending.
    static let maxPending = 1_000_000
    /// The ceiling on the peak resident set, in kilobytes (300 MB).
    static let memoryCeilingKB = 300_000

    /// `tcpeek-synth`: $TCPEEK_SYNTH_BINARY, else next to the tcpeek binary.
    static var synthesizer: String? {
        if let path = ProcessInfo.processInfo.environment["TCPEEK_SYNTH_BINARY"], !path.isEmpty { return path }
        guard let tcpeek = TestPaths.binary else { return nil }
        let path = URL(fileURLWithPath: tcpeek).deletingLastPathComponent().appendingPathComponent("tcpeek-synth").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }
}

/// Runs a program to completion off Swift's shared pool, standard output
/// and standard error into files of `directory`; returns its status and
/// both texts.
private func run(_ executable: String, _ arguments: [String], in directory: URL) async throws -> (Int32, String, String) {
    let name = UUID().uuidString
    let outURL = directory.appendingPathComponent("\(name).out"), errURL = directory.appendingPathComponent("\(name).err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["TZ"] = "UTC"
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = out
    process.standardError = err
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do { try process.run() } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    try out.close()
    try err.close()
    return (status,
            String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// The number after `label` on a summary line such as `   evicted           : 2000002`.
private func summaryValue(_ label: String, in text: String) -> Int? {
    for line in text.split(separator: "\n") where line.trimmingCharacters(in: .whitespaces).hasPrefix(label) {
        if let value = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            return value
        }
    }
    return nil
}

@Suite("SYN flood")
struct SynFloodTests {
    @Test("distinct unanswered SYNs within 10 s: bounded memory, evictions in the summary, legitimate handshakes intact",
          .timeLimit(.minutes(10)))
    func flood() async throws {
        let tcpeek = try #require(TestPaths.binary, "no tcpeek binary next to the tests; build it or set TCPEEK_BINARY")
        let synthesizer = try #require(Flood.synthesizer,
                                       "no tcpeek-synth next to the tests; build it (swift build --product tcpeek-synth) or set TCPEEK_SYNTH_BINARY")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/time"),
                     "GNU time is missing (apt-get install time; make deps installs it)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tcpeek-flood-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let capture = directory.appendingPathComponent("flood.pcap").path

        // The capture and the counts a correct reading gives.
        let syns = Flood.syns
        let (synthStatus, expectedJSON, synthErrors) = try await run(synthesizer, [
            "--mode", "flood", "--attempts", String(syns), "--legit", String(Flood.legit),
            "--duration", "10", "--output", capture,
        ], in: directory)
        try #require(synthStatus == 0, "tcpeek-synth failed: \(synthErrors)")
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(expectedJSON.utf8)) as? [String: Any])
        #expect(expected["timeout"] as? Int == syns)
        #expect(expected["success"] as? Int == Flood.legit)
        let span = (expected["last_ts"] as? Double ?? 0) - (expected["first_ts"] as? Double ?? 0)
        #expect(span < 10.5, "the flood lies within about 10 s of packet time (legitimate handshakes finish just after)")

        // The default --max-pending (1,000,000), peak RSS from GNU time.
        let memoryFile = directory.appendingPathComponent("maxrss").path
        let (status, stdout, stderr) = try await run("/usr/bin/time", [
            "-f", "%M", "-o", memoryFile, tcpeek, "record", "-q", "-r", capture, "--no-db", "--json-summary",
        ], in: directory)
        #expect(status == 0, "\(stderr)")

        let peakKB = try #require(Int(try String(contentsOfFile: memoryFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last ?? ""))
        #expect(peakKB < Flood.memoryCeilingKB, "peak RSS \(peakKB) kB reading \(syns) flood SYNs")

        // Every legitimate handshake succeeds; every flood SYN times out
        // (evicted early, or closed at the end of the file).
        let get = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]])
        let all = try #require(get.first?["ALL"] as? [String: [String: Int]], "\(stdout)")
        #expect(all["success"]?["total"] == Flood.legit, "\(stdout)")
        #expect(all["failure"]?["timeout"] == syns, "\(stdout)")
        #expect(all["failure"]?["total"] == syns, "\(stdout)")

        // Evictions: at least what did not fit in the table, and shown.
        let evicted = try #require(summaryValue("evicted", in: stderr), "no 'evicted' line in the summary:\n\(stderr)")
        let lowest = max(0, syns - Flood.maxPending)
        #expect(evicted >= lowest && evicted <= lowest + Flood.legit, "evicted \(evicted) of \(syns)")
        #expect(summaryValue("still open", in: stderr) == 0)
        #expect(summaryValue("malformed packets", in: stderr) == 0)
        print("SYN flood: \(syns) SYNs + \(Flood.legit) handshakes, peak RSS \(peakKB) kB, evicted \(evicted)")
    }
}
