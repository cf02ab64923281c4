import ServiceLifecycle
import TCPeekCore
import TCPeekText
import TCPeekWire

/// The summary on standard error (and `--json-summary` on standard output),
/// once the capture has ended, every live line is printed and the recorder
/// has finished: between the recorder and the servers in the stop order,
/// so a `--stay` read serves the figures it has just summarised.
struct SummaryService: Service {
    let filters: [Filter]
    /// The file read, nil live.
    let file: String?
    let startedAt: Timestamp
    let printsJSON: Bool
    let capture: CaptureService
    let printers: [PrinterService]
    let recorder: RecorderService?
    /// What a `--stay` read keeps serving, for its message.
    let endpoints: [String]

    func run() async {
        let outcome = await capture.outcome.value
        for printer in printers { await printer.drained.value }
        await recorder?.finished.value
        if !outcome.isUnusable { printSummary(outcome) }
        if outcome.holdsGroupOpen {
            Terminal.status("end of file; serving \(endpoints.joined(separator: " and ")) until SIGINT or SIGTERM")
        }
        try? await gracefulShutdown()
    }

    private func printSummary(_ outcome: CaptureOutcome) {
        let snapshot = outcome.snapshot
        if let file, outcome.packetsBackInTime > 0 {
            let count = outcome.packetsBackInTime
            Terminal.warning(
                "\(count) \(count == 1 ? "packet is" : "packets are") timestamped earlier than a packet before "
                    + "\(count == 1 ? "it" : "them") in '\(file)'; packet time never runs backwards, so "
                    + "\(count == 1 ? "it was" : "they were") taken at the latest time seen")
        }
        let isFile = file != nil
        let from = isFile ? (snapshot.firstPacket ?? startedAt) : startedAt
        let to = isFile ? (snapshot.lastPacket ?? startedAt) : Timestamp.wallClock
        let context = Report.SummaryContext(
            from: from, to: to, capture: snapshot.capture, stillOpen: outcome.stillOpen,
            evicted: snapshot.tracker.evicted, malformedPackets: snapshot.decode.malformedTotal,
            notRecorded: recorder?.recorder.notRecorded)
        Terminal.write("\n" + Report.summary(filters: filters, counters: snapshot.counters, context: context) + "\n")
        if printsJSON {
            let json = CountsAnswer.getJSON(filters: filters, counters: snapshot.counters, capture: snapshot.capture)
            StandardStream.output.write(json + "\n")
        }
    }
}
