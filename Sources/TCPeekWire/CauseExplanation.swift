import Foundation
import TCPeekCore

/// The words of `tcpeek explain`: for each `Cause` the verdict on one
/// session or a group of failures, how sure it is and why, and the evidence
/// lines under it. The one place these sentences are written; README.md
/// ("tcpeek explain") shows them.
public enum CauseExplanation {
    public struct Judgement: Sendable, Equatable {
        public var verdict: String
        public var certainty: Certainty
        public var because: String
    }

    // MARK: One session

    static func judge(_ s: SessionExplanation) -> Judgement {
        let path = "\(endpoint(s.client, s.clientPort)) → \(endpoint(s.server, s.serverPort))"
        let e = s.evidence
        let causes = s.cause.flatMap { Causes($0) } ?? Causes()
        let target = endpoint(s.server, s.serverPort)
        let reference = e.synackTTL ?? s.serverContext.synackTTLs.first
        if s.outcome == "success" {
            var parts: [String] = []
            var certainty = Certainty.sure
            var because = "the client's ACK completed the handshake"
            if causes.contains(.afterRetries) {
                let retries = max(1, e.syns - 1)
                parts.append("after \(retries) \(retries == 1 ? "retry" : "retries")"
                    + (e.synRetryMs.map { " (\(duration($0)) lost)" } ?? ""))
            }
            if causes.contains(.serverDroppedACK) {
                parts.append("the server re-sent its SYN/ACK after the client's ACK: it dropped the ACK (a full accept queue) or the ACK was lost")
            }
            if causes.contains(.inferred) {
                parts.append("though no SYN/ACK was captured: the client's ACK proves there was one")
                because = "inferred from the client's ACK (SPEC §1)"
            }
            if causes.contains(.injectedReset) {
                let rst = e.ignoredRSTTTL.map { "TTL \($0)" } ?? "TTL unknown"
                let server = reference.map { ", server's SYN/ACK TTL \($0)" } ?? ""
                let count = e.ignoredRST == 1 ? "a RST" : "\(e.ignoredRST) RSTs"
                parts.append("the client ignored \(count) (\(rst)\(server)): injected")
                certainty = .likely
                because = "the RST did not fit the attempt or came from another hop count than the server, and the client went on"
            }
            // "succeeded after 2 retries (3.0 s lost); the client ignored …"
            var verdict = "\(path) succeeded"
            if !causes.contains(.afterRetries) { verdict += " in \(duration(WireMilliseconds(s.duration * 1000)))" }
            if let first = parts.first { verdict += (causes.contains(.afterRetries) ? " " : ", ") + first }
            if parts.count > 1 { verdict += "; " + parts.dropFirst().joined(separator: "; ") }
            if !s.hasEvidence {
                return Judgement(verdict: verdict, certainty: .unknown, because: recordedBefore)
            }
            return Judgement(verdict: verdict, certainty: certainty, because: because)
        }
        let failed = failedWord(s.outcome)
        guard s.hasEvidence, let cause = causes.first(where: { !$0.isSuccessFlag }) else {
            return Judgement(verdict: "\(path) \(failed); no cause is known", certainty: .unknown, because: recordedBefore)
        }
        let syns = "every SYN (\(e.syns)\(e.syns > 1 ? e.synRetryMs.map { ", \(duration($0)) of retries" } ?? "" : ""))"
        let serving = "\(target) completed \(s.serverContext.completed) other \(plural(s.serverContext.completed, "handshake")) within the minute"
        switch cause {
        case .closedPort:
            if let reference {
                return Judgement(verdict: "\(path) rejected: the RST came from the server's hop count (TTL \(e.rstTTL.map(String.init) ?? "?"), as its SYN/ACKs): nothing listens on port \(s.serverPort)",
                                 certainty: .sure, because: "the RST's TTL equals the server's SYN/ACK TTL \(reference)")
            }
            return Judgement(verdict: "\(path) rejected: the server (this host) answered with a RST: nothing listens on port \(s.serverPort)",
                             certainty: .likely, because: "the server is this host, and the RST left with its stack's initial TTL \(e.rstTTL.map(String.init) ?? "?")")
        case .resetByMiddlebox:
            let rst = e.rstTTL ?? 0
            let where_ = reference.map { hopComparison(rst, to: $0) } ?? "from another hop count than the server (TTL \(rst))"
            return Judgement(verdict: "\(path) rejected: the RST came \(where_): a firewall on the path rejected it",
                             certainty: .likely, because: "the hop counts differ; a route change between the two packets could do the same")
        case .resetUnattributed:
            var because = "no packet of the server's to compare with"
            if let reference, let rst = e.rstTTL {
                because += rst == reference
                    ? " when it was recorded; the server's SYN/ACKs around it came with the same TTL \(reference), so likely the server itself"
                    : " when it was recorded; the server's SYN/ACKs around it came with TTL \(reference): likely a box on the path"
            }
            return Judgement(verdict: "\(path) rejected by a RST from the server's address (TTL \(e.rstTTL.map(String.init) ?? "?")): the server or a box on the path",
                             certainty: .unsure, because: because)
        case .filtered, .noRoute, .hostUnreachable, .portUnreachable, .protocolUnreachable:
            let sender = e.icmpSender.map { senderText($0, server: s.server) } ?? "someone"
            let said = icmpName(type: e.icmpType, code: e.icmpCode, isIPv6: s.server.contains(":"))
            return Judgement(verdict: "\(path) unreachable: \(sender) said \(said): \(unreachableMeaning(cause, senderIsServer: e.icmpSender == s.server))",
                             certainty: .sure, because: "an ICMP error answered the SYN, and names its sender")
        case .noAnswer:
            return Judgement(verdict: "\(path) timed out: \(syns) went unanswered and \(target) completed no other handshake within the minute: dropped silently on the path, or nothing answers there",
                             certainty: .likely, because: "silence cannot tell where the SYNs were lost"
                                + (s.serverContext.completed > 0 ? "; the database shows \(s.serverContext.completed) handshakes completed near it, which tcpeek had not seen when it decided" : ""))
        case .droppedWhileServing:
            return Judgement(verdict: "\(path) timed out: \(syns) went unanswered while \(serving): dropped at the server (a full accept queue) or by a rate limit",
                             certainty: .likely, because: "the same server port completed other handshakes meanwhile")
        case .finalACKLost:
            let answered = e.synToSynackMs.map { ", after \(duration($0))" } ?? ""
            return Judgement(verdict: "\(path) timed out: the server answered (SYN/ACK TTL \(e.synackTTL.map(String.init) ?? "?")\(answered)) but the client never acknowledged it: the SYN/ACK was lost on the way back, or the client dropped it",
                             certainty: .sure, because: "the SYN/ACK was captured and no ACK followed")
        case .tableFull:
            return Judgement(verdict: "\(path) closed early as a timeout: the table of open attempts was full (--max-pending); its answer may have come later",
                             certainty: .unsure, because: "tcpeek stopped watching it before it ended")
        case .uncertain:
            return Judgement(verdict: "\(path) timed out, but libpcap dropped packets while it was open: the answer may have been among them",
                             certainty: .unsure, because: "libpcap dropped packets while it was open")
        case .clientGaveUp:
            return Judgement(verdict: "\(path) aborted: the client reset before any answer: it gave up after \(e.syns) \(plural(e.syns, "SYN"))",
                             certainty: .sure, because: "the RST came from the client's side before a SYN/ACK")
        case .clientRefusedSYNACK:
            return Judgement(verdict: "\(path) aborted: the client reset the server's SYN/ACK: no socket wanted it (a half-open scan, or a client that had already given up)",
                             certainty: .sure, because: "the RST came from the client's side after the SYN/ACK")
        case .afterRetries, .serverDroppedACK, .inferred, .injectedReset:
            return Judgement(verdict: "\(path) \(failed)", certainty: .unknown, because: recordedBefore)
        }
    }

    /// The evidence of one session as (label, text) lines.
    public static func evidenceLines(_ s: SessionExplanation) -> [(String, String)] {
        let e = s.evidence
        guard s.hasEvidence else {
            return [("evidence", recordedBefore), ("SYN", "\(e.syns) sent")]
        }
        var lines: [(String, String)] = []
        var syn = "TTL \(ttl(e.synTTL)), \(e.syns) sent"
        if e.syns > 1, let retry = e.synRetryMs, retry.thousandths > 0 { syn += " over \(duration(retry))" }
        lines.append(("SYN", syn))
        if e.synackSeen == true {
            var synack = "TTL \(ttl(e.synackTTL))"
            if let mss = e.synackMSS { synack += ", MSS \(mss)" }
            if let scale = e.synackWscale { synack += ", window scale \(scale)" }
            if let time = e.synToSynackMs { synack += ", \(duration(time)) after the SYN" }
            if e.synacksResent > 0 { synack += ", re-sent \(e.synacksResent)×" }
            lines.append(("SYN/ACK", synack))
        } else {
            lines.append(("SYN/ACK", s.outcome == "success" ? "none captured (inferred from the ACK)" : "none captured"))
        }
        if let time = e.synackToAckMs { lines.append(("ACK", "\(duration(time)) after the SYN/ACK")) }
        if let rst = e.rstTTL { lines.append(("RST", "TTL \(ttl(rst))")) }
        if let sender = e.icmpSender {
            lines.append(("ICMP", icmpName(type: e.icmpType, code: e.icmpCode, isIPv6: s.server.contains(":"))
                + " from \(senderText(sender, server: s.server)), TTL \(ttl(e.icmpTTL))"))
        }
        if e.ignoredRST > 0 {
            lines.append(("ignored RST", "\(e.ignoredRST), the last TTL \(ttl(e.ignoredRSTTTL))"))
        }
        if e.captureDropped { lines.append(("capture", "libpcap dropped packets while it was open")) }
        if e.evicted { lines.append(("capture", "closed early: the table of open attempts was full")) }
        lines.append(("server", serverLine(s.serverContext, other: true)))
        return lines
    }

    // MARK: A group of failures

    static func judge(_ g: FailureGroup) -> Judgement {
        let target = endpoint(g.server, g.serverPort)
        let one = g.count == 1
        /// The singular or the plural form, by the group's size.
        func n(_ singular: String, _ plural: String) -> String { one ? singular : plural }
        let head = "\(g.count) of \(g.outcomeCount) \(plural(g.outcomeCount, outcomeNoun(g.outcome))) to \(target) \(span(g.first, g.last)) \(n("was", "were"))"
        let senders = g.icmpSenders.map { senderText($0, server: g.server) }.joined(separator: " and ")
        let completed = g.serverContext.completed
        let answered = "the server answered \(g.serverContext.clients) other \(plural(g.serverContext.clients, "client")) (\(completed) \(plural(completed, "handshake")))"
        let syns = g.synsMin == g.synsMax ? "\(g.synsMin) each" : "\(g.synsMin)-\(g.synsMax) each"
        guard let cause = g.cause.flatMap({ Causes($0) })?.first(where: { !$0.isSuccessFlag }) else {
            return Judgement(verdict: "\(head) recorded before tcpeek kept evidence: no cause is known",
                             certainty: .unknown, because: recordedBefore)
        }
        let reference = g.serverContext.synackTTLs.first
        let rsts = g.rstTTLs.map(String.init).joined(separator: ", ")
        switch cause {
        case .closedPort:
            return Judgement(verdict: "\(head) \(n("a RST", "RSTs")) from the server's own hop count (TTL \(rsts)): nothing listens on port \(g.serverPort)",
                             certainty: reference == nil ? .likely : .sure,
                             because: reference.map { "the RSTs' TTL equals the server's SYN/ACK TTL \($0)" } ?? "the server is this host, and the RSTs left with its stack's initial TTL")
        case .resetByMiddlebox:
            let comparison = reference.map { " (RST TTL \(rsts) vs the server's \($0))" } ?? " (RST TTL \(rsts))"
            return Judgement(verdict: "\(head) \(n("a RST", "RSTs")) from another hop count than the server's\(comparison): a firewall on the path rejected \(n("it", "them"))",
                             certainty: .likely, because: "the hop counts differ; a route change could do the same")
        case .resetUnattributed:
            return Judgement(verdict: "\(head) \(n("a RST", "RSTs")) from its address (TTL \(rsts)) with no packet of the server's to compare with: the server or a box on the path",
                             certainty: .unsure, because: "no packet of the server's to compare with")
        case .filtered, .noRoute, .hostUnreachable, .portUnreachable, .protocolUnreachable:
            let codes = g.icmpCodes.map(String.init).joined(separator: ", ")
            let isIPv6 = g.server.contains(":")
            return Judgement(verdict: "\(head) \(n("an ", ""))ICMP \(unreachableName(cause)) \(n("error", "errors")) (\(isIPv6 ? "ICMPv6 1" : "ICMP 3")/\(codes)) from \(senders): \(unreachableMeaning(cause, senderIsServer: g.icmpSenders == [g.server]))",
                             certainty: .sure, because: "ICMP errors answered the SYNs, and name their sender")
        case .noAnswer:
            return Judgement(verdict: "\(head) \(n("an attempt whose \(g.synsMax) \(plural(g.synsMax, "SYN")) went", "attempts whose SYNs (\(syns)) went")) unanswered, and the server completed no other handshake around \(n("it", "them"))\(completed == 0 ? "" : " when tcpeek decided (\(completed) since)"): dropped silently on the path, or nothing answers there",
                             certainty: .likely, because: "silence cannot tell where the SYNs were lost")
        case .droppedWhileServing:
            return Judgement(verdict: "\(head) \(n("an attempt whose \(g.synsMax) \(plural(g.synsMax, "SYN")) went", "attempts whose SYNs (\(syns)) went")) unanswered while \(answered): dropped at the server (a full accept queue) or by a rate limit",
                             certainty: .likely, because: "the same server port completed other handshakes meanwhile")
        case .finalACKLost:
            return Judgement(verdict: "\(head) answered by the server (SYN/ACK seen) but never acknowledged by the client: SYN/ACKs lost on the way back, or dropped by the client",
                             certainty: .sure, because: "the SYN/ACKs were captured and no ACK followed")
        case .tableFull:
            return Judgement(verdict: "\(head) closed early: the table of open attempts was full (--max-pending)",
                             certainty: .unsure, because: "tcpeek stopped watching them before they ended")
        case .uncertain:
            return Judgement(verdict: "\(head) unanswered while libpcap dropped packets: the answers may have been among them, so they are not counted against the server",
                             certainty: .unsure, because: "libpcap dropped packets while they were open")
        case .clientGaveUp:
            return Judgement(verdict: "\(head) given up by the client: it reset before any answer",
                             certainty: .sure, because: "the RSTs came from the client's side before a SYN/ACK")
        case .clientRefusedSYNACK:
            return Judgement(verdict: "\(head) the client resetting the server's SYN/ACK: a half-open scan, or clients that had given up",
                             certainty: .sure, because: "the RSTs came from the client's side after the SYN/ACK")
        case .afterRetries, .serverDroppedACK, .inferred, .injectedReset:
            return Judgement(verdict: "\(head) without a failure cause", certainty: .unknown, because: recordedBefore)
        }
    }

    /// The evidence that holds for a whole group, as (label, text) lines.
    public static func evidenceLines(_ g: FailureGroup) -> [(String, String)] {
        var lines: [(String, String)] = [("cause", g.cause ?? "none recorded")]
        var clients = "\(g.clients), SYN TTL \(g.synTTLs.isEmpty ? "unknown" : g.synTTLs.map(String.init).joined(separator: ", "))"
        clients += ", \(g.synsMin == g.synsMax ? "\(g.synsMin)" : "\(g.synsMin)-\(g.synsMax)") \(plural(g.synsMax, "SYN")) each"
        lines.append(("clients", clients))
        if !g.rstTTLs.isEmpty { lines.append(("RST", "TTL " + g.rstTTLs.map(String.init).joined(separator: ", "))) }
        if !g.icmpSenders.isEmpty {
            lines.append(("ICMP", "from " + g.icmpSenders.map { senderText($0, server: g.server) }.joined(separator: ", ")))
        }
        if g.captureDropped > 0 {
            lines.append(("capture", "libpcap dropped packets while \(g.captureDropped) of them were open"))
        }
        lines.append(("server", serverLine(g.serverContext, other: false)))
        lines.append(("sessions", g.sessionIDs.map(String.init).joined(separator: ", ")
            + (g.count > g.sessionIDs.count ? ", … (the newest; 'tcpeek explain ID' for one)" : " ('tcpeek explain ID' for one)")))
        return lines
    }

    /// One line on the successes of a range.
    public static func successLine(_ s: SuccessSummary) -> String {
        var text = "successes: \(s.count)"
        if !s.flags.counts.isEmpty {
            text += "; " + s.flags.counts.map { flag in
                var part = "\(flag.name) \(flag.count)"
                if flag.name == Cause.afterRetries.description, let retry = s.retryMs, retry.thousandths > 0 {
                    part += " (\(duration(retry)) lost to retries)"
                }
                return part
            }.joined(separator: ", ")
        }
        return text
    }

    // MARK: Words

    public static let recordedBefore = "recorded before tcpeek kept evidence (database schema 6): no cause known"

    /// `198.51.100.7:443`, `[2001:db8::1]:443`.
    public static func endpoint(_ address: String, _ port: Int) -> String {
        address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    /// `2.0 s`, `20.000 ms`, `95 µs`.
    static func duration(_ value: WireMilliseconds?) -> String {
        guard let value else { return "?" }
        let ms = value.milliseconds
        if ms >= 1000 { return String(format: "%.1f s", ms / 1000) }
        if ms >= 1 { return String(format: "%.3f ms", ms) }
        return "\(value.thousandths) µs"
    }

    static func plural(_ count: Int, _ noun: String) -> String { count == 1 ? noun : noun + "s" }

    /// A TTL and the hops it suggests from the nearest usual initial TTL
    /// (64, 128, 255): `TTL 61 (~3 hops)`.
    static func ttl(_ value: Int?) -> String {
        guard let value else { return "unknown" }
        let hops = initialTTL(value) - value
        return "\(value) (~\(hops) \(plural(hops, "hop")))"
    }

    static func initialTTL(_ ttl: Int) -> Int { [32, 64, 128, 255].first { $0 >= ttl } ?? 255 }

    /// `1 hop nearer than the server (TTL 64 vs 63)`.
    static func hopComparison(_ rst: Int, to server: Int) -> String {
        let ttls = "(TTL \(rst) vs \(server))"
        guard initialTTL(rst) == initialTTL(server) else {
            return "from another sender than the server \(ttls), which starts from another initial TTL"
        }
        let difference = abs(rst - server)
        return "\(difference) \(plural(difference, "hop")) \(rst > server ? "nearer" : "farther") than the server \(ttls)"
    }

    static func senderText(_ sender: String, server: String) -> String {
        sender == server ? "\(sender) (the server itself)" : "\(sender) (a router, not the server)"
    }

    static func failedWord(_ outcome: String) -> String {
        switch outcome {
        case "timeout": "timed out"
        case "reject": "was rejected"
        case "unreach": "was unreachable"
        case "abort": "was aborted"
        default: outcome
        }
    }

    static func outcomeNoun(_ outcome: String) -> String {
        switch outcome {
        case "unreach": "unreachable"
        default: outcome
        }
    }

    /// `between 14:02:11 and 14:09:40 UTC`; the dates when they differ.
    static func span(_ first: Double, _ last: Double) -> String {
        let a = clock(first), b = clock(last)
        if a == b { return "at \(a.date) \(a.time) UTC" }
        if a.date == b.date { return "between \(a.time) and \(b.time) UTC (\(a.date))" }
        return "between \(a.date) \(a.time) and \(b.date) \(b.time) UTC"
    }

    private static func clock(_ seconds: Double) -> (date: String, time: String) {
        let text = WireTime.text(seconds.rounded(.down))
        return (String(text.prefix(10)), String(text.dropFirst(11).prefix(8)))
    }

    static func serverLine(_ c: ServerContext, other: Bool) -> String {
        var text = "the port completed \(c.completed) \(other ? "other " : "")\(plural(c.completed, "handshake")) from \(c.clients) \(plural(c.clients, "client")) within a minute"
        if !c.synackTTLs.isEmpty {
            // Gathered over every port of the address: a closed port has none of its own.
            text += "; the address's SYN/ACKs came with TTL " + c.synackTTLs.map(String.init).joined(separator: ", ")
        }
        return text
    }

    static func unreachableName(_ cause: Cause) -> String {
        switch cause {
        case .filtered: "administratively prohibited"
        case .noRoute: "no route"
        case .hostUnreachable: "host unreachable"
        case .portUnreachable: "port unreachable"
        default: "protocol unreachable"
        }
    }

    static func unreachableMeaning(_ cause: Cause, senderIsServer: Bool) -> String {
        switch cause {
        case .filtered: "filtered"
        case .noRoute: "no route to the server's network"
        case .hostUnreachable: senderIsServer ? "the server refused it" : "the server is down or gone from its link"
        case .portUnreachable: senderIsServer ? "the server refuses the port" : "a box on the path refuses the port"
        default: "the protocol is refused"
        }
    }

    /// `administratively prohibited (ICMP 3/13)`, by RFC 792/1812 and 4443.
    static func icmpName(type: Int?, code: Int?, isIPv6: Bool) -> String {
        let numbers = "(\(isIPv6 ? "ICMPv6" : "ICMP") \(type.map(String.init) ?? "?")/\(code.map(String.init) ?? "?"))"
        let name: String
        if isIPv6 {
            switch code {
            case 0: name = "no route to destination"
            case 1: name = "administratively prohibited"
            case 2: name = "beyond scope of source address"
            case 3: name = "address unreachable"
            case 4: name = "port unreachable"
            case 5: name = "source address failed ingress/egress policy"
            case 6: name = "reject route to destination"
            default: name = "destination unreachable"
            }
        } else {
            switch code {
            case 0: name = "network unreachable"
            case 1: name = "host unreachable"
            case 2: name = "protocol unreachable"
            case 3: name = "port unreachable"
            case 6: name = "destination network unknown"
            case 7: name = "destination host unknown"
            case 9: name = "network administratively prohibited"
            case 10: name = "host administratively prohibited"
            case 11: name = "network unreachable for TOS"
            case 12: name = "host unreachable for TOS"
            case 13: name = "administratively prohibited"
            default: name = "destination unreachable"
            }
        }
        return "\(name) \(numbers)"
    }
}
