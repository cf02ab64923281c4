import TCPeekCore
import TCPeekStore
import TCPeekWire

/// The socket's `STATUS` answer: the state of the capture, with the figures
/// of the summary's `attempts` and `pcap stats` blocks taken from the same
/// snapshot `GET` reads. Its JSON is TCPeekWire's `StatusAnswer`:
///
///     {"source":{"kind":"interface","name":"eth0"},"started":"2026-11-27T10:00:00.123456Z",
///      "first_packet":"...","last_packet":"...","packets":N,
///      "attempts":{"open":N,"evicted":N,"malformed_packets":N,"not_recorded":N},
///      "pcap":{"recv":N,"drop":N,"ifdrop":N},"version":"0.1.0","libpcap":"libpcap version 1.10.3"}
///
/// `kind` is `interface` or `file`; times are UTC ISO-8601 (`first_packet`
/// and `last_packet` are packet times, null before the first packet);
/// `not_recorded` is null without a database (`--no-db`), `pcap` null when
/// libpcap has no statistics (a file read), as the summary leaves them out.
public struct SocketStatus: Sendable, Equatable {
    public var sourceKind: String
    public var source: String
    /// When this tcpeek started (wall clock).
    public var startedAt: Timestamp
    public var firstPacket: Timestamp?
    public var lastPacket: Timestamp?
    /// Packets read from the capture.
    public var packets: UInt64
    /// Attempts in the table now (the summary's "still open").
    public var openAttempts: Int
    /// Open attempts closed early as timeout because the table was full.
    public var evicted: UInt64
    public var malformedPackets: UInt64
    /// Sessions that will never reach the database; nil without one.
    public var notRecorded: UInt64?
    public var capture: CaptureStatistics?
    public var version: String
    public var libpcapVersion: String

    public init(sourceKind: String, source: String, startedAt: Timestamp, firstPacket: Timestamp? = nil,
                lastPacket: Timestamp? = nil, packets: UInt64 = 0, openAttempts: Int = 0, evicted: UInt64 = 0,
                malformedPackets: UInt64 = 0, notRecorded: UInt64? = nil, capture: CaptureStatistics? = nil,
                version: String, libpcapVersion: String) {
        self.sourceKind = sourceKind
        self.source = source
        self.startedAt = startedAt
        self.firstPacket = firstPacket
        self.lastPacket = lastPacket
        self.packets = packets
        self.openAttempts = openAttempts
        self.evicted = evicted
        self.malformedPackets = malformedPackets
        self.notRecorded = notRecorded
        self.capture = capture
        self.version = version
        self.libpcapVersion = libpcapVersion
    }

    /// The figures of a running recorder, from one snapshot of its capture.
    public init(context: LiveContext, snapshot: CaptureSnapshot, isLive: Bool, startedAt: Timestamp) {
        self.init(
            sourceKind: isLive ? "interface" : "file", source: context.source, startedAt: startedAt,
            firstPacket: snapshot.firstPacket, lastPacket: snapshot.lastPacket, packets: snapshot.decode.packets,
            openAttempts: snapshot.openAttempts, evicted: snapshot.tracker.evicted,
            malformedPackets: snapshot.decode.malformedTotal,
            notRecorded: context.databasePath == nil ? nil : context.notRecorded(),
            capture: snapshot.capture, version: context.version, libpcapVersion: context.libpcapVersion)
    }

    /// The answer as it goes on the wire.
    public var answer: StatusAnswer {
        func time(_ value: Timestamp?) -> String? { value.map { WireTime.text($0.seconds) } }
        return StatusAnswer(
            source: .init(kind: sourceKind, name: source), started: WireTime.text(startedAt.seconds),
            firstPacket: time(firstPacket), lastPacket: time(lastPacket), packets: packets,
            attempts: .init(open: openAttempts, evicted: evicted, malformedPackets: malformedPackets, notRecorded: notRecorded),
            pcap: capture.map(PcapStats.init), version: version, libpcap: libpcapVersion)
    }

    /// The JSON object (`StatusAnswer`).
    public var json: String { WireJSON.text(answer) }
}
