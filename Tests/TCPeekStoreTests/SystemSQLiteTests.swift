import Foundation
import Testing

/// tcpeek records with the system's SQLite (Debian's libsqlite3), the one
/// GRDB's module declares and names to the linker, so that the
/// distribution's security fixes reach it. A copy of SQLite compiled into
/// the binary would pass every other test while its symbols interposed
/// every call, with headers from one release and code from another.
@Suite struct SystemSQLiteTests {
    @Test func tcpeekNeedsTheSharedSQLite() async throws {
        let needed = try await Self.readELF(["--dynamic"]).filter { $0.contains("(NEEDED)") }
        #expect(needed.contains { $0.contains("[libsqlite3.so") }, "libsqlite3 is not among: \(needed)")
        // The check must be able to see NEEDED entries at all.
        #expect(needed.contains { $0.contains("[libpcap.so") })
    }

    @Test func tcpeekDefinesNoSQLiteFunctionItself() async throws {
        // Both symbol tables (.dynsym and, unless stripped, .symtab):
        // "Num: Value Size Type Bind Vis Ndx Name", Ndx UND when imported.
        let symbols = try await Self.readELF(["--symbols", "--wide"]).map { $0.split(separator: " ") }
            .filter { $0.count >= 8 && $0[3] == "FUNC" }
        let defined = symbols.filter { $0[6] != "UND" && $0[7].hasPrefix("sqlite3_") }.map { String($0[7]) }
        #expect(defined.isEmpty, "tcpeek carries its own SQLite: \(defined.prefix(5)) and \(max(defined.count - 5, 0)) more")
        // The check must be able to see the functions it imports from it.
        #expect(symbols.contains { $0[6] == "UND" && $0[7].hasPrefix("sqlite3_step") })
    }

    /// The lines `readelf ARGUMENTS tcpeek` prints.
    private static func readELF(_ arguments: [String]) async throws -> [Substring] {
        let tcpeek = try StorePaths.requireTCPeek()
        // readelf comes with binutils, which the Swift toolchain links with.
        let readelf = try #require(StorePaths.tool("readelf"), "readelf (binutils) is not installed")
        let folder = try TemporaryFolder("system-sqlite")
        defer { folder.remove() }
        let result = try await run([readelf] + arguments + [tcpeek], in: folder.path)
        try #require(result.status == 0, "readelf failed: \(result.stderr)")
        return result.stdout.split(separator: "\n")
    }
}
