import Prometheus
import Synchronization
import TCPeekCore

/// The figures the metrics exporter reads at each scrape.
public struct MetricsFigures: Sendable, Equatable {
    public var counters: Counters
    public var capture = CaptureStatistics()
    public var decode = DecodeStatistics()
    public var evicted: UInt64 = 0
    public var openAttempts = 0
    public var notRecorded: UInt64 = 0

    /// The figures of a capture snapshot.
    public init(snapshot: CaptureSnapshot, notRecorded: UInt64) {
        counters = snapshot.counters
        capture = snapshot.capture ?? CaptureStatistics()
        decode = snapshot.decode
        evicted = snapshot.tracker.evicted
        openAttempts = snapshot.openAttempts
        self.notRecorded = notRecorded
    }
}

/// The tcpeek metrics in a swift-prometheus registry.
///
/// Cardinality is fixed when it is made: a `host` label with one value on
/// every series, `filter` with one value per counting filter (at most 64),
/// `outcome` with five, `cause` with one per failure `Cause` of that
/// outcome (a success has none: its flags are `flag` on their own family),
/// `reason` with one per malformed-packet reason, and `version`/`libpcap`
/// with one each. No label ever carries an address or a port.
///
/// Counters mirror the capture's own counts (the summary's figures) at each
/// `update(_:)`; the histogram is fed closed sessions with `record(_:)`.
/// Safe from any thread.
public final class MetricsExporter: Sendable {
    /// Upper bounds of the handshake-duration buckets in seconds: 100 µs to 60 s.
    public static let durationBuckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
        0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ]

    /// The label every series carries with `hostLabel` as its value.
    public static let hostLabelName = "host"

    private struct FilterSeries: Sendable {
        var success: Counter
        /// Indexed like `Cause.allCases`: a failure cause's
        /// `handshakes_total{outcome,cause}`, a success flag's `success_flags_total{flag}`.
        var causes: [Counter]
        var synRetransmittedSessions: Counter
        var synackRetransmittedSessions: Counter
        var synRetransmits: Counter
        var synackRetransmits: Counter
        var duration: ValueHistogram
        var synToSynAck: ValueHistogram
        var synAckToAck: ValueHistogram
    }

    /// What the counters have been raised to so far.
    private struct Exported: Sendable {
        var counters: Counters
        var perFilter: [FilterCounters] { counters.perFilter }
        var capture = CaptureStatistics()
        var malformed: [UInt64] = Array(repeating: 0, count: MalformedReason.allCases.count)
        var evicted: UInt64 = 0
        var notRecorded: UInt64 = 0
    }

    public let registry: PrometheusCollectorRegistry
    private let filters: [FilterSeries]
    private let received: Counter
    private let dropped: Counter
    private let interfaceDropped: Counter
    private let decodeErrors: [Counter]  // indexed like MalformedReason.allCases
    private let openAttempts: Gauge
    private let evicted: Counter
    private let unrecorded: Counter
    private let exported: Mutex<Exported>

    /// Registers every series (all start at zero, so a scrape shows them
    /// before the first handshake).
    public init(filterNames: [String], hostLabel: String, version: String, libpcapVersion: String) {
        let host = (Self.hostLabelName, hostLabel)
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
            registry.makeCounter(
                descriptor: MetricNameDescriptor(namespace: "tcpeek", metricName: name, unitName: "total", helpText: help),
                labels: [host] + labels)
        }
        func histogram(_ name: String, _ help: String, _ filter: (String, String)) -> ValueHistogram {
            registry.makeValueHistogram(
                descriptor: MetricNameDescriptor(namespace: "tcpeek", metricName: name, unitName: "seconds", helpText: help),
                labels: [host, filter], buckets: Self.durationBuckets)
        }
        let handshakesHelp = "Connection attempts closed, by filter, outcome and (for a failure) cause."
        filters = filterNames.map { name in
            let filter = ("filter", name)
            return FilterSeries(
                success: counter("handshakes", handshakesHelp, [filter, ("outcome", Outcome.success.description)]),
                causes: Cause.allCases.map { cause in
                    guard let outcome = cause.outcome else {
                        return counter("success_flags", "Successful handshakes with this flag (see the README's causes).",
                                       [filter, ("flag", cause.description)])
                    }
                    return counter("handshakes", handshakesHelp,
                                   [filter, ("outcome", outcome.description), ("cause", cause.description)])
                },
                synRetransmittedSessions: counter(
                    "syn_retransmitted_sessions", "Successful handshakes that had at least one retransmitted SYN.", [filter]),
                synackRetransmittedSessions: counter(
                    "synack_retransmitted_sessions", "Successful handshakes that had at least one retransmitted SYN/ACK.",
                    [filter]),
                synRetransmits: counter("syn_retransmits", "Retransmitted SYN segments, whatever the outcome.", [filter]),
                synackRetransmits: counter(
                    "synack_retransmits", "Retransmitted SYN/ACK segments, whatever the outcome.", [filter]),
                duration: registry.makeValueHistogram(
                    descriptor: MetricNameDescriptor(
                        namespace: "tcpeek", metricName: "handshake_duration", unitName: "seconds",
                        helpText: "Time from the first SYN to the handshake's final ACK, successful handshakes only."),
                    labels: [host, filter], buckets: Self.durationBuckets),
                synToSynAck: histogram(
                    "syn_to_synack", "Successful handshakes: from the answered SYN to the server's SYN/ACK.", filter),
                synAckToAck: histogram(
                    "synack_to_ack", "Successful handshakes: from the server's SYN/ACK to the client's ACK.", filter))
        }
        received = counter("pcap_received_packets", "Packets received by libpcap (pcap_stats ps_recv; 0 for a file).")
        dropped = counter(
            "pcap_dropped_packets", "Packets dropped for lack of buffer space (pcap_stats ps_drop; 0 for a file).")
        interfaceDropped = counter(
            "pcap_interface_dropped_packets", "Packets dropped by the interface or driver (pcap_stats ps_ifdrop).")
        decodeErrors = MalformedReason.allCases.map { reason in
            counter("decode_errors", "Packets skipped as malformed, by reason.", [("reason", reason.key)])
        }
        openAttempts = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "tcpeek", metricName: "open_attempts", unitName: "",
                helpText: "Connection attempts still undecided."),
            labels: [host])
        evicted = counter(
            "evicted_attempts", "Open attempts closed early as timeout because the table was full (--max-pending).")
        unrecorded = counter(
            "unrecorded_sessions", "Closed sessions that could not be written to the history database.")
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "tcpeek", metricName: "build", unitName: "info",
                helpText: "Always 1; the labels name the tcpeek and libpcap versions."),
            labels: [host, ("version", version), ("libpcap", libpcapVersion)]
        ).set(to: 1)
        exported = Mutex(Exported(counters: Counters(filterCount: filterNames.count)))
    }

    /// Brings the counters and gauges to `figures`. Counters only rise: a
    /// libpcap figure below what was exported is read as a wrap of its
    /// 32-bit counter; any other figure that went down is ignored.
    public func update(_ figures: MetricsFigures) {
        exported.withLock { exported in
            for index in filters.indices where index < figures.counters.perFilter.count {
                let now = figures.counters[index]
                let before = exported.perFilter[index]
                let series = filters[index]
                series.success.raise(from: before.success, to: now.success)
                for cause in Cause.allCases {
                    series.causes[Int(cause.rawValue)].raise(
                        from: exported.counters.count(of: cause, filter: index),
                        to: figures.counters.count(of: cause, filter: index))
                }
                series.synRetransmittedSessions.raise(from: before.successWithDupSYN, to: now.successWithDupSYN)
                series.synackRetransmittedSessions.raise(from: before.successWithDupSYNACK, to: now.successWithDupSYNACK)
                series.synRetransmits.raise(from: before.dupSYNSegments, to: now.dupSYNSegments)
                series.synackRetransmits.raise(from: before.dupSYNACKSegments, to: now.dupSYNACKSegments)
            }
            if figures.counters.perFilter.count == filters.count { exported.counters = figures.counters }
            received.raise(wrappingFrom: exported.capture.received, to: figures.capture.received)
            dropped.raise(wrappingFrom: exported.capture.dropped, to: figures.capture.dropped)
            interfaceDropped.raise(wrappingFrom: exported.capture.interfaceDropped, to: figures.capture.interfaceDropped)
            exported.capture = figures.capture
            for reason in MalformedReason.allCases {
                decodeErrors[reason.rawValue].raise(from: exported.malformed[reason.rawValue], to: figures.decode[reason])
                exported.malformed[reason.rawValue] = figures.decode[reason]
            }
            evicted.raise(from: exported.evicted, to: figures.evicted)
            exported.evicted = figures.evicted
            unrecorded.raise(from: exported.notRecorded, to: figures.notRecorded)
            exported.notRecorded = figures.notRecorded
            openAttempts.set(to: Double(figures.openAttempts))
        }
    }

    /// Observes the duration of every successful session, and its two
    /// halves when its SYN/ACK was seen, in each of its filters. Allocates
    /// nothing per session.
    public func record(_ sessions: [Session]) {
        func seconds(_ duration: Timestamp.Duration) -> Double { Double(max(0, duration.microseconds)) / 1_000_000 }
        for session in sessions where session.outcome == .success {
            let evidence = session.evidence
            var bits = session.filters.rawValue
            while bits != 0 {
                let index = bits.trailingZeroBitCount
                if index < filters.count {
                    filters[index].duration.record(seconds(session.duration))
                    if let half = evidence.synToSynAck { filters[index].synToSynAck.record(seconds(half)) }
                    if let half = evidence.synAckToAck { filters[index].synAckToAck.record(seconds(half)) }
                }
                bits &= bits &- 1
            }
        }
    }

    /// The exposition of every series, in `format`.
    public func exposition(_ format: MetricsFormat) -> [UInt8] {
        var text: [UInt8] = []
        registry.emit(into: &text)
        switch format {
        case .prometheusText: return text
        case .openMetrics: return MetricsFormat.openMetrics(fromPrometheusText: text)
        }
    }
}

extension Counter {
    /// Raises the counter by what a monotonic source gained from `before`
    /// to `now` (nothing if it went down).
    fileprivate func raise(from before: UInt64, to now: UInt64) {
        if now > before { increment(by: Int64(clamping: now - before)) }
    }

    /// Like `raise(from:to:)` for libpcap's `u_int` statistics, which wrap
    /// at 2^32: a drop is read as one wrap.
    fileprivate func raise(wrappingFrom before: UInt64, to now: UInt64) {
        if now < before, before <= UInt64(UInt32.max) {
            raise(from: 0, to: (UInt64(UInt32.max) - before) + 1 + now)
        } else {
            raise(from: before, to: now)
        }
    }
}
