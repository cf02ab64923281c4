import Synchronization
import TCPeekCore

/// Sessions the recorder has just committed to `sessions`, with their ids.
public struct CommittedSessions: Sendable {
    public let runID: Int64
    /// The id of `sessions[0]`; the others follow one by one.
    public let firstID: Int64
    /// In id order.
    public let sessions: [Session]

    public var lastID: Int64 { firstID + Int64(sessions.count) - 1 }
}

/// Hands what the recorder commits to a shipper in the same process
/// (`tcpeek record --ship`), so that the shipper encodes sessions it
/// already has instead of reading them back from the database: reading
/// them back cost the recorder half again its CPU.
///
/// Bounded: past `capacity` sessions (ClickHouse down or slow) a batch is
/// not kept, and the shipper reads that stretch from the database, which
/// has every committed session anyway. The feed is only ever a shortcut.
public final class CommittedSessionFeed: Sendable {
    private struct State {
        var batches: [CommittedSessions] = []
        var count = 0
        /// Arrays of batches the shipper is done with, emptied, for the
        /// next batches: fresh memory for every commit cost the recorder
        /// more in page faults than copying the sessions.
        var spare: [[Session]] = []
    }

    /// Spare arrays kept at most.
    private static let spareArrays = 16

    public let capacity: Int
    private let state = Mutex(State())

    /// 96 MiB of sessions (786,432): a shipper that keeps up holds one or
    /// two INSERTs' worth (100,000 sessions each); a file read faster than
    /// ClickHouse takes it, or a ClickHouse that stalls for seconds on a
    /// busy host, fills it, and the rest is read back from the database.
    public static let defaultCapacity = 96 << 20 / MemoryLayout<Session>.stride

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// Sessions held now.
    public var count: Int { state.withLock { $0.count } }

    /// An empty array for a batch of `count` sessions, one the shipper is
    /// done with when there is one.
    public func emptyArray(capacity count: Int) -> [Session] {
        var array = state.withLock { $0.spare.popLast() } ?? []
        array.removeAll(keepingCapacity: true)
        array.reserveCapacity(count)
        return array
    }

    /// Called by the recorder's writer after each commit.
    public func post(_ batch: CommittedSessions) {
        guard !batch.sessions.isEmpty else { return }
        state.withLock { state in
            guard state.count + batch.sessions.count <= capacity else { return }
            state.batches.append(batch)
            state.count += batch.sessions.count
        }
    }

    /// Up to `limit` sessions from id `after + 1` on, in id order, as
    /// slices of the committed batches; empty when the feed does not hold
    /// that id (the shipper then reads the database). Batches up to
    /// `after` are dropped: the shipper never asks for them again (after a
    /// failure it reads them from the database).
    public func take(after id: Int64, limit: Int) -> [(runID: Int64, firstID: Int64, sessions: ArraySlice<Session>)] {
        state.withLock { state in
            var dropped = 0
            while dropped < state.batches.count, state.batches[dropped].lastID <= id { dropped += 1 }
            if dropped > 0 {
                for batch in state.batches[..<dropped] {
                    state.count -= batch.sessions.count
                    if state.spare.count < Self.spareArrays { state.spare.append(batch.sessions) }
                }
                state.batches.removeFirst(dropped)
            }
            var taken: [(runID: Int64, firstID: Int64, sessions: ArraySlice<Session>)] = []
            var next = id + 1
            var left = limit
            for batch in state.batches {
                guard left > 0, batch.firstID <= next, batch.lastID >= next else { break }
                let start = Int(next - batch.firstID)
                let end = min(batch.sessions.count, start + left)
                taken.append((batch.runID, next, batch.sessions[start..<end]))
                left -= end - start
                next += Int64(end - start)
            }
            return taken
        }
    }

    /// The first id held, if any: the shipper reads up to it from the database.
    public var firstID: Int64? { state.withLock { $0.batches.first?.firstID } }
}
