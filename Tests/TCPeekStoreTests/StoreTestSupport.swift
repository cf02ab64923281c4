// Shared helpers of the history-database tests: temporary folders, the
// built binaries (`tcpeek`, `tcpeek-synth`), child processes, capture
// generation, `--json-summary` parsing and read-only looks into a database.
import Foundation
import GRDB
import Logging
import Synchronization
import TCPeekCore
import Testing
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

struct StoreTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Locations

enum StorePaths {
    /// `<repo>`: this file is `<repo>/Tests/TCPeekStoreTests/StoreTestSupport.swift`.
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `<repo>/../shared/corpus`, or `$TCPEEK_CORPUS`.
    static let corpus: URL = {
        if let override = ProcessInfo.processInfo.environment["TCPEEK_CORPUS"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        return repository.deletingLastPathComponent().appendingPathComponent("shared/corpus").standardizedFileURL
    }()

    static func capture(_ name: String) -> String { corpus.appendingPathComponent(name).path }

    /// `$TCPEEK_BINARY`, else `tcpeek` next to the test bundle.
    static let tcpeek: String? = {
        if let override = ProcessInfo.processInfo.environment["TCPEEK_BINARY"], !override.isEmpty { return override }
        return buildDirectory.map { $0 + "/tcpeek" }.flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil }
    }()

    /// `tcpeek-synth`, built next to `tcpeek`.
    static let synth: String? = {
        let candidates = [tcpeek.map { ($0 as NSString).deletingLastPathComponent + "/tcpeek-synth" },
                          buildDirectory.map { $0 + "/tcpeek-synth" }].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    private static let buildDirectory: String? = {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return (exe as NSString).deletingLastPathComponent
    }()

    static func requireTCPeek() throws -> String {
        guard let tcpeek else { throw StoreTestError("the tcpeek binary is not built next to the tests (set TCPEEK_BINARY)") }
        return tcpeek
    }

    static func requireSynth() throws -> String {
        guard let synth else { throw StoreTestError("tcpeek-synth is not built next to tcpeek") }
        return synth
    }

    /// An executable from PATH or the usual system folders.
    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] + path.split(separator: ":").map(String.init)
        return folders.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

// MARK: - Temporary folders

/// A folder of its own for one test, removed by `remove()` (call it in a
/// `defer`): immutable flags set by the test and mounts inside it are undone first.
final class TemporaryFolder: @unchecked Sendable {
    let path: String
    private var mounts: [String] = []
    private var immutable: [String] = []

    init(_ label: String) throws {
        var template = Array("/tmp/tcpeek-store-\(label)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw StoreTestError("mkdtemp failed: \(String(cString: strerror(errno)))") }
        path = String(cString: made)
        chmod(path, 0o755)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// Sets the immutable attribute (what makes a file or folder read-only even for root).
    func makeImmutable(_ target: String) throws {
        let result = try runTool("chattr", ["+i", target])
        guard result.status == 0 else { throw StoreTestError("chattr +i \(target) failed: \(result.stderr)") }
        immutable.append(target)
    }

    func makeMutable(_ target: String) {
        _ = try? runTool("chattr", ["-i", target])
        immutable.removeAll { $0 == target }
    }

    /// Mounts a tmpfs of `size` (such as "600k") at a new folder inside this one.
    func mountTmpfs(_ name: String, size: String) throws -> String {
        let mountPoint = file(name)
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let result = try runTool("mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0755", "tmpfs", mountPoint])
        guard result.status == 0 else { throw StoreTestError("cannot mount a tmpfs: \(result.stderr)") }
        mounts.append(mountPoint)
        return mountPoint
    }

    func remove() {
        for target in immutable { _ = try? runTool("chattr", ["-i", target]) }
        for mountPoint in mounts.reversed() { _ = try? runTool("umount", ["-l", mountPoint]) }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The bytes of a file (the strongest "unchanged" check there is).
func fileBytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

// MARK: - Child processes

/// A child process whose output goes to files (so it can never block on a
/// pipe), started with an empty signal mask: the threads of Swift's pool
/// block signals and posix_spawn would hand that mask to the child.
final class Child: @unchecked Sendable {
    let argv: [String]
    private let process = Process()
    private let outPath: String
    private let errPath: String

    init(_ argv: [String], environment: [String: String] = [:], outputIn folder: String) throws {
        self.argv = argv
        let tag = UUID().uuidString.prefix(8)
        outPath = folder + "/.out-\(tag)"
        errPath = folder + "/.err-\(tag)"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        // Relative paths in argv (`--db x`) land in the test's folder.
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        var env = ProcessInfo.processInfo.environment
        env["TZ"] = "UTC"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        let failure = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let launcher = Thread { [process] in
            var empty = sigset_t()
            sigemptyset(&empty)
            pthread_sigmask(SIG_SETMASK, &empty, nil)
            do { try process.run() } catch { failure.withLock { $0 = "\(error)" } }
            done.signal()
        }
        launcher.start()
        done.wait()
        if let failure = failure.withLock({ $0 }) { throw StoreTestError("cannot start \(argv.joined(separator: " ")): \(failure)") }
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    /// Decoded leniently: a tool's output need not be UTF-8 (readelf cuts
    /// long symbol names inside a character), and failing to read it as
    /// such must not look like empty output.
    var stdout: String { (FileManager.default.contents(atPath: outPath)).map { String(decoding: $0, as: UTF8.self) } ?? "" }
    var stderr: String { (FileManager.default.contents(atPath: errPath)).map { String(decoding: $0, as: UTF8.self) } ?? "" }

    /// The exit status; nil while running or after a signal.
    var status: Int32? {
        guard !process.isRunning, process.terminationReason == .exit else { return nil }
        return process.terminationStatus
    }

    /// The signal that ended the process, if one did.
    var signalled: Int32? {
        guard !process.isRunning, process.terminationReason == .uncaughtSignal else { return nil }
        return process.terminationStatus
    }

    func signal(_ number: Int32) {
        if process.isRunning { kill(process.processIdentifier, number) }
    }

    /// Waits for the exit without holding a thread of the pool.
    @discardableResult
    func waitForExit(timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// Polls `condition` until it holds or the time is up (or the child ended).
    func wait(timeout: Double, until condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            if !process.isRunning { return condition() }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func kill9AndWait() async {
        signal(SIGKILL)
        await waitForExit(timeout: 10)
    }

    var transcript: String {
        "$ \(argv.joined(separator: " "))\n--- status \(status.map(String.init) ?? "none") signal \(signalled.map(String.init) ?? "none")\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)"
    }
}

struct RunResult: CustomStringConvertible {
    let argv: [String]
    let status: Int32?
    let stdout: String
    let stderr: String
    var description: String {
        "$ \(argv.joined(separator: " "))\n--- status \(status.map(String.init) ?? "killed")\n--- stdout:\n\(stdout.prefix(4000))\n--- stderr:\n\(stderr.prefix(4000))"
    }
}

/// Runs a command to completion in `folder` (outputs go there too).
func run(_ argv: [String], in folder: String, environment: [String: String] = [:], timeout: Double = 60) async throws -> RunResult {
    let child = try Child(argv, environment: environment, outputIn: folder)
    if !(await child.waitForExit(timeout: timeout)) {
        await child.kill9AndWait()
        throw StoreTestError("`\(argv.joined(separator: " "))` did not finish within \(timeout) s:\n\(child.transcript)")
    }
    return RunResult(argv: argv, status: child.status, stdout: child.stdout, stderr: child.stderr)
}

/// A short system tool (chattr, mount), run synchronously.
@discardableResult
func runTool(_ name: String, _ arguments: [String]) throws -> RunResult {
    guard let path = StorePaths.tool(name) else { throw StoreTestError("\(name) is not installed") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let err = Pipe()
    let out = Pipe()
    process.standardError = err
    process.standardOutput = out
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return RunResult(argv: [path] + arguments, status: process.terminationReason == .exit ? process.terminationStatus : nil,
                     stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

// MARK: - tcpeek

/// `tcpeek record -q -r FILE --db DB --json-summary ...` to completion.
func record(_ capture: String, db: String, in folder: String, _ extra: [String] = [], timeout: Double = 120) async throws -> RunResult {
    let tcpeek = try StorePaths.requireTCPeek()
    return try await run([tcpeek, "record", "-q", "-r", capture, "--db", db, "--json-summary"] + extra,
                         in: folder, timeout: timeout)
}

/// `tcpeek query --db DB ...` to completion.
func query(db: String, in folder: String, _ arguments: [String]) async throws -> RunResult {
    let tcpeek = try StorePaths.requireTCPeek()
    return try await run([tcpeek, "query", "--db", db] + arguments, in: folder, timeout: 60)
}

/// One filter's figures from `--json-summary` (the socket's GET JSON).
struct SummaryCounts: Equatable, CustomStringConvertible {
    var success = 0, dupsyn = 0, dupsynack = 0
    var timeout = 0, reject = 0, unreach = 0, abort = 0
    var failure: Int { timeout + reject + unreach + abort }
    var total: Int { success + failure }
    var description: String {
        "success \(success) (dupsyn \(dupsyn), dupsynack \(dupsynack)), timeout \(timeout), reject \(reject), unreach \(unreach), abort \(abort)"
    }
}

/// Parses the last line of standard output: `[{"NAME":{"success":{...},"failure":{...}}},...,{"pcap":...}]`.
func parseSummary(_ stdout: String) throws -> [String: SummaryCounts] {
    guard let line = stdout.split(separator: "\n").last(where: { $0.hasPrefix("[") }),
          let elements = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String: Any]] else {
        throw StoreTestError("no JSON summary in: \(stdout)")
    }
    var result: [String: SummaryCounts] = [:]
    for element in elements {
        for (name, value) in element where name != "pcap" {
            guard let figures = value as? [String: Any], let success = figures["success"] as? [String: Int],
                  let failure = figures["failure"] as? [String: Int] else { throw StoreTestError("odd summary element \(element)") }
            var counts = SummaryCounts()
            counts.success = success["total"] ?? -1
            counts.dupsyn = success["dupsyn"] ?? -1
            counts.dupsynack = success["dupsynack"] ?? -1
            counts.timeout = failure["timeout"] ?? -1
            counts.reject = failure["reject"] ?? -1
            counts.unreach = failure["unreach"] ?? -1
            counts.abort = failure["abort"] ?? -1
            #expect(counts.failure == failure["total"], "failure total of \(name)")
            result[name] = counts
        }
    }
    return result
}

// MARK: - tcpeek-synth

/// Writes a synthetic capture and returns its expected counts.
func synthesize(_ output: String, in folder: String, _ arguments: [String]) async throws -> [String: Double] {
    let synth = try StorePaths.requireSynth()
    let result = try await run([synth, "-o", output] + arguments, in: folder, timeout: 120)
    guard result.status == 0, let line = result.stdout.split(separator: "\n").last,
          let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw StoreTestError("tcpeek-synth failed: \(result)")
    }
    return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
}

// MARK: - Looking into a database

/// A read-only connection for checks (never changes the file).
func inspect<T>(_ path: String, _ body: (Database) throws -> T) throws -> T {
    var configuration = Configuration()
    configuration.readonly = true
    configuration.busyMode = .timeout(10)
    let queue = try DatabaseQueue(path: path, configuration: configuration)
    defer { try? queue.close() }
    return try queue.read(body)
}

/// Sessions per outcome (of one run, or all).
func outcomeCounts(_ db: Database, runID: Int64? = nil, filter: String? = nil) throws -> SummaryCounts {
    var conditions: [String] = []
    var arguments: [any DatabaseValueConvertible] = []
    if let runID { conditions.append("s.run_id = ?"); arguments.append(runID) }
    if let filter {
        conditions.append("s.id IN (SELECT session_id FROM session_filters WHERE filter = ?)")
        arguments.append(filter)
    }
    let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    let row = try Row.fetchOne(db, sql: """
        SELECT coalesce(sum(outcome = 'success'), 0) AS success,
               coalesce(sum(outcome = 'success' AND dup_syn > 0), 0) AS dupsyn,
               coalesce(sum(outcome = 'success' AND dup_synack > 0), 0) AS dupsynack,
               coalesce(sum(outcome = 'timeout'), 0) AS timeout, coalesce(sum(outcome = 'reject'), 0) AS reject,
               coalesce(sum(outcome = 'unreach'), 0) AS unreach, coalesce(sum(outcome = 'abort'), 0) AS abort
        FROM sessions s \(whereClause)
        """, arguments: StatementArguments(arguments))!
    var counts = SummaryCounts()
    counts.success = row["success"]
    counts.dupsyn = row["dupsyn"]
    counts.dupsynack = row["dupsynack"]
    counts.timeout = row["timeout"]
    counts.reject = row["reject"]
    counts.unreach = row["unreach"]
    counts.abort = row["abort"]
    return counts
}

/// Differences between `rollups_minute` and the same figures aggregated
/// from `sessions` ⋈ `session_filters`, and between the bucket table and
/// the successes; empty when consistent.
func rollupInconsistencies(_ db: Database) throws -> [String] {
    let columns = ["success", "success_dup_syn", "success_dup_synack", "failure", "timeout", "reject", "unreach",
                   "abort", "dup_syn", "dup_synack"]
    let fromSessions = """
        SELECT CAST(s.started_at / 60 AS INTEGER) * 60 AS minute, f.filter AS filter,
               sum(s.outcome = 'success') AS success,
               sum(s.outcome = 'success' AND s.dup_syn > 0) AS success_dup_syn,
               sum(s.outcome = 'success' AND s.dup_synack > 0) AS success_dup_synack,
               sum(s.outcome <> 'success') AS failure,
               sum(s.outcome = 'timeout') AS timeout, sum(s.outcome = 'reject') AS reject,
               sum(s.outcome = 'unreach') AS unreach, sum(s.outcome = 'abort') AS abort,
               sum(s.dup_syn) AS dup_syn, sum(s.dup_synack) AS dup_synack,
               sum(CASE WHEN s.outcome = 'success' THEN s.duration ELSE 0 END) AS handshake_sum
        FROM sessions s JOIN session_filters f ON f.session_id = s.id
        GROUP BY minute, f.filter
        """
    let list = columns.joined(separator: ", ")
    var problems: [String] = []
    // Rows of either side missing from, or different in, the other.
    let differences = try Row.fetchAll(db, sql: """
        SELECT 'rollup' AS side, * FROM (SELECT minute, filter, \(list) FROM rollups_minute
                                         EXCEPT SELECT minute, filter, \(list) FROM (\(fromSessions)))
        UNION ALL
        SELECT 'sessions' AS side, * FROM (SELECT minute, filter, \(list) FROM (\(fromSessions))
                                           EXCEPT SELECT minute, filter, \(list) FROM rollups_minute)
        LIMIT 20
        """)
    problems += differences.map { "only in \($0["side"] as String): \($0)" }
    // handshake_sum is a float sum: compare with a tolerance.
    let sums = try Row.fetchAll(db, sql: """
        SELECT r.minute, r.filter, r.handshake_sum AS rollup, g.handshake_sum AS sessions
        FROM rollups_minute r JOIN (\(fromSessions)) g ON g.minute = r.minute AND g.filter = r.filter
        WHERE abs(r.handshake_sum - g.handshake_sum) > 1e-6 * max(1, g.handshake_sum) LIMIT 20
        """)
    problems += sums.map { "handshake_sum differs: \($0)" }
    // The bucket counts of each (minute, filter) add up to its successes.
    let buckets = try Row.fetchAll(db, sql: """
        SELECT r.minute, r.filter, r.success, coalesce(b.n, 0) AS buckets
        FROM rollups_minute r LEFT JOIN (SELECT minute, filter, sum(count) AS n FROM rollup_handshake_buckets
                                         GROUP BY minute, filter) b ON b.minute = r.minute AND b.filter = r.filter
        WHERE r.success <> coalesce(b.n, 0) LIMIT 20
        """)
    problems += buckets.map { "bucket counts differ from successes: \($0)" }
    let orphans = try Int.fetchOne(db, sql: """
        SELECT count(*) FROM rollup_handshake_buckets b
        WHERE NOT EXISTS (SELECT 1 FROM rollups_minute r WHERE r.minute = b.minute AND r.filter = b.filter)
        """) ?? 0
    if orphans > 0 { problems.append("\(orphans) bucket rows without a rollup row") }
    // The hourly buckets are the sums of the minute buckets of each hour.
    let hourly = try Row.fetchAll(db, sql: """
        SELECT coalesce(h.hour, m.hour) AS hour, coalesce(h.filter, m.filter) AS filter,
               coalesce(h.bucket, m.bucket) AS bucket, h.count AS hourly, m.n AS minutes
        FROM rollup_handshake_buckets_hour h
        FULL OUTER JOIN (SELECT minute / 3600 * 3600 AS hour, filter, bucket, sum(count) AS n
                         FROM rollup_handshake_buckets GROUP BY 1, 2, 3) m
            ON m.hour = h.hour AND m.filter = h.filter AND m.bucket = h.bucket
        WHERE h.count IS NOT m.n LIMIT 20
        """)
    problems += hourly.map { "hourly buckets differ from the minutes': \($0)" }
    // The hourly figures are the sums of the minute rows of each hour.
    let hourlySums = "minute / 3600 * 3600 AS hour, filter, " + columns.map { "sum(\($0)) AS \($0)" }.joined(separator: ", ")
    let hourlyDifferences = try Row.fetchAll(db, sql: """
        SELECT 'rollups_hour' AS side, * FROM (SELECT hour, filter, \(list) FROM rollups_hour
                                               EXCEPT SELECT \(hourlySums) FROM rollups_minute GROUP BY 1, 2)
        UNION ALL
        SELECT 'minutes' AS side, * FROM (SELECT \(hourlySums) FROM rollups_minute GROUP BY 1, 2
                                          EXCEPT SELECT hour, filter, \(list) FROM rollups_hour)
        LIMIT 20
        """)
    problems += hourlyDifferences.map { "hourly figures differ from the minutes' (only in \($0["side"] as String)): \($0)" }
    let hourlyHandshakeSums = try Row.fetchAll(db, sql: """
        SELECT h.hour, h.filter, h.handshake_sum AS hourly, m.s AS minutes
        FROM rollups_hour h JOIN (SELECT minute / 3600 * 3600 AS hour, filter, sum(handshake_sum) AS s
                                  FROM rollups_minute GROUP BY 1, 2) m ON m.hour = h.hour AND m.filter = h.filter
        WHERE abs(h.handshake_sum - m.s) > 1e-6 * max(1, m.s) LIMIT 20
        """)
    problems += hourlyHandshakeSums.map { "hourly handshake_sum differs: \($0)" }
    // The per-cause rollups (Schema/0006): each (minute, filter, outcome,
    // cause) counts the sessions of that `cause` text ('' for NULL), and each
    // hour's rows are the sums of its minutes'.
    let causesFromSessions = """
        SELECT CAST(s.started_at / 60 AS INTEGER) * 60 AS minute, f.filter AS filter, s.outcome AS outcome,
               coalesce(s.cause, '') AS cause, count(*) AS count
        FROM sessions s JOIN session_filters f ON f.session_id = s.id GROUP BY 1, 2, 3, 4
        """
    let causeRows = "SELECT minute, filter, outcome, cause, count FROM rollup_causes_minute"
    let causeDifferences = try Row.fetchAll(db, sql: """
        SELECT 'rollup' AS side, * FROM (\(causeRows) EXCEPT SELECT * FROM (\(causesFromSessions)))
        UNION ALL
        SELECT 'sessions' AS side, * FROM (SELECT * FROM (\(causesFromSessions)) EXCEPT \(causeRows))
        LIMIT 20
        """)
    problems += causeDifferences.map { "cause rollups differ (only in \($0["side"] as String)): \($0)" }
    let hourlyCauses = try Row.fetchAll(db, sql: """
        SELECT coalesce(h.hour, m.hour) AS hour, coalesce(h.filter, m.filter) AS filter,
               coalesce(h.outcome, m.outcome) AS outcome, coalesce(h.cause, m.cause) AS cause, h.count AS hourly, m.n AS minutes
        FROM rollup_causes_hour h
        FULL OUTER JOIN (SELECT minute / 3600 * 3600 AS hour, filter, outcome, cause, sum(count) AS n
                         FROM rollup_causes_minute GROUP BY 1, 2, 3, 4) m
            ON m.hour = h.hour AND m.filter = h.filter AND m.outcome = h.outcome AND m.cause = h.cause
        WHERE h.count IS NOT m.n LIMIT 20
        """)
    problems += hourlyCauses.map { "hourly cause rollups differ from the minutes': \($0)" }
    // Every bucket holds the successes whose duration falls in it.
    let bucketMismatch = try bucketsFromSessions(db)
    problems += bucketMismatch
    return problems
}

/// The bucket table against buckets computed here from each success's duration.
private func bucketsFromSessions(_ db: Database) throws -> [String] {
    var expected: [String: Int64] = [:]
    let rows = try Row.fetchCursor(db, sql: """
        SELECT CAST(s.started_at / 60 AS INTEGER) * 60 AS minute, f.filter AS filter, s.duration AS duration
        FROM sessions s JOIN session_filters f ON f.session_id = s.id WHERE s.outcome = 'success'
        """)
    while let row = try rows.next() {
        let micros = Int64(((row["duration"] as Double) * 1_000_000).rounded())
        let key = "\(row["minute"] as Int64)/\(row["filter"] as String)/\(Schema.handshakeBucket(microseconds: micros))"
        expected[key, default: 0] += 1
    }
    var actual: [String: Int64] = [:]
    for row in try Row.fetchAll(db, sql: "SELECT minute, filter, bucket, count FROM rollup_handshake_buckets") {
        actual["\(row["minute"] as Int64)/\(row["filter"] as String)/\(row["bucket"] as Int)"] = row["count"]
    }
    if expected == actual { return [] }
    let keys = Set(expected.keys).symmetricDifference(actual.keys)
        .union(expected.keys.filter { actual[$0] != nil && actual[$0] != expected[$0] })
    return keys.sorted().prefix(10).map { "bucket \($0): sessions \(expected[$0] ?? 0), table \(actual[$0] ?? 0)" }
}

/// Exact nearest-rank percentile of sorted values.
func nearestRank(_ sorted: [Double], _ fraction: Double) -> Double {
    let rank = max(1, Int((fraction * Double(sorted.count)).rounded(.up)))
    return sorted[min(rank, sorted.count) - 1]
}

/// The elements of `tcpeek query --format json` (an array of objects).
func parseJSONArray(_ text: String) throws -> [[String: Any]] {
    guard let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
        throw StoreTestError("not a JSON array: \(text.prefix(500))")
    }
    return array
}

/// A capture handed to a recorder through a FIFO, part by part, so that the
/// recorder is still reading (and writing its database) while the test acts,
/// however fast the build or loaded the machine. `path` is what `-r` reads.
final class CaptureFIFO {
    let path: String
    private let bytes: Data
    private var written = 0
    private var descriptor: Int32

    init(capture: String, at path: String) throws {
        self.path = path
        bytes = try Data(contentsOf: URL(fileURLWithPath: capture))
        guard mkfifo(path, 0o600) == 0 else { throw StoreTestError("mkfifo \(path): \(String(cString: strerror(errno)))") }
        // O_RDWR does not wait for the reader to open its end (Linux).
        descriptor = open(path, O_RDWR)
        guard descriptor >= 0 else { throw StoreTestError("open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { finish() }

    /// Writes the capture up to `fraction` of its bytes; blocks until the
    /// reader has taken all but a pipe's worth.
    func feed(upTo fraction: Double) throws {
        let end = min(bytes.count, Int(Double(bytes.count) * fraction))
        try bytes.withUnsafeBytes { buffer in
            while written < end {
                let count = write(descriptor, buffer.baseAddress! + written, end - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw StoreTestError("writing \(path): \(String(cString: strerror(errno)))")
                }
                written += count
            }
        }
    }

    /// Ends the file: the reader sees its end once it has read everything.
    func finish() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }
}

// MARK: - Recording in process

/// Records into `path` through a `Recorder` of this process, with no
/// capture: `feed` pushes sessions onto its queue; then the queue is
/// closed, the run finished, `finished` called (the database still open)
/// and the database closed.
@discardableResult
func recordInProcess(into path: String, filters: [String] = ["all:ANY@*:*"], options: RecorderOptions = RecorderOptions(),
                     feed: (Recorder) throws -> Void, finished: (Recorder) throws -> Void = { _ in }) throws -> Recorder {
    let database = try HistoryDatabase.openForRecording(path: path)
    defer { database.close() }
    let run = RunInfo(startedAt: 1_800_000_000, sourceKind: "file", source: "synthetic",
                      filters: try filters.map { try Filter.parse($0) }, host: nil, version: "test", libpcap: nil)
    let recorder = try Recorder(database: database, run: run, options: options, logger: Logger(label: "test"))
    recorder.start()
    try feed(recorder)
    recorder.queue.close()
    recorder.finish(RunEnd(endedAt: 1_800_000_500, capture: nil, evicted: 0, stillOpen: 0))
    try finished(recorder)
    return recorder
}

/// A child spawned and reaped here (posix_spawn, waitpid), for
/// clickhouse-server and whatever runs beside it: with clickhouse-server a
/// Foundation `Process` child, every `Process` started after it stayed a
/// zombie with `isRunning` true (seen by FleetShipTests and FleetQueryTests,
/// and in the whole suite, where every later test waited out its timeout).
final class ReapedChild: @unchecked Sendable {
    let argv: [String]
    let pid: pid_t
    private let outPath: String
    private let errPath: String
    private(set) var exitStatus: Int32?
    private(set) var finished = false

    init(_ argv: [String], in folder: String, environment: [String: String] = [:]) throws {
        self.argv = argv
        let tag = UUID().uuidString.prefix(8)
        outPath = folder + "/.out-\(tag)"
        errPath = folder + "/.err-\(tag)"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var variables = ProcessInfo.processInfo.environment
        variables["TZ"] = "UTC"
        for (key, value) in environment { variables[key] = value }
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArguments + cEnvironment).forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, argv[0], &actions, &attributes, cArguments, cEnvironment)
        guard spawned == 0 else { throw StoreTestError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        pid = child
    }

    var stdout: String { FileManager.default.contents(atPath: outPath).map { String(decoding: $0, as: UTF8.self) } ?? "" }
    var stderr: String { FileManager.default.contents(atPath: errPath).map { String(decoding: $0, as: UTF8.self) } ?? "" }

    /// Reaps the child if it has ended; true once it has.
    @discardableResult
    func poll() -> Bool {
        guard !finished else { return true }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return false }
        finished = true
        exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : nil
        return true
    }

    func signal(_ number: Int32) { if !poll() { kill(pid, number) } }

    var isRunning: Bool { !poll() }

    /// For callers outside async code (the server's stop).
    @discardableResult
    func waitForExitBlocking(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !poll() {
            if Date() >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    func waitForExit(timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !poll() {
            if Date() >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    func wait(timeout: Double, until condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            if poll() { return condition() }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    var transcript: String {
        "$ \(argv.joined(separator: " "))\n--- status \(exitStatus.map(String.init) ?? "none")\n--- stdout:\n\(stdout.prefix(4000))\n--- stderr:\n\(stderr.prefix(4000))"
    }
}

extension ReapedChild {
    /// Runs `argv` to completion (killed after `timeout`).
    static func run(_ argv: [String], in folder: String, environment: [String: String] = [:], timeout: Double = 120) async throws -> RunResult {
        let child = try ReapedChild(argv, in: folder, environment: environment)
        if !(await child.waitForExit(timeout: timeout)) {
            kill(child.pid, SIGKILL)
            _ = await child.waitForExit(timeout: 10)
            throw StoreTestError("`\(argv.joined(separator: " "))` did not finish within \(timeout) s:\n\(child.transcript)")
        }
        return RunResult(argv: argv, status: child.exitStatus, stdout: child.stdout, stderr: child.stderr)
    }
}
