// PcapRecordReader against libpcap itself: for every classic pcap of the
// corpus and for files built to reach its edges (nanosecond stamps,
// records longer than the snapshot length, time stamps past 2038, damaged
// records), both readers must hand out the same records, or stop with the
// same words.
import CPcap
import Foundation
@testable import TCPeekCapture
import TCPeekCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("PcapRecordReader reads as libpcap does")
struct PcapRecordReaderTests {
    /// One record as a reader handed it out.
    struct Record: Equatable, CustomStringConvertible {
        var time: Timestamp
        var bytes: [UInt8]
        var description: String { "\(time.microseconds) µs, \(bytes.count) bytes" }
    }

    /// What reading a whole file gave: the records, then the error that
    /// stopped it, if any.
    struct Reading: Equatable {
        var records: [Record] = []
        var error: String?
    }

    static func readWithLibpcap(_ path: String) throws -> Reading {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        let pointer = try #require(pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_MICRO),
                                                                         &errorBuffer), "\(errorText(errorBuffer))")
        defer { pcap_close(pointer) }
        var reading = Reading()
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let status = pcap_next_ex(pointer, &header, &data)
            if status == 1, let header, let data {
                reading.records.append(Record(
                    time: Timestamp(seconds: Int64(header.pointee.ts.tv_sec), microseconds: Int64(header.pointee.ts.tv_usec)),
                    bytes: Array(UnsafeBufferPointer(start: data, count: Int(header.pointee.caplen)))))
                continue
            }
            if status == PCAP_ERROR { reading.error = String(cString: pcap_geterr(pointer)) }
            return reading
        }
    }

    /// Reads through PcapHandle, as the capture does; nil when the file is
    /// not one the reader takes over.
    static func readInPlace(_ path: String, batch: Int = 7) throws -> Reading? {
        let handle = try PcapHandle.open(file: path)
        guard let reader = handle.recordReader else { return nil }
        var reading = Reading()
        do {
            while try reader.read(upTo: batch, { time, frame in
                reading.records.append(Record(time: time, bytes: Array(frame)))
            }) > 0 {}
        } catch {
            reading.error = error.detail
        }
        return reading
    }

    static var corpusPcaps: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: TestPaths.corpus.path)) ?? []
        return names.filter { $0.hasSuffix(".pcap") }.sorted()
    }

    @Test("every classic pcap of the corpus: the same records", arguments: corpusPcaps)
    func corpusFile(name: String) throws {
        let path = TestPaths.capture(name)
        let expected = try Self.readWithLibpcap(path)
        let magic = try #require(FileHandle(forReadingAtPath: path)?.readData(ofLength: 4))
        // Little-endian classic pcap, microseconds or nanoseconds: ours to
        // read. pcapng and big-endian files stay with libpcap.
        guard magic == Data([0xD4, 0xC3, 0xB2, 0xA1]) || magic == Data([0x4D, 0x3C, 0xB2, 0xA1]) else {
            #expect(try Self.readInPlace(path) == nil, "\(name) is left to libpcap")
            return
        }
        let reading = try #require(try Self.readInPlace(path), "\(name) is a classic pcap in this machine's byte order")
        #expect(!reading.records.isEmpty)
        #expect(reading.records.count == expected.records.count)
        #expect(reading == expected)
    }

    @Test("the corpus has classic pcap files for this test to read")
    func corpusIsThere() {
        #expect(Self.corpusPcaps.count >= 20)
    }

    @Test("pcapng is left to libpcap")
    func pcapngIsNotTakenOver() throws {
        #expect(try Self.readInPlace(TestPaths.capture("ndpi__sites.pcapng")) == nil)
    }

    // MARK: Built files

    /// A classic pcap: `magic` selects the time stamp unit; each record is
    /// (seconds, fraction, captured length written in the header, data).
    static func pcap(magic: UInt32 = 0xA1B2_C3D4, snapshotLength: UInt32 = 65535,
                     records: [RecordSpec], tail: [UInt8] = []) -> [UInt8] {
        var bytes: [UInt8] = []
        func put32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        func put16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        put32(magic); put16(2); put16(4); put32(0); put32(0); put32(snapshotLength); put32(1)
        for (seconds, fraction, captured, data) in records {
            put32(seconds); put32(fraction); put32(captured); put32(UInt32(data.count))
            bytes += data
        }
        return bytes + tail
    }

    static func frame(_ size: Int, seed: UInt8) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) &+ seed }
    }

    static func write(_ bytes: [UInt8], name: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tcpeek-record-reader-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    typealias RecordSpec = (seconds: UInt32, fraction: UInt32, captured: UInt32, data: [UInt8])

    static let builtFiles: [(String, [UInt8])] = {
        let small: [RecordSpec] = (0..<50).map { index -> RecordSpec in
            (UInt32(100 + index), UInt32(index * 1000), 60, frame(60, seed: UInt8(index)))
        }
        let nano: [RecordSpec] = small.map { record -> RecordSpec in
            (record.seconds, record.fraction * 1000 + 999, record.captured, record.data)
        }
        // Enough records that the 1 MiB buffer is refilled with a record
        // split across its end, several times.
        let many: [RecordSpec] = (0..<9000).map { index -> RecordSpec in
            let size = 300 + index % 97
            return (UInt32(1_000 + index), 999_999, UInt32(size), frame(size, seed: UInt8(truncatingIfNeeded: index)))
        }
        let longest: [RecordSpec] = [(5, 1, 262_144, frame(262_144, seed: 3))]
        let long: RecordSpec = (7, 7, 1500, frame(1500, seed: 9))
        let lastOne: RecordSpec = (9, 9, 60, frame(60, seed: 1))
        let past2038: [RecordSpec] = [(0xFFFF_FFF0, 5, 60, frame(60, seed: 1)), (0x8000_0000, 0, 60, frame(60, seed: 2))]
        let empty: [RecordSpec] = [(1, 0, 0, []), (2, 0, 0, []), (3, 0, 60, frame(60, seed: 4))]
        let overMaximum: RecordSpec = (9, 9, 300_000, frame(10, seed: 1))
        let fourGB: RecordSpec = (9, 9, UInt32.max, frame(10, seed: 1))
        var files: [(String, [UInt8])] = []
        files.append(("microseconds", pcap(records: small)))
        files.append(("nanoseconds", pcap(magic: 0xA1B2_3C4D, records: nano)))
        files.append(("many records across refills", pcap(records: many)))
        files.append(("a record of the maximum length", pcap(snapshotLength: 262_144, records: longest)))
        files.append(("records longer than the snapshot length", pcap(snapshotLength: 64, records: small + [long] + small)))
        files.append(("a zero snapshot length in the header", pcap(snapshotLength: 0, records: small)))
        files.append(("time stamps past 2038", pcap(records: past2038)))
        files.append(("zero-length records", pcap(records: empty)))
        files.append(("a header cut short", pcap(records: small, tail: [1, 2, 3, 4, 5])))
        files.append(("a record cut short", Array(pcap(records: small + [lastOne]).dropLast(7))))
        files.append(("a long record cut before the snapshot length", Array(pcap(snapshotLength: 64, records: [long]).dropLast(1460))))
        files.append(("a long record cut after the snapshot length", Array(pcap(snapshotLength: 64, records: [long]).dropLast(100))))
        files.append(("a captured length over the maximum", pcap(records: small + [overMaximum])))
        files.append(("a captured length of 4 GB", pcap(snapshotLength: UInt32.max, records: small + [fourGB])))
        return files
    }()

    @Test("built files: the same records, or the same error", arguments: builtFiles.indices)
    func builtFile(index: Int) throws {
        let (name, bytes) = Self.builtFiles[index]
        let path = try Self.write(bytes, name: "built-\(index).pcap")
        defer { unlink(path) }
        let expected = try Self.readWithLibpcap(path)
        let reading = try #require(try Self.readInPlace(path), "\(name)")
        #expect(reading.records.count == expected.records.count, "\(name)")
        #expect(reading.records == expected.records, "\(name)")
        #expect(reading.error == expected.error, "\(name)")
    }

    @Test("the built files reach what they are built for")
    func builtFilesAreWhatTheySay() throws {
        // Guards the test above against comparing two empty readings.
        var errors = 0, records = 0
        for (index, (_, bytes)) in Self.builtFiles.enumerated() {
            let path = try Self.write(bytes, name: "check-\(index).pcap")
            defer { unlink(path) }
            let reading = try Self.readWithLibpcap(path)
            records += reading.records.count
            if reading.error != nil { errors += 1 }
        }
        #expect(errors == 6)
        #expect(records > 9000)
    }

    @Test("the offset follows the records and ends at the file's size")
    func offset() throws {
        let bytes = Self.pcap(records: (0..<100).map { index -> RecordSpec in (UInt32(index), 0, 100, Self.frame(100, seed: 1)) })
        let path = try Self.write(bytes, name: "offset.pcap")
        defer { unlink(path) }
        let handle = try PcapHandle.open(file: path)
        let reader = try #require(handle.recordReader)
        #expect(try #require(handle.fileOffset) == 24)
        let first = try reader.read(upTo: 10) { _, _ in }
        #expect(first == 10)
        #expect(try #require(handle.fileOffset) == Int64(24 + 10 * 116))
        while try reader.read(upTo: 1000, { _, _ in }) > 0 {}
        #expect(try #require(handle.fileOffset) == Int64(bytes.count))
    }
}
