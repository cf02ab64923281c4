/// One row of `tcpeek query --top server|client|port --format json`, the
/// key named after the kind: `{"server":"203.0.113.9","failures":N,"timeout":N,
/// "reject":N,"unreach":N,"abort":N,"attempts":N}`.
public struct TopAnswer: Codable, Sendable, Equatable {
    /// `server`, `client` or `port`: the first key's name.
    public var kind: String
    /// The address or port (as text).
    public var key: String
    public var failures: Int64
    public var timeout: Int64
    public var reject: Int64
    public var unreach: Int64
    public var abort: Int64
    public var attempts: Int64

    public init(kind: String, key: String, failures: Int64, timeout: Int64, reject: Int64, unreach: Int64,
                abort: Int64, attempts: Int64) {
        self.kind = kind
        self.key = key
        self.failures = failures
        self.timeout = timeout
        self.reject = reject
        self.unreach = unreach
        self.abort = abort
        self.attempts = attempts
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case failures, timeout, reject, unreach, abort, attempts }

    public func encode(to encoder: any Encoder) throws {
        var first = encoder.container(keyedBy: WireKey.self)
        try first.encode(key, forKey: WireKey(kind))
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(failures, forKey: .failures)
        try container.encode(timeout, forKey: .timeout)
        try container.encode(reject, forKey: .reject)
        try container.encode(unreach, forKey: .unreach)
        try container.encode(abort, forKey: .abort)
        try container.encode(attempts, forKey: .attempts)
    }

    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: WireKey.self)
        let counts = Set(CodingKeys.allCases.map(\.stringValue))
        let names = keys.allKeys.filter { !counts.contains($0.stringValue) }
        guard names.count == 1, let name = names.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "expected one key besides the counts, found \(names.count)"))
        }
        kind = name.stringValue
        key = try keys.decode(String.self, forKey: name)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        failures = try container.decode(Int64.self, forKey: .failures)
        timeout = try container.decode(Int64.self, forKey: .timeout)
        reject = try container.decode(Int64.self, forKey: .reject)
        unreach = try container.decode(Int64.self, forKey: .unreach)
        abort = try container.decode(Int64.self, forKey: .abort)
        attempts = try container.decode(Int64.self, forKey: .attempts)
    }
}
