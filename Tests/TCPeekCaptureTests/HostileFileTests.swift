// Hostile capture files through the real binary (`tcpeek record -r FILE
// --no-db`): truncated, bad magic, lengths claiming 4 GB, zero-length
// records, timestamps going backwards, pcapng with unknown or damaged
// blocks, an empty file. Each must give a clear message and exit 1, or be
// read as far as it is valid; never a crash. The files are written by the
// test into a temporary directory.
//
// What each case must do, and why:
// - a file that cannot be opened at all (empty, bad magic, cut inside the
//   file header or the pcapng section/interface blocks): exit 1, libpcap's
//   reason, no summary: there is no capture to summarize;
// - a file damaged after some packets (cut inside a record, a record or
//   block length of 4 GB): the packets before the damage are counted and
//   summarized (attempts still open there close as timeout, as at the end
//   of a file), then exit 1 with "stopped after N packets" naming how far
//   the file was valid: the counts are real but the file is not whole, and
//   a script must not mistake it for a complete reading;
// - damage before the first packet: exit 1 with "stopped after 0
//   packets" and no summary (nothing valid was read);
// - a file cut exactly at a record boundary, or holding a header and no
//   record: a valid (shorter) capture, exit 0;
// - zero-length records, timestamps going backwards, pcapng blocks of
//   unknown or ignorable types: all valid by the file formats, so exit 0:
//   an empty record is counted as a malformed packet, a packet from the
//   past is taken at the latest time seen (with one warning), and unknown
//   blocks are skipped as the pcapng specification says.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Capture files, field by field

/// One TCP segment over IPv4 in an Ethernet frame (no options, no payload;
/// checksums left zero: tcpeek verifies none by default).
private func ethernetTCP(from source: [UInt8], _ sourcePort: UInt16, to destination: [UInt8], _ destinationPort: UInt16,
                         sequence: UInt32, acknowledgment: UInt32, flags: UInt8) -> [UInt8] {
    var b = ByteWriter()
    b.bytes([0x02, 0, 0, 0, 0, 0x02])  // destination MAC
    b.bytes([0x02, 0, 0, 0, 0, 0x01])  // source MAC
    b.u16be(0x0800)                    // EtherType: IPv4
    b.u8(0x45)                         // version 4, IHL 5
    b.u8(0)                            // DSCP, ECN
    b.u16be(40)                        // total length: 20 + 20
    b.u16be(0)                         // identification
    b.u16be(0x4000)                    // flags: DF, fragment offset 0
    b.u8(64)                           // TTL
    b.u8(6)                            // protocol: TCP
    b.u16be(0)                         // header checksum (not verified)
    b.bytes(source)                    // source address
    b.bytes(destination)               // destination address
    b.u16be(sourcePort)                // source port
    b.u16be(destinationPort)           // destination port
    b.u32be(sequence)                  // sequence number
    b.u32be(acknowledgment)            // acknowledgment number
    b.u8(5 << 4)                       // data offset 5
    b.u8(flags)                        // flags
    b.u16be(65535)                     // window
    b.u16be(0)                         // checksum (not verified)
    b.u16be(0)                         // urgent pointer
    return b.data
}

private struct ByteWriter {
    var data: [UInt8] = []
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u16be(_ v: UInt16) { data += [UInt8(v >> 8), UInt8(v & 0xFF)] }
    mutating func u32be(_ v: UInt32) { data += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    mutating func u16le(_ v: UInt16) { data += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    mutating func u32le(_ v: UInt32) { data += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
    mutating func bytes(_ v: [UInt8]) { data += v }
}

/// One frame and its capture time, in whole seconds.
private struct CaptureRecord {
    var seconds: UInt32
    var frame: [UInt8]
}

private let client: [UInt8] = [198, 51, 100, 1], server: [UInt8] = [203, 0, 113, 1]
private let syn = ethernetTCP(from: client, 40000, to: server, 80, sequence: 1000, acknowledgment: 0, flags: 0x02)
private let synACK = ethernetTCP(from: server, 80, to: client, 40000, sequence: 5000, acknowledgment: 1001, flags: 0x12)
private let ack = ethernetTCP(from: client, 40000, to: server, 80, sequence: 1001, acknowledgment: 5001, flags: 0x10)
/// One successful handshake, one second apart.
private let handshake = [CaptureRecord(seconds: 100, frame: syn), CaptureRecord(seconds: 101, frame: synACK), CaptureRecord(seconds: 102, frame: ack)]

/// A classic little-endian microsecond pcap.
private enum Pcap {
    static let headerLength = 24
    static let recordHeaderLength = 16

    static func header(snapLength: UInt32 = 65535, linkType: UInt32 = 1) -> [UInt8] {
        var b = ByteWriter()
        b.u32le(0xA1B2_C3D4)  // magic_number: microseconds, written little-endian
        b.u16le(2)            // version_major
        b.u16le(4)            // version_minor
        b.u32le(0)            // thiszone
        b.u32le(0)            // sigfigs
        b.u32le(snapLength)   // snaplen
        b.u32le(linkType)     // network: LINKTYPE_ETHERNET unless told
        return b.data
    }

    /// A record header; `capturedLength` may lie about the frame that follows.
    static func recordHeader(seconds: UInt32, capturedLength: UInt32, originalLength: UInt32) -> [UInt8] {
        var b = ByteWriter()
        b.u32le(seconds)         // ts_sec
        b.u32le(0)               // ts_usec
        b.u32le(capturedLength)  // incl_len
        b.u32le(originalLength)  // orig_len
        return b.data
    }

    static func record(_ r: CaptureRecord) -> [UInt8] {
        recordHeader(seconds: r.seconds, capturedLength: UInt32(r.frame.count), originalLength: UInt32(r.frame.count)) + r.frame
    }

    static func file(_ records: [CaptureRecord]) -> [UInt8] { header() + records.flatMap(record) }
}

/// pcapng, little-endian, one Ethernet interface.
private enum Pcapng {
    static func block(type: UInt32, body: [UInt8]) -> [UInt8] {
        let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
        let length = UInt32(12 + padded.count)
        var b = ByteWriter()
        b.u32le(type)    // Block Type
        b.u32le(length)  // Block Total Length
        b.bytes(padded)  // Block Body, padded to 32 bits
        b.u32le(length)  // Block Total Length, again
        return b.data
    }

    static var sectionHeader: [UInt8] {
        var b = ByteWriter()
        b.u32le(0x1A2B_3C4D)                      // Byte-Order Magic
        b.u16le(1)                                // Major Version
        b.u16le(0)                                // Minor Version
        b.bytes([UInt8](repeating: 0xFF, count: 8))  // Section Length: unspecified (-1)
        return block(type: 0x0A0D_0D0A, body: b.data)
    }

    static var interface: [UInt8] {
        var b = ByteWriter()
        b.u16le(1)       // LinkType: LINKTYPE_ETHERNET
        b.u16le(0)       // Reserved
        b.u32le(65535)   // SnapLen
        return block(type: 1, body: b.data)
    }

    static func enhancedPacket(_ r: CaptureRecord, capturedLength: UInt32? = nil) -> [UInt8] {
        let micros = UInt64(r.seconds) * 1_000_000
        var b = ByteWriter()
        b.u32le(0)                                           // Interface ID
        b.u32le(UInt32(micros >> 32))                        // Timestamp (High)
        b.u32le(UInt32(micros & 0xFFFF_FFFF))                // Timestamp (Low)
        b.u32le(capturedLength ?? UInt32(r.frame.count))     // Captured Packet Length
        b.u32le(UInt32(r.frame.count))                       // Original Packet Length
        b.bytes(r.frame)                                     // Packet Data
        return block(type: 6, body: b.data)
    }

    /// Blocks a reader must skip: an unknown type, a custom block, a name
    /// resolution block and interface statistics.
    static var unknown: [UInt8] { block(type: 0x0BAD_0001, body: Array("no reader knows this block".utf8)) }
    static var custom: [UInt8] {
        var b = ByteWriter()
        b.u32le(32473)  // Private Enterprise Number (an example PEN)
        b.bytes(Array("custom data".utf8))
        return block(type: 0x0000_0BAD, body: b.data)
    }
    static var nameResolution: [UInt8] { block(type: 4, body: [0, 0, 0, 0]) }  // nrb_record_end
    static var interfaceStatistics: [UInt8] { block(type: 5, body: [UInt8](repeating: 0, count: 12)) }  // interface 0, timestamp 0

    /// The handshake with unknown blocks around and between its packets.
    static var withUnknownBlocks: [UInt8] {
        let blocks: [[UInt8]] = [
            sectionHeader, interface, unknown, enhancedPacket(handshake[0]), custom, enhancedPacket(handshake[1]),
            nameResolution, interfaceStatistics, unknown, enhancedPacket(handshake[2]),
        ]
        return blocks.flatMap { $0 }
    }

    /// Damage after one good packet: what follows it, and the words of
    /// libpcap's reason.
    static let damages: [(name: String, bytes: [UInt8], reason: String)] = [
        // A block claiming 4 GB: type 6, total length 0xFFFFFFF0.
        ("block-4gb", [6, 0, 0, 0, 0xF0, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 40), "pcapng block size"),
        // A packet block whose captured length claims 4 GB.
        ("caplen-4gb", enhancedPacket(handshake[1], capturedLength: 0xFFFF_FFFF), "4294967295"),
        // A packet on an interface that was never described.
        ("no-interface", block(type: 6, body: [7, 0, 0, 0] + [UInt8](repeating: 0, count: 16)), "interface 7"),
    ]
}

// MARK: - Running the binary

private struct ReadResult: Sendable {
    var status: Int32
    var signaled: Bool
    var stdout: String
    var stderr: String

    /// Exit 0 or 1, and nothing a crash or a Swift trap prints.
    var endedCleanly: Bool {
        !signaled && (status == 0 || status == 1)
            && !stderr.contains("Fatal error") && !stderr.contains("Segmentation fault") && !stderr.contains("Stack dump")
    }
    var hasSummary: Bool { stderr.contains("TCPEEK SUMMARY") }
}

/// A temporary directory for one test's files, removed at the end.
private final class Scratch: Sendable {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tcpeek-hostile-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = url.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// `tcpeek record -q -r PATH --no-db`, TZ=UTC, waited for off the shared pool.
private func readCapture(_ path: String, in scratch: Scratch) async throws -> ReadResult {
    let binary = try #require(TestPaths.binary, "no tcpeek binary next to the tests; build it or set TCPEEK_BINARY")
    let name = UUID().uuidString
    let outURL = scratch.url.appendingPathComponent("\(name).out"), errURL = scratch.url.appendingPathComponent("\(name).err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["record", "-q", "-r", path, "--no-db"]
    var environment = ProcessInfo.processInfo.environment
    environment["TZ"] = "UTC"
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = out
    process.standardError = err
    let (status, reason): (Int32, Process.TerminationReason) = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: ($0.terminationStatus, $0.terminationReason)) }
        do { try process.run() } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    try out.close()
    try err.close()
    return ReadResult(status: status, signaled: reason == .uncaughtSignal,
                   stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                   stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// The summary's count lines for the single built-in filter `ALL`.
private func summaryLines(success: Int, timeout: Int) -> [String] {
    ["   Success: \(success) session", "     Connection Timed Out  : " + String(repeating: " ", count: 6 - String(timeout).count) + "\(timeout)"]
}

// MARK: - Tests

@Suite("hostile capture files")
struct HostileFileTests {
    @Test("an empty file: exit 1, libpcap's reason, no summary")
    func emptyFile() async throws {
        let scratch = try Scratch()
        let outcome = try await readCapture(try scratch.write("empty.pcap", []), in: scratch)
        #expect(outcome.endedCleanly, "\(outcome.stderr)")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("error: cannot read capture file"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("empty.pcap"))
        #expect(outcome.stderr.contains("truncated dump file"))
        #expect(!outcome.hasSummary)
    }

    @Test("bad magic numbers: exit 1, 'unknown file format'", arguments: [
        [0xDE, 0xAD, 0xBE, 0xEF] as [UInt8],
        [0, 0, 0, 0],
        Array("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n".utf8),
        Array(repeating: 0xFF, count: 64),
    ])
    func badMagic(_ start: [UInt8]) async throws {
        let scratch = try Scratch()
        // A valid capture after the bad first bytes: the magic alone decides.
        let bytes = start + Array(Pcap.file(handshake).dropFirst(min(start.count, 4)))
        let outcome = try await readCapture(try scratch.write("bad-magic.pcap", bytes), in: scratch)
        #expect(outcome.endedCleanly, "\(outcome.stderr)")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("cannot read capture file"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("unknown file format"), "\(outcome.stderr)")
        #expect(!outcome.hasSummary)
    }

    @Test("a file header and no record is an empty capture: exit 0, all zero")
    func headerOnly() async throws {
        let scratch = try Scratch()
        let outcome = try await readCapture(try scratch.write("header-only.pcap", Pcap.header()), in: scratch)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.hasSummary)
        for line in summaryLines(success: 0, timeout: 0) { #expect(outcome.stderr.contains(line)) }
    }

    @Test("a file header claiming a 0 or 4 GB snapshot length: libpcap bounds it, the records are read (exit 0)",
          arguments: [0, 0xFFFF_FFFF] as [UInt32])
    func absurdSnapLength(_ snapLength: UInt32) async throws {
        let scratch = try Scratch()
        let bytes = Pcap.header(snapLength: snapLength) + handshake.flatMap(Pcap.record)
        let outcome = try await readCapture(try scratch.write("snaplen.pcap", bytes), in: scratch)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        for line in summaryLines(success: 1, timeout: 0) { #expect(outcome.stderr.contains(line), "\(outcome.stderr)") }
    }

    @Test("a link type tcpeek cannot decode: exit 1 naming it, no summary", arguments: [147, 0xFFFF, 0x0FFF_FFFF] as [UInt32])
    func unknownLinkType(_ linkType: UInt32) async throws {
        let scratch = try Scratch()
        let bytes = Pcap.header(linkType: linkType) + handshake.flatMap(Pcap.record)
        let outcome = try await readCapture(try scratch.write("link.pcap", bytes), in: scratch)
        #expect(outcome.endedCleanly, "\(outcome.stderr)")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("is not supported"), "\(outcome.stderr)")
        #expect(!outcome.hasSummary)
    }

    @Test("a record header claiming 4 GB after a SYN: the SYN is summarized, then exit 1 saying where it stopped")
    func hugeRecordAfterPackets() async throws {
        let scratch = try Scratch()
        let bytes = Pcap.header() + Pcap.record(handshake[0])
            + Pcap.recordHeader(seconds: 101, capturedLength: 0xFFFF_FFFF, originalLength: 0xFFFF_FFFF)
            + Array(repeating: 0x41, count: 100)
        let outcome = try await readCapture(try scratch.write("huge.pcap", bytes), in: scratch)
        #expect(outcome.endedCleanly, "\(outcome.stderr)")
        #expect(outcome.status == 1)
        #expect(outcome.hasSummary, "the packet before the damage is counted")
        // The open SYN closes as timeout at the end of the valid part.
        for line in summaryLines(success: 0, timeout: 1) { #expect(outcome.stderr.contains(line), "\(outcome.stderr)") }
        #expect(outcome.stderr.contains("error: reading '"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("stopped after 1 packet:"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("4294967295"), "libpcap names the length")
    }

    @Test("a record header claiming 4 GB first: exit 1, stopped after 0 packets, no summary")
    func hugeFirstRecord() async throws {
        let scratch = try Scratch()
        let bytes = Pcap.header() + Pcap.recordHeader(seconds: 100, capturedLength: 0xFFFF_FFFF, originalLength: 0xFFFF_FFFF)
            + Array(repeating: 0x41, count: 100)
        let outcome = try await readCapture(try scratch.write("huge-first.pcap", bytes), in: scratch)
        #expect(outcome.endedCleanly, "\(outcome.stderr)")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("stopped after 0 packets"), "\(outcome.stderr)")
        #expect(!outcome.hasSummary)
    }

    @Test("zero-length records are counted as malformed; the handshake around them succeeds (exit 0)")
    func zeroLengthRecords() async throws {
        let scratch = try Scratch()
        let empty = { (seconds: UInt32) in CaptureRecord(seconds: seconds, frame: []) }
        let records = [empty(100), handshake[0], empty(100), handshake[1], empty(101), handshake[2], empty(103)]
        let outcome = try await readCapture(try scratch.write("zero.pcap", Pcap.file(records)), in: scratch)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        for line in summaryLines(success: 1, timeout: 0) { #expect(outcome.stderr.contains(line), "\(outcome.stderr)") }
        #expect(outcome.stderr.contains("malformed packets : 4"), "\(outcome.stderr)")
    }

    @Test("timestamps going backwards: exit 0, one warning, the handshake succeeds, 'to' is not before 'from'")
    func timestampsBackwards() async throws {
        let scratch = try Scratch()
        let records = [CaptureRecord(seconds: 100, frame: syn), CaptureRecord(seconds: 90, frame: synACK), CaptureRecord(seconds: 80, frame: ack)]
        let outcome = try await readCapture(try scratch.write("backwards.pcap", Pcap.file(records)), in: scratch)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        for line in summaryLines(success: 1, timeout: 0) { #expect(outcome.stderr.contains(line), "\(outcome.stderr)") }
        let warnings = outcome.stderr.components(separatedBy: "\n").filter { $0.hasPrefix("warning:") }
        #expect(warnings.count == 1, "\(outcome.stderr)")
        #expect(warnings.first?.contains("2 packets are timestamped earlier") == true, "\(warnings)")
        // The summary spans the earliest to the latest packet time.
        #expect(outcome.stderr.contains("     from : 1970-01-01 00:01:20"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("       to : 1970-01-01 00:01:40"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("     time :        20.000 (sec)"), "\(outcome.stderr)")
    }

    @Test("pcapng with unknown, custom, name-resolution and statistics blocks: skipped, exit 0")
    func pcapngUnknownBlocks() async throws {
        let scratch = try Scratch()
        let outcome = try await readCapture(try scratch.write("unknown-blocks.pcapng", Pcapng.withUnknownBlocks), in: scratch)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        for line in summaryLines(success: 1, timeout: 0) { #expect(outcome.stderr.contains(line), "\(outcome.stderr)") }
        #expect(outcome.stderr.contains("malformed packets : 0"))
    }

    @Test("pcapng damage after a packet: summarized, then exit 1 saying where it stopped", arguments: Pcapng.damages.indices)
    func pcapngDamage(_ index: Int) async throws {
        let (name, damage, reason) = Pcapng.damages[index]
        let scratch = try Scratch()
        let bytes = Pcapng.sectionHeader + Pcapng.interface + Pcapng.enhancedPacket(handshake[0]) + damage
        let outcome = try await readCapture(try scratch.write("\(name).pcapng", bytes), in: scratch)
        #expect(outcome.endedCleanly, "\(outcome.stderr)")
        #expect(outcome.status == 1)
        for line in summaryLines(success: 0, timeout: 1) { #expect(outcome.stderr.contains(line), "\(outcome.stderr)") }
        #expect(outcome.stderr.contains("stopped after 1 packet:"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains(reason), "\(outcome.stderr)")
    }

    /// What reading a file cut at `offset` must give, from where the cut falls.
    private struct CutExpectation {
        /// Exit 1 without a summary: not even the headers could be read.
        var unopenable = false
        /// Whole packets before the cut.
        var packets = 0
        /// The cut falls exactly between two records (or blocks): a valid, shorter file.
        var atBoundary = false
    }

    /// Expectations for every offset of a file made of `headerLength` bytes of
    /// headers and then one record per packet of the given sizes.
    private static func cuts(headerLength: Int, recordLengths: [Int], minimumOpenable: Int) -> [(Int, CutExpectation)] {
        var boundaries = [headerLength]
        for length in recordLengths { boundaries.append(boundaries.last! + length) }
        let total = boundaries.last!
        var offsets = Set(0..<min(total, headerLength + 2))
        for boundary in boundaries { offsets.formUnion([boundary - 1, boundary, boundary + 1, boundary + 10]) }
        offsets.formUnion(stride(from: 0, to: total, by: 7))
        return offsets.filter { $0 >= 0 && $0 < total }.sorted().map { offset in
            var expectation = CutExpectation()
            if offset < minimumOpenable {
                expectation.unopenable = true
            } else {
                expectation.packets = boundaries.dropFirst().filter { $0 <= offset }.count
                expectation.atBoundary = boundaries.contains(offset)
            }
            return (offset, expectation)
        }
    }

    @Test("a pcap cut at every header offset and around every record boundary: never a crash, the right status")
    func truncatedPcap() async throws {
        let file = Pcap.file(handshake)
        let cuts = Self.cuts(headerLength: Pcap.headerLength,
                             recordLengths: handshake.map { Pcap.recordHeaderLength + $0.frame.count },
                             minimumOpenable: Pcap.headerLength)
        try await checkCuts(file, cuts, suffix: "pcap")
    }

    @Test("a pcapng cut at every offset of its first blocks and around every block: never a crash, the right status")
    func truncatedPcapng() async throws {
        let headers = Pcapng.sectionHeader + Pcapng.interface
        let blocks = handshake.map { Pcapng.enhancedPacket($0) }
        let file = headers + blocks.flatMap { $0 }
        // libpcap reads the section header block and the first interface
        // block when it opens the file; a cut before their end cannot open.
        let cuts = Self.cuts(headerLength: headers.count, recordLengths: blocks.map { $0.count },
                             minimumOpenable: headers.count)
        try await checkCuts(file, cuts, suffix: "pcapng")
    }

    private func checkCuts(_ file: [UInt8], _ cuts: [(Int, CutExpectation)], suffix: String) async throws {
        let scratch = try Scratch()
        // Two binaries at a time: the machine may have only two cores.
        try await withThrowingTaskGroup(of: (Int, CutExpectation, ReadResult).self) { group in
            var pending = cuts[...]
            func launch() throws {
                guard let (offset, expectation) = pending.popFirst() else { return }
                let path = try scratch.write("cut-\(offset).\(suffix)", Array(file[..<offset]))
                group.addTask { (offset, expectation, try await readCapture(path, in: scratch)) }
            }
            try launch()
            try launch()
            while let (offset, expectation, outcome) = try await group.next() {
                try launch()
                let context = "cut at \(offset) of \(file.count) bytes: status \(outcome.status)\n\(outcome.stderr)"
                #expect(outcome.endedCleanly, "\(context)")
                if expectation.unopenable {
                    #expect(outcome.status == 1, "\(context)")
                    #expect(outcome.stderr.contains("cannot read capture file"), "\(context)")
                    #expect(!outcome.hasSummary, "\(context)")
                    continue
                }
                // Sessions counted so far: the SYN alone or SYN + SYN/ACK time
                // out; the whole handshake succeeds.
                let success = expectation.packets == 3 ? 1 : 0
                let timeout = expectation.packets == 1 || expectation.packets == 2 ? 1 : 0
                if expectation.atBoundary {
                    #expect(outcome.status == 0, "\(context)")
                    for line in summaryLines(success: success, timeout: timeout) { #expect(outcome.stderr.contains(line), "\(context)") }
                } else {
                    #expect(outcome.status == 1, "\(context)")
                    let noun = expectation.packets == 1 ? "packet" : "packets"
                    #expect(outcome.stderr.contains("stopped after \(expectation.packets) \(noun):"), "\(context)")
                    #expect(outcome.stderr.contains("truncated"), "\(context)")
                    #expect(outcome.hasSummary == (expectation.packets > 0), "\(context)")
                    if expectation.packets > 0 {
                        for line in summaryLines(success: success, timeout: timeout) { #expect(outcome.stderr.contains(line), "\(context)") }
                    }
                }
            }
        }
    }
}
