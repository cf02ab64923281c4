import ArgumentParser
import Logging
import TCPeekCore
import TCPeekServer

/// `--metrics-listen` and `--host-label`: the Prometheus exposition.
struct MetricsOptions: ParsableArguments {
    /// Starts the metrics server, or returns nil when it is not wanted.
    func start(context: LiveContext, isLive: Bool, logger: Logger) throws -> (any RunningServer)? {
        nil  // The metrics server is being written (issue 5).
    }
}
