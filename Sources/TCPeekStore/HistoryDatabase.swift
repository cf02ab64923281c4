import Foundation
import GRDB

/// A tcpeek history database file: opened for recording (one writer, WAL,
/// `synchronous=NORMAL`, busy timeout) or for reading (`tcpeek query`, the
/// socket server), which never changes the file.
public final class HistoryDatabase: Sendable {
    public let path: String
    let writer: (any DatabaseWriter)?
    let reader: any DatabaseReader

    private init(path: String, writer: (any DatabaseWriter)?, reader: any DatabaseReader) {
        self.path = path
        self.writer = writer
        self.reader = reader
    }

    /// The default location: `/var/lib/tcpeek/tcpeek.db` for root, otherwise
    /// `$XDG_DATA_HOME/tcpeek/tcpeek.db` (`~/.local/share/tcpeek/tcpeek.db`).
    public static var defaultPath: String {
        if geteuid() == 0 { return "/var/lib/tcpeek/tcpeek.db" }
        let environment = ProcessInfo.processInfo.environment
        let dataHome = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.local/share")
        return dataHome + "/tcpeek/tcpeek.db"
    }

    /// Opens (creating it and its folder if needed, modes 0640 and 0750) and
    /// migrates the database for recording.
    public static func openForRecording(path: String, busyTimeout: TimeInterval = 5) throws(StoreError) -> HistoryDatabase {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
            do {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            } catch {
                throw .cannotCreateFolder(path: folder, detail: (error as NSError).localizedDescription)
            }
        }
        let isNew = !FileManager.default.fileExists(atPath: path)
        if !isNew, access(path, W_OK) != 0 {
            throw .readOnly(path: path, detail: "the file is not writable: \(String(cString: strerror(errno)))")
        }
        // SQLite keeps its -wal and -shm files beside the database: without
        // them it could not even open it for writing.
        let folderPath = folder.isEmpty ? "." : folder
        if access(folderPath, W_OK) != 0 {
            let reason = String(cString: strerror(errno))
            if isNew || access(path + "-wal", W_OK) != 0 || access(path + "-shm", W_OK) != 0 {
                throw .readOnly(path: path, detail: "its folder '\(folderPath)' is not writable (\(reason));"
                    + " SQLite creates the -wal and -shm files beside the database")
            }
        }
        if isNew {
            // Created before SQLite opens it so the mode is ours, not the umask's.
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640]) else {
                throw .readOnly(path: path, detail: "cannot create the file")
            }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "tcpeek.history"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            try checkHeader(path: path)
            if !isNew {
                // A newer or foreign database is refused before anything can
                // write to it: opening the pool alone switches a file to WAL.
                var inspection = Configuration()
                inspection.readonly = true
                inspection.busyMode = .timeout(busyTimeout)
                inspection.label = "tcpeek.history.check"
                let queue = try DatabaseQueue(path: path, configuration: inspection)
                _ = try queue.read { db in try Schema.check(db, path: path) }
                try queue.close()
            }
            let pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in try Schema.migrate(db, path: path) }
            return HistoryDatabase(path: path, writer: pool, reader: pool)
        } catch {
            if isNew { try? FileManager.default.removeItem(atPath: path) }
            throw StoreError.from(error, path: path)
        }
    }

    /// Opens an existing database for reading only; works for a user who
    /// may only read the file and while a recorder writes it.
    public static func openForReading(path: String) throws(StoreError) -> HistoryDatabase {
        guard FileManager.default.fileExists(atPath: path) else { throw .notFound(path: path) }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw .cannotOpen(path: path, detail: "the file is not readable by this user")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        configuration.label = "tcpeek.history.read"
        do {
            try checkHeader(path: path)
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.read { db in
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                if version > Schema.latestVersion {
                    throw StoreError.newerSchema(path: path, found: version, known: Schema.latestVersion)
                }
                if version == 0 {
                    throw StoreError.notTCPeekDatabase(path: path, detail: "it has no tcpeek schema version")
                }
            }
            return HistoryDatabase(path: path, writer: nil, reader: queue)
        } catch {
            throw StoreError.from(error, path: path)
        }
    }

    /// A non-empty file that does not start with SQLite's header is refused
    /// before SQLite touches it.
    private static func checkHeader(path: String) throws(StoreError) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        let header = handle.readData(ofLength: 16)
        if !header.isEmpty, header != Data("SQLite format 3\0".utf8) {
            throw .notTCPeekDatabase(path: path, detail: "it is not an SQLite database")
        }
    }

    /// Closes the connections. The last one to close checkpoints the WAL, so
    /// the database file alone holds everything and the -wal file is removed.
    public func close() {
        if let pool = writer as? DatabasePool {
            // Idle readers first: GRDB closes the writer before the readers,
            // and only a closing writer that is the last connection checkpoints.
            pool.releaseMemory()
            try? pool.close()
        } else if let queue = reader as? DatabaseQueue {
            try? queue.close()
        }
    }

    /// Runs a read on a consistent snapshot.
    public func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try reader.read(body) } catch { throw StoreError.from(error, path: path) }
    }

    func write<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        guard let writer else { throw .readOnly(path: path, detail: "opened for reading") }
        do { return try writer.write(body) } catch { throw StoreError.from(error, path: path) }
    }
}
