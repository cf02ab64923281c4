import CPcap
import TCPeekCore

#if canImport(Glibc)
import Glibc
#endif

/// Why a capture could not start or went on failing, worded for the operator.
public enum CaptureError: Error, CustomStringConvertible, Equatable {
    case noSuchInterface(String, detail: String)
    case permissionDenied(String, detail: String)
    case cannotOpenFile(String, detail: String)
    case unsupportedLinkType(Int32, name: String)
    case badFilter(String, detail: String)
    case noInterface
    case failed(String, detail: String)
    /// Reading a file stopped on an error after some packets.
    case readError(String, packets: UInt64, detail: String)

    public var description: String {
        switch self {
        case .noSuchInterface(let name, let detail):
            "no interface named '\(name)' (libpcap: \(detail)); list interfaces with 'ip link'"
        case .permissionDenied(let name, let detail):
            "no permission to capture on '\(name)' (libpcap: \(detail)); run as root, or give the binary "
                + "CAP_NET_RAW and CAP_NET_ADMIN with 'setcap cap_net_raw,cap_net_admin=eip tcpeek'"
        case .cannotOpenFile(let path, let detail):
            "cannot read capture file '\(path)': \(detail); tcpeek reads pcap and pcapng files"
        case .unsupportedLinkType(let dlt, let name):
            "link type \(name) (DLT \(dlt)) is not supported; tcpeek understands Ethernet, Linux cooked "
                + "(SLL, SLL2), BSD loopback and raw IP"
        case .badFilter(let filter, let detail):
            "cannot install the capture filter '\(filter)': \(detail)"
        case .noInterface:
            "no capture interface is up; name one with -i (for example '-i any')"
        case .failed(let what, let detail):
            "\(what): \(detail)"
        case .readError(let path, let packets, let detail):
            "reading '\(path)' stopped after \(packets) \(packets == 1 ? "packet" : "packets"): \(detail)"
        }
    }
}

/// The text libpcap left in an error buffer (NUL-terminated).
func errorText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Where packets come from.
public enum CaptureSource: Sendable, Equatable {
    case live(interface: String)
    case file(path: String)

    public var name: String {
        switch self {
        case .live(let interface): interface
        case .file(let path): path
        }
    }
}

/// Options of a live capture (`--promisc`, `-B`, snap length).
public struct LiveOptions: Sendable {
    public var promiscuous = false
    public var bufferMegabytes = 2
    public var snapLength: Int32 = 256
    public init() {}
}

/// Owns one `pcap_t`. The only type that touches libpcap's handle.
///
/// `@unchecked Sendable`: the handle is used by the capture thread only,
/// except `breakLoop()`, which libpcap documents as safe from other threads
/// and signal handlers.
public final class PcapHandle: @unchecked Sendable {
    private let pointer: OpaquePointer
    /// A file's stdio buffer (`tcpeek_pcap_open_file`), freed after the
    /// FILE is closed.
    private let fileBuffer: UnsafeMutableRawPointer?
    /// Reads a classic pcap file's records in place of libpcap, when it
    /// can do so exactly (`PcapRecordReader.eligible`); nil otherwise.
    private(set) var recordReader: PcapRecordReader?
    public let source: CaptureSource
    public let linkType: LinkType
    public let dlt: Int32

    /// The capture filter for a link type: TCP, ICMP, and IPv6 that may
    /// carry TCP behind extension headers (`ip6 proto` does not follow the
    /// header chain); on Ethernet also under up to two VLAN tags (`vlan`
    /// shifts the offsets of what follows). Other link types carry no tags
    /// in the frame (Linux cooked captures report them beside it), and
    /// libpcap refuses `vlan` for them.
    public static func bpfFilter(for linkType: LinkType) -> String {
        let wanted = "(tcp or icmp or (ip6 and not udp))"
        guard linkType == .ethernet else { return wanted }
        return "\(wanted) or (vlan and (\(wanted) or (vlan and \(wanted))))"
    }

    private init(pointer: OpaquePointer, source: CaptureSource, fileBuffer: UnsafeMutableRawPointer? = nil)
        throws(CaptureError) {
        self.pointer = pointer
        self.fileBuffer = fileBuffer
        self.source = source
        self.dlt = pcap_datalink(pointer)
        guard let linkType = LinkType(dlt: dlt) else {
            let name = pcap_datalink_val_to_name(dlt).map { String(cString: $0) } ?? "unknown"
            pcap_close(pointer)
            free(fileBuffer)
            throw .unsupportedLinkType(dlt, name: name)
        }
        self.linkType = linkType
    }

    deinit {
        pcap_close(pointer)
        free(fileBuffer)
    }

    /// Opens a pcap or pcapng file (the format is taken from its magic number).
    public static func open(file path: String) throws(CaptureError) -> PcapHandle {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        var fileBuffer: UnsafeMutableRawPointer?
        guard let pointer = tcpeek_pcap_open_file(path, UInt32(PCAP_TSTAMP_PRECISION_MICRO), &errorBuffer, &fileBuffer)
        else {
            throw .cannotOpenFile(path, detail: errorText(errorBuffer))
        }
        let handle = try PcapHandle(pointer: pointer, source: .file(path: path), fileBuffer: fileBuffer)
        if let file = pcap_file(pointer) {
            handle.recordReader = PcapRecordReader.eligible(descriptor: fileno(file), snapshotLength: pcap_snapshot(pointer))
        }
        return handle
    }

    /// Opens a live capture in immediate mode (no block latency), applies the
    /// capture filter and puts the handle in non-blocking mode for the poll loop.
    public static func open(interface: String, options: LiveOptions) throws(CaptureError) -> PcapHandle {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let pointer = pcap_create(interface, &errorBuffer) else {
            throw .failed("cannot capture on '\(interface)'", detail: errorText(errorBuffer))
        }
        pcap_set_snaplen(pointer, options.snapLength)
        pcap_set_promisc(pointer, options.promiscuous ? 1 : 0)
        pcap_set_timeout(pointer, 100)
        pcap_set_immediate_mode(pointer, 1)
        pcap_set_buffer_size(pointer, Int32(clamping: options.bufferMegabytes * 1024 * 1024))
        let status = pcap_activate(pointer)
        if status < 0 {
            let detail = String(cString: pcap_geterr(pointer))
            pcap_close(pointer)
            switch status {
            case PCAP_ERROR_NO_SUCH_DEVICE: throw .noSuchInterface(interface, detail: detail)
            case PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED:
                throw .permissionDenied(interface, detail: detail)
            default: throw .failed("cannot capture on '\(interface)'", detail: detail)
            }
        }
        // `any` offers cooked v1 and v2; v2 also names the interface and
        // keeps the VLAN tag, so it is taken where libpcap offers it.
        if offersLinkType(pointer, DLT_LINUX_SLL2) { pcap_set_datalink(pointer, DLT_LINUX_SLL2) }
        let handle = try PcapHandle(pointer: pointer, source: .live(interface: interface))
        try handle.setFilter(bpfFilter(for: handle.linkType))
        if pcap_setnonblock(pointer, 1, &errorBuffer) != 0 {
            throw .failed("cannot make the capture non-blocking", detail: errorText(errorBuffer))
        }
        return handle
    }

    private static func offersLinkType(_ pointer: OpaquePointer, _ wanted: Int32) -> Bool {
        var list: UnsafeMutablePointer<Int32>?
        let count = pcap_list_datalinks(pointer, &list)
        guard count > 0, let list else { return false }
        defer { pcap_free_datalinks(list) }
        return UnsafeBufferPointer(start: list, count: Int(count)).contains(wanted)
    }

    func setFilter(_ expression: String) throws(CaptureError) {
        var program = bpf_program()
        guard pcap_compile(pointer, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw .badFilter(expression, detail: String(cString: pcap_geterr(pointer)))
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(pointer, &program) == 0 else {
            throw .badFilter(expression, detail: String(cString: pcap_geterr(pointer)))
        }
    }

    /// The file descriptor to poll for a live capture.
    public var selectableDescriptor: Int32 { pcap_get_selectable_fd(pointer) }

    public var snapshotLength: Int32 { pcap_snapshot(pointer) }

    public var linkTypeName: String {
        let name = pcap_datalink_val_to_name(dlt).map { String(cString: $0) } ?? "DLT \(dlt)"
        let text = pcap_datalink_val_to_description(dlt).map { String(cString: $0) } ?? name
        return "\(name) (\(text))"
    }

    /// `pcap_stats`: counts since the handle was opened (live captures only).
    public func statistics() -> CaptureStatistics? {
        guard case .live = source else { return nil }
        var stats = pcap_stat()
        guard pcap_stats(pointer, &stats) == 0 else { return nil }
        return CaptureStatistics(received: UInt64(stats.ps_recv), dropped: UInt64(stats.ps_drop),
                                 interfaceDropped: UInt64(stats.ps_ifdrop))
    }

    /// `pcap_dispatch`: hands up to `limit` packets (-1: what one buffer
    /// holds) to `callback`, which gets `user` as its first argument.
    @inline(__always)
    func dispatch<User>(upTo limit: Int32, to callback: pcap_handler, user: UnsafeMutablePointer<User>) -> Int32 {
        pcap_dispatch(pointer, limit, callback, UnsafeMutableRawPointer(user).assumingMemoryBound(to: UInt8.self))
    }

    /// Makes a running `pcap_dispatch` return; safe from any thread.
    public func breakLoop() { pcap_breakloop(pointer) }

    /// The read position in a capture file; nil for live captures.
    public var fileOffset: Int64? {
        guard case .file = source else { return nil }
        if let recordReader { return recordReader.offset }
        guard let file = pcap_file(pointer) else { return nil }
        let offset = ftello(file)
        return offset >= 0 ? Int64(offset) : nil
    }

    public var lastError: String { String(cString: pcap_geterr(pointer)) }

    /// The libpcap version string, for `--version`.
    public static var libraryVersion: String { String(cString: pcap_lib_version()) }
}
