import Foundation
import TCPeekText
import TCPeekWire

/// The readable outputs of tcpeekstat.
enum StatOutput {
    /// `GET` in the original tcpeekstat's block layout, its default: a block
    /// per filter, then libpcap's figures, each item as `%-10s %10s`.
    ///
    /// The original (a Python 2 script) printed the keys of tcpeek's JSON in
    /// the order of Python 2.7's dictionaries, not the document's; scripts
    /// that read the blocks by position saw that order, so it is kept here,
    /// one list per section. Keys a newer tcpeek adds follow, sorted.
    static func blocks(_ counts: CountsAnswer) -> String {
        var lines = ["====== TCPEEK SUMMARY ======"]
        func block(_ name: String, _ sections: [(name: String, figures: [(key: String, value: UInt64)], order: [String])]) {
            lines += ["----------------------------", " " + name, "----------------------------"]
            for section in sections {
                lines.append(" " + section.name)
                let items = Dictionary(section.figures, uniquingKeysWith: { first, _ in first })
                let known = section.order.filter { items[$0] != nil }
                let others = items.keys.filter { !section.order.contains($0) }.sorted()
                for item in known + others {
                    let value = String(items[item] ?? 0)
                    lines.append("     " + TextTable.padRight(item, 10) + " " + TextTable.padLeft(value, 10))
                }
            }
        }
        for filter in counts.filters {
            block(filter.name, [("failure", filter.failure.figures, python2Order.failure),
                                ("success", filter.success.figures, python2Order.success)])
        }
        if let pcap = counts.pcap {
            block("pcap", [("stats", pcap.figures, python2Order.stats)])
        }
        lines.append("============================")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Where Python 2.7 put these keys (checked with its interpreter on
    /// tcpeek's answers; its string hash and 8-slot tables fix the order).
    static let python2Order = (
        failure: ["unreach", "total", "abort", "timeout", "reject"],
        success: ["total", "dupsyn", "dupsynack"],
        stats: ["ifdrop", "drop", "recv"]
    )

    /// `GET` with `--table`: one row per filter, then libpcap's figures.
    static func counts(_ counts: CountsAnswer) -> String {
        var table = [["FILTER", "SUCCESS", "DUPSYN", "DUPS/A", "FAILURE", "TIMEOUT", "REJECT", "UNREACH", "ABORT"]]
        for filter in counts.filters {
            let s = filter.success, f = filter.failure
            table.append([filter.name, text(s.total), text(s.dupsyn), text(s.dupsynack), text(f.total),
                          text(f.timeout), text(f.reject), text(f.unreach), text(f.abort)])
        }
        var output = TextTable.render(table, leftAligned: [0])
        if let pcap = counts.pcap {
            output += "\npcap: recv \(pcap.recv), drop \(pcap.drop), ifdrop \(pcap.ifdrop)\n"
        }
        return output
    }

    /// `WINDOW` and `QUERY`: one row per filter and time bucket.
    static func aggregates(_ rows: [AggregateAnswer]) -> String {
        var table = [["FILTER", "FROM", "TO", "SUCCESS", "DUPSYN", "DUPS/A", "FAILURE", "TIMEOUT", "REJECT", "UNREACH",
                      "ABORT", "P50 ms", "P95 ms", "P99 ms"]]
        for row in rows {
            let s = row.success, f = row.failure, times = row.handshakeMilliseconds
            table.append([row.filter, row.from, row.to, text(s.total), text(s.dupsyn), text(s.dupsynack),
                          text(f.total), text(f.timeout), text(f.reject), text(f.unreach), text(f.abort),
                          milliseconds(times.p50), milliseconds(times.p95), milliseconds(times.p99)])
        }
        return TextTable.render(table, leftAligned: [0, 1, 2])
    }

    /// `STATUS`: one figure a line, the summary's wording.
    static func status(_ status: StatusAnswer) -> String {
        let a = status.attempts
        var rows: [(String, String)] = [
            ("source", "\(status.source.kind) \(status.source.name)"),
            ("started", status.started),
            ("first packet", status.firstPacket ?? "-"),
            ("last packet", status.lastPacket ?? "-"),
            ("packets", String(status.packets)),
            ("still open", String(a.open)),
            ("evicted", String(a.evicted)),
            ("malformed packets", String(a.malformedPackets)),
            ("not recorded", a.notRecorded.map(String.init) ?? "- (no database)"),
        ]
        if let pcap = status.pcap {
            rows.append(("pcap", "recv \(pcap.recv), drop \(pcap.drop), ifdrop \(pcap.ifdrop)"))
        }
        rows.append(("version", "tcpeek \(status.version), \(status.libpcap)"))
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { TextTable.padRight($0.0, width) + " : " + $0.1 }.joined(separator: "\n") + "\n"
    }

    private static func text(_ value: UInt64?) -> String { value.map(String.init) ?? "-" }

    private static func milliseconds(_ value: WireMilliseconds?) -> String {
        guard let value else { return "-" }
        return String(format: "%.3f", value.milliseconds)
    }
}
