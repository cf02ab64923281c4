import Foundation

/// Messages for the operator on standard error (command output goes to
/// standard output with `print`).
enum Terminal {
    static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func status(_ text: String) { write(text + "\n") }
    static func warning(_ text: String) { write("warning: " + text + "\n") }
    static func error(_ text: String) { write("error: " + text + "\n") }
}
