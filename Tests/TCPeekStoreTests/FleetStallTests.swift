// A ClickHouse that stops answering (overloaded, a long GC-like stall, a
// hung disk) rather than refusing, or whose disk is full: the shipper gives
// up on the request in flight (after its timeout), says so, backs off, and
// once ClickHouse takes rows again catches up, with no session lost and
// none counted twice in the answers (`sessions FINAL`).
import Foundation
import Logging
import Synchronization
import TCPeekCore
import Testing
@testable import TCPeekFleet
@testable import TCPeekStore

@Suite(.serialized) struct FleetStallTests {
    @Test func aStalledClickHouseIsWaitedOutAndCaughtUp() async throws {
        let server = try ClickHouseTestServer(label: "ch-stall")
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-stall")
        defer { folder.remove() }
        let endpoint = try ClickHouseClientTests.endpoint(server)
        let client = ClickHouseClient(endpoint: endpoint)
        try await ClickHouseSchema.create(with: client)
        await client.shutdown()
        try server.execute("SYSTEM STOP MERGES")

        let path = folder.file("h.db")
        let count = 50_000  // SessionColumnsTests.session gives ports up to 10,000 + index
        try recordInProcess(into: path, filters: SessionColumnsTests.filters, feed: { recorder in
            recorder.queue.push((0..<count).map(SessionColumnsTests.session), waitWhenFull: true)
        })

        var options = SessionShipper.Options()
        options.batchSize = 500
        options.interval = 0.2
        options.requestTimeout = 1
        options.firstBackoff = 0.2
        options.maxBackoff = 0.5
        let log = StallLog()
        let shipper = try SessionShipper(databasePath: path, endpoint: endpoint, host: "stall", options: options,
                                         logger: Logger(label: "test") { _ in StallLogHandler(log: log) })
        let stop = Atomic<Bool>(false)
        let running = Task {
            await shipper.run(stopping: { stop.load(ordering: .relaxed) },
                              pause: { seconds in try? await Task.sleep(for: .seconds(seconds)) })
        }
        func waitFor(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if condition() { return true }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return condition()
        }
        #expect(await waitFor(60) { shipper.cursor >= 5_000 })
        server.pause()
        let stalledAt = shipper.cursor
        try await Task.sleep(for: .seconds(3))
        let duringStall = shipper.cursor
        server.resume()
        let caughtUp = await waitFor(90) { shipper.cursor >= Int64(count) }
        stop.store(true, ordering: .relaxed)
        await running.value
        await shipper.close()

        #expect(stalledAt < Int64(count), "the ship ended before ClickHouse stalled: make it longer")
        #expect(duringStall <= stalledAt + 500, "the cursor moved on while ClickHouse answered nothing")
        #expect(caughtUp, "\(log.lines)")
        #expect(log.lines.contains { $0.contains("no answer in time") && $0.contains("sessions wait in the database") },
                "\(log.lines)")
        #expect(log.lines.contains { $0.contains("is back after") }, "\(log.lines)")
        #expect(try FleetShipTests.count(server, "SELECT count() FROM tcpeek.sessions FINAL") == count)
        #expect(try FleetShipTests.count(server, "SELECT uniqExact(session_id) FROM tcpeek.sessions") == count)
        #expect(try FleetShipTests.count(server, "SELECT count() FROM tcpeek.sessions") >= count)
    }
}

extension FleetStallTests {
    @Test func aFullDiskIsWaitedOutAndCaughtUp() async throws {
        let server = try ClickHouseTestServer(label: "ch-full", diskLimit: 64)
        defer { server.stop() }
        let folder = try TemporaryFolder("ship-full")
        defer { folder.remove() }
        let endpoint = try ClickHouseClientTests.endpoint(server)
        let client = ClickHouseClient(endpoint: endpoint)
        try await ClickHouseSchema.create(with: client)
        await client.shutdown()

        let path = folder.file("h.db")
        let count = 20_000
        try recordInProcess(into: path, filters: SessionColumnsTests.filters, feed: { recorder in
            recorder.queue.push((0..<count).map(SessionColumnsTests.session), waitWhenFull: true)
        })
        // Every byte of ClickHouse's disk taken.
        let filler = server.dataFolder + "/filler"
        let descriptor = open(filler, O_WRONLY | O_CREAT, 0o600)
        #expect(descriptor >= 0, "\(filler): \(String(cString: strerror(errno)))")
        let block = [UInt8](repeating: 0, count: 1 << 16)
        while block.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        #expect(errno == ENOSPC)
        close(descriptor)

        var options = SessionShipper.Options()
        options.batchSize = 2_000
        options.interval = 0.2
        options.firstBackoff = 0.2
        options.maxBackoff = 0.5
        let log = StallLog()
        let shipper = try SessionShipper(databasePath: path, endpoint: endpoint, host: "full", options: options,
                                         logger: Logger(label: "test") { _ in StallLogHandler(log: log) })
        let stop = Atomic<Bool>(false)
        let running = Task {
            await shipper.run(stopping: { stop.load(ordering: .relaxed) },
                              pause: { seconds in try? await Task.sleep(for: .seconds(seconds)) })
        }
        func waitFor(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if condition() { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return condition()
        }
        let refused = await waitFor(30) { log.lines.contains { $0.hasPrefix("warning") } }
        let whileFull = shipper.cursor
        unlink(filler)
        let caughtUp = await waitFor(60) { shipper.cursor >= Int64(count) }
        stop.store(true, ordering: .relaxed)
        await running.value
        await shipper.close()

        #expect(refused, "\(log.lines)")
        #expect(whileFull < Int64(count), "everything was shipped with the disk full")
        #expect(caughtUp, "\(log.lines)")
        let warning = log.lines.first { $0.hasPrefix("warning") } ?? ""
        #expect(warning.contains("unavailable: its disk is full (No space left on device, HTTP 500, Code: 75)")
                && warning.contains("20000 sessions wait in the database"), "\(warning)")
        #expect(log.lines.contains { $0.contains("is back after") }, "\(log.lines)")
        #expect(try FleetShipTests.count(server, "SELECT count() FROM tcpeek.sessions FINAL") == count)
        #expect(try FleetShipTests.count(server, "SELECT uniqExact(session_id) FROM tcpeek.sessions") == count)
    }
}

final class StallLog: Sendable {
    private let stored = Mutex<[String]>([])
    var lines: [String] { stored.withLock { $0 } }
    func append(_ line: String) { stored.withLock { $0.append(line) } }
}

struct StallLogHandler: LogHandler {
    let log: StallLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.append("\(event.level): \(event.message)")
    }
}
