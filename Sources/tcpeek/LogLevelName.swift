import ArgumentParser
import Logging

/// Syslog level names (`-l/--loglevel`), mapped onto swift-log's levels.
enum LogLevelName: String, ExpressibleByArgument, CaseIterable {
    case emerg, alert, crit, err, warning, notice, info, debug

    /// A name in any case, with or without syslog's `LOG_` prefix; swift-log's
    /// `error` and `warn` too, which users of either write.
    init?(argument: String) {
        var name = argument.lowercased()
        if name.hasPrefix("log_") { name.removeFirst(4) }
        switch name {
        case "error": self = .err
        case "warn": self = .warning
        default:
            guard let level = Self(rawValue: name) else { return nil }
            self = level
        }
    }

    /// swift-log has no levels above critical: the three syslog ones map onto it.
    var level: Logger.Level {
        switch self {
        case .emerg, .alert, .crit: .critical
        case .err: .error
        case .warning: .warning
        case .notice: .notice
        case .info: .info
        case .debug: .debug
        }
    }
}
