import Foundation
import Logging
import Synchronization
import TCPeekCore
import TCPeekStore
import TCPeekWire

/// Answers the socket's requests: `GET`, `REFRESH` and `STATUS` from the
/// capture's snapshot, `WINDOW` from the in-memory ring and the database, `QUERY`
/// from the database. Safe from any thread; it never touches the capture
/// thread's state (it reads `LiveContext.snapshot()` and the database).
public final class SocketResponder: Sendable {
    public let context: LiveContext
    /// Whether the capture is live (`WINDOW` then ends at the wall clock;
    /// for a file it ends at the capture's last packet).
    public let isLive: Bool
    /// When this recorder started: sessions of a live capture start later,
    /// so older ones are the database's.
    public let startedAt: Timestamp
    private let recent: Mutex<SocketRecentSessions>
    /// The counters at the previous `REFRESH`.
    private let refreshBase: Mutex<[FilterCounters]>
    /// Opened on first use (the recorder creates the file).
    private let database = Mutex<HistoryDatabase?>(nil)
    private let wallClock: @Sendable () -> Double
    private let logger: Logger

    public init(context: LiveContext, isLive: Bool, recent: SocketRecentSessions = SocketRecentSessions(),
                wallClock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }, logger: Logger) {
        self.context = context
        self.isLive = isLive
        self.wallClock = wallClock
        self.startedAt = Timestamp(microseconds: Int64((wallClock() * 1_000_000).rounded(.down)))
        self.recent = Mutex(recent)
        self.refreshBase = Mutex(Array(repeating: FilterCounters(), count: context.filters.count))
        self.logger = logger
    }

    /// Adds closed sessions to the ring (the server's feed thread).
    public func record(_ batch: [Session]) {
        recent.withLock { $0.append(contentsOf: batch) }
    }

    /// Some sessions never reached the ring (its hand-off was full): from
    /// now on `WINDOW` takes everything older from the database.
    public func lostSessions(_ count: UInt64) {
        let snapshot = context.snapshot()
        let now = Timestamp(microseconds: Int64((wallClock() * 1_000_000).rounded(.down)))
        let latest = isLive ? Timestamp.latest(now, snapshot.lastPacket ?? now) : (snapshot.lastPacket ?? now)
        recent.withLock { $0.lostSessions(closedBy: latest) }
        logger.warning("socket: sessions lost on their way to the WINDOW ring; older ones now come from the database",
                       metadata: ["socket.lost": "\(count)"])
    }

    /// Whether answering `request` may wait for the database (then run it
    /// off the event loop).
    public static func readsDatabase(_ request: SocketRequest) -> Bool {
        switch request {
        case .window, .query: true
        case .get, .refresh, .status, .filters, .help: false
        }
    }

    /// The JSON answer to `request`, or `{"error":"..."}`.
    public func answer(_ request: SocketRequest) -> String {
        switch request {
        case .get: return get()
        case .refresh: return refresh()
        case .window(let seconds): return window(seconds: seconds)
        case .query(let query): return self.query(query)
        case .filters: return filters()
        case .status: return status()
        case .help: return help()
        }
    }

    /// `{"error":"..."}`.
    public static func error(_ message: String) -> String {
        WireJSON.text(ErrorAnswer(error: message))
    }

    // MARK: GET, REFRESH

    func get() -> String {
        let snapshot = context.snapshot()
        return CountsAnswer.getJSON(filters: context.filters, counters: snapshot.counters,
                              capture: snapshot.capture)
    }

    func refresh() -> String {
        // The snapshot is taken under the lock: two REFRESHes at once never
        // count the same session twice.
        let deltas = refreshBase.withLock { base in
            let now = context.snapshot().counters.perFilter
            let deltas = zip(now, base).map { $0 - $1 }
            base = now
            return deltas
        }
        return CountsAnswer.refreshJSON(filters: context.filters, deltas: deltas)
    }

    // MARK: STATUS

    /// The capture's state (`SocketStatus`), from the snapshot `GET` reads.
    func status() -> String {
        SocketStatus(context: context, snapshot: context.snapshot(), isLive: isLive, startedAt: startedAt).json
    }

    // MARK: WINDOW

    func window(seconds: Double) -> String {
        let snapshot = context.snapshot()
        // The window ends now: the wall clock live, the last packet's
        // (next whole) second in a file, whose sessions are in packet time.
        let until: Double
        if isLive {
            until = wallClock()
        } else if let last = snapshot.lastPacket {
            until = (last.seconds + 1).rounded(.down)
        } else {
            until = wallClock()
        }
        let since = until - seconds
        // Memory answers for the sessions started at or after `split`: it
        // holds all of those, and none of them is the database's to count.
        let runStart = isLive ? startedAt : (snapshot.firstPacket ?? microseconds(until))
        let filterCount = context.filters.count
        let (split, memory) = recent.withLock { ring in
            let split = max(Timestamp.latest(ring.coveredFrom, runStart).seconds, since)
            return (split, ring.aggregate(filterCount: filterCount, from: microseconds(split), until: microseconds(until)))
        }
        var rows = context.filters.indices.map { index in
            AggregateRow(filter: context.filters[index].name, from: since, to: until, counters: memory[index].counters,
                         handshakes: memory[index].handshakes, causes: memory[index].causes)
        }
        guard split > since else { return HistoryJSON.aggregates(rows) }
        guard context.databasePath != nil else {
            // Without a database the window starts where memory does.
            for index in rows.indices { rows[index].from = split }
            return HistoryJSON.aggregates(rows)
        }
        do throws(StoreError) {
            let database = try openDatabase()
            let names = context.filters.map(\.name)
            let older = try HistoryQuery.aggregate(database, since: since, until: split, filters: names, by: .total)
            for index in rows.indices {
                guard let old = older.first(where: { $0.filter == rows[index].filter }) else { continue }
                rows[index].counters += old.counters
                rows[index].handshakes.merge(old.handshakes)
                rows[index].causes.merge(old.causes)
            }
            return HistoryJSON.aggregates(rows)
        } catch {
            logger.warning("socket: the database could not answer WINDOW", metadata: ["socket.error": "\(error)"])
            return Self.error("WINDOW: the database could not be read: \(error)")
        }
    }

    private func microseconds(_ seconds: Double) -> Timestamp {
        Timestamp(microseconds: Int64((seconds * 1_000_000).rounded()))
    }

    // MARK: QUERY

    /// The most rows a `QUERY` answers (about 30 MB of JSON).
    public static let maximumQueryRows = 100_000

    func query(_ query: SocketQuery) -> String {
        guard context.databasePath != nil else {
            return Self.error("QUERY: this tcpeek records no history (--no-db); WINDOW still answers from memory")
        }
        let now = wallClock()
        let since: Double, until: Double
        do throws(TimeExpression.ParseError) {
            since = try TimeExpression.parse(query.since, now: now)
            until = try query.until.map { (text) throws(TimeExpression.ParseError) in try TimeExpression.parse(text, now: now) } ?? now
        } catch {
            return Self.error("QUERY: \(error.description)")
        }
        guard until > since else { return Self.error("QUERY: 'until' must be after 'since'") }
        do throws(StoreError) {
            let database = try openDatabase()
            var filters: [String]?
            if let requested = query.filters {
                let known = try HistoryQuery.filterNames(in: database)
                do throws(HistoryQuery.UnknownFilterError) {
                    filters = try HistoryQuery.filters(named: requested, known: known)
                } catch {
                    return Self.error("QUERY: \(error.description)")
                }
            }
            let rows = try HistoryQuery.aggregate(database, since: since, until: until, filters: filters, by: query.by)
            guard rows.count <= Self.maximumQueryRows else {
                return Self.error("QUERY: the answer would hold \(rows.count) rows (at most \(Self.maximumQueryRows)); "
                    + "narrow the range, name fewer filters or choose a larger 'by'")
            }
            return HistoryJSON.aggregates(rows)
        } catch {
            logger.warning("socket: the database could not answer QUERY", metadata: ["socket.error": "\(error)"])
            return Self.error("QUERY: the database could not be read: \(error)")
        }
    }

    /// Opens the database for reading now, while the recorder still runs
    /// as root (`-u` gives root up right after the servers start); on
    /// failure the first `WINDOW` or `QUERY` tries again.
    public func openDatabaseEarly() {
        guard context.databasePath != nil else { return }
        do throws(StoreError) {
            _ = try openDatabase()
        } catch {
            logger.warning("socket: cannot open the database for reading yet", metadata: ["socket.error": "\(error)"])
        }
    }

    private func openDatabase() throws(StoreError) -> HistoryDatabase {
        try database.withLock { (cached) throws(StoreError) -> HistoryDatabase in
            if let cached { return cached }
            guard let path = context.databasePath else { throw StoreError.notFound(path: "(none: --no-db)") }
            let opened = try HistoryDatabase.openForReading(path: path)
            cached = opened
            return opened
        }
    }

    /// Closes the database connection (the server is stopping).
    func close() {
        database.withLock { cached in
            cached?.close()
            cached = nil
        }
    }

    // MARK: FILTERS, HELP

    func filters() -> String {
        WireJSON.text(FiltersAnswer(filters: context.filters, exclusions: context.exclusions))
    }

    func help() -> String {
        WireJSON.text(HelpAnswer(requests: SocketRequest.descriptions.map { HelpAnswer.Request(request: $0.request, answer: $0.answer) }))
    }
}
