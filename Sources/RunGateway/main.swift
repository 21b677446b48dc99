// gateway: the Marquee API gateway (see Sources/Gateway). Parse the configuration, start
// the listeners, reload certificates on SIGHUP, drain on SIGTERM/SIGINT (a second one stops
// at once).
import CoreMetrics
import Dispatch
import Gateway
import Instrumentation
import Lifecycle
import Logging
import Prometheus
import Reactor
import Synchronization
import Telemetry

#if canImport(Glibc)
import Glibc
#endif

func say(_ message: String, fd: Int32 = 2) {
    var line = Array(message.utf8)
    line.append(UInt8(ascii: "\n"))
    line.withUnsafeBytes { raw in _ = write(fd, raw.baseAddress, raw.count) }
}

let configuration: GatewayConfiguration
do {
    configuration = try GatewayConfiguration.parse(
        environment: GatewayConfiguration.processEnvironment(), arguments: Array(CommandLine.arguments.dropFirst()))
} catch let error where error.code == .helpRequested {
    say(GatewayConfiguration.helpText, fd: 1)
    exit(0)
} catch {
    say("gateway: \(error.message)")
    exit(2)
}

// Signals are read through a signalfd (swift-service-lifecycle's, in Dispatch): block them
// before any thread exists. This file has no top-level `await` on purpose: with one, Swift
// runs `main` as an async task on a dispatch worker, the real main thread keeps SIGTERM
// unblocked, and the default action kills the process instead of draining it. So: a synchronous main that blocks the
// signals, then the gateway in a task on loop 0, and the main thread waits for it.
SignalWatcher.block([SIGTERM, SIGINT, SIGHUP])
let logger = JSONLogHandler.bootstrap(service: "gateway", level: configuration.logLevel)
InstrumentationSystem.bootstrap(W3CTraceContextInstrument())
// One registry per process: the gateway's and any library's swift-metrics series share `/metrics`.
let registry = PrometheusCollectorRegistry()
MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
let group = try EventLoopGroup(loopCount: configuration.loops, affinity: configuration.loopAffinity)
let finished = DispatchSemaphore(value: 0)
let exitStatus = Atomic<Int32>(0)

Task(executorPreference: group.loops[0]) {
    let server: GatewayServer
    do {
        server = try GatewayServer(configuration: configuration, group: group, logger: logger, registry: registry)
        try await server.start()
    } catch {
        logger.critical("cannot start", error: error)
        exitStatus.store(1, ordering: .relaxed)
        finished.signal()
        return
    }
    if let reason = server.gateway.docsUnavailableReason {
        logger.warning("\(reason); /openapi.json is served, /docs answers 503")
    }
    if configuration.authSecret == nil {
        logger.warning("AUTH_SECRET is not set: requests with a bearer token are refused (401)")
    }
    var listening = "gateway listening on http://\(configuration.host):\(server.httpPort)"
    if let port = server.httpsPort { listening += " and https://\(configuration.host):\(port)" }
    if let port = server.metricsPort { listening += ", /metrics on http://\(configuration.metricsHost):\(port)" }
    let placement = server.steersConnectionsByCPU
        ? "pinned to CPUs \(group.pinnedCPUs.map { $0.map(String.init).joined(separator: ",") } ?? ""), connections steered by CPU"
        : "floating, connections spread by hash"
    logger.info("\(listening) with \(configuration.loops) loops (\(placement))")

    let code = await server.run(stopRequests: await ProcessLifecycle.signals([.sighup]))
    exitStatus.store(code, ordering: .relaxed)
    logger.info("gateway stopped")
    finished.signal()
}
finished.wait()
group.shutdown()
exit(exitStatus.load(ordering: .relaxed))
