// swift-tools-version: 6.2
// Marquee: a movie watchlist backend on its own epoll reactor (see README.md and DESIGN.md).
import PackageDescription

/// Settings every Swift target shares, on top of the Swift 6 language mode (strict concurrency):
/// `any` spelled out for existentials and nonisolated async functions run on their caller's
/// executor (DESIGN.md, "Concurrency mode"); Swift 6 turns on neither by itself.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
    // Release builds skip the runtime's exclusivity checks: on the request path their calls are a
    // large share of the instructions (loadtest/RESULTS.md, "Exclusivity checks"). unsafeFlags
    // keep other packages from depending on this one; Marquee is an application, none does.
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

/// swift-log's `Logger`, named by the targets that log.
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
/// swift-service-lifecycle's `ServiceGroup` and `Service`, named by the targets that define services.
let serviceLifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
/// swift-metrics' `Counter`, `Meter` and `Timer`, named by the targets that record metrics.
let metrics: Target.Dependency = .product(name: "CoreMetrics", package: "swift-metrics")
/// swift-distributed-tracing's `Instrument`, `InstrumentationSystem` and `ServiceContext`.
let instrumentation: Target.Dependency = .product(name: "Instrumentation", package: "swift-distributed-tracing")

let package = Package(
    name: "Marquee",
    products: [
        .executable(name: "gateway", targets: ["RunGateway"]),
        .executable(name: "user-service", targets: ["RunUserService"]),
        .executable(name: "movie-service", targets: ["RunMovieService"]),
        .executable(name: "watchlist-service", targets: ["RunWatchlistService"]),
        .executable(name: "loadtest", targets: ["RunLoadTest"]),
        .executable(name: "bench-server", targets: ["RunBenchServer"]),
        .executable(name: "pg-bench", targets: ["RunPostgresBench"]),
        .executable(name: "redis-bench", targets: ["RunRedisBench"]),
    ],
    dependencies: [
        // The load generator's latency histograms (HdrHistogram, mergeable across loops).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        // The load generator's command line (subcommands, --help).
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The logging API every module logs through; our JSON lines are its handler (Telemetry).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The services' metrics API (Counter, Meter, Timer), the Swift server convention.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // Those metrics' registry and Prometheus text exposition (`/metrics`); no SwiftNIO.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Each server process as a ServiceGroup: signals, graceful shutdown in reverse order, bounded.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Trace context across processes: our W3C propagation is its `Instrument` (Telemetry).
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        // MARK: System libraries: a module map and a shim header each.
        .target(name: "CLinux"),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),

        // MARK: The runtime.
        .target(name: "Reactor", dependencies: ["CLinux"], swiftSettings: swiftSettings),
        .target(name: "HTTP", dependencies: ["Reactor", logging], swiftSettings: swiftSettings),
        .target(name: "TLS", dependencies: ["Reactor", "COpenSSL"], swiftSettings: swiftSettings),
        .target(name: "Postgres", dependencies: ["Reactor", "CLibPQ"], swiftSettings: swiftSettings),
        .target(name: "Redis", dependencies: ["Reactor", "CHiredis", "COpenSSL"], swiftSettings: swiftSettings),
        .target(name: "AuthToken", dependencies: ["COpenSSL"], swiftSettings: swiftSettings),
        // The processes' log handler (JSON lines), shared by the services and the gateway.
        .target(name: "Telemetry", dependencies: ["HTTP", logging, instrumentation], swiftSettings: swiftSettings),
        // The processes' metrics: swift-metrics objects over a swift-prometheus registry, the
        // runtime's series (loops, connections, upstream pools); the services and the gateway.
        .target(
            name: "ProcessMetrics",
            dependencies: [
                "HTTP", "Reactor", metrics, serviceLifecycle, .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // How a server process runs its ServiceGroup: signals, drain, shutdown work (services and gateway).
        .target(
            name: "Lifecycle",
            dependencies: [
                "HTTP", logging, serviceLifecycle, .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The services and the gateway.
        .target(
            name: "ServiceKit",
            dependencies: [
                "HTTP", "Postgres", "Redis", "AuthToken", "COpenSSL", "Telemetry", "Lifecycle", "ProcessMetrics", logging,
                metrics, instrumentation, serviceLifecycle, .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "UserService", dependencies: ["ServiceKit", "Telemetry", logging, metrics, instrumentation],
            swiftSettings: swiftSettings
        ),
        .target(name: "MovieService", dependencies: ["ServiceKit", logging, metrics], swiftSettings: swiftSettings),
        .target(
            name: "WatchlistService", dependencies: ["ServiceKit", "Telemetry", logging, metrics, instrumentation],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "HTTP", "TLS", "AuthToken", "Telemetry", "Lifecycle", "ProcessMetrics", logging, metrics, serviceLifecycle,
                instrumentation, .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The API's OpenAPI document and the docs page's own files, compiled into the gateway.
            resources: [.embedInCode("Docs/docs.html"), .embedInCode("Docs/docs.js")],
            swiftSettings: swiftSettings
        ),

        // MARK: Thin executables.
        .executableTarget(
            name: "RunGateway",
            dependencies: [
                "Gateway", "Lifecycle", "Telemetry", logging, metrics, instrumentation,
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "RunUserService", dependencies: ["UserService"], swiftSettings: swiftSettings),
        .executableTarget(name: "RunMovieService", dependencies: ["MovieService"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "RunWatchlistService", dependencies: ["WatchlistService"], swiftSettings: swiftSettings
        ),
        .executableTarget(name: "RunBenchServer", dependencies: ["HTTP"], swiftSettings: swiftSettings),
        .executableTarget(name: "RunPostgresBench", dependencies: ["Postgres"], swiftSettings: swiftSettings),
        .executableTarget(name: "RunRedisBench", dependencies: ["Redis"], swiftSettings: swiftSettings),

        // MARK: The load generator (top-level folder loadtest/).
        .target(
            name: "LoadTestKit",
            dependencies: ["HTTP", "TLS", .product(name: "Histogram", package: "hdrhistogram-swift")],
            path: "loadtest/Sources/LoadTestKit",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RunLoadTest",
            dependencies: ["LoadTestKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "loadtest/Sources/RunLoadTest",
            swiftSettings: swiftSettings
        ),

        // MARK: Test support and tests.
        .target(name: "MarqueeTesting", dependencies: ["Reactor"], swiftSettings: swiftSettings),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "MarqueeTesting"], swiftSettings: swiftSettings),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "MarqueeTesting", "Telemetry", logging], swiftSettings: swiftSettings),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "HTTP", "MarqueeTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PostgresTests", dependencies: ["Postgres", "MarqueeTesting"], swiftSettings: swiftSettings
        ),
        .testTarget(name: "RedisTests", dependencies: ["Redis", "MarqueeTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ServiceTests",
            dependencies: [
                "ServiceKit", "UserService", "MovieService", "WatchlistService", "Gateway", "MarqueeTesting", "Telemetry",
                logging, instrumentation,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: ["Gateway", "HTTP", "TLS", "MarqueeTesting", "Telemetry", logging, instrumentation],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LoadTestKitTests", dependencies: ["LoadTestKit"], path: "loadtest/Tests/LoadTestKitTests",
            swiftSettings: swiftSettings
        ),
    ]
)
