// The Debian package as an operator installs it: Scripts/package-install.sh
// installs the .deb that `make test` builds first (`make deb`, passed as
// $TCPEEK_DEB), checks the user, folder, capabilities and unit it sets up,
// runs a short live capture with the installed binary in network namespaces
// of its own with the Swift toolchain's folder hidden, and purges it.
//
// Needs root and $TCPEEK_DEB; skipped otherwise (recorded as a failure when
// CI=true and root, where `make test` provides both).
import Foundation
import Testing

private enum PackageInstall {
    static var package: String? {
        guard let path = ProcessInfo.processInfo.environment["TCPEEK_DEB"], !path.isEmpty else { return nil }
        return path
    }

    static var shouldRun: Bool {
        geteuid() == 0 && (package != nil || ProcessInfo.processInfo.environment["CI"] == "true")
    }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/package-install.sh").path
    }
}

@Suite("the Debian package", .serialized,
       .enabled("needs root and TCPEEK_DEB (make test builds the package and sets it)") { PackageInstall.shouldRun })
struct PackageInstallTests {
    @Test("installs, captures with the toolchain hidden as the tcpeek user, purges", .timeLimit(.minutes(3)))
    func installCapturePurge() throws {
        let package = try #require(PackageInstall.package, "CI=true as root, but TCPEEK_DEB is not set: run `make test`")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [PackageInstall.script, package]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output)")
    }
}
