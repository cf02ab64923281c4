import Foundation
import GRDB
import Testing
@testable import TCPeekStore

/// tcpeek records with the SQLite in Sources/CSQLite, not the system's:
/// the recorder's throughput depends on it (Sources/CSQLite/README.md).
/// GRDB's module still names the system library to the linker, so a
/// build that bound any call to it would pass every other test, slower,
/// or mix two SQLites over one connection.
@Suite struct BundledSQLiteTests {
    static let bundledVersion = "3.54.1"

    @Test func connectionsRunTheBundledSQLite() throws {
        let folder = try TemporaryFolder("bundled-sqlite")
        defer { folder.remove() }
        let database = try HistoryDatabase.openForRecording(path: folder.file("tcpeek.db"))
        let version = try database.read { db in try String.fetchOne(db, sql: "SELECT sqlite_version()") }
        #expect(version == Self.bundledVersion)
    }

    @Test func tcpeekBindsNoSQLiteSymbolToASharedLibrary() async throws {
        let tcpeek = try StorePaths.requireTCPeek()
        // nm comes with binutils, which the Swift toolchain links with.
        let nm = try #require(StorePaths.tool("nm"), "nm (binutils) is not installed")
        let folder = try TemporaryFolder("bundled-sqlite-nm")
        defer { folder.remove() }
        let result = try await run([nm, "-D", "--undefined-only", tcpeek], in: folder.path)
        #expect(result.status == 0, "nm failed: \(result.stderr)")
        let unresolved = result.stdout.split(separator: "\n").filter { $0.contains("sqlite3") }
        #expect(unresolved.isEmpty, "bound to a shared SQLite: \(unresolved)")
        // The check above must be able to see undefined symbols at all.
        #expect(result.stdout.contains("pcap_"))
    }
}
