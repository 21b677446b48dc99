import HTTP
import Logging
import Reactor
import ServiceKit
import Telemetry

/// The watchlist service's calls to the user and movie services.
///
/// Straight to the services (not through the gateway), over the process's ``HTTPClient``,
/// whose per-loop keep-alive pools keep a request's calls on its own loop. Every call:
/// - passes the request's `X-Request-ID` and this service's span (`traceparent`) on (and,
///   to the user service, the caller's `Authorization`, since with `AUTH_REQUIRED=true` a
///   user record is readable only by its owner — who is, by then, the caller);
/// - is bounded: the client's connect timeout (1 s), its response timeout
///   (`UPSTREAM_TIMEOUT`, 2 s by default), and an overall limit of the two together, so
///   that a dead or stalled upstream costs a request at most ``callTimeout``;
/// - ends as one ``WatchlistError`` naming the upstream when it does not succeed, and is
///   counted by upstream and outcome in ``UpstreamMetrics``.
struct Upstreams: Sendable {
    /// Where one upstream lives: its origin and the path prefix of its base URL.
    struct Endpoint: Sendable {
        let origin: HTTPOrigin
        /// The base URL's path without a trailing slash (usually empty).
        let pathPrefix: String
        let name: String
        let metric: UpstreamMetrics.Upstream

        /// - Returns: nil when `baseURL` is not an `http(s)://host[:port][/path]` URL.
        init?(baseURL: String, name: String, metric: UpstreamMetrics.Upstream) {
            guard let (origin, target) = HTTPOrigin.split(url: baseURL), !target.contains("?") else { return nil }
            var prefix = target
            while prefix.hasSuffix("/") { prefix.removeLast() }
            self.origin = origin
            self.pathPrefix = prefix
            self.name = name
            self.metric = metric
        }
    }

    let client: HTTPClient
    let users: Endpoint
    let movies: Endpoint
    /// The most one call may take, pool wait and connect included.
    let callTimeout: Duration
    let metrics: UpstreamMetrics
    let logger: Logger

    /// Headers a call carries on behalf of `request`.
    static func forwardedHeaders(from request: HTTPServerRequest, includingAuthorization: Bool) -> HTTPHeaders {
        var headers = HTTPHeaders()
        if let id = request.headers["X-Request-ID"] { headers.add(name: "X-Request-ID", value: id) }
        if includingAuthorization, let authorization = request.headers["Authorization"] {
            headers.add(name: "Authorization", value: authorization)
        }
        headers.add(name: "Accept", value: "application/json")
        RequestContext.current?.injectTrace(into: &headers)
        return headers
    }

    // MARK: Checks for an add

    /// Whether user `id` exists (`GET /api/users/{id}`: 200 yes, 404 no).
    /// Returns a `Result` so that the two checks of an add can both finish and the handler
    /// can prefer a definite 404 over the other's failure.
    func userExists(_ id: Int64, headers: HTTPHeaders) async -> Result<Bool, WatchlistError> {
        await exists(users, path: "/api/users/\(id)", headers: headers)
    }

    /// Whether movie `id` exists (`GET /api/movies/{id}`: 200 yes, 404 no).
    func movieExists(_ id: Int64, headers: HTTPHeaders) async -> Result<Bool, WatchlistError> {
        await exists(movies, path: "/api/movies/\(id)", headers: headers)
    }

    private func exists(_ endpoint: Endpoint, path: String, headers: HTTPHeaders) async -> Result<Bool, WatchlistError>
    {
        let request = HTTPClientRequest(
            method: .GET, origin: endpoint.origin, target: endpoint.pathPrefix + path,
            headers: headers)
        do {
            let response = try await call(endpoint, request)
            return .success(response.status.code != 404)
        } catch {
            return .failure(error)
        }
    }

    // MARK: Enrichment

    /// The movies with these ids, in one `POST /api/movies/batch` whatever their number;
    /// ids the movie service does not know are simply absent. The answer stays bytes
    /// (``MovieBatch``): its movies are copied into the caller's document, not re-encoded.
    ///
    /// - Parameter ids: distinct, 1...1000 of them (the batch endpoint's limit; lists are
    ///   paginated with `limit` ≤ 1000, so a page never needs more).
    /// - Throws: ``WatchlistError`` naming the movie service.
    func movies(_ ids: [Int64], headers: HTTPHeaders) async throws(WatchlistError) -> MovieBatch {
        precondition(!ids.isEmpty && ids.count <= Pagination.maxLimit, "a batch holds 1...1000 ids")
        var body = JSONWriter(capacity: 16 + ids.count * 8)
        body.object { json in
            json.key("movie_ids")
            json.array { list in for id in ids { list.value(id) } }
        }
        var requestHeaders = headers
        requestHeaders.add(name: "Content-Type", value: "application/json")
        let request = HTTPClientRequest(
            method: .POST, origin: movies.origin, target: movies.pathPrefix + "/api/movies/batch",
            headers: requestHeaders, body: body.bytes)
        let response = try await call(movies, request, notFoundIsAnAnswer: false, retryingStaleConnections: true)
        guard let batch = MovieBatch(body: response.body) else {
            throw WatchlistError(.badResponse, upstream: movies.name, underlying: UnusableAnswer.malformedBody)
        }
        return batch
    }

    // MARK: The exchange

    /// How many times a call is repeated after meeting a stale keep-alive connection.
    static let staleRetries = 3

    /// Sends `request` and classifies the outcome: 2xx (and 404 when `notFoundIsAnAnswer`)
    /// come back; anything else is counted, logged (a warning with the request id and the
    /// cause, which the client's response never shows) and thrown.
    ///
    /// - Parameter retryingStaleConnections: repeat the request (up to ``staleRetries``
    ///   times) when it went out on a pooled connection the server had already closed and
    ///   nothing came back. The client does that by itself for GETs only; the batch is a
    ///   POST that only reads, so repeating it is safe too — and without it, the first
    ///   lists after a movie-service restart would fail on the pool's dead connections.
    private func call(
        _ endpoint: Endpoint, _ request: HTTPClientRequest, notFoundIsAnAnswer: Bool = true,
        retryingStaleConnections: Bool = false
    ) async throws(WatchlistError) -> HTTPClientResponse {
        let start = monotonicNanoseconds()
        let failure: WatchlistError
        do {
            var response: HTTPClientResponse
            var retries = retryingStaleConnections ? Self.staleRetries : 0
            while true {
                do {
                    response = try await client.execute(request, timeout: callTimeout)
                    break
                } catch  where error.isStaleConnection && retries > 0 {
                    retries -= 1
                }
            }
            switch response.status.code {
            case 200..<300:
                metrics.record(endpoint.metric, .ok, startedAt: start)
                return response
            case 404 where notFoundIsAnAnswer:
                metrics.record(endpoint.metric, .notFound, startedAt: start)
                return response
            case 503:
                // Up, but its own dependency is not: to our caller it is unavailable.
                failure = WatchlistError(.unavailable, upstream: endpoint.name, underlying: UnusableAnswer.status(503))
            case 504:
                failure = WatchlistError(.timedOut, upstream: endpoint.name, underlying: UnusableAnswer.status(504))
            case 401 where request.headers.contains(name: "Authorization"):
                // The caller's token, forwarded for the check, was refused (revoked since).
                failure = WatchlistError(
                    .credentialsRefused, upstream: endpoint.name, underlying: UnusableAnswer.status(401))
            case let status:
                failure = WatchlistError(
                    .badResponse, upstream: endpoint.name, underlying: UnusableAnswer.status(status))
            }
        } catch {
            failure = WatchlistError(Self.code(for: error), upstream: endpoint.name, underlying: error)
        }
        let outcome: UpstreamMetrics.Outcome =
            switch failure.code {
            case .unavailable: .unavailable
            case .timedOut: .timeout
            default: .badResponse
            }
        metrics.record(endpoint.metric, outcome, startedAt: start)
        logger.warning(
            "upstream call failed",
            metadata: [
                "upstream": .string(endpoint.metric.label), "outcome": .string(outcome.label),
                "cause": .string(failure.underlying.map { String(describing: $0) } ?? ""),
                "duration_ms": .stringConvertible(Double((monotonicNanoseconds() &- start) / 1000) / 1000),
            ])
        throw failure
    }

    /// The HTTP client's failure codes, as ``HTTPClientError`` documents them: nothing
    /// sent (refused, connect timeout, pool) → unavailable; sent but unanswered in time →
    /// timed out; the rest (closed mid-answer, broken HTTP, too large) → bad response.
    static func code(for error: HTTPClientError) -> WatchlistError.Code {
        switch error.code {
        case .connectFailed, .connectTimeout, .poolTimeout, .poolQueueFull, .shutdown, .cancelled:
            return .unavailable
        case .responseTimeout, .readTimeout, .writeTimeout:
            return .timedOut
        default:
            return .badResponse
        }
    }
}
