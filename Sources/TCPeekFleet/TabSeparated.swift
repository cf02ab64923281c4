import NIOCore

/// ClickHouse's TabSeparated format: rows end in `\n`, fields are split by
/// `\t`, and a backslash escapes `\t`, `\n`, `\\` and a few others inside a
/// field; NULL is `\N`.
public enum TabSeparated {
    /// The rows of an answer, each field unescaped (NULL stays `\N`).
    public static func rows(_ buffer: ByteBuffer) -> [[String]] {
        let bytes = buffer.readableBytesView
        var rows: [[String]] = []
        var row: [String] = []
        var field: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\t"):
                row.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
            case UInt8(ascii: "\n"):
                row.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                rows.append(row)
                row = []
            case UInt8(ascii: "\\") where bytes.index(after: index) < bytes.endIndex:
                index = bytes.index(after: index)
                let escaped = bytes[index]
                switch escaped {
                case UInt8(ascii: "t"): field.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "n"): field.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "r"): field.append(UInt8(ascii: "\r"))
                case UInt8(ascii: "0"): field.append(0)
                case UInt8(ascii: "b"): field.append(8)
                case UInt8(ascii: "f"): field.append(12)
                case UInt8(ascii: "N"): field.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
                default: field.append(escaped)
                }
            default:
                field.append(byte)
            }
            index = bytes.index(after: index)
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(String(decoding: field, as: UTF8.self))
            rows.append(row)
        }
        return rows
    }
}
