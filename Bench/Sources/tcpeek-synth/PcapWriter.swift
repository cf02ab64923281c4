#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct WriteError: Error, CustomStringConvertible {
    let description: String
}

/// Writes a classic pcap file (little-endian, microsecond timestamps, link type
/// 1 = Ethernet) through one large buffer handed to `fwrite`, so millions of
/// packets cost a few hundred system calls instead of millions.
///
/// Packets are assembled in place: `beginPacket()` returns where the frame
/// goes, the caller writes it (checksums included), and `endPacket` fills in
/// the 16-byte record header in front of it. Truncating to the snap length is
/// then just not advancing past the bytes beyond it.
final class PcapWriter {
    /// Larger than any frame we build (Ethernet + VLAN + IPv6 + TCP + data).
    static let maxFrame = 4096
    private static let recordHeader = 16

    private let file: UnsafeMutablePointer<FILE>
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity = 8 << 20
    private var used = 0
    /// 0 means "keep whole packets"; the file header then advertises 262144,
    /// what tcpdump writes by default.
    private let snaplen: Int

    private(set) var packets = 0
    private(set) var fileBytes = 24
    private(set) var firstTimestamp: UInt64?
    private(set) var lastTimestamp: UInt64 = 0

    init(path: String, snaplen: Int) throws {
        guard let f = fopen(path, "wb") else {
            throw WriteError(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        file = f
        self.snaplen = snaplen
        buffer = .allocate(capacity: capacity)

        // Global header: magic, version 2.4, thiszone 0, sigfigs 0, snaplen, linktype.
        let raw = UnsafeMutableRawPointer(buffer)
        raw.storeBytes(of: UInt32(0xA1B2_C3D4).littleEndian, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: UInt16(2).littleEndian, toByteOffset: 4, as: UInt16.self)
        raw.storeBytes(of: UInt16(4).littleEndian, toByteOffset: 6, as: UInt16.self)
        raw.storeBytes(of: UInt32(0), toByteOffset: 8, as: UInt32.self)
        raw.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        let advertised = snaplen > 0 ? snaplen : 262_144
        raw.storeBytes(of: UInt32(advertised).littleEndian, toByteOffset: 16, as: UInt32.self)
        raw.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 20, as: UInt32.self)
        used = 24
    }

    deinit {
        buffer.deallocate()
    }

    /// Space for one frame of at most `maxFrame` bytes.
    func beginPacket() throws -> UnsafeMutablePointer<UInt8> {
        if used + Self.recordHeader + Self.maxFrame > capacity {
            try flush()
        }
        return buffer + used + Self.recordHeader
    }

    /// Commits the frame written at the pointer returned by `beginPacket()`.
    /// `micros` is the packet time in microseconds since the Unix epoch.
    func endPacket(micros: UInt64, length: Int) {
        precondition(length <= Self.maxFrame)
        let caplen = snaplen > 0 ? min(length, snaplen) : length
        let raw = UnsafeMutableRawPointer(buffer + used)
        raw.storeBytes(of: UInt32(truncatingIfNeeded: micros / 1_000_000).littleEndian, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: UInt32(truncatingIfNeeded: micros % 1_000_000).littleEndian, toByteOffset: 4, as: UInt32.self)
        raw.storeBytes(of: UInt32(caplen).littleEndian, toByteOffset: 8, as: UInt32.self)
        raw.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 12, as: UInt32.self)
        used += Self.recordHeader + caplen
        fileBytes += Self.recordHeader + caplen
        packets += 1
        if firstTimestamp == nil { firstTimestamp = micros }
        lastTimestamp = micros
    }

    private func flush() throws {
        guard used > 0 else { return }
        if fwrite(buffer, 1, used, file) != used {
            throw WriteError(description: "write failed: \(String(cString: strerror(errno)))")
        }
        used = 0
    }

    func close() throws {
        try flush()
        if fclose(file) != 0 {
            throw WriteError(description: "close failed: \(String(cString: strerror(errno)))")
        }
    }
}
