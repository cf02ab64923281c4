// tcpeek over https to a real ClickHouse 18.16 (issue 16): its https port
// serves a certificate for 127.0.0.1 signed by a throwaway CA
// (ClickHouseTestCertificates). `ship`, `record --ship` and `query
// --clickhouse` trust it with --clickhouse-ca-file; without that file (the
// system's roots do not know the CA), with another CA, or with an https URL
// given the plain http port, they exit 1 at once saying so; a CA file that
// cannot be used is a usage error before any connection.
import Foundation
import Testing
@testable import TCPeekFleet
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct ClickHouseTLSTests {
    static let environment = ["TCPEEK_CLICKHOUSE_USER": ClickHouseTestServer.user]

    /// `tcpeek COMMAND ARGS` with the server's password file.
    static func tcpeek(_ server: ClickHouseTestServer, in folder: TemporaryFolder, _ arguments: [String],
                       timeout: Double = 60) async throws -> RunResult {
        let tcpeek = try StorePaths.requireTCPeek()
        return try await ReapedChild.run([tcpeek] + arguments + ["--clickhouse-password-file", server.passwordFile],
                                         in: folder.path, environment: environment, timeout: timeout)
    }

    static func sessions(_ db: String) throws -> Int {
        try inspect(db) { try Int.fetchOne($0, sql: "SELECT count(*) FROM sessions") ?? 0 }
    }

    /// The shipped sessions of `host`, asked over the plain http port.
    static func shipped(_ server: ClickHouseTestServer, host: String) throws -> Int {
        Int(try server.execute("SELECT count() FROM tcpeek.sessions WHERE host = '\(host)' FORMAT TSV")
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// `ship --init --once`, `record --ship` (dropping to nobody) and `query
    /// --clickhouse` to the https port with the CA file: the rows arrive and
    /// the answers equal the local ones. The https port speaks only TLS, so
    /// an answer proves it.
    @Test func shipRecordAndQueryOverHTTPSWithTheCAFile() async throws {
        let server = try ClickHouseTestServer(label: "ch-https", https: true)
        defer { server.stop() }
        let folder = try TemporaryFolder("https-ship")
        defer { folder.remove() }
        let ca = try #require(server.certificates?.caFile)
        let db = folder.file("h.db")
        let recorded = try await FleetShipTests.record("ndpi__gnutella", db: db, in: folder)
        try #require(recorded.status == 0, "\(recorded)")

        let shipped = try await Self.tcpeek(server, in: folder, ["ship", "--init", "--once", "--db", db, "--host", "h",
                                                                 "--clickhouse-ca-file", ca, server.httpsURL])
        #expect(shipped.status == 0, "\(shipped)")
        let rows = try Self.sessions(db)
        #expect(rows > 0)
        #expect(shipped.stderr.contains("shipped \(rows) sessions to \(server.httpsURL)tcpeek"), "\(shipped)")
        #expect(try Self.shipped(server, host: "h") == rows)

        let question = FleetQueryTests.range + ["--by", "day", "--format", "json"]
        let fleet = try await Self.tcpeek(server, in: folder, ["query", "--clickhouse", server.httpsURL, "--clickhouse-ca-file", ca,
                                                               "--host", "h"] + question)
        #expect(fleet.status == 0, "\(fleet)")
        let local = try await ReapedChild.run([try StorePaths.requireTCPeek(), "query", "--db", db] + question, in: folder.path)
        try #require(local.status == 0, "\(local)")
        #expect(NSArray(array: try parseJSONArray(fleet.stdout)).isEqual(to: try parseJSONArray(local.stdout)),
                "fleet \(fleet.stdout.prefix(2000))\nlocal \(local.stdout.prefix(2000))")
        #expect(!(try parseJSONArray(local.stdout)).isEmpty)

        // The recorder drops to nobody before its first connection, and the
        // CA file is in the server's folder (0700): read before the drop.
        let open = folder.file("open")
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
        chmod(open, 0o777)
        let live = open + "/rec.db"
        let asNobody = geteuid() == 0 ? ["--user", "nobody"] : []
        let recordShipped = try await FleetShipTests.record(
            "zeek__echo-connections", db: live, in: folder,
            ["--host-label", "rec", "--ship", server.httpsURL, "--clickhouse-ca-file", ca, "--clickhouse-password-file", server.passwordFile]
                + asNobody,
            environment: Self.environment)
        #expect(recordShipped.status == 0, "\(recordShipped)")
        #expect(try Self.shipped(server, host: "rec") == Self.sessions(live), "\(recordShipped)")
        #expect(try FleetShipTests.cursor(live) == Int64(try Self.sessions(live)))
    }

    /// Without the CA file the system's roots do not trust the throwaway CA;
    /// a CA file of another CA does not either; an https URL given the plain
    /// http port fails its handshake. Each exits 1 at once (no silent
    /// retries until the timeout), names what is wrong and the fix, and
    /// ships nothing.
    @Test func untrustedCertificatesAndThePlainPortExitOneSayingWhy() async throws {
        let server = try ClickHouseTestServer(label: "ch-https-refuse", https: true)
        defer { server.stop() }
        let folder = try TemporaryFolder("https-refuse")
        defer { folder.remove() }
        let db = folder.file("h.db")
        let recorded = try await FleetShipTests.record("ndpi__instagram", db: db, in: folder)
        try #require(recorded.status == 0, "\(recorded)")
        // The tables, over the plain port: then only TLS can fail.
        let created = try await Self.tcpeek(server, in: folder, ["ship", "--init", server.url])
        try #require(created.status == 0, "\(created)")

        let started = Date()
        let untrusted = try await Self.tcpeek(server, in: folder, ["ship", "--once", "--db", db, server.httpsURL])
        #expect(untrusted.status == 1, "\(untrusted)")
        #expect(untrusted.stderr.contains("TLS certificate is not trusted"), "\(untrusted)")
        #expect(untrusted.stderr.contains("the system's root certificates"), "\(untrusted)")
        #expect(untrusted.stderr.contains("--clickhouse-ca-file"), "\(untrusted)")
        #expect(untrusted.stderr.contains(server.httpsURL), "\(untrusted)")
        #expect(!untrusted.stderr.contains("handshakeFailed"), "a raw enum dump: \(untrusted)")
        #expect(Date().timeIntervalSince(started) < 8, "it retried until the connect timeout (10 s): \(untrusted)")
        #expect(try FleetShipTests.cursor(db) == 0)

        let query = try await Self.tcpeek(server, in: folder, ["query", "--clickhouse", server.httpsURL, "--since", "all"])
        #expect(query.status == 1 && query.stderr.contains("TLS certificate is not trusted"), "\(query)")
        #expect(query.stderr.contains("--clickhouse-ca-file"), "\(query)")

        let other = try ClickHouseTestCertificates(in: folder.path, name: "other", commonName: "another CA")
        let wrongCA = try await Self.tcpeek(server, in: folder, ["ship", "--once", "--db", db, "--clickhouse-ca-file", other.caFile,
                                                                 server.httpsURL])
        #expect(wrongCA.status == 1, "\(wrongCA)")
        #expect(wrongCA.stderr.contains("TLS certificate is not trusted (the CA file \(other.caFile) did not verify it"), "\(wrongCA)")

        let ca = try #require(server.certificates?.caFile)
        let plainPort = "https://127.0.0.1:\(server.httpPort)/"
        let plainStarted = Date()
        let plain = try await Self.tcpeek(server, in: folder, ["ship", "--once", "--db", db, "--clickhouse-ca-file", ca, plainPort])
        #expect(plain.status == 1, "\(plain)")
        #expect(plain.stderr.contains("TLS handshake failed"), "\(plain)")
        #expect(plain.stderr.contains("is port \(server.httpPort) ClickHouse's https port"), "\(plain)")
        #expect(!plain.stderr.contains("handshakeFailed"), "a raw enum dump: \(plain)")
        #expect(Date().timeIntervalSince(plainStarted) < 8, "it retried until the connect timeout (10 s): \(plain)")
        #expect(try FleetShipTests.cursor(db) == 0)
        #expect(try Self.shipped(server, host: ProcessInfo.processInfo.hostName) == 0)
    }

    /// A certificate of a trusted CA for another name than the URL's: exit 1
    /// saying the certificate is not for that host.
    @Test func aCertificateForAnotherNameExitsOneSayingSo() async throws {
        let server = try ClickHouseTestServer(label: "ch-https-name", https: true, certificateFor: "DNS:clickhouse.example")
        defer { server.stop() }
        let folder = try TemporaryFolder("https-name")
        defer { folder.remove() }
        let ca = try #require(server.certificates?.caFile)
        let query = try await Self.tcpeek(server, in: folder, ["query", "--clickhouse", server.httpsURL, "--clickhouse-ca-file", ca,
                                                               "--since", "all"])
        #expect(query.status == 1, "\(query)")
        #expect(query.stderr.contains("TLS certificate is not for 127.0.0.1 (its CA is trusted, but it names other hosts)"), "\(query)")
        #expect(!query.stderr.contains("NIOSSLExtraError"), "\(query)")
    }

    /// A CA file tcpeek cannot use is a usage error (64) of each command,
    /// naming the file and what to give, before any connection: missing,
    /// a folder, not PEM (text, a key); and a CA file with an http:// URL
    /// (nothing would use it) is refused too. No server runs: none is asked.
    @Test func unusableCAFilesAreUsageErrors() async throws {
        let folder = try TemporaryFolder("https-ca-file")
        defer { folder.remove() }
        let certificates = try ClickHouseTestCertificates(in: folder.path)
        let notPEM = folder.file("not.pem")
        try "just text\n".write(toFile: notPEM, atomically: true, encoding: .utf8)
        let keyOnly = certificates.privateKeyFile
        let missing = folder.file("missing.pem")
        let cases: [(file: String, says: String)] = [
            (missing, "there is no such file"), (folder.path, "is a folder"),
            (notPEM, "holds no PEM certificate"), (keyOnly, "holds no PEM certificate"),
        ]
        for (file, says) in cases {
            #expect {
                try ClickHouseEndpoint.parse(url: "https://127.0.0.1/", caFile: file, environment: [:])
            } throws: { error in
                "\(error)".contains("'\(file)' (--clickhouse-ca-file)") && "\(error)".contains(says)
            }
        }
        let parsed = try ClickHouseEndpoint.parse(url: "https://127.0.0.1/", caFile: certificates.caFile, environment: [:])
        #expect(parsed.caFile == certificates.caFile)
        #expect(parsed.destination == "https://127.0.0.1:8443/tcpeek", "the CA file is no part of the cursor's name")
        #expect {
            try ClickHouseEndpoint.parse(url: "http://127.0.0.1/", caFile: certificates.caFile, environment: [:])
        } throws: { error in
            "\(error)".contains("is for https:// URLs") && "\(error)".contains("https://HOST:8443/")
        }

        // Through each command: exit 64 and the message, well before a
        // connection to a port nothing listens on could time out.
        let tcpeek = try StorePaths.requireTCPeek()
        let db = folder.file("h.db")
        let nowhere = "https://127.0.0.1:\(try clickHouseFreePort())/"
        let commands: [[String]] = [
            ["ship", "--once", "--db", db, nowhere],
            ["record", "-q", "-r", StorePaths.capture("ndpi__instagram.pcap"), "--db", db, "--ship", nowhere],
            ["query", "--clickhouse", nowhere],
        ]
        for command in commands {
            for (file, says) in cases + [(certificates.caFile, "is for https:// URLs")] {
                let url = says.contains("https://") ? [nowhere.replacingOccurrences(of: "https:", with: "http:")] : []
                let argv = command.map { $0 == nowhere && !url.isEmpty ? url[0] : $0 } + ["--clickhouse-ca-file", file]
                let result = try await ReapedChild.run([tcpeek] + argv, in: folder.path, timeout: 30)
                #expect(result.status == 64, "\(result)")
                #expect(result.stderr.contains("--clickhouse-ca-file") && result.stderr.contains(says), "\(result)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: db), "a usage error recorded nothing")
        let alone = try await ReapedChild.run([tcpeek, "query", "--db", db, "--clickhouse-ca-file", certificates.caFile], in: folder.path)
        #expect(alone.status == 64 && alone.stderr.contains("need --clickhouse URL"), "\(alone)")
    }
}
