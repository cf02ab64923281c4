import Foundation
import Testing
@testable import TCPeekStore

/// `Schema/` is the one definition of the schema; the binary carries a
/// generated copy. This fails when the copy is stale: run `make schema`.
@Test func generatedSchemaMatchesSchemaFolder() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let folder = root.appendingPathComponent("Schema")
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        .filter { $0.hasSuffix(".sql") }.sorted()
    #expect(files.map { $0 } == Schema.migrations.map(\.name))
    for (file, migration) in zip(files, Schema.migrations) {
        let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
        let normalise = { (s: String) in
            s.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
                .joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(normalise(text) == normalise(migration.sql), "\(file) differs from the compiled schema: run make schema")
        #expect(Int(file.prefix(4)) == migration.version)
    }
}
