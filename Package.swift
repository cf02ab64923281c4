// swift-tools-version:6.0
import PackageDescription

/// The packet path (decoder, tracker, capture loop) is checked for
/// exclusive access at compile time; release builds skip the run-time
/// re-check of every class property access there, where `make bench` shows
/// it costs: without it in TCPeekCapture the packet ratio fell from 0.62-0.64
/// to 0.59-0.60, in TCPeekCore to 0.60-0.62. In the store it bought nothing
/// (recording 707k attempts/s with it, 741k-752k without), so the store
/// keeps the check. Debug builds and the test suite keep it everywhere.
let packetPathSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release)),
]

/// Whole-program inlining of the store's per-row code into its callers.
let crossModuleSettings: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
    name: "tcpeek",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tcpeek", targets: ["tcpeek"]),
        .executable(name: "tcpeekstat", targets: ["tcpeekstat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.70.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        // Already async-http-client's: named for TLSConfiguration (--clickhouse-ca-file).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        // A prefetch hint for the packet path (Swift has no intrinsic for it).
        .target(name: "CPrefetch"),
        .target(name: "TCPeekCore", dependencies: ["CPrefetch"], swiftSettings: packetPathSettings),
        // The few POSIX wrappers the tools share; the core stays pure Swift.
        .target(name: "TCPeekSystem", dependencies: ["TCPeekCore"]),
        // The text layouts people read: live lines, the summary, tables, times.
        .target(name: "TCPeekText", dependencies: ["TCPeekCore"]),
        .target(
            name: "TCPeekCapture",
            dependencies: [
                "CPcap", "TCPeekCore", "TCPeekSystem",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: packetPathSettings
        ),
        // Every JSON shape of the socket, `tcpeek query`, `--json-summary`,
        // `--json-lines` and the database's JSON columns, as Codable types the
        // server, the query and tcpeekstat share.
        .target(name: "TCPeekWire", dependencies: ["TCPeekCore"]),
        .target(
            name: "TCPeekStore",
            dependencies: [
                "TCPeekCore", "TCPeekSystem", "TCPeekWire",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the per-session inserts (SessionInserts).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: crossModuleSettings
        ),
        .target(
            name: "TCPeekServer",
            dependencies: [
                "TCPeekCore", "TCPeekStore", "TCPeekSystem", "TCPeekWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Everything that knows ClickHouse: the fleet's history (issue 16,
        // docs/fleet-design.md).
        .target(
            name: "TCPeekFleet",
            dependencies: [
                "TCPeekCore", "TCPeekStore", "TCPeekSystem", "TCPeekWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, to read sessions as fast as the recorder writes them.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: crossModuleSettings
        ),
        .executableTarget(
            name: "tcpeek",
            dependencies: [
                "TCPeekCore", "TCPeekCapture", "TCPeekFleet", "TCPeekStore", "TCPeekServer", "TCPeekSystem", "TCPeekText", "TCPeekWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "tcpeekstat",
            dependencies: [
                "TCPeekCore", "TCPeekSystem", "TCPeekText", "TCPeekWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "tcpeek-synth",
            dependencies: [
                "TCPeekCore", "TCPeekWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Bench/Sources/tcpeek-synth"
        ),
        .testTarget(name: "TCPeekCoreTests", dependencies: ["TCPeekCore"]),
        .testTarget(name: "TCPeekCaptureTests", dependencies: ["TCPeekCapture", "TCPeekCore", "TCPeekSystem", "TCPeekText", "TCPeekWire"]),
        .testTarget(name: "TCPeekStoreTests", dependencies: ["TCPeekStore", "TCPeekCore", "TCPeekWire", "TCPeekFleet"]),
        .testTarget(name: "TCPeekServerTests", dependencies: ["TCPeekServer", "TCPeekStore", "TCPeekCore", "TCPeekWire"]),
        .testTarget(name: "TCPeekWireTests", dependencies: ["TCPeekWire", "TCPeekCore"]),
        .testTarget(name: "EndToEndTests", dependencies: ["TCPeekCore"], exclude: ["Scripts"]),
    ],
    swiftLanguageModes: [.v6]
)
