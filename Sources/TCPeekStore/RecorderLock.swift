import Foundation
import Synchronization

/// The claim of one `tcpeek record` on a database: an exclusive `flock` on
/// `PATH.lock` beside it, holding the recorder's pid.
///
/// SQLite's own locks serialise transactions, not writers: two recorders
/// would both run and every session would be counted twice. `flock` is
/// independent of the `fcntl` locks SQLite takes on the database itself,
/// and the kernel releases it when its holder dies, even by `kill -9`, so
/// a crashed recorder never blocks the next one. The file is never
/// removed: unlinking it while another recorder opens it would let two
/// processes lock two different files of one name.
public final class RecorderLock: Sendable {
    public let path: String
    private let descriptor: Mutex<Int32?>

    /// Takes the lock for the database at `databasePath`, or throws
    /// `otherRecorder` naming the process that holds it.
    public init(databasePath: String) throws(StoreError) {
        path = databasePath + ".lock"
        switch Self.take(path) {
        case .success(let descriptor): self.descriptor = Mutex(descriptor)
        case .failure(.held(let holder)): throw .otherRecorder(path: databasePath, pid: holder)
        case .failure(.unusable(let detail)): throw .readOnly(path: databasePath, detail: detail)
        }
    }

    /// The claim of one `tcpeek ship` on (database, destination): the same
    /// kind of lock on `PATH.ship-HASH.lock`, HASH naming the destination.
    public init(databasePath: String, shippingTo destination: String) throws(StoreError) {
        path = databasePath + ".ship-" + Self.shortHash(destination) + ".lock"
        switch Self.take(path) {
        case .success(let descriptor): self.descriptor = Mutex(descriptor)
        case .failure(.held(let holder)): throw .otherShipper(path: databasePath, destination: destination, pid: holder)
        case .failure(.unusable(let detail)): throw .readOnly(path: databasePath, detail: detail)
        }
    }

    enum Refusal: Error {
        case held(by: Int32?)
        case unusable(String)
    }

    /// Opens `path` and takes its exclusive flock, writing our pid into it.
    private static func take(_ path: String) -> Result<Int32, Refusal> {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            return .failure(.unusable("cannot open its lock file '\(path)': \(String(cString: strerror(errno)))"))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            // The holder writes its pid just after taking the lock.
            var holder = Self.recordedPID(descriptor)
            for _ in 0..<20 where holder == nil {
                usleep(5_000)
                holder = Self.recordedPID(descriptor)
            }
            Glibc.close(descriptor)
            if reason == EWOULDBLOCK { return .failure(.held(by: holder)) }
            return .failure(.unusable("cannot lock '\(path)': \(String(cString: strerror(reason)))"))
        }
        let text = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        return .success(descriptor)
    }

    /// 16 hex digits of FNV-1a: a stable file name for any destination.
    static func shortHash(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    deinit { release() }

    /// Gives the database up to the next recorder.
    public func release() {
        // Closing the last descriptor releases the flock.
        descriptor.withLock { descriptor in
            if let open = descriptor { Glibc.close(open) }
            descriptor = nil
        }
    }

    private static func recordedPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count - 1, 0)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self)
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
