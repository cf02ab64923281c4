/// The exposition formats `/metrics` can answer in, chosen from the
/// scraper's `Accept` header.
public enum MetricsFormat: String, Sendable, CaseIterable {
    /// The Prometheus text format 0.0.4 (what swift-prometheus writes).
    case prometheusText = "text"
    /// OpenMetrics 1.0.0 text, which Prometheus asks for first.
    case openMetrics = "openmetrics"

    /// The `Content-Type` of an answer in this format.
    public var contentType: String {
        switch self {
        case .prometheusText: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// The format an `Accept` header asks for: OpenMetrics when it lists
    /// `application/openmetrics-text` with a quality at least that of any
    /// text or wildcard range, else the Prometheus text format (also with
    /// no header at all).
    public static func negotiate(accept: String?) -> MetricsFormat {
        guard let accept else { return .prometheusText }
        var openMetricsQuality = 0.0
        var textQuality = 0.0
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.filter { $0 != " " && $0 != "\t" }.lowercased() }
            guard let mediaType = parts.first, !mediaType.isEmpty else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                quality = Double(parameter.dropFirst(2)) ?? 0
            }
            switch mediaType {
            case "application/openmetrics-text": openMetricsQuality = max(openMetricsQuality, quality)
            case "text/plain", "text/*", "*/*": textQuality = max(textQuality, quality)
            default: break
            }
        }
        return openMetricsQuality > 0 && openMetricsQuality >= textQuality ? .openMetrics : .prometheusText
    }

    /// Rewrites a Prometheus text exposition as OpenMetrics: a counter's
    /// family is named without its `_total` suffix (the samples keep it), a
    /// gauge named `*_info` becomes an `info` family named without the
    /// suffix, and the text ends with `# EOF`. Every other line is the same
    /// in both formats for what swift-prometheus writes (counters must be
    /// named `*_total`, which the exporter guarantees).
    public static func openMetrics(fromPrometheusText text: [UInt8]) -> [UInt8] {
        // HELP comes before TYPE, so the types are collected first.
        var renames: [Substring: (family: Substring, type: Substring)] = [:]
        let lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        for line in lines {
            let words = Substring(decoding: line, as: UTF8.self).split(separator: " ", maxSplits: 3)
            guard words.count == 4, words[0] == "#", words[1] == "TYPE" else { continue }
            let name = words[2]
            if words[3] == "counter", name.hasSuffix("_total") {
                renames[name] = (name.dropLast("_total".count), "counter")
            } else if words[3] == "gauge", name.hasSuffix("_info") {
                renames[name] = (name.dropLast("_info".count), "info")
            }
        }
        var output: [UInt8] = []
        output.reserveCapacity(text.count + 16)
        for line in lines {
            let string = Substring(decoding: line, as: UTF8.self)
            let words = string.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            if words.count >= 3, words[0] == "#", words[1] == "TYPE" || words[1] == "HELP" {
                let rename = renames[words[2]]
                let family = rename?.family ?? words[2]
                if words[1] == "TYPE" {
                    output.append(contentsOf: "# TYPE \(family) \(rename?.type ?? (words.count == 4 ? words[3] : ""))\n".utf8)
                } else {
                    // OpenMetrics also escapes double quotes in HELP.
                    let help = words.count == 4 ? words[3].replacing("\"", with: "\\\"") : ""
                    output.append(contentsOf: "# HELP \(family) \(help)\n".utf8)
                }
                continue
            }
            output.append(contentsOf: line)
            output.append(UInt8(ascii: "\n"))
        }
        output.append(contentsOf: "# EOF\n".utf8)
        return output
    }
}
