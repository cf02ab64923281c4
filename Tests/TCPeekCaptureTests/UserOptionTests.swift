// `-u/--user` is resolved before anything is opened: a wrong name fails at
// once with exit 1 and creates no database (under systemd's
// Restart=on-failure it would otherwise loop after opening everything).
import Foundation
import Testing

@Suite("-u/--user is checked before the capture and the database are opened")
struct UserOptionTests {
    @Test("-u nosuchuser: exit 1, a message naming the user, no database file, no capture opened")
    func unknownUser() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tcpeek-user-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("sub/tcpeek.db").path
        let result = try await runTCPeek(["record", "-u", "tcpeek-nosuchuser", "-i", "lo"], database: .path(database))
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("error: -u/--user: no user named 'tcpeek-nosuchuser'"), "\(result.stderr)")
        #expect(!result.stderr.contains("listening on"), "the capture was opened: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("sub").path),
                "the database (or its folder) was created before -u was checked")
    }

    @Test("-u with a numeric uid that names no account: root switches to it, anyone else is refused up front")
    func numericUid() async throws {
        let demo = TestPaths.repository().appendingPathComponent("Demo/gnutella.pcap").path
        let result = try await runTCPeek(["record", "-u", "4000000", "-q", "-r", demo])
        if geteuid() == 0 {
            // Opened as root, then read as uid 4000000 (group 4000000).
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stderr.contains("-u/--user"), "\(result.stderr)")
        } else {
            #expect(result.status == 1)
            #expect(result.stderr.contains("only root can switch"), "\(result.stderr)")
        }
    }
}
