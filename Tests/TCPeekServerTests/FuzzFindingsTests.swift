// Inputs the fuzzers (Fuzz/) found that crashed tcpeek, kept as regression
// tests with their bytes inline.
import TCPeekServer
import TCPeekCore
import TCPeekStore
import Testing

@Suite("fuzz findings: socket requests")
struct FuzzFindingsTests {
    /// fuzz-socket, crash-016ba28d: `WINDOW 1e308m` parsed to an infinite
    /// window; with a database, `WINDOW 1e20s` (finite, but 3e12 years)
    /// crashed the daemon converting the window's start to Int64
    /// ("Double value cannot be converted to Int64"). Any client of the
    /// socket could stop a root-owned capture that way.
    @Test("a window longer than a century is refused, not turned into an overflowing time", arguments: [
        [0x57, 0x49, 0x4E, 0x44, 0x4F, 0x57, 0x20, 0x31, 0x65, 0x33, 0x30, 0x38, 0x6D] as [UInt8],  // WINDOW 1e308m
        Array("WINDOW 1e20s".utf8),
        Array("WINDOW 36700d".utf8),
    ])
    func hugeWindow(_ bytes: [UInt8]) {
        let line = String(decoding: bytes, as: UTF8.self)
        #expect(throws: SocketRequestError.self, "\(line)") { try SocketRequest.parse(line) }
    }

    @Test("a century is still a window")
    func centuryWindow() throws {
        #expect(try SocketRequest.parse("WINDOW 36500d") == .window(seconds: 36500 * 86400))
    }

    @Test("QUERY and tcpeek query refuse a duration that would overflow", arguments: ["1e20s", "1e308w", "9e15m"])
    func hugeSince(_ text: String) {
        #expect(DurationText.seconds(text) == nil)
        #expect(throws: TimeExpression.ParseError.self) { try TimeExpression.parse(text, now: 1_800_000_000) }
    }
}
