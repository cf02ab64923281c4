// A live `tcpeek record -i lo` inside a network namespace of its own
// (tcpk-sock-<pid>, only its loopback up), real TCP connections from
// python3 to 127.0.0.1, and clients over the real socket: GET and REFRESH
// arithmetic while traffic runs, 200 clients at once during a capture,
// WINDOW and QUERY on live data, tcpeekstat, and a clean exit.
import Foundation
import Synchronization
import TCPeekServer
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The namespace: created by the test, deleted (with whatever runs in it) in every case.
final class SocketNamespace: Sendable {
    let name: String
    let ip: String

    /// Why the test cannot run here, or nil.
    static let unavailable: String? = {
        guard geteuid() == 0 else { return "not root" }
        guard let ip = SocketTestPaths.tool("ip") else { return "no ip (iproute2)" }
        guard SocketTestPaths.tool("python3") != nil else { return "no python3" }
        let probe = "tcpk-sock-probe-\(getpid())"
        defer { _ = system("\(ip) netns del \(probe) 2>/dev/null") }
        return system("\(ip) netns add \(probe) 2>/dev/null") == 0 ? nil : "cannot create a network namespace"
    }()

    init() throws {
        ip = try #require(SocketTestPaths.tool("ip"))
        name = "tcpk-sock-\(getpid())"
        _ = system("\(ip) netns del \(name) 2>/dev/null")  // left by an earlier test of this process
        guard system("\(ip) netns add \(name)") == 0 else { throw SocketTestError("ip netns add \(name) failed") }
        guard system("\(ip) -n \(name) link set lo up") == 0 else {
            delete()
            throw SocketTestError("ip -n \(name) link set lo up failed")
        }
    }

    deinit { delete() }

    func delete() {
        _ = system("for p in $(\(ip) netns pids \(name) 2>/dev/null); do kill -9 $p; done; \(ip) netns del \(name) 2>/dev/null")
    }

    func run(_ argv: [String]) -> [String] { [ip, "netns", "exec", name] + argv }
}

/// Listens on 127.0.0.1:8080 (accepting and closing), then makes
/// `successes` connections to it and `rejects` to the closed 8081, spread
/// over `spread` seconds; prints `done`.
private let socketTrafficScript = """
    import socket, sys, threading, time
    successes, rejects, spread = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 8080)); server.listen(512)
    def serve():
        while True:
            connection, _ = server.accept(); connection.close()
    threading.Thread(target=serve, daemon=True).start()
    plan = [8080] * successes + [8081] * rejects
    for index, port in enumerate(plan):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except ConnectionRefusedError:
            pass
        time.sleep(spread / max(1, len(plan)))
    time.sleep(0.2)
    print("done", flush=True)
    """

@Suite("tcpeek record live in a network namespace, with its socket", .serialized)
struct SocketLiveTests {
    private func figures(_ answer: String, _ filter: String) -> [String: Int] {
        guard let elements = (try? socketJSON(answer)) as? [[String: Any]] else { return [:] }
        var result: [String: Int] = [:]
        for element in elements {
            guard let body = element[filter] as? [String: [String: Int]] else { continue }
            for (section, items) in body { for (item, value) in items { result["\(section).\(item)"] = value } }
        }
        return result
    }

    private func traffic(_ namespace: SocketNamespace, folder: SocketTempFolder, successes: Int, rejects: Int, spread: Double) async throws {
        let python = try #require(SocketTestPaths.tool("python3"))
        let result = try await socketRun(namespace.run([python, "-c", socketTrafficScript, "\(successes)", "\(rejects)", "\(spread)"]),
                                         folder: folder, timeout: 30)
        #expect(result.status == 0 && result.stdout == "done\n", "\(result.stderr)")
    }

    /// Polls GET until `check` holds (the capture publishes within ~0.1 s).
    private func waitFor(_ socket: String, _ request: String = "GET", _ check: (String) -> Bool) async throws -> String {
        var answer = ""
        for _ in 0..<150 {
            answer = (try? await socketAskAsync(socket, request)) ?? ""
            if check(answer) { return answer }
            try await Task.sleep(for: .milliseconds(40))
        }
        return answer
    }

    @Test("GET and REFRESH follow real handshakes; 200 clients at once lose nothing; WINDOW, QUERY and tcpeekstat agree",
          .enabled("needs root, iproute2, python3 and network namespaces") { SocketNamespace.unavailable == nil },
          .timeLimit(.minutes(3)))
    func liveCapture() async throws {
        let folder = try SocketTempFolder()
        let namespace = try SocketNamespace()
        defer { namespace.delete() }
        let socket = folder.file("live.sock"), database = folder.file("live.db")
        let tcpeek = try SocketChild(namespace.run([SocketTestPaths.tcpeek, "record", "-i", "lo", "-q", "-t", "2", "-U", socket,
                                                    "--db", database, "--batch-ms", "100",
                                                    "web:ANY@*:8080", "closed:ANY@*:8081"]),
                                     folder: folder, name: "tcpeek")
        defer { tcpeek.stop() }
        let up = try await waitFor(socket) { $0.hasPrefix(#"[{"RX""#) }
        try #require(up.hasPrefix(#"[{"RX""#), "tcpeek does not answer on \(socket):\n\(tcpeek.transcript)")

        // Phase 1: 5 handshakes to a listener, 3 to a closed port.
        try await traffic(namespace, folder: folder, successes: 5, rejects: 3, spread: 0.3)
        var get = try await waitFor(socket) { figures($0, "web")["success.total"] == 5 && figures($0, "closed")["failure.reject"] == 3 }
        #expect(figures(get, "web")["success.total"] == 5, "\(get)")
        #expect(figures(get, "closed")["failure.reject"] == 3)
        #expect(figures(get, "RX")["success.total"] == 5 && figures(get, "RX")["failure.reject"] == 3)  // both ends local: RX
        #expect(figures(get, "TX")["success.total"] == 0)
        let first = try await socketAskAsync(socket, "REFRESH")
        #expect(figures(first, "web")["success.total"] == 5)
        #expect(figures(first, "closed")["failure.reject"] == 3)
        #expect(figures(first, "closed")["failure.total"] == 3)
        #expect(!first.contains("pcap"))

        // Phase 2: 40 + 20 more while 200 clients ask at once.
        async let moreTraffic: Void = traffic(namespace, folder: folder, successes: 40, rejects: 20, spread: 1.0)
        let requests = ["GET", "WINDOW 1m", "FILTERS", "HELP", "WINDOW 10s"]
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<200 {
                group.addTask { try await socketAskAsync(socket, requests[index % requests.count], timeout: 20) }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        try await moreTraffic
        #expect(answers.count == 200)
        #expect(answers.allSatisfy { (try? socketJSON($0)) != nil && socketError($0) == nil })

        get = try await waitFor(socket) { figures($0, "web")["success.total"] == 45 && figures($0, "closed")["failure.reject"] == 23 }
        #expect(figures(get, "web")["success.total"] == 45, "\(get)")
        #expect(figures(get, "closed")["failure.reject"] == 23)
        #expect(get.contains(#""drop":0,"#), "no packet lost: \(get)")
        let second = try await socketAskAsync(socket, "REFRESH")
        #expect(figures(second, "web")["success.total"] == 40)
        #expect(figures(second, "closed")["failure.reject"] == 20)
        #expect(figures(second, "RX")["success.total"] == 40 && figures(second, "RX")["failure.reject"] == 20)

        // WINDOW: every session of this run started within the minute.
        let window = try await socketAskAsync(socket, "WINDOW 1m")
        let rows = try #require(try socketJSON(window) as? [[String: Any]])
        let web = try #require(rows.first { $0["filter"] as? String == "web" })
        #expect((web["success"] as? [String: Int])?["total"] == 45)
        #expect((web["handshake_ms"] as? [String: Any])?["p99"] is NSNumber)
        let closed = try #require(rows.first { $0["filter"] as? String == "closed" })
        #expect((closed["failure"] as? [String: Int])?["reject"] == 23)

        // QUERY: the recorder has written them (batches of 100 ms). The
        // last rejects may close in a later batch than the last success.
        let query = try await waitFor(socket, #"QUERY {"since":"10m","filter":["web","closed"]}"#) { answer in
            let rows = (try? socketJSON(answer)) as? [[String: Any]]
            return rows?.contains { ($0["success"] as? [String: Int])?["total"] == 45 } == true
                && (rows?.last?["failure"] as? [String: Int])?["reject"] == 23
        }
        let queried = try #require(try socketJSON(query) as? [[String: Any]], "\(query)")
        #expect(queried.map { $0["filter"] as? String } == ["web", "closed"])
        #expect((queried.last?["failure"] as? [String: Int])?["reject"] == 23)

        // tcpeekstat sees the same.
        let table = try await socketRun([SocketTestPaths.tcpeekstat, "-U", socket, "--table"], folder: folder)
        #expect(table.status == 0)
        #expect(table.stdout.contains("\nweb          45       0       0        0        0       0        0      0\n"), "\(table.stdout)")
        let stat = try await socketRun([SocketTestPaths.tcpeekstat, "-U", socket, "-w", "5m", "-j"], folder: folder)
        #expect(stat.status == 0)
        #expect(stat.stdout.contains(#""filter":"closed""#))

        tcpeek.signal(SIGINT)
        #expect(await tcpeek.waitForExit(timeout: 10) == 0, "\(tcpeek.transcript)")
        #expect(!FileManager.default.fileExists(atPath: socket))
        #expect(tcpeek.stderr.contains("Success: 45 session"))
    }

    @Test("after -u nobody the socket still reads the database, and its file is removed on exit",
          .enabled("needs root, iproute2, python3 and network namespaces") { SocketNamespace.unavailable == nil },
          .enabled("needs the user nobody") { getpwnam("nobody") != nil },
          .timeLimit(.minutes(3)))
    func droppedPrivileges() async throws {
        let folder = try SocketTempFolder()
        #expect(chmod(folder.path, 0o777) == 0)  // the recorder, as nobody, keeps its database there
        let namespace = try SocketNamespace()
        defer { namespace.delete() }
        let socket = folder.file("run/tcpeek.sock"), database = folder.file("h.db")
        let tcpeek = try SocketChild(namespace.run([SocketTestPaths.tcpeek, "record", "-i", "lo", "-q", "-t", "2", "-u", "nobody",
                                                    "-U", socket, "--db", database, "--batch-ms", "100",
                                                    "web:ANY@*:8080", "closed:ANY@*:8081"]),
                                     folder: folder, name: "tcpeek")
        defer { tcpeek.stop() }
        let up = try await waitFor(socket) { $0.hasPrefix(#"[{"RX""#) }
        try #require(up.hasPrefix(#"[{"RX""#), "tcpeek does not answer on \(socket):\n\(tcpeek.transcript)")
        var status = stat()
        #expect(stat(folder.file("run"), &status) == 0 && status.st_uid == getpwnam("nobody")?.pointee.pw_uid)

        try await traffic(namespace, folder: folder, successes: 3, rejects: 2, spread: 0.2)
        _ = try await waitFor(socket) { figures($0, "web")["success.total"] == 3 && figures($0, "closed")["failure.reject"] == 2 }
        // WINDOW 1h reaches before this run: its older part comes from the database.
        let window = try await socketAskAsync(socket, "WINDOW 1h")
        #expect(socketError(window) == nil, "\(window)")
        let rows = (try? socketJSON(window)) as? [[String: Any]] ?? []
        #expect(rows.contains { $0["filter"] as? String == "web" && ($0["success"] as? [String: Int])?["total"] == 3 }, "\(window)")
        let query = try await waitFor(socket, #"QUERY {"since":"10m","filter":"closed"}"#) { answer in
            ((try? socketJSON(answer)) as? [[String: Any]])?.first.flatMap { ($0["failure"] as? [String: Int])?["reject"] } == 2
        }
        #expect(socketError(query) == nil, "\(query)")

        tcpeek.signal(SIGTERM)
        #expect(await tcpeek.waitForExit(timeout: 10) == 0, "\(tcpeek.transcript)")
        #expect(!FileManager.default.fileExists(atPath: socket), "\(tcpeek.transcript)")
    }
}
