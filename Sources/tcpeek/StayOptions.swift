import ArgumentParser
import Foundation
import TCPeekServer

/// `--stay`: after a file read (`-r`) and its summary, keep serving what it
/// serves (the socket with `-U`, the metrics with `--metrics-listen`) until
/// SIGINT or SIGTERM, to inspect a capture with tcpeekstat, Prometheus or
/// Grafana. `--metrics-stay`, the flag's first name, still means the same.
struct StayOptions: ParsableArguments {
    @Flag(help: "With -r: after the end of the file, keep serving the socket (-U) and the metrics (--metrics-listen) until SIGINT or SIGTERM.")
    var stay = false

    @Flag(name: .customLong("metrics-stay"), help: .hidden)
    var metricsStay = false

    var wanted: Bool { stay || metricsStay }

    /// The checks that need the other option groups.
    func validate(isFile: Bool, servesSocket: Bool, servesMetrics: Bool) throws {
        if metricsStay, !servesMetrics { throw ValidationError("--metrics-stay needs --metrics-listen") }
        guard wanted else { return }
        if !isFile { throw ValidationError("--stay only applies to -r/--read") }
        if !servesSocket, !servesMetrics {
            throw ValidationError("--stay needs -U PATH or --metrics-listen: a file read serves nothing unless asked to")
        }
    }

    /// Waits for SIGINT or SIGTERM when asked to stay and something is served.
    func waitIfAsked(servers: [any RunningServer]) {
        guard wanted, !servers.isEmpty else { return }
        // A plain handler: the capture's dispatch signal sources are gone
        // by now, and a new one would not reliably see the signals again.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in sem_post(staySignal) }
        sigemptyset(&action.sa_mask)
        var signals = sigset_t()
        sigemptyset(&signals)
        for number in [SIGINT, SIGTERM] {
            sigaction(number, &action, nil)
            sigaddset(&signals, number)
        }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        let serving = servers.map(\.endpoint).joined(separator: " and ")
        Terminal.status("end of file; serving \(serving) until SIGINT or SIGTERM")
        while sem_wait(staySignal) != 0, errno == EINTR {}
    }
}

/// Posted by the SIGINT/SIGTERM handler of `--stay` (`sem_post` is
/// async-signal-safe). `nonisolated(unsafe)`: set once here, then only
/// used through the semaphore's own thread-safe calls.
nonisolated(unsafe) private let staySignal: UnsafeMutablePointer<sem_t> = {
    let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    sem_init(semaphore, 0, 0)
    return semaphore
}()
