// Shared helpers of the corpus, report and command-line tests: where the
// capture corpus and the built binary are, running a capture file in
// process, and compact texts for sessions and totals.
import Foundation
import Logging
import TCPeekCapture
import TCPeekCore
import TCPeekText
import TCPeekSystem
import Testing

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Locations

enum TestPaths {
    /// The repository root: this file is `<repo>/Tests/TCPeekCaptureTests/CorpusSupport.swift`.
    static func repository(filePath: String = #filePath) -> URL {
        URL(fileURLWithPath: filePath)
            .deletingLastPathComponent()  // TCPeekCaptureTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // <repo>
    }

    /// `<repo>/../shared/corpus`, or `$TCPEEK_CORPUS` when set.
    static let corpus: URL = {
        if let override = ProcessInfo.processInfo.environment["TCPEEK_CORPUS"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        return repository().deletingLastPathComponent()
            .appendingPathComponent("shared").appendingPathComponent("corpus").standardizedFileURL
    }()

    /// The path of one capture of the corpus.
    static func capture(_ name: String) -> String {
        corpus.appendingPathComponent(name).path
    }

    /// The `tcpeek` binary: `$TCPEEK_BINARY`, else the one built next to the
    /// test bundle (the directory of `/proc/self/exe`), else the usual build
    /// directories of the repository.
    static let binary: String? = {
        let fileManager = FileManager.default
        if let override = ProcessInfo.processInfo.environment["TCPEEK_BINARY"], !override.isEmpty {
            return override
        }
        var candidates: [String] = []
        if let exe = try? fileManager.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("tcpeek").path)
        }
        let bundle = Bundle.main.bundleURL
        candidates.append(bundle.appendingPathComponent("tcpeek").path)
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("tcpeek").path)
        for scratch in [".build-corpus", ".build"] {
            candidates.append(repository().appendingPathComponent(scratch).appendingPathComponent("debug")
                .appendingPathComponent("tcpeek").path)
        }
        return candidates.first { fileManager.isExecutableFile(atPath: $0) }
    }()
}

/// Report texts are in local time: the tests fix the zone to UTC, as the
/// command-line tests do for the binary (`TZ=UTC`).
enum UTC {
    private static let once: Void = {
        setenv("TZ", "UTC", 1)
        tzset()
    }()

    static func ensure() { _ = once }

    /// A packet time from a UTC calendar date.
    static func time(_ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int, _ second: Int,
                     microseconds: Int64 = 0) -> Timestamp {
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        return Timestamp(seconds: Int64(timegm(&parts)), microseconds: microseconds)
    }
}

// MARK: - Running a capture in process

/// How to set up the tracker for one run (the command line's options).
struct RunOptions: Sendable {
    var expressions: [String] = []
    /// `--local-addr` values; nil: none given (a file read: `ALL:ANY@*:*`).
    var localAddresses: [String]? = nil
    var checksumMode: ChecksumMode = .none
    var interpretsICMP = true
    var timeoutSeconds: Int64 = 60
    var queueCapacity = 1 << 16

    init(expressions: [String] = [], localAddresses: [String]? = nil, checksumMode: ChecksumMode = .none) {
        self.expressions = expressions
        self.localAddresses = localAddresses
        self.checksumMode = checksumMode
    }

    static let defaults = RunOptions()
}

/// Everything one run of a capture file produced.
struct CaptureRun: Sendable {
    var sessions: [Session]
    var snapshot: CaptureSnapshot
    var filters: [Filter]
    var linkType: LinkType
    var end: CaptureEnd

    /// The counters of the named filter.
    func counters(_ name: String) -> FilterCounters? {
        filters.firstIndex { $0.name == name }.map { snapshot.counters[$0] }
    }
}

enum CaptureRunError: Error, CustomStringConvertible {
    case capture(CaptureError)
    case setup(String)

    var description: String {
        switch self {
        case .capture(let error): "CaptureError: \(error)"
        case .setup(let text): text
        }
    }
}

private final class SessionSink: @unchecked Sendable {
    private let lock = NSLock()
    private var sessions: [Session] = []

    func append(_ batch: [Session]) {
        lock.lock()
        sessions.append(contentsOf: batch)
        lock.unlock()
    }

    var all: [Session] {
        lock.lock()
        defer { lock.unlock() }
        return sessions
    }
}

/// Runs a capture file through `PcapHandle` + `CaptureLoop`, exactly as
/// `tcpeek record -r` does, collecting every closed session from the
/// `SessionQueue` on a consumer thread. The loop runs on its own thread
/// (it must not occupy Swift's shared pool); the caller awaits it.
func runCapture(_ path: String, _ options: RunOptions = .defaults) async throws(CaptureRunError) -> CaptureRun {
    let handle: PcapHandle
    do {
        handle = try PcapHandle.open(file: path)
    } catch {
        throw .capture(error)
    }
    let filterSet: FilterSet
    var local: LocalAddresses?
    do {
        let parsed = try options.expressions.map { try Filter.parse($0) }
        if let addresses = options.localAddresses { local = try LocalAddresses.parse(addresses) }
        filterSet = try FilterSet(filters: parsed, hasLocalNotion: local != nil)
    } catch {
        throw .setup("bad test setup: \(error)")
    }
    var tracking = TrackingOptions(filters: filterSet, localAddresses: local)
    tracking.checksumMode = options.checksumMode
    tracking.interpretsICMP = options.interpretsICMP
    tracking.timeout = .seconds(options.timeoutSeconds)

    let queue = SessionQueue(capacity: options.queueCapacity)
    let logger = Logger(label: "tcpeek.tests") { _ in SwiftLogNoOpLogHandler() }
    let loop = CaptureLoop(handle: handle, options: tracking, queues: [queue], logger: logger)
    let sink = SessionSink()
    let drained = DispatchSemaphore(value: 0)
    let consumer = Thread {
        while let batch = queue.next() { sink.append(batch) }
        drained.signal()
    }
    consumer.name = "corpus-consumer"
    consumer.start()

    let result: Result<CaptureEnd, CaptureError> = await withCheckedContinuation { continuation in
        let capture = Thread {
            let result: Result<CaptureEnd, CaptureError>
            do throws(CaptureError) {
                result = .success(try loop.run())
            } catch {
                result = .failure(error)
            }
            drained.wait()
            continuation.resume(returning: result)
        }
        capture.name = "corpus-capture"
        capture.start()
    }
    switch result {
    case .success(let end):
        return CaptureRun(sessions: sink.all, snapshot: loop.snapshot, filters: filterSet.counting,
                          linkType: handle.linkType, end: end)
    case .failure(let error):
        throw .capture(error)
    }
}

/// `runCapture` on a file of the corpus.
func runCorpus(_ name: String, _ options: RunOptions = .defaults) async throws(CaptureRunError) -> CaptureRun {
    try await runCapture(TestPaths.capture(name), options)
}

// MARK: - Totals and session texts

/// The figures a test expects of one filter: per-outcome totals, duplicate
/// segments summed over every session, and the successes that had
/// duplicates (what the summary and `GET` show as dupsyn / dupsynack).
struct Totals: Equatable, Sendable, CustomStringConvertible {
    var success = 0
    var reject = 0
    var abort = 0
    var unreach = 0
    var timeout = 0
    /// Retransmitted SYN segments, summed over every session whatever its outcome.
    var dupSYN = 0
    /// Retransmitted SYN/ACK segments (same server ISN), summed over every session.
    var dupSYNACK = 0
    /// Successful sessions with at least one retransmitted SYN (`dupsyn` of GET).
    var successWithDupSYN = 0
    /// Successful sessions with at least one retransmitted SYN/ACK (`dupsynack` of GET).
    var successWithDupSYNACK = 0

    init(success: Int = 0, reject: Int = 0, abort: Int = 0, unreach: Int = 0, timeout: Int = 0,
         dupSYN: Int = 0, dupSYNACK: Int = 0, successWithDupSYN: Int = 0, successWithDupSYNACK: Int = 0) {
        self.success = success
        self.reject = reject
        self.abort = abort
        self.unreach = unreach
        self.timeout = timeout
        self.dupSYN = dupSYN
        self.dupSYNACK = dupSYNACK
        self.successWithDupSYN = successWithDupSYN
        self.successWithDupSYNACK = successWithDupSYNACK
    }

    init(sessions: some Sequence<Session>) {
        for session in sessions {
            switch session.outcome {
            case .success:
                success += 1
                if session.dupSYN > 0 { successWithDupSYN += 1 }
                if session.dupSYNACK > 0 { successWithDupSYNACK += 1 }
            case .reject: reject += 1
            case .abort: abort += 1
            case .unreach: unreach += 1
            case .timeout: timeout += 1
            }
            dupSYN += Int(session.dupSYN)
            dupSYNACK += Int(session.dupSYNACK)
        }
    }

    init(_ counters: FilterCounters) {
        success = Int(counters.success)
        reject = Int(counters.reject)
        abort = Int(counters.abort)
        unreach = Int(counters.unreach)
        timeout = Int(counters.timeout)
        dupSYN = Int(counters.dupSYNSegments)
        dupSYNACK = Int(counters.dupSYNACKSegments)
        successWithDupSYN = Int(counters.successWithDupSYN)
        successWithDupSYNACK = Int(counters.successWithDupSYNACK)
    }

    var attempts: Int { success + reject + abort + unreach + timeout }

    var description: String {
        "success \(success), reject \(reject), abort \(abort), unreach \(unreach), timeout \(timeout); "
            + "dup SYN segments \(dupSYN), dup S/A segments \(dupSYNACK); "
            + "successes with dup SYN \(successWithDupSYN), with dup S/A \(successWithDupSYNACK)"
    }
}

extension Session {
    /// `client > server [vlan=a.b] outcome syn=N sa=N`, for comparing
    /// session lists with readable failure messages.
    var brief: String {
        var text = "\(Report.hostText(client)):\(clientPort) > \(Report.hostText(server)):\(serverPort)"
        let ids = vlan.ids
        if !ids.isEmpty { text += " vlan=" + ids.map(String.init).joined(separator: ".") }
        text += " \(outcome) syn=\(dupSYN) sa=\(dupSYNACK)"
        return text
    }

    /// The duration in whole milliseconds (rounded down, as the live line shows it).
    var durationMilliseconds: Int64 { duration.microseconds / 1000 }
}

/// Session texts in a stable order (by text), so that two lists compare
/// whatever order the attempts closed in.
func briefs(_ sessions: [Session]) -> [String] {
    sessions.map(\.brief).sorted()
}
