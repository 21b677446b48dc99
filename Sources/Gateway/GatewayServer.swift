import HTTP
import Lifecycle
import Logging
import ProcessMetrics
import Prometheus
import Reactor
import ServiceLifecycle
import TLS

#if canImport(Glibc)
import Glibc
#endif

/// The whole gateway process minus `main`: the plain listener, the HTTPS listener when a
/// certificate is configured, the `/metrics` listener when `METRICS_PORT` is set
/// (``GatewayMetrics``), the upstream health probe, and their orderly shutdown, as a
/// swift-service-lifecycle `ServiceGroup` (stopped in reverse order: the listeners drain
/// together, the prober stops, the upstream pools close; bounded by `SHUTDOWN_TIMEOUT` + 10 s).
///
/// ```swift
/// let server = try GatewayServer(configuration: config, group: group)
/// try await server.start()
/// // SIGTERM/SIGINT drain (a second one stops at once), SIGHUP reloads the certificate:
/// let code = await server.run(stopRequests: await ProcessLifecycle.signals([.sighup]))
/// ```
public final class GatewayServer: Sendable {
    public let gateway: Gateway
    public let configuration: GatewayConfiguration
    public let certificates: TLSCertificateStore?
    private let plain: HTTPServer
    private let secure: HTTPServer?
    /// The `/metrics` listener (`METRICS_PORT`), or nil.
    private let metricsServer: HTTPServer?
    private let lifecycle: ProcessLifecycle
    private let logger: Logger

    /// - Parameter registry: where `/metrics` comes from (`main` bootstraps `MetricsSystem` with
    ///   it, as the services do); tests leave the default, a registry of their own.
    /// - Throws: ``TLSError`` when the certificate or key cannot be loaded.
    public init(
        configuration: GatewayConfiguration, group: EventLoopGroup, tokens: BearerTokenVerifier? = nil,
        logger: Logger = Logger(label: "gateway"), registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) throws {
        self.configuration = configuration
        self.logger = logger
        let gateway = Gateway(configuration: configuration, group: group, tokens: tokens, logger: logger)
        self.gateway = gateway
        var server = HTTPServerConfiguration(host: configuration.host, port: configuration.port)
        // The gateway enforces the body limit itself, so that its 413 carries the request id.
        server.parserLimits = HTTPParserLimits(maxHeaderBytes: configuration.maxHeaderBytes, maxBodySize: nil)
        server.headerReadTimeout = configuration.headerReadTimeout
        server.idleTimeout = configuration.keepAliveTimeout
        server.maxConnections = configuration.maxConnections
        server.drainTimeout = configuration.shutdownTimeout
        // Every answer, proxied or the gateway's own (a parser's 400 included), says `Server:
        // marquee` without a version, replacing an upstream's, and forbids MIME sniffing.
        server.serverName = "marquee"
        server.fixedFields = ["X-Content-Type-Options": "nosniff"]
        // A client that goes away mid-request cancels its handler, which ends (and closes) the
        // upstream exchange: the service then stops the work too. As nginx does by default, a
        // client that half-closes after its request counts as gone.
        server.cancelsAbandonedRequests = true
        server.logger = logger
        // The server's own answers (a malformed request, a header timeout) in the API's shape.
        server.errorRenderer = APIErrorRenderer()
        if configuration.http2 {
            var http2 = HTTP2ServerConfiguration()
            http2.maxConcurrentStreams = configuration.http2MaxConcurrentStreams
            http2.maxHeaderListSize = configuration.maxHeaderBytes
            // One byte more than the gateway's limit: the gateway answers 413 itself, with its request id.
            http2.maxRequestBodySize = configuration.maxBodySize + 1
            server.http2 = http2
        }
        let mode = configuration.servesTLS ? configuration.httpMode : .serve
        plain = HTTPServer(configuration: server, group: group, responder: gateway.responder(scheme: "http", mode: mode))
        if let certificate = configuration.tlsCertificate, let key = configuration.tlsKey {
            let store = try TLSCertificateStore(
                certificatePath: certificate, privateKeyPath: key, offersHTTP2: configuration.http2)
            certificates = store
            var tls = server
            tls.port = configuration.tlsPort
            let handshakeTimeout = configuration.headerReadTimeout
            secure = HTTPServer(
                configuration: tls, group: group, responder: gateway.responder(scheme: "https"),
                transport: { socket in
                    try await TLSStream.accept(socket: socket, store: store, handshakeTimeout: handshakeTimeout)
                })
        } else {
            certificates = nil
            secure = nil
        }
        let prober = HealthProber(gateway: gateway, interval: configuration.healthCheckInterval, loop: group.loops[0])
        let publicServers = [plain] + (secure.map { [$0] } ?? [])
        // Shut down last to first: the listeners drain, the loop probes and the prober stop,
        // the pools close.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: ShutdownWorkService([{ await gateway.shutdown() }])),
            .init(service: HealthProbeService(prober: prober), successTerminationBehavior: .ignore),
        ]
        if let metricsPort = configuration.metricsPort {
            let metrics = GatewayMetrics(gateway: gateway, servers: publicServers, group: group, registry: registry)
            var listener = HTTPServerConfiguration(host: configuration.metricsHost, port: metricsPort)
            listener.headerReadTimeout = configuration.headerReadTimeout
            listener.drainTimeout = configuration.shutdownTimeout
            listener.maxConnections = 64
            listener.serverName = "marquee"
            listener.fixedFields = ["X-Content-Type-Options": "nosniff"]
            listener.logger = logger
            listener.errorRenderer = APIErrorRenderer()
            let metricsServer = HTTPServer(
                configuration: listener, group: group, responder: MetricsResponder(metrics: metrics.metrics))
            self.metricsServer = metricsServer
            services.append(.init(service: LoopLagService(probes: metrics.lagProbes), successTerminationBehavior: .ignore))
            services.append(.init(
                service: HTTPServerService(publicServers + [metricsServer]), successTerminationBehavior: .gracefullyShutdownGroup))
        } else {
            metricsServer = nil
            services.append(.init(service: HTTPServerService(publicServers), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        lifecycle = ProcessLifecycle(services: services, drainTimeout: configuration.shutdownTimeout, logger: logger)
    }

    /// Binds the listeners.
    public func start() async throws {
        try await plain.start()
        if let secure {
            try await secure.start()
            gateway.redirectPort.store(secure.localPort, ordering: .relaxed)
        }
        try await metricsServer?.start()
    }

    /// The plain HTTP port (the real one when 0 was configured).
    public var httpPort: Int { plain.localPort }
    /// The HTTPS port, or nil without TLS.
    public var httpsPort: Int? { secure?.localPort }
    /// The `/metrics` port, or nil without `METRICS_PORT`.
    public var metricsPort: Int? { metricsServer?.localPort }
    /// Whether every listener hands connections to the loop of the CPU that receives them
    /// (``HTTPServer/steersConnectionsByCPU``).
    public var steersConnectionsByCPU: Bool { plain.steersConnectionsByCPU && (secure?.steersConnectionsByCPU ?? true) }

    /// Serves until ``shutdown()`` or a SIGTERM/SIGINT in `stopRequests`, then drains, stops
    /// probing and closes the upstream pools; a second SIGTERM/SIGINT stops at once, a SIGHUP
    /// reloads the certificate. Answers the exit code (``ProcessLifecycle``).
    @discardableResult
    public func run(stopRequests: AsyncStream<Int32>? = nil) async -> Int32 {
        await lifecycle.run(stopRequests: stopRequests) { [self] signal in
            guard signal == SIGHUP else { return }
            do {
                let outcome = try await reloadCertificates()
                logger.info("\(outcome)")
            } catch {
                logger.error("TLS reload failed, the old certificate stays", error: error)
            }
        }
    }

    /// Begins the graceful shutdown: stop accepting, finish requests in flight (up to
    /// `SHUTDOWN_TIMEOUT`), stop probing, close the pools. Any thread; idempotent.
    public func shutdown() {
        let lifecycle = self.lifecycle
        Task { await lifecycle.triggerGracefulShutdown() }
    }

    /// Loads the certificate files again (SIGHUP); connections keep running, new
    /// handshakes use the new certificate. Runs the file reads on the blocking pool.
    /// - Returns: a line for the log.
    /// - Throws: ``TLSError``; the old certificate stays in use.
    @discardableResult
    public func reloadCertificates() async throws -> String {
        guard let certificates else { return "no TLS configured; nothing to reload" }
        let context = try await certificates.reloadInBackground()
        return "TLS certificate reloaded: subject \(context.certificateSubject), serial \(context.certificateSerial)"
    }
}

/// The health prober as a `Service`: probes until the group shuts down or is cancelled.
private struct HealthProbeService: Service, CustomStringConvertible {
    let prober: HealthProber
    var description: String { "health-prober" }

    func run() async {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await prober.run()
            } onGracefulShutdown: { [prober] in
                prober.stop()
            }
        } onCancel: { [prober] in
            prober.stop()
        }
    }
}

/// The HTTP server asks a TLS stream which protocol ALPN chose (`h2` or `http/1.1`).
extension TLSStream: HTTPNegotiatedProtocol {}
