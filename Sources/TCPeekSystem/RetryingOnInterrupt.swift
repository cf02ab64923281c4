#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Calls `call` again for as long as it fails with `EINTR`.
///
/// A signal that arrives while a system call waits (SIGINT for the summary,
/// SIGCHLD from a gmetric child, the lifecycle's own signals) makes the call
/// return -1 having done nothing; that is not a failure of the call, so every
/// blocking call in tcpeek goes through here rather than a loop of its own.
/// Returns the first result that is not an interrupted failure; `errno` is
/// still the call's when that result is negative.
@inlinable
public func retryingOnInterrupt<Result: SignedInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result < 0, errno == EINTR { continue }
        return result
    }
}
