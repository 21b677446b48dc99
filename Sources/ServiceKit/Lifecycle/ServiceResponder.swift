import HTTP
import Logging
import ProcessMetrics
import Reactor
import Telemetry

/// The middleware every service runs behind: request ids, `/health` (readiness: the
/// dependencies), `/health/live` (liveness: the process), `/metrics`, error
/// mapping to FastAPI-shaped bodies, the access log and the per-route metrics.
///
/// Every response, errors included, carries `X-Request-ID`. Errors never escape to the
/// server: ``HTTPResponseError``s become their response, the HTTP layer's own
/// ``HTTPServerError``s (the router's 404, 405 and 422, a body over its limit) are worded by
/// ``FastAPIErrorRenderer``, the service's ``errorMapper`` may translate driver errors (a
/// lost database → 503 `Database unavailable`), and anything else is a 500
/// `{"detail":"Internal Server Error"}` whose cause is logged (by type and description,
/// which Marquee errors keep free of SQL and secrets), except a cancelled handler's
/// `CancellationError` (its client went away): 499, logged as info.
///
/// The access log line: `{"ts","level","service","msg":"request","request_id","trace_id",
/// "method","route","path","status","duration_ms","client"}` (level `error` for a 5xx). `path` has no
/// query string, and no body, header value or token is ever logged. Duration runs until
/// the handler returns the response (for streamed bodies, not until the last byte is written).
public struct ServiceResponder: HTTPResponder {
    public typealias ErrorMapper = @Sendable (any Error) -> (any HTTPResponseError)?

    public let service: String
    public let router: Router
    public let logger: Logger
    public let metrics: Metrics
    public let healthChecks: [HealthCheck]
    public let errorMapper: ErrorMapper?

    public init(
        service: String, router: ServiceRouter, logger: Logger, metrics: Metrics, healthChecks: [HealthCheck] = [],
        errorMapper: ErrorMapper? = nil
    ) {
        self.service = service
        self.router = router.router
        self.logger = logger
        self.metrics = metrics
        self.healthChecks = healthChecks
        self.errorMapper = errorMapper
    }

    public func respond(to incoming: consuming HTTPServerRequest) async throws -> HTTPServerResponse {
        let start = monotonicNanoseconds()
        let requestID = RequestID.choose(incoming.headers[.xRequestID])
        var request = consume incoming
        // Handlers and outgoing calls read the id where they read every other header.
        request.head.headers.replaceOrAdd(.xRequestID, value: requestID)

        let context = RequestContext(requestID: requestID, incoming: TracePropagation.process.incoming(request.headers))
        var response: HTTPServerResponse
        let path = request.path
        if (path == "/health" || path == "/health/") && (request.method == .GET || request.method == .HEAD) {
            context.route = "/health"
            response = await HealthReport.run(service: service, checks: healthChecks).response
        } else if path == "/health/live" && (request.method == .GET || request.method == .HEAD) {
            // Liveness: the process answers. Dependencies are readiness (`/health`): a
            // database outage must take instances out of rotation, not restart them all.
            context.route = "/health/live"
            response = .json(.ok, Array(#"{"status":"alive","service":"\#(service)"}"#.utf8))
        } else if path == "/metrics" && (request.method == .GET || request.method == .HEAD) {
            context.route = "/metrics"
            response = HTTPServerResponse(status: .ok, headers: ["Content-Type": Metrics.contentType],
                                          body: .bytes(await metrics.exposition()))
        } else if path == "/health" || path == "/health/" || path == "/metrics" {
            // A known path, another method: 405 with `Allow`, as the router answers for its own.
            context.route = path == "/metrics" ? "/metrics" : "/health"
            response = FastAPIErrorRenderer().response(for: HTTPServerError(.methodNotAllowed(allowed: [.GET, .HEAD])))
        } else {
            do {
                response = try await RequestContext.$current.withValue(context) {
                    try await router.respond(to: request)
                }
            } catch {
                response = errorResponse(for: error, requestID: requestID)
            }
        }
        response.headers.replaceOrAdd(.xRequestID, value: requestID)

        let nanoseconds = monotonicNanoseconds() &- start
        let seconds = Double(nanoseconds) / 1e9
        let route = context.route ?? "unmatched"
        metrics.requests.record(
            method: request.method, route: route, status: response.status.code, nanoseconds: nanoseconds)
        logger.log(
            level: response.status.code >= 500 ? .error : .info, "request",
            metadata: [
                "access": .stringConvertible(
                    ServiceAccessRecord(
                        requestID: requestID, trace: context.trace, method: request.method, route: route, path: path,
                        status: response.status.code, seconds: seconds, client: request.remoteAddress?.description))
            ])
        return response
    }

    /// The response for an error a handler threw.
    func errorResponse(for error: any Error, requestID: String) -> HTTPServerResponse {
        if let error = error as? HTTPServerError { return FastAPIErrorRenderer().response(for: error) }
        if let error = error as? any HTTPResponseError { return error.response }
        // The server cancels a handler whose client went away: not a fault of ours.
        if error is CancellationError, Task.isCancelled { return ServiceError.clientClosedRequest.response }
        if let mapped = errorMapper?(error) { return mapped.response }
        logger.error(
            "unhandled error", error: error,
            metadata: ["request_id": .string(requestID), "error_type": .string(String(describing: type(of: error)))])
        return ServiceError.internalError.response
    }
}

/// One line of a service's access log, written by ``JSONLogHandler`` as its own fields.
final class ServiceAccessRecord: JSONLogFields {
    let requestID: String
    let trace: TraceContext
    let method: HTTPMethod
    let route: String
    let path: Substring
    let status: Int
    let seconds: Double
    let client: String?

    init(
        requestID: String, trace: TraceContext, method: HTTPMethod, route: String, path: Substring, status: Int, seconds: Double,
        client: String?
    ) {
        self.requestID = requestID
        self.trace = trace
        self.method = method
        self.route = route
        self.path = path
        self.status = status
        self.seconds = seconds
        self.client = client
        super.init()
    }

    override func writeFields(into line: inout JSONLogLine) {
        line.field("request_id", requestID)
        line.field("trace_id", traceID: trace)
        line.field("method", method.rawValue)
        line.field("route", route)
        line.field("path", path)
        line.field("status", status)
        line.field("duration_ms", milli: seconds * 1e3)
        if let client { line.field("client", client) }
    }
}
