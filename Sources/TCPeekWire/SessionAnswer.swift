/// One row of `tcpeek query --sessions --format json`:
///
///     {"started_at":"2026-11-27T10:00:00.123456Z","duration_ms":1.640,"client":"198.51.100.7",
///      "client_port":40000,"server":"203.0.113.9","server_port":443,"direction":"TX",
///      "outcome":"success","dupsyn":0,"dupsynack":0,"filters":["ALL","TX"]}
public struct SessionAnswer: Codable, Sendable, Equatable {
    /// UTC ISO-8601.
    public var startedAt: String
    public var durationMilliseconds: WireMilliseconds?
    public var client: String
    public var clientPort: Int
    public var server: String
    public var serverPort: Int
    public var direction: String?
    public var outcome: String
    public var dupsyn: Int
    public var dupsynack: Int
    public var filters: [String]

    public init(startedAt: String, durationMilliseconds: WireMilliseconds?, client: String, clientPort: Int,
                server: String, serverPort: Int, direction: String?, outcome: String, dupsyn: Int, dupsynack: Int,
                filters: [String]) {
        self.startedAt = startedAt
        self.durationMilliseconds = durationMilliseconds
        self.client = client
        self.clientPort = clientPort
        self.server = server
        self.serverPort = serverPort
        self.direction = direction
        self.outcome = outcome
        self.dupsyn = dupsyn
        self.dupsynack = dupsynack
        self.filters = filters
    }

    enum CodingKeys: String, CodingKey {
        case startedAt = "started_at", durationMilliseconds = "duration_ms"
        case client, clientPort = "client_port", server, serverPort = "server_port"
        case direction, outcome, dupsyn, dupsynack, filters
    }
}
