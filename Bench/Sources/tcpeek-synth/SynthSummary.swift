import TCPeekWire

/// What tcpeek-synth prints on standard output: the counts tcpeek must find
/// in the capture, and the capture's size and time span (Bench/README.md).
struct SynthSummary: Encodable {
    var mode: String
    var seed: UInt64
    var attempts: Int
    var success: Int
    var reject: Int
    var abort: Int
    var timeout: Int
    var unreach: Int
    var dupsyn: Int
    var dupsynack: Int
    var dupsynSegments: Int
    var dupsynackSegments: Int
    var legit: Int
    var ipv4: Int
    var ipv6: Int
    var vlan: Int
    var packets: Int
    var bytes: Int
    /// Unix seconds with six decimals.
    var firstTimestamp: WireSeconds
    var lastTimestamp: WireSeconds

    enum CodingKeys: String, CodingKey {
        case mode, seed, attempts, success, reject, abort, timeout, unreach, dupsyn, dupsynack
        case dupsynSegments = "dupsyn_segments", dupsynackSegments = "dupsynack_segments"
        case legit, ipv4, ipv6, vlan, packets, bytes
        case firstTimestamp = "first_ts", lastTimestamp = "last_ts"
    }

    init(_ e: Expected, config: Configuration, writer: PcapWriter) {
        mode = config.mode.rawValue
        seed = config.seed
        attempts = e.attempts
        success = e.success
        reject = e.reject
        abort = e.abort
        timeout = e.timeout
        unreach = e.unreach
        dupsyn = e.dupsyn
        dupsynack = e.dupsynack
        dupsynSegments = e.dupsynSegments
        dupsynackSegments = e.dupsynackSegments
        legit = e.legit
        ipv4 = e.ipv4
        ipv6 = e.ipv6
        vlan = e.vlan
        packets = writer.packets
        bytes = writer.fileBytes
        firstTimestamp = WireSeconds(microseconds: Int64(clamping: writer.firstTimestamp ?? config.startMicros))
        lastTimestamp = WireSeconds(microseconds: Int64(clamping: writer.packets > 0 ? writer.lastTimestamp : config.startMicros))
    }
}
