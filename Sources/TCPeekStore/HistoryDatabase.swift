import Foundation
import GRDB
import TCPeekCore

/// A tcpeek history database file: opened for recording (one writer, WAL,
/// `synchronous=NORMAL`, busy timeout) or for reading (`tcpeek query`, the
/// socket server), which never changes the file.
public final class HistoryDatabase: Sendable {
    public let path: String
    let writer: (any DatabaseWriter)?
    /// nil when the file is read without SQLite's locks (see `readUnlocked`).
    let reader: (any DatabaseReader)?
    /// Held while recording: one database has one recorder.
    private let recorderLock: RecorderLock?

    private init(path: String, writer: (any DatabaseWriter)?, reader: (any DatabaseReader)?,
                 recorderLock: RecorderLock? = nil) {
        self.path = path
        self.writer = writer
        self.reader = reader
        self.recorderLock = recorderLock
    }

    /// The default location: `/var/lib/tcpeek/tcpeek.db` for root, otherwise
    /// `$XDG_DATA_HOME/tcpeek/tcpeek.db` (`~/.local/share/tcpeek/tcpeek.db`).
    public static var defaultPath: String { defaultPath(euid: geteuid(), environment: ProcessInfo.processInfo.environment) }

    static func defaultPath(euid: uid_t, environment: [String: String]) -> String {
        if euid == 0 { return "/var/lib/tcpeek/tcpeek.db" }
        // $HOME first, as every XDG program does; the passwd entry's home
        // (NSHomeDirectory) only without it.
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let dataHome = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (home + "/.local/share")
        return dataHome + "/tcpeek/tcpeek.db"
    }

    /// Opens (creating it and its folder if needed, modes 0640 and 0750) and
    /// migrates the database for recording. `willUpgrade` is told before a
    /// database of an earlier schema version is brought to this one, which
    /// can take a while (see Schema/).
    ///
    /// `readerGroup` (`--db-group`) is given the file, its -wal and -shm
    /// files and its folder, with read access only, so that its members can
    /// query the history.
    public static func openForRecording(
        path: String, readerGroup: gid_t? = nil, busyTimeout: TimeInterval = 5,
        willUpgrade: (_ from: Int, _ to: Int) -> Void = { _, _ in }
    ) throws(StoreError) -> HistoryDatabase {
        let folder = PathText.folder(of: path)
        var isFolder: ObjCBool = false
        if !folder.isEmpty, FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), !isFolder.boolValue {
            throw .cannotCreateFolder(path: folder, detail: "a file of that name is in the way")
        }
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
            do {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            } catch {
                throw .cannotCreateFolder(path: folder, detail: (error as NSError).localizedDescription)
            }
        }
        let existing = try FileKind(path: path)
        var isNew = existing == .missing
        if case .other(let kind) = existing { throw .notAFile(path: path, kind: kind) }
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
        // A newer or foreign database is refused before anything can write
        // to it (opening the pool alone switches a file to WAL), and before
        // the lock file is made beside it.
        if !isNew { try inspect(path: path, busyTimeout: busyTimeout) }
        // Before anything is created or migrated: a second recorder
        // leaves the file exactly as the first one has it.
        let lock = try RecorderLock(databasePath: path)
        if isNew {
            // Created before SQLite opens it so the mode is ours, not the
            // umask's; exclusively, because recorders starting together must
            // share one file: replacing it under another's open connection
            // would pair that connection's -wal with a different database.
            let descriptor = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o640)
            if descriptor >= 0 {
                fchmod(descriptor, 0o640)
                Glibc.close(descriptor)
            } else if errno == EEXIST {
                isNew = false
            } else {
                throw .readOnly(path: path, detail: "cannot create the file: \(String(cString: strerror(errno)))")
            }
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "tcpeek.history"
        // The one writer is tcpeek's recorder, whose rows reference only
        // its own run: checking each session's run_id cost a tenth of the
        // insert.
        configuration.foreignKeysEnabled = false
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            if let readerGroup { try grant(path: path, folder: folder, to: readerGroup) }
            let pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in try Schema.migrate(db, path: path, willUpgrade: willUpgrade) }
            return HistoryDatabase(path: path, writer: pool, reader: pool, recorderLock: lock)
        } catch {
            if isNew { removeIfUntouched(path) }
            throw StoreError.from(error, path: path)
        }
    }

    /// Opens an existing database for `tcpeek ship`: reads its sessions and
    /// writes its ship cursors while a recorder may be writing it (no
    /// recorder lock; SQLite serialises the two writers' transactions).
    /// Brings an older file to this version first: the cursors need version 7.
    public static func openForShipping(path: String, busyTimeout: TimeInterval = 5) throws(StoreError) -> HistoryDatabase {
        switch try FileKind(path: path) {
        case .missing: throw .notFound(path: path)
        case .other(let kind): throw .notAFile(path: path, kind: kind)
        case .regular: break
        }
        guard access(path, R_OK | W_OK) == 0 else {
            throw .readOnly(path: path, detail: "tcpeek ship keeps its cursor in the database, so it needs to write it: "
                + String(cString: strerror(errno)))
        }
        try inspect(path: path, busyTimeout: busyTimeout)
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "tcpeek.history.ship"
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in try Schema.migrate(db, path: path) }
            return HistoryDatabase(path: path, writer: pool, reader: pool)
        } catch {
            throw StoreError.from(error, path: path)
        }
    }

    /// Refuses, only reading it, a file that is not a tcpeek database this
    /// build can record into.
    private static func inspect(path: String, busyTimeout: TimeInterval) throws(StoreError) {
        try checkHeader(path: path)
        do {
            var inspection = Configuration()
            inspection.readonly = true
            inspection.busyMode = .timeout(busyTimeout)
            inspection.label = "tcpeek.history.check"
            let queue = try DatabaseQueue(path: path, configuration: inspection)
            _ = try queue.read { db in try Schema.check(db, path: path) }
            try queue.close()
        } catch {
            throw StoreError.from(error, path: path)
        }
    }

    /// Gives the database's group read access. SQLite creates the -wal and
    /// -shm files with the database file's mode and owners, so they follow.
    private static func grant(path: String, folder: String, to group: gid_t) throws(StoreError) {
        for file in [path, path + "-wal", path + "-shm"] {
            guard FileManager.default.fileExists(atPath: file) else { continue }
            var status = stat()
            guard stat(file, &status) == 0, chown(file, uid_t.max, group) == 0,
                  chmod(file, (status.st_mode & 0o7777 & ~0o027) | 0o040) == 0 else {
                throw .readOnly(path: path, detail: "cannot give '\(file)' to group \(group) (--db-group): \(String(cString: strerror(errno)))")
            }
        }
        // The folder too, or its members could not reach the file.
        var status = stat()
        let folderPath = folder.isEmpty ? "." : folder
        guard stat(folderPath, &status) == 0 else { return }
        if status.st_uid == geteuid(), status.st_gid != group || status.st_mode & 0o050 != 0o050 {
            guard chown(folderPath, uid_t.max, group) == 0, chmod(folderPath, (status.st_mode & 0o7777) | 0o050) == 0 else {
                throw .readOnly(path: path, detail: "cannot give its folder '\(folderPath)' to group \(group) (--db-group): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Removes the file this process created if no one has written to it
    /// yet: a recorder that started together with this one may have it open.
    private static func removeIfUntouched(_ path: String) {
        var status = stat()
        guard stat(path, &status) == 0, status.st_size == 0,
              !FileManager.default.fileExists(atPath: path + "-wal") else { return }
        unlink(path)
    }

    /// Opens an existing database for reading only; works for a user who
    /// may only read the file and while a recorder writes it.
    ///
    /// A database at rest is in WAL mode with no -wal or -shm file, and
    /// SQLite's read-only connection then needs to create the -shm file:
    /// a user who cannot write the folder is refused ("attempt to write a
    /// readonly database"). That user reads the file as immutable instead
    /// (`readUnlocked`), which is exact as long as no -wal file holds
    /// changes; when one does (a recorder is running, or was killed), its
    /// -wal and -shm files let the ordinary read-only connection in, or the
    /// error says which of them this user cannot read.
    public static func openForReading(path: String) throws(StoreError) -> HistoryDatabase {
        switch try FileKind(path: path) {
        case .missing: throw .notFound(path: path)
        case .other(let kind): throw .notAFile(path: path, kind: kind)
        case .regular: break
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw .cannotOpen(path: path, detail: "the file is not readable by this user")
        }
        try checkHeader(path: path)
        let queue: DatabaseQueue
        do {
            queue = try readOnlyConnection(path)
            try queue.read { db in try checkVersion(db, path: path) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_READONLY || error.resultCode == .SQLITE_CANTOPEN {
            // Refused for want of a writable folder (or an unreadable -wal/-shm).
            let database = HistoryDatabase(path: path, writer: nil, reader: nil)
            try database.read { db in try checkVersion(db, path: path) }
            return database
        } catch {
            throw StoreError.from(error, path: path)
        }
        return HistoryDatabase(path: path, writer: nil, reader: queue)
    }

    private static func readOnlyConnection(_ path: String, immutable: Bool = false) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        configuration.label = "tcpeek.history.read"
        return try DatabaseQueue(path: immutable ? immutableURI(path) : path, configuration: configuration)
    }

    private static func checkVersion(_ db: Database, path: String) throws {
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if version > Schema.latestVersion {
            throw StoreError.newerSchema(path: path, found: version, known: Schema.latestVersion)
        }
        if version == 0 {
            throw try Schema.unversioned(db, path: path)
                ?? StoreError.notTCPeekDatabase(path: path, detail: "it has no tcpeek schema version")
        }
        // Queries are written for the latest tables; upgrading is a
        // recorder's job (a reader may lack write access, and an older
        // recorder may still be writing the old tables).
        if version < Schema.latestVersion {
            throw StoreError.olderSchema(path: path, found: version, known: Schema.latestVersion)
        }
    }

    /// `file:PATH?immutable=1`, the path absolute and percent-encoded.
    static func immutableURI(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let plain = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/")
        return "file:" + (absolute.addingPercentEncoding(withAllowedCharacters: plain) ?? absolute) + "?immutable=1"
    }

    /// One read for a user whose read-only connection SQLite refused: as an
    /// immutable file (no locks, no -wal) while no -wal file holds changes,
    /// again if the file changed meanwhile (a recorder started); through an
    /// ordinary read-only connection when a -wal file holds changes.
    private func readUnlocked<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        var refusal: StoreError?
        for attempt in 0..<5 {
            if attempt > 0 { usleep(200_000) }
            let before = FileState(path)
            if before.walHasChanges {
                do {
                    let queue = try Self.readOnlyConnection(path)
                    defer { try? queue.close() }
                    return try queue.read(body)
                } catch let error as DatabaseError where error.resultCode == .SQLITE_READONLY || error.resultCode == .SQLITE_CANTOPEN {
                    guard let problem = walProblem() else {
                        // Both readable: a recorder opening or closing at this moment.
                        refusal = .cannotOpen(path: path, detail: error.message ?? "\(error)")
                        continue
                    }
                    throw .cannotOpen(path: path, detail: problem
                        + "; let this user read the -wal and -shm files as well as the database, or query as a user who can write its folder")
                } catch {
                    throw StoreError.from(error, path: path)
                }
            }
            let result: Result<T, any Error>
            do {
                let queue = try Self.readOnlyConnection(path, immutable: true)
                defer { try? queue.close() }
                result = .success(try queue.read(body))
            } catch {
                result = .failure(error)
            }
            // Without locks a writer could have changed the file under the read.
            guard FileState(path) == before else { continue }
            switch result {
            case .success(let value): return value
            case .failure(let error): throw StoreError.from(error, path: path)
            }
        }
        throw refusal ?? .cannotOpen(path: path, detail: "this user cannot write its folder, so it is read without locks,"
            + " and a writer kept changing it meanwhile; try again")
    }

    /// Why this user cannot read the changes in the -wal file, if it cannot.
    private func walProblem() -> String? {
        let wal = path + "-wal", shm = path + "-shm"
        if access(wal, R_OK) != 0 {
            return "this user cannot read its write-ahead log '\(wal)' (\(String(cString: strerror(errno)))), which holds changes not yet in the database file"
        }
        if FileManager.default.fileExists(atPath: shm) {
            if access(shm, R_OK) != 0 {
                return "this user cannot read '\(shm)' (\(String(cString: strerror(errno)))), which SQLite needs to read the changes in '\(wal)'"
            }
            return nil
        }
        return "its write-ahead log '\(wal)' holds changes not yet in the database file, and SQLite cannot read them"
            + " without '\(shm)', which this user cannot create (its folder is not writable)"
    }

    /// A non-empty file that does not start with SQLite's header is refused
    /// before SQLite touches it.
    private static func checkHeader(path: String) throws(StoreError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { Glibc.close(descriptor) }
        var header = [UInt8](repeating: 0, count: 16)
        let count = pread(descriptor, &header, header.count, 0)
        guard count >= 0 else {
            throw .cannotOpen(path: path, detail: "cannot read it: \(String(cString: strerror(errno)))")
        }
        if count > 0, !header[..<count].elementsEqual("SQLite format 3\0".utf8) {
            throw .notTCPeekDatabase(path: path, detail: "it is not an SQLite database")
        }
    }

    /// Closes the connections. The last one to close checkpoints the WAL, so
    /// the database file alone holds everything and the -wal file is removed.
    public func close() {
        if let pool = writer as? DatabasePool {
            // Everything into the database file first: while another
            // connection of this process is open (the socket server's, which
            // stops after the recorder) the writer is not the last one, and
            // that read-only one never checkpoints: the history would stay
            // in the -wal file after exit, the database file holding nothing.
            _ = try? pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            // Idle readers first: GRDB closes the writer before the readers,
            // and only a closing writer that is the last connection checkpoints.
            pool.releaseMemory()
            try? pool.close()
            recorderLock?.release()
        } else if let queue = reader as? DatabaseQueue {
            try? queue.close()
        }
    }

    /// Runs a read on a consistent snapshot.
    public func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        guard let reader else { return try readUnlocked(body) }
        do { return try reader.read(body) } catch { throw StoreError.from(error, path: path) }
    }

    func write<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        guard let writer else { throw .readOnly(path: path, detail: "opened for reading") }
        do { return try writer.write(body) } catch { throw StoreError.from(error, path: path) }
    }
}

/// What shows that a writer touched a database file: the file's identity,
/// size and times, and the size of its -wal file.
private struct FileState: Equatable {
    var device: UInt64 = 0, inode: UInt64 = 0, size: Int64 = -1
    var modified = timespec(), changed = timespec()
    var walSize: Int64?

    init(_ path: String) {
        var status = stat()
        if stat(path, &status) == 0 {
            (device, inode, size) = (UInt64(status.st_dev), UInt64(status.st_ino), Int64(status.st_size))
            (modified, changed) = (status.st_mtim, status.st_ctim)
        }
        var wal = stat()
        walSize = stat(path + "-wal", &wal) == 0 ? Int64(wal.st_size) : nil
    }

    /// A -wal file with content: changes the database file may not hold yet.
    var walHasChanges: Bool { (walSize ?? 0) > 0 }

    static func == (a: FileState, b: FileState) -> Bool {
        a.device == b.device && a.inode == b.inode && a.size == b.size && a.walSize == b.walSize
            && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
            && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
    }
}

/// What is at a database path, from `stat`.
enum FileKind: Equatable {
    case missing, regular
    case other(String)

    init(path: String) throws(StoreError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { self = .missing; return }
            // EACCES: a folder on the way cannot be entered; saying "no
            // database" would send the user looking in the wrong place.
            throw .cannotOpen(path: path, detail: "\(String(cString: strerror(errno)))"
                + (errno == EACCES ? " (this user cannot enter a folder on its path)" : ""))
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .other("folder")
        case S_IFCHR, S_IFBLK: self = .other("device")
        case S_IFIFO: self = .other("pipe")
        case S_IFSOCK: self = .other("socket")
        default: self = .other("special file")
        }
    }
}
