import TCPeekCore

/// What the servers (UNIX socket, Prometheus) may read of a running
/// recorder. Every accessor is safe from any thread and never blocks the
/// capture: snapshots are copied under short locks.
public struct LiveContext: Sendable {
    /// The counting filters, in order (index = bit of `Session.filters`).
    public var filters: [Filter]
    /// The filter definitions as given (exclusions included), for `FILTERS`.
    public var exclusions: [Filter]
    /// The capture's latest figures.
    public var snapshot: @Sendable () -> CaptureSnapshot
    /// Sessions that will never reach the database (0 without one).
    public var notRecorded: @Sendable () -> UInt64
    /// The history database, when recording (read it with
    /// `HistoryDatabase.openForReading`).
    public var databasePath: String?
    /// Where the capture runs: interface name or file path.
    public var source: String
    public var version: String
    public var libpcapVersion: String

    public init(filters: [Filter], exclusions: [Filter], snapshot: @escaping @Sendable () -> CaptureSnapshot,
                notRecorded: @escaping @Sendable () -> UInt64, databasePath: String?, source: String,
                version: String, libpcapVersion: String) {
        self.filters = filters
        self.exclusions = exclusions
        self.snapshot = snapshot
        self.notRecorded = notRecorded
        self.databasePath = databasePath
        self.source = source
        self.version = version
        self.libpcapVersion = libpcapVersion
    }
}
