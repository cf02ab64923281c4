// The built `tcpeekstat` against a running recorder (a capture file served
// with --stay): its table, JSON, window and history outputs, its messages
// when there is no tcpeek to ask, and its Ganglia feed into a real gmond.
import Foundation
import Synchronization
import TCPeekServer
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A listener on a UNIX socket that is not tcpeek: it reads a line and
/// answers `reply` (or nothing), once.
final class TcpeekstatFakePeer: Sendable {
    let path: String
    private let descriptor: Int32

    init(path: String, reply: String?) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(descriptor, 4) == 0 else { throw SocketTestError("cannot listen on \(path)") }
        let listener = descriptor
        let thread = Thread {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var byte: UInt8 = 0
            while recv(client, &byte, 1, 0) == 1, byte != UInt8(ascii: "\n") {}
            if let reply { _ = reply.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }
            close(client)
        }
        thread.start()
    }

    deinit {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
        unlink(path)
    }
}

/// A free port on 127.0.0.1 for `type` (SOCK_STREAM or SOCK_DGRAM).
func tcpeekstatFreePort(_ type: Int32) throws -> Int {
    let descriptor = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
        }
    }
    guard bound else { throw SocketTestError("no free port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Ganglia's gmond from Debian's ganglia-monitor, in the foreground, on
/// 127.0.0.1 only (UDP in and out, the XML port), with its own config file.
final class TcpeekstatGmond {
    let configuration: String
    let xmlPort: Int
    private let child: SocketChild

    /// Installs ganglia-monitor once if gmond or gmetric is missing.
    static let installed: String? = {
        if SocketTestPaths.tool("gmond") != nil, SocketTestPaths.tool("gmetric") != nil { return nil }
        guard geteuid() == 0, let apt = SocketTestPaths.tool("apt-get") else {
            return "gmond/gmetric missing and cannot install ganglia-monitor (not root or no apt-get)"
        }
        let command = "DEBIAN_FRONTEND=noninteractive \(apt) install -y -qq ganglia-monitor >/dev/null 2>&1"
            + " || (\(apt) update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \(apt) install -y -qq ganglia-monitor >/dev/null 2>&1)"
        let status = system(command)
        guard status == 0, SocketTestPaths.tool("gmond") != nil else { return "apt-get install ganglia-monitor failed (\(status))" }
        return nil
    }()

    init(folder: SocketTempFolder) async throws {
        if let problem = Self.installed { throw SocketTestError(problem) }
        let gmond = try #require(SocketTestPaths.tool("gmond"))
        let udpPort = try tcpeekstatFreePort(Int32(SOCK_DGRAM.rawValue))
        xmlPort = try tcpeekstatFreePort(Int32(SOCK_STREAM.rawValue))
        configuration = folder.file("gmond.conf")
        try """
            globals {
              daemonize = no
              setuid = no
              debug_level = 0
              mute = no
              deaf = no
              allow_extra_data = yes
              host_dmax = 0
              host_tmax = 20
              cleanup_threshold = 300
              gexec = no
              send_metadata_interval = 0
            }
            cluster { name = "tcpeek-test" }
            udp_send_channel {
              host = 127.0.0.1
              port = \(udpPort)
            }
            udp_recv_channel {
              bind = 127.0.0.1
              port = \(udpPort)
            }
            tcp_accept_channel {
              bind = 127.0.0.1
              port = \(xmlPort)
            }

            """.write(toFile: configuration, atomically: true, encoding: .utf8)
        child = try SocketChild([gmond, "-c", configuration, "-f"], folder: folder, name: "gmond")
        let deadline = Date().addingTimeInterval(10)
        while (try? xml()) == nil {
            guard Date() < deadline, child.isRunning else {
                child.stop(grace: 0.5)
                throw SocketTestError("gmond did not open its XML port \(xmlPort):\n\(child.transcript)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    deinit { child.stop(grace: 1) }

    /// gmond's XML, read from its TCP port on 127.0.0.1.
    func xml() throws -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(descriptor) }
        var time = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(xmlPort).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw SocketTestError("connect to gmond: \(String(cString: strerror(errno)))") }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            data.append(contentsOf: chunk[..<count])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// `NAME -> VAL` of every METRIC in the XML.
    func metrics() throws -> [String: String] {
        var result: [String: String] = [:]
        for match in try xml().matches(of: #/<METRIC NAME="([^"]+)" VAL="([^"]*)"/#) {
            result[String(match.1)] = String(match.2)
        }
        return result
    }
}

@Suite("tcpeekstat against a running tcpeek")
struct TcpeekstatTests {
    private func tcpeekstat(_ arguments: [String], folder: SocketTempFolder) async throws -> (status: Int32?, stdout: String, stderr: String) {
        try await socketRun([SocketTestPaths.tcpeekstat] + arguments, folder: folder)
    }

    @Test("table, JSON, window and history outputs carry the recorder's figures")
    func outputs() async throws {
        let folder = try SocketTempFolder()
        let (tcpeek, socket, _) = try await socketStayingRecorder(socketGnutella, folder: folder)
        defer { tcpeek.stop() }

        // The original tcpeekstat's layout, byte for byte: what its Python 2
        // script printed for this GET answer (keys in Python 2.7's order).
        let blocks = try await tcpeekstat(["-U", socket], folder: folder)
        #expect(blocks.status == 0, "\(blocks.stderr)")
        #expect(blocks.stdout == """
            ====== TCPEEK SUMMARY ======
            ----------------------------
             ALL
            ----------------------------
             failure
                 unreach             4
                 total              83
                 abort               0
                 timeout            67
                 reject             12
             success
                 total              56
                 dupsyn              2
                 dupsynack           0
            ============================

            """)

        let table = try await tcpeekstat(["-U", socket, "--table"], folder: folder)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout == """
            FILTER  SUCCESS  DUPSYN  DUPS/A  FAILURE  TIMEOUT  REJECT  UNREACH  ABORT
            ALL          56       2       0       83       67      12        4      0

            """)

        let json = try await tcpeekstat(["-U", socket, "-j"], folder: folder)
        #expect(json.status == 0)
        #expect(json.stdout == tcpeek.stdout)  // GET, as --json-summary printed it

        let window = try await tcpeekstat(["--socket", socket, "-w", "1h"], folder: folder)
        #expect(window.status == 0, "\(window.stderr)")
        let lines = window.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("FILTER  FROM                  TO                    SUCCESS") == true)
        let cells = lines.last?.split(separator: " ").map(String.init) ?? []
        #expect(cells.prefix(11) == ["ALL", "1969-12-31T23:10:01Z", "1970-01-01T00:10:01Z", "56", "2", "0", "83", "67", "12", "4", "0"])
        #expect(cells.count == 14 && cells.suffix(3).allSatisfy { Double($0) != nil }, "\(cells)")

        let windowJSON = try await tcpeekstat(["-U", socket, "--json", "--window", "510s"], folder: folder)
        #expect(windowJSON.stdout == (try await socketAskAsync(socket, "WINDOW 510s")))

        let history = try await tcpeekstat(["-U", socket, "--since", "1970-01-01T00:00:00Z", "--until", "1970-01-01T01:00:00Z"],
                                           folder: folder)
        #expect(history.status == 0, "\(history.stderr)")
        #expect(history.stdout.contains("ALL     1970-01-01T00:00:00Z  1970-01-01T01:00:00Z       56       2       0       83       67      12        4      0"),
                "\(history.stdout)")
        let historyJSON = try await tcpeekstat(["-U", socket, "-j", "--since", "all"], folder: folder)
        let rows = try #require(try socketJSON(historyJSON.stdout) as? [[String: Any]])
        #expect(rows.count == 1 && (rows.first?["success"] as? [String: Int])?["total"] == 56)

        let bad = try await tcpeekstat(["-U", socket, "--since", "yesterday"], folder: folder)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("tcpeekstat: error: tcpeek: QUERY: cannot read the time 'yesterday'"), "\(bad.stderr)")
    }

    @Test("-g sends REFRESH and reports through gmetric -c into a real gmond on 127.0.0.1")
    func gmetricFeedsGanglia() async throws {
        let folder = try SocketTempFolder()
        let gmond = try await TcpeekstatGmond(folder: folder)
        let (tcpeek, socket, _) = try await socketStayingRecorder(socketGnutella, folder: folder)
        defer { tcpeek.stop() }

        let feed = try await tcpeekstat(["-U", socket, "-g", "--gmetric-conf", gmond.configuration], folder: folder)
        #expect(feed.status == 0, "\(feed.stderr)")
        // Each command echoed before it runs, in the original's order.
        let gmetric = try #require(SocketTestPaths.tool("gmetric"))
        #expect(feed.stdout == """
            \(gmetric) -c \(gmond.configuration) -n tcpeek_ALL_failure_timeout -v 67 -t uint32
            \(gmetric) -c \(gmond.configuration) -n tcpeek_ALL_failure_reject -v 16 -t uint32
            \(gmetric) -c \(gmond.configuration) -n tcpeek_ALL_success_dupsyn -v 2 -t uint32
            \(gmetric) -c \(gmond.configuration) -n tcpeek_ALL_success_dupsynack -v 0 -t uint32

            """)
        let expected = ["tcpeek_ALL_failure_reject": "16", "tcpeek_ALL_failure_timeout": "67",
                        "tcpeek_ALL_success_dupsyn": "2", "tcpeek_ALL_success_dupsynack": "0"]
        var metrics: [String: String] = [:]
        for _ in 0..<100 {
            metrics = try gmond.metrics()
            if expected.allSatisfy({ metrics[$0.key] == $0.value }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        for (name, value) in expected { #expect(metrics[name] == value, "\(name)") }
        #expect(try gmond.xml().contains(#"<METRIC NAME="tcpeek_ALL_failure_reject" VAL="16" TYPE="uint32""#))

        // REFRESH moved on: a second feed reports zeros.
        let second = try await tcpeekstat(["-U", socket, "-g", "--gmetric-conf", gmond.configuration,
                                           "--gmetric-path", try #require(SocketTestPaths.tool("gmetric"))], folder: folder)
        #expect(second.status == 0, "\(second.stderr)")
        for _ in 0..<100 {
            metrics = try gmond.metrics()
            if expected.keys.allSatisfy({ metrics[$0] == "0" }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        for name in expected.keys { #expect(metrics[name] == "0", "\(name)") }

        let missing = try await tcpeekstat(["-U", socket, "-g", "--gmetric-path", folder.file("no-gmetric")], folder: folder)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("--gmetric-path: '\(folder.file("no-gmetric"))' is not an executable file"))
    }

    /// The original took any name before the first ':'; scripts use names
    /// such as `api/v2` or `c++#1`. Every place a name goes keeps it whole.
    @Test("a filter named with '/', '+', '#', ',', a space and quotes: socket, tcpeekstat, gmetric, metrics, history")
    func filterNamesWithAnyCharacter() async throws {
        let folder = try SocketTempFolder()
        let name = #"api/v2+#1, "x"\"#
        let escaped = #"api/v2+#1, \"x\"\\"#  // in JSON and in Prometheus label values alike
        let port = try metricsFreePort()
        let socket = folder.file("tcpeek.sock"), database = folder.file("tcpeek.db")
        let tcpeek = try SocketChild([SocketTestPaths.tcpeek, "record", "-r", SocketTestPaths.capture(socketGnutella), "-q",
                                      "-U", socket, "--db", database, "--stay", "--metrics-listen", "127.0.0.1:\(port)",
                                      "\(name):ANY@*:*"], folder: folder, name: "tcpeek")
        defer { tcpeek.stop() }
        let ready = await tcpeek.wait(timeout: 30) { $0.stderr.contains("serving the socket \(socket) and metrics") }
        try #require(ready, "\(tcpeek.transcript)")

        let get = try await socketAskAsync(socket, "GET")
        #expect(get.contains(#"{"\#(escaped)":{"success":{"total":56,"dupsyn":2,"dupsynack":0},"#), "\(get)")
        let filters = try await socketAskAsync(socket, "FILTERS")
        #expect(filters.contains(#"{"name":"\#(escaped)","direction":"ANY""#), "\(filters)")

        let blocks = try await tcpeekstat(["-U", socket], folder: folder)
        #expect(blocks.status == 0, "\(blocks.stderr)")
        #expect(blocks.stdout.contains("----------------------------\n \(name)\n----------------------------\n failure\n"))
        let window = try await tcpeekstat(["-U", socket, "-w", "1h"], folder: folder)
        #expect(window.stdout.split(separator: "\n").contains { $0.hasPrefix(name + "  1969-12-31T23:10:01Z") }, "\(window.stdout)")

        let query = try await socketAskAsync(socket, #"QUERY {"since":"all","filter":"\#(escaped)"}"#)
        let rows = try #require(try socketJSON(query) as? [[String: Any]], "\(query)")
        #expect(rows.count == 1 && rows.first?["filter"] as? String == name)
        #expect((rows.first?["success"] as? [String: Int])?["total"] == 56)

        let metrics = try metricsHTTP(port: port, path: "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains(#"filter="\#(escaped)""#), "\(metrics.body)")

        let history = try await socketRun([SocketTestPaths.tcpeek, "query", "--db", database, "--since", "all",
                                           "--filter", name, "--format", "json"], folder: folder)
        #expect(history.status == 0, "\(history.stderr)")
        #expect(history.stdout.contains(#""filter":"\#(escaped)""#) && history.stdout.contains(#""total":56"#), "\(history.stdout)")
        let sessions = try await socketRun([SocketTestPaths.tcpeek, "query", "--db", database, "--since", "all", "--sessions",
                                            "--limit", "1", "--filter", name, "--format", "json"], folder: folder)
        #expect(sessions.stdout.contains(#""filters":["ALL","\#(escaped)"]"#), "\(sessions.stdout)")

        // gmetric gets the name as one word; the echo quotes it for a shell.
        let fake = folder.file("gmetric")
        try "#!/bin/sh\nprintf '%s|' \"$@\" >> \(folder.file("gmetric.calls"))\necho >> \(folder.file("gmetric.calls"))\n"
            .write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let feed = try await tcpeekstat(["-U", socket, "-g", "--gmetric-path", fake], folder: folder)
        #expect(feed.status == 0, "\(feed.stderr)")
        let echoed = feed.stdout.split(separator: "\n").map(String.init)
        #expect(echoed.count == 8)
        #expect(echoed.dropFirst(4).first == #"\#(fake) -n 'tcpeek_api/v2+#1, "x"\_failure_timeout' -v 67 -t uint32"#)
        let calls = try String(contentsOfFile: folder.file("gmetric.calls"), encoding: .utf8).split(separator: "\n")
        #expect(calls.dropFirst(4).first == #"-n|tcpeek_api/v2+#1, "x"\_failure_timeout|-v|67|-t|uint32|"#)
    }

    @Test("no tcpeek to ask: a clear message naming the path, exit status 1")
    func noTCPeek() async throws {
        let folder = try SocketTempFolder()
        let missing = try await tcpeekstat(["-U", folder.file("none.sock")], folder: folder)
        #expect(missing.status == 1)
        #expect(missing.stderr == "tcpeekstat: error: no socket at '\(folder.file("none.sock"))': is tcpeek running? "
            + "('tcpeek record' serves it for live captures; give another socket with -U PATH)\n")

        let stale = folder.file("stale.sock")
        try socketMakeStale(stale)
        let refused = try await tcpeekstat(["-U", stale, "-j"], folder: folder)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("nothing listens on '\(stale)'") && refused.stderr.contains("is tcpeek running?"))

        let regular = folder.file("plain.txt")
        _ = FileManager.default.createFile(atPath: regular, contents: Data("x".utf8))
        let notSocket = try await tcpeekstat(["-U", regular], folder: folder)
        #expect(notSocket.status == 1)
        #expect(notSocket.stderr.contains("'\(regular)' is not a socket"))

        for (name, reply, message) in [
            ("http", "HTTP/1.0 400 Bad Request\r\n\r\n", "does not answer like tcpeek ('HTTP/1.0 400 Bad Request"),
            ("json", #"{"hello":"world"}"#, "does not answer like tcpeek (unexpected JSON)"),
            ("mute", nil, "closed the connection without an answer"),
        ] as [(String, String?, String)] {
            let peer = try TcpeekstatFakePeer(path: folder.file("\(name).sock"), reply: reply)
            let result = try await tcpeekstat(["-U", peer.path, "-w", "5m"], folder: folder)
            #expect(result.status == 1, "\(name)")
            #expect(result.stderr.contains("the peer at '\(peer.path)'") && result.stderr.contains(message), "\(name): \(result.stderr)")
        }
    }

    @Test("flags: exclusive choices refused, version, help with the default socket path")
    func flags() async throws {
        let folder = try SocketTempFolder()
        for arguments in [["-g", "-j"], ["-g", "-w", "5m"], ["-w", "5m", "--since", "1h"], ["--until", "1h"],
                          ["--gmetric-conf", "/etc/ganglia/gmond.conf"], ["-w", "5 minutes"], ["--table", "-j"],
                          ["--table", "-g"], ["--table", "--status"]] {
            let result = try await tcpeekstat(arguments, folder: folder)
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
        }
        let version = try await tcpeekstat(["-v"], folder: folder)
        let tcpeekVersion = try await socketRun([SocketTestPaths.tcpeek, "-v"], folder: folder)
        #expect(version.stdout == "tcpeekstat 0.1.0\n")
        #expect(tcpeekVersion.stdout.hasPrefix("tcpeek 0.1.0\n"))  // one version for both
        let help = try await tcpeekstat(["-h"], folder: folder)
        #expect(help.status == 0)
        #expect(help.stdout.replacingOccurrences(of: "\n                          ", with: " ")
            .contains("-U, --socket <socket>   tcpeek's socket (default: \(SocketFile.defaultPath()))."), "\(help.stdout)")
        for flag in ["-j, --json", "--table", "-g, --gmetric", "--gmetric-path <gmetric-path>", "--gmetric-conf <gmetric-conf>",
                     "-w, --window <window>", "--since <since>", "--until <until>", "-v, --version", "-h, --help"] {
            #expect(help.stdout.contains(flag), "\(flag)")
        }
    }
}
