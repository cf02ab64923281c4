import Foundation
import TCPeekWire
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

    /// The figures sent per filter: `tcpeek_<filter>_<section>_<item>`, in
    /// the order the original ran them (that of Python 2.7's dictionaries).
    static let items: [(section: String, item: String)] = [
        ("failure", "timeout"), ("failure", "reject"), ("success", "dupsyn"), ("success", "dupsynack"),
    ]

    /// The metrics of a `REFRESH` answer, in filter order.
    static func metrics(_ counts: CountsAnswer) -> [(name: String, value: UInt32)] {
        counts.filters.flatMap { filter in
            items.map { section, item in
                let figures = section == "success" ? filter.success.figures : filter.failure.figures
                let value = figures.first { $0.key == item }?.value ?? 0
                return ("tcpeek_\(filter.name)_\(section)_\(item)", UInt32(clamping: value))
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

    /// Runs `gmetric [-c FILE] -n NAME -v VALUE -t uint32` for each metric,
    /// printing each command on standard output first, as the original did
    /// (cron mails and logs show what was sent).
    func send(_ metrics: [(name: String, value: UInt32)]) throws(ClientError) {
        let executable = try resolve()
        for metric in metrics {
            var arguments = configuration.map { ["-c", $0] } ?? []
            arguments += ["-n", metric.name, "-v", String(metric.value), "-t", "uint32"]
            // Written unbuffered before gmetric runs, so the two never interleave.
            FileHandle.standardOutput.write(Data((Self.commandLine([executable] + arguments) + "\n").utf8))
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
                throw ClientError("'\(Self.commandLine([executable] + arguments))' failed (status \(process.terminationStatus))")
            }
        }
    }

    /// The words as a shell would need them: plain when they hold only
    /// characters a shell takes literally (so the original's lines come out
    /// unchanged), otherwise in single quotes.
    static func commandLine(_ words: [String]) -> String {
        words.map { word in
            let plain = !word.isEmpty && word.first != "#" && word.first != "~" && word.allSatisfy {
                $0.isASCII && ($0.isLetter || $0.isNumber || "_-./+#%=,@:".contains($0))
            }
            return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}
