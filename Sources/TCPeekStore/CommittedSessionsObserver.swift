import TCPeekCore

/// Hears of each batch the recorder commits to `sessions`, in the writer's
/// thread right after the commit, while its sessions are still in the
/// cache: a shipper in the same process (`tcpeek record --ship`) encodes
/// them there instead of reading them back from the database.
public protocol CommittedSessionsObserver: Sendable {
    /// `sessions[idOrder[k]]` is the row of id `firstID + k`; `filterNames`
    /// are the run's filters by bit.
    func committed(runID: Int64, filterNames: [String], firstID: Int64, sessions: ArraySlice<Session>, idOrder: [Int])
}
