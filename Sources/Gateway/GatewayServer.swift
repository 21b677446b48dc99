import HTTP
import Logging
import Reactor
import TLS

/// The whole gateway process minus `main`: the plain listener, the HTTPS listener when a
/// certificate is configured, the upstream health probe, and their orderly shutdown.
///
/// ```swift
/// let server = try GatewayServer(configuration: config, group: group)
/// try await server.start()
/// // on SIGHUP: try await server.reloadCertificates(); on SIGTERM: server.shutdown()
/// await server.run()   // returns once drained
/// ```
public final class GatewayServer: Sendable {
    public let gateway: Gateway
    public let configuration: GatewayConfiguration
    public let certificates: TLSCertificateStore?
    private let plain: HTTPServer
    private let secure: HTTPServer?
    private let prober: HealthProber

    /// - Throws: ``TLSError`` when the certificate or key cannot be loaded.
    public init(
        configuration: GatewayConfiguration, group: EventLoopGroup, tokens: BearerTokenVerifier? = nil,
        logger: Logger = Logger(label: "gateway")
    ) throws {
        self.configuration = configuration
        gateway = Gateway(configuration: configuration, group: group, tokens: tokens, logger: logger)
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
        prober = HealthProber(gateway: gateway, interval: configuration.healthCheckInterval, loop: group.loops[0])
    }

    /// Binds the listeners.
    public func start() async throws {
        try await plain.start()
        if let secure {
            try await secure.start()
            gateway.redirectPort.store(secure.localPort, ordering: .relaxed)
        }
    }

    /// The plain HTTP port (the real one when 0 was configured).
    public var httpPort: Int { plain.localPort }
    /// The HTTPS port, or nil without TLS.
    public var httpsPort: Int? { secure?.localPort }
    /// Whether every listener hands connections to the loop of the CPU that receives them
    /// (``HTTPServer/steersConnectionsByCPU``).
    public var steersConnectionsByCPU: Bool { plain.steersConnectionsByCPU && (secure?.steersConnectionsByCPU ?? true) }

    /// Serves until ``shutdown()``, then drains and closes the upstream pools.
    public func run() async {
        await withDiscardingTaskGroup { tasks in
            tasks.addTask { await self.plain.run() }
            if let secure { tasks.addTask { await secure.run() } }
            tasks.addTask { await self.prober.run() }
        }
        await gateway.shutdown()
    }

    /// Begins the graceful shutdown: stop accepting, finish requests in flight (up to
    /// `SHUTDOWN_TIMEOUT`), stop probing. May be called from any thread; idempotent.
    public func shutdown() {
        plain.shutdown()
        secure?.shutdown()
        prober.stop()
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

/// The HTTP server asks a TLS stream which protocol ALPN chose (`h2` or `http/1.1`).
extension TLSStream: HTTPNegotiatedProtocol {}
