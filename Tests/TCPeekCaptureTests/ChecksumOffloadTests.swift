// `-c 2` on a capture taken where the interface computes checksums (issue
// 13, item 11): the kernel hands libpcap the packets it sends before their
// checksums are filled in, so every one of them fails verification and is
// counted malformed. tcpeek says so once, and names `-c 0`.
//
// The captures are built here: handshakes whose client side (the capturing
// host) carries wrong TCP checksums, as offload leaves them, and whose
// server side carries right ones, as they arrive from the wire.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("checksum offload under -c 2")
struct ChecksumOffloadTests {
    static let warning = "fail checksum verification; this is what checksum offload looks like on the capturing host: use -c 0 (the default)"

    /// Which packets of each handshake carry a wrong TCP checksum.
    enum Damage: String, CaseIterable, Sendable {
        /// SYN and ACK, sent by the capturing host: offload.
        case sentPackets
        /// None.
        case none
        /// One packet in a hundred: a damaged link, not offload.
        case onePercent
    }

    /// `handshakes` SYN, SYN-ACK, ACK exchanges on successive client ports,
    /// a millisecond apart, as a classic pcap.
    static func capture(handshakes: Int, damage: Damage) -> [UInt8] {
        let client: [UInt8] = [198, 51, 100, 1], server: [UInt8] = [198, 51, 100, 2]
        var records: [PcapRecordReaderTests.RecordSpec] = []
        for index in 0..<handshakes {
            let port = UInt16(20_000 + index % 40_000)
            let isn = UInt32(index) &* 7919
            let packets: [(frame: [UInt8], sentByHost: Bool)] = [
                (segment(from: client, port, to: server, 80, sequence: isn, acknowledgment: 0, flags: 0x02), true),
                (segment(from: server, 80, to: client, port, sequence: 5000, acknowledgment: isn &+ 1, flags: 0x12), false),
                (segment(from: client, port, to: server, 80, sequence: isn &+ 1, acknowledgment: 5001, flags: 0x10), true),
            ]
            for (offset, packet) in packets.enumerated() {
                var frame = packet.frame
                let number = records.count
                let spoil = switch damage {
                case .sentPackets: packet.sentByHost
                case .none: false
                case .onePercent: number % 100 == 0
                }
                if spoil { frame[14 + 20 + 16] ^= 0x5A }  // the TCP checksum's first byte
                let micros = UInt32(index * 1000 + offset * 100)
                records.append((seconds: 1_700_000_000 + micros / 1_000_000, fraction: micros % 1_000_000,
                                captured: UInt32(frame.count), data: frame))
            }
        }
        return PcapRecordReaderTests.pcap(records: records)
    }

    /// An Ethernet frame: IPv4 and a TCP header without options or payload,
    /// both checksums right.
    static func segment(from source: [UInt8], _ sourcePort: UInt16, to destination: [UInt8], _ destinationPort: UInt16,
                        sequence: UInt32, acknowledgment: UInt32, flags: UInt8) -> [UInt8] {
        func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
        func u32(_ v: UInt32) -> [UInt8] { u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF)) }
        var ip: [UInt8] = [0x45, 0]            // version 4, IHL 5; DSCP, ECN
        ip += u16(40)                          // total length: 20 + 20
        ip += u16(0) + u16(0x4000)             // identification; flags DF, fragment offset 0
        ip += [64, 6] + u16(0)                 // TTL; protocol TCP; header checksum (below)
        ip += source + destination             // addresses
        ip.replaceSubrange(10..<12, with: u16(checksum(ip)))
        var tcp = u16(sourcePort) + u16(destinationPort)  // ports
        tcp += u32(sequence) + u32(acknowledgment)        // sequence, acknowledgment numbers
        tcp += [5 << 4, flags] + u16(65535)               // data offset 5; flags; window
        tcp += u16(0) + u16(0)                            // checksum (below); urgent pointer
        let pseudoHeader = source + destination + [0, 6] + u16(UInt16(tcp.count))
        tcp.replaceSubrange(16..<18, with: u16(checksum(pseudoHeader + tcp)))
        let ethernet: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]  // MACs; IPv4
        return ethernet + ip + tcp
    }

    /// The Internet checksum (RFC 1071) of an even number of bytes.
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        for index in stride(from: 0, to: bytes.count, by: 2) { sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    static func read(_ bytes: [UInt8], name: String, checksumMode: String) async throws -> ProcessResult {
        let path = try PcapRecordReaderTests.write(bytes, name: name)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await runTCPeek(["record", "-q", "-c", checksumMode, "-r", path, "--no-db", "--json-summary"],
                                   database: .omitted)
    }

    /// Occurrences of `part` in `text`.
    static func count(_ part: String, in text: String) -> Int { text.components(separatedBy: part).count - 1 }

    @Test("3,000 handshakes (two batches of the file) whose sent packets fail: the warning once, with its figures")
    func offloadedCaptureWarnsOnce() async throws {
        let result = try await Self.read(Self.capture(handshakes: 3000, damage: .sentPackets), name: "offload.pcap",
                                         checksumMode: "2")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.count(Self.warning, in: result.stderr) == 1, "stderr: \(result.stderr)")
        // Said at the first batch the file is read in, with its figures: two of three fail.
        let figures = try #require(result.stderr.firstMatch(of: #/(\d+) of (\d+) packets fail/#), "stderr: \(result.stderr)")
        let (failed, verified) = (try #require(Int(figures.1)), try #require(Int(figures.2)))
        #expect(verified >= 100 && verified <= 9000 && abs(failed * 3 - verified * 2) <= 3, "\(failed) of \(verified)")
    }

    @Test("no warning when checksums are right, rarely wrong, or not verified", arguments: [
        (Damage.none, "2"), (.onePercent, "2"), (.sentPackets, "0"), (.sentPackets, "1"),
    ])
    func noWarning(_ damage: Damage, _ checksumMode: String) async throws {
        let result = try await Self.read(Self.capture(handshakes: 3000, damage: damage),
                                         name: "\(damage.rawValue)-\(checksumMode).pcap", checksumMode: checksumMode)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.count("checksum", in: result.stderr) == 0, "stderr: \(result.stderr)")
        // The summary's successes show which packets counted.
        let expected = switch (damage, checksumMode) {
        case (.onePercent, _): "\"success\":{\"total\":"
        default: "\"success\":{\"total\":3000,"
        }
        #expect(result.stdout.contains(expected), "stdout: \(result.stdout)")
    }

    @Test("fewer than 100 verified packets say nothing yet")
    func tooFewToTell() async throws {
        let result = try await Self.read(Self.capture(handshakes: 33, damage: .sentPackets), name: "few.pcap", checksumMode: "2")
        #expect(result.status == 0)
        #expect(Self.count("checksum", in: result.stderr) == 0, "stderr: \(result.stderr)")
    }
}
