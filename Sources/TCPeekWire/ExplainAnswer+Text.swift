import Foundation

/// `tcpeek explain`'s text (the default format): the verdict first, then
/// how sure it is and the evidence, one labelled line each.
extension ExplainAnswer {
    public var text: String {
        var lines: [String] = []
        if let s = session {
            lines.append("session \(s.id), \(Self.time(s.startedAt)), \(s.outcome)"
                + (s.filters.isEmpty ? "" : ", filters \(s.filters.joined(separator: ","))"))
            lines.append(s.verdict)
            lines.append(Self.labelled("how sure", "\(s.certainty.rawValue): \(s.because)"))
            lines += CauseExplanation.evidenceLines(s).map { Self.labelled($0.0, $0.1) }
            return lines.joined(separator: "\n") + "\n"
        }
        let listed = groups.reduce(0) { $0 + $1.count }
        let range = "from \(from.flatMap(WireTime.seconds).map(Self.time) ?? "?") to \(to.flatMap(WireTime.seconds).map(Self.time) ?? "?")"
        var head = "\(failures) \(CauseExplanation.plural(failures, "failure"))\(subjectText) \(range)"
        if listed < failures {
            head += ", \(listed) of them in the \(groups.count) biggest \(CauseExplanation.plural(groups.count, "group")) below"
        } else if groups.count > 1 {
            head += " in \(groups.count) groups"
        }
        lines.append(head)
        for group in groups {
            lines.append("")
            lines.append(group.verdict)
            lines.append(Self.labelled("how sure", "\(group.certainty.rawValue): \(group.because)"))
            lines += CauseExplanation.evidenceLines(group).map { Self.labelled($0.0, $0.1) }
        }
        if let successes {
            lines.append("")
            lines.append(CauseExplanation.successLine(successes))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// ` to 203.0.113.9:5432`, ` of filter web`, or nothing for every failure.
    var subjectText: String {
        switch subject.kind {
        case "server":
            let server = subject.server ?? "?"
            return " to " + (subject.port.map { CauseExplanation.endpoint(server, $0) } ?? server)
        case "filter": return " of filter " + subject.filters.joined(separator: ", ")
        default: return ""
        }
    }

    /// `  how sure     likely: …`: labels in a column 12 wide.
    static func labelled(_ label: String, _ text: String) -> String {
        "  " + label + String(repeating: " ", count: max(1, 13 - label.count)) + text
    }

    /// `2026-11-27 10:00:00Z`, as `tcpeek query`'s table writes times.
    static func time(_ seconds: Double) -> String {
        WireTime.text(seconds.rounded(.down)).replacingOccurrences(of: "T", with: " ")
    }
}
