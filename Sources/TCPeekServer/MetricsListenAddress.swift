/// Where the metrics server listens: `--metrics-listen ADDR:PORT`.
///
/// `ADDR` is an IPv4 address, an IPv6 address in brackets or a host name;
/// `PORT` is 0–65535 (0 picks a free port, logged at start).
public struct MetricsListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host part without brackets (`::`, `127.0.0.1`, `localhost`).
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:9465`, `[::]:9465` or `localhost:9465`.
    public init(parsing text: String) throws(MetricsListenAddressError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .init(text, "missing ']' after the IPv6 address") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else { throw .init(text, "expected ':PORT' after ']'") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .init(text, "expected ADDR:PORT") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw .init(text, "put an IPv6 address in brackets, as in [::1]:9465") }
        }
        guard !host.isEmpty else { throw .init(text, "the address is empty; use 0.0.0.0 or [::] for every interface") }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), let port = Int(portText), (0...65535).contains(port) else {
            throw .init(text, "the port must be a number from 0 to 65535")
        }
        self.host = String(host)
        self.port = port
    }

    /// The address as given on the command line (IPv6 in brackets).
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// A `--metrics-listen` value that is not `ADDR:PORT`.
public struct MetricsListenAddressError: Error, CustomStringConvertible, Equatable {
    public var text: String
    public var reason: String

    init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }

    public var description: String { "--metrics-listen '\(text)': \(reason)" }
}
