import Foundation
import NIOSSL

/// Where the fleet's history goes: a ClickHouse server's HTTP interface, the
/// database on it, and who we are there (docs/fleet-design.md).
///
/// Credentials never come from the command line, where `ps` and shell
/// histories show them: a URL with `user:password@` is refused. The user is
/// `TCPEEK_CLICKHOUSE_USER` (default `default`); the password the first line
/// of `--clickhouse-password-file` or `TCPEEK_CLICKHOUSE_PASSWORD`.
///
/// Over https the server's certificate is checked against the system's
/// roots, or only against the CAs of `--clickhouse-ca-file` when given.
public struct ClickHouseEndpoint: Sendable, Equatable {
    public static let defaultDatabase = "tcpeek"
    public static let userVariable = "TCPEEK_CLICKHOUSE_USER"
    public static let passwordVariable = "TCPEEK_CLICKHOUSE_PASSWORD"

    /// `http` or `https`.
    public let scheme: String
    /// As written in a URL: an IPv6 address in brackets.
    public let host: String
    public let port: Int
    public let database: String
    public let user: String
    public let password: String?
    /// A PEM file of the CA certificates to trust instead of the system's
    /// roots (`--clickhouse-ca-file`, an internal CA); https only.
    public let caFile: String?
    /// Its certificates, read once by `parse`: `record` drops its
    /// privileges before the first connection, like the password file.
    let caCertificates: [NIOSSLCertificate]

    /// `http://host:port/`: the URL without credentials, for messages.
    public var url: String { "\(scheme)://\(host):\(port)/" }

    /// The cursor's name in the SQLite database: the URL and the database,
    /// so one history can ship to several servers or databases.
    public var destination: String { url + database }

    /// What a bad `--clickhouse` URL, database name or password file is.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public init(scheme: String, host: String, port: Int, database: String = defaultDatabase,
                user: String = "default", password: String? = nil) {
        self.init(scheme: scheme, host: host, port: port, database: database, user: user, password: password,
                  caFile: nil, caCertificates: [])
    }

    init(scheme: String, host: String, port: Int, database: String, user: String, password: String?,
         caFile: String?, caCertificates: [NIOSSLCertificate]) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.caFile = caFile
        self.caCertificates = caCertificates
    }

    /// Parses `--clickhouse URL` and reads the credentials from the
    /// environment or the password file.
    public static func parse(url text: String, database: String = defaultDatabase, passwordFile: String? = nil,
                             caFile: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Problem) -> ClickHouseEndpoint {
        guard let components = URLComponents(string: text), let rawScheme = components.scheme?.lowercased() else {
            throw Problem("'\(text)' is not a ClickHouse URL: give its HTTP interface as http://HOST:8123/ or https://HOST:8443/")
        }
        guard rawScheme == "http" || rawScheme == "https" else {
            throw Problem("'\(text)': ClickHouse is reached over HTTP here; use http://HOST:8123/ or https://HOST:8443/ (not \(rawScheme)://)")
        }
        if components.user != nil || components.password != nil {
            throw Problem("the ClickHouse URL must not hold credentials (anyone can read a command line):"
                + " put the user in \(userVariable) and the password in a file named by --clickhouse-password-file"
                + " or in \(passwordVariable)")
        }
        guard let rawHost = components.host, !rawHost.isEmpty else {
            throw Problem("'\(text)' names no host: give http://HOST:8123/")
        }
        if components.query != nil || !(components.path.isEmpty || components.path == "/") {
            throw Problem("'\(text)': give only the server (http://HOST:PORT/); the database is --clickhouse-database")
        }
        guard isValidName(database) else {
            throw Problem("'\(database)' is not a ClickHouse database name tcpeek uses: letters, digits and _ only, not starting with a digit")
        }
        let host = rawHost.contains(":") && !rawHost.hasPrefix("[") ? "[\(rawHost)]" : rawHost
        let port = components.port ?? (rawScheme == "https" ? 8443 : 8123)
        let user = environment[userVariable].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        var password = environment[passwordVariable]
        if let passwordFile { password = try readPassword(passwordFile) }
        var caCertificates: [NIOSSLCertificate] = []
        if let caFile {
            // Trusting a CA only to send in the clear would be a silent surprise.
            guard rawScheme == "https" else {
                throw Problem("--clickhouse-ca-file '\(caFile)' is for https:// URLs, but '\(text)' would be reached without TLS:"
                    + " give ClickHouse's https port (https://HOST:8443/) or drop --clickhouse-ca-file")
            }
            caCertificates = try readCAFile(caFile)
        }
        return ClickHouseEndpoint(scheme: rawScheme, host: host, port: port, database: database, user: user, password: password,
                                  caFile: caFile, caCertificates: caCertificates)
    }

    /// The certificates of a CA file; refuses one that is missing,
    /// unreadable, a folder or holds no PEM certificate, before any
    /// connection (TLS would only say later that it has no trust roots).
    static func readCAFile(_ path: String) throws(Problem) -> [NIOSSLCertificate] {
        let option = "the CA file '\(path)' (--clickhouse-ca-file)"
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw Problem("cannot read \(option): there is no such file; give the PEM file of the CA that signed ClickHouse's certificate")
        }
        if isFolder.boolValue {
            throw Problem("\(option) is a folder: give the PEM file of the CA that signed ClickHouse's certificate")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem("cannot read \(option): it is not readable by this user")
        }
        let certificates = (try? NIOSSLCertificate.fromPEMBytes(Array(data))) ?? []
        if certificates.isEmpty {
            throw Problem("\(option) holds no PEM certificate (-----BEGIN CERTIFICATE-----):"
                + " give the certificate of the CA that signed ClickHouse's certificate, in PEM")
        }
        return certificates
    }

    /// The first line of `path`, its line end stripped.
    static func readPassword(_ path: String) throws(Problem) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = access(path, F_OK) == 0 ? "it is not readable by this user" : "there is no such file"
            throw Problem("cannot read the ClickHouse password file '\(path)' (--clickhouse-password-file): \(reason)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return line.hasSuffix("\r") ? String(line.dropLast()) : line
    }

    /// A name that needs no quoting in SQL: it is pasted into statements.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }
}
