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

/// A migration, once committed, may already have run on someone's database:
/// editing it would leave their schema different from a new one with the
/// same `user_version`. `Schema/SHA256SUMS` pins every committed migration;
/// a new migration adds its line (`cd Schema && sha256sum 0*.sql > SHA256SUMS`),
/// an edit to an old one fails here.
@Test func committedMigrationsAreNeverEdited() throws {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Schema")
    let pinned = try String(contentsOf: folder.appendingPathComponent("SHA256SUMS"), encoding: .utf8)
        .split(separator: "\n").map { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return (file: String(fields[1]), digest: String(fields[0]))
        }
    #expect(pinned.map(\.file) == Schema.migrations.map(\.name),
            "every migration in Schema/ needs its line in Schema/SHA256SUMS, in order")
    let sha256sum = Process()
    sha256sum.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    sha256sum.currentDirectoryURL = folder
    sha256sum.arguments = pinned.map(\.file)
    let output = Pipe()
    sha256sum.standardOutput = output
    try sha256sum.run()
    let computed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    sha256sum.waitUntilExit()
    let digests = computed.split(separator: "\n").map { String($0.prefix(64)) }
    for (entry, digest) in zip(pinned, digests) {
        #expect(entry.digest == digest,
                "\(entry.file) changed after it was committed: restore it and put the change in the next numbered migration")
    }
}
