#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum Mode: String, CaseIterable {
    /// The benchmark: a realistic mix of outcomes, many attempts in flight.
    case mix
    /// Distinct unanswered SYNs, optionally with normal handshakes interleaved.
    case flood
    /// Unanswered SYNs packed into a short span: all open at once.
    case open
}

/// The packets one attempt sends, in order. What a correct tracker must
/// report follows from the script alone, which is how the expected counts are
/// known exactly.
enum Script: UInt8, CaseIterable {
    case success                // 8 packets: handshake, request, response, FIN exchange
    case successWithAck         // 9: the client also ACKs the response before its FIN
    case successDupSyn          // the first SYN got no answer; retransmitted after 1 s
    case successDupSynAck       // the client's ACK was lost; the server retransmits its SYN/ACK after 1 s
    case reject                 // SYN, RST+ACK from the server (closed port)
    case abort                  // SYN, SYN/ACK, RST from the client (it gave up or is a scanner)
    case timeout                // SYN, retransmitted at +1 s and +3 s (same ISN), nothing back
    case unreach                // SYN, ICMP port unreachable from the server host
    case floodSyn               // one bare SYN, no options, never answered
    case openSyn                // one ordinary SYN, never answered

    var steps: [Step] {
        switch self {
        case .success: [.syn, .synAck, .ack, .request, .response, .finClient, .finServer, .lastAck]
        case .successWithAck: [.syn, .synAck, .ack, .request, .response, .ackResponse, .finClient, .finServer, .lastAck]
        case .successDupSyn: [.syn, .synRetry1, .synAck, .ack, .request, .response, .finClient, .finServer, .lastAck]
        case .successDupSynAck: [.syn, .synAck, .synAckRetry, .ack, .request, .response, .finClient, .finServer, .lastAck]
        case .reject: [.syn, .rstAckServer]
        case .abort: [.syn, .synAck, .rstClient]
        case .timeout: [.syn, .synRetry1, .synRetry2]
        case .unreach: [.syn, .unreachable]
        case .floodSyn: [.bareSyn]
        case .openSyn: [.syn]
        }
    }
}

/// One packet of a script. Each step knows its delay after the previous
/// packet of the same attempt, so timing is decided as packets are emitted
/// and an attempt needs no stored timetable.
enum Step: UInt8 {
    case syn, synRetry1, synRetry2, bareSyn
    case synAck, synAckRetry
    case ack, request, response, ackResponse
    case finClient, finServer, lastAck
    case rstAckServer, rstClient, unreachable
}

/// The exact counts a correct tracker reports for the generated capture,
/// read with the default 60 s timeout (attempts still open at the end of
/// the file close as timeouts).
struct Expected {
    var attempts = 0
    var success = 0
    var reject = 0
    var abort = 0
    var timeout = 0
    var unreach = 0
    /// Successful sessions with at least one retransmitted SYN (SYN/ACK): what
    /// the summary's "Segment Duplicate" lines and GET's success.dupsyn show.
    var dupsyn = 0
    var dupsynack = 0
    /// Retransmitted SYN (SYN/ACK) segments over all sessions, whatever their
    /// outcome: the sum of the per-session dup_syn (dup_synack) counts.
    var dupsynSegments = 0
    var dupsynackSegments = 0
    var ipv4 = 0
    var ipv6 = 0
    var vlan = 0
    var legit = 0
}

struct Configuration {
    var mode = Mode.mix
    /// Attempts of the mode (flood and open: the unanswered SYNs).
    var attempts = 1_000_000
    /// Flood only: successful handshakes interleaved with the flood.
    var legit = 0
    var seed: UInt64 = 1
    /// Packet-time span over which attempts start, in seconds.
    var span = 50.0
    /// Packet time of the first attempt, microseconds since the Unix epoch.
    var startMicros: UInt64 = 1_704_067_200_000_000
    var ipv6Fraction = 0.2
    var vlanFraction = 0.1
}

/// Generates the attempts in start order and merges their packets by time
/// through a min-heap holding the next packet of each attempt in flight. The
/// heap stays small (attempts in flight: rate × a few seconds at most), and
/// only fixed-size values move, so the cost per packet is a heap step plus
/// building the frame.
struct Generator {
    private let config: Configuration
    private let writer: PcapWriter
    private let payloads: Payloads
    private var rng: SplitMix64
    private(set) var expected = Expected()
    /// `Script.steps` by raw value, built once: the computed property would
    /// allocate a fresh array for every packet.
    private let scripts: [[Step]] = Script.allCases.map(\.steps)

    /// Attempts in flight, by slot; slots are reused through `freeSlots`.
    private var attempts: [Attempt] = []
    private var freeSlots: [UInt32] = []
    private var heap = EventHeap()

    /// Per-family attempt counters: they give each attempt its client address
    /// and port (see `endpoints(ipv6:)`).
    private var ipv4Index: UInt64 = 0
    private var ipv6Index: UInt64 = 0

    /// 254 hosts × 64,512 ports: an IPv4 client address/port pair comes back
    /// only after this many IPv4 attempts.
    static let ipv4TupleCycle: UInt64 = 254 * 64_512
    private static let ipv6Hosts: UInt64 = 4096

    private struct Attempt {
        var flow = Endpoints()
        var script = Script.success
        var next: UInt8 = 0
        var start: UInt64 = 0
        var rtt: UInt64 = 0
        var isnClient: UInt32 = 0
        var isnServer: UInt32 = 0
        var tsClient: UInt32 = 0
        var tsServer: UInt32 = 0
        var ipIDClient: UInt16 = 0
        var ipIDServer: UInt16 = 0
        var requestLength = 0
        var responseLength = 0
        var minimalQuote = false
    }

    init(config: Configuration, writer: PcapWriter) {
        self.config = config
        self.writer = writer
        self.payloads = Payloads()
        self.rng = SplitMix64(seed: config.seed)
    }

    mutating func run() throws {
        let total = config.attempts + (config.mode == .flood ? config.legit : 0)
        guard total > 0 else { return }
        // Attempt i starts at a random point of its own slot of width
        // span/total: random enough to interleave realistically, and it keeps
        // start times sorted and the span exact.
        let slotMicros = config.span * 1_000_000 / Double(total)
        var issued = 0
        var nextStart = startTime(0, slotMicros)

        while true {
            if issued < total, heap.isEmpty || nextStart <= heap.top.time {
                let slot = newAttempt(index: issued, total: total, start: nextStart)
                heap.push(.init(time: nextStart, slot: slot))
                issued += 1
                if issued < total { nextStart = startTime(issued, slotMicros) }
                continue
            }
            if heap.isEmpty { break }
            let event = heap.top
            let slot = Int(event.slot)
            try emit(slot: slot, at: event.time)
            let steps = scripts[Int(attempts[slot].script.rawValue)]
            attempts[slot].next += 1
            if Int(attempts[slot].next) < steps.count {
                let delay = self.delay(before: steps[Int(attempts[slot].next)], rtt: attempts[slot].rtt)
                heap.replaceTop(.init(time: event.time + delay, slot: event.slot))
            } else {
                heap.removeTop()
                freeSlots.append(event.slot)
            }
        }
    }

    private mutating func startTime(_ index: Int, _ slotMicros: Double) -> UInt64 {
        config.startMicros + UInt64((Double(index) + rng.unit()) * slotMicros)
    }

    // MARK: - Attempts

    private mutating func newAttempt(index: Int, total: Int, start: UInt64) -> UInt32 {
        var a = Attempt()
        a.script = script(index: index, total: total)
        a.start = start
        a.flow = endpoints(ipv6: rng.unit() < config.ipv6Fraction)
        // Round-trip times are log-uniform between 0.1 ms (same room) and
        // 50 ms (another continent).
        a.rtt = UInt64(100 * exp(rng.unit() * log(500.0)))
        a.isnClient = UInt32(truncatingIfNeeded: rng.next())
        a.isnServer = UInt32(truncatingIfNeeded: rng.next())
        a.tsClient = UInt32(truncatingIfNeeded: rng.next())
        a.tsServer = UInt32(truncatingIfNeeded: rng.next())
        a.ipIDClient = UInt16(truncatingIfNeeded: rng.next())
        a.ipIDServer = UInt16(truncatingIfNeeded: rng.next())
        a.requestLength = rng.inRange(80...400)
        a.responseLength = rng.inRange(200...1400)
        a.minimalQuote = rng.below(2) == 0
        count(a)

        let slot: UInt32
        if let free = freeSlots.popLast() {
            slot = free
            attempts[Int(slot)] = a
        } else {
            slot = UInt32(attempts.count)
            attempts.append(a)
        }
        return slot
    }

    private mutating func script(index: Int, total: Int) -> Script {
        switch config.mode {
        case .open:
            return .openSyn
        case .flood:
            // Spread the K legitimate handshakes evenly among the flood
            // (Bresenham), so exactly K of them, none bunched at one end.
            let k = UInt64(config.legit), n = UInt64(total), i = UInt64(index)
            return (i + 1) * k / n > i * k / n ? .success : .floodSyn
        case .mix:
            // Shares in basis points; they add up to 10,000.
            let r = rng.below(10_000)
            switch r {
            case ..<4_250: return .success
            case ..<8_500: return .successWithAck
            case ..<8_800: return .successDupSyn
            case ..<9_100: return .successDupSynAck
            case ..<9_500: return .reject
            case ..<9_600: return .abort
            case ..<9_900: return .timeout
            default: return .unreach
            }
        }
    }

    private mutating func count(_ a: Attempt) {
        expected.attempts += 1
        if a.flow.isIPv6 { expected.ipv6 += 1 } else { expected.ipv4 += 1 }
        if a.flow.vlan != 0 { expected.vlan += 1 }
        switch a.script {
        case .success, .successWithAck:
            expected.success += 1
            if config.mode == .flood { expected.legit += 1 }
        case .successDupSyn:
            expected.success += 1
            expected.dupsyn += 1
            expected.dupsynSegments += 1
        case .successDupSynAck:
            expected.success += 1
            expected.dupsynack += 1
            expected.dupsynackSegments += 1
        case .reject: expected.reject += 1
        case .abort: expected.abort += 1
        case .timeout:
            expected.timeout += 1
            expected.dupsynSegments += 2
        case .unreach: expected.unreach += 1
        case .floodSyn, .openSyn: expected.timeout += 1
        }
    }

    /// Client address and port come from a per-family counter, the address
    /// changing fastest and the port advancing once per round of addresses,
    /// like many hosts each using the kernel's sequential ephemeral ports. A
    /// client address/port pair therefore never repeats before
    /// `ipv4TupleCycle` IPv4 attempts (far longer than the 60 s timeout at any
    /// sensible rate), and for IPv6 before 4096 × 64,512.
    private mutating func endpoints(ipv6: Bool) -> Endpoints {
        var e = Endpoints()
        e.isIPv6 = ipv6
        if ipv6 {
            let i = ipv6Index
            ipv6Index += 1
            e.clientHost = 1 + i % Self.ipv6Hosts
            e.clientPort = UInt16(1024 + (i / Self.ipv6Hosts) % 64_512)
            e.serverHost = 0x10 + rng.below(32)
        } else {
            let i = ipv4Index
            ipv4Index += 1
            e.clientHost = 1 + i % 254
            e.clientPort = UInt16(1024 + (i / 254) % 64_512)
            e.serverHost = 10 + rng.below(32)
        }
        e.serverPort = Self.serverPort(rng.below(100))
        e.vlan = rng.unit() < config.vlanFraction ? UInt16(100 + rng.below(8)) : 0
        return e
    }

    /// A plausible spread of services, weights in percent.
    private static func serverPort(_ percentile: UInt64) -> UInt16 {
        switch percentile {
        case ..<50: 443
        case ..<75: 80
        case ..<83: 8080
        case ..<88: 22
        case ..<92: 25
        case ..<96: 5432
        default: 3306
        }
    }

    // MARK: - Timing

    /// Microseconds between the previous packet of the attempt and `step`.
    /// The capture point is next to the clients, so a server answer comes one
    /// RTT after what it answers and a client reaction a few tens of µs after.
    /// Every delay is at least 1 µs, so an attempt's packets are strictly
    /// ordered in time.
    private mutating func delay(before step: Step, rtt: UInt64) -> UInt64 {
        switch step {
        case .syn, .bareSyn: 1
        case .synRetry1: 1_000_000                 // Linux initial RTO: 1 s
        case .synRetry2: 2_000_000                 // then doubled: +3 s in all
        case .synAck, .rstAckServer, .unreachable, .finServer: rtt
        case .synAckRetry: 1_000_000
        case .ack, .rstClient, .lastAck: UInt64(rng.inRange(20...80))
        case .request: UInt64(rng.inRange(10...50))
        case .response: rtt + UInt64(rng.inRange(100...5_000))   // + server think time
        case .ackResponse: UInt64(rng.inRange(20...80))
        case .finClient: UInt64(rng.inRange(50...500))
        }
    }

    // MARK: - Packets

    private mutating func emit(slot: Int, at time: UInt64) throws {
        let a = attempts[slot]
        let step = scripts[Int(a.script.rawValue)][Int(a.next)]
        let p = try writer.beginPacket()
        let length: Int
        if step == .unreachable {
            let syn = segment(.syn, a, at: a.start)
            length = Frames.unreachable(quoting: syn, synIPID: a.ipIDClient, flow: a.flow,
                                        ipID: a.ipIDServer &+ UInt16(a.next),
                                        minimalQuote: a.minimalQuote, into: p)
        } else {
            let s = segment(step, a, at: time)
            let id = (s.fromClient ? a.ipIDClient : a.ipIDServer) &+ UInt16(a.next)
            length = Frames.tcp(s, flow: a.flow, ipID: id, into: p)
        }
        writer.endPacket(micros: time, length: length)
    }

    private func segment(_ step: Step, _ a: Attempt, at time: UInt64) -> TCPSegment {
        let c = a.isnClient, sv = a.isnServer
        let req = UInt32(a.requestLength), resp = UInt32(a.responseLength)
        var s = TCPSegment()
        s.options = .timestamps
        s.window = 502
        switch step {
        case .syn, .synRetry1, .synRetry2:
            (s.flags, s.seq, s.window, s.options) = (TCPSegment.syn, c, 64_240, .handshake)
        case .bareSyn:
            (s.flags, s.seq, s.window, s.options) = (TCPSegment.syn, c, 1_024, .none)
        case .synAck, .synAckRetry:
            (s.fromClient, s.flags, s.seq, s.ack, s.window, s.options) =
                (false, TCPSegment.syn | TCPSegment.ack, sv, c &+ 1, 65_160, .handshake)
        case .ack:
            (s.flags, s.seq, s.ack) = (TCPSegment.ack, c &+ 1, sv &+ 1)
        case .request:
            (s.flags, s.seq, s.ack) = (TCPSegment.psh | TCPSegment.ack, c &+ 1, sv &+ 1)
            (s.payload, s.payloadLength) = (payloads.request, a.requestLength)
        case .response:
            (s.fromClient, s.flags, s.seq, s.ack, s.window) =
                (false, TCPSegment.psh | TCPSegment.ack, sv &+ 1, c &+ 1 &+ req, 509)
            (s.payload, s.payloadLength) = (payloads.response, a.responseLength)
        case .ackResponse:
            (s.flags, s.seq, s.ack) = (TCPSegment.ack, c &+ 1 &+ req, sv &+ 1 &+ resp)
        case .finClient:
            (s.flags, s.seq, s.ack) = (TCPSegment.fin | TCPSegment.ack, c &+ 1 &+ req, sv &+ 1 &+ resp)
        case .finServer:
            (s.fromClient, s.flags, s.seq, s.ack, s.window) =
                (false, TCPSegment.fin | TCPSegment.ack, sv &+ 1 &+ resp, c &+ 2 &+ req, 509)
        case .lastAck:
            (s.flags, s.seq, s.ack) = (TCPSegment.ack, c &+ 2 &+ req, sv &+ 2 &+ resp)
        case .rstAckServer:
            // A closed port's answer to a SYN (RFC 9293 §3.10.7.1): sequence 0,
            // acknowledging the SYN.
            (s.fromClient, s.flags, s.seq, s.ack, s.window, s.options) =
                (false, TCPSegment.rst | TCPSegment.ack, 0, c &+ 1, 0, .none)
        case .rstClient:
            // A client refusing a SYN/ACK it no longer wants: the sequence
            // number is the SYN/ACK's acknowledgment number.
            (s.flags, s.seq, s.window, s.options) = (TCPSegment.rst, c &+ 1, 0, .none)
        case .unreachable:
            preconditionFailure("ICMP is built by emit()")
        }
        // Timestamps tick in milliseconds; the echoed value is what the peer
        // sent about one RTT earlier (0 on the SYN, which echoes nothing).
        let elapsed = time - a.start
        let echoed = elapsed > a.rtt ? elapsed - a.rtt : 0
        let ownBase = s.fromClient ? a.tsClient : a.tsServer
        let peerBase = s.fromClient ? a.tsServer : a.tsClient
        s.tsval = ownBase &+ UInt32(truncatingIfNeeded: elapsed / 1000)
        s.tsecr = s.flags == TCPSegment.syn ? 0 : peerBase &+ UInt32(truncatingIfNeeded: echoed / 1000)
        return s
    }
}

/// Fixed request and response bodies; each data segment carries a prefix of
/// one of them. Allocated once, so building a packet only copies bytes.
final class Payloads {
    let request: UnsafePointer<UInt8>
    let response: UnsafePointer<UInt8>
    private static let size = 2048

    init() {
        request = Self.make("GET /api/v1/items?page=1 HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: tcpeek-synth\r\nAccept: */*\r\nX-Padding: ")
        response = Self.make("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    }

    private static func make(_ head: String) -> UnsafePointer<UInt8> {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        let bytes = Array(head.utf8)
        for i in 0..<size {
            p[i] = i < bytes.count ? bytes[i] : UInt8(ascii: "a") + UInt8(i % 26)
        }
        return UnsafePointer(p)
    }

    deinit {
        request.deallocate()
        response.deallocate()
    }
}

/// Binary min-heap of (time, slot): the next packet of every attempt in
/// flight. Ties on time are broken by slot only to stay deterministic; one
/// attempt never has two entries.
struct EventHeap {
    struct Entry {
        var time: UInt64
        var slot: UInt32
    }

    private var entries: [Entry] = []

    var isEmpty: Bool { entries.isEmpty }
    var top: Entry { entries[0] }

    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.time != b.time ? a.time < b.time : a.slot < b.slot
    }

    mutating func push(_ e: Entry) {
        entries.append(e)
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(e, entries[parent]) else { break }
            entries[i] = entries[parent]
            i = parent
        }
        entries[i] = e
    }

    /// Replaces the minimum by `e` (the same attempt's next packet): one
    /// sift-down instead of a pop and a push.
    mutating func replaceTop(_ e: Entry) {
        siftDown(e)
    }

    mutating func removeTop() {
        let last = entries.removeLast()
        if !entries.isEmpty { siftDown(last) }
    }

    /// Puts `e` at the root and moves it down to its place.
    private mutating func siftDown(_ e: Entry) {
        let n = entries.count
        var i = 0
        while true {
            var child = 2 * i + 1
            if child >= n { break }
            if child + 1 < n, Self.less(entries[child + 1], entries[child]) { child += 1 }
            guard Self.less(entries[child], e) else { break }
            entries[i] = entries[child]
            i = child
        }
        entries[i] = e
    }
}
