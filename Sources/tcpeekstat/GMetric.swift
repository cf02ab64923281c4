import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Feeds Ganglia: one `gmetric` run per figure, as the original tcpeekstat did.
struct GMetric {
    /// `gmetric`, looked up on PATH unless a path is given.
    var program: String
    /// Passed as `-c FILE`.
    var configuration: String?

    /// The figures sent per filter: `tcpeek_<filter>_<section>_<item>`.
    static let items: [(section: String, item: String)] = [
        ("success", "dupsyn"), ("success", "dupsynack"), ("failure", "timeout"), ("failure", "reject"),
    ]

    /// The metrics of a `REFRESH` answer, in filter order.
    static func metrics(_ counts: StatAnswer.Counts) -> [(name: String, value: UInt32)] {
        counts.filters.flatMap { filter in
            items.map { section, item in
                let source = section == "success" ? filter.success : filter.failure
                return ("tcpeek_\(filter.name)_\(section)_\(item)", UInt32(clamping: source[item] ?? 0))
            }
        }
    }

    /// The program's full path.
    func resolve() throws(ClientError) -> String {
        if program.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: program) else {
                throw ClientError("--gmetric-path: '\(program)' is not an executable file")
            }
            return program
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let candidate = folder + "/" + program
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ClientError("'\(program)' not found on PATH: install Ganglia's gmetric (Debian: ganglia-monitor) or give it with --gmetric-path")
    }

    /// Runs `gmetric [-c FILE] -n NAME -v VALUE -t uint32` for each metric.
    func send(_ metrics: [(name: String, value: UInt32)]) throws(ClientError) {
        let executable = try resolve()
        for metric in metrics {
            var arguments = configuration.map { ["-c", $0] } ?? []
            arguments += ["-n", metric.name, "-v", String(metric.value), "-t", "uint32"]
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardInput = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                throw ClientError("cannot run '\(executable)': \(error.localizedDescription)")
            }
            process.waitUntilExit()
            guard process.terminationReason == .exit, process.terminationStatus == 0 else {
                throw ClientError("'\(([executable] + arguments).joined(separator: " "))' failed (status \(process.terminationStatus))")
            }
        }
    }
}
