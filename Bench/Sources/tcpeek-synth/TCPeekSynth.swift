import ArgumentParser
import TCPeekWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Mode: ExpressibleByArgument {}

/// Writes a pcap of synthetic TCP handshake traffic whose correct reading is
/// known exactly, and prints those expected counts as one JSON line on
/// standard output (progress and timing go to standard error, so standard
/// output is identical for identical arguments).
@main
struct TCPeekSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpeek-synth",
        abstract: "Generate a pcap of synthetic TCP handshakes with known outcomes.",
        discussion: """
            Modes:
              mix    realistic traffic: 85% success (3% more with a retransmitted SYN,
                     3% with a retransmitted SYN/ACK), 4% reject, 1% abort, 3% timeout,
                     1% ICMP unreachable; 20% IPv6, 10% VLAN-tagged.
              flood  distinct SYNs that are never answered (+ --legit handshakes).
              open   unanswered SYNs packed into --duration (default 10 s), so that all
                     are open at once with tcpeek's default 60 s timeout.
            Only documentation addresses are used: clients 198.51.100.0/24 and
            2001:db8:1::/64, servers 203.0.113.0/24 and 2001:db8:2::/64.
            """
    )

    @Option(help: "Attempts to generate (flood/open: unanswered SYNs).")
    var attempts = 1_000_000

    @Option(name: [.short, .long], help: "Output pcap file.")
    var output: String

    @Option(help: "PRNG seed; the same arguments always give the same file.")
    var seed: UInt64 = 1

    @Option(help: "Attempts per second of packet time (ignored when --duration is given).")
    var rate = 20_000.0

    @Option(help: "Packet-time span over which attempts start, in seconds (default: attempts/rate; open: 10).")
    var duration: Double?

    @Option(help: "mix, flood or open.")
    var mode = Mode.mix

    @Option(help: "flood only: successful handshakes interleaved with the flood.")
    var legit = 0

    @Option(help: "Share of attempts over IPv6.")
    var ipv6Fraction = 0.2

    @Option(help: "Share of attempts carrying one 802.1Q tag.")
    var vlanFraction = 0.1

    @Option(help: "Packet time of the first attempt, Unix seconds.")
    var start: UInt64 = 1_704_067_200

    @Option(help: "Bytes kept per packet (0: whole packets). Checksums are always those of the whole packet.")
    var snaplen = 0

    func validate() throws {
        guard attempts >= 0 else { throw ValidationError("--attempts must be >= 0") }
        guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be > 0") }
        if let duration, !(duration > 0 && duration.isFinite) {
            throw ValidationError("--duration must be > 0")
        }
        guard legit >= 0 else { throw ValidationError("--legit must be >= 0") }
        guard legit == 0 || mode == .flood else { throw ValidationError("--legit applies to --mode flood only") }
        guard (0...1).contains(ipv6Fraction), (0...1).contains(vlanFraction) else {
            throw ValidationError("--ipv6-fraction and --vlan-fraction must be within 0...1")
        }
        guard snaplen == 0 || snaplen >= 14 else { throw ValidationError("--snaplen must be 0 or >= 14") }
    }

    func run() throws {
        var config = Configuration()
        config.mode = mode
        config.attempts = attempts
        config.legit = legit
        config.seed = seed
        config.span = duration ?? (mode == .open ? 10 : Double(attempts) / rate)
        config.startMicros = start * 1_000_000
        config.ipv6Fraction = ipv6Fraction
        config.vlanFraction = vlanFraction
        warnIfTuplesRepeat(config)

        let began = monotonicSeconds()
        let writer = try PcapWriter(path: output, snaplen: snaplen)
        var generator = Generator(config: config, writer: writer)
        try generator.run()
        try writer.close()
        let elapsed = monotonicSeconds() - began

        print(WireJSON.text(SynthSummary(generator.expected, config: config, writer: writer)))
        let mb = Double(writer.fileBytes) / 1_000_000
        let line = "tcpeek-synth: \(writer.packets) packets, \(format(mb)) MB in \(format(elapsed)) s"
            + " (\(format(Double(writer.packets) / max(elapsed, 1e-9) / 1e6)) M packets/s)"
        printError(line)
    }

    /// A client address/port pair that comes back while its previous attempt
    /// may still be open (60 s timeout + 3 s of SYN retransmissions) would be
    /// taken for a retransmission or a port reuse, and the expected counts
    /// would be wrong. Only absurd rates get there; say so rather than lie.
    private func warnIfTuplesRepeat(_ config: Configuration) {
        let total = Double(config.attempts + config.legit)
        let ipv4 = total * (1 - config.ipv6Fraction)
        guard ipv4 > Double(Generator.ipv4TupleCycle), total > 0 else { return }
        let cycleSeconds = Double(Generator.ipv4TupleCycle) * config.span / ipv4
        if cycleSeconds < 70 {
            printError("tcpeek-synth: warning: IPv4 client address/port pairs repeat every \(format(cycleSeconds)) s"
                       + " of packet time, within the 60 s timeout; expected counts may not hold")
        }
    }

    private func format(_ x: Double) -> String {
        let hundredths = (x * 100).rounded()
        let whole = Int(hundredths / 100)
        let rest = Int(hundredths) % 100
        return "\(whole)." + (rest < 10 ? "0" : "") + "\(rest)"
    }

    private func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Writes a line to standard error through the file descriptor: Swift 6
/// rejects the C global `stderr` as shared mutable state.
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { bytes in
        _ = write(2, bytes.baseAddress, bytes.count)
    }
}
