import Foundation
import Testing

/// The store goes through GRDB everywhere but where GRDB's own cost would
/// show: the per-session rows (SessionInserts, hundreds of thousands a
/// second) and the write-ahead log hook GRDB does not offer (Checkpointer).
/// A new call to SQLite's C API elsewhere is a decision to make on purpose,
/// here, not a habit copied from a neighbouring file.
@Suite struct SQLiteCAPITests {
    static let allowed: Set<String> = ["SessionInserts.swift", "Checkpointer.swift"]

    @Test func onlyTheSessionInsertsAndTheCheckpointerCallSQLiteDirectly() throws {
        let folder = StorePaths.repository.appendingPathComponent("Sources/TCPeekStore")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".swift") }
        #expect(files.contains("SessionInserts.swift"))
        var callers: [String] = []
        for file in files.sorted() where !Self.allowed.contains(file) {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            if text.contains("sqlite3_") || text.contains("import GRDBSQLite") { callers.append(file) }
        }
        #expect(callers.isEmpty, "SQLite's C API used in \(callers); go through GRDB (Row, FetchableRecord) instead")
    }
}
