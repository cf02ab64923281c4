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
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            throw .readOnly(path: databasePath, detail: "cannot open its lock file '\(path)': \(String(cString: strerror(errno)))")
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
            if reason == EWOULDBLOCK { throw .otherRecorder(path: databasePath, pid: holder) }
            throw .readOnly(path: databasePath, detail: "cannot lock '\(path)': \(String(cString: strerror(reason)))")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        self.descriptor = Mutex(descriptor)
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
