/// Column layouts for the terminal: `tcpeek query`'s and `tcpeekstat`'s
/// tables and the original's fixed-width fields.
public enum TextTable {
    /// `rows` (the first is the header) in columns two spaces apart, each as
    /// wide as its widest cell, right-aligned but for `leftAligned`; no
    /// line ends in spaces.
    public static func render(_ rows: [[String]], leftAligned: Set<Int>) -> String {
        let columns = rows.map(\.count).max() ?? 0
        var widths = Array(repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            var line = ""
            for (i, cell) in row.enumerated() {
                if i > 0 { line += "  " }
                line += leftAligned.contains(i) ? padRight(cell, widths[i]) : padLeft(cell, widths[i])
            }
            while line.last == " " { line.removeLast() }
            return line
        }.joined(separator: "\n") + "\n"
    }

    /// C's `%Ns`: `text` right-aligned in `width` characters, never cut.
    public static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// C's `%-Ns`: `text` left-aligned in `width` characters, never cut.
    public static func padRight(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// C's `%0Nd`.
    public static func zeroPad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
