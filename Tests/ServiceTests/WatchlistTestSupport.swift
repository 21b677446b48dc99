import HTTP
import Logging
import MarqueeTesting
import Reactor
import ServiceKit
import Synchronization
import Telemetry
import Testing
import WatchlistService

/// A stand-in for the user or the movie service: a real ``HTTPServer`` with a ``Router`` on
/// a free port that answers the few calls the watchlist service makes, counts them, and can
/// be made slow. An HTTP peer (the watchlist service talks to it over loopback exactly as
/// to the real service), not a mock of a database.
final class WatchlistFakeUpstream: Sendable {
    struct State: Sendable {
        var users: Set<Int64> = []
        var movies: [Int64: JSONObject] = [:]
        /// Every request waits this long before answering.
        var delay: Duration = .zero
        /// Calls by route: `"GET /api/users"`, `"GET /api/movies"`, `"POST /api/movies/batch"`.
        var calls: [String: Int] = [:]
        /// The `X-Request-ID`s received, in order.
        var requestIDs: [String] = []
        /// The `Authorization` headers received, in order.
        var authorizations: [String] = []
        /// The `movie_ids` of each batch call.
        var batches: [[Int64]] = []
        /// When each call began and ended (monotonic nanoseconds), in order.
        var began: [UInt64] = []
        var ended: [UInt64] = []
        /// `Authorization` values the fake user service refuses with 401 (revoked tokens).
        var revoked: Set<String> = []
    }

    let state = Mutex(State())
    let server: HTTPServer

    var baseURL: String { "http://127.0.0.1:\(server.localPort)" }

    private init(server: HTTPServer) { self.server = server }

    /// Starts a fake user service and movie service (each on both loops).
    static func start(group: EventLoopGroup) async throws -> WatchlistFakeUpstream {
        let box = Mutex<WatchlistFakeUpstream?>(nil)
        var router = Router()
        router.get("/api/users/{id:int}") { request in
            let fake = try #require(box.withLock { $0 })
            let id = Int64(try request.parameters.int("id"))
            let authorization = request.headers["Authorization"]
            let (exists, refused) = try await fake.record("GET /api/users", request) { state in
                (state.users.contains(id), authorization.map { state.revoked.contains($0) } ?? false)
            }
            if refused { throw ServiceError.unauthorized("Token revoked") }
            guard exists else { throw ServiceError.notFound("User") }
            return .json(.ok, JSONValue.object(JSONObject(["id": .int(id), "name": .string("Test")])).jsonBytes)
        }
        router.get("/api/movies/{id:int}") { request in
            let fake = try #require(box.withLock { $0 })
            let id = Int64(try request.parameters.int("id"))
            let movie = try await fake.record("GET /api/movies", request) { $0.movies[id] }
            guard let movie else { throw ServiceError.notFound("Movie") }
            return .json(.ok, JSONValue.object(movie).jsonBytes)
        }
        router.post("/api/movies/batch") { request in
            let fake = try #require(box.withLock { $0 })
            let body = try await request.body.collect(upTo: 1 << 20)
            let ids = try #require(JSONParser.parse(body)["movie_ids"]?.arrayValue).compactMap(\.intValue)
            let found = try await fake.record("POST /api/movies/batch", request) { state in
                state.batches.append(ids)
                return ids.compactMap { state.movies[$0] }
            }
            return .json(.ok, JSONValue.array(found.map { .object($0) }).jsonBytes)
        }
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.drainTimeout = .milliseconds(50)
        configuration.errorRenderer = FastAPIErrorRenderer()
        let server = HTTPServer(configuration: configuration, group: group, responder: router)
        try await server.start()
        let fake = WatchlistFakeUpstream(server: server)
        box.withLock { $0 = fake }
        Task { await server.run() }
        return fake
    }

    /// Counts the call, waits the configured delay, then reads the state.
    private func record<T: Sendable>(
        _ route: String, _ request: HTTPServerRequest, _ read: @Sendable (inout State) -> T
    ) async throws -> T {
        let delay = state.withLock { state in
            state.calls[route, default: 0] += 1
            if let id = request.headers["X-Request-ID"] { state.requestIDs.append(id) }
            if let authorization = request.headers["Authorization"] { state.authorizations.append(authorization) }
            state.began.append(monotonicNanoseconds())
            return state.delay
        }
        if delay > .zero { try await request.loop.sleep(for: delay) }
        return state.withLock { state in
            state.ended.append(monotonicNanoseconds())
            return read(&state)
        }
    }

    func calls(_ route: String) -> Int { state.withLock { $0.calls[route, default: 0] } }

    /// When the last call began and ended (monotonic nanoseconds), if there was one.
    var lastCall: (began: UInt64, ended: UInt64)? {
        state.withLock { state in
            guard let began = state.began.last, let ended = state.ended.last else { return nil }
            return (began, ended)
        }
    }

    func resetCounts() {
        state.withLock {
            $0.calls = [:]
            $0.batches = []
            $0.requestIDs = []
        }
    }

    func addUser(_ id: Int64) { state.withLock { _ = $0.users.insert(id) } }

    func addMovie(_ id: Int64, title: String? = nil) {
        let movie = JSONObject([
            "id": .int(id), "title": .string(title ?? "Movie \(id)"), "director": .string("Director \(id)"),
            "year": .int(1950 + id % 70), "genre": .string("Drama"), "rating": .double(7.5),
            "created_at": .string("2026-01-01T00:00:00Z"), "updated_at": .string("2026-01-02T00:00:00Z"),
        ])
        state.withLock { $0.movies[id] = movie }
    }

    func removeMovie(_ id: Int64) { state.withLock { _ = $0.movies.removeValue(forKey: id) } }

    func setDelay(_ delay: Duration) { state.withLock { $0.delay = delay } }

    func stop() { server.shutdown() }
}

/// A watchlist service started in-process against the suite's database and two fake
/// upstreams; requests go through ServiceKit's ``ServiceResponder`` (request ids, error
/// mapping, health, metrics) without a socket.
struct WatchlistHarness {
    static let group: EventLoopGroup = {
        do { return try EventLoopGroupHolder.shared() } catch { fatalError("cannot start event loops: \(error)") }
    }()

    /// One database for every watchlist test; tests keep apart by using their own user ids.
    static let databaseURL: String = {
        do { return try TestServers.postgres().createDatabase(named: "watchlist_service_tests") } catch {
            fatalError("cannot create the watchlist test database: \(error)")
        }
    }()

    private static let nextBase = Atomic<Int64>(0)

    /// A block of 1,000,000 ids no other test of this process uses.
    static func uniqueIDBase() -> Int64 {
        nextBase.wrappingAdd(1, ordering: .relaxed).newValue * 1_000_000
    }

    let users: WatchlistFakeUpstream
    let movies: WatchlistFakeUpstream
    let responder: ServiceResponder
    let definition: ServiceDefinition
    let metrics: Metrics

    /// - Parameters:
    ///   - movieServiceURL: overrides the fake movie service's URL (a closed port, say).
    static func start(
        upstreamTimeout: Duration = .seconds(2), movieServiceURL: String? = nil, databaseURL: String? = nil,
        authenticator: Authenticator = Authenticator(secret: nil, required: false)
    ) async throws -> WatchlistHarness {
        let users = try await WatchlistFakeUpstream.start(group: group)
        let movies = try await WatchlistFakeUpstream.start(group: group)
        var options = WatchlistService.Options(
            databaseURL: databaseURL ?? Self.databaseURL, userServiceURL: users.baseURL,
            movieServiceURL: movieServiceURL ?? movies.baseURL)
        options.upstreamTimeout = upstreamTimeout
        options.databasePoolMax = 4
        let logger = Logger(service: WatchlistService.name, level: .error, sink: LogCapture().sink)
        let metrics = Metrics(service: WatchlistService.name, loopCount: group.loops.count)
        let definition = try await WatchlistService.make(
            options: options, group: group, logger: logger, metrics: metrics, authenticator: authenticator)
        let responder = ServiceResponder(
            service: WatchlistService.name, router: definition.router, logger: logger, metrics: metrics,
            healthChecks: definition.healthChecks, errorMapper: definition.errorMapper)
        return WatchlistHarness(
            users: users, movies: movies, responder: responder, definition: definition, metrics: metrics)
    }

    func stop() async {
        users.stop()
        movies.stop()
        for hook in definition.shutdownHooks.reversed() { await hook() }
    }

    /// One request, in-process, on `loop` (loop 0 unless told).
    func call(
        _ method: HTTPMethod, _ target: String, json: JSONValue? = nil, headers: HTTPHeaders = [:], loop: Int = 0
    ) async -> HTTPServerResponse {
        var headers = headers
        if json != nil { headers.add(name: "Content-Type", value: "application/json") }
        return await responder.call(
            method, target, headers: headers, body: json?.jsonBytes ?? [],
            on: Self.group.loops[loop % Self.group.loops.count])
    }

    /// `POST /api/watchlist`.
    func add(user: Int64, movie: Int64, headers: HTTPHeaders = [:], loop: Int = 0) async -> HTTPServerResponse {
        await call(
            .POST, "/api/watchlist", json: .object(JSONObject(["user_id": .int(user), "movie_id": .int(movie)])),
            headers: headers, loop: loop)
    }
}

extension HTTPServerResponse {
    /// `detail` of an error body.
    var detail: String? { jsonBody?["detail"]?.stringValue }
}

/// A loopback port with nothing listening on it (bound, then closed).
func watchlistClosedPort(group: EventLoopGroup) async throws -> Int {
    let loop = group.loops[0]
    return try await Task(executorPreference: loop) {
        let listener = try TCPListener(
            address: SocketAddress(numericHost: "127.0.0.1", port: 0)!, on: loop, reusePort: false)
        let port = listener.localAddress.port
        listener.close()
        return port
    }.value
}

/// Seconds since `start` (a `monotonicNanoseconds()` reading).
func watchlistSeconds(since start: UInt64) -> Double { Double(monotonicNanoseconds() &- start) / 1e9 }
