import ArgumentParser
import Foundation
import TCPeekCore
import TCPeekWire

/// `tcpeekstat`: asks a running `tcpeek record` over its UNIX socket.
@main
struct TCPeekStat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpeekstat",
        abstract: "Show the figures of a running tcpeek, or feed them to Ganglia.",
        discussion: """
            Without options: the totals per filter since tcpeek started (GET), in the
            original tcpeekstat's layout, a block per filter; --table: one row per filter.
            --status: the capture's state (STATUS): attempts still open, evicted because
            the table was full (--max-pending), malformed packets, sessions not recorded,
            libpcap's statistics.
            DURATION is a number with s, m, h, d or w (60s, 5m, 1h); TIME is a duration
            back from now, an ISO-8601 time (2026-11-27T10:00:00Z) or 'all'.

            Examples:
              tcpeekstat
              tcpeekstat --table
              tcpeekstat -j
              tcpeekstat -w 5m
              tcpeekstat --status
              tcpeekstat --since 1h
              tcpeekstat -g --gmetric-conf /etc/ganglia/gmond.conf
            """
    )

    @Option(name: [.customShort("U"), .long], help: "tcpeek's socket (default: \(SocketClient.defaultPath)).")
    var socket: String?

    @Flag(name: [.customShort("j"), .long], help: "Print tcpeek's JSON answer.")
    var json = false

    @Flag(help: "Print the totals as a table, one row per filter, instead of the original's blocks.")
    var table = false

    @Flag(name: [.customShort("g"), .long], help: "Send REFRESH and report reject, timeout, dupsyn and dupsynack per filter with gmetric, printing each gmetric command.")
    var gmetric = false

    @Option(name: .customLong("gmetric-path"), help: "The gmetric program.")
    var gmetricPath: String = "gmetric"

    @Option(name: .customLong("gmetric-conf"), help: "gmond configuration for gmetric (passed as -c FILE).")
    var gmetricConf: String?

    @Option(name: [.customShort("w"), .long], help: "Show the sessions started in the last DURATION (WINDOW).")
    var window: String?

    @Option(help: "Show history from the database from TIME on (QUERY).")
    var since: String?

    @Option(help: "With --since: history up to TIME (default: now).")
    var until: String?

    @Flag(help: "Show the capture's state: open and evicted attempts, malformed packets, libpcap's statistics (STATUS).")
    var status = false

    @Flag(name: [.customShort("v"), .long], help: "Print the version and exit.")
    var version = false

    static let currentVersion = TCPeekIdentity.version

    func validate() throws {
        if gmetric, json || window != nil || since != nil || until != nil {
            throw ValidationError("-g/--gmetric excludes -j/--json, -w/--window, --since and --until")
        }
        if !gmetric, gmetricConf != nil || gmetricPath != "gmetric" {
            throw ValidationError("--gmetric-path and --gmetric-conf need -g/--gmetric")
        }
        if status, gmetric || window != nil || since != nil || until != nil {
            throw ValidationError("--status excludes -g/--gmetric, -w/--window, --since and --until")
        }
        if table, json || gmetric || status {
            throw ValidationError("--table excludes -j/--json, -g/--gmetric and --status")
        }
        if window != nil, since != nil || until != nil {
            throw ValidationError("-w/--window excludes --since and --until")
        }
        if until != nil, since == nil { throw ValidationError("--until needs --since") }
        if let window, DurationText.seconds(window) == nil {
            throw ValidationError("-w/--window: cannot read the duration '\(window)'; use a number with s, m, h, d or w (60s, 5m, 1h)")
        }
    }

    func run() throws {
        if version {
            print("tcpeekstat \(Self.currentVersion)")
            return
        }
        let client = SocketClient(path: socket ?? SocketClient.defaultPath)
        do throws(ClientError) {
            if gmetric {
                let counts = try StatAnswer.decode(CountsAnswer.self, try client.ask("REFRESH"), path: client.path)
                try GMetric(program: gmetricPath, configuration: gmetricConf).send(GMetric.metrics(counts))
                return
            }
            if status {
                let text = try client.ask("STATUS")
                let answer = try StatAnswer.decode(StatusAnswer.self, text, path: client.path)
                if json {
                    print(text.trimmingCharacters(in: .whitespacesAndNewlines))
                } else {
                    print(StatOutput.status(answer), terminator: "")
                }
                return
            }
            let request: String
            if let window {
                request = "WINDOW \(window)"
            } else if let since {
                request = "QUERY " + WireJSON.text(QueryRequest(since: since, until: until))
            } else {
                request = "GET"
            }
            let text = try client.ask(request)
            // Read as tcpeek's shape even for -j: a stranger's JSON is refused too.
            if request == "GET" {
                let counts = try StatAnswer.decode(CountsAnswer.self, text, path: client.path)
                if json {
                    print(text.trimmingCharacters(in: .whitespacesAndNewlines))
                } else {
                    print(table ? StatOutput.counts(counts) : StatOutput.blocks(counts), terminator: "")
                }
            } else {
                let rows = try StatAnswer.decode([AggregateAnswer].self, text, path: client.path)
                if json {
                    print(text.trimmingCharacters(in: .whitespacesAndNewlines))
                } else {
                    print(StatOutput.aggregates(rows), terminator: "")
                }
            }
        } catch {
            FileHandle.standardError.write(Data("tcpeekstat: error: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}
