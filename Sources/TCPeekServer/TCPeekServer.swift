// TCPeekServer: the UNIX socket protocol (GET, REFRESH, WINDOW, QUERY,
// FILTERS, HELP) and the Prometheus exposition, both on SwiftNIO. They read
// snapshots and the database; they never block the capture thread.
