import ArgumentParser
import TCPeekFleet

/// How to reach ClickHouse, beside its URL: the database and where the
/// password is (`tcpeek ship`, `tcpeek record --ship`). Credentials never
/// come from the command line.
struct ClickHouseOptions: ParsableArguments {
    @Option(name: .customLong("clickhouse-database"), help: "The ClickHouse database holding tcpeek's tables.")
    var database: String = ClickHouseEndpoint.defaultDatabase

    @Option(name: .customLong("clickhouse-password-file"), help: ArgumentHelp(
        "A file whose first line is the ClickHouse password (else $\(ClickHouseEndpoint.passwordVariable); the user is $\(ClickHouseEndpoint.userVariable), default 'default').",
        valueName: "path"))
    var passwordFile: String?

    @Option(name: .customLong("clickhouse-ca-file"), help: ArgumentHelp(
        "With an https:// URL: a PEM file of the CA certificates to trust for ClickHouse's certificate, instead of the system's roots.",
        valueName: "path"))
    var caFile: String?

    /// The endpoint of `url`; a bad URL, name, password or CA file is a usage error.
    func endpoint(url: String) throws -> ClickHouseEndpoint {
        do {
            return try ClickHouseEndpoint.parse(url: url, database: database, passwordFile: passwordFile, caFile: caFile)
        } catch {
            throw ValidationError(error.description)
        }
    }
}
