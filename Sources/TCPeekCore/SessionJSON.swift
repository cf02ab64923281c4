/// One closed attempt as a JSON object on one line (`tcpeek record
/// --json-lines`), the way Zeek's conn.log is read with `jq`. The keys are
/// the `sessions` table's columns (Schema/README.md), with the same values
/// (times in Unix seconds, addresses as text), plus the names of the
/// filters that counted it: a line and a row answer the same questions.
public enum SessionJSON {
    public static func line(_ session: Session, filterNames: [String]) -> String {
        var text = "{\"started_at\":" + seconds(session.startedAt.microseconds)
        text += ",\"duration\":" + seconds(max(0, session.duration.microseconds))
        text += ",\"family\":" + (session.isIPv4 ? "4" : "6")
        text += ",\"client_addr\":\"\(session.client)\",\"client_port\":\(session.clientPort)"
        text += ",\"server_addr\":\"\(session.server)\",\"server_port\":\(session.serverPort)"
        text += ",\"vlan\":" + (session.vlan == .none ? "null" : "\"" + session.vlan.ids.map(String.init).joined(separator: ".") + "\"")
        text += ",\"direction\":" + (session.direction.map { "\"\($0.rawValue)\"" } ?? "null")
        text += ",\"outcome\":\"\(session.outcome)\""
        text += ",\"dup_syn\":\(session.dupSYN),\"dup_synack\":\(session.dupSYNACK)"
        if session.outcome == .unreach {
            text += ",\"icmp_type\":\(session.icmpType),\"icmp_code\":\(session.icmpCode)"
        } else {
            text += ",\"icmp_type\":null,\"icmp_code\":null"
        }
        text += ",\"evicted\":" + (session.wasEvicted ? "1" : "0")
        text += ",\"filters\":[" + session.filters.compactMap { index in
            index < filterNames.count ? Report.jsonString(filterNames[index]) : nil
        }.joined(separator: ",") + "]}"
        return text
    }

    /// Microseconds as seconds with six decimals, exactly (no binary rounding).
    static func seconds(_ microseconds: Int64) -> String {
        let sign = microseconds < 0 ? "-" : ""
        let magnitude = microseconds.magnitude
        let fraction = String(magnitude % 1_000_000)
        return sign + String(magnitude / 1_000_000) + "." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }
}
