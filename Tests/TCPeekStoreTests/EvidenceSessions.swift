// Sessions with evidence and causes built by hand, one of each kind a
// tracker closes (issue 15), for the tests of the store, `--json-lines` and
// `tcpeek query`: the database side does not wait for the tracker's.
import GRDB
import TCPeekCore

enum EvidenceSessions {
    static let client4 = IPAddress(ipv4: 0xC633_6407)  // 198.51.100.7
    static let server4 = IPAddress(ipv4: 0xCB00_7105)  // 203.0.113.5
    static let router4 = IPAddress(ipv4: 0xC633_6401)  // 198.51.100.1
    static let client6 = IPAddress(high: 0x2001_0DB8_0001_0000, low: 7)  // 2001:db8:1::7
    static let server6 = IPAddress(high: 0x2001_0DB8_0002_0000, low: 5)  // 2001:db8:2::5
    static let router6 = IPAddress(high: 0x2001_0DB8_0000_0000, low: 1)  // 2001:db8::1

    static func milliseconds(_ value: Int64) -> Timestamp.Duration { .init(microseconds: value * 1000) }

    /// Eleven sessions a second apart from `start` (Unix seconds), counted
    /// by filter bit 0: three plain or flagged successes and one with a
    /// combination of flags, two rejects, two unreaches (one IPv6), two
    /// timeouts and an abort.
    static func kinds(at start: Int64, clientPort: UInt16 = 40_000) -> [Session] {
        var sessions: [Session] = []
        func add(_ outcome: Outcome, _ causes: [Cause], v6: Bool = false, dupSYN: UInt32 = 0, icmp: (UInt8, UInt8) = (0, 0),
                 _ fill: (inout HandshakeEvidence) -> Void) {
            let index = Int64(sessions.count)
            var session = Session(
                client: v6 ? client6 : client4, server: v6 ? server6 : server4,
                clientPort: clientPort &+ UInt16(index), serverPort: 443,
                startedAt: Timestamp(microseconds: (start + index) * 1_000_000 + 250_000),
                duration: milliseconds(20 + index), outcome: outcome, dupSYN: dupSYN,
                filters: FilterMask(rawValue: 1), icmpType: icmp.0, icmpCode: icmp.1)
            session.evidence.synHopLimit = 64
            fill(&session.evidence)
            for cause in causes { session.cause.insert(cause) }
            sessions.append(session)
        }
        func answered(_ e: inout HandshakeEvidence) {
            e.synAckHopLimit = 58
            e.synAckOptions = SYNOptions(maximumSegmentSize: 1460, windowScale: 7)
            e.synToSynAck = milliseconds(20)
            e.synAckToAck = .init(microseconds: 95)
        }
        add(.success, []) { answered(&$0) }
        add(.success, [.afterRetries, .serverDroppedACK], dupSYN: 1) {
            answered(&$0)
            $0.synRetryTime = .seconds(1)
        }
        add(.success, [.inferred]) { $0.synAckToAck = nil }
        add(.success, [.injectedReset]) {
            answered(&$0)
            $0.ignoredResets = 2
            $0.ignoredResetHopLimit = 46
        }
        add(.reject, [.closedPort]) { $0.resetHopLimit = 58 }
        add(.reject, [.resetByMiddlebox]) { $0.resetHopLimit = 61 }
        add(.unreach, [.filtered], icmp: (3, 13)) {
            $0.unreachableSender = router4
            $0.unreachableHopLimit = 63
        }
        add(.unreach, [.portUnreachable], v6: true, icmp: (1, 4)) {
            $0.unreachableSender = server6
            $0.unreachableHopLimit = 58
            $0.synHopLimit = 128
        }
        add(.timeout, [.noAnswer], dupSYN: 2) { $0.synRetryTime = .seconds(3) }
        add(.timeout, [.uncertain]) { $0.captureDropped = true }
        add(.abort, [.clientRefusedSYNACK]) {
            answered(&$0)
            $0.resetHopLimit = 64
        }
        return sessions
    }
}

/// A session's cause and evidence as the `sessions` columns of Schema/0006
/// hold them (and `--json-lines` writes them), read back from a row or made
/// from the session.
struct StoredEvidence: Equatable, CustomStringConvertible {
    var cause: String?
    var synTTL: Int64?, synackTTL: Int64?, rstTTL: Int64?, synackSeen: Int64?
    var icmpSender: String?, icmpTTL: Int64?
    var synackMSS: Int64?, synackWscale: Int64?
    var synToSynack: Double?, synackToAck: Double?, synRetryTime: Double
    var ignoredRST: Int64, ignoredRSTTTL: Int64?, captureDropped: Int64

    static let columns = "cause, syn_ttl, synack_ttl, rst_ttl, synack_seen, icmp_sender, icmp_ttl, synack_mss, "
        + "synack_wscale, syn_to_synack, synack_to_ack, syn_retry_time, ignored_rst, ignored_rst_ttl, capture_dropped"

    init(_ row: Row) {
        cause = row["cause"]
        synTTL = row["syn_ttl"]; synackTTL = row["synack_ttl"]; rstTTL = row["rst_ttl"]; synackSeen = row["synack_seen"]
        icmpSender = row["icmp_sender"]; icmpTTL = row["icmp_ttl"]
        synackMSS = row["synack_mss"]; synackWscale = row["synack_wscale"]
        synToSynack = row["syn_to_synack"]; synackToAck = row["synack_to_ack"]; synRetryTime = row["syn_retry_time"]
        ignoredRST = row["ignored_rst"]; ignoredRSTTTL = row["ignored_rst_ttl"]; captureDropped = row["capture_dropped"]
    }

    init(_ session: Session) {
        let e = session.evidence
        cause = session.cause.isEmpty ? nil : session.cause.description
        synTTL = Int64(e.synHopLimit); synackTTL = e.synAckHopLimit.map(Int64.init); rstTTL = e.resetHopLimit.map(Int64.init)
        synackSeen = e.sawSYNACK ? 1 : 0
        icmpSender = e.unreachableSender?.description; icmpTTL = e.unreachableHopLimit.map(Int64.init)
        synackMSS = e.synAckOptions.maximumSegmentSize.map(Int64.init); synackWscale = e.synAckOptions.windowScale.map(Int64.init)
        synToSynack = e.synToSynAck.map { Double($0.microseconds) / 1_000_000 }
        synackToAck = e.synAckToAck.map { Double($0.microseconds) / 1_000_000 }
        synRetryTime = Double(e.synRetryTime.microseconds) / 1_000_000
        ignoredRST = Int64(e.ignoredResets); ignoredRSTTTL = e.ignoredResetHopLimit.map(Int64.init)
        captureDropped = e.captureDropped ? 1 : 0
    }

    var description: String {
        "\(cause ?? "nil") ttl \(synTTL.map(String.init) ?? "nil")/\(synackTTL.map(String.init) ?? "nil")/\(rstTTL.map(String.init) ?? "nil") "
            + "seen \(synackSeen.map(String.init) ?? "nil") icmp \(icmpSender ?? "nil")/\(icmpTTL.map(String.init) ?? "nil") "
            + "opts \(synackMSS.map(String.init) ?? "nil")/\(synackWscale.map(String.init) ?? "nil") "
            + "halves \(synToSynack.map { "\($0)" } ?? "nil")/\(synackToAck.map { "\($0)" } ?? "nil") retry \(synRetryTime) "
            + "ignored \(ignoredRST)/\(ignoredRSTTTL.map(String.init) ?? "nil") dropped \(captureDropped)"
    }
}
