import CPcap
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import TCPeekCore
import TCPeekSystem

/// How the tracker is set up for one capture.
public struct TrackingOptions: Sendable {
    public var filters: FilterSet
    /// `--local-addr`; nil means the capture interface's own addresses (live)
    /// or no notion of "this host" (file).
    public var localAddresses: LocalAddresses?
    public var checksumMode: ChecksumMode = .none
    public var interpretsICMP = true
    public var timeout: Timestamp.Duration = .seconds(60)
    public var maxPending = 1_000_000

    public init(filters: FilterSet, localAddresses: LocalAddresses?) {
        self.filters = filters
        self.localAddresses = localAddresses
    }
}

/// How a capture ended.
public enum CaptureEnd: Sendable, Equatable {
    case endOfFile
    case stopped
}

/// Runs the capture: reads packets, decodes, tracks, counts, and hands
/// closed sessions to every consumer's queue. `run()` occupies the calling thread, which
/// must be a dedicated thread (never Swift's shared pool).
///
/// `@unchecked Sendable`: `state` is touched only by the thread in `run()`;
/// other threads use `requestStop()` (an atomic and `pcap_breakloop`) and
/// `snapshot` (behind a mutex).
public final class CaptureLoop: @unchecked Sendable {
    public let handle: PcapHandle
    public let options: TrackingOptions
    /// One queue per consumer (live printer, recorder): each gets every session.
    private let queues: [SessionQueue]
    private let logger: Logger
    private let stopRequested = Atomic<Bool>(false)
    private let published: Mutex<CaptureSnapshot>
    private var state: PacketState
    /// Shared with `state`; a `let` here so the hand-off can run while the
    /// tracker is in the middle of closing attempts.
    private let collector: SessionCollector
    /// Checked at each publication (per batch, never per packet): once told,
    /// the user needs no reminder.
    private var hasWarnedOfChecksumOffload = false
    /// libpcap's drop count at the last publication: when it grows, the
    /// tracker marks the attempts open now (their answer may be lost).
    private var droppedSoFar: UInt64 = 0

    public init(handle: PcapHandle, options: TrackingOptions, queues: [SessionQueue], logger: Logger) {
        self.handle = handle
        self.options = options
        self.queues = queues
        self.logger = logger
        var local = options.localAddresses ?? .none
        if options.localAddresses == nil, case .live(let interface) = handle.source {
            local = HostAddresses.of(interface: interface)
        }
        let tracker = HandshakeTracker(filters: options.filters, localAddresses: local,
                                       timeout: options.timeout, maxPending: options.maxPending)
        let decoder = PacketDecoder(linkType: handle.linkType, checksumMode: options.checksumMode,
                                    interpretsICMP: options.interpretsICMP)
        collector = SessionCollector(filterCount: options.filters.counting.count)
        state = PacketState(path: PacketPath(decoder: decoder, tracker: tracker), collector: collector)
        published = Mutex(CaptureSnapshot(counters: Counters(filterCount: options.filters.counting.count)))
    }

    /// The latest published figures; safe from any thread.
    public var snapshot: CaptureSnapshot { published.withLock { $0 } }

    /// Packets timestamped earlier than a packet before them (a clock
    /// stepped back while capturing, or merged files), as last published.
    /// Packet time never runs backwards: they are taken at the latest time
    /// seen. Safe from any thread.
    public var packetsBackInTime: UInt64 { publishedBackInTime.load(ordering: .relaxed) }
    private let publishedBackInTime = Atomic<UInt64>(0)

    /// Asks `run()` to return soon; safe from any thread or a signal source.
    public func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        handle.breakLoop()
    }

    /// Captures until the end of the file or `requestStop()`. At the end of
    /// a file every attempt still open is closed as `timeout`; a stopped live
    /// capture leaves them open (counted in the snapshot, not as failures).
    /// Either way a failure still settling is final with its verdict.
    public func run() throws(CaptureError) -> CaptureEnd {
        defer { for queue in queues { queue.close() } }
        switch handle.source {
        case .file(let path):
            var failure: CaptureError?
            do { try readFile(path: path) } catch { failure = error }
            // The end of the file, or of its valid part (a truncated or
            // damaged file): nothing will answer the attempts still open.
            // Hand off as it goes: a million open attempts must not pile up.
            state.path.tracker.closeAll { [collector, queues] session in
                collector.take(session)
                if collector.pendingCount >= SessionCollector.batchSize {
                    let batch = collector.drain()
                    for queue in queues { queue.push(batch, waitWhenFull: true) }
                }
            }
            flush(waitWhenFull: true)
            if let failure { throw failure }
            return .endOfFile
        case .live(let interface):
            try captureLive(interface: interface)
            // A failure still settling (a client may have retried it) is
            // decided: its verdict stands. Attempts still open stay open.
            state.path.tracker.settleAll { [collector] in collector.take($0) }
            flush(waitWhenFull: false)
            return .stopped
        }
    }

    private func readFile(path: String) throws(CaptureError) {
        while !stopRequested.load(ordering: .acquiring) {
            let count: Int
            do {
                count = try readBatch(of: path)
            } catch {
                state.drainLookahead()
                flush(waitWhenFull: true)
                throw error
            }
            state.drainLookahead()
            flush(waitWhenFull: true)
            if count == 0 { return }  // end of file, or stopped
        }
    }

    /// Hands up to 8,192 packets of the file to the packet path: read in
    /// place when the file allows (`PcapHandle.recordReader`), else by
    /// libpcap. 0 at the end of the file or when stopped.
    private func readBatch(of path: String) throws(CaptureError) -> Int {
        if let reader = handle.recordReader {
            do {
                return try withUnsafeMutablePointer(to: &state) { state throws(PcapRecordReader.RecordError) in
                    unowned(unsafe) let collector = state.pointee.collector
                    return try reader.read(upTo: 8192) { time, frame in
                        state.pointee.path.handle(frame: frame, at: time) { collector.take($0) }
                    }
                }
            } catch {
                throw .readError(path, packets: state.path.decodeStatistics.packets, detail: error.detail)
            }
        }
        let result = withUnsafeMutablePointer(to: &state) { handle.dispatch(upTo: 8192, to: PacketState.callback, user: $0) }
        if result == PCAP_ERROR_BREAK { return 0 }
        if result < 0 {
            throw .readError(path, packets: state.path.decodeStatistics.packets, detail: handle.lastError)
        }
        return Int(result)
    }

    private func captureLive(interface: String) throws(CaptureError) {
        var descriptor = pollfd(fd: handle.selectableDescriptor, events: Int16(POLLIN), revents: 0)
        let clock = ContinuousClock()
        var lastActivity = clock.now
        var lastAddressRefresh = clock.now
        var lastPublish = clock.now
        while !stopRequested.load(ordering: .acquiring) {
            _ = poll(&descriptor, 1, 100)
            let result = withUnsafeMutablePointer(to: &state) { handle.dispatch(upTo: -1, to: PacketState.callback, user: $0) }
            state.drainLookahead()
            if result == PCAP_ERROR_BREAK { break }
            if result < 0 {
                throw .failed("capture on '\(interface)' failed", detail: handle.lastError)
            }
            let now = clock.now
            if result > 0 {
                lastActivity = now
            } else if let last = state.path.lastPacket {
                // Idle: let packet time run on with the monotonic clock so
                // that timeouts fall due on time.
                let idle = now - lastActivity
                let micros = idle.components.seconds * 1_000_000 + idle.components.attoseconds / 1_000_000_000_000
                state.path.tracker.advance(to: last + Timestamp.Duration(microseconds: micros)) {
                    [collector] in collector.take($0)
                }
            }
            flush(waitWhenFull: false)
            if options.localAddresses == nil, now - lastAddressRefresh > .seconds(5) {
                state.path.tracker.localAddresses = HostAddresses.of(interface: interface)
                lastAddressRefresh = now
            }
            if now - lastPublish > .milliseconds(500) {
                publish()
                lastPublish = now
            }
        }
    }

    /// Hands the closed sessions to the queue and publishes the figures.
    private func flush(waitWhenFull: Bool) {
        let batch = collector.drain()
        if !batch.isEmpty {
            for queue in queues { queue.push(batch, waitWhenFull: waitWhenFull) }
        }
        publish()
    }

    private func publish() {
        var snapshot = CaptureSnapshot(counters: collector.counters)
        snapshot.decode = state.path.decodeStatistics
        snapshot.tracker = state.path.tracker.statistics
        snapshot.openAttempts = state.path.tracker.openCount
        snapshot.capture = handle.statistics()
        if let dropped = snapshot.capture?.dropped, dropped > droppedSoFar {
            droppedSoFar = dropped
            state.path.tracker.noteCaptureLoss()
        }
        snapshot.firstPacket = state.path.firstPacket
        snapshot.lastPacket = state.path.lastPacket
        snapshot.fileOffset = handle.fileOffset
        published.withLock { $0 = snapshot }
        publishedBackInTime.store(state.path.packetsBackInTime, ordering: .relaxed)
        if !hasWarnedOfChecksumOffload, snapshot.decode.suggestsChecksumOffload {
            hasWarnedOfChecksumOffload = true
            let decode = snapshot.decode
            logger.warning("""
                \(decode.checksumFailures) of \(decode.checksumsVerified) packets fail checksum verification; \
                this is what checksum offload looks like on the capturing host: use -c 0 (the default)
                """)
        }
    }
}

/// Receives closed sessions on the capture thread: counts them and keeps
/// them for the next hand-off. A class so the tracker's closing callback can
/// reach it while the tracker itself is being mutated.
final class SessionCollector {
    static let batchSize = 8192
    private(set) var counters: Counters
    private var batch: [Session] = []

    init(filterCount: Int) {
        counters = Counters(filterCount: filterCount)
        batch.reserveCapacity(Self.batchSize)
    }

    var pendingCount: Int { batch.count }

    @inline(__always) func take(_ session: Session) {
        counters.record(session)
        batch.append(session)
    }

    func drain() -> [Session] {
        guard !batch.isEmpty else { return [] }
        let taken = batch
        batch.removeAll(keepingCapacity: true)
        return taken
    }
}

/// Everything the per-packet callback touches, reached through libpcap's
/// `user` pointer so the callback needs no reference counting.
struct PacketState {
    var path: PacketPath
    /// Unowned: the capture loop owns the collector for longer than this,
    /// and a strong reference would be retained and released per packet.
    unowned(unsafe) let collector: SessionCollector

    static let callback: pcap_handler = { user, header, bytes in
        guard let user, let header, let bytes else { return }
        user.withMemoryRebound(to: PacketState.self, capacity: 1) { state in
            let time = Timestamp(seconds: Int64(header.pointee.ts.tv_sec), microseconds: Int64(header.pointee.ts.tv_usec))
            unowned(unsafe) let collector = state.pointee.collector
            state.pointee.path.handle(frame: UnsafeRawBufferPointer(start: bytes, count: Int(header.pointee.caplen)),
                                      at: time) { collector.take($0) }
        }
    }

    /// Tracks the packets the look-ahead still holds: after every batch
    /// libpcap hands over, so that everything after it sees them tracked.
    mutating func drainLookahead() {
        let collector = self.collector
        path.drain { collector.take($0) }
    }
}
