import Synchronization

/// A value one service sets once and others await: how the capture ended,
/// that the recorder has written everything. Whoever owns one sets it on
/// every path, or its waiters wait for ever.
final class Eventually<Value: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Value, Never>])
        case set(Value)
    }

    private let state = Mutex(State.waiting([]))

    init() {}

    /// Sets the value and wakes every waiter; later calls are ignored.
    func resolve(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .set(value)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// The value, once set.
    var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Value? in
                    switch state {
                    case .waiting(let waiters):
                        state = .waiting(waiters + [continuation])
                        return nil
                    case .set(let value):
                        return value
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    /// The value if it is set already.
    var current: Value? {
        state.withLock { state in
            if case .set(let value) = state { return value }
            return nil
        }
    }
}
