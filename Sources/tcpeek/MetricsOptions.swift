import ArgumentParser
import Foundation
import Logging
import Synchronization
import TCPeekCore
import TCPeekServer

/// `--metrics-listen`, `--host-label` and `--metrics-stay`: the Prometheus
/// exposition.
struct MetricsOptions: ParsableArguments {
    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp(
        "Serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9465 or [::]:9465; off by default).",
        valueName: "addr:port"))
    var listen: String?

    @Option(name: .customLong("host-label"), help: ArgumentHelp(
        "This host's name in the metrics' 'host' label and in the history's runs (default: the host name).",
        valueName: "name"))
    var hostLabel: String?

    @Flag(name: .customLong("metrics-stay"), help: "After the end of a file read (-r), keep serving metrics until SIGINT or SIGTERM.")
    var stay = false

    func validate() throws {
        if let listen {
            do throws(MetricsListenAddressError) { _ = try MetricsListenAddress(parsing: listen) } catch {
                throw ValidationError(error.description)
            }
        }
        if let hostLabel, hostLabel.isEmpty { throw ValidationError("--host-label must not be empty") }
        if stay, listen == nil { throw ValidationError("--metrics-stay needs --metrics-listen") }
    }

    /// The host name recorded in the runs table and put in the `host` label.
    var host: String { hostLabel ?? ProcessInfo.processInfo.hostName }

    /// Starts the metrics server, or returns nil when it is not wanted.
    func start(context: LiveContext, isLive: Bool, logger: Logger) throws -> (any RunningServer)? {
        guard let listen else { return nil }
        let address = try MetricsListenAddress(parsing: listen)
        let server = try MetricsServer(listen: address, context: context, hostLabel: host, logger: logger)
        guard stay else { return server }
        if isLive {
            logger.warning("--metrics-stay applies to file reads only; the metrics server stops with the capture")
            return server
        }
        return StayingMetricsServer(server: server)
    }
}

/// `--metrics-stay`: once the file has been read and the summary printed,
/// keeps the metrics server up until SIGINT or SIGTERM.
struct StayingMetricsServer: RunningServer {
    let server: MetricsServer

    var feed: SessionQueue? { server.feed }

    func stop() {
        Terminal.status("end of file; serving metrics on \(server.boundAddress) until SIGINT or SIGTERM")
        StaySignals.waitForStop()
        server.stop()
    }
}

/// Set by the SIGINT/SIGTERM handler of `--metrics-stay`.
private let stopRequested = Atomic<Bool>(false)

/// Waits for SIGINT or SIGTERM with a plain handler: the capture's own
/// signal sources are gone by then and left the signals ignored.
private enum StaySignals {
    static func waitForStop() {
        for number in [SIGINT, SIGTERM] {
            signal(number) { _ in stopRequested.store(true, ordering: .relaxed) }  // async-signal-safe
        }
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        while !stopRequested.load(ordering: .relaxed) { usleep(50_000) }
    }
}
