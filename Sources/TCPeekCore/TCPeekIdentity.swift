/// What `tcpeek` and `tcpeekstat` must agree on: one definition each.
public enum TCPeekIdentity {
    public static let version = "0.1.0"

    /// The socket path when `-U` is not given: `/var/run/tcpeek/tcpeek.sock`
    /// for root, otherwise `$XDG_RUNTIME_DIR/tcpeek.sock`, or
    /// `/tmp/tcpeek-<uid>/tcpeek.sock` without `XDG_RUNTIME_DIR`.
    public static func defaultSocketPath(euid: UInt32, runtimeDirectory: String?) -> String {
        if euid == 0 { return "/var/run/tcpeek/tcpeek.sock" }
        if let runtimeDirectory, !runtimeDirectory.isEmpty { return runtimeDirectory + "/tcpeek.sock" }
        return "/tmp/tcpeek-\(euid)/tcpeek.sock"
    }
}
