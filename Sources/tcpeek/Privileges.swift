import Foundation

/// `-u/--user`: give up root once the capture is open.
enum Privileges {
    struct DropError: Error, CustomStringConvertible {
        let description: String
    }

    /// Whether the process runs with root's user ID.
    static var isRoot: Bool { geteuid() == 0 }

    /// Printed once when root runs tcpeek without `-u`.
    static let rootNotice = "notice: running as root for the whole run; -u USER (for example -u nobody) gives up "
        + "root once the capture, the socket and the database are open"

    static func drop(to user: String) throws(DropError) {
        guard let entry = getpwnam(user) else {
            throw DropError(description: "-u/--user: no user named '\(user)' (see 'getent passwd')")
        }
        let uid = entry.pointee.pw_uid, gid = entry.pointee.pw_gid
        guard initgroups(user, gid) == 0, setgid(gid) == 0, setuid(uid) == 0 else {
            throw DropError(description: "-u/--user: cannot switch to user '\(user)': \(String(cString: strerror(errno))); run tcpeek as root to use -u")
        }
        // Leaving root clears every capability (no SECBIT_KEEP_CAPS is set);
        // make sure root cannot be taken back.
        if uid != 0, setuid(0) == 0 || seteuid(0) == 0 {
            throw DropError(description: "-u/--user: switched to user '\(user)' but could still become root again; refusing to run")
        }
    }
}
