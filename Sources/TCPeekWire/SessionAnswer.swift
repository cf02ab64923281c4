/// One recorded session as `tcpeek query --sessions` returns it; its JSON
/// (`--format json`) is:
///
///     {"started_at":"2026-11-27T10:00:00.123456Z","duration_ms":1.640,"client":"198.51.100.7",
///      "client_port":40000,"server":"203.0.113.9","server_port":443,"direction":"TX",
///      "outcome":"success","dupsyn":0,"dupsynack":0,"filters":["ALL","TX"]}
public struct SessionAnswer: Codable, Sendable, Equatable {
    /// Seconds since the epoch.
    public var startedAt: Double
    /// Seconds.
    public var duration: Double
    public var client: String
    public var clientPort: Int
    public var server: String
    public var serverPort: Int
    public var direction: String?
    public var outcome: String
    public var dupSYN: Int
    public var dupSYNACK: Int
    /// The filters that counted the session, in bit order.
    public var filters: [String]
    /// The host that recorded it: set in fleet answers (`tcpeek query
    /// --clickhouse`), where it is the first key; absent from a local answer.
    public var host: String?

    public init(startedAt: Double, duration: Double, client: String, clientPort: Int, server: String, serverPort: Int,
                direction: String?, outcome: String, dupSYN: Int, dupSYNACK: Int, filters: [String],
                host: String? = nil) {
        self.host = host
        self.startedAt = startedAt
        self.duration = duration
        self.client = client
        self.clientPort = clientPort
        self.server = server
        self.serverPort = serverPort
        self.direction = direction
        self.outcome = outcome
        self.dupSYN = dupSYN
        self.dupSYNACK = dupSYNACK
        self.filters = filters
    }

    enum CodingKeys: String, CodingKey {
        case host
        case startedAt = "started_at", durationMilliseconds = "duration_ms"
        case client, clientPort = "client_port", server, serverPort = "server_port"
        case direction, outcome, dupSYN = "dupsyn", dupSYNACK = "dupsynack", filters
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        // Only a fleet answer has the key: a local one stays as it was.
        if let host { try container.encode(host, forKey: .host) }
        try container.encode(WireTime.text(startedAt), forKey: .startedAt)
        try container.encodeIfPresent(WireMilliseconds(duration * 1000), forKey: .durationMilliseconds)
        try container.encode(client, forKey: .client)
        try container.encode(clientPort, forKey: .clientPort)
        try container.encode(server, forKey: .server)
        try container.encode(serverPort, forKey: .serverPort)
        try container.encode(direction, forKey: .direction)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(dupSYN, forKey: .dupSYN)
        try container.encode(dupSYNACK, forKey: .dupSYNACK)
        try container.encode(filters, forKey: .filters)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        host = try container.decodeIfPresent(String.self, forKey: .host)
        startedAt = try container.decodeWireTime(forKey: .startedAt)
        duration = try container.decode(WireMilliseconds.self, forKey: .durationMilliseconds).milliseconds / 1000
        client = try container.decode(String.self, forKey: .client)
        clientPort = try container.decode(Int.self, forKey: .clientPort)
        server = try container.decode(String.self, forKey: .server)
        serverPort = try container.decode(Int.self, forKey: .serverPort)
        direction = try container.decodeIfPresent(String.self, forKey: .direction)
        outcome = try container.decode(String.self, forKey: .outcome)
        dupSYN = try container.decode(Int.self, forKey: .dupSYN)
        dupSYNACK = try container.decode(Int.self, forKey: .dupSYNACK)
        filters = try container.decode([String].self, forKey: .filters)
    }
}
