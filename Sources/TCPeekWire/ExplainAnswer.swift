/// `tcpeek explain --format json`: why attempts failed, in plain words with
/// the evidence they rest on (issue 15). One session (`tcpeek explain ID`)
/// fills `session`; a server, a filter or every failure over a range fills
/// `groups` and `successes`. The sentences (`verdict`, `because`) come from
/// `CauseExplanation`, the one place they are written.
///
///     {"subject":{"kind":"server","id":null,"server":"203.0.113.9","port":5432,"filters":[]},
///      "from":"2026-11-27T09:00:00Z","to":"2026-11-27T10:00:00Z","session":null,
///      "groups":[{"server":"203.0.113.9","server_port":5432,"outcome":"timeout","cause":"dropped-while-serving",...}],
///      "failures":14,"successes":{"count":230,"flags":{"after-retries":3},"retry_ms":4500.000}}
public struct ExplainAnswer: Codable, Sendable, Equatable {
    public var subject: ExplainSubject
    /// The range asked about (UTC ISO-8601); null for one session.
    public var from: String?
    public var to: String?
    public var session: SessionExplanation?
    /// The failures of the range per (server, port, outcome, cause), the
    /// biggest first, the newest first among equals.
    public var groups: [FailureGroup]
    /// Every failure of the range the subject selects, in the groups listed or not.
    public var failures: Int
    public var successes: SuccessSummary?

    public init(subject: ExplainSubject, from: String? = nil, to: String? = nil, session: SessionExplanation? = nil,
                groups: [FailureGroup] = [], failures: Int = 0, successes: SuccessSummary? = nil) {
        self.subject = subject
        self.from = from
        self.to = to
        self.session = session
        self.groups = groups
        self.failures = failures
        self.successes = successes
    }
}

/// What was asked about: `session` (`id`), `server` (`server`, and `port`
/// when one was given; `server` may be a network), `filter` (`filters`) or
/// `all` (every failure of the range).
public struct ExplainSubject: Codable, Sendable, Equatable {
    public var kind: String
    public var id: Int64?
    public var server: String?
    public var port: Int?
    public var filters: [String]

    public init(kind: String, id: Int64? = nil, server: String? = nil, port: Int? = nil, filters: [String] = []) {
        self.kind = kind
        self.id = id
        self.server = server
        self.port = port
        self.filters = filters
    }
}

/// How sure a verdict is: `sure` (the packets say it), `likely` (the
/// evidence fits, another explanation could too), `unsure` (evidence is
/// missing), `unknown` (recorded before tcpeek kept evidence).
public enum Certainty: String, Codable, Sendable, Equatable {
    case sure, likely, unsure, unknown
}

/// One session, its evidence (the `sessions` columns of Schema/0006) and
/// what the rest of the database says about its server.
public struct SessionExplanation: Codable, Sendable, Equatable {
    /// `sessions.id`.
    public var id: Int64
    /// Seconds since the epoch (written as UTC ISO-8601).
    public var startedAt: Double
    /// Seconds.
    public var duration: Double
    public var client: String
    public var clientPort: Int
    public var server: String
    public var serverPort: Int
    public var direction: String?
    public var outcome: String
    /// The `cause` column: a failure's cause or a success's flags; null for
    /// a success without flags and for rows recorded before causes were kept.
    public var cause: String?
    /// False for a row recorded before tcpeek kept evidence (schema 6).
    public var hasEvidence: Bool
    public var filters: [String]
    public var evidence: SessionEvidence
    public var serverContext: ServerContext
    public var verdict: String
    public var certainty: Certainty
    public var because: String

    public init(id: Int64, startedAt: Double, duration: Double, client: String, clientPort: Int, server: String,
                serverPort: Int, direction: String?, outcome: String, cause: String?, hasEvidence: Bool,
                filters: [String], evidence: SessionEvidence, serverContext: ServerContext) {
        self.id = id
        self.startedAt = startedAt
        self.duration = duration
        self.client = client
        self.clientPort = clientPort
        self.server = server
        self.serverPort = serverPort
        self.direction = direction
        self.outcome = outcome
        self.cause = cause
        self.hasEvidence = hasEvidence
        self.filters = filters
        self.evidence = evidence
        self.serverContext = serverContext
        (verdict, certainty, because) = ("", .unknown, "")
        let judgement = CauseExplanation.judge(self)
        (verdict, certainty, because) = (judgement.verdict, judgement.certainty, judgement.because)
    }

    enum CodingKeys: String, CodingKey {
        case id, startedAt = "started_at", duration = "duration_ms", client, clientPort = "client_port", server
        case serverPort = "server_port", direction, outcome, cause, hasEvidence = "has_evidence", filters, evidence
        case serverContext = "server_context", verdict, certainty, because
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(WireTime.text(startedAt), forKey: .startedAt)
        try container.encodeIfPresent(WireMilliseconds(duration * 1000), forKey: .duration)
        try container.encode(client, forKey: .client)
        try container.encode(clientPort, forKey: .clientPort)
        try container.encode(server, forKey: .server)
        try container.encode(serverPort, forKey: .serverPort)
        try container.encode(direction, forKey: .direction)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(cause, forKey: .cause)
        try container.encode(hasEvidence, forKey: .hasEvidence)
        try container.encode(filters, forKey: .filters)
        try container.encode(evidence, forKey: .evidence)
        try container.encode(serverContext, forKey: .serverContext)
        try container.encode(verdict, forKey: .verdict)
        try container.encode(certainty, forKey: .certainty)
        try container.encode(because, forKey: .because)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(Int64.self, forKey: .id)
        startedAt = try container.decodeWireTime(forKey: .startedAt)
        duration = try container.decode(WireMilliseconds.self, forKey: .duration).milliseconds / 1000
        client = try container.decode(String.self, forKey: .client)
        clientPort = try container.decode(Int.self, forKey: .clientPort)
        server = try container.decode(String.self, forKey: .server)
        serverPort = try container.decode(Int.self, forKey: .serverPort)
        direction = try container.decodeIfPresent(String.self, forKey: .direction)
        outcome = try container.decode(String.self, forKey: .outcome)
        cause = try container.decodeIfPresent(String.self, forKey: .cause)
        hasEvidence = try container.decode(Bool.self, forKey: .hasEvidence)
        filters = try container.decode([String].self, forKey: .filters)
        evidence = try container.decode(SessionEvidence.self, forKey: .evidence)
        serverContext = try container.decode(ServerContext.self, forKey: .serverContext)
        verdict = try container.decode(String.self, forKey: .verdict)
        certainty = try container.decode(Certainty.self, forKey: .certainty)
        because = try container.decode(String.self, forKey: .because)
    }
}

/// A session's evidence as the `sessions` columns hold it; times in
/// milliseconds. Null where nothing was captured (or, for rows recorded
/// before schema 6, never kept).
public struct SessionEvidence: Codable, Sendable, Equatable {
    public var synTTL: Int?
    /// SYNs sent: the first and its retransmissions.
    public var syns: Int
    /// From the first SYN to the last.
    public var synRetryMs: WireMilliseconds?
    public var synackSeen: Bool?
    public var synackTTL: Int?
    public var synackMSS: Int?
    public var synackWscale: Int?
    public var synacksResent: Int
    public var synToSynackMs: WireMilliseconds?
    public var synackToAckMs: WireMilliseconds?
    public var rstTTL: Int?
    public var icmpSender: String?
    public var icmpType: Int?
    public var icmpCode: Int?
    public var icmpTTL: Int?
    public var ignoredRST: Int
    public var ignoredRSTTTL: Int?
    public var captureDropped: Bool
    public var evicted: Bool

    public init(synTTL: Int? = nil, syns: Int = 1, synRetryMs: WireMilliseconds? = nil, synackSeen: Bool? = nil,
                synackTTL: Int? = nil, synackMSS: Int? = nil, synackWscale: Int? = nil, synacksResent: Int = 0,
                synToSynackMs: WireMilliseconds? = nil, synackToAckMs: WireMilliseconds? = nil, rstTTL: Int? = nil,
                icmpSender: String? = nil, icmpType: Int? = nil, icmpCode: Int? = nil, icmpTTL: Int? = nil,
                ignoredRST: Int = 0, ignoredRSTTTL: Int? = nil, captureDropped: Bool = false, evicted: Bool = false) {
        self.synTTL = synTTL
        self.syns = syns
        self.synRetryMs = synRetryMs
        self.synackSeen = synackSeen
        self.synackTTL = synackTTL
        self.synackMSS = synackMSS
        self.synackWscale = synackWscale
        self.synacksResent = synacksResent
        self.synToSynackMs = synToSynackMs
        self.synackToAckMs = synackToAckMs
        self.rstTTL = rstTTL
        self.icmpSender = icmpSender
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.icmpTTL = icmpTTL
        self.ignoredRST = ignoredRST
        self.ignoredRSTTTL = ignoredRSTTTL
        self.captureDropped = captureDropped
        self.evicted = evicted
    }

    enum CodingKeys: String, CodingKey {
        case synTTL = "syn_ttl", syns, synRetryMs = "syn_retry_ms", synackSeen = "synack_seen", synackTTL = "synack_ttl"
        case synackMSS = "synack_mss", synackWscale = "synack_wscale", synacksResent = "synacks_resent"
        case synToSynackMs = "syn_to_synack_ms", synackToAckMs = "synack_to_ack_ms", rstTTL = "rst_ttl"
        case icmpSender = "icmp_sender", icmpType = "icmp_type", icmpCode = "icmp_code", icmpTTL = "icmp_ttl"
        case ignoredRST = "ignored_rst", ignoredRSTTTL = "ignored_rst_ttl", captureDropped = "capture_dropped", evicted
    }
}

/// What the other sessions of the database say about a server port around
/// the attempts explained.
public struct ServerContext: Codable, Sendable, Equatable {
    /// Handshakes the same server address and port completed from a minute
    /// before the first attempt to a minute after the last, and from how
    /// many clients.
    public var completed: Int
    public var clients: Int
    /// The TTLs the server's SYN/ACKs arrived with in that span (any port),
    /// most frequent first: what a RST's TTL is compared with.
    public var synackTTLs: [Int]

    public init(completed: Int = 0, clients: Int = 0, synackTTLs: [Int] = []) {
        self.completed = completed
        self.clients = clients
        self.synackTTLs = synackTTLs
    }

    enum CodingKeys: String, CodingKey {
        case completed, clients, synackTTLs = "synack_ttls"
    }
}

/// The failures of a range to one server port with one outcome and cause.
public struct FailureGroup: Codable, Sendable, Equatable {
    public var server: String
    public var serverPort: Int
    public var outcome: String
    /// Null for failures recorded before causes were kept.
    public var cause: String?
    public var count: Int
    /// All the range's failures of this outcome to this server port.
    public var outcomeCount: Int
    public var first: Double
    public var last: Double
    public var clients: Int
    /// The distinct values the group's sessions hold, ascending.
    public var synTTLs: [Int]
    public var rstTTLs: [Int]
    public var icmpSenders: [String]
    public var icmpCodes: [Int]
    /// SYNs per attempt, the fewest and the most.
    public var synsMin: Int
    public var synsMax: Int
    public var captureDropped: Int
    public var serverContext: ServerContext
    /// The newest few `sessions.id`s, for `tcpeek explain ID`.
    public var sessionIDs: [Int64]
    public var verdict: String
    public var certainty: Certainty
    public var because: String

    public init(server: String, serverPort: Int, outcome: String, cause: String?, count: Int, outcomeCount: Int,
                first: Double, last: Double, clients: Int, synTTLs: [Int], rstTTLs: [Int], icmpSenders: [String],
                icmpCodes: [Int], synsMin: Int, synsMax: Int, captureDropped: Int, serverContext: ServerContext,
                sessionIDs: [Int64]) {
        self.server = server
        self.serverPort = serverPort
        self.outcome = outcome
        self.cause = cause
        self.count = count
        self.outcomeCount = outcomeCount
        self.first = first
        self.last = last
        self.clients = clients
        self.synTTLs = synTTLs
        self.rstTTLs = rstTTLs
        self.icmpSenders = icmpSenders
        self.icmpCodes = icmpCodes
        self.synsMin = synsMin
        self.synsMax = synsMax
        self.captureDropped = captureDropped
        self.serverContext = serverContext
        self.sessionIDs = sessionIDs
        (verdict, certainty, because) = ("", .unknown, "")
        let judgement = CauseExplanation.judge(self)
        (verdict, certainty, because) = (judgement.verdict, judgement.certainty, judgement.because)
    }

    enum CodingKeys: String, CodingKey {
        case server, serverPort = "server_port", outcome, cause, count, outcomeCount = "outcome_count", first, last
        case clients, synTTLs = "syn_ttls", rstTTLs = "rst_ttls", icmpSenders = "icmp_senders", icmpCodes = "icmp_codes"
        case synsMin = "syns_min", synsMax = "syns_max", captureDropped = "capture_dropped"
        case serverContext = "server_context", sessionIDs = "session_ids", verdict, certainty, because
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(server, forKey: .server)
        try container.encode(serverPort, forKey: .serverPort)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(cause, forKey: .cause)
        try container.encode(count, forKey: .count)
        try container.encode(outcomeCount, forKey: .outcomeCount)
        try container.encode(WireTime.text(first), forKey: .first)
        try container.encode(WireTime.text(last), forKey: .last)
        try container.encode(clients, forKey: .clients)
        try container.encode(synTTLs, forKey: .synTTLs)
        try container.encode(rstTTLs, forKey: .rstTTLs)
        try container.encode(icmpSenders, forKey: .icmpSenders)
        try container.encode(icmpCodes, forKey: .icmpCodes)
        try container.encode(synsMin, forKey: .synsMin)
        try container.encode(synsMax, forKey: .synsMax)
        try container.encode(captureDropped, forKey: .captureDropped)
        try container.encode(serverContext, forKey: .serverContext)
        try container.encode(sessionIDs, forKey: .sessionIDs)
        try container.encode(verdict, forKey: .verdict)
        try container.encode(certainty, forKey: .certainty)
        try container.encode(because, forKey: .because)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        server = try container.decode(String.self, forKey: .server)
        serverPort = try container.decode(Int.self, forKey: .serverPort)
        outcome = try container.decode(String.self, forKey: .outcome)
        cause = try container.decodeIfPresent(String.self, forKey: .cause)
        count = try container.decode(Int.self, forKey: .count)
        outcomeCount = try container.decode(Int.self, forKey: .outcomeCount)
        first = try container.decodeWireTime(forKey: .first)
        last = try container.decodeWireTime(forKey: .last)
        clients = try container.decode(Int.self, forKey: .clients)
        synTTLs = try container.decode([Int].self, forKey: .synTTLs)
        rstTTLs = try container.decode([Int].self, forKey: .rstTTLs)
        icmpSenders = try container.decode([String].self, forKey: .icmpSenders)
        icmpCodes = try container.decode([Int].self, forKey: .icmpCodes)
        synsMin = try container.decode(Int.self, forKey: .synsMin)
        synsMax = try container.decode(Int.self, forKey: .synsMax)
        captureDropped = try container.decode(Int.self, forKey: .captureDropped)
        serverContext = try container.decode(ServerContext.self, forKey: .serverContext)
        sessionIDs = try container.decode([Int64].self, forKey: .sessionIDs)
        verdict = try container.decode(String.self, forKey: .verdict)
        certainty = try container.decode(Certainty.self, forKey: .certainty)
        because = try container.decode(String.self, forKey: .because)
    }
}

/// The successes of the range and their flags (`Cause.isSuccessFlag`).
public struct SuccessSummary: Codable, Sendable, Equatable {
    public var count: Int
    /// Successes per flag, only those counted.
    public var flags: CausesAnswer
    /// Time the `after-retries` successes lost to SYN retries, summed.
    public var retryMs: WireMilliseconds?

    public init(count: Int, flags: CausesAnswer, retryMs: WireMilliseconds?) {
        self.count = count
        self.flags = flags
        self.retryMs = retryMs
    }

    enum CodingKeys: String, CodingKey {
        case count, flags, retryMs = "retry_ms"
    }
}
