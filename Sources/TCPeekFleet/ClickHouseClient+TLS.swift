import NIOSSL

/// TLS for an https endpoint: whom to trust, and its failures in words.
extension ClickHouseClient {
    /// The client's TLS settings: the system's roots (AsyncHTTPClient's
    /// default, nil), or only the CAs of `--clickhouse-ca-file`.
    static func tlsConfiguration(_ endpoint: ClickHouseEndpoint) -> TLSConfiguration? {
        guard endpoint.caFile != nil else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(endpoint.caCertificates)
        return tls
    }

    /// A transport error in words an operator recognises.
    func describe(_ error: any Error) -> String {
        if let error = error as? NIOSSLError { return describeTLS(error) }
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "the server's TLS certificate is not for \(endpoint.host) (its CA is trusted, but it names other hosts):"
                + " give ClickHouse's URL with a name (or address) its certificate holds"
        }
        return Self.describe(error)
    }

    /// A TLS failure: an untrusted certificate names the option that fixes
    /// it; anything else in the handshake is most often an https URL given
    /// ClickHouse's plain http port.
    private func describeTLS(_ error: NIOSSLError) -> String {
        let reasons: [String]
        switch error {
        case let .handshakeFailed(.sslError(stack)), let .handshakeFailed(.unknownError(stack)):
            reasons = stack.map { Self.reason("\($0)") }
        case .uncleanShutdown: reasons = ["the server closed the connection"]
        default: reasons = ["\(error)"]
        }
        if reasons.contains("certificate verify failed") {
            let trusted = endpoint.caFile.map { "the CA file \($0)" } ?? "the system's root certificates"
            return "the server's TLS certificate is not trusted (\(trusted) did not verify it for \(endpoint.host)):"
                + " give the PEM file of the CA that signed it with --clickhouse-ca-file"
        }
        return "the TLS handshake failed (\(reasons.joined(separator: "; "))): is port \(endpoint.port) ClickHouse's https port"
            + " (https_port, usually 8443)? Its http port (8123) takes an http:// URL"
    }

    /// BoringSSL's reason in words: `Error: 268435703 error:100000f7:SSL
    /// routines:OPENSSL_internal:WRONG_VERSION_NUMBER at FILE:LINE` is
    /// "wrong version number".
    static func reason(_ text: String) -> String {
        guard let start = text.range(of: "OPENSSL_internal:") else { return text }
        let code = text[start.upperBound...].prefix { $0 != " " }
        return code.lowercased().replacingOccurrences(of: "_", with: " ")
    }
}
