import TCPeekCore

/// The socket's `GET` and `REFRESH` answers and `--json-summary`: the
/// original tcpeek's shape, a list of one-key objects, a filter's name to
/// its figures, then for `GET` of a live capture libpcap's element:
///
///     [{"RX":{"success":{"total":N,"dupsyn":N,"dupsynack":N},
///             "failure":{"total":N,"timeout":N,"reject":N,"unreach":N,"abort":N}}},
///      ...,{"pcap":{"stats":{"recv":N,"drop":N,"ifdrop":N}}}]
///
/// `REFRESH` leaves out `unreach` and `abort` (counted in `reject`) and the
/// pcap element. Tests pin the bytes (ReportTests.getJSON, .refreshJSON).
public struct CountsAnswer: Codable, Sendable, Equatable {
    public var filters: [FilterTotals]
    /// libpcap's counts of a live capture; nil for a file and in `REFRESH`.
    public var pcap: PcapStats?

    public init(filters: [FilterTotals], pcap: PcapStats? = nil) {
        self.filters = filters
        self.pcap = pcap
    }

    /// `GET`: totals since start.
    public init(filters: [Filter], counters: Counters, capture: CaptureStatistics?) {
        self.init(filters: filters.indices.map { FilterTotals(name: filters[$0].name, counters[$0]) },
                  pcap: capture.map(PcapStats.init))
    }

    /// `REFRESH`: the deltas since the previous one, `unreach` and `abort`
    /// counted in `reject`, as the original's gmetric feed expects.
    public init(filters: [Filter], refreshDeltas deltas: [FilterCounters]) {
        self.init(filters: zip(filters, deltas).map { filter, c in
            FilterTotals(name: filter.name, success: SuccessCounts(c),
                         failure: FailureCounts(total: c.failure, timeout: c.timeout, reject: c.reject &+ c.unreach &+ c.abort))
        })
    }

    private static let pcapKey = WireKey("pcap")

    public func encode(to encoder: any Encoder) throws {
        var list = encoder.unkeyedContainer()
        for filter in filters {
            var element = list.nestedContainer(keyedBy: WireKey.self)
            try element.encode(FilterTotals.Sections(success: filter.success, failure: filter.failure), forKey: WireKey(filter.name))
        }
        if let pcap {
            var element = list.nestedContainer(keyedBy: WireKey.self)
            try element.encode(PcapStats.Element(stats: pcap), forKey: Self.pcapKey)
        }
    }

    public init(from decoder: any Decoder) throws {
        var list = try decoder.unkeyedContainer()
        filters = []
        while !list.isAtEnd {
            let element = try list.nestedContainer(keyedBy: WireKey.self)
            guard element.allKeys.count == 1, let key = element.allKeys.first else {
                throw DecodingError.dataCorruptedError(
                    forKey: element.allKeys.first ?? Self.pcapKey, in: element,
                    debugDescription: "each element holds one filter (or pcap), not \(element.allKeys.count)")
            }
            // A filter may be named pcap too: libpcap's element is the one with `stats`.
            if key == Self.pcapKey, let stats = try? element.decode(PcapStats.Element.self, forKey: key) {
                pcap = stats.stats
                continue
            }
            let sections = try element.decode(FilterTotals.Sections.self, forKey: key)
            filters.append(FilterTotals(name: key.stringValue, success: sections.success, failure: sections.failure))
        }
    }
}

/// One filter's figures in `GET` and `REFRESH`.
public struct FilterTotals: Sendable, Equatable {
    public var name: String
    public var success: SuccessCounts
    public var failure: FailureCounts

    public init(name: String, success: SuccessCounts, failure: FailureCounts) {
        self.name = name
        self.success = success
        self.failure = failure
    }

    public init(name: String, _ counters: FilterCounters) {
        self.init(name: name, success: SuccessCounts(counters), failure: FailureCounts(counters))
    }

    /// The object under the filter's name.
    struct Sections: Codable {
        var success: SuccessCounts
        var failure: FailureCounts
    }
}

/// libpcap's counts: packets received, dropped by the kernel, dropped by the interface.
public struct PcapStats: Codable, Sendable, Equatable {
    public var recv: UInt64
    public var drop: UInt64
    public var ifdrop: UInt64

    public init(recv: UInt64, drop: UInt64, ifdrop: UInt64) {
        self.recv = recv
        self.drop = drop
        self.ifdrop = ifdrop
    }

    public init(_ capture: CaptureStatistics) {
        self.init(recv: capture.received, drop: capture.dropped, ifdrop: capture.interfaceDropped)
    }

    public enum CodingKeys: String, CodingKey, CaseIterable { case recv, drop, ifdrop }

    /// The figures by their JSON names, in the order written.
    public var figures: [(key: String, value: UInt64)] {
        [(CodingKeys.recv.stringValue, recv), (CodingKeys.drop.stringValue, drop), (CodingKeys.ifdrop.stringValue, ifdrop)]
    }

    /// `GET`'s last element holds the counts under `stats`.
    struct Element: Codable {
        var stats: PcapStats
    }
}
