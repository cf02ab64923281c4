import ArgumentParser
import Foundation
import TCPeekStore

/// What every reader of the history names: the database, and the time
/// range (`tcpeek query`, `tcpeek explain`).
struct HistoryOptions: ParsableArguments {
    @Option(help: "The database file (default: \(HistoryDatabase.defaultPath)).")
    var db: String?

    @Option(help: ArgumentHelp("Start of the range.", valueName: "time"))
    var since: String = "1h"

    @Option(help: ArgumentHelp("End of the range (default: now).", valueName: "time"))
    var until: String?

    /// The range in seconds since the epoch, `now` being the end when
    /// `--until` is not given.
    func range(now: Double) throws -> (since: Double, until: Double) {
        let range: (Double, Double)
        do throws(TimeExpression.ParseError) {
            let end: Double
            if let until { end = try TimeExpression.parse(until, now: now) } else { end = now }
            range = (try TimeExpression.parse(since, now: now), end)
        } catch {
            throw ValidationError(error.description)
        }
        guard range.1 > range.0 else { throw ValidationError("--until must be after --since") }
        return range
    }

    /// The database, opened for reading; says why not and exits with 1.
    func openDatabase() throws -> HistoryDatabase {
        do {
            return try HistoryDatabase.openForReading(path: db ?? HistoryDatabase.defaultPath)
        } catch {
            Terminal.error(error.description)
            throw ExitCode(1)
        }
    }
}
