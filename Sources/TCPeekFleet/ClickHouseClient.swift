import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Talks to one ClickHouse server over its HTTP interface: one
/// `HTTPClient` with keep-alive connections, HTTP basic auth, TLS when the
/// URL says https. Every statement is a POST (a GET is read-only there).
/// Call `shutdown()` before dropping it.
public final class ClickHouseClient: Sendable {
    public let endpoint: ClickHouseEndpoint
    private let http: HTTPClient
    private let timeout: TimeAmount
    private let authorization: String?

    /// `timeout` bounds a whole request, sending and answer.
    public init(endpoint: ClickHouseEndpoint, timeout: TimeAmount = .seconds(60)) {
        self.endpoint = endpoint
        self.timeout = timeout
        var configuration = HTTPClient.Configuration()
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(10), read: timeout)
        configuration.decompression = .disabled
        // A failed connection (refused, TLS handshake) fails its request at
        // once: the shipper backs off itself, and `ship --once` or a query
        // says why without first waiting out the timeout in silent retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.tlsConfiguration = Self.tlsConfiguration(endpoint)
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        if let password = endpoint.password {
            authorization = "Basic " + Data("\(endpoint.user):\(password)".utf8).base64EncodedString()
        } else if endpoint.user != "default" {
            authorization = "Basic " + Data("\(endpoint.user):".utf8).base64EncodedString()
        } else {
            authorization = nil
        }
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// Runs one statement (DDL, ALTER): the SQL is the body.
    public func execute(_ sql: String) async throws(ClickHouseError) {
        _ = try await post(parameters: [:], body: ByteBuffer(string: sql))
    }

    /// The formats rows are inserted in.
    public enum RowFormat: String, Sendable {
        /// Text: a line per row, fields split by tabs (tests, hand-made rows).
        case tabSeparated = "TabSeparated"
        /// Binary, each value at its column's width (the shipper's batches).
        case rowBinary = "RowBinary"
    }

    /// Inserts `rows` (in `format`, the columns in `columns`' order) into
    /// `table` of the endpoint's database. Columns not named get their DEFAULT.
    public func insert(into table: String, columns: [String], format: RowFormat, rows: ByteBuffer) async throws(ClickHouseError) {
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) FORMAT \(format.rawValue)"
        _ = try await post(parameters: ["database": endpoint.database, "query": sql], body: rows)
    }

    /// Runs a query and returns its rows, the fields unescaped. `sql` ends
    /// with `FORMAT TabSeparated` (the caller's part). A NULL is the
    /// two characters `\N` (use `ifNull` in the SQL where that matters).
    public func select(_ sql: String) async throws(ClickHouseError) -> [[String]] {
        let answer = try await post(parameters: ["database": endpoint.database], body: ByteBuffer(string: sql))
        return TabSeparated.rows(answer)
    }

    /// POSTs `body` with the query-string `parameters`; the answer's body
    /// on 200, a classified error otherwise.
    private func post(parameters: [String: String], body: ByteBuffer) async throws(ClickHouseError) -> ByteBuffer {
        var request = HTTPClientRequest(url: endpoint.url + Self.queryString(parameters))
        request.method = .POST
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        request.body = .bytes(body)
        do {
            let response = try await http.execute(request, timeout: timeout)
            let answer = try await response.body.collect(upTo: 1 << 30)
            guard response.status == .ok else {
                throw ClickHouseError.answer(url: endpoint.url, status: Int(response.status.code),
                                             body: String(buffer: answer))
            }
            return answer
        } catch let error as ClickHouseError {
            throw error
        } catch {
            throw .unavailable(url: endpoint.url, detail: describe(error))
        }
    }

    /// A transport error without TLS in it, in words an operator recognises.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "the connection timed out"
            case .deadlineExceeded, .readTimeout: return "no answer in time"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(error)"
            }
        }
        let text = "\(error)"
        if text.contains("connection refused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("reset by peer") { return "connection reset" }
        return text
    }

    static func queryString(_ parameters: [String: String]) -> String {
        guard !parameters.isEmpty else { return "" }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return "?" + parameters.sorted { $0.key < $1.key }.map { key, value in
            key + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)
        }.joined(separator: "&")
    }
}
