import Foundation

/// The fleet's ClickHouse tables (`contrib/clickhouse/*.sql`, compiled into
/// the binary by `make schema`): `tcpeek ship --init` runs them.
public enum ClickHouseSchema {
    /// The database name the files are written for.
    static let writtenFor = "tcpeek"

    /// The statements for `database`, in order: the files' `tcpeek.` names
    /// and `CREATE DATABASE ... tcpeek` rewritten. One statement per file
    /// (the HTTP interface takes one per request).
    public static func statements(database: String) -> [String] {
        files.map { rename($0.sql, to: database) }
    }

    /// Creates the database, tables and view; idempotent.
    public static func create(with client: ClickHouseClient) async throws(ClickHouseError) {
        for statement in statements(database: client.endpoint.database) {
            try await client.execute(statement)
        }
    }

    static func rename(_ sql: String, to database: String) -> String {
        guard database != writtenFor else { return sql }
        var result = ""
        var rest = Substring(sql)
        // `tcpeek.` as a qualifier (not inside a longer word), and the
        // database of CREATE DATABASE.
        let qualifier = writtenFor + "."
        let created = "DATABASE IF NOT EXISTS " + writtenFor
        while let range = rest.range(of: qualifier) {
            let before = result.isEmpty && range.lowerBound == rest.startIndex ? nil : rest[..<range.lowerBound].last ?? result.last
            result += rest[..<range.lowerBound]
            if let before, before.isLetter || before.isNumber || before == "_" {
                result += qualifier
            } else {
                result += database + "."
            }
            rest = rest[range.upperBound...]
        }
        result += rest
        return result.replacingOccurrences(of: created + ";", with: "DATABASE IF NOT EXISTS " + database + ";")
    }
}

import Foundation

extension ClickHouseSchema {
    /// The values of an `Enum8(...)` column as `table`'s CREATE TABLE
    /// declares them, so that the binary rows the shipper writes follow the
    /// schema file rather than a copy of it. Empty when there is no such
    /// column (a test checks there is).
    static func enumValues(column: String, table: String) -> [(name: String, value: Int8)] {
        guard let file = files.first(where: { $0.sql.contains("TABLE IF NOT EXISTS \(writtenFor).\(table) (") }) else { return [] }
        for line in file.sql.split(separator: "\n") {
            let words = line.split(whereSeparator: \.isWhitespace)
            guard words.first == Substring(column), let open = line.range(of: "Enum8("),
                  let close = line[open.upperBound...].firstIndex(of: ")") else { continue }
            return line[open.upperBound..<close].split(separator: ",").compactMap { item in
                let parts = item.split(separator: "=")
                guard parts.count == 2, let value = Int8(parts[1].trimmingCharacters(in: .whitespaces)) else { return nil }
                return (parts[0].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "'")), value)
            }
        }
        return []
    }
}
