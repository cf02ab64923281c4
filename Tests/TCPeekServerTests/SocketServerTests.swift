// The socket server in process, over a real UNIX socket: GET and REFRESH
// against figures the test controls, the protocol's errors, slow,
// vanishing and many clients, and the socket file's life (stale file,
// second instance, mode, removal).
import Foundation
import Logging
import Synchronization
import TCPeekCore
import TCPeekServer
import TCPeekStore
import TCPeekWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A capture's figures that the test changes while the server reads them.
final class SocketFakeCapture: Sendable {
    let filters: [Filter]
    let exclusions: [Filter]
    let databasePath: String?
    private let snapshot: Mutex<CaptureSnapshot>

    init(filterNames: [String], exclusions: [String] = [], databasePath: String? = nil) throws {
        filters = try filterNames.map { (name) throws(FilterParseError) in try Filter.parse("\(name):ANY@*:*") }
        self.exclusions = try exclusions.map { (text) throws(FilterParseError) in try Filter.parse(text) }
        self.databasePath = databasePath
        snapshot = Mutex(CaptureSnapshot(counters: Counters(filterCount: filterNames.count)))
    }

    func record(_ sessions: [Session]) {
        snapshot.withLock { for session in sessions { $0.counters.record(session) } }
    }

    func change(_ body: (inout CaptureSnapshot) -> Void) { snapshot.withLock { body(&$0) } }

    var current: CaptureSnapshot { snapshot.withLock { $0 } }

    var context: LiveContext {
        LiveContext(
            filters: filters, exclusions: exclusions, snapshot: { self.snapshot.withLock { $0 } }, notRecorded: { 0 },
            databasePath: databasePath, source: "test", version: "0.1.0", libpcapVersion: "libpcap (test)")
    }
}

/// A counter shared by client threads.
final class SocketClientCounter: Sendable {
    let value = Atomic<Int>(0)
}

let socketQuietLogger = Logger(label: "tcpeek.socket.test") { _ in SwiftLogNoOpLogHandler() }

/// A closed session in the filters of `mask`.
func socketSession(_ outcome: Outcome, at time: Timestamp, ms: Double = 10, mask: UInt64 = 1, dupSYN: UInt32 = 0,
                   dupSYNACK: UInt32 = 0, port: UInt16 = 40000) -> Session {
    Session(client: IPAddress(ipv4: 0x0A00_0001), server: IPAddress(ipv4: 0xC633_6402), clientPort: port, serverPort: 443,
            startedAt: time, duration: Timestamp.Duration(microseconds: Int64(ms * 1000)), outcome: outcome,
            dupSYN: dupSYN, dupSYNACK: dupSYNACK, filters: FilterMask(rawValue: mask))
}

func socketStart(_ capture: SocketFakeCapture, path: String, isLive: Bool = true,
                 configure: (inout SocketServer.Options) -> Void = { _ in }) throws -> SocketServer {
    var options = SocketServer.Options(path: path)
    configure(&options)
    return try SocketServer.start(options: options, context: capture.context, isLive: isLive, logger: socketQuietLogger)
}

@Suite("socket server in process")
struct SocketServerTests {
    // MARK: GET and REFRESH

    @Test("GET is CountsAnswer.getJSON of the snapshot; REFRESH gives deltas with unreach and abort counted as reject")
    func getAndRefresh() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["RX", "TX", "web"])
        let server = try socketStart(capture, path: folder.file("s.sock"))
        defer { server.stop() }
        let t = Timestamp(seconds: 1_700_000_000)
        capture.record([
            socketSession(.success, at: t, mask: 0b101, dupSYN: 1),
            socketSession(.success, at: t, mask: 0b001, dupSYNACK: 2),
            socketSession(.reject, at: t, mask: 0b101),
            socketSession(.unreach, at: t, mask: 0b001),
            socketSession(.abort, at: t, mask: 0b010),
            socketSession(.timeout, at: t, mask: 0b100),
        ])
        capture.change { $0.capture = CaptureStatistics(received: 1234, dropped: 5, interfaceDropped: 6) }
        let path = server.path

        let get = try await socketAskAsync(path, "GET")
        let expected = CountsAnswer.getJSON(filters: capture.filters, counters: capture.current.counters,
                                      capture: CaptureStatistics(received: 1234, dropped: 5, interfaceDropped: 6))
        #expect(get == expected + "\n")
        #expect(get.hasPrefix(#"[{"RX":{"success":{"total":2,"dupsyn":1,"dupsynack":1},"failure":{"total":2,"timeout":0,"reject":1,"unreach":1,"abort":0}}}"#))
        #expect(get.hasSuffix(#"{"pcap":{"stats":{"recv":1234,"drop":5,"ifdrop":6}}}]"# + "\n"))

        let first = try await socketAskAsync(path, "REFRESH")
        #expect(first == #"[{"RX":{"success":{"total":2,"dupsyn":1,"dupsynack":1},"failure":{"total":2,"timeout":0,"reject":2}}},"#
            + #"{"TX":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":1,"timeout":0,"reject":1}}},"#
            + #"{"web":{"success":{"total":1,"dupsyn":1,"dupsynack":0},"failure":{"total":2,"timeout":1,"reject":1}}}]"# + "\n")

        capture.record([
            socketSession(.success, at: t, mask: 0b001),
            socketSession(.abort, at: t, mask: 0b001),
            socketSession(.unreach, at: t, mask: 0b100),
            socketSession(.timeout, at: t, mask: 0b010),
        ])
        let second = try await socketAskAsync(path, "REFRESH\r")
        #expect(second == #"[{"RX":{"success":{"total":1,"dupsyn":0,"dupsynack":0},"failure":{"total":1,"timeout":0,"reject":1}}},"#
            + #"{"TX":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":1,"timeout":1,"reject":0}}},"#
            + #"{"web":{"success":{"total":0,"dupsyn":0,"dupsynack":0},"failure":{"total":1,"timeout":0,"reject":1}}}]"# + "\n")
        let third = try await socketAskAsync(path, "refresh")
        #expect(third == CountsAnswer.refreshJSON(filters: capture.filters, deltas: Array(repeating: FilterCounters(), count: 3)) + "\n")
        // REFRESH never changes GET's totals.
        let again = try await socketAskAsync(path, "GET")
        #expect(again.contains(#"{"RX":{"success":{"total":3,"dupsyn":1,"dupsynack":1},"failure":{"total":3,"timeout":0,"reject":1,"unreach":1,"abort":1}}}"#))
    }

    @Test("concurrent REFRESHes never count a session twice")
    func concurrentRefreshes() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["ALL"])
        let server = try socketStart(capture, path: folder.file("s.sock"))
        defer { server.stop() }
        let path = server.path
        let t = Timestamp(seconds: 1_700_000_000)
        let answers = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    try await socketOffPool {
                        var answers: [String] = []
                        for _ in 0..<10 {
                            if worker == 0 { capture.record([socketSession(.reject, at: t)]) }
                            answers.append(try socketAsk(path, "REFRESH"))
                        }
                        return answers
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let last = try await socketAskAsync(path, "REFRESH")
        var total: UInt64 = 0
        for answer in answers + [last] {
            let element = try #require((try socketJSON(answer) as? [[String: [String: [String: UInt64]]]])?.first?["ALL"])
            total += element["failure"]?["reject"] ?? 0
        }
        #expect(total == 10)
    }

    @Test("FILTERS lists the filters and exclusions in use; HELP lists the requests")
    func filtersAndHelp() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["RX", "web"], exclusions: [":RX@*:22", ":TX@[2001:db8::/32]:22:2222"])
        let server = try socketStart(capture, path: folder.file("s.sock"))
        defer { server.stop() }
        let filters = try #require(try socketJSON(try await socketAskAsync(server.path, "FILTERS")) as? [String: [[String: Any]]])
        #expect(filters["filters"]?.map { $0["name"] as? String } == ["RX", "web"])
        #expect(filters["filters"]?.first?["expression"] as? String == "RX:ANY@*:*")
        #expect(filters["exclusions"]?.map { $0["expression"] as? String } == [":RX@*:22", ":TX@[2001:db8::/32]:22:2222"])
        #expect(filters["exclusions"]?.last?["direction"] as? String == "TX")
        let help = try #require(try socketJSON(try await socketAskAsync(server.path, "HELP")) as? [String: [[String: String]]])
        #expect(help["requests"]?.compactMap { $0["request"]?.split(separator: " ").first.map(String.init) }
            == ["GET", "REFRESH", "WINDOW", "QUERY", "FILTERS", "STATUS", "HELP"])
    }

    // MARK: Errors and misbehaving clients

    @Test("malformed requests get {\"error\":...} and the connection closes", arguments: [
        ("BOGUS", "unknown request 'BOGUS'"),
        ("", "empty request"),
        ("WINDOW", "WINDOW needs a duration"),
        ("WINDOW forever", "cannot read the duration"),
        ("QUERY {nope", "not valid JSON"),
        (#"QUERY {"since":"1h"}"#, "--no-db"),  // this server has no database
        ("GET GET", "GET takes no argument"),
        ("\u{0}\u{1}\u{2}", "unknown request"),
    ])
    func malformedRequests(request: String, message: String) async throws {
        let folder = try SocketTempFolder()
        let server = try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: folder.file("s.sock"))
        defer { server.stop() }
        let answer = try await socketAskAsync(server.path, request)
        let error = try #require(socketError(answer), "answer: \(answer)")
        #expect(error.contains(message))
    }

    @Test("a request over 4 KiB is refused, with or without a line end, and the server goes on")
    func oversizedRequests() async throws {
        let folder = try SocketTempFolder()
        let server = try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: folder.file("s.sock"))
        defer { server.stop() }
        let path = server.path
        for request in [String(repeating: "G", count: 5000), "WINDOW " + String(repeating: "9", count: 4089) + "s\n",
                        String(repeating: "x", count: 1 << 20)] {
            let answer = try await socketOffPool {
                let connection = try SocketTestConnection(path: path)
                try? connection.send(request)  // the server may close before taking it all
                return try connection.readToEnd()
            }
            // A client still sending when the server hangs up may find the answer gone.
            #expect(socketError(answer) == "request longer than 4096 bytes" || (request.count > 10_000 && answer.isEmpty))
        }
        // 4095 bytes and "\n": exactly the limit, read (and refused for what it says).
        let longest = "WINDOW " + String(repeating: "1", count: 4087) + "s"
        #expect(longest.utf8.count + 1 == 4096)
        let answer = try await socketAskAsync(path, longest)
        #expect(socketError(answer)?.hasPrefix("WINDOW") == true)
        #expect(try await socketAskAsync(path, "GET").hasPrefix("[{\"RX\""))
    }

    @Test("silent and slow clients are dropped after 5 s; others are served meanwhile")
    func slowClientsAreDropped() async throws {
        let folder = try SocketTempFolder()
        let server = try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: folder.file("s.sock"))
        defer { server.stop() }
        let path = server.path
        async let silent: Double = socketOffPool {
            let connection = try SocketTestConnection(path: path, timeout: 15)
            let connected = Date()
            let answer = try connection.readToEnd()
            guard answer.isEmpty else { throw SocketTestError("a silent client got '\(answer)'") }
            return Date().timeIntervalSince(connected)
        }
        async let trickle: Double = socketOffPool {
            let connection = try SocketTestConnection(path: path, timeout: 15)
            let connected = Date()
            for letter in ["G", "E"] {  // a byte a second, never a line end
                try connection.send(letter)
                sleep(1)
            }
            let answer = try connection.readToEnd()
            guard answer.isEmpty else { throw SocketTestError("a trickling client got '\(answer)'") }
            return Date().timeIntervalSince(connected)
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await socketAskAsync(path, "GET").hasPrefix("[{"))
        let (silentClosed, trickleClosed) = try await (silent, trickle)
        // 5 s after connecting (a loaded test machine may add some).
        #expect(silentClosed > 4.8 && silentClosed < 12, "dropped after \(silentClosed) s")
        #expect(trickleClosed > 4.8 && trickleClosed < 12, "dropped after \(trickleClosed) s")
    }

    @Test("clients that leave mid-request or mid-answer do not disturb the server")
    func vanishingClients() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["RX", "TX"])
        let server = try socketStart(capture, path: folder.file("s.sock"))
        defer { server.stop() }
        let path = server.path
        let feed = try #require(server.feed)
        try await socketOffPool {
            for index in 0..<60 {
                let connection = try SocketTestConnection(path: path)
                switch index % 3 {
                case 0: try connection.send("GET\n")  // leaves before the answer
                case 1: try connection.send("WINDOW 1h\n")  // leaves while the pool works
                default: try connection.send("HEL")  // leaves mid-request
                }
                // The connection closes here, unread.
            }
        }
        feed.push([socketSession(.success, at: Timestamp(seconds: 1_700_000_000))], waitWhenFull: false)
        #expect(try await socketAskAsync(path, "GET").hasPrefix("[{\"RX\""))
        // Half-closed after a request without a line end: still answered.
        let answer = try await socketOffPool {
            let connection = try SocketTestConnection(path: path)
            try connection.send("FILTERS")
            connection.shutdownWrite()
            return try connection.readToEnd()
        }
        #expect(answer.hasPrefix("{\"filters\""))
    }

    @Test("200 clients at once are all answered while sessions keep coming")
    func twoHundredClients() async throws {
        let folder = try SocketTempFolder()
        let capture = try SocketFakeCapture(filterNames: ["RX", "TX"])
        // A small ring: what is measured is serving clients, not scanning a big one.
        let server = try socketStart(capture, path: folder.file("s.sock")) { $0.recent = SocketRecentSessions(capacity: 20_000) }
        defer { server.stop() }
        let path = server.path
        let feed = try #require(server.feed)
        let now = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000))
        let keepFeeding = Atomic<Bool>(true)
        let fed = Atomic<Int>(0)
        let feeder = Thread {
            while keepFeeding.load(ordering: .relaxed) {
                let batch = (0..<50).map { socketSession($0 % 5 == 0 ? .reject : .success, at: now, ms: Double($0), mask: 0b11) }
                feed.push(batch, waitWhenFull: false)
                capture.record(batch)
                fed.add(batch.count, ordering: .relaxed)
                usleep(5000)  // 10,000 sessions a second
            }
        }
        feeder.start()
        defer { keepFeeding.store(false, ordering: .relaxed) }
        let requests = ["GET", "WINDOW 1h", "FILTERS", "HELP"]
        // 200 threads wait at a gate, then all connect, ask and read at once.
        let gate = DispatchSemaphore(value: 0)
        let waiting = SocketClientCounter()
        let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await socketOffPool {
                        waiting.value.add(1, ordering: .relaxed)
                        gate.wait()
                        return (index, try socketAsk(path, requests[index % requests.count], timeout: 45))
                    }
                }
            }
            while waiting.value.load(ordering: .relaxed) < 200 { try await Task.sleep(for: .milliseconds(10)) }
            for _ in 0..<200 { gate.signal() }
            return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        keepFeeding.store(false, ordering: .relaxed)
        #expect(answers.count == 200)
        for (index, answer) in answers {
            let value = try? socketJSON(answer)
            #expect(value != nil && socketError(answer) == nil, "client \(index): \(answer.prefix(200))")
        }
        #expect(fed.load(ordering: .relaxed) > 0)
    }

    // MARK: The socket file

    @Test("the socket file gets mode 0660 (or --socket-mode) and the group; stop removes it and the lock")
    func modeGroupAndRemoval() async throws {
        let folder = try SocketTempFolder()
        let path = folder.file("sub/dir/s.sock")  // folders are created
        let group = try #require(getgrnam("daemon")).pointee.gr_gid
        let server = try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: path) { options in
            options.access.mode = 0o640
            options.access.group = group
        }
        var status = stat()
        #expect(lstat(path, &status) == 0)
        #expect(status.st_mode & S_IFMT == S_IFSOCK)
        #expect(status.st_mode & 0o777 == 0o640)
        #expect(status.st_gid == group)
        #expect(FileManager.default.fileExists(atPath: path + ".lock"))
        server.stop()
        server.stop()  // twice is harmless
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: path + ".lock"))

        let plain = try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: path)
        #expect(lstat(path, &status) == 0 && status.st_mode & 0o777 == 0o660)
        plain.stop()
    }

    @Test("a stale socket file is replaced")
    func staleSocketReplaced() async throws {
        let folder = try SocketTempFolder()
        let path = folder.file("s.sock")
        try socketMakeStale(path)
        #expect(throws: (any Error).self) { try SocketTestConnection(path: path) }  // refused: stale
        let server = try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: path)
        defer { server.stop() }
        #expect(try await socketAskAsync(path, "GET").hasPrefix("[{\"RX\""))
    }

    @Test("a second server on the same path is refused and the first keeps serving")
    func secondInstanceRefused() async throws {
        let folder = try SocketTempFolder()
        let path = folder.file("s.sock")
        let first = try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: path)
        defer { first.stop() }
        #expect {
            try socketStart(try SocketFakeCapture(filterNames: ["TX"]), path: path)
        } throws: { error in
            "\(error)".contains("another tcpeek is serving the socket '\(path)'")
        }
        #expect(try await socketAskAsync(path, "GET").hasPrefix("[{\"RX\""))
    }

    @Test("a live socket of another program, or a file that is not a socket, is left alone")
    func foreignPathsRefused() throws {
        let folder = try SocketTempFolder()
        // Another program listening (no tcpeek lock beside it).
        let foreign = folder.file("other.sock")
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in foreign.utf8.enumerated() { buffer[index] = byte }
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(listen(descriptor, 4) == 0)
        #expect {
            try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: foreign)
        } throws: { error in
            "\(error)".contains("process \(getpid()) is listening on the socket '\(foreign)'")
        }
        #expect(FileManager.default.fileExists(atPath: foreign))

        let regular = folder.file("data.txt")
        #expect(FileManager.default.createFile(atPath: regular, contents: Data("keep me".utf8)))
        #expect {
            try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: regular)
        } throws: { error in
            "\(error)".contains("'\(regular)' exists and is not a socket")
        }
        #expect((try? String(contentsOfFile: regular, encoding: .utf8)) == "keep me")

        let long = folder.file(String(repeating: "x", count: 120))
        #expect {
            try socketStart(try SocketFakeCapture(filterNames: ["RX"]), path: long)
        } throws: { error in
            "\(error)".contains("a UNIX socket path holds at most 107")
        }
    }

    @Test("the default path is /var/run/tcpeek for root, else $XDG_RUNTIME_DIR, else /tmp/tcpeek-<uid>")
    func defaultPath() {
        #expect(SocketFile.defaultPath(euid: 0, environment: ["XDG_RUNTIME_DIR": "/run/user/0"]) == "/var/run/tcpeek/tcpeek.sock")
        #expect(SocketFile.defaultPath(euid: 1000, environment: ["XDG_RUNTIME_DIR": "/run/user/1000"]) == "/run/user/1000/tcpeek.sock")
        #expect(SocketFile.defaultPath(euid: 1000, environment: [:]) == "/tmp/tcpeek-1000/tcpeek.sock")
        #expect(SocketFile.defaultIsSharedTemporary(euid: 1000, environment: [:]))
        #expect(!SocketFile.defaultIsSharedTemporary(euid: 1000, environment: ["XDG_RUNTIME_DIR": "/run/user/1000"]))
        #expect(!SocketFile.defaultIsSharedTemporary(euid: 0, environment: [:]))
    }

    @Test("the /tmp fallback folder must be the user's own and writable by no one else, as ssh-agent requires")
    func privateFolder() throws {
        var template = Array("/tmp/tcpeek-private-XXXXXX".utf8CString)
        let base = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { _ = try? FileManager.default.removeItem(atPath: base) }
        let me = geteuid()
        // Missing: created, mode 0700.
        let fresh = base + "/fresh"
        try SocketFile.requirePrivateFolder(fresh, owner: me)
        var status = stat()
        #expect(stat(fresh, &status) == 0 && status.st_mode & 0o777 == 0o700)
        // Someone else's (here: owned by another uid than the one asked for).
        #expect(throws: SocketServerError.self) { try SocketFile.requirePrivateFolder(fresh, owner: me &+ 1) }
        do {
            try SocketFile.requirePrivateFolder(fresh, owner: me &+ 1)
        } catch {
            #expect(error.description.contains("belongs to uid \(me), not to this user (uid \(me &+ 1))"), "\(error)")
        }
        // Mode 0777, as a hostile user would leave it.
        let open = base + "/open"
        mkdir(open, 0o777)
        chmod(open, 0o777)
        do {
            try SocketFile.requirePrivateFolder(open, owner: me)
            Issue.record("a folder writable by others was accepted")
        } catch {
            #expect(error.description.contains("is writable by others (mode 777)"), "\(error)")
        }
        // A link to a good folder is refused too.
        let link = base + "/link"
        symlink(fresh, link)
        #expect(throws: SocketServerError.self) { try SocketFile.requirePrivateFolder(link, owner: me) }
        // Preparing a socket there refuses before anything is created.
        var access = SocketFile.Access()
        access.privateFolderOwner = me
        #expect(throws: SocketServerError.self) { _ = try SocketFile.prepare(path: open + "/tcpeek.sock", access: access) }
        #expect(!FileManager.default.fileExists(atPath: open + "/tcpeek.sock.lock"))
    }
}
