// Who may read the history (issue 13): `--db-group` gives a group read
// access to the database and its folder; a user who cannot enter the
// folder is told "permission denied", not "no database".
import Foundation
import Testing
@testable import TCPeekStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Access to the history database", .serialized)
struct DatabaseAccessTests {
    /// `argv` as uid/gid 65534 (nobody, nogroup), with no other group.
    static func asNobody(_ argv: [String], in folder: TemporaryFolder) async throws -> RunResult {
        try await run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + argv, in: folder.path)
    }

    @Test(.enabled("needs root to record as one user and query as another") { geteuid() == 0 })
    func dbGroupLetsItsMembersQueryAndOthersAreToldPermissionDenied() async throws {
        let folder = try TemporaryFolder("db-group")
        defer { folder.remove() }
        let tcpeek = try StorePaths.requireTCPeek()
        let capture = StorePaths.capture("ndpi__gnutella.pcap")
        let shared = folder.file("shared/history.db"), closed = folder.file("closed/history.db")

        let granted = try await record(capture, db: shared, in: folder.path, ["--db-group", "nogroup"])
        try #require(granted.status == 0, "\(granted)")
        var status = stat()
        #expect(stat(shared, &status) == 0 && status.st_gid == 65534 && status.st_mode & 0o777 == 0o640,
                "the file: group nogroup, mode 0640 (mode \(String(status.st_mode & 0o777, radix: 8)))")
        #expect(stat(folder.file("shared"), &status) == 0 && status.st_gid == 65534 && status.st_mode & 0o077 == 0o050,
                "the folder: group nogroup may enter and list, no one else")
        let member = try await Self.asNobody([tcpeek, "query", "--db", shared, "--since", "all", "--format", "csv"], in: folder)
        #expect(member.status == 0, "a member of the group queries: \(member)")
        #expect(member.stdout.contains("ALL,"), "\(member)")

        let plain = try await record(capture, db: closed, in: folder.path)
        try #require(plain.status == 0, "\(plain)")
        let outsider = try await Self.asNobody([tcpeek, "query", "--db", closed, "--since", "all"], in: folder)
        #expect(outsider.status == 1, "\(outsider)")
        #expect(outsider.stderr.contains("Permission denied"), "\(outsider)")
        #expect(!outsider.stderr.contains("no database"), "the file is there, only out of reach: \(outsider)")

        let unknown = try await record(capture, db: folder.file("other.db"), in: folder.path, ["--db-group", "no-such-group-x"])
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stderr.contains("--db-group: no group named 'no-such-group-x'"), "\(unknown)")
    }
}
