// End-to-end (issue 15 item 5): every cause tcpeek names is produced for
// real by the kernel in a RoutedNamespaceLab (client <-> router <-> server),
// and `tcpeek record --json-lines` on the client's veth must report each
// attempt with its cause and the evidence behind it.
//
// One lab and one tcpeek serve every scenario: each has its own server
// port, so the scenarios run at once (about 20 s in all). The server is
// first reached once on an open port, so its hop count is known before
// anything is rejected. Per server port:
//   8080  open                                          -> success, no cause
//   8081  closed on the server                          -> reject, closed-port (RST TTL 63)
//   8082  router: nft reject with tcp reset             -> reject, reset-by-middlebox (RST TTL 64)
//   8083  router: reject with icmp(v6) admin-prohibited -> unreach, filtered, sender = router
//   8084  router: reject with icmpx host-unreachable    -> unreach, host-unreachable, sender = router
//   8085  server: reject with icmp(v6) port-unreachable -> unreach, port-unreachable, sender = server
//   8086  router: drop, while 8080 answers              -> timeout, no-answer
//   8087  listen(1), never accept(), 6 clients at once  -> 2 success, 4 timeout dropped-while-serving
//   8088  a RST forged on the router (TTL 40, ack = ISN) -> success, injected-reset
//   8089  router drops the first SYN only               -> success, after-retries
//   8090  client's nft drops its own non-SYN segments   -> timeout, final-ack-lost
//   8091  client's nft rejects the SYN/ACK with a RST   -> abort, client-refused-synack
//   8092  router drops the client's first ACK          -> success, server-dropped-ack (the server
//         re-sends its SYN/ACK at 1 s, as when its accept queue has no room for the ACK)
//
// What the kernel does (measured on Linux 6.18 and pinned below where it
// matters): with tcp_syn_retries=1 (client) a connect() sends its SYN at 0,
// 1 and 2 s (tcp_syn_linear_timeouts) and fails at 3 s; with
// tcp_synack_retries=1 (server) a SYN/ACK is re-sent once, at 1 s. A
// listen(1) socket completes 2 handshakes, then drops SYNs (the accept
// queue is full) without any answer. The forged RST is ignored by the
// client (an unacceptable ACK in SYN-SENT), which then re-sends its SYN
// within ~10 ms (Linux re-arms the SYN timer at its minimum on such a RST),
// and that SYN completes: the first SYN is dropped on the router so that the
// forged RST comes before any SYN/ACK (no netem in this kernel to delay it).

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

private typealias Lab = RoutedNamespaceLab

private enum CausePort {
    static let open = 8080
    static let closed = 8081
    static let routerReset = 8082
    static let adminProhibited = 8083
    static let hostUnreachable = 8084
    static let portUnreachable = 8085
    static let routerDrop = 8086
    static let fullBacklog = 8087
    static let injectedReset = 8088
    static let firstSYNDropped = 8089
    static let finalACKLost = 8090
    static let clientRefuses = 8091
    static let ackDropped = 8092
}

private let captureTimeout = 5  // tcpeek -t
private let forgedTTL = 40
private let listenedPorts = [CausePort.open, CausePort.routerReset, CausePort.adminProhibited, CausePort.hostUnreachable,
                             CausePort.portUnreachable, CausePort.routerDrop, CausePort.injectedReset,
                             CausePort.firstSYNDropped, CausePort.finalACKLost, CausePort.clientRefuses,
                             CausePort.ackDropped]

private let routerRuleset = """
    table inet tcpk_cause_router {
      set seen4 { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 1m; }
      set seen6 { type ipv6_addr . inet_service; flags dynamic,timeout; timeout 1m; }
      set acked4 { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 1m; }
      set acked6 { type ipv6_addr . inet_service; flags dynamic,timeout; timeout 1m; }
      chain forward {
        type filter hook forward priority 0; policy accept;
        tcp dport \(CausePort.routerReset) reject with tcp reset
        tcp dport \(CausePort.adminProhibited) meta nfproto ipv4 reject with icmp type admin-prohibited
        tcp dport \(CausePort.adminProhibited) meta nfproto ipv6 reject with icmpv6 type admin-prohibited
        tcp dport \(CausePort.hostUnreachable) reject with icmpx type host-unreachable
        tcp dport \(CausePort.routerDrop) drop
        tcp dport { \(CausePort.injectedReset), \(CausePort.firstSYNDropped) } tcp flags & (syn|ack) == syn jump first_syn
        tcp dport \(CausePort.ackDropped) tcp flags & (syn|ack|fin|rst) == ack jump first_ack
      }
      # A connection's first ACK (the handshake's) is dropped, later ones pass.
      chain first_ack {
        ip saddr . tcp sport @acked4 accept
        ip6 saddr . tcp sport @acked6 accept
        meta nfproto ipv4 add @acked4 { ip saddr . tcp sport } drop
        meta nfproto ipv6 add @acked6 { ip6 saddr . tcp sport } drop
      }
      # A connection's first SYN is dropped, its re-sent SYNs pass.
      chain first_syn {
        ip saddr . tcp sport @seen4 accept
        ip6 saddr . tcp sport @seen6 accept
        meta nfproto ipv4 add @seen4 { ip saddr . tcp sport } drop
        meta nfproto ipv6 add @seen6 { ip6 saddr . tcp sport } drop
      }
    }

    """

private let serverRuleset = """
    table inet tcpk_cause_server {
      chain input {
        type filter hook input priority 0; policy accept;
        tcp dport \(CausePort.portUnreachable) meta nfproto ipv4 reject with icmp type port-unreachable
        tcp dport \(CausePort.portUnreachable) meta nfproto ipv6 reject with icmpv6 type port-unreachable
      }
    }

    """

/// The client's own firewall. Its output hook runs before the capture on
/// its veth, so the dropped ACKs are never seen; the RST refusing a
/// SYN/ACK is sent out and seen.
private let clientRuleset = """
    table inet tcpk_cause_client {
      chain output {
        type filter hook output priority 0; policy accept;
        tcp dport \(CausePort.finalACKLost) tcp flags & syn == 0 drop
      }
      chain input {
        type filter hook input priority 0; policy accept;
        tcp sport \(CausePort.clientRefuses) tcp flags & (syn|ack) == syn|ack reject with tcp reset
      }
    }

    """

// MARK: - Scenarios

private enum Family: String, CaseIterable, Sendable {
    case v4, v6
    var client: String { self == .v4 ? Lab.clientAddress4 : Lab.clientAddress6 }
    var server: String { self == .v4 ? Lab.serverAddress4 : Lab.serverAddress6 }
    var router: String { self == .v4 ? Lab.routerClientSide4 : Lab.routerClientSide6 }
    init(_ connect: RoutedNamespaceLab.Connect) { self = connect.target.contains(":") ? .v6 : .v4 }
    /// The MSS a SYN/ACK announces over a 1500-byte MTU veth.
    var mss: Int { self == .v4 ? 1460 : 1440 }
}

/// One scenario of the lab: its connects and what tcpeek must print for them.
enum CauseScenario: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case closedPort = "a. closed port on the server"
    case resetByMiddlebox = "b. nft reject with tcp reset on the router"
    case filtered = "c. reject with icmp admin-prohibited on the router"
    case hostUnreachable = "d. reject with icmpx host-unreachable on the router"
    case portUnreachable = "e. port unreachable from the server"
    case noAnswer = "f. drop on the router while the server answers on another port"
    case droppedWhileServing = "g. listen(1) without accept, 6 concurrent clients"
    case injectedReset = "h. a forged RST (TTL 40, ack = ISN) ignored by the client"
    case afterRetries = "i. the first SYN dropped on the router"
    case finalACKLost = "j. the client's ACK lost"
    case clientRefusedSYNACK = "k. the client answers the SYN/ACK with a RST"
    case serverDroppedACK = "l. the client's ACK lost on the router: the server re-sends its SYN/ACK"

    var testDescription: String { rawValue }

    /// The cause (or success flag) the scenario exists to produce.
    var causeName: String {
        switch self {
        case .closedPort: "closed-port"
        case .resetByMiddlebox: "reset-by-middlebox"
        case .filtered: "filtered"
        case .hostUnreachable: "host-unreachable"
        case .portUnreachable: "port-unreachable"
        case .noAnswer: "no-answer"
        case .droppedWhileServing: "dropped-while-serving"
        case .injectedReset: "injected-reset"
        case .afterRetries: "after-retries"
        case .finalACKLost: "final-ack-lost"
        case .clientRefusedSYNACK: "client-refused-synack"
        case .serverDroppedACK: "server-dropped-ack"
        }
    }

    /// The connects of phase 2 (all scenarios at once), named `<case>-<family>[-n]`.
    fileprivate var plan: [Lab.PlannedConnect] {
        func each(_ port: Int, timeout: Double = 8, hold: Double = 0, families: [Family] = Family.allCases)
            -> [Lab.PlannedConnect] {
            families.map { Lab.PlannedConnect(name: "\(self)-\($0)", target: $0.server, port: port, timeout: timeout, hold: hold) }
        }
        switch self {
        case .closedPort: return each(CausePort.closed)
        case .resetByMiddlebox: return each(CausePort.routerReset)
        case .filtered: return each(CausePort.adminProhibited)
        case .hostUnreachable: return each(CausePort.hostUnreachable)
        case .portUnreachable: return each(CausePort.portUnreachable)
        case .noAnswer:
            // The dropped port, and the open port of the same server answering
            // other connects before, during and after its SYNs.
            return each(CausePort.routerDrop) + Family.allCases.flatMap { family in
                [0.0, 1.0, 2.0].enumerated().map { n, start in
                    Lab.PlannedConnect(name: "\(self)-\(family)-open-\(n)", target: family.server, port: CausePort.open,
                                       start: start)
                }
            }
        case .droppedWhileServing:
            // Two fill the queue (and stay in it), four come 0.2 s later.
            return (1...6).map { n in
                Lab.PlannedConnect(name: "\(self)-v4-\(n)", target: Family.v4.server, port: CausePort.fullBacklog,
                                   start: n <= 2 ? 0 : 0.2, timeout: 8, hold: 4)
            }
        case .injectedReset: return each(CausePort.injectedReset, hold: 0.2)
        case .afterRetries: return each(CausePort.firstSYNDropped, hold: 0.2)
        case .finalACKLost: return each(CausePort.finalACKLost, timeout: 3, hold: 0.5)
        // connect() gives up before its SYN is re-sent (1 s): one SYN, one SYN/ACK, one RST.
        case .clientRefusedSYNACK: return each(CausePort.clientRefuses, timeout: 0.5)
        // Held past the server's SYN/ACK retransmission (1 s) and the client's answer to it.
        case .serverDroppedACK: return each(CausePort.ackDropped, hold: 2)
        }
    }
}

// MARK: - tcpeek's JSON lines

/// Any JSON value: a key that is absent (`nil`) is told from one that is null.
enum JSONValue: Decodable, Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    var number: Double? { if case .number(let value) = self { value } else { nil } }
    var string: String? { if case .string(let value) = self { value } else { nil } }
    var array: [JSONValue]? { if case .array(let values) = self { values } else { nil } }
    subscript(key: String) -> JSONValue? { if case .object(let fields) = self { fields[key] } else { nil } }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .number(let value): value == value.rounded() && abs(value) < 1e15 ? "\(Int(value))" : "\(value)"
        case .string(let value): "\"\(value)\""
        case .array(let values): "[\(values.map(\.description).joined(separator: ","))]"
        case .object(let fields): "{\(fields.map { "\"\($0)\":\($1)" }.sorted().joined(separator: ","))}"
        }
    }
}

/// One `--json-lines` object: one closed attempt.
struct AttemptLine: Sendable, CustomStringConvertible {
    let raw: String
    let fields: [String: JSONValue]
    var description: String { raw }

    subscript(key: String) -> JSONValue? { fields[key] }
    var clientPort: Int? { self["client_port"]?.number.map { Int($0) } }
    var outcome: String? { self["outcome"]?.string }
    /// The cause's names: one for a failure, the flags of a success.
    var causeNames: [String] {
        (self["cause"]?.string ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }
}

// MARK: - One run of the lab for every scenario

/// What the run saw: each connect() and tcpeek's line for it.
struct CauseLabRun: Sendable {
    let connects: [RoutedNamespaceLab.Connect]
    let lines: [AttemptLine]
    /// tcpeek's, the injector's and tcpdump's output, for failure messages.
    let tcpeekTranscript: String
    let injectorOutput: String
    let wire: [String]
    /// The other places a cause is reported, from the same run: the
    /// Prometheus exposition just before the end, then the summary (on
    /// standard error beside --json-lines), and
    /// `query --by cause` and `explain` (JSON) over the run's database.
    let metrics: String
    let summary: String
    let byCause: String
    let explain: String

    func connects(named prefix: String) -> [RoutedNamespaceLab.Connect] {
        connects.filter { $0.name == prefix || $0.name.hasPrefix(prefix + "-") }.sorted { $0.name < $1.name }
    }

    /// tcpeek's lines for `connect` (same client address and port).
    func lines(for connect: RoutedNamespaceLab.Connect) -> [AttemptLine] {
        let client = connect.target.contains(":") ? Lab.clientAddress6 : Lab.clientAddress4
        return lines.filter { $0.clientPort == connect.sport && $0["client_addr"]?.string == client }
    }

    /// The packets on the client's veth to or from `connect`'s port.
    func wire(for connect: RoutedNamespaceLab.Connect) -> String {
        wire.filter { $0.contains(".\(connect.sport) ") || $0.contains(".\(connect.sport):") }.joined(separator: "\n")
    }
}

/// The lab runs once per process; every scenario reads its result.
private actor SharedCauseLab {
    static let shared = SharedCauseLab()
    private var run: Task<CauseLabRun, any Error>?

    func result() async throws -> CauseLabRun {
        if run == nil { run = Task { try await runCauseLab() } }
        return try await run!.value
    }
}

/// Inside the client's namespace: nothing else listens there.
private let metricsPort = 9469

private func runCauseLab() async throws -> CauseLabRun {
    let binary = tcpeekBinary()
    guard FileManager.default.isExecutableFile(atPath: binary) else {
        throw LabError("tcpeek binary not found at \(binary) (build with `swift build --build-tests`, or set TCPEEK_BINARY)")
    }
    let lab = try RoutedNamespaceLab()
    defer { lab.teardown() }
    let folder = NSTemporaryDirectory() + "tcpeek-causes-\(getpid())"
    try? FileManager.default.removeItem(atPath: folder)
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let database = folder + "/causes.db"
    try lab.loadRuleset(routerRuleset, in: lab.routerNamespace)
    try lab.loadRuleset(serverRuleset, in: lab.serverNamespace)
    try lab.loadRuleset(clientRuleset, in: lab.clientNamespace)
    try lab.setSysctls([("net/ipv4/tcp_syn_retries", "1")], in: lab.clientNamespace)
    try lab.setSysctls([("net/ipv4/tcp_synack_retries", "1")], in: lab.serverNamespace)
    _ = try await lab.startServer(ports: listenedPorts, in: lab.serverNamespace)
    _ = try await lab.startSilentListener(port: CausePort.fullBacklog, backlog: 1)
    let injector = try await lab.startRSTInjector(port: CausePort.injectedReset, ttl: forgedTTL)

    let veth = Lab.clientInterface
    var sniffer: ChildProcess?
    if let tcpdump = findTool("tcpdump") {
        let child = try lab.spawn("tcpdump", in: lab.clientNamespace, [tcpdump, "-i", veth, "-n", "-l", "-v", "-S", "-U"])
        _ = await child.wait(timeout: 10) { $0.stderr.text.contains("listening on \(veth)") }
        sniffer = child
    }
    let tcpeek = try lab.spawn("tcpeek", in: lab.clientNamespace,
                               [tcpeekBinary(), "record", "-i", veth, "--json-lines", "--db", database, "--no-socket",
                                "--metrics-listen", "127.0.0.1:\(metricsPort)", "-t", String(captureTimeout)])
    guard await tcpeek.wait(timeout: 15, until: { $0.stderr.lines.contains { $0.contains("listening on \(veth)") } }) else {
        throw LabError("tcpeek did not start: \(tcpeek.transcript)")
    }

    // Phase 1: the server is reached once, so its hop count is known.
    var connects = try await lab.connect(Family.allCases.map {
        Lab.PlannedConnect(name: "baseline-\($0)", target: $0.server, port: CausePort.open)
    })
    // Phase 2: every scenario at once.
    connects += try await lab.connect(CauseScenario.allCases.flatMap(\.plan))

    // The last lines are the timeouts: SYNs until ~2.2 s, then -t 5.
    func lines() -> [AttemptLine] {
        tcpeek.stdout.lines.compactMap { text in
            guard let data = text.data(using: .utf8), !data.isEmpty,
                  let fields = try? JSONDecoder().decode([String: JSONValue].self, from: data) else { return nil }
            return AttemptLine(raw: text, fields: fields)
        }
    }
    let ports = Set(connects.map(\.sport))
    _ = await tcpeek.wait(timeout: Double(captureTimeout) + 10) { _ in
        Set(lines().compactMap(\.clientPort)).isSuperset(of: ports)
    }
    let metrics = try lab.run(in: lab.clientNamespace, ["curl", "-sS", "http://127.0.0.1:\(metricsPort)/metrics"])
    tcpeek.signal(SIGINT)
    guard tcpeek.waitForExit(timeout: 15) else { throw LabError("tcpeek did not exit after SIGINT: \(tcpeek.transcript)") }
    sniffer?.stop(SIGINT)
    let byCause = try runCommand([binary, "query", "--db", database, "--since", "all", "--by", "cause", "--format", "json"])
    let explain = try runCommand([binary, "explain", "--db", database, "--since", "all", "--format", "json", "--limit", "100"])
    return CauseLabRun(connects: connects, lines: lines(), tcpeekTranscript: tcpeek.transcript,
                       injectorOutput: injector.stdout.text, wire: packets(sniffer?.stdout.lines ?? []),
                       metrics: metrics.stdout, summary: tcpeek.stderr.text,
                       byCause: byCause.stdout + byCause.stderr, explain: explain.stdout + explain.stderr)
}

/// tcpdump -v's lines, one per packet (its continuation lines joined).
private func packets(_ lines: [String]) -> [String] {
    var packets: [String] = []
    for line in lines where !line.isEmpty {
        if line.first?.isWhitespace == true, !packets.isEmpty {
            packets[packets.count - 1] += " " + line.trimmingCharacters(in: .whitespaces)
        } else {
            packets.append(line)
        }
    }
    return packets
}

// MARK: - The tests

// Nested in NamespaceCaptureTests (serialized): one lab at a time per process.
extension NamespaceCaptureTests {
    @Suite("causes, produced by the kernel one router away")
    struct CauseNamespaceTests {
        @Test("tcpeek names the cause with its evidence",
              .enabled("needs root and network namespaces (probed with `ip netns add`)") {
                  NetworkNamespaceLab.availability.shouldRun
              },
              .timeLimit(.minutes(2)),
              arguments: CauseScenario.allCases)
        func cause(_ scenario: CauseScenario) async throws {
            if let reason = NetworkNamespaceLab.availability.unavailableReason {
                Issue.record("CI=true and running as root, but the namespace lab cannot be built: \(reason)")
                return
            }
            let run = try await SharedCauseLab.shared.result()
            let connects = run.connects(named: "\(scenario)")
            try #require(!connects.isEmpty, "no connect() ran for \(scenario)")
            var checks = Checks(run: run)
            switch scenario {
            case .closedPort:
                for connect in connects {
                    checks.attempt(connect, result: "ECONNREFUSED", outcome: "reject", cause: "closed-port") { line, say in
                        say.expect(line, "rst_ttl", .number(63))
                        say.expect(line, "synack_ttl", .null)
                        say.expect(line, "synack_seen", .number(0))
                        say.expect(line, "syn_ttl", .number(64))
                    }
                }
            case .resetByMiddlebox:
                for connect in connects {
                    checks.attempt(connect, result: "ECONNREFUSED", outcome: "reject", cause: "reset-by-middlebox") { line, say in
                        say.expect(line, "rst_ttl", .number(64))
                        say.expect(line, "synack_ttl", .null)
                        say.expect(line, "synack_seen", .number(0))
                    }
                }
            case .filtered:
                for connect in connects {
                    let family = Family(connect)
                    // Linux's connect() fails with EACCES on ICMPv6 1/1, EHOSTUNREACH on ICMP 3/13.
                    checks.attempt(connect, result: family == .v4 ? "EHOSTUNREACH" : "EACCES", outcome: "unreach",
                                   cause: "filtered") { line, say in
                        say.expect(line, "icmp_type", .number(family == .v4 ? 3 : 1))
                        say.expect(line, "icmp_code", .number(family == .v4 ? 13 : 1))
                        say.expect(line, "icmp_sender", .string(family.router))
                        say.expect(line, "icmp_ttl", .number(64))
                    }
                }
            case .hostUnreachable:
                for connect in connects {
                    let family = Family(connect)
                    checks.attempt(connect, result: "EHOSTUNREACH", outcome: "unreach", cause: "host-unreachable") { line, say in
                        // icmpx host-unreachable is ICMP 3/1, ICMPv6 1/3 (address unreachable).
                        say.expect(line, "icmp_type", .number(family == .v4 ? 3 : 1))
                        say.expect(line, "icmp_code", .number(family == .v4 ? 1 : 3))
                        say.expect(line, "icmp_sender", .string(family.router))
                        say.expect(line, "icmp_ttl", .number(64))
                    }
                }
            case .portUnreachable:
                for connect in connects {
                    let family = Family(connect)
                    checks.attempt(connect, result: "ECONNREFUSED", outcome: "unreach", cause: "port-unreachable") { line, say in
                        say.expect(line, "icmp_type", .number(family == .v4 ? 3 : 1))
                        say.expect(line, "icmp_code", .number(family == .v4 ? 3 : 4))
                        say.expect(line, "icmp_sender", .string(family.server))
                        say.expect(line, "icmp_ttl", .number(63))
                    }
                }
            case .noAnswer:
                for connect in connects {
                    if connect.port == CausePort.open {
                        checks.success(connect)
                    } else {
                        checks.attempt(connect, result: "timeout", outcome: "timeout", cause: "no-answer") { line, say in
                            say.expect(line, "synack_seen", .number(0))
                            say.expect(line, "synack_ttl", .null)
                            say.atLeast(line, "dup_syn", 1)
                        }
                    }
                }
            case .droppedWhileServing:
                // Measured: the two first complete, the four later ones only
                // see their own SYNs repeated (the full queue drops them).
                let completed = connects.filter { $0.result == "ok" }
                #expect(completed.count == 2, "lab: 2 of 6 connect()s complete on a listen(1) socket: \(connects)")
                for connect in connects {
                    if connect.result == "ok" {
                        checks.success(connect)
                    } else {
                        checks.attempt(connect, result: "timeout", outcome: "timeout", cause: "dropped-while-serving") { line, say in
                            say.expect(line, "synack_seen", .number(0))
                            say.atLeast(line, "dup_syn", 1)
                        }
                    }
                }
            case .injectedReset:
                #expect(run.injectorOutput.split(separator: "\n").filter { $0.hasPrefix("rst to port") }.count == 2,
                        "lab: the injector forged one RST per connect(): \(run.injectorOutput)")
                for connect in connects {
                    checks.success(connect, flags: ["injected-reset"]) { line, say in
                        say.expect(line, "ignored_rst", .number(1))
                        say.expect(line, "ignored_rst_ttl", .number(Double(forgedTTL)))
                        say.atLeast(line, "dup_syn", 1)
                    }
                }
            case .afterRetries:
                for connect in connects {
                    checks.success(connect, flags: ["after-retries"]) { line, say in
                        say.atLeast(line, "dup_syn", 1)
                        say.within(line, "syn_retry_time", 0.8...1.6)
                    }
                }
            case .finalACKLost:
                for connect in connects {
                    let family = Family(connect)
                    checks.attempt(connect, result: "ok", outcome: "timeout", cause: "final-ack-lost") { line, say in
                        say.expect(line, "synack_seen", .number(1))
                        say.expect(line, "synack_ttl", .number(63))
                        say.expect(line, "synack_mss", .number(Double(family.mss)))
                        say.atLeast(line, "dup_synack", 1)
                    }
                }
            case .clientRefusedSYNACK:
                for connect in connects {
                    checks.attempt(connect, result: "timeout", outcome: "abort", cause: "client-refused-synack") { line, say in
                        say.expect(line, "synack_seen", .number(1))
                        say.expect(line, "synack_ttl", .number(63))
                    }
                }
            case .serverDroppedACK:
                // connect() returns at the SYN/ACK; the server, without the
                // ACK, re-sends its SYN/ACK at 1 s: not a duplicate of the
                // handshake (it had completed), a flag on its success.
                for connect in connects {
                    checks.success(connect, flags: ["server-dropped-ack"]) { line, say in
                        say.expect(line, "dup_synack", .number(0))
                        say.within(line, "duration", 0...0.5)
                    }
                }
            }
            if !checks.passed {
                print("----- \(scenario.rawValue): the wire (tcpdump on the client's veth)")
                for connect in connects { print(run.wire(for: connect)) }
                if scenario == .injectedReset { print("----- injector:\n\(run.injectorOutput)") }
            }
        }

        @Test("the lab itself: hop counts differ, every connect() got its line",
              .enabled("needs root and network namespaces (probed with `ip netns add`)") {
                  NetworkNamespaceLab.availability.shouldRun
              },
              .timeLimit(.minutes(2)))
        func lab() async throws {
            if let reason = NetworkNamespaceLab.availability.unavailableReason {
                Issue.record("CI=true and running as root, but the namespace lab cannot be built: \(reason)")
                return
            }
            let run = try await SharedCauseLab.shared.result()
            var checks = Checks(run: run)
            for connect in run.connects(named: "baseline") { checks.success(connect) }
            for connect in run.connects {
                #expect(run.lines(for: connect).count == 1, "\(connect.name): one line per connect()")
            }
            // The wire, independently of tcpeek: the server's SYN/ACKs come
            // with TTL 63, the router's own answers with 64.
            if !run.wire.isEmpty {
                let text = run.wire.joined(separator: "\n")
                #expect(text.contains("ttl 63"), "the server's packets are one hop away")
                #expect(text.contains("\(Lab.routerClientSide4) > \(Lab.clientAddress4): ICMP"), "the router sends ICMP errors")
            }
            if !checks.passed { print(run.tcpeekTranscript) }
        }

        @Test("each cause the kernel produced is in the metrics, the summary, query --by cause and explain",
              .enabled("needs root and network namespaces (probed with `ip netns add`)") {
                  NetworkNamespaceLab.availability.shouldRun
              },
              .timeLimit(.minutes(2)))
        func reported() async throws {
            if let reason = NetworkNamespaceLab.availability.unavailableReason {
                Issue.record("CI=true and running as root, but the namespace lab cannot be built: \(reason)")
                return
            }
            let run = try await SharedCauseLab.shared.result()
            // What --json-lines said, per outcome and cause name.
            var expected: [String: (outcome: String, count: Int)] = [:]
            for line in run.lines {
                guard let outcome = line["outcome"]?.string, let causes = line["cause"]?.string else { continue }
                for cause in causes.split(separator: ",").map(String.init) {
                    expected[cause, default: (outcome, 0)].count += 1
                }
            }
            let produced = Set(CauseScenario.allCases.map(\.causeName))
            #expect(produced.isSubset(of: Set(expected.keys)), "every scenario's cause is on a line: \(expected.keys.sorted())")

            let rows = (try? JSONDecoder().decode([[String: JSONValue]].self, from: Data(run.byCause.utf8))) ?? []
            #expect(!rows.isEmpty, "query --by cause answered JSON: \(run.byCause)")
            let explained = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(run.explain.utf8))) ?? [:]
            #expect(!explained.isEmpty, "explain answered JSON: \(run.explain)")
            for (cause, (outcome, count)) in expected.sorted(by: { $0.key < $1.key }) {
                let counted = rows.filter { $0["cause"]?.string == cause && $0["outcome"]?.string == outcome }
                    .compactMap { $0["count"]?.number }.reduce(0, +)
                #expect(Int(counted) == count, "query --by cause: \(cause) counted \(counted), the lines say \(count)")
                let label = outcome == "success" ? "flag=\"\(cause)\"" : "cause=\"\(cause)\""
                let series = outcome == "success" ? "tcpeek_success_flags_total" : "tcpeek_handshakes_total"
                let value = run.metrics.split(separator: "\n")
                    .filter { $0.hasPrefix(series + "{") && $0.contains(label) }
                    .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
                #expect(Int(value) == count, "metrics: \(series){\(label)} is \(value), the lines say \(count)")
                #expect(run.summary.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix(cause + " ") },
                        "the summary's Causes block names \(cause)")
                if outcome == "success" {
                    #expect(explained["successes"]?["flags"]?[cause]?.number == Double(count),
                            "explain counts the \(cause) successes: \(explained["successes"].map(\.description) ?? "none")")
                } else {
                    let groups = explained["groups"]?.array ?? []
                    let grouped = groups.filter { $0["cause"]?.string == cause }.compactMap { $0["count"]?.number }.reduce(0, +)
                    #expect(Int(grouped) == count, "explain groups \(Int(grouped)) \(cause), the lines say \(count)")
                    #expect(groups.filter { $0["cause"]?.string == cause }.allSatisfy { ($0["verdict"]?.string ?? "").count > 20 },
                            "explain says why for \(cause)")
                }
            }
        }
    }
}

// MARK: - Checking one attempt

/// Collects the expectations on tcpeek's lines; each message names the
/// connect() and shows its line.
private struct Checks {
    let run: CauseLabRun
    var passed = true

    struct Say {
        let name: String
        var passed = true

        mutating func expect(_ line: AttemptLine, _ key: String, _ value: JSONValue,
                             sourceLocation: SourceLocation = #_sourceLocation) {
            guard line[key] != value else { return }
            passed = false
            Issue.record("\(name): \(key) is \(line[key].map(\.description) ?? "missing"), expected \(value): \(line)",
                         sourceLocation: sourceLocation)
        }

        mutating func atLeast(_ line: AttemptLine, _ key: String, _ minimum: Double,
                              sourceLocation: SourceLocation = #_sourceLocation) {
            if let value = line[key]?.number, value >= minimum { return }
            passed = false
            Issue.record("\(name): \(key) is \(line[key].map(\.description) ?? "missing"), expected >= \(minimum): \(line)",
                         sourceLocation: sourceLocation)
        }

        mutating func within(_ line: AttemptLine, _ key: String, _ range: ClosedRange<Double>,
                             sourceLocation: SourceLocation = #_sourceLocation) {
            if let value = line[key]?.number, range.contains(value) { return }
            passed = false
            Issue.record("\(name): \(key) is \(line[key].map(\.description) ?? "missing"), expected in \(range): \(line)",
                         sourceLocation: sourceLocation)
        }
    }

    /// `connect` returned `result` and has exactly one line, with `outcome`
    /// and `cause`; `more` checks the evidence.
    mutating func attempt(_ connect: RoutedNamespaceLab.Connect, result: String, outcome: String, cause: String,
                          sourceLocation: SourceLocation = #_sourceLocation,
                          _ more: (AttemptLine, inout Say) -> Void = { _, _ in }) {
        guard let line = oneLine(connect, result: result, outcome: outcome, sourceLocation: sourceLocation) else { return }
        var say = Say(name: connect.name)
        say.expect(line, "cause", .string(cause), sourceLocation: sourceLocation)
        more(line, &say)
        passed = passed && say.passed
    }

    /// `connect` completed and its line is a success with the evidence of a
    /// whole handshake; its cause holds exactly `flags` (null when none).
    mutating func success(_ connect: RoutedNamespaceLab.Connect, flags: Set<String> = [],
                          sourceLocation: SourceLocation = #_sourceLocation,
                          _ more: (AttemptLine, inout Say) -> Void = { _, _ in }) {
        guard let line = oneLine(connect, result: "ok", outcome: "success", sourceLocation: sourceLocation) else { return }
        var say = Say(name: connect.name)
        if flags.isEmpty {
            say.expect(line, "cause", .null, sourceLocation: sourceLocation)
        } else if !flags.isSubset(of: Set(line.causeNames)) {
            say.passed = false
            Issue.record("\(connect.name): cause is \(line["cause"].map(\.description) ?? "missing"), expected flags \(flags.sorted()): \(line)",
                         sourceLocation: sourceLocation)
        }
        let family = Family(connect)
        say.expect(line, "synack_seen", .number(1), sourceLocation: sourceLocation)
        say.expect(line, "syn_ttl", .number(64), sourceLocation: sourceLocation)
        say.expect(line, "synack_ttl", .number(63), sourceLocation: sourceLocation)
        say.expect(line, "synack_mss", .number(Double(family.mss)), sourceLocation: sourceLocation)
        say.expect(line, "synack_wscale", .number(10), sourceLocation: sourceLocation)
        say.within(line, "syn_to_synack", 1e-7...2, sourceLocation: sourceLocation)
        say.within(line, "synack_to_ack", 1e-7...2, sourceLocation: sourceLocation)
        say.expect(line, "capture_dropped", .number(0), sourceLocation: sourceLocation)
        more(line, &say)
        passed = passed && say.passed
    }

    /// The one line of `connect`, checked for `outcome`, once connect()
    /// itself returned `result` (else the lab is wrong, not tcpeek).
    private mutating func oneLine(_ connect: RoutedNamespaceLab.Connect, result: String, outcome: String,
                                  sourceLocation: SourceLocation) -> AttemptLine? {
        guard connect.result == result else {
            passed = false
            Issue.record("lab: \(connect.name) (port \(connect.port)) connect() returned \(connect.result), expected \(result)",
                         sourceLocation: sourceLocation)
            return nil
        }
        let lines = run.lines(for: connect)
        guard lines.count == 1, let line = lines.first else {
            passed = false
            Issue.record("\(connect.name) (client port \(connect.sport)): \(lines.count) lines, expected 1: \(lines)",
                         sourceLocation: sourceLocation)
            return nil
        }
        if line.outcome != outcome {
            passed = false
            Issue.record("\(connect.name): outcome \(line.outcome ?? "missing"), expected \(outcome): \(line)",
                         sourceLocation: sourceLocation)
        }
        return line
    }
}
