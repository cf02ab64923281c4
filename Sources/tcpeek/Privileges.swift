import Foundation

/// `-u/--user`: give up root once the capture is open.
enum Privileges {
    struct DropError: Error, CustomStringConvertible {
        let description: String
    }

    static func drop(to user: String) throws(DropError) {
        guard let entry = getpwnam(user) else {
            throw DropError(description: "-u/--user: no user named '\(user)' (see 'getent passwd')")
        }
        let uid = entry.pointee.pw_uid, gid = entry.pointee.pw_gid
        guard initgroups(user, gid) == 0, setgid(gid) == 0, setuid(uid) == 0 else {
            throw DropError(description: "-u/--user: cannot switch to user '\(user)': \(String(cString: strerror(errno))); run tcpeek as root to use -u")
        }
    }
}
