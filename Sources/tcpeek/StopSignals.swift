import Dispatch
import Foundation

/// Turns SIGINT and SIGTERM into one call of `onStop` (the capture then
/// drains, prints its summary and exits normally).
final class StopSignals {
    private let sources: [any DispatchSourceSignal]

    init(onStop: @escaping @Sendable () -> Void) {
        let queue = DispatchQueue(label: "tcpeek.signals")
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler(handler: onStop)
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
