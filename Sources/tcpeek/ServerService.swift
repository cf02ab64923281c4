import ServiceLifecycle
import TCPeekServer

/// The UNIX socket server or the metrics server. Each is bound before the
/// group starts (before privileges are dropped) and serves on its own
/// threads; the service keeps it until its turn to stop, after the capture,
/// the recorder and the summary, so that the final figures stay readable
/// to the last. Stopping removes what it created (the socket file).
struct ServerService: Service {
    let server: any RunningServer

    func run() async {
        try? await gracefulShutdown()
        server.stop()
    }
}
