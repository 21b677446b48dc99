import AuthToken
import Gateway
import HTTP
import Logging
import MarqueeTesting
import MovieService
import Reactor
import ServiceKit
import Synchronization
import Telemetry
import Testing
import UserService
import WatchlistService

/// The whole system in this process, as the executables run it: the three services started
/// through ``ServiceRunner/run`` from environment settings (so `AUTH_SECRET` checks, the
/// admin-token confirmer and the error mapping are the production ones), on real
/// PostgreSQL and Redis, behind the real gateway; `AUTH_REQUIRED=true` unless told.
final class SecurityStack: Sendable {
    static let secret = "security-stack-secret-0123456789abcdef0123"

    let name: String
    let gateway: GatewayServer
    let client: HTTPClient
    let userPort: Int
    let moviePort: Int
    let watchlistPort: Int
    let logs: LogCapture
    private let stoppers: [AsyncStream<Int32>.Continuation]
    private let tasks: [Task<Int32, Never>]
    private let gatewayTask: Task<Void, Never>

    private init(
        name: String, gateway: GatewayServer, client: HTTPClient, ports: (Int, Int, Int), logs: LogCapture,
        stoppers: [AsyncStream<Int32>.Continuation], tasks: [Task<Int32, Never>], gatewayTask: Task<Void, Never>
    ) {
        self.name = name
        self.gateway = gateway
        self.client = client
        (userPort, moviePort, watchlistPort) = ports
        self.logs = logs
        self.stoppers = stoppers
        self.tasks = tasks
        self.gatewayTask = gatewayTask
    }

    /// - Parameters:
    ///   - name: a prefix for the test's own databases.
    ///   - userEnvironment: extra settings for the user service (a bootstrap admin, say).
    static func start(
        name: String, authRequired: Bool = true, userEnvironment: [String: String] = [:],
        gatewayEnvironment: [String: String] = [:]
    ) async throws -> SecurityStack {
        let group = try EventLoopGroupHolder.shared()
        let postgres = try TestServers.postgres()
        let redis = try TestServers.redis()
        let (userPort, moviePort, watchlistPort) = (
            try TestServers.freePort(), try TestServers.freePort(), try TestServers.freePort()
        )
        let common: [String: String] = [
            "HOST": "127.0.0.1", "AUTH_SECRET": secret, "AUTH_REQUIRED": authRequired ? "true" : "false",
            "USER_SERVICE_URL": "http://127.0.0.1:\(userPort)", "MOVIE_SERVICE_URL": "http://127.0.0.1:\(moviePort)",
            "WATCHLIST_SERVICE_URL": "http://127.0.0.1:\(watchlistPort)", "LOG_LEVEL": "info",
        ]
        let logs = LogCapture()
        var stoppers: [AsyncStream<Int32>.Continuation] = []
        var tasks: [Task<Int32, Never>] = []

        func launch(
            _ service: String, settings: [Setting], port: Int, environment: [String: String],
            make: @escaping ServiceRunner.Make
        ) async throws {
            var env = common.merging(environment) { _, new in new }
            env["PORT"] = String(port)
            env["USER_SERVICE_URL"] = settings.contains { $0.name == "USER_SERVICE_URL" } ? env["USER_SERVICE_URL"] : nil
            guard
                case .configuration(let configuration) = try ServiceConfiguration.parse(
                    settings: settings, environment: env, arguments: [])
            else { throw TestServerError("\(service): --help?") }
            let started = Atomic<Int>(0)
            let (stream, stopper) = AsyncStream<Int32>.makeStream()
            let logger = Logger(service: service, level: .info, sink: logs.sink)
            let task = Task {
                await ServiceRunner.run(
                    name: service, configuration: configuration, group: group, logger: logger, make: make,
                    stopRequests: stream, started: { started.store($0, ordering: .relaxed) })
            }
            stoppers.append(stopper)
            tasks.append(task)
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(60))
            while started.load(ordering: .relaxed) == 0 {
                guard clock.now < deadline else { throw TestServerError("\(service) did not start: \(logs.captured)") }
                if task.isCancelled { break }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        try await launch(
            UserService.name, settings: UserService.settings, port: userPort,
            environment: [
                // Every request of a test comes from 127.0.0.1: the per-client rate limit is
                // off unless a test turns it on.
                "DATABASE_URL": try postgres.createDatabase(named: "\(name)_users"), "SCRYPT_LOG_N": "15",
                "AUTH_RATE_LIMIT": "0",
            ].merging(userEnvironment) { _, new in new }
        ) { try await UserService.make($0) }
        try await launch(
            MovieService.name, settings: MovieService.settings, port: moviePort,
            environment: ["DATABASE_URL": try postgres.createDatabase(named: "\(name)_movies"), "REDIS_URL": redis.url]
        ) { try await MovieService.make($0) }
        try await launch(
            WatchlistService.name, settings: WatchlistService.settings, port: watchlistPort,
            environment: ["DATABASE_URL": try postgres.createDatabase(named: "\(name)_watchlist")]
        ) { try await WatchlistService.make($0) }

        var gatewayEnvironment = gatewayEnvironment
        gatewayEnvironment["AUTH_SECRET"] = gatewayEnvironment["AUTH_SECRET"] ?? secret
        var configuration = try GatewayConfiguration.parse(environment: gatewayEnvironment, arguments: [])
        configuration.port = 0
        configuration.tlsPort = 0
        configuration.loops = group.loops.count
        configuration.accessLog = false
        configuration.healthCheckInterval = .zero
        configuration.shutdownTimeout = .milliseconds(500)
        configuration.upstreams = [
            .users: [UpstreamURL(host: "127.0.0.1", port: userPort)],
            .movies: [UpstreamURL(host: "127.0.0.1", port: moviePort)],
            .watchlist: [UpstreamURL(host: "127.0.0.1", port: watchlistPort)],
        ]
        let gateway = try GatewayServer(configuration: configuration, group: group)
        try await gateway.start()
        let gatewayTask = Task { _ = await gateway.run() }
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.responseTimeout = .seconds(30)
        return SecurityStack(
            name: name, gateway: gateway, client: HTTPClient(group: group, configuration: clientConfiguration),
            ports: (userPort, moviePort, watchlistPort), logs: logs, stoppers: stoppers, tasks: tasks,
            gatewayTask: gatewayTask)
    }

    func stop() async {
        await client.shutdown()
        gateway.shutdown()
        await gatewayTask.value
        for stopper in stoppers.reversed() { stopper.yield(15) }
        for task in tasks { _ = await task.value }
    }

    // MARK: Requests through the gateway

    struct Reply: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: JSONValue? { try? JSONParser.parse(body) }
        /// The `loc` paths of a 422's issues, as `body.email`.
        var issueLocations: [String] {
            (json?["detail"]?.arrayValue ?? []).map { issue in
                (issue["loc"]?.arrayValue ?? []).map { $0.stringValue ?? $0.intValue.map(String.init) ?? "?" }
                    .joined(separator: ".")
            }
        }
    }

    /// One request through the gateway (`token` as a bearer token; `json` as the body).
    func send(
        _ method: HTTPMethod, _ target: String, json: String? = nil, token: String? = nil, headers: HTTPHeaders = [:],
        port: Int? = nil
    ) async throws -> Reply {
        var headers = headers
        if json != nil { headers.replaceOrAdd(name: "Content-Type", value: "application/json") }
        if let token { headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)") }
        let response = try await client.execute(
            HTTPClientRequest(
                method: method, origin: HTTPOrigin(host: "127.0.0.1", port: port ?? gateway.httpPort), target: target,
                headers: headers, body: json.map { Array($0.utf8) }))
        return Reply(status: response.status.code, headers: response.head.headers, body: response.body)
    }

    /// Signs up; returns the new id (records an issue unless 201).
    @discardableResult
    func signUp(_ email: String, password: String = "secret123", name: String = "Test") async throws -> Int64 {
        let reply = try await send(
            .POST, "/api/users", json: #"{"name":"\#(name)","email":"\#(email)","password":"\#(password)"}"#)
        #expect(reply.status == 201, "sign-up \(email): \(reply.text)")
        return reply.json?["id"]?.intValue ?? 0
    }

    /// Logs in; returns the token ("" and an issue on failure).
    func login(_ email: String, password: String = "secret123") async throws -> String {
        let reply = try await send(.POST, "/api/auth/login", json: #"{"email":"\#(email)","password":"\#(password)"}"#)
        #expect(reply.status == 200, "login \(email): \(reply.text)")
        return reply.json?["access_token"]?.stringValue ?? ""
    }

    /// Runs the operator's command (what `user-service admin grant EMAIL` runs) on the
    /// user service's database.
    func admin(_ command: UserAdministration.Command) async throws -> Int32 {
        let url = try TestServers.postgres().url(database: "\(name)_users")
        return await UserAdministration.run(command, databaseURL: url, group: try EventLoopGroupHolder.shared()) { _ in }
    }

    /// SQL on the user service's database, as the superuser.
    @discardableResult
    func usersSQL(_ sql: String) throws -> String {
        try TestServers.postgres().psql(sql, database: "\(name)_users")
    }

    /// SQL on the watchlist service's database, as the superuser.
    @discardableResult
    func watchlistSQL(_ sql: String) throws -> String {
        try TestServers.postgres().psql(sql, database: "\(name)_watchlist")
    }
}
