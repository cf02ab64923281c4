import Foundation

/// The readable outputs of tcpeekstat.
enum StatOutput {
    /// `GET` in the original tcpeekstat's block layout, its default: a block
    /// per filter, then libpcap's figures, each item as `%-10s %10s`.
    ///
    /// The original (a Python 2 script) printed the keys of tcpeek's JSON in
    /// the order of Python 2.7's dictionaries, not the document's; scripts
    /// that read the blocks by position saw that order, so it is kept here,
    /// one list per section. Keys a newer tcpeek adds follow, sorted.
    static func blocks(_ counts: StatAnswer.Counts) -> String {
        var lines = ["====== TCPEEK SUMMARY ======"]
        func block(_ name: String, _ sections: [(name: String, items: [String: UInt64], order: [String])]) {
            lines += ["----------------------------", " " + name, "----------------------------"]
            for section in sections {
                lines.append(" " + section.name)
                let known = section.order.filter { section.items[$0] != nil }
                let others = section.items.keys.filter { !section.order.contains($0) }.sorted()
                for item in known + others {
                    let value = String(section.items[item] ?? 0)
                    lines.append("     " + padRight(item, 10) + " " + padLeft(value, 10))
                }
            }
        }
        for filter in counts.filters {
            block(filter.name, [("failure", filter.failure, python2Order.failure), ("success", filter.success, python2Order.success)])
        }
        if let pcap = counts.pcap {
            block("pcap", [("stats", pcap, python2Order.stats)])
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
    static func counts(_ counts: StatAnswer.Counts) -> String {
        var table = [["FILTER", "SUCCESS", "DUPSYN", "DUPS/A", "FAILURE", "TIMEOUT", "REJECT", "UNREACH", "ABORT"]]
        for filter in counts.filters {
            let s = filter.success, f = filter.failure
            table.append([filter.name, text(s["total"]), text(s["dupsyn"]), text(s["dupsynack"]), text(f["total"]),
                          text(f["timeout"]), text(f["reject"]), text(f["unreach"]), text(f["abort"])])
        }
        var output = render(table)
        if let pcap = counts.pcap {
            output += "\npcap: recv \(text(pcap["recv"])), drop \(text(pcap["drop"])), ifdrop \(text(pcap["ifdrop"]))\n"
        }
        return output
    }

    /// `WINDOW` and `QUERY`: one row per filter and time bucket.
    static func aggregates(_ rows: [StatAnswer.Aggregate]) -> String {
        var table = [["FILTER", "FROM", "TO", "SUCCESS", "DUPSYN", "DUPS/A", "FAILURE", "TIMEOUT", "REJECT", "UNREACH",
                      "ABORT", "P50 ms", "P95 ms", "P99 ms"]]
        for row in rows {
            let s = row.success, f = row.failure
            table.append([row.filter, row.from, row.to, text(s["total"]), text(s["dupsyn"]), text(s["dupsynack"]),
                          text(f["total"]), text(f["timeout"]), text(f["reject"]), text(f["unreach"]), text(f["abort"]),
                          milliseconds(row.handshake["p50"]), milliseconds(row.handshake["p95"]),
                          milliseconds(row.handshake["p99"])])
        }
        return render(table, leftAligned: [0, 1, 2])
    }

    /// `STATUS`: one figure a line, the summary's wording.
    static func status(_ status: StatAnswer.Status) -> String {
        let a = status.attempts
        var rows: [(String, String)] = [
            ("source", "\(status.sourceKind) \(status.source)"),
            ("started", status.started),
            ("first packet", status.firstPacket ?? "-"),
            ("last packet", status.lastPacket ?? "-"),
            ("packets", String(status.packets)),
            ("still open", text(a["open"])),
            ("evicted", text(a["evicted"])),
            ("malformed packets", text(a["malformed_packets"])),
            ("not recorded", a["not_recorded"].map(String.init) ?? "- (no database)"),
        ]
        if let pcap = status.pcap {
            rows.append(("pcap", "recv \(text(pcap["recv"])), drop \(text(pcap["drop"])), ifdrop \(text(pcap["ifdrop"]))"))
        }
        rows.append(("version", "tcpeek \(status.version), \(status.libpcap)"))
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + " : " + $0.1 }.joined(separator: "\n") + "\n"
    }

    private static func text(_ value: UInt64?) -> String { value.map(String.init) ?? "-" }

    /// Python's `%-Ns`.
    private static func padRight(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// Python's `%Ns`.
    private static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    private static func milliseconds(_ value: Double??) -> String {
        guard let value, let value else { return "-" }
        return String(format: "%.3f", value)
    }

    static func render(_ table: [[String]], leftAligned: Set<Int> = [0]) -> String {
        let columns = table.map(\.count).max() ?? 0
        var widths = Array(repeating: 0, count: columns)
        for row in table { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return table.map { row in
            var line = ""
            for (i, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[i] - cell.count)
                if i > 0 { line += "  " }
                line += leftAligned.contains(i) ? cell + (i == row.count - 1 ? "" : padding) : padding + cell
            }
            return line
        }.joined(separator: "\n") + "\n"
    }
}
