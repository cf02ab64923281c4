import Foundation

/// A group given by name or number, as `--socket-group` and `--db-group` take it.
enum GroupName {
    /// The group's id, or an error naming the option that was wrong.
    static func resolve(_ text: String, option: String) throws(ValidationErrorText) -> gid_t {
        if let gid = gid_t(text) { return gid }
        if let entry = getgrnam(text) { return entry.pointee.gr_gid }
        throw ValidationErrorText("\(option): no group named '\(text)' (see 'getent group')")
    }
}

/// A message for the operator about an option's value.
struct ValidationErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
