import Foundation
import ServiceLifecycle
import TCPeekFleet

/// The shipper as a service of a `ServiceGroup` (`tcpeek ship`, or inside
/// `tcpeek record --ship`): ships until the group shuts down, finishing the
/// batch in flight so the cursor stays at what ClickHouse acknowledged.
/// Inside the recorder it stops after the recorder has written its last
/// sessions and ships those too (one try: what fails waits for the next run).
struct ShipService: Service {
    let shipper: SessionShipper
    let finalPass: Bool

    func run() async {
        await shipper.run(
            stopping: { Task.isShuttingDownGracefully },
            pause: { seconds in
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
            })
        if finalPass {
            do {
                _ = try await shipper.shipAvailable()
            } catch {
                let waiting = (try? shipper.database.unshippedCount(destination: shipper.destination)) ?? 0
                Terminal.warning("the last sessions were not shipped (\(error)); \(waiting) sessions wait in the database"
                    + " for the next 'tcpeek ship' or 'tcpeek record --ship'")
            }
        }
        await shipper.close()
    }
}
