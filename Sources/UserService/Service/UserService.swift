import AuthToken
import CoreMetrics
import HTTP
import Logging
import Postgres
import Reactor
import ServiceKit
import Synchronization

/// The user service: users (sign-up and CRUD) and authentication (login, tokens), on
/// `userdb`, plus the relay that tells the watchlist service about deleted users.
///
/// Routes, on the service's own port with the gateway's paths (API.md, Users and
/// Authentication): `POST/GET /api/users`, `GET/PUT/PATCH/DELETE /api/users/{user_id}`,
/// `POST /api/auth/login`, `GET /api/auth/me`; ServiceKit adds `/health` and `/metrics`.
///
/// ```swift
/// // main.swift
/// ServiceRunner.main(name: UserService.name, settings: UserService.settings) { context in
///     try await UserService.make(context)
/// }
/// // tests
/// let service = try await UserService.start(configuration: config, group: group, logger: logger)
/// let response = await service.responder.call(.GET, "/api/users", on: group.loops[0])
/// await service.shutdown()
/// ```
public final class UserService: Sendable {
    public static let name = "user-service"

    public let configuration: Configuration
    public let group: EventLoopGroup
    public let logger: Logger
    public let metrics: Metrics
    public let database: PostgresClient
    public let store: UserStore
    public let hashing: PasswordHashing
    public let authenticator: Authenticator
    /// Whether a token is still current (its version), from `userdb`.
    let tokens: StoredTokenConfirmer
    public let signer: TokenSigner
    public let throttler: LoginThrottler
    public let authRate: ClientRateLimiter
    public let clientAddress: ClientAddress
    public let relay: DeletionRelay
    let watchlistClient: HTTPClient
    let counters: Counters

    /// The relay's task, from ``start(configuration:group:logger:metrics:)`` to ``shutdown()``.
    // Lock rule: set once at start, taken once at shutdown.
    private let relayTask = Mutex<Task<Void, Never>?>(nil)

    struct Counters: Sendable {
        let loginSucceeded: Counter
        let loginFailed: Counter
        let loginThrottled: Counter
        let rateLimited: Counter
    }

    private init(
        configuration: Configuration, group: EventLoopGroup, logger: Logger, metrics: Metrics,
        database: PostgresClient, secret: String
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.metrics = metrics
        self.database = database
        store = UserStore(client: database)
        hashing = PasswordHashing(
            hasher: configuration.hasher, pool: configuration.hashingPool, maxPending: configuration.hashingMaxPending)
        tokens = StoredTokenConfirmer(store: store)
        authenticator = Authenticator(secret: secret, required: configuration.authRequired, confirmer: tokens)
        signer = TokenSigner(secret: secret)
        throttler = LoginThrottler(policy: configuration.throttle)
        authRate = ClientRateLimiter(policy: configuration.authRate)
        clientAddress = ClientAddress(trusted: configuration.trustedProxies)
        watchlistClient = HTTPClient(group: group)
        metrics.observe(postgres: database)
        if let (origin, _) = HTTPOrigin.split(url: configuration.watchlistServiceURL) {
            metrics.observe(client: watchlistClient, origin: origin, upstream: "watchlist-service")
        }
        relay = DeletionRelay(
            configuration: configuration.relay, store: store, client: watchlistClient, loop: group.loops[0],
            logger: logger)
        counters = Counters(
            loginSucceeded: metrics.counter(
                "user_logins_total", help: "Login attempts by outcome.", labels: ["result": "success"]),
            loginFailed: metrics.counter(
                "user_logins_total", help: "Login attempts by outcome.", labels: ["result": "failure"]),
            loginThrottled: metrics.counter(
                "user_logins_total", help: "Login attempts by outcome.", labels: ["result": "throttled"]),
            rateLimited: metrics.counter(
                "user_auth_rate_limited_total", help: "Sign-ups and logins refused by the per-client rate limit."))
        let hashing = hashing
        metrics.counter(
            "user_password_hash_computations_total", help: "scrypt computations started (sign-ups, logins, changes)."
        ) { Double(hashing.computations) }
        metrics.counter(
            "user_password_hash_refused_total", help: "Password checks refused with 503 because the hashing queue was full."
        ) { Double(hashing.refused) }
        let relay = relay
        metrics.counter(
            "user_deletions_delivered_total", help: "Deleted users whose watchlist cleanup was delivered."
        ) { Double(relay.delivered.load(ordering: .relaxed)) }
        metrics.counter(
            "user_deletion_delivery_failures_total", help: "Failed deliveries of watchlist cleanups (retried)."
        ) { Double(relay.failedAttempts.load(ordering: .relaxed)) }
    }

    /// Connects, migrates `userdb` (retrying an unreachable database for
    /// `startupTimeout`), and starts the deletion relay.
    /// - Throws: ``UserServiceError`` `.configuration` (empty secret with auth required, bad
    ///   URL) or `.setUp` (database unreachable or migrations failed).
    public static func start(
        configuration: Configuration, group: EventLoopGroup, logger: Logger,
        metrics: Metrics? = nil
    ) async throws -> UserService {
        let secret: String
        if let given = configuration.authSecret, !given.isEmpty {
            if let problem = AuthSecretPolicy.problem(with: given) {
                throw UserServiceError(.configuration, problem)
            }
            secret = given
        } else if configuration.authRequired {
            throw UserServiceError(.configuration, "AUTH_REQUIRED=true needs a non-empty AUTH_SECRET")
        } else {
            secret = generatedSecret()
            logger.warning(
                "AUTH_SECRET is not set: using a random secret for this process; tokens end with it and other services cannot verify them")
        }
        let postgres: PostgresConfiguration
        do {
            postgres = configuration.databaseTimeouts.applied(to: try PostgresConfiguration(url: configuration.databaseURL))
        } catch {
            throw UserServiceError(.configuration, "DATABASE_URL is not a PostgreSQL URL", underlying: error)
        }
        let database = PostgresClient(
            configuration: postgres, group: group, minConnections: configuration.dbPoolMin,
            maxConnections: max(configuration.dbPoolMin, configuration.dbPoolMax))
        do {
            try await migrate(database, timeout: configuration.startupTimeout, logger: logger)
        } catch {
            await database.shutdown()
            throw error
        }
        let service = UserService(
            configuration: configuration, group: group, logger: logger,
            metrics: metrics ?? Metrics(service: name, loopCount: group.loops.count), database: database,
            secret: secret)
        if let bootstrap = configuration.adminBootstrap {
            do {
                try await bootstrap.run(store: service.store, hashing: service.hashing, logger: logger)
            } catch {
                await database.shutdown()
                throw error
            }
        }
        service.startRelay()
        service.store.keys.startExpiry(on: group.loops[0])
        return service
    }

    /// For ``ServiceRunner``: builds the service from the process's settings.
    public static func make(_ context: ServiceContext) async throws -> ServiceDefinition {
        let service = try await start(
            configuration: try configuration(from: context.configuration), group: context.group, logger: context.logger,
            metrics: context.metrics)
        return service.definition
    }

    /// Routes, health check, error mapping and shutdown work, for the runner or a test.
    public var definition: ServiceDefinition {
        ServiceDefinition(
            router: router, healthChecks: [healthCheck], errorMapper: Self.mapError,
            shutdownHooks: [{ await self.shutdown() }])
    }

    /// The whole HTTP face, with ServiceKit's middleware (request ids, `/health`, `/metrics`,
    /// access log, error mapping): what the runner serves, and what tests call in-process.
    public var responder: ServiceResponder {
        ServiceResponder(
            service: Self.name, router: router, logger: logger, metrics: metrics, healthChecks: [healthCheck],
            errorMapper: Self.mapError)
    }

    /// `"database": "ok"` when `SELECT 1` answers within the check's timeout.
    var healthCheck: HealthCheck {
        let database = database
        let logger = logger
        return HealthCheck(name: "database") {
            do {
                _ = try await database.query("SELECT 1")
                return true
            } catch {
                logger.warning("health: database check failed", error: error)
                return false
            }
        }
    }

    /// Stops the relay, then closes the watchlist client and the database pools.
    public func shutdown() async {
        let task = relayTask.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
        await store.keys.stopExpiry()
        await watchlistClient.shutdown()
        await database.shutdown()
    }

    /// Starts ``relay`` on loop 0.
    ///
    /// Why an unstructured task: ServiceKit's runner has no slot for background work yet, so
    /// the service owns this one task itself — created here, cancelled and awaited in
    /// ``shutdown()`` (a shutdown hook), never left running.
    private func startRelay() {
        let relay = relay
        let task = Task(executorPreference: group.loops[0]) { await relay.run() }
        relayTask.withLock { $0 = task }
    }

    /// Database trouble as the client should see it, as the other services answer it: 503
    /// `Database unavailable` when it cannot be reached, 504 `Database timeout` when a
    /// statement ran out of time (our deadline or PostgreSQL's `statement_timeout`, whichever
    /// fired first); never a 500 with its text.
    static let mapError: ServiceResponder.ErrorMapper = { error in
        guard let error = error as? PostgresError else { return nil }
        switch error.code {
        case .connectionFailed, .connectionClosed, .poolExhausted, .poolTimeout, .shutdown:
            return ServiceError.serviceUnavailable("Database unavailable")
        case .queryCanceled, .queryTimeout:
            return ServiceError.gatewayTimeout("Database timeout")
        default:
            return nil
        }
    }

    /// Runs the migrations, retrying while the database cannot be reached.
    static func migrate(_ database: PostgresClient, timeout: Duration, logger: Logger) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        let backoff = RetryBackoff(initial: .milliseconds(200), maximum: .seconds(2))
        var failures = 0
        while true {
            do {
                let applied = try await PostgresMigrator(client: database).migrate(UserMigrations.all)
                if !applied.isEmpty {
                    logger.info("migrated userdb", metadata: ["versions": .string(applied.map(String.init).joined(separator: ","))])
                }
                return
            } catch let error as PostgresError
                where error.code == .connectionFailed || error.code == .connectionClosed
            {
                failures += 1
                let delay = backoff.delay(afterFailures: failures, random: .random(in: 0...1))
                guard clock.now.advanced(by: delay) < deadline else {
                    throw UserServiceError(.setUp, "database unreachable", underlying: error)
                }
                logger.warning("database not reachable yet, retrying", error: error)
                try await Task.sleep(for: delay)
            } catch {
                throw UserServiceError(.setUp, "migrations failed", underlying: error)
            }
        }
    }

    /// 32 random bytes from the kernel's CSPRNG (`getrandom`), base64.
    static func generatedSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Base64.encode(bytes)
    }
}
