/// What went wrong talking to ClickHouse, classified by what the operator
/// (or the shipper) should do about it.
public enum ClickHouseError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The configuration is wrong: credentials refused (401/403), or the
    /// database or table is missing (404, codes 81/60: run `tcpeek ship
    /// --init`). Retrying soon will not help.
    case refused(url: String, status: Int, code: Int?, message: String)
    /// ClickHouse could not be reached or could not take the request now
    /// (connection refused or reset, timeout, 5xx, disk full): retry later.
    /// After an INSERT this means the outcome is unknown.
    case unavailable(url: String, detail: String)
    /// ClickHouse could not parse what we sent (codes 27, 117, syntax):
    /// a bug in tcpeek, not a reason to wait.
    case rejected(url: String, status: Int, code: Int?, message: String)

    /// ClickHouse's error codes for a missing table and database.
    static let missingTable = 60
    static let missingDatabase = 81
    /// Not enough space (Code: 243): the server may recover.
    static let notEnoughSpace = 243
    static let parseErrors: Set<Int> = [6, 26, 27, 38, 41, 62, 72, 117]

    /// Classifies a non-200 answer: `body` is ClickHouse's
    /// `Code: N, e.displayText() = DB::Exception: ...`.
    static func answer(url: String, status: Int, body: String) -> ClickHouseError {
        let code = Self.code(in: body)
        let message = Self.message(in: body)
        switch (status, code) {
        case (401, _), (403, _): return .refused(url: url, status: status, code: code, message: message)
        case (_, missingTable?), (_, missingDatabase?), (_, 516?): return .refused(url: url, status: status, code: code, message: message)
        case (_, notEnoughSpace?): return .unavailable(url: url, detail: "its disk is full (HTTP \(status)): \(message)")
        case _ where body.contains("errno: 28,") || body.contains("No space left on device"):
            return .unavailable(url: url, detail: "its disk is full (No space left on device, HTTP \(status)\(code.map { ", Code: \($0)" } ?? "")): \(message)")
        case (_, let code?) where parseErrors.contains(code): return .rejected(url: url, status: status, code: code, message: message)
        case (400, _), (404, _): return .rejected(url: url, status: status, code: code, message: message)
        default: return .unavailable(url: url, detail: "HTTP \(status): \(message)")
        }
    }

    public var description: String {
        switch self {
        case let .refused(url, status, code, message):
            if status == 401 || status == 403 {
                return "ClickHouse at \(url) refused the credentials (HTTP \(status)\(codeText(code))): \(message);"
                    + " the user comes from \(ClickHouseEndpoint.userVariable), the password from --clickhouse-password-file"
                    + " or \(ClickHouseEndpoint.passwordVariable)"
            }
            return "ClickHouse at \(url) has no such database or table (HTTP \(status)\(codeText(code))): \(message);"
                + " run 'tcpeek ship --init' once to create tcpeek's tables"
        case let .unavailable(url, detail):
            return "ClickHouse at \(url) is unavailable: \(detail)"
        case let .rejected(url, status, code, message):
            return "ClickHouse at \(url) could not read what tcpeek sent (HTTP \(status)\(codeText(code))): \(message)"
                + " (a bug in tcpeek: please report it with this message)"
        }
    }

    /// True for the errors retrying cannot fix until someone changes the
    /// configuration or the server.
    public var isRefusal: Bool { if case .refused = self { true } else { false } }

    private func codeText(_ code: Int?) -> String { code.map { ", Code: \($0)" } ?? "" }

    static func code(in body: String) -> Int? {
        guard let range = body.range(of: "Code: ") else { return nil }
        return Int(body[range.upperBound...].prefix { $0.isNumber })
    }

    /// The exception's text without ClickHouse's wrapping, at most 200
    /// characters (a parse error quotes the data).
    static func message(in body: String) -> String {
        var text = Substring(body)
        if let start = text.range(of: "DB::Exception: ") { text = text[start.upperBound...] }
        if let end = text.range(of: ", e.what() = ") { text = text[..<end.lowerBound] }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.count > 200 ? String(trimmed.prefix(200)) + "…" : trimmed
    }
}

import Foundation
