import Foundation
import TCPeekCore

extension Timestamp {
    /// The current wall-clock time (live captures' summary bounds only;
    /// the tracker never reads a clock).
    static var wallClock: Timestamp {
        var now = timeval()
        gettimeofday(&now, nil)
        return Timestamp(seconds: Int64(now.tv_sec), microseconds: Int64(now.tv_usec))
    }
}
