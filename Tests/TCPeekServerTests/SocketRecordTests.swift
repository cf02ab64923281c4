// `tcpeek record` as an operator runs it, serving its socket over a capture
// file (`--stay`): the answers against the file's known figures and against
// `tcpeek query`, the socket file's life, and the flags.
import Foundation
import TCPeekCore
import TCPeekServer
import TCPeekStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// ndpi__gnutella.pcap: 139 attempts (SPEC corpus notes), read with the
/// built-in ALL filter: 56 successes (2 with a retransmitted SYN), 67
/// timeouts, 26 rejects, 4 unreachables.
let socketGnutella = "ndpi__gnutella.pcap"

@Suite("tcpeek record with its socket (capture file, --stay)")
struct SocketRecordTests {
    @Test("GET, REFRESH, WINDOW, QUERY and FILTERS over a recorded file; SIGTERM removes the socket")
    func answersOverAFile() async throws {
        let folder = try SocketTempFolder()
        let (tcpeek, socket, database) = try await socketStayingRecorder(socketGnutella, folder: folder)
        defer { tcpeek.stop() }

        // GET: byte for byte the JSON summary (one function makes both).
        let get = try await socketAskAsync(socket, "GET")
        #expect(get == tcpeek.stdout)
        #expect(get.hasPrefix(#"[{"ALL":{"success":{"total":56,"dupsyn":2,"dupsynack":0},"failure":{"total":83,"timeout":67,"reject":12,"unreach":4,"abort":0}}}"#))

        // REFRESH: everything since start, unreach folded into reject; then nothing.
        let refresh = try await socketAskAsync(socket, "REFRESH\r")
        #expect(refresh == #"[{"ALL":{"success":{"total":56,"dupsyn":2,"dupsynack":0},"failure":{"total":83,"timeout":67,"reject":16}}}]"# + "\n")
        let again = try await socketAskAsync(socket, "REFRESH")
        #expect(again == #"[{"ALL":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":0,"timeout":0,"reject":0}}}]"# + "\n")

        // WINDOW over a file ends at the last packet's next second. Over 8.5
        // minutes it cuts the file's sessions in two; memory must say what
        // the database says for the same range.
        for duration in ["510s", "8.5m", "1h"] {
            let window = try await socketAskAsync(socket, "WINDOW \(duration)")
            let row = try #require((try socketJSON(window) as? [[String: Any]])?.first, "\(window)")
            let from = try #require(row["from"] as? String), to = try #require(row["to"] as? String)
            let query = try await socketRun([SocketTestPaths.tcpeek, "query", "--db", database, "--since", from, "--until", to,
                                             "--format", "json"], folder: folder)
            #expect(query.status == 0, "\(query.stderr)")
            #expect(window == query.stdout, "WINDOW \(duration)")
        }
        let cutAnswer = try await socketAskAsync(socket, "WINDOW 510s")
        let cut = try #require((try socketJSON(cutAnswer) as? [[String: Any]])?.first)
        let cutTotal = ((cut["success"] as? [String: Int])?["total"] ?? 0) + ((cut["failure"] as? [String: Int])?["total"] ?? 0)
        #expect(cutTotal > 0 && cutTotal < 139, "WINDOW 510s holds part of the file: \(cut)")
        let wholeAnswer = try await socketAskAsync(socket, "WINDOW 1h")
        let whole = try #require((try socketJSON(wholeAnswer) as? [[String: Any]])?.first)
        #expect(whole["to"] as? String == "1970-01-01T00:10:01Z")
        #expect((whole["success"] as? [String: Int])?["total"] == 56)
        #expect((whole["failure"] as? [String: Int])?["unreach"] == 4)
        #expect((whole["handshake_ms"] as? [String: Any])?["p50"] is NSNumber)

        // QUERY: the database's answer, in tcpeek query's JSON.
        let query = try await socketAskAsync(socket, #"QUERY {"since":"1970-01-01T00:00:00Z","until":"1970-01-01T00:30:00Z","by":"minute","filter":"ALL"}"#)
        let direct = try await socketRun([SocketTestPaths.tcpeek, "query", "--db", database, "--since", "1970-01-01T00:00:00Z",
                                          "--until", "1970-01-01T00:30:00Z", "--by", "minute", "--filter", "ALL", "--format", "json"],
                                         folder: folder)
        #expect(query == direct.stdout)
        #expect(query.contains(#""from":"1970-01-01T00:01:00Z""#))

        let filters = try await socketAskAsync(socket, "FILTERS")
        #expect(filters == #"{"filters":[{"name":"ALL","direction":"ANY","rules":["*:*"],"expression":"ALL:ANY@*:*"}],"exclusions":[]}"# + "\n")

        tcpeek.signal(SIGTERM)
        #expect(await tcpeek.waitForExit(timeout: 10) == 0, "\(tcpeek.transcript)")
        #expect(!FileManager.default.fileExists(atPath: socket))
        #expect(!FileManager.default.fileExists(atPath: socket + ".lock"))
    }

    @Test("a stale socket file is replaced; a second tcpeek on a live socket is refused with exit status 1")
    func staleReplacedSecondRefused() async throws {
        let folder = try SocketTempFolder()
        let socket = folder.file("new/tcpeek.sock")
        try FileManager.default.createDirectory(atPath: folder.file("new"), withIntermediateDirectories: true)
        try socketMakeStale(socket)
        let first = try SocketChild([SocketTestPaths.tcpeek, "record", "-r", SocketTestPaths.capture(socketGnutella), "-q",
                                     "-U", socket, "--db", folder.file("a.db"), "--stay"], folder: folder, name: "first")
        defer { first.stop() }
        let serving = await first.wait(timeout: 30) { $0.stderr.contains("serving the socket") }
        try #require(serving, "\(first.transcript)")
        #expect(first.stderr.contains("replaced a stale socket file"))
        var status = stat()
        #expect(lstat(socket, &status) == 0 && status.st_mode & 0o777 == 0o660)

        let second = try await socketRun([SocketTestPaths.tcpeek, "record", "-r", SocketTestPaths.capture(socketGnutella), "-q",
                                          "-U", socket, "--db", folder.file("b.db")], folder: folder)
        #expect(second.status == 1)
        #expect(second.stderr.contains("error: another tcpeek is serving the socket '\(socket)'"), "\(second.stderr)")
        #expect(try await socketAskAsync(socket, "GET").hasPrefix(#"[{"ALL""#))  // the first one still serves

        first.signal(SIGINT)
        #expect(await first.waitForExit(timeout: 10) == 0)
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test("--socket-mode and --socket-group set the socket file")
    func modeAndGroup() async throws {
        let folder = try SocketTempFolder()
        let (tcpeek, socket, _) = try await socketStayingRecorder(
            "tcpdump__tcp-handshake-nano.pcap", folder: folder, extra: ["--socket-mode", "0600", "--socket-group", "daemon"])
        defer { tcpeek.stop() }
        var status = stat()
        #expect(lstat(socket, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(status.st_gid == getgrnam("daemon")?.pointee.gr_gid)
    }

    @Test("flags that do not fit are refused before anything starts", arguments: [
        (["--no-socket", "-U", "/tmp/tcpk-x.sock"], "--no-socket excludes -U/--socket"),
        (["--stay"], "--stay needs -U PATH or --metrics-listen"),
        (["-U", "/tmp/tcpk-x.sock", "--socket-mode", "999"], "--socket-mode must be octal permissions"),
        (["-U", "/tmp/tcpk-x.sock", "--socket-mode", "rw"], "--socket-mode must be octal permissions"),
    ])
    func badFlags(flags: [String], message: String) async throws {
        let folder = try SocketTempFolder()
        let result = try await socketRun([SocketTestPaths.tcpeek, "record", "-r", SocketTestPaths.capture(socketGnutella),
                                          "--db", folder.file("x.db")] + flags, folder: folder)
        #expect(result.status == 64)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/tcpk-x.sock"))
    }

    @Test("--stay is for file reads; a file read serves no socket without -U; an unknown group is an error")
    func stayAndDefaults() async throws {
        let folder = try SocketTempFolder()
        let live = try await socketRun([SocketTestPaths.tcpeek, "record", "-i", "lo", "-U", folder.file("s.sock"), "--stay",
                                        "--db", folder.file("x.db")], folder: folder)
        #expect(live.status == 64)
        #expect(live.stderr.contains("--stay only applies to -r/--read"))

        let batch = try await socketRun([SocketTestPaths.tcpeek, "record", "-r", SocketTestPaths.capture(socketGnutella), "-q",
                                         "--db", folder.file("y.db"), "-l", "info"], folder: folder)
        #expect(batch.status == 0)
        #expect(!batch.stderr.contains("socket server listening"), "\(batch.stderr)")

        let group = try await socketRun([SocketTestPaths.tcpeek, "record", "-r", SocketTestPaths.capture(socketGnutella), "-q",
                                         "-U", folder.file("g.sock"), "--socket-group", "no-such-group-tcpk",
                                         "--db", folder.file("z.db")], folder: folder)
        #expect(group.status == 1)
        #expect(group.stderr.contains("--socket-group: no group named 'no-such-group-tcpk'"))
        #expect(!FileManager.default.fileExists(atPath: folder.file("g.sock")))

        let help = try await socketRun([SocketTestPaths.tcpeek, "record", "--help"], folder: folder)
        for flag in ["-U, --socket <socket>", "--no-socket", "--socket-mode <socket-mode>", "--socket-group <socket-group>", "--stay"] {
            #expect(help.stdout.contains(flag), "\(flag)")
        }
    }
}
