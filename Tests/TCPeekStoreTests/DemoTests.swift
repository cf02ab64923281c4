// `make demo` (Scripts/demo.sh, issue 13): the first thing a user sees is
// the whole product: a capture with every outcome, dated now, recorded into
// a database of the demo's own, then answered from that history.
import Foundation
import Testing
import TCPeekStore

@Suite("make demo")
struct DemoTests {
    static let script = StorePaths.repository.appendingPathComponent("Scripts/demo.sh").path

    @Test func theDemoRecordsEveryOutcomeAndAnswersFromItsOwnHistory() async throws {
        let folder = try TemporaryFolder("demo")
        defer { folder.remove() }
        let bin = (try StorePaths.requireTCPeek() as NSString).deletingLastPathComponent
        let out = folder.file("demo")
        let live = HistoryDatabase.defaultPath
        let before = try? FileManager.default.attributesOfItem(atPath: live)[.modificationDate] as? Date
        let result = try await run(["/bin/bash", Self.script, bin, out], in: folder.path, timeout: 120)
        #expect(result.status == 0, "\(result)")
        // Live lines and the summary, with every outcome.
        for outcome in ["success", "failure (reject)", "failure (timeout)", "failure (unreach)", "failure (abort)"] {
            #expect(result.stderr.contains("| " + outcome) || result.stderr.contains(outcome + " "), "a live \(outcome) line")
        }
        #expect(result.stderr.contains("TCPEEK SUMMARY"))
        // The history answers: totals over the last hour, minutes, sqlite3.
        let sections = result.stdout.components(separatedBy: "\n$ ").filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        #expect(sections.count == 3, "\(result.stdout)")
        let total = sections.first { $0.contains("--since 1h") } ?? ""
        let allRow = try #require(total.split(separator: "\n").first { $0.hasPrefix("ALL ") }, "\(total)")
        let figures = allRow.split(separator: " ").compactMap { Int($0) }
        // SUCCESS DUPSYN DUPS/A FAILURE TIMEOUT REJECT UNREACH ABORT
        #expect(figures.count == 8 && figures[0] > 0 && figures[0] + figures[3] == 600, "all 600 attempts in the last hour: \(allRow)")
        #expect(figures.count == 8 && figures[4...].allSatisfy { $0 > 0 }, "every kind of failure: \(allRow)")
        let minutes = sections.first { $0.contains("--by minute") } ?? ""
        #expect(minutes.split(separator: "\n").filter { $0.hasPrefix("ALL ") }.count >= 20, "a row a minute: \(minutes)")
        let sqlite = sections.first { $0.contains("sqlite3") } ?? ""
        #expect(sqlite.contains("server_addr") && sqlite.contains("timeouts"), "\(sqlite)")
        #expect(FileManager.default.fileExists(atPath: out + "/tcpeek.db"))
        let after = try? FileManager.default.attributesOfItem(atPath: live)[.modificationDate] as? Date
        #expect(before == after, "the host's history is not touched")
    }
}
