// The built `tcpeek` binary as a user runs it: output streams, exit
// statuses and messages. The binary is looked up next to the test bundle
// (or $TCPEEK_BINARY); see TestPaths.binary.
import Foundation
import TCPeekCapture
import TCPeekCore
import TCPeekText
import TCPeekWire
import Testing

enum DatabaseChoice: Sendable {
    case fresh
    case path(String)
    case omitted
}

struct ProcessResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the binary with `arguments`, `TZ=UTC`, and waits for it without
/// blocking Swift's shared pool. `database`: where the history database
/// goes (`--db`); by default a fresh one in a temporary directory, so that
/// tests never touch /var/lib/tcpeek and parallel runs do not share one;
/// `.omitted` passes no `--db` (for -v, --help and validation errors).
func runTCPeek(_ arguments: [String], database: DatabaseChoice = .fresh) async throws -> ProcessResult {
    let binary = try #require(TestPaths.binary, "no tcpeek binary next to the tests; build it or set TCPEEK_BINARY")
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("tcpeek-cli-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let outURL = directory.appendingPathComponent("stdout"), errURL = directory.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    var arguments = arguments
    switch database {
    case .fresh: arguments += ["--db", directory.appendingPathComponent("tcpeek.db").path]
    case .path(let path): arguments += ["--db", path]
    case .omitted: break
    }

    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["TZ"] = "UTC"
    environment["COLUMNS"] = "80"
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = out
    process.standardError = err
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    try out.close()
    try err.close()
    return ProcessResult(status: status,
                         stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                         stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

@Suite("tcpeek on the command line")
struct CommandLineTests {
    init() { UTC.ensure() }

    @Test("-r FILE --json-summary prints GET's JSON on stdout, matching the in-process counts", arguments: [
        "zeek__pop3-pop3.pcap", "ndpi__gnutella.pcap", "suricata__kill_router6.pcap", "ndpi__rtsp.pcap",
        "zeek__tcp-syn-then-rst.pcap",
    ])
    func jsonSummary(_ file: String) async throws {
        let path = TestPaths.capture(file)
        let result = try await runTCPeek(["-q", "-r", path, "--json-summary"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let run = try await runCapture(path)
        let expected = CountsAnswer.getJSON(filters: run.filters, counters: run.snapshot.counters, capture: nil)
        #expect(result.stdout == expected + "\n")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        #expect(parsed?.count == 1, "ALL alone: libpcap's counts are a live capture's")
    }

    @Test("live lines on stderr are the in-process sessions' lines, in order")
    func liveLines() async throws {
        let path = TestPaths.capture("zeek__pop3-pop3.pcap")
        let result = try await runTCPeek(["-r", path])
        #expect(result.status == 0)
        let run = try await runCapture(path)
        let expected = "\n" + Report.liveHeader + "\n" + run.sessions.map { Report.liveLine($0) + "\n" }.joined()
        #expect(result.stderr.contains(expected))
        #expect(result.stderr.contains(
            "   1.161 | 13-08-22 20:00:33.570 |     192.168.0.4:26242  212.227.15.188:110   | failure (reject)  |       2        0  reset-unattributed\n"),
            """
            one connect() refused three times (Windows re-sends the same SYN): one line, to the last refusal; \
            nothing else from that server to tell who sent the RST
            """)
        #expect(result.stdout.isEmpty, "without --json-summary nothing goes to stdout")
    }

    @Test("--local-addr gives RX and TX in the JSON")
    func localAddress() async throws {
        let result = try await runTCPeek(["-q", "-r", TestPaths.capture("zeek__pop3-pop3.pcap"),
                                          "--local-addr", "192.168.0.4", "--json-summary"])
        #expect(result.status == 0)
        #expect(result.stdout == #"[{"RX":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":0,"timeout":0,"reject":0,"unreach":0,"abort":0}}},"#
            + #"{"TX":{"success":{"total":5,"dupsyn":1,"dupsynack":0},"failure":{"total":2,"timeout":0,"reject":2,"unreach":0,"abort":0}}}]"#
            + "\n")
    }

    @Test("the built-in filters written out as the original's README shows them are accepted and counted once; names with '/', '+', '#'")
    func originalsFilterHabits() async throws {
        let path = TestPaths.capture("zeek__pop3-pop3.pcap")
        let result = try await runTCPeek(["-q", "-r", path, "--local-addr", "192.168.0.4", "--json-summary",
                                          "RX:RX@*:*", "TX:TX@%:%", "pop/3+#1:TX@*:110"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let tx = #"{"success":{"total":5,"dupsyn":1,"dupsynack":0},"failure":{"total":2,"timeout":0,"reject":2,"unreach":0,"abort":0}}"#
        #expect(result.stdout == #"[{"RX":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":0,"timeout":0,"reject":0,"unreach":0,"abort":0}}},"#
            + #"{"TX":\#(tx)},{"pop/3+#1":\#(tx)}]"# + "\n")
        #expect(result.stderr.components(separatedBy: "\n TX\n").count == 2, "one TX block in the summary: \(result.stderr)")

        // Another definition under a built-in name is still a mistake.
        let other = try await runTCPeek(["-q", "-r", path, "--local-addr", "192.168.0.4", "RX:RX@*:80"])
        #expect(other.status == 2)
        #expect(other.stderr.contains("filter 'RX:RX@*:80': the name 'RX' is already used by the built-in filter 'RX:RX@*:*'"),
                "stderr: \(other.stderr)")
    }

    @Test("-c 2 skips the SYN with a bad TCP checksum")
    func checksumOption() async throws {
        let path = TestPaths.capture("zeek__chksums-ip6-tcp-bad-chksum.pcap")
        let strict = try await runTCPeek(["-q", "-c", "2", "-r", path, "--json-summary"])
        #expect(strict.status == 0)
        #expect(strict.stdout.hasPrefix(#"[{"ALL":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":0,"#))
        let lax = try await runTCPeek(["-q", "-r", path, "--json-summary"])
        #expect(lax.stdout.hasPrefix(#"[{"ALL":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":1,"timeout":1,"#))
    }

    @Test("a bad filter expression exits 2 with a message quoting it", arguments: [
        ("web:XX@*:80", "XX"),
        ("web:RX@10.0.0.0/33:80", "/33"),
        ("web:RX@*:99999", "99999"),
    ])
    func badFilter(_ expression: String, _ part: String) async throws {
        let result = try await runTCPeek(["-r", TestPaths.capture("zeek__tcp-syn.pcap"), expression])
        #expect(result.status == 2)
        #expect(result.stderr.contains("'\(expression)'"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(part))
        #expect(!result.stderr.contains("TCPEEK SUMMARY"), "refused before capturing")
    }

    @Test("-c 3 is refused by option validation (exit 64)")
    func badChecksum() async throws {
        let result = try await runTCPeek(["-c", "3", "-r", TestPaths.capture("zeek__tcp-syn.pcap")], database: .omitted)
        #expect(result.status == 64)
        #expect(result.stderr.contains("-c/--checksum"))
        #expect(result.stderr.contains("0, 1 or 2"))
    }

    @Test("--checksum, --loglevel and --outcome list their values in --help and refuse others with them (exit 64)")
    func fixedValueSets() async throws {
        let record = try await runTCPeek(["record", "--help"], database: .omitted)
        #expect(record.status == 0)
        let recordHelp = record.stdout.replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression)
        #expect(recordHelp.contains("Checksums to verify. (default: 0) 0 - none 1 - IPv4 header 2 - IPv4 header and TCP/ICMP"),
                "\(recordHelp)")
        #expect(recordHelp.contains("(values: emerg, alert, crit, err, warning, notice, info, debug; default: notice)"),
                "\(recordHelp)")
        let query = try await runTCPeek(["query", "--help"], database: .omitted)
        let queryHelp = query.stdout.replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression)
        #expect(queryHelp.contains("only this outcome. (values: success, reject, abort, unreach, timeout)"), "\(queryHelp)")

        let file = TestPaths.capture("zeek__tcp-syn.pcap")
        let level = try await runTCPeek(["-l", "loud", "-r", file], database: .omitted)
        #expect(level.status == 64, "\(level.stderr)")
        #expect(level.stderr.contains("'loud'") && level.stderr.contains("- notice"), "\(level.stderr)")
        let outcome = try await runTCPeek(["query", "--sessions", "--outcome", "refused"], database: .omitted)
        #expect(outcome.status == 64, "\(outcome.stderr)")
        #expect(outcome.stderr.contains("'refused'") && outcome.stderr.contains("'reject'"), "\(outcome.stderr)")
        // Syslog's spellings in any case, and swift-log's, as before the enum.
        for spelling in ["LOG_WARNING", "Err", "error", "warn"] {
            let accepted = try await runTCPeek(["-q", "-l", spelling, "-r", file])
            #expect(accepted.status == 0, "-l \(spelling): \(accepted.stderr)")
        }
    }

    @Test("a missing file exits 1 with a clear message")
    func missingFile() async throws {
        let path = "/nonexistent/tcpeek-cli/capture.pcap"
        let result = try await runTCPeek(["-r", path, "--json-summary"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot read capture file '\(path)'"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("No such file or directory"))
        #expect(result.stdout.isEmpty)
    }

    @Test("a pcapng libpcap refuses exits 1 with libpcap's reason")
    func refusedFile() async throws {
        let result = try await runTCPeek(["-q", "-r", TestPaths.capture("zeek__ldap-gap-data-missing.pcapng")])
        #expect(result.status == 1)
        #expect(result.stderr.contains("zeek__ldap-gap-data-missing.pcapng"))
        #expect(result.stderr.contains("snapshot length"))
    }

    @Test("without the subcommand, tcpeek means tcpeek record")
    func defaultSubcommand() async throws {
        let path = TestPaths.capture("ndpi__tcp_scan.pcapng")
        let implicit = try await runTCPeek(["-r", path, "--json-summary", "web:ANY@*:80:443"])
        let explicit = try await runTCPeek(["record", "-r", path, "--json-summary", "web:ANY@*:80:443"])
        #expect(implicit.status == 0)
        #expect(implicit.status == explicit.status)
        #expect(implicit.stdout == explicit.stdout)
        #expect(implicit.stderr == explicit.stderr)
        #expect(implicit.stdout.contains(#"{"web":{"success":{"total":2,"#))
    }

    @Test("-q prints the summary but no live lines")
    func quiet() async throws {
        let result = try await runTCPeek(["-q", "-r", TestPaths.capture("zeek__pop3-pop3.pcap")])
        #expect(result.status == 0)
        #expect(!result.stderr.contains("TIME(s)"))
        #expect(!result.stderr.contains("failure (reject)"))
        #expect(result.stderr.contains("""
            ========== TCPEEK SUMMARY ==========
                 from : 2013-08-22 20:00:33
            """))
        #expect(result.stderr.contains("""
             ALL
               Success: 5 session
                 SYN Segment Duplicate :      1
                 S/A Segment Duplicate :      0
               Failure: 2 session
                 Connection Timed Out  :      0
                 Connection Rejected   :      2
            """))
        #expect(!result.stderr.contains("pcap stats"), "a file has no pcap statistics")
    }

    @Test("-v prints the version and libpcap's")
    func version() async throws {
        for flag in ["-v", "--version"] {
            let result = try await runTCPeek([flag], database: .omitted)
            #expect(result.status == 0)
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("tcpeek ") == true, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("libpcap version ") })
            #expect(result.stdout.contains(PcapHandle.libraryVersion))
        }
    }

    @Test("query --help states each default once; query --version prints the version")
    func queryHelpAndVersion() async throws {
        let help = try await runTCPeek(["query", "--help"], database: .omitted)
        #expect(help.status == 0)
        // Options and their help, each wrapped line joined to its option's.
        var options: [String] = []
        for line in help.stdout.split(separator: "\n").drop(while: { $0 != "OPTIONS:" }).dropFirst() {
            if line.hasPrefix("  -") { options.append(line.trimmingCharacters(in: .whitespaces)) }
            else if let last = options.indices.last { options[last] += " " + line.trimmingCharacters(in: .whitespaces) }
        }
        let squeezed = options.map { $0.replacingOccurrences(of: " +", with: " ", options: .regularExpression) }
        #expect(squeezed.contains("--since <time> Start of the range. (default: 1h)"), "\(squeezed)")
        #expect(squeezed.contains("""
            --by <by> Time buckets, or 'cause': each outcome's attempts per cause over the whole range, \
            or 'host' (with --clickhouse): each host's figures over the whole range. \
            (values: minute, hour, day, total, cause, host; default: total)
            """), "\(squeezed)")
        #expect(squeezed.contains("--local Show the table's times in local time (with the offset) instead of UTC."))
        #expect(squeezed.contains("--client <address> With --sessions: only this client address or network."))
        #expect(squeezed.contains("-v, --version Print the version and libpcap's, then exit."))
        for option in squeezed {
            #expect(option.components(separatedBy: "default:").count <= 2, "a default stated twice: \(option)")
            #expect(option.components(separatedBy: "minute").count <= 2, "values listed twice: \(option)")
        }

        for flag in ["--version", "-v"] {
            let version = try await runTCPeek(["query", flag], database: .omitted)
            #expect(version.status == 0, "\(version.stderr)")
            #expect(version.stdout.hasPrefix("tcpeek ") && version.stdout.contains(PcapHandle.libraryVersion), "\(version.stdout)")
            #expect(version.stderr.isEmpty, "\(version.stderr)")
        }
    }

    /// Words that name a direction the program does not accept.
    private static func unsupportedDirections(in text: String) -> [String] {
        let words = text.split { !($0.isLetter || $0.isNumber) }.map(String.init)
        return words.filter { $0 == "IN" || $0 == "OUT" }
    }

    @Test("record's help shows the filter syntax that works: RX, TX, ANY, never IN/OUT")
    func recordHelp() async throws {
        for arguments in [["record", "--help"], ["help", "record"], ["record", "-h"]] {
            let result = try await runTCPeek(arguments, database: .omitted)
            #expect(result.status == 0)
            let text = result.stdout + result.stderr
            #expect(text.contains("RX"), "\(arguments)")
            #expect(text.contains("TX"))
            #expect(text.contains("ANY"))
            #expect(text.contains("NAME:DIR@ADDR"))
            #expect(Self.unsupportedDirections(in: text).isEmpty, "\(arguments)")
        }
    }

    @Test("tcpeek --help (no subcommand, like the original's -h) shows the options and filter syntax")
    func topLevelHelp() async throws {
        for flag in ["--help", "-h"] {
            let result = try await runTCPeek([flag], database: .omitted)
            #expect(result.status == 0)
            let text = result.stdout + result.stderr
            #expect(Self.unsupportedDirections(in: text).isEmpty)
            // `tcpeek -i eth0 http:RX@%:80` is `tcpeek record ...`, so the
            // top-level help is where users of the original look.
            #expect(text.contains("-r, --read"), "tcpeek \(flag) does not list record's options")
            #expect(text.contains("RX") && text.contains("TX") && text.contains("ANY"),
                    "tcpeek \(flag) does not show the filter syntax")
        }
    }

    @Test("a first bare word that is neither subcommand nor filter is refused as such (exit 64)")
    func unknownWord() async throws {
        let result = try await runTCPeek(["bogus"], database: .omitted)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("unknown subcommand or filter 'bogus'; the subcommands are record, query, explain, ship, help"),
                "\(result.stderr)")
    }

    @Test("several tcpeek started together on a new database: one records at a time, none crashes or corrupts it")
    func concurrentStart() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tcpeek-cli-shared-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("tcpeek.db").path
        let path = TestPaths.capture("zeek__tcp-syn.pcap")
        let results = try await withThrowingTaskGroup(of: ProcessResult.self) { group in
            for _ in 0..<16 {
                group.addTask { try await runTCPeek(["-q", "-r", path], database: .path(database)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var recorded = 0
        for result in results {
            if result.status == 0 {
                recorded += 1
            } else {
                #expect(result.status == 1, "stderr: \(result.stderr)")
                #expect(result.stderr.contains("is being recorded by another tcpeek (pid "), "stderr: \(result.stderr)")
            }
        }
        #expect(recorded >= 1)
        let check = try await runTCPeek(["query", "--since", "1970-01-01T00:00:00Z", "--format", "csv", "--sessions"],
                                        database: .path(database))
        #expect(check.status == 0, "stderr: \(check.stderr)")
        let single = try await runTCPeek(["-q", "-r", path, "--json-summary"], database: .omitted)
        let perRun = single.stdout.components(separatedBy: "\"total\":").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }.reduce(0, +)
        #expect(check.stdout.split(separator: "\n").count - 1 == recorded * perRun,
                "each run that recorded holds its sessions once: \(check.stdout)")
    }
}
