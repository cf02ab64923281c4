import Logging

/// Syslog level names (`-l/--loglevel`), mapped onto swift-log's levels.
enum LogLevelName {
    static let names = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]

    static func parse(_ text: String) -> Logger.Level? {
        var name = text.lowercased()
        if name.hasPrefix("log_") { name.removeFirst(4) }
        switch name {
        case "emerg", "alert", "crit": return .critical
        case "err", "error": return .error
        case "warning", "warn": return .warning
        case "notice": return .notice
        case "info": return .info
        case "debug": return .debug
        default: return nil
        }
    }
}
