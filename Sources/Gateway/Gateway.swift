import HTTP
import Instrumentation
import Logging
import Reactor
import Synchronization
import Telemetry

/// The gateway's request handling, shared by its listeners: protection (rate limit,
/// body limit), the gateway's own answers, routing, and proxying (in `Gateway+Proxy`).
///
/// One instance per process; each listener gets a ``GatewayResponder`` that knows its
/// scheme and plain-HTTP mode. Per-loop state (rate-limit buckets) is kept per loop and
/// touched only on that loop's thread.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let client: HTTPClient
    public let upstreams: [UpstreamService: UpstreamGroup]
    /// The same groups indexed by `UpstreamService.ordinal`: routing picks one per request,
    /// and an array index costs less than hashing the key.
    private let groupsByOrdinal: [UpstreamGroup]
    let routes = RouteTable()
    let requestIDs = RequestIDGenerator()
    let tokens: BearerTokenVerifier
    let accessLog: AccessLog
    /// Reads the client's trace context and writes the gateway's span into upstream calls.
    let tracing: TracePropagation
    /// The gateway's own lines (instances ejected and re-admitted).
    let logger: Logger
    private let loopStates: [LoopState]
    let rootBody: [UInt8]
    /// `/openapi.json` and `/docs`.
    let docs: APIDocs
    /// Why `/docs` answers 503 (Swagger UI's files were not found at start), or nil.
    public var docsUnavailableReason: String? { docs.unavailable }
    /// Requests sent again because a pooled connection had been closed by the upstream.
    public let staleConnectionRetries = Atomic<Int>(0)
    /// Requests sent again to another instance because a connection could not be made.
    public let connectRetries = Atomic<Int>(0)
    /// Idempotent requests sent again to another instance because the first closed the
    /// connection before any response byte.
    public let instanceRetries = Atomic<Int>(0)
    /// Requests (of any method) sent again because the instance answered 408: it had not
    /// read them (see ``proxy(_:to:target:_:)``).
    public let unreadRetries = Atomic<Int>(0)
    /// Requests answered 503 because the queue for an upstream connection was full or its
    /// deadline passed.
    public let busyRejections = Atomic<Int>(0)
    /// Requests whose upstream connection was closed mid-exchange because their client went
    /// away: the server cancels the handler (`cancelsAbandonedRequests`), which ends its wait
    /// on the upstream connection and closes it, so the service sees its client go too.
    public let abandonedUpstreamRequests = Atomic<Int>(0)
    /// The HTTPS port that redirects point to: `TLS_PORT`, or the bound one when that was 0.
    let redirectPort: Atomic<Int>
    /// Requests answered, by route and status class (the metrics listener reads them).
    let requestTally = RequestTally()

    /// - Parameters:
    ///   - tokens: verifies bearer tokens; nil uses `AUTH_SECRET` (or refuses all without one).
    ///   - logger: where the access log and the gateway's own lines go (the process's).
    ///   - tracing: the process's instrument (`InstrumentationSystem`), unless a test gives one.
    public init(
        configuration: GatewayConfiguration, group: EventLoopGroup, tokens: BearerTokenVerifier? = nil,
        logger: Logger = Logger(label: "gateway"), tracing: TracePropagation = .process
    ) {
        self.logger = logger
        self.tracing = tracing
        self.configuration = configuration
        redirectPort = Atomic(configuration.tlsPort)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectTimeout = configuration.connectTimeout
        clientConfiguration.responseTimeout = configuration.responseTimeout
        clientConfiguration.ioTimeout = max(configuration.responseTimeout, .seconds(30))
        clientConfiguration.idleTimeout = configuration.upstreamIdleTimeout
        clientConfiguration.maxConnectionsPerOrigin = configuration.upstreamMaxConnections
        clientConfiguration.maxWaitersPerOrigin = configuration.upstreamQueueSize
        clientConfiguration.poolWaitTimeout = configuration.upstreamQueueTimeout
        client = HTTPClient(group: group, configuration: clientConfiguration)
        var upstreams: [UpstreamService: UpstreamGroup] = [:]
        for service in UpstreamService.allCases {
            let instances = configuration.upstreams[service] ?? [UpstreamURL(service.defaultURL)!]
            upstreams[service] = UpstreamGroup(
                service: service, instances: instances, configuration: configuration, logger: logger)
        }
        self.upstreams = upstreams
        let groups = UpstreamService.allCases.sorted { $0.ordinal < $1.ordinal }.compactMap { upstreams[$0] }
        precondition(
            UpstreamService.allCases.allSatisfy { groups[$0.ordinal].service == $0 },
            "UpstreamService.ordinal must number the cases 0..<count")
        groupsByOrdinal = groups
        if let tokens {
            self.tokens = tokens
        } else if let secret = configuration.authSecret {
            self.tokens = .hs256(secret: secret)
        } else {
            self.tokens = .refuseAll
        }
        accessLog = AccessLog(logger: logger, isEnabled: configuration.accessLog)
        loopStates = group.loops.map { _ in
            LoopState(limiter: RateLimiter(rate: configuration.rateLimitRPS, burst: configuration.rateLimitBurst))
        }
        var body = Array(#"{"service":"api-gateway","status":"ok","routes":["#.utf8)
        for (index, route) in RouteTable.advertisedRoutes.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            JSONText.appendString(route, to: &body)
        }
        body.append(contentsOf: "]}".utf8)
        rootBody = body
        docs = APIDocs(assetsDirectory: configuration.docsAssetsDirectory)
    }

    /// A responder for one listener.
    /// - Parameters:
    ///   - scheme: `http` or `https` (for `X-Forwarded-Proto` and HSTS).
    ///   - mode: what plain HTTP does; HTTPS always serves.
    public func responder(scheme: String, mode: GatewayConfiguration.HTTPMode = .serve) -> GatewayResponder {
        GatewayResponder(gateway: self, scheme: scheme, mode: mode)
    }

    /// Closes pooled upstream connections; call after the servers drained.
    public func shutdown() async {
        await client.shutdown()
    }

    // MARK: Per request

    /// Everything a request's handling carries along, for its response and its log line.
    struct Context {
        let requestID: GatewayRequestID
        /// The gateway's span: a child of the client's valid `traceparent`, or a new trace.
        let trace: TraceContext
        /// Whether the client's `traceparent` was valid (its `tracestate` is forwarded then).
        let traceContinued: Bool
        /// Whether the client sent a `traceparent` at all (valid or not: ours replaces it).
        let hasClientTraceparent: Bool
        let client: String
        let scheme: String
        let start: UInt64
        let method: HTTPMethod
        let path: Substring
        let version: HTTPVersion
    }

    @inline(__always)
    func handle(_ request: consuming HTTPServerRequest, scheme: String, mode: GatewayConfiguration.HTTPMode) async throws
        -> HTTPServerResponse
    {
        let clientID = request.headers[.xRequestID]
        let path = request.path
        // A client's valid `traceparent` is continued; an invalid one is replaced by a new trace.
        // With our own instrument, its parser straight away: no `IncomingTrace` to copy.
        let trace: (context: TraceContext, continued: Bool, present: Bool)
        var extracted: InstrumentationContext?
        if tracing.isW3C {
            trace = TraceContext.continuing(request.headers)
        } else {
            let incoming = tracing.incoming(request.headers, readingTraceState: false)
            trace = (incoming.trace, incoming.continued, incoming.present)
            extracted = incoming.extracted
        }
        let context = Context(
            requestID: clientID.flatMap { RequestID.isValid($0) ? GatewayRequestID($0) : nil } ?? requestIDs.nextID(),
            trace: trace.context,
            traceContinued: trace.continued,
            hasClientTraceparent: trace.present,
            client: request.remoteHost ?? "-",
            scheme: scheme,
            start: logClock(),
            method: request.method,
            path: path,
            version: request.head.version)
        if path == "/health" && (request.method == .GET || request.method == .HEAD) {
            return ownResponse(.json(.ok, Array(#"{"status":"ok","service":"api-gateway"}"#.utf8)), context)
        }
        switch mode {
        case .serve:
            break
        case .redirect:
            return ownResponse(redirect(request), context)
        case .healthOnly:
            return errorResponse(APIError(.notFound, detail: "Not Found"), context)
        }
        if let retryAfter = admit(context.client, on: request.loop) {
            return errorResponse(
                APIError(.tooManyRequests, detail: "Too many requests", headers: ["Retry-After": String(retryAfter)]),
                context)
        }
        switch routes.route(target: request.head.target, path: path) {
        case .root:
            guard request.method == .GET || request.method == .HEAD else {
                return errorResponse(
                    APIError(.methodNotAllowed, detail: "Method Not Allowed", headers: ["Allow": "GET, HEAD"]), context)
            }
            return ownResponse(.json(.ok, rootBody), context)
        case .gatewayHealth:
            return errorResponse(
                APIError(.methodNotAllowed, detail: "Method Not Allowed", headers: ["Allow": "GET, HEAD"]), context)
        case .openAPIDocument:
            return ownResponse(docs.documentResponse(method: request.method, ifNoneMatch: request.headers["If-None-Match"]), context)
        case .docs(let file):
            return ownResponse(
                docs.pageResponse(asset: file, method: request.method, ifNoneMatch: request.headers["If-None-Match"]), context)
        case .notFound:
            return errorResponse(APIError(.notFound, detail: "Not Found"), context)
        case .badTarget:
            return errorResponse(APIError(.badRequest, detail: "Invalid request target"), context)
        case .proxy(let service, let target):
            return try await proxy(consume request, to: group(for: service), target: target, context, extracted: extracted)
        }
    }

    /// The instances of `service` (every service has a group: `init` makes one for each).
    private func group(for service: UpstreamService) -> UpstreamGroup {
        groupsByOrdinal[service.ordinal]
    }

    /// Counts the request against its client's bucket on this loop; the `Retry-After`
    /// seconds when over the rate. Clients in `RATE_LIMIT_EXEMPT` are not counted.
    private func admit(_ client: String, on loop: EventLoop) -> Int? {
        guard configuration.rateLimitRPS > 0, loop.index < loopStates.count else { return nil }
        if CIDR.anyContains(configuration.rateLimitExempt, client) { return nil }
        return loopStates[loop.index].limiter.admit(client, now: loop.now)
    }

    /// 308 to the same host on the HTTPS port.
    private func redirect(_ request: HTTPServerRequest) -> HTTPServerResponse {
        var host = request.headers[.host] ?? configuration.host
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { host = String(host[...close]) }
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        let tlsPort = redirectPort.load(ordering: .relaxed)
        let port = tlsPort == 443 ? "" : ":\(tlsPort)"
        let target = request.head.target.hasPrefix("/") ? request.head.target : String(request.path)
        var response = APIError(.permanentRedirect, detail: "Use HTTPS").response
        response.headers.add(.location, value: "https://\(host)\(port)\(target)")
        return response
    }

    /// A response the gateway made itself: its request id, HSTS, a log line.
    func ownResponse(_ response: HTTPServerResponse, _ context: Context) -> HTTPServerResponse {
        var response = response
        response.headers.replaceOrAdd(.xRequestID, value: context.requestID.description)
        if context.scheme == "https", configuration.hstsMaxAge > 0 {
            response.headers.replaceOrAdd(.strictTransportSecurity, value: "max-age=\(configuration.hstsMaxAge)")
        }
        var bytes = 0
        if case .bytes(let body) = response.body { bytes = body.count }
        log(context, status: response.status.code, bytes: bytes, upstream: nil, upstreamTime: nil)
        return response
    }

    func errorResponse(_ error: APIError, _ context: Context) -> HTTPServerResponse {
        ownResponse(error.response, context)
    }

    /// Monotonic nanoseconds for the access log's timings, or 0 when there is no log:
    /// nothing else needs them, so a gateway without a log reads no clock per timing point.
    func logClock() -> UInt64 {
        accessLog.isEnabled ? monotonicNanoseconds() : 0
    }

    func log(_ context: Context, status: Int, bytes: Int, upstream: String?, upstreamTime: UInt64?) {
        requestTally.count(status: status, relayed: upstream != nil)
        guard accessLog.isEnabled else { return }
        let now = monotonicNanoseconds()
        accessLog.write(
            AccessLogRecord(
                requestID: context.requestID, trace: context.trace, client: context.client, method: context.method,
                path: context.path, version: context.version, status: status, bytes: bytes, upstream: upstream,
                upstreamTime: upstreamTime.map { Double($0) / 1e9 }, totalTime: Double(now &- context.start) / 1e9))
    }
}

/// The ``HTTPResponder`` of one listener.
public struct GatewayResponder: HTTPResponder {
    public let gateway: Gateway
    public let scheme: String
    public let mode: GatewayConfiguration.HTTPMode

    @inline(__always)  // into its witness: one async frame per request instead of two
    public func respond(to request: consuming HTTPServerRequest) async throws -> HTTPServerResponse {
        try await gateway.handle(request, scheme: scheme, mode: mode)
    }
}

/// What the gateway keeps per loop; touched only on that loop's thread.
private final class LoopState: @unchecked Sendable {
    var limiter: RateLimiter

    init(limiter: RateLimiter) { self.limiter = limiter }
}
