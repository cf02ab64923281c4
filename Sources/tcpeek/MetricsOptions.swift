import ArgumentParser
import Foundation
import Logging
import Synchronization
import TCPeekCore
import TCPeekSystem
import TCPeekServer

/// `--metrics-listen` and `--host-label`: the Prometheus exposition.
struct MetricsOptions: ParsableArguments {
    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp(
        "Serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9465 or [::]:9465; off by default).",
        valueName: "addr:port"))
    var listen: String?

    @Option(name: .customLong("host-label"), help: ArgumentHelp(
        "This host's name in the metrics' 'host' label and in the history's runs (default: the host name).",
        valueName: "name"))
    var hostLabel: String?

    func validate() throws {
        if let listen {
            do throws(MetricsListenAddressError) { _ = try MetricsListenAddress(parsing: listen) } catch {
                throw ValidationError(error.description)
            }
        }
        if let hostLabel, hostLabel.isEmpty { throw ValidationError("--host-label must not be empty") }
    }

    /// The host name recorded in the runs table and put in the `host` label.
    var host: String { hostLabel ?? ProcessInfo.processInfo.hostName }

    /// Starts the metrics server, handing it the closed sessions of `feed`.
    func start(listen: String, context: LiveContext, feed: SessionQueue, logger: Logger) throws -> MetricsServer {
        let address = try MetricsListenAddress(parsing: listen)
        return try MetricsServer(listen: address, context: context, hostLabel: host, feed: feed, logger: logger)
    }
}
