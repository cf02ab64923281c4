import ArgumentParser
import TCPeekFleet

/// `tcpeek query --clickhouse URL`: where the fleet's history is, and which
/// host of it (issue 16). The database and the password as `tcpeek ship`
/// takes them (`ClickHouseOptions`): credentials never on the command line.
struct FleetQueryOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Ask the fleet's history in ClickHouse (its HTTP interface, http://HOST:8123/, filled by 'tcpeek ship') "
            + "instead of the database.",
        valueName: "url"))
    var clickhouse: String?

    @OptionGroup var connection: ClickHouseOptions

    @Option(help: ArgumentHelp("With --clickhouse: only the sessions this host shipped (its 'tcpeek ship --host').",
                               valueName: "name"))
    var host: String?

    func validate() throws {
        if let clickhouse {
            // A bad URL (credentials in it), database name, password or CA file is a usage error of `query`.
            _ = try connection.endpoint(url: clickhouse)
            return
        }
        if host != nil { throw ValidationError("--host names a host of the fleet's history: it needs --clickhouse URL") }
        if connection.passwordFile != nil || connection.caFile != nil || connection.database != ClickHouseEndpoint.defaultDatabase {
            throw ValidationError("--clickhouse-database, --clickhouse-password-file and --clickhouse-ca-file need --clickhouse URL")
        }
    }
}
