// A throwaway certificate authority and a server certificate it signed for
// 127.0.0.1 (an IP subjectAltName, which is what a client checks for an
// address), made with Debian's `openssl` command: for ClickHouseTestServer's
// https port and `--clickhouse-ca-file`. P-256 keys take milliseconds;
// ClickHouse 18.16 needs no DH parameters with them (ECDHE).
import Foundation

struct ClickHouseTestCertificates {
    /// The CA's certificate (PEM): what `--clickhouse-ca-file` is given.
    let caFile: String
    let certificateFile: String
    let privateKeyFile: String

    /// Writes `<name>-ca.pem`, `<name>.crt` and `<name>.key` into `folder`;
    /// the certificate is for `subjectAltName` (OpenSSL's syntax).
    init(in folder: String, name: String = "server", commonName: String = "tcpeek test CA",
         subjectAltName: String = "IP:127.0.0.1") throws {
        caFile = folder + "/\(name)-ca.pem"
        certificateFile = folder + "/\(name).crt"
        privateKeyFile = folder + "/\(name).key"
        let caKey = folder + "/\(name)-ca.key"
        let request = folder + "/\(name).csr"
        let extensions = folder + "/\(name).ext"
        try "subjectAltName=\(subjectAltName)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + key + ["-keyout", caKey, "-out", caFile, "-days", "2", "-subj", "/CN=\(commonName)"], in: folder)
        try Self.openssl(["req"] + key + ["-keyout", privateKeyFile, "-out", request, "-subj", "/CN=127.0.0.1"], in: folder)
        try Self.openssl(["x509", "-req", "-in", request, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial",
                          "-out", certificateFile, "-days", "2", "-extfile", extensions], in: folder)
    }

    /// `/usr/bin/openssl`, or nil when the package is missing.
    static var binary: String? {
        let candidate = "/usr/bin/openssl"
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    private static func openssl(_ arguments: [String], in folder: String) throws {
        guard let binary else { throw StoreTestError("openssl is missing: install the Debian package openssl (make deps, as root)") }
        let child = try ReapedChild([binary] + arguments, in: folder)
        guard child.waitForExitBlocking(timeout: 30), child.exitStatus == 0 else {
            child.signal(SIGKILL)
            throw StoreTestError("openssl failed:\n\(child.transcript)")
        }
    }
}
