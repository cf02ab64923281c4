// A throwaway ClickHouse server for the fleet tests (issue 16): Debian's
// `clickhouse-server` (18.16) in a temporary folder of its own (config,
// users, data, tmp and logs inside it), listening on 127.0.0.1 only on free
// HTTP and TCP ports (and an https port when asked, its certificate signed
// by a throwaway CA), with one user whose password is in a file; plus a
// tiny HTTP client for its HTTP interface (POST with a body, basic auth).
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One answer of the HTTP interface. ClickHouse reports errors in the
/// body (`Code: 193, e.displayText() = ...`) with a non-200 status.
struct ClickHouseAnswer: CustomStringConvertible {
    let status: Int
    let headers: [String: String]
    let body: String
    var description: String { "HTTP \(status): \(body)" }
}

/// How a request proves who it is: ClickHouse 18.16 takes HTTP basic auth,
/// the `X-ClickHouse-User`/`X-ClickHouse-Key` headers, or `user`/`password`
/// URL parameters (the last would put the password in logs: not offered).
enum ClickHouseCredentials {
    case none
    case basic(user: String, password: String)
    case headers(user: String, password: String)

    var httpHeaders: [String: String] {
        switch self {
        case .none: return [:]
        case let .basic(user, password):
            return ["Authorization": "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()]
        case let .headers(user, password):
            return ["X-ClickHouse-User": user, "X-ClickHouse-Key": password]
        }
    }
}

final class ClickHouseTestServer: @unchecked Sendable {
    static let user = "tcpeek"

    let folder: TemporaryFolder
    let httpPort: Int
    let tcpPort: Int
    /// The https port and its certificates, when started with `https: true`.
    let httpsPort: Int?
    let certificates: ClickHouseTestCertificates?
    /// The file holding the user's password (mode 0600), as `tcpeek ship` will read it.
    let passwordFile: String
    let password: String
    /// From the start of the process to the first `GET /ping` answering "Ok.".
    let startupSeconds: Double
    private var child: ReapedChild
    private let binary: String
    /// With a disk limit: the size in MiB of the tmpfs holding `data/`.
    private let diskLimit: Int?
    private let stopped = Mutex(false)

    /// `/usr/sbin/clickhouse-server`, or nil when the package is missing.
    static var binary: String? {
        let candidate = "/usr/sbin/clickhouse-server"
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    /// Starts a server and waits until it answers `/ping`. Throws (after
    /// cleaning up) when the package is missing or it does not come up.
    /// With `https`, also an https port, its certificate for `certificateFor`
    /// (OpenSSL's subjectAltName syntax).
    /// With `diskLimit`, `data/` is a tmpfs of that many MiB, mounted in a
    /// mount namespace of the server's own (`unshare`): a disk that can
    /// fill up without touching the machine's (`dataFolder`).
    init(label: String = "clickhouse", https: Bool = false, certificateFor: String = "IP:127.0.0.1",
         diskLimit: Int? = nil) throws {
        guard let binary = Self.binary else {
            throw StoreTestError("clickhouse-server is missing: install the Debian packages clickhouse-server and "
                                 + "clickhouse-client (make deps, as root)")
        }
        self.binary = binary
        self.diskLimit = diskLimit
        folder = try TemporaryFolder(label)
        chmod(folder.path, 0o700)  // The users file and the preprocessed copy hold the password.
        do {
            for name in ["data", "tmp", "log", "format_schemas"] {
                try FileManager.default.createDirectory(atPath: folder.file(name), withIntermediateDirectories: true)
            }
            password = UUID().uuidString
            passwordFile = folder.file("password")
            try password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
            chmod(passwordFile, 0o600)
            try Self.usersXML(password: password).write(toFile: folder.file("users.xml"), atomically: true, encoding: .utf8)
            certificates = https ? try ClickHouseTestCertificates(in: folder.path, subjectAltName: certificateFor) : nil
        } catch {
            folder.remove()
            throw error
        }
        var lastError = ""
        // Free ports may be taken between the probe and the bind: retry with new ones.
        for _ in 0..<3 {
            let http = try clickHouseFreePort()
            let tcp = try clickHouseFreePort()
            let secure = try certificates.map { ($0, try clickHouseFreePort()) }
            let configPath = folder.file("config.xml")
            try Self.configXML(folder: folder.path, httpPort: http, tcpPort: tcp, https: secure)
                .write(toFile: configPath, atomically: true, encoding: .utf8)
            let started = Date()
            let child = try ReapedChild(Self.command(binary, in: folder, diskLimit: diskLimit), in: folder.path)
            let deadline = started.addingTimeInterval(20)
            while child.isRunning, Date() < deadline {
                if let answer = try? clickHouseHTTP(port: http, method: "GET", path: "/ping"),
                   answer.status == 200, answer.body == "Ok.\n",
                   secure.map({ clickHouseAccepts(port: $0.1) }) ?? true
                {
                    httpPort = http
                    tcpPort = tcp
                    httpsPort = secure?.1
                    startupSeconds = Date().timeIntervalSince(started)
                    self.child = child
                    return
                }
                usleep(20_000)
            }
            child.signal(SIGKILL)
            _ = child.waitForExitBlocking(timeout: 10)
            lastError = child.stderr.suffix(2000) + (try? String(contentsOfFile: folder.file("log/error.log"), encoding: .utf8))
                .map { String($0.suffix(2000)) }.orEmpty
        }
        folder.remove()
        throw StoreTestError("clickhouse-server did not answer /ping within 20 s: \(lastError)")
    }

    /// Stalls the server (SIGSTOP): connections are accepted by the kernel,
    /// requests sit unread, nothing answers, until `resume`.
    func pause() { child.signal(SIGSTOP) }
    func resume() { child.signal(SIGCONT) }

    /// SIGTERM (a clean shutdown takes ~2 s), SIGKILL after `grace`, then
    /// removes the folder. Safe to call twice.
    func stop(grace: Double = 10) {
        let already = stopped.withLock { value in
            defer { value = true }
            return value
        }
        guard !already else { return }
        child.signal(SIGTERM)
        if !child.waitForExitBlocking(timeout: grace) {
            child.signal(SIGKILL)
            _ = child.waitForExitBlocking(timeout: 10)
        }
        folder.remove()
    }

    /// Kills the server at once (SIGKILL), keeping its folder: for tests of
    /// a store that vanishes mid-batch. `restart()` brings it back on the same ports.
    func kill() {
        child.signal(SIGKILL)
        _ = child.waitForExitBlocking(timeout: 10)
    }

    /// Starts the server again on its folder and ports after `kill()`;
    /// returns the seconds until `/ping` answered.
    @discardableResult
    func restart(timeout: Double = 20) throws -> Double {
        let started = Date()
        child = try ReapedChild(Self.command(binary, in: folder, diskLimit: diskLimit), in: folder.path)
        while child.isRunning, Date().timeIntervalSince(started) < timeout {
            if let answer = try? clickHouseHTTP(port: httpPort, method: "GET", path: "/ping"), answer.status == 200 {
                return Date().timeIntervalSince(started)
            }
            usleep(20_000)
        }
        throw StoreTestError("clickhouse-server did not come back on port \(httpPort): \(child.stderr.suffix(2000))")
    }

    deinit { stop() }

    /// The server's command: itself, or with a disk limit a shell in a new
    /// mount namespace that mounts the tmpfs and becomes the server.
    private static func command(_ binary: String, in folder: TemporaryFolder, diskLimit: Int?) -> [String] {
        let server = [binary, "--config-file=\(folder.file("config.xml"))"]
        guard let diskLimit else { return server }
        return ["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                "mount -t tmpfs -o size=\(diskLimit)m tcpeek-clickhouse \(folder.file("data")) && exec \(server.joined(separator: " "))"]
    }

    /// `data/` as the server sees it (through its mount namespace).
    var dataFolder: String {
        diskLimit == nil ? folder.file("data") : "/proc/\(child.pid)/root" + folder.file("data")
    }

    var isRunning: Bool { child.isRunning }
    var log: String { (try? String(contentsOfFile: folder.file("log/server.log"), encoding: .utf8)) ?? "" }

    /// `http://127.0.0.1:<port>/`, what `tcpeek ship` will be given.
    var url: String { "http://127.0.0.1:\(httpPort)/" }

    /// `https://127.0.0.1:<https port>/` (a server started with `https: true`).
    var httpsURL: String { "https://127.0.0.1:\(httpsPort ?? 0)/" }

    var credentials: ClickHouseCredentials { .basic(user: Self.user, password: password) }

    /// Runs `sql` (with `body` as the data of an INSERT, sent after the
    /// query as ClickHouse's HTTP interface allows: `?query=` holds the
    /// statement, the POST body its rows).
    func post(_ sql: String, body: String? = nil, settings: [String: String] = [:],
              credentials: ClickHouseCredentials? = nil) throws -> ClickHouseAnswer
    {
        let auth = credentials ?? self.credentials
        if let body {
            var parameters = settings
            parameters["query"] = sql
            return try clickHouseHTTP(port: httpPort, method: "POST", path: "/?" + clickHouseQueryString(parameters),
                                      headers: auth.httpHeaders, body: Data(body.utf8))
        }
        let path = settings.isEmpty ? "/" : "/?" + clickHouseQueryString(settings)
        return try clickHouseHTTP(port: httpPort, method: "POST", path: path, headers: auth.httpHeaders, body: Data(sql.utf8))
    }

    /// `post`, failing the calling test with ClickHouse's message unless it answered 200.
    @discardableResult
    func execute(_ sql: String, body: String? = nil, settings: [String: String] = [:]) throws -> String {
        let answer = try post(sql, body: body, settings: settings)
        guard answer.status == 200 else { throw StoreTestError("ClickHouse refused '\(sql.prefix(200))': \(answer)") }
        return answer.body
    }

    // MARK: Configuration

    /// The smallest config 18.16 starts with: everything inside `folder`,
    /// 127.0.0.1 only; a taken port makes the server exit (and `init` retry).
    /// With `https`, also an https port with that certificate: 18.16 reads
    /// `<openSSL><server>`, and needs no `dhParamsFile` with an EC key.
    static func configXML(folder: String, httpPort: Int, tcpPort: Int,
                          https: (certificates: ClickHouseTestCertificates, port: Int)? = nil) -> String {
        let secure = https.map { https in
            """
                <https_port>\(https.port)</https_port>
                <openSSL>
                    <server>
                        <certificateFile>\(https.certificates.certificateFile)</certificateFile>
                        <privateKeyFile>\(https.certificates.privateKeyFile)</privateKeyFile>
                        <verificationMode>none</verificationMode>
                        <loadDefaultCAFile>false</loadDefaultCAFile>
                        <disableProtocols>sslv2,sslv3</disableProtocols>
                    </server>
                </openSSL>
            """
        } ?? ""
        return """
        <?xml version="1.0"?>
        <yandex>
            <logger>
                <level>information</level>
                <log>\(folder)/log/server.log</log>
                <errorlog>\(folder)/log/error.log</errorlog>
                <size>100M</size>
                <count>1</count>
            </logger>
            <listen_host>127.0.0.1</listen_host>
            <http_port>\(httpPort)</http_port>
            <tcp_port>\(tcpPort)</tcp_port>
        \(secure)
            <path>\(folder)/data/</path>
            <tmp_path>\(folder)/tmp/</tmp_path>
            <user_files_path>\(folder)/data/user_files/</user_files_path>
            <format_schema_path>\(folder)/format_schemas/</format_schema_path>
            <users_config>users.xml</users_config>
            <default_profile>default</default_profile>
            <default_database>default</default_database>
            <mark_cache_size>5368709</mark_cache_size>
            <uncompressed_cache_size>8589934</uncompressed_cache_size>
            <max_concurrent_queries>50</max_concurrent_queries>
            <timezone>UTC</timezone>
        </yandex>

        """
    }

    /// One user, `tcpeek`, from 127.0.0.1 only; no `default` user, so a
    /// request without credentials is refused (401, "Unknown user default").
    static func usersXML(password: String) -> String {
        """
        <?xml version="1.0"?>
        <yandex>
            <profiles><default></default></profiles>
            <quotas><default></default></quotas>
            <users>
                <\(user)>
                    <password>\(password)</password>
                    <networks><ip>127.0.0.1</ip></networks>
                    <profile>default</profile>
                    <quota>default</quota>
                </\(user)>
            </users>
        </yandex>

        """
    }
}

private extension Optional where Wrapped == String {
    var orEmpty: String { self ?? "" }
}

extension Child {
    /// `waitForExit` for synchronous callers (`deinit`, `stop`).
    func waitForExitBlocking(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() >= deadline { return false }
            usleep(10_000)
        }
        return true
    }
}

// MARK: - HTTP

/// `key=value&...`, percent-encoded, sorted (stable request lines in failures).
func clickHouseQueryString(_ parameters: [String: String]) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return parameters.sorted { $0.key < $1.key }.map { key, value in
        key + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)
    }.joined(separator: "&")
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`); the
/// body of the answer de-chunked (ClickHouse answers chunked).
func clickHouseHTTP(port: Int, method: String, path: String, headers: [String: String] = [:],
                    body: Data = Data(), timeoutSeconds: Int = 30) throws -> ClickHouseAnswer
{
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw StoreTestError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw StoreTestError("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
    if method != "GET" { head += "Content-Length: \(body.count)\r\n" }
    head += "\r\n"
    var request = Data(head.utf8)
    request.append(body)
    try request.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
        var sent = 0
        while sent < bytes.count {
            let n = send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            guard n > 0 else { throw StoreTestError("send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }
    var received = Data()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw StoreTestError("recv: \(String(cString: strerror(errno)))") }
        if n == 0 { break }
        received.append(contentsOf: chunk[..<n])
    }
    guard let split = received.range(of: Data("\r\n\r\n".utf8)) else {
        throw StoreTestError("no HTTP header in: \(String(decoding: received, as: UTF8.self).prefix(500))")
    }
    let lines = String(decoding: received[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let statusWords = lines.first?.split(separator: " ") ?? []
    guard statusWords.count >= 2, let status = Int(statusWords[1]) else {
        throw StoreTestError("bad status line: \(lines.first ?? "")")
    }
    var fields: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    var payload = Data(received[split.upperBound...])
    if fields["transfer-encoding"]?.lowercased() == "chunked" { payload = try dechunk(payload) }
    return ClickHouseAnswer(status: status, headers: fields, body: String(decoding: payload, as: UTF8.self))
}

/// The data of a chunked body (sizes in hex, each chunk followed by CRLF, a 0 chunk last).
private func dechunk(_ data: Data) throws -> Data {
    var output = Data()
    var index = data.startIndex
    let crlf = Data("\r\n".utf8)
    while index < data.endIndex {
        guard let lineEnd = data.range(of: crlf, in: index..<data.endIndex) else { break }
        let sizeText = String(decoding: data[index..<lineEnd.lowerBound], as: UTF8.self)
            .split(separator: ";").first.map(String.init) ?? ""
        guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
            throw StoreTestError("bad chunk size '\(sizeText)'")
        }
        if size == 0 { break }
        let start = lineEnd.upperBound
        guard start + size <= data.endIndex else { throw StoreTestError("chunk of \(size) bytes cut short") }
        output.append(data[start..<start + size])
        index = start + size + 2
    }
    return output
}

/// True when something on 127.0.0.1 accepts a TCP connection on `port`
/// (the https port: it answers no plain `/ping`).
func clickHouseAccepts(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// A port on 127.0.0.1 free at the time of the call.
func clickHouseFreePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw StoreTestError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard result == 0 else { throw StoreTestError("bind: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}
