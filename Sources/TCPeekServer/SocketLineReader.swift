import NIOCore

/// Collects the bytes of one request line: a plain value fed by the
/// connection handler and tested on its own.
public struct SocketLineReader: Sendable {
    public enum Action: Sendable, Equatable {
        /// No whole line yet.
        case needMore
        /// The line, without its `\n` (a `\r` before it stays: the parser drops it).
        case line(String)
        /// More than `limit` bytes without a line end.
        case tooLong
        /// The client closed its side without sending anything.
        case nothing
    }

    private enum State { case reading(ByteBuffer?), done }

    private var state = State.reading(nil)
    /// The most bytes a line may take, its `\n` included.
    public let limit: Int

    public init(limit: Int = SocketRequest.maximumLineLength) {
        self.limit = limit
    }

    /// Takes received bytes. After a line (or `tooLong`) it takes no more:
    /// one request per connection.
    public mutating func received(_ bytes: ByteBuffer) -> Action {
        guard case .reading(let pending) = state else { return .needMore }
        state = .done  // drops the reference: appending below copies nothing
        var buffer: ByteBuffer
        if var earlier = pending {
            var bytes = bytes
            earlier.writeBuffer(&bytes)
            buffer = earlier
        } else {
            buffer = bytes
        }
        let view = buffer.readableBytesView
        if let newline = view.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            guard length + 1 <= limit else { return .tooLong }
            return .line(String(decoding: view[view.startIndex..<newline], as: UTF8.self))
        }
        if buffer.readableBytes >= limit { return .tooLong }
        state = .reading(buffer)
        return .needMore
    }

    /// The client shut its side: what it sent without a line end is the
    /// request (`printf GET | nc -U ...`).
    public mutating func inputClosed() -> Action {
        guard case .reading(let pending) = state else { return .needMore }
        state = .done
        guard let pending, pending.readableBytes > 0 else { return .nothing }
        return .line(String(decoding: pending.readableBytesView, as: UTF8.self))
    }
}
