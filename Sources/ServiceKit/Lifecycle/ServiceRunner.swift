import AuthToken
import CoreMetrics
import HTTP
import Instrumentation
import Lifecycle
import Logging
import ProcessMetrics
import Prometheus
import Reactor
import ServiceLifecycle
import Synchronization
import Telemetry

#if canImport(Glibc)
import Glibc
#endif

/// What a service's set-up code gets: its configuration and the shared machinery.
public struct ServiceContext: Sendable {
    public let name: String
    public let configuration: ServiceConfiguration
    public let group: EventLoopGroup
    public let logger: Logger
    public let metrics: Metrics
    public let authenticator: Authenticator
}

/// What a service hands back: its routes, health checks, error mapping and shutdown work.
public struct ServiceDefinition: Sendable {
    public var router: ServiceRouter
    public var healthChecks: [HealthCheck]
    /// Maps driver errors to responses (database down → 503 `Database unavailable`).
    public var errorMapper: ServiceResponder.ErrorMapper?
    /// Run after the server drained, in reverse order (close pools, then clients...).
    public var shutdownHooks: [@Sendable () async -> Void]

    public init(
        router: ServiceRouter, healthChecks: [HealthCheck] = [], errorMapper: ServiceResponder.ErrorMapper? = nil,
        shutdownHooks: [@Sendable () async -> Void] = []
    ) {
        self.router = router
        self.healthChecks = healthChecks
        self.errorMapper = errorMapper
        self.shutdownHooks = shutdownHooks
    }
}

/// Runs a service process from `main` to exit.
///
/// ```swift
/// // Sources/RunMovieService/main.swift
/// ServiceRunner.main(name: "movie-service", settings: MovieService.settings) { context in
///     try await MovieService.make(context)
/// }
/// ```
/// Order matters: SIGTERM/SIGINT are blocked before any other thread exists (the loops
/// and every thread they create inherit the mask, so the signals reach only the
/// signalfd that swift-service-lifecycle reads through Dispatch), then the loops start, the
/// service sets itself up, the server listens and a start line is logged. The process is
/// then a `ServiceGroup` of the server, the loop probes and the service's shutdown work
/// (``ProcessLifecycle``): on SIGTERM or SIGINT the server drains (stops accepting, finishes
/// requests in flight, closes idle connections, force-closes after its drain timeout), the
/// shutdown work runs in reverse order, and the process exits 0. A second signal during the
/// drain closes the connections at once, runs the shutdown work and exits 130; a shutdown
/// that overruns its bound (drain timeout + 10 s) is cancelled and exits 1 (bounds in
/// ``ProcessLifecycle``).
public enum ServiceRunner {
    public typealias Make = @Sendable (ServiceContext) async throws -> ServiceDefinition

    /// Parses the configuration (`--help` exits 0, bad values exit 2), runs, exits.
    /// Call from synchronous top-level code, before anything starts threads.
    public static func main(name: String, settings: [Setting], make: @escaping Make) -> Never {
        SignalWatcher.block([SIGTERM, SIGINT])
        if let refusal = refusedEnvironment(ServiceConfiguration.processEnvironment()) {
            ServiceConfiguration.writeAll(2, "\(name): \(refusal)\n")
            exit(2)
        }
        let configuration = ServiceConfiguration.load(service: name, settings: settings)
        let level = configuration.settings.contains { $0.name == "LOG_LEVEL" }
            ? configuration.string("LOG_LEVEL").flatMap(Logger.Level.init(setting:)) ?? .info : .info
        let logger = JSONLogHandler.bootstrap(
            service: name, level: level, metadataProvider: RequestContext.metadataProvider)
        // One registry per process: ours and any library's swift-metrics series share `/metrics`.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        InstrumentationSystem.bootstrap(W3CTraceContextInstrument())
        let loops = configuration.settings.contains { $0.name == "LOOPS" }
            ? configuration.int("LOOPS") ?? EventLoopGroup.coreCount : EventLoopGroup.coreCount
        let affinity = configuration.settings.contains { $0.name == "LOOP_AFFINITY" }
            ? configuration.string("LOOP_AFFINITY").flatMap(LoopAffinity.init(setting:)) ?? .automatic : .automatic
        let group: EventLoopGroup
        do {
            group = try EventLoopGroup(loopCount: loops, affinity: affinity)
        } catch {
            logger.error("cannot start event loops", error: error)
            exit(1)
        }
        // The bridge from synchronous main to the async service: one task on loop 0,
        // and the main thread waits for its exit code.
        let done = ExitLatch()
        Task(executorPreference: group.loops[0]) {
            let code = await run(
                name: name, configuration: configuration, group: group, logger: logger, registry: registry, make: make)
            done.open(code)
        }
        let code = done.wait()
        group.shutdown()
        exit(code)
    }

    /// Runs a one-shot command (an operator's subcommand, not a server) on one event loop
    /// and exits with the code it returns. Call from synchronous top-level code.
    public static func runCommand(_ body: @escaping @Sendable (EventLoopGroup) async -> Int32) -> Never {
        let group: EventLoopGroup
        do {
            group = try EventLoopGroup(loopCount: 1, affinity: .none)
        } catch {
            ServiceConfiguration.writeAll(2, "cannot start an event loop: \(error)\n")
            exit(1)
        }
        let done = ExitLatch()
        Task(executorPreference: group.loops[0]) { done.open(await body(group)) }
        let code = done.wait()
        group.shutdown()
        exit(code)
    }

    /// The async part: set up, serve until a signal, drain, run hooks. Returns the exit code.
    /// - Parameters:
    ///   - stopRequests: signal numbers that ask for shutdown (the first drains, a second
    ///     stops at once); nil watches SIGTERM and SIGINT (which must be blocked). Tests pass
    ///     a stream of their own.
    ///   - registry: where `/metrics` comes from (`main` bootstraps `MetricsSystem` with it);
    ///     tests leave the default, a registry of their own.
    ///   - started: called with the bound port once the server listens (tests use port 0).
    public static func run(
        name: String, configuration: ServiceConfiguration, group: EventLoopGroup, logger: Logger,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), make: Make,
        stopRequests: AsyncStream<Int32>? = nil, started: @Sendable (Int) -> Void = { _ in }
    ) async -> Int32 {
        let metrics = Metrics(service: name, loopCount: group.loops.count, registry: registry)
        let declared = Set(configuration.settings.map(\.name))
        let secret = declared.contains("AUTH_SECRET") ? configuration.string("AUTH_SECRET") : nil
        if let secret, !secret.isEmpty, let problem = AuthSecretPolicy.problem(with: secret) {
            logger.error("\(problem)")
            return 2
        }
        // Admin claims are confirmed with the user service (see RemoteTokenConfirmer); the
        // user service itself confirms from its database and sets its own authenticator.
        let confirmerClient = declared.contains("USER_SERVICE_URL") ? HTTPClient(group: group) : nil
        let confirmer = confirmerClient.flatMap { client in
            RemoteTokenConfirmer(
                client: client, userServiceURL: configuration.string("USER_SERVICE_URL") ?? "", logger: logger)
        }
        let authenticator = Authenticator(
            secret: secret, required: declared.contains("AUTH_REQUIRED") ? configuration.bool("AUTH_REQUIRED") : false,
            confirmer: confirmer)
        if authenticator.isRequired && authenticator.signer == nil {
            logger.error("AUTH_REQUIRED=true needs AUTH_SECRET")
            await confirmerClient?.shutdown()
            return 2
        }
        let context = ServiceContext(
            name: name, configuration: configuration, group: group, logger: logger, metrics: metrics,
            authenticator: authenticator)
        let definition: ServiceDefinition
        do {
            definition = try await make(context)
        } catch {
            logger.error("service set-up failed", error: error)
            await confirmerClient?.shutdown()
            return 1
        }
        let responder = ServiceResponder(
            service: name, router: definition.router, logger: logger, metrics: metrics,
            healthChecks: definition.healthChecks, errorMapper: definition.errorMapper)
        let host = declared.contains("HOST") ? configuration.string("HOST") ?? "127.0.0.1" : "127.0.0.1"
        let port = declared.contains("PORT") ? configuration.int("PORT") ?? 0 : 0
        var serverConfiguration = HTTPServerConfiguration(host: host, port: port)
        serverConfiguration.logger = logger
        // A client that has gone takes its work with it (a password hash still waiting above all).
        serverConfiguration.cancelsAbandonedRequests = true
        serverConfiguration.errorRenderer = FastAPIErrorRenderer()
        let server = HTTPServer(configuration: serverConfiguration, group: group, responder: responder)
        do {
            try await server.start()
        } catch {
            logger.error("cannot listen", error: error, metadata: ["host": .string(host), "port": .stringConvertible(port)])
            for hook in definition.shutdownHooks.reversed() { await hook() }
            await confirmerClient?.shutdown()
            return 1
        }
        var fields: Logger.Metadata = [
            "host": .string(host), "port": .stringConvertible(server.localPort),
            "loops": .stringConvertible(group.loops.count),
            "loop_cpus": .string(group.pinnedCPUs.map { $0.map(String.init).joined(separator: ",") } ?? "floating"),
            "steered_by_cpu": .stringConvertible(server.steersConnectionsByCPU),
        ]
        for (key, value) in configuration.redactedDescription where key != "HOST" && key != "PORT" && key != "LOOPS" && key != "LOOP_AFFINITY" {
            fields[key.lowercased()] = .string(value)
        }
        logger.info("started", metadata: fields)
        started(server.localPort)

        metrics.observe(servers: [server], group: group)
        metrics.observeBlockingPool()
        // The process as a service group, which stops its services in reverse order, each once
        // the one after it has returned: the server drains, the loop probes stop, then the
        // shutdown work runs last to first (the service's relay and clients, its pools, the
        // token confirmer's client).
        var shutdownWork: [@Sendable () async -> Void] = []
        if let confirmerClient { shutdownWork.append { await confirmerClient.shutdown() } }
        shutdownWork += definition.shutdownHooks
        let services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ShutdownWorkService(shutdownWork)),
            .init(service: LoopLagService(probes: metrics.loopLagProbes(group: group)), successTerminationBehavior: .ignore),
            .init(service: HTTPServerService([server]), successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        let lifecycle = ProcessLifecycle(services: services, drainTimeout: server.configuration.drainTimeout, logger: logger)
        let signals = if let stopRequests { stopRequests } else { await ProcessLifecycle.signals() }
        let code = await lifecycle.run(stopRequests: signals)
        logger.info("stopped")
        return code
    }

    /// Settings that were replaced and must not be believed to work: a process started
    /// with one refuses to start (exit 2) with this message.
    public static func refusedEnvironment(_ environment: [String: String]) -> String? {
        if let value = environment["ADMIN_EMAILS"], !value.trimmingPrefix(while: { $0 == " " }).isEmpty {
            return "ADMIN_EMAILS is no longer read: admin rights are the users.role column, granted by an operator with `user-service admin grant EMAIL` (or `deploy/dev admin grant EMAIL`); ADMIN_BOOTSTRAP_EMAIL and ADMIN_BOOTSTRAP_PASSWORD create the first admin. Remove ADMIN_EMAILS."
        }
        return nil
    }
}

/// A one-shot latch the main thread blocks on (a POSIX semaphore: the main thread is not
/// a loop and has nothing else to do).
private final class ExitLatch: @unchecked Sendable {
    // Lock rule: `code` is written once before `sem_post` and read after `sem_wait`.
    private var semaphore = sem_t()
    private var code: Int32 = 0

    init() { sem_init(&semaphore, 0, 0) }

    func open(_ code: Int32) {
        self.code = code
        sem_post(&semaphore)
    }

    func wait() -> Int32 {
        while sem_wait(&semaphore) != 0 && errno == EINTR {}
        return code
    }
}
