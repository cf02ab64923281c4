import Foundation
import TCPeekCore
import TCPeekSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the socket server cannot start, worded for the operator.
public struct SocketServerError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The socket file's place on disk: its default path, its folder, the lock
/// that keeps two recorders off one path, a stale file's replacement, its
/// mode and group, and its removal.
public struct SocketFile: Sendable {
    /// Owner and permissions of the socket file.
    public struct Access: Sendable, Equatable {
        /// Permission bits (default 0660: the owner and the group may connect).
        public var mode: mode_t = 0o660
        /// The group that may connect (`--socket-group`), nil to keep the creator's.
        public var group: gid_t?
        /// The user the recorder drops to (`-u`): a folder created here is
        /// given to it, so that it can remove the socket file on exit.
        public var owner: (uid: uid_t, gid: gid_t)?
        /// Set for a folder in a place every user may write (`/tmp`, the
        /// fallback without `XDG_RUNTIME_DIR`): the folder must be this
        /// user's own and writable by no one else, as ssh-agent requires.
        public var privateFolderOwner: uid_t?

        public init(mode: mode_t = 0o660, group: gid_t? = nil, owner: (uid: uid_t, gid: gid_t)? = nil) {
            self.mode = mode
            self.group = group
            self.owner = owner
        }

        public static func == (a: Access, b: Access) -> Bool {
            a.mode == b.mode && a.group == b.group && a.owner?.uid == b.owner?.uid && a.owner?.gid == b.owner?.gid
                && a.privateFolderOwner == b.privateFolderOwner
        }
    }

    /// The default socket path (`TCPeekIdentity.defaultSocketPath`, shared with tcpeekstat).
    public static func defaultPath(euid: uid_t = geteuid(), environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        TCPeekIdentity.defaultSocketPath(euid: euid, runtimeDirectory: environment["XDG_RUNTIME_DIR"])
    }

    /// Whether the default path is the fallback in `/tmp`, which every user
    /// may write (no `XDG_RUNTIME_DIR`).
    public static func defaultIsSharedTemporary(euid: uid_t = geteuid(), environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        TCPeekIdentity.defaultSocketPath(euid: euid, runtimeDirectory: environment["XDG_RUNTIME_DIR"])
            == TCPeekIdentity.defaultSocketPath(euid: euid, runtimeDirectory: nil) && euid != 0
    }

    /// The longest path a UNIX socket address holds (`sun_path` less its NUL).
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    public let path: String
    /// The lock file beside the socket, held while the server runs.
    private let lockDescriptor: Int32
    /// Device and inode of the socket file once bound: only that file is
    /// removed on exit, never a successor's.
    private var identity: (dev_t, ino_t)?

    /// Creates the folder if needed, takes the lock, and clears the path:
    /// a stale socket file is removed; a live one, or anything that is not
    /// a socket, is refused.
    public static func prepare(path: String, access: Access, replacedStale: (String) -> Void = { _ in }) throws(SocketServerError) -> SocketFile {
        guard !path.isEmpty else { throw SocketServerError("the socket path is empty; give one with -U PATH") }
        guard path.utf8.count <= maximumPathLength else {
            throw SocketServerError("socket path '\(path)' is \(path.utf8.count) bytes long; a UNIX socket path holds at most \(maximumPathLength): choose a shorter one with -U")
        }
        let folder = PathText.folder(of: path)
        if let owner = access.privateFolderOwner {
            try requirePrivateFolder(folder, owner: owner)
        } else if !folder.isEmpty {
            try createFolder(folder, access: access)
        }

        let lockPath = path + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw SocketServerError("cannot create the lock file '\(lockPath)' beside the socket: \(String(cString: strerror(errno))); check the folder's permissions or choose another path with -U")
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            close(descriptor)
            throw SocketServerError("another tcpeek is serving the socket '\(path)' (it holds '\(lockPath)'); stop it, or give this one another path with -U or --no-socket")
        }
        do throws(SocketServerError) {
            try clear(path, replacedStale: replacedStale)
        } catch {
            flock(descriptor, LOCK_UN)
            close(descriptor)
            throw error
        }
        return SocketFile(path: path, lockDescriptor: descriptor, identity: nil)
    }

    /// Removes a stale socket file, refuses a live one.
    private static func clear(_ path: String, replacedStale: (String) -> Void) throws(SocketServerError) {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            if errno == ENOENT { return }
            throw SocketServerError("cannot inspect '\(path)': \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw SocketServerError("'\(path)' exists and is not a socket; remove it or choose another path with -U")
        }
        switch probe(path) {
        case .listening(let pid):
            let who = pid.map { "process \($0)" } ?? "another process"
            throw SocketServerError("\(who) is listening on the socket '\(path)' (is another tcpeek running?); stop it, or give this one another path with -U or --no-socket")
        case .refused:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw SocketServerError("cannot remove the stale socket '\(path)': \(String(cString: strerror(errno)))")
            }
            replacedStale(path)
        case .failed(let reason):
            throw SocketServerError("cannot check the existing socket '\(path)': \(reason)")
        }
    }

    private enum Probe { case listening(pid: pid_t?), refused, failed(String) }

    /// Connects to `path` to learn whether something listens there.
    private static func probe(_ path: String) -> Probe {
        // A listener whose backlog is full would hold a blocking connect.
        let descriptor: Int32
        switch UnixSocket.connect(to: path, timeoutSeconds: 2) {
        case .success(let connected): descriptor = connected
        case .failure(.socket(let code)): return .failed(String(cString: strerror(code)))
        case .failure(.connect(ECONNREFUSED)): return .refused
        case .failure(.connect(EAGAIN)), .failure(.connect(EINPROGRESS)): return .listening(pid: nil)  // a full backlog: alive
        case .failure(.connect(let code)): return .failed(String(cString: strerror(code)))
        }
        defer { close(descriptor) }
        // `struct ucred` of <sys/socket.h> (hidden behind _GNU_SOURCE).
        var credentials = (pid: pid_t(0), uid: uid_t(0), gid: gid_t(0))
        var length = socklen_t(MemoryLayout<(pid_t, uid_t, gid_t)>.size)
        let known = getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 && credentials.pid > 0
        return .listening(pid: known ? credentials.pid : nil)
    }

    /// Creates `folder` (mode 0700) or checks that it is `owner`'s alone: a
    /// real folder, not a link, that no other user may write. Otherwise a
    /// folder someone else made in `/tmp` would let them replace the socket.
    public static func requirePrivateFolder(_ folder: String, owner: uid_t) throws(SocketServerError) {
        if mkdir(folder, 0o700) != 0, errno != EEXIST {
            throw SocketServerError("cannot create the socket folder '\(folder)': \(String(cString: strerror(errno))); set XDG_RUNTIME_DIR or choose a path with -U")
        }
        var status = stat()
        guard lstat(folder, &status) == 0 else {
            throw SocketServerError("cannot inspect the socket folder '\(folder)': \(String(cString: strerror(errno)))")
        }
        let advice = "another user could replace the socket in it: remove it, set XDG_RUNTIME_DIR, or choose a path with -U"
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw SocketServerError("the socket folder '\(folder)' is not a folder (a link or a file); \(advice)")
        }
        guard status.st_uid == owner else {
            throw SocketServerError("the socket folder '\(folder)' belongs to uid \(status.st_uid), not to this user (uid \(owner)); \(advice)")
        }
        guard status.st_mode & 0o022 == 0 else {
            throw SocketServerError("the socket folder '\(folder)' is writable by others (mode \(String(status.st_mode & 0o777, radix: 8))); \(advice)")
        }
    }

    /// Creates `folder` and its parents (mode 0755), handing those it made
    /// to `access.owner`.
    private static func createFolder(_ folder: String, access: Access) throws(SocketServerError) {
        var missing: [String] = []
        var current = folder
        while !current.isEmpty, current != "/", !FileManager.default.fileExists(atPath: current) {
            missing.append(current)
            current = PathText.folder(of: current)
        }
        for directory in missing.reversed() {
            if mkdir(directory, 0o755) != 0, errno != EEXIST {
                throw SocketServerError("cannot create the socket folder '\(directory)': \(String(cString: strerror(errno))); create it or choose another path with -U")
            }
            if let owner = access.owner { _ = chown(directory, owner.uid, owner.gid) }
        }
    }

    /// Gives the bound socket its mode and group, and remembers it.
    mutating func bound(access: Access) throws(SocketServerError) {
        var status = stat()
        if lstat(path, &status) == 0 { identity = (status.st_dev, status.st_ino) }
        if chmod(path, access.mode) != 0 {
            throw SocketServerError("cannot set the mode of the socket '\(path)': \(String(cString: strerror(errno)))")
        }
        if let group = access.group, chown(path, uid_t.max, group) != 0 {
            throw SocketServerError("cannot give the socket '\(path)' to group \(group): \(String(cString: strerror(errno))) (only root or a member of the group may)")
        }
    }

    /// Removes the socket file (if it is still the one bound here) and the
    /// lock file, and releases the lock.
    func remove() -> String? {
        var failure: String?
        var status = stat()
        if let identity, lstat(path, &status) == 0, status.st_dev == identity.0, status.st_ino == identity.1 {
            if unlink(path) != 0 { failure = "cannot remove the socket '\(path)': \(String(cString: strerror(errno)))" }
        }
        _ = unlink(path + ".lock")
        flock(lockDescriptor, LOCK_UN)
        close(lockDescriptor)
        return failure
    }
}
