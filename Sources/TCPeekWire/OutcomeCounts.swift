import TCPeekCore

/// The `success` object of `GET`, `REFRESH`, `WINDOW`, `QUERY` and
/// `tcpeek query --format json`: successful attempts, and those among them
/// that saw a duplicate SYN or SYN/ACK.
public struct SuccessCounts: Codable, Sendable, Equatable {
    public var total: UInt64
    public var dupsyn: UInt64
    public var dupsynack: UInt64

    public init(total: UInt64, dupsyn: UInt64, dupsynack: UInt64) {
        self.total = total
        self.dupsyn = dupsyn
        self.dupsynack = dupsynack
    }

    public init(_ c: FilterCounters) {
        self.init(total: c.success, dupsyn: c.successWithDupSYN, dupsynack: c.successWithDupSYNACK)
    }

    public enum CodingKeys: String, CodingKey { case total, dupsyn, dupsynack }

    /// The figures by their JSON names, in the order written.
    public var figures: [(key: String, value: UInt64)] {
        [(CodingKeys.total.stringValue, total), (CodingKeys.dupsyn.stringValue, dupsyn),
         (CodingKeys.dupsynack.stringValue, dupsynack)]
    }
}

/// The `failure` object beside `SuccessCounts`. `unreach` and `abort` are
/// nil (and left out) in `REFRESH`, which counts them in `reject`.
public struct FailureCounts: Codable, Sendable, Equatable {
    public var total: UInt64
    public var timeout: UInt64
    public var reject: UInt64
    public var unreach: UInt64?
    public var abort: UInt64?

    public init(total: UInt64, timeout: UInt64, reject: UInt64, unreach: UInt64? = nil, abort: UInt64? = nil) {
        self.total = total
        self.timeout = timeout
        self.reject = reject
        self.unreach = unreach
        self.abort = abort
    }

    public init(_ c: FilterCounters) {
        self.init(total: c.failure, timeout: c.timeout, reject: c.reject, unreach: c.unreach, abort: c.abort)
    }

    public enum CodingKeys: String, CodingKey { case total, timeout, reject, unreach, abort }

    /// Leaves out `unreach` and `abort` when nil (`REFRESH`).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(total, forKey: .total)
        try container.encode(timeout, forKey: .timeout)
        try container.encode(reject, forKey: .reject)
        if let unreach { try container.encode(unreach, forKey: .unreach) }
        if let abort { try container.encode(abort, forKey: .abort) }
    }

    /// The figures present, by their JSON names, in the order written.
    public var figures: [(key: String, value: UInt64)] {
        var list = [(CodingKeys.total.stringValue, total), (CodingKeys.timeout.stringValue, timeout),
                    (CodingKeys.reject.stringValue, reject)]
        if let unreach { list.append((CodingKeys.unreach.stringValue, unreach)) }
        if let abort { list.append((CodingKeys.abort.stringValue, abort)) }
        return list
    }
}
