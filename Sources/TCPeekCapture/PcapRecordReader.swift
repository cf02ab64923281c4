#if canImport(Glibc)
import Glibc
#endif
import TCPeekCore
import TCPeekSystem

/// Reads the records of a classic pcap file in place: each frame is handed
/// out where it lies in one large buffer filled by `pread`, instead of being
/// copied by stdio and again by libpcap. For a capture of small packets,
/// libpcap's reader (two `fread`s and a copy a packet) costs more than
/// decoding and tracking the packet; this reader costs a bounds check.
///
/// libpcap still opens the file: it checks the header, bounds the snapshot
/// length and says what is wrong with a file that is not a capture. This
/// takes over only for what it reads exactly as libpcap's `sf-pcap.c` does
/// (`eligible`): a seekable file in this machine's byte order, version 2.4,
/// microsecond or nanosecond time stamps. Anything else (pcapng, swapped or
/// ancient headers, a pipe) stays with libpcap. Records are checked as
/// libpcap checks them, and a bad one stops the reading with libpcap's words.
///
/// Capture thread only.
final class PcapRecordReader {
    /// libpcap's `MAXIMUM_SNAPLEN`: a larger captured length is damage.
    static let maximumCaptureLength: UInt32 = 262_144
    private static let fileHeaderLength = 24
    private static let recordHeaderLength = 16
    /// Room for many records per `pread`, and always for the largest one.
    private static let capacity = 1 << 20

    private let descriptor: Int32
    private let snapshotLength: UInt32
    private let nanoseconds: Bool
    private let buffer: UnsafeMutableRawPointer
    /// The file offset of `buffer[0]`.
    private var bufferOffset: Int64
    /// Bytes of the buffer read from the file, and of those, consumed.
    private var filled = 0
    private var consumed = 0
    private var reachedEnd = false

    /// Takes over `descriptor` (which libpcap's FILE keeps open) if the file
    /// is one this reader reads exactly like libpcap; nil otherwise.
    static func eligible(descriptor: Int32, snapshotLength: Int32) -> PcapRecordReader? {
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        // Magic number, major and minor version, in the file's byte order.
        var header: UInt64 = 0
        guard pread(descriptor, &header, 8, 0) == 8 else { return nil }
        let magic = UInt32(truncatingIfNeeded: UInt64(littleEndian: header))
        let version = UInt32(truncatingIfNeeded: UInt64(littleEndian: header) >> 32)
        let nanoseconds: Bool
        switch magic {
        case 0xA1B2_C3D4: nanoseconds = false
        case 0xA1B2_3C4D: nanoseconds = true
        default: return nil
        }
        // 2.4, and this machine little-endian as the records are read so.
        guard version == 0x0004_0002, 1.littleEndian == 1, snapshotLength > 0 else { return nil }
        return PcapRecordReader(descriptor: descriptor, snapshotLength: UInt32(snapshotLength), nanoseconds: nanoseconds)
    }

    private init(descriptor: Int32, snapshotLength: UInt32, nanoseconds: Bool) {
        self.descriptor = descriptor
        self.snapshotLength = min(snapshotLength, Self.maximumCaptureLength)
        self.nanoseconds = nanoseconds
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 16)
        bufferOffset = Int64(Self.fileHeaderLength)
    }

    deinit { buffer.deallocate() }

    /// The file offset of the next record.
    var offset: Int64 { bufferOffset + Int64(consumed) }

    /// Hands up to `limit` records to `body` (time, frame), in file order;
    /// returns how many, 0 at the end of the file. A frame is valid only
    /// during its call. Throws libpcap's description of a damaged record.
    @inline(__always)
    func read(upTo limit: Int, _ body: (Timestamp, UnsafeRawBufferPointer) -> Void) throws(RecordError) -> Int {
        var count = 0
        while count < limit {
            let available = filled - consumed
            guard available >= Self.recordHeaderLength else {
                if try refill() { continue }
                if available == 0 { return count }
                throw .truncated("tried to read 16 header bytes, only got \(available)")
            }
            let record = UnsafeRawPointer(buffer + consumed)
            let captured = record.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
            guard captured <= Self.maximumCaptureLength else {
                throw .invalidLength(captured > snapshotLength
                    ? "invalid packet capture length \(captured), bigger than snaplen of \(snapshotLength)"
                    : "invalid packet capture length \(captured), bigger than maximum of \(Self.maximumCaptureLength)")
            }
            let length = Self.recordHeaderLength + Int(captured)
            guard available >= length else {
                if try refill() { continue }
                let got = available - Self.recordHeaderLength
                // libpcap reads at most the snapshot length into its buffer
                // first, and names what it was reading when the file ended.
                let wanted = captured > snapshotLength && got < Int(snapshotLength) ? snapshotLength : captured
                throw .truncated("tried to read \(wanted) captured bytes, only got \(got)")
            }
            let seconds = Int64(record.loadUnaligned(as: Int32.self))
            let fraction = Int64(record.loadUnaligned(fromByteOffset: 4, as: Int32.self))
            let time = Timestamp(seconds: seconds, microseconds: nanoseconds ? fraction / 1000 : fraction)
            // Longer than the file's snapshot length (old Solaris bufmod):
            // libpcap hands out the snapshot length and skips the rest.
            let frameLength = Int(min(captured, snapshotLength))
            consumed += length
            count += 1
            body(time, UnsafeRawBufferPointer(start: record + Self.recordHeaderLength, count: frameLength))
        }
        return count
    }

    /// Moves what is left to the front and reads more; false at the end.
    private func refill() throws(RecordError) -> Bool {
        if reachedEnd { return false }
        let left = filled - consumed
        if consumed > 0 {
            if left > 0 { buffer.copyMemory(from: buffer + consumed, byteCount: left) }
            bufferOffset += Int64(consumed)
            consumed = 0
            filled = left
        }
        let count = retryingOnInterrupt {
            pread(descriptor, buffer + filled, Self.capacity - filled, off_t(bufferOffset) + off_t(filled))
        }
        if count > 0 {
            filled += count
            return true
        }
        if count == 0 {
            reachedEnd = true
            return false
        }
        throw .failed("error reading dump file: \(String(cString: strerror(errno)))")
    }

    /// What stopped the reading, in libpcap's words.
    enum RecordError: Error {
        case truncated(String)
        case invalidLength(String)
        case failed(String)

        var detail: String {
            switch self {
            case .truncated(let what): "truncated dump file; \(what)"
            case .invalidLength(let text), .failed(let text): text
            }
        }
    }
}
