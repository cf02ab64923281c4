import Foundation

/// `-u/--user`: give up root once the capture is open.
enum Privileges {
    struct DropError: Error, CustomStringConvertible {
        let description: String
    }

    /// The account `-u` names, resolved before anything is opened so that a
    /// wrong name fails at once instead of after the capture and the
    /// database were created (a restart loop under systemd).
    struct Account: Sendable {
        let name: String
        let uid: uid_t
        let gid: gid_t
        /// Whether /etc/passwd (NSS) knows the account: only then has it
        /// supplementary groups to take.
        let isListed: Bool

        /// A user name, or a numeric uid as the original accepted. A uid
        /// with no passwd entry (a container's, systemd's DynamicUser) runs
        /// with the group of the same number and no supplementary groups.
        static func resolve(_ text: String) throws(DropError) -> Account {
            if let entry = getpwnam(text) {
                return Account(name: text, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, isListed: true)
            }
            guard let uid = uid_t(text) else {
                throw DropError(description: "-u/--user: no user named '\(text)' (see 'getent passwd'); give a user name or a numeric uid")
            }
            if let entry = getpwuid(uid) {
                return Account(name: String(cString: entry.pointee.pw_name), uid: uid, gid: entry.pointee.pw_gid, isListed: true)
            }
            return Account(name: text, uid: uid, gid: gid_t(uid), isListed: false)
        }

        /// Refuses, before anything is opened, a switch this process cannot make.
        func checkSwitchable() throws(DropError) {
            guard geteuid() == 0 || (uid == geteuid() && gid == getegid()) else {
                throw DropError(description: "-u/--user \(name): only root can switch to another user; run tcpeek as root, or leave out -u")
            }
        }
    }

    /// Whether the process runs with root's user ID.
    static var isRoot: Bool { geteuid() == 0 }

    /// Printed once (at notice level) when root runs tcpeek without `-u`.
    static let rootNotice = "running as root for the whole run; -u USER (for example -u nobody) gives up "
        + "root once the capture, the socket and the database are open"

    static func drop(to account: Account) throws(DropError) {
        let user = account.name, uid = account.uid, gid = account.gid
        let groupsSet = account.isListed ? initgroups(user, gid) == 0 : setgroups(0, nil) == 0
        guard groupsSet, setgid(gid) == 0, setuid(uid) == 0 else {
            throw DropError(description: "-u/--user: cannot switch to user '\(user)': \(String(cString: strerror(errno))); run tcpeek as root to use -u")
        }
        // Leaving root clears every capability (no SECBIT_KEEP_CAPS is set);
        // make sure root cannot be taken back.
        if uid != 0, setuid(0) == 0 || seteuid(0) == 0 {
            throw DropError(description: "-u/--user: switched to user '\(user)' but could still become root again; refusing to run")
        }
    }
}
