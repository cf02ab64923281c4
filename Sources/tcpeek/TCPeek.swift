import ArgumentParser
import Dispatch

/// `tcpeek`: which TCP connections fail to establish, why, since when, and
/// how slow are the ones that succeed.
@main
struct TCPeek: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpeek",
        abstract: "Monitor TCP handshakes: successes, rejects, aborts, ICMP unreachables and timeouts.",
        discussion: """
            Without a subcommand, tcpeek records: 'tcpeek -i eth0 http:RX@%:80:443' is
            'tcpeek record -i eth0 http:RX@%:80:443'. See 'tcpeek record --help' for the
            options and the filter syntax (NAME:RX|TX|ANY@ADDR[/PREFIX]:PORT[:PORT...]),
            and 'tcpeek query --help' for history.
            """,
        subcommands: [Record.self, Query.self, Explain.self, Ship.self],
        defaultSubcommand: Record.self
    )

    /// `tcpeek -h` shows what the original's did: the recording options and
    /// the filter syntax (recording is the default), then the subcommands.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["-h"] || arguments == ["--help"] {
            print(helpMessage(for: Record.self))
            print("""

                SUBCOMMANDS:
                  record (default)        Watch TCP handshakes live or in a capture file.
                  query                   Answer historical questions from the database.
                  explain                 Say why connection attempts failed, with the evidence.
                  ship                    Copy the history to ClickHouse, where many hosts' histories meet.

                  See 'tcpeek help <subcommand>' for detailed help.
                """)
            return
        }
        if let first = arguments.first, let problem = unknownWord(first) {
            exit(withError: ValidationError(problem))
        }
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            exit(withError: error)
        }
        do {
            if let command = command as? any AsyncParsableCommand {
                try runBlocking(command)
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

extension TCPeek {
    /// Runs an async command (`record`'s service group) from this
    /// synchronous `main`, which waits for it. An async `main` would end the
    /// main thread at once (dispatch_main), and an ended thread keeps the
    /// credentials it had: /proc would still show a root thread after `-u`.
    static func runBlocking(_ command: sending any AsyncParsableCommand) throws {
        let outcome = Eventually<Result<Void, any Error>>()
        let done = DispatchSemaphore(value: 0)
        Task {
            var command = command
            do {
                try await command.run()
                outcome.resolve(.success(()))
            } catch {
                outcome.resolve(.failure(error))
            }
            done.signal()
        }
        done.wait()
        try outcome.current?.get()
    }

    /// A first bare word that is neither a subcommand nor a filter (every
    /// filter holds ':' and '@'): without this it would be parsed as a
    /// filter of the default subcommand and refused as one.
    static func unknownWord(_ word: String) -> String? {
        let subcommands = configuration.subcommands.map { $0._commandName } + ["help"]
        guard !word.hasPrefix("-"), !word.contains(":"), !word.contains("@"), !subcommands.contains(word) else {
            return nil
        }
        return "unknown subcommand or filter '\(word)'; the subcommands are \(subcommands.joined(separator: ", "))"
            + " (record is the default), and a filter reads NAME:RX|TX|ANY@ADDR:PORT (see 'tcpeek record --help')"
    }
}
