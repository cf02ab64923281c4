import ArgumentParser

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
}
