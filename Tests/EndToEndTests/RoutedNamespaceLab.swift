// A three-namespace lab for the end-to-end tests: a client and a server one
// router apart, so that hop counts differ along the path.
//
//   client tcpk-rc-<pid>         router tcpk-rr-<pid>                   server tcpk-rs-<pid>
//   tcpk-c  192.0.2.1/24 ---- tcpk-rc  192.0.2.254/24
//           2001:db8:1::1/64           2001:db8:1::fe/64
//                                   tcpk-rs  198.51.100.254/24 ---- tcpk-s  198.51.100.2/24
//                                            2001:db8:2::fe/64               2001:db8:2::2/64
//
// Only the router forwards. Every host sends with TTL / hop limit 64, so the
// server's packets reach the client with 63 while whatever the router sends
// itself (an nft reject's RST or ICMP error, a forged segment) arrives with
// 64. Both veth pairs are created inside the namespaces (each peer moved
// straight into the router's), so the root namespace is never touched; the
// lifecycle (teardown, names per pid, leftovers of dead runs) is
// `NamespaceLab`'s.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

final class RoutedNamespaceLab: NamespaceLab {
    static let clientAddress4 = "192.0.2.1"
    static let routerClientSide4 = "192.0.2.254"
    static let routerServerSide4 = "198.51.100.254"
    static let serverAddress4 = "198.51.100.2"
    static let clientAddress6 = "2001:db8:1::1"
    static let routerClientSide6 = "2001:db8:1::fe"
    static let routerServerSide6 = "2001:db8:2::fe"
    static let serverAddress6 = "2001:db8:2::2"

    /// Interface names; they only exist inside the lab's own namespaces.
    static let clientInterface = "tcpk-c"
    static let routerClientInterface = "tcpk-rc"
    static let routerServerInterface = "tcpk-rs"
    static let serverInterface = "tcpk-s"

    /// Locally administered MAC addresses, so the neighbour entries can be static.
    static let clientMAC = "02:7c:70:6b:01:01"
    static let routerClientMAC = "02:7c:70:6b:01:fe"
    static let routerServerMAC = "02:7c:70:6b:02:fe"
    static let serverMAC = "02:7c:70:6b:02:02"

    let clientNamespace: String
    let routerNamespace: String
    let serverNamespace: String

    override init() throws {
        clientNamespace = Self.namespaceName(role: "rc")
        routerNamespace = Self.namespaceName(role: "rr")
        serverNamespace = Self.namespaceName(role: "rs")
        try super.init()
        do {
            try build()
        } catch {
            teardown()
            throw error
        }
    }

    private func build() throws {
        let c = clientNamespace, r = routerNamespace, s = serverNamespace
        for ns in [c, r, s] { try addNamespace(ns) }
        try mustRun([ip, "-n", c, "link", "add", Self.clientInterface, "address", Self.clientMAC, "type", "veth",
                     "peer", "name", Self.routerClientInterface, "address", Self.routerClientMAC, "netns", r])
        try mustRun([ip, "-n", s, "link", "add", Self.serverInterface, "address", Self.serverMAC, "type", "veth",
                     "peer", "name", Self.routerServerInterface, "address", Self.routerServerMAC, "netns", r])

        struct End {
            let ns: String, dev: String, v4: String, v6: String
            /// The hosts on the other end of the link, with their MAC address.
            let neighbours: [(address: String, mac: String)]
        }
        let ends = [
            End(ns: c, dev: Self.clientInterface, v4: Self.clientAddress4, v6: Self.clientAddress6,
                neighbours: [(Self.routerClientSide4, Self.routerClientMAC), (Self.routerClientSide6, Self.routerClientMAC)]),
            End(ns: r, dev: Self.routerClientInterface, v4: Self.routerClientSide4, v6: Self.routerClientSide6,
                neighbours: [(Self.clientAddress4, Self.clientMAC), (Self.clientAddress6, Self.clientMAC)]),
            End(ns: r, dev: Self.routerServerInterface, v4: Self.routerServerSide4, v6: Self.routerServerSide6,
                neighbours: [(Self.serverAddress4, Self.serverMAC), (Self.serverAddress6, Self.serverMAC)]),
            End(ns: s, dev: Self.serverInterface, v4: Self.serverAddress4, v6: Self.serverAddress6,
                neighbours: [(Self.routerServerSide4, Self.routerServerMAC), (Self.routerServerSide6, Self.routerServerMAC)]),
        ]
        for end in ends {
            try mustRun([ip, "-n", end.ns, "addr", "add", "\(end.v4)/24", "dev", end.dev])
            try mustRun([ip, "-n", end.ns, "addr", "add", "\(end.v6)/64", "dev", end.dev, "nodad"])
            try mustRun([ip, "-n", end.ns, "link", "set", end.dev, "up"])
            // Static neighbours, as in NetworkNamespaceLab: no ARP or
            // neighbour discovery to hold the first packets back.
            for neighbour in end.neighbours {
                try mustRun([ip, "-n", end.ns, "neigh", "replace", neighbour.address, "lladdr", neighbour.mac,
                             "dev", end.dev, "nud", "permanent"])
            }
        }
        try mustRun([ip, "-n", c, "route", "add", "default", "via", Self.routerClientSide4])
        try mustRun([ip, "-n", c, "-6", "route", "add", "default", "via", Self.routerClientSide6])
        try mustRun([ip, "-n", s, "route", "add", "default", "via", Self.routerServerSide4])
        try mustRun([ip, "-n", s, "-6", "route", "add", "default", "via", Self.routerServerSide6])
        try setSysctls([("net/ipv4/ip_forward", "1"), ("net/ipv6/conf/all/forwarding", "1")], in: r)
        try waitUntilReady(ends.map { ($0.ns, $0.dev) })
    }

    // MARK: Running things in the lab

    /// Runs `argv` to completion inside namespace `ns`; throws when it fails.
    @discardableResult
    func run(in ns: String, _ argv: [String], stdin: String? = nil) throws -> CommandResult {
        try mustRun(inNamespace(ns, argv), stdin: stdin)
    }

    /// A server namespace socket on `port` that listens with `backlog` and
    /// never accepts, once it listens: its accept queue fills.
    func startSilentListener(port: Int, backlog: Int) async throws -> ChildProcess {
        guard let python = findTool("python3") else { throw LabError("python3 not found") }
        let script = """
            import socket, sys, time
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", int(sys.argv[1]))); s.listen(int(sys.argv[2]))
            print("ready", flush=True)
            while True: time.sleep(3600)
            """
        let listener = try spawn("listener \(port)", in: serverNamespace, [python, "-c", script, String(port), String(backlog)])
        guard await listener.wait(timeout: 10, until: { $0.stdout.text.hasPrefix("ready") }) else {
            throw LabError("the silent listener did not start: \(listener.transcript)")
        }
        return listener
    }

    /// Scripts/rst_injector.py in the router namespace, watching the router's
    /// client-side interface: it answers each client's first SYN to `port`
    /// with a RST forged from the server, with TTL `ttl` and ack = the ISN.
    func startRSTInjector(port: Int, ttl: Int) async throws -> ChildProcess {
        guard let python = findTool("python3") else { throw LabError("python3 not found") }
        let injector = try spawn("rst injector", in: routerNamespace,
                                 [python, scriptsDirectory.appendingPathComponent("rst_injector.py").path,
                                  Self.routerClientInterface, String(port), String(ttl)])
        guard await injector.wait(timeout: 10, until: { $0.stdout.text.hasPrefix("ready") }) else {
            throw LabError("the RST injector did not start: \(injector.transcript)")
        }
        return injector
    }

    /// One connect() of a `ConnectPlan`, as Scripts/connect_plan.py reports it.
    struct Connect: Decodable, Sendable {
        let name: String
        let target: String
        let port: Int
        let sport: Int
        /// `ok`, an errno name (`ECONNREFUSED`, `EHOSTUNREACH`) or `timeout`.
        let result: String
        /// Seconds connect() took.
        let elapsed: Double
    }

    /// One connect() to run: after `start` seconds, with a `timeout`, the
    /// socket kept `hold` seconds once connected.
    struct PlannedConnect: Encodable, Sendable {
        let name: String
        let target: String
        let port: Int
        var start: Double = 0
        var timeout: Double = 10
        var hold: Double = 0
    }

    /// Runs `plan` (Scripts/connect_plan.py, each connect() in its own
    /// thread) in the client namespace and returns what each connect() did.
    func connect(_ plan: [PlannedConnect], timeout: TimeInterval = 60) async throws -> [Connect] {
        guard let python = findTool("python3") else { throw LabError("python3 not found") }
        let json = String(decoding: try JSONEncoder().encode(plan), as: UTF8.self)
        let client = try spawn("client", in: clientNamespace,
                               [python, scriptsDirectory.appendingPathComponent("connect_plan.py").path, json])
        guard client.waitForExit(timeout: timeout), client.exitStatus == 0 else {
            client.stop(SIGKILL)
            throw LabError("the connect plan did not finish: \(client.transcript)")
        }
        do {
            return try JSONDecoder().decode([Connect].self, from: Data(client.stdout.text.utf8))
        } catch {
            throw LabError("the connect plan's output is not its JSON list (\(error)): \(client.transcript)")
        }
    }
}
