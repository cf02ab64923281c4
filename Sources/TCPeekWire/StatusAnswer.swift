/// The socket's `STATUS` answer: the state of the capture.
///
///     {"source":{"kind":"interface","name":"eth0"},"started":"2026-11-27T10:00:00.123456Z",
///      "first_packet":"...","last_packet":"...","packets":N,
///      "attempts":{"open":N,"evicted":N,"malformed_packets":N,"not_recorded":N},
///      "pcap":{"recv":N,"drop":N,"ifdrop":N},"version":"0.1.0","libpcap":"libpcap version 1.10.3"}
///
/// `kind` is `interface` or `file`; times are UTC ISO-8601 (`first_packet`
/// and `last_packet` are packet times, null before the first packet);
/// `not_recorded` is null without a database (`--no-db`), `pcap` null when
/// libpcap has no statistics (a file read).
public struct StatusAnswer: Codable, Sendable, Equatable {
    public var source: Source
    public var started: String
    public var firstPacket: String?
    public var lastPacket: String?
    public var packets: UInt64
    public var attempts: Attempts
    public var pcap: PcapStats?
    public var version: String
    public var libpcap: String

    public init(source: Source, started: String, firstPacket: String?, lastPacket: String?, packets: UInt64,
                attempts: Attempts, pcap: PcapStats?, version: String, libpcap: String) {
        self.source = source
        self.started = started
        self.firstPacket = firstPacket
        self.lastPacket = lastPacket
        self.packets = packets
        self.attempts = attempts
        self.pcap = pcap
        self.version = version
        self.libpcap = libpcap
    }

    public struct Source: Codable, Sendable, Equatable {
        /// `interface` or `file`.
        public var kind: String
        public var name: String

        public init(kind: String, name: String) {
            self.kind = kind
            self.name = name
        }
    }

    /// The figures of the summary's `attempts` block.
    public struct Attempts: Codable, Sendable, Equatable {
        /// Attempts in the table now.
        public var open: Int
        /// Open attempts closed early as timeout because the table was full.
        public var evicted: UInt64
        public var malformedPackets: UInt64
        /// Sessions that will never reach the database; nil without one.
        public var notRecorded: UInt64?

        public init(open: Int, evicted: UInt64, malformedPackets: UInt64, notRecorded: UInt64?) {
            self.open = open
            self.evicted = evicted
            self.malformedPackets = malformedPackets
            self.notRecorded = notRecorded
        }

        enum CodingKeys: String, CodingKey {
            case open, evicted
            case malformedPackets = "malformed_packets"
            case notRecorded = "not_recorded"
        }
    }

    enum CodingKeys: String, CodingKey {
        case source, started
        case firstPacket = "first_packet"
        case lastPacket = "last_packet"
        case packets, attempts, pcap, version, libpcap
    }
}
