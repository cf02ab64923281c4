import Foundation
import GRDB
import TCPeekCore

/// Why the history database cannot be used, worded for the operator.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case newerSchema(path: String, found: Int, known: Int)
    /// Read by `tcpeek query` or the socket: only a recorder upgrades a file.
    case olderSchema(path: String, found: Int, known: Int)
    case notTCPeekDatabase(path: String, detail: String)
    case locked(path: String)
    case readOnly(path: String, detail: String)
    case diskFull(path: String)
    case cannotOpen(path: String, detail: String)
    case cannotCreateFolder(path: String, detail: String)
    case notFound(path: String)
    /// tcpeek's tables without `PRAGMA user_version`: restored from a dump.
    case restoredWithoutVersion(path: String, matches: Bool, latest: Int)
    /// Something other than a regular file is at the path (a folder, a device).
    case notAFile(path: String, kind: String)
    /// Another process records into the database (one recorder per file).
    case otherRecorder(path: String, pid: Int32?)
    /// Another process ships the database to the same destination.
    case otherShipper(path: String, destination: String, pid: Int32?)
    case failed(path: String, detail: String)

    public var description: String {
        switch self {
        case .newerSchema(let path, let found, let known):
            "database '\(path)' was written by a newer tcpeek (schema version \(found); this one knows up to \(known)); "
                + "upgrade tcpeek or choose another file with --db. The file was left untouched"
        case .olderSchema(let path, let found, let known):
            "database '\(path)' was written by an older tcpeek (schema version \(found); this one reads \(known)); "
                + "the next 'tcpeek record --db \(path)' upgrades it (stop any older recorder first). The file was left untouched"
        case .notTCPeekDatabase(let path, let detail):
            "'\(path)' is not a tcpeek database (\(detail)); choose another file with --db. The file was left untouched"
        case .locked(let path):
            "database '\(path)' is locked by another writer (is another 'tcpeek record' using it?); "
                + "stop it or choose another file with --db"
        case .readOnly(let path, let detail):
            "database '\(path)' cannot be written (\(detail)); check the permissions of the file and its folder, "
                + "or run without history (--no-db)"
        case .diskFull(let path):
            "database '\(path)': the disk is full; free space or choose another file with --db"
        case .cannotOpen(let path, let detail):
            "cannot open database '\(path)': \(detail)"
        case .cannotCreateFolder(let path, let detail):
            "cannot create the database folder '\(path)': \(detail); create it or choose another file with --db"
        case .notFound(let path):
            "no database at '\(path)'; record first with 'tcpeek record', or name the file with --db"
        case .restoredWithoutVersion(let path, let matches, let latest):
            "'\(path)' holds tcpeek's tables but no schema version (PRAGMA user_version is 0), as a copy restored from "
                + "sqlite3's .dump is: .dump does not keep the version. "
                + (matches
                    ? "Its tables are exactly those of schema version \(latest): give the version back with "
                        + "sqlite3 '\(path)' 'PRAGMA user_version = \(latest)'"
                    : "Its tables match no schema version this tcpeek writes (\(latest)): restore it with the tcpeek that wrote it, "
                        + "or set the version that tcpeek wrote with sqlite3 '\(path)' 'PRAGMA user_version = N'")
                + ". Copies made with sqlite3's .backup or VACUUM INTO keep it (Schema/README.md). The file was left untouched"
        case .notAFile(let path, let kind):
            kind == "folder"
                ? "'\(path)' is a folder, not a database file; name the file itself, e.g. --db \(PathText.join(path, "tcpeek.db"))"
                : "'\(path)' is a \(kind), not a database file; choose another file with --db"
        case .otherRecorder(let path, let pid):
            "database '\(path)' is being recorded by another tcpeek (\(pid.map { "pid \($0)" } ?? "process unknown")); "
                + "one database has one recorder: stop that one, or record into another file with --db. "
                + "'tcpeek query' and the socket can read it meanwhile"
        case .otherShipper(let path, let destination, let pid):
            "database '\(path)' is already being shipped to \(destination) by another tcpeek "
                + "(\(pid.map { "pid \($0)" } ?? "process unknown")): one shipper per database and destination; "
                + "stop that one first"
        case .failed(let path, let detail):
            "database '\(path)': \(detail)"
        }
    }

    /// Maps SQLite's errors onto the cases above.
    static func from(_ error: any Error, path: String) -> StoreError {
        if let error = error as? StoreError { return error }
        guard let error = error as? DatabaseError else {
            return .failed(path: path, detail: String(describing: error))
        }
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .locked(path: path)
        case .SQLITE_READONLY: return .readOnly(path: path, detail: error.message ?? "read-only")
        case .SQLITE_FULL: return .diskFull(path: path)
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return .notTCPeekDatabase(path: path, detail: error.message ?? "not a database")
        case .SQLITE_CANTOPEN: return .cannotOpen(path: path, detail: error.message ?? "cannot open")
        case .SQLITE_PERM: return .readOnly(path: path, detail: error.message ?? "permission denied")
        default: return .failed(path: path, detail: error.message ?? "\(error)")
        }
    }
}
