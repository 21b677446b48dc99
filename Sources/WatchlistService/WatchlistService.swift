import HTTP
import Logging
import Postgres
import Reactor
import ServiceKit

/// The watchlist service: which movies each user wants to watch (API.md, "Watchlist").
///
/// A library, so that tests start it in-process; `watchlist-service` is a thin `main`
/// around ``make(_:)`` and ServiceKit's runner.
///
/// `/health` checks the database only. The user and movie services are deliberately not
/// health dependencies: this service still answers most of its API without them (checks,
/// deletes, "who added this movie", the internal delete), and answers the rest with a
/// clear 503/504 naming the missing service. Were they part of its health, a movie-service
/// outage would make orchestrators pull (or restart) healthy watchlist instances as well,
/// turning one outage into two; each service's own health check reports it instead.
public enum WatchlistService {
    public static let name = "watchlist-service"

    /// How long an upstream may take to answer once asked: `UPSTREAM_TIMEOUT`.
    public static let upstreamTimeout = Setting(
        "UPSTREAM_TIMEOUT", kind: .duration, default: "2s",
        help: "Time the user and movie services have to answer a call (connecting has 1 s more).")

    /// Every setting, for `--help` and the runner.
    public static let settings: [Setting] = [
        .host, .port(default: 8003), .loops, .loopAffinity, .logLevel,
        .databaseURL(default: "postgresql://watchlist:watchlist_pass@127.0.0.1:5432/watchlistdb"),
        .dbPoolMin, .dbPoolMax, .dbQueryTimeout, .dbStatementTimeout, .userServiceURL, .movieServiceURL, upstreamTimeout, .authSecret, .authRequired,
    ]

    /// What the service needs, apart from ServiceKit's shared machinery.
    public struct Options: Sendable {
        public var databaseURL: String
        public var userServiceURL: String
        public var movieServiceURL: String
        /// The response timeout of upstream calls (`UPSTREAM_TIMEOUT`).
        public var upstreamTimeout: Duration = .seconds(2)
        /// The connect timeout of upstream calls.
        public var connectTimeout: Duration = .seconds(1)
        public var databasePoolMin = 1
        public var databasePoolMax = 8
        /// `DB_QUERY_TIMEOUT`, `DB_STATEMENT_TIMEOUT`.
        public var databaseTimeouts = DatabaseTimeouts()
        /// How long start-up keeps retrying while the database is unreachable (containers
        /// starting together), before it gives up.
        public var startupRetry: Duration = .seconds(30)

        public init(databaseURL: String, userServiceURL: String, movieServiceURL: String) {
            self.databaseURL = databaseURL
            self.userServiceURL = userServiceURL
            self.movieServiceURL = movieServiceURL
        }

        /// Reads ``WatchlistService/settings``.
        public init(configuration: ServiceConfiguration) {
            // Every one of these has a default, so the fallbacks are never used.
            self.init(
                databaseURL: configuration.string("DATABASE_URL") ?? "",
                userServiceURL: configuration.string("USER_SERVICE_URL") ?? "",
                movieServiceURL: configuration.string("MOVIE_SERVICE_URL") ?? "")
            upstreamTimeout = configuration.duration("UPSTREAM_TIMEOUT") ?? .seconds(2)
            databasePoolMin = configuration.int("DB_POOL_MIN") ?? 1
            databasePoolMax = max(configuration.int("DB_POOL_MAX") ?? 8, 1)
            databaseTimeouts = DatabaseTimeouts(configuration: configuration)
        }
    }

    /// Set-up for ``ServiceRunner``.
    public static func make(_ context: ServiceContext) async throws -> ServiceDefinition {
        try await make(
            options: Options(configuration: context.configuration), group: context.group, logger: context.logger,
            metrics: context.metrics, authenticator: context.authenticator)
    }

    /// Connects to the database, applies the migrations, and returns the routes, the
    /// health check, the database error mapping and the shutdown hooks.
    ///
    /// - Throws: ``PostgresError`` when the database stays unreachable for
    ///   `startupRetry` or a migration fails; ``WatchlistError`` `.invalidConfiguration`
    ///   for an upstream URL that cannot be called.
    public static func make(
        options: Options, group: EventLoopGroup, logger: Logger, metrics: Metrics, authenticator: Authenticator
    ) async throws -> ServiceDefinition {
        guard
            let users = Upstreams.Endpoint(baseURL: options.userServiceURL, name: "User service", metric: .userService)
        else { throw WatchlistError(.invalidConfiguration, upstream: "USER_SERVICE_URL") }
        guard
            let movies = Upstreams.Endpoint(
                baseURL: options.movieServiceURL, name: "Movie service", metric: .movieService)
        else { throw WatchlistError(.invalidConfiguration, upstream: "MOVIE_SERVICE_URL") }

        let database = PostgresClient(
            configuration: options.databaseTimeouts.applied(to: try PostgresConfiguration(url: options.databaseURL)),
            group: group,
            minConnections: options.databasePoolMin,
            maxConnections: max(options.databasePoolMax, options.databasePoolMin))
        do {
            try await migrate(database, retryingFor: options.startupRetry, logger: logger)
        } catch {
            await database.shutdown()
            throw error
        }

        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectTimeout = options.connectTimeout
        clientConfiguration.responseTimeout = options.upstreamTimeout
        clientConfiguration.ioTimeout = options.upstreamTimeout
        clientConfiguration.poolWaitTimeout = options.upstreamTimeout
        let client = HTTPClient(group: group, configuration: clientConfiguration)
        metrics.observe(postgres: database)
        metrics.observe(client: client, origin: users.origin, upstream: UpstreamMetrics.Upstream.userService.label)
        metrics.observe(client: client, origin: movies.origin, upstream: UpstreamMetrics.Upstream.movieService.label)
        let upstreams = Upstreams(
            client: client, users: users, movies: movies, callTimeout: options.connectTimeout + options.upstreamTimeout,
            metrics: UpstreamMetrics(metrics: metrics), logger: logger)

        let store = WatchlistStore(database: database)
        store.keys.startExpiry(on: group.loops[0])
        var router = ServiceRouter()
        WatchlistRoutes(store: store, upstreams: upstreams, authenticator: authenticator).register(on: &router)
        return ServiceDefinition(
            router: router,
            healthChecks: [HealthCheck(name: "database") { await store.ping() }],
            errorMapper: mapDatabaseError,
            // Run in reverse: the client first, then the database.
            shutdownHooks: [{ await database.shutdown() }, { await store.keys.stopExpiry() }, { await client.shutdown() }])
    }

    /// Applies ``WatchlistSchema/migrations``, retrying while the database cannot be reached.
    static func migrate(_ database: PostgresClient, retryingFor patience: Duration, logger: Logger) async throws {
        let giveUp = ContinuousClock.now + patience
        while true {
            do {
                let applied = try await PostgresMigrator(client: database).migrate(WatchlistSchema.migrations)
                if !applied.isEmpty {
                    logger.info("migrated", metadata: ["versions": .array(applied.map { .stringConvertible($0) })])
                }
                return
            } catch let error as PostgresError where error.code == .connectionFailed && ContinuousClock.now < giveUp {
                logger.warning("database unreachable, retrying", error: error)
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Database trouble as the client should see it: 503 `Database unavailable` when it
    /// cannot be reached, 504 when a statement ran out of time; other errors stay 500s.
    @Sendable static func mapDatabaseError(_ error: any Error) -> (any HTTPResponseError)? {
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
}
