import HTTP
import Logging
import Postgres
import Reactor
import Redis
import ServiceKit

/// The movie service: the catalog with its Redis cache-aside, as a library so that tests
/// (and `movie-service`'s thin `main`) start it in-process.
///
/// ```swift
/// // main.swift
/// ServiceRunner.main(name: MovieService.name, settings: MovieService.settings) { try await MovieService.make($0) }
///
/// // a test
/// let service = try await MovieService.start(options, group: group)
/// let response = await service.responder().call(.GET, "/api/movies/1", on: group.loops[0])
/// ```
public final class MovieService: Sendable {
    public static let name = "movie-service"

    /// Every setting, for the runner (environment variables with matching flags, `--help`).
    public static let settings: [Setting] = [
        .host, .port(default: 8002), .loops, .loopAffinity, .logLevel,
        .databaseURL(default: "postgresql://movie:movie_pass@127.0.0.1:5432/moviedb"), .redisURL, .cacheTTL,
        .authSecret, .authRequired, .userServiceURL, .dbPoolMin, .dbPoolMax, .dbQueryTimeout, .dbStatementTimeout,
    ]

    /// What the service needs to start; ``init(configuration:)`` reads it from the settings.
    public struct Options: Sendable {
        public var databaseURL: String
        public var redisURL: String
        public var ttl: CacheTTLs
        public var databasePoolMin: Int
        public var databasePoolMax: Int
        /// `DB_QUERY_TIMEOUT`, `DB_STATEMENT_TIMEOUT`.
        public var databaseTimeouts = DatabaseTimeouts()
        /// How long a Redis command may take before the lookup falls back to PostgreSQL.
        public var redisCommandTimeout: Duration
        /// How long start-up keeps retrying the migrations while PostgreSQL is not reachable.
        public var startupTimeout: Duration

        public init(
            databaseURL: String, redisURL: String, ttl: CacheTTLs = CacheTTLs(), databasePoolMin: Int = 1,
            databasePoolMax: Int = 8, redisCommandTimeout: Duration = .milliseconds(500),
            startupTimeout: Duration = .seconds(30)
        ) {
            self.databaseURL = databaseURL
            self.redisURL = redisURL
            self.ttl = ttl
            self.databasePoolMin = databasePoolMin
            self.databasePoolMax = databasePoolMax
            self.redisCommandTimeout = redisCommandTimeout
            self.startupTimeout = startupTimeout
        }

        /// The options the settings give.
        public init(configuration: ServiceConfiguration) {
            self.init(
                databaseURL: configuration.string("DATABASE_URL") ?? "",
                redisURL: configuration.string("REDIS_URL") ?? "redis://127.0.0.1:6379/0",
                ttl: CacheTTLs(entry: configuration.int("CACHE_TTL") ?? 3600),
                databasePoolMin: configuration.int("DB_POOL_MIN") ?? 1,
                databasePoolMax: configuration.int("DB_POOL_MAX") ?? 8)
            databaseTimeouts = DatabaseTimeouts(configuration: configuration)
        }
    }

    public let options: Options
    public let group: EventLoopGroup
    public let database: PostgresClient
    public let redis: RedisClient
    public let catalog: MovieCatalog
    public let metrics: Metrics
    public let logger: Logger
    public let authenticator: Authenticator

    /// Creates the clients (they connect in the background); ``migrate()`` is the first I/O.
    /// - Throws: ``MovieServiceError`` `.invalidConfiguration` for a URL that does not parse.
    public init(
        options: Options, group: EventLoopGroup, metrics: Metrics? = nil, logger: Logger? = nil,
        authenticator: Authenticator = Authenticator(secret: nil, required: false)
    ) throws {
        let postgresConfiguration: PostgresConfiguration
        var redisConfiguration: RedisConfiguration
        do {
            postgresConfiguration = options.databaseTimeouts.applied(to: try PostgresConfiguration(url: options.databaseURL))
            redisConfiguration = try RedisConfiguration(url: options.redisURL)
        } catch {
            throw MovieServiceError(.invalidConfiguration, message: "\(error)")
        }
        redisConfiguration.commandTimeout = options.redisCommandTimeout
        self.options = options
        self.group = group
        self.metrics = metrics ?? Metrics(service: Self.name, loopCount: group.loops.count)
        self.logger = logger ?? Logger(label: Self.name)
        self.authenticator = authenticator
        database = PostgresClient(
            configuration: postgresConfiguration, group: group, minConnections: options.databasePoolMin,
            maxConnections: max(options.databasePoolMin, options.databasePoolMax))
        redis = RedisClient(configuration: redisConfiguration, group: group)
        self.metrics.observe(postgres: database)
        self.metrics.observe(redis: redis)
        let cache = MovieCache(redis: redis, ttl: options.ttl)
        catalog = MovieCatalog(
            repository: MovieRepository(database: database), cache: cache,
            lists: MovieListCache(cache: cache, ttl: options.ttl.listPage),
            metrics: CacheMetrics(metrics: self.metrics), group: group)
    }

    /// A started service: clients created and the schema migrated.
    public static func start(
        _ options: Options, group: EventLoopGroup, metrics: Metrics? = nil, logger: Logger? = nil,
        authenticator: Authenticator = Authenticator(secret: nil, required: false)
    ) async throws -> MovieService {
        let service = try MovieService(
            options: options, group: group, metrics: metrics, logger: logger, authenticator: authenticator)
        do {
            try await service.migrate()
        } catch {
            await service.shutdown()
            throw error
        }
        service.catalog.repository.keys.startExpiry(on: group.loops[0])
        return service
    }

    /// For ``ServiceRunner``: start from the process's settings.
    public static func make(_ context: ServiceContext) async throws -> ServiceDefinition {
        let service = try await start(
            Options(configuration: context.configuration), group: context.group, metrics: context.metrics,
            logger: context.logger, authenticator: context.authenticator)
        return service.definition
    }

    /// Applies the migrations, retrying while PostgreSQL cannot be reached (a service that
    /// starts before its database, as containers do), up to ``Options/startupTimeout``.
    public func migrate() async throws {
        let deadline = ContinuousClock.now + options.startupTimeout
        while true {
            do {
                try await catalog.repository.migrate()
                return
            } catch let error as PostgresError where error.code == .connectionFailed && ContinuousClock.now < deadline {
                logger.warning("database not reachable yet; retrying", error: error)
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Routes, health checks, error mapping and shutdown, for ``ServiceResponder``.
    public var definition: ServiceDefinition {
        var router = ServiceRouter()
        MovieRoutes(catalog: catalog, authenticator: authenticator).register(into: &router)
        let repository = catalog.repository
        let cache = catalog.cache
        return ServiceDefinition(
            router: router,
            healthChecks: [
                HealthCheck(name: "database") { await repository.ping() },
                // Optional: without Redis the service answers from PostgreSQL.
                HealthCheck(name: "cache", required: false) { await cache.ping() },
            ],
            errorMapper: Self.mapError,
            shutdownHooks: [{ [self] in await self.shutdown() }])
    }

    /// The whole service behind ServiceKit's middleware (request ids, /health, /metrics).
    public func responder() -> ServiceResponder {
        let definition = definition
        return ServiceResponder(
            service: Self.name, router: definition.router, logger: logger, metrics: metrics,
            healthChecks: definition.healthChecks, errorMapper: definition.errorMapper)
    }

    /// Closes the clients.
    public func shutdown() async {
        await catalog.repository.keys.stopExpiry()
        redis.close()
        await database.shutdown()
    }

    /// PostgreSQL failures as API.md's 503/504 with a clear `detail`.
    @Sendable static func mapError(_ error: any Error) -> (any HTTPResponseError)? {
        guard let error = error as? PostgresError else { return nil }
        switch error.code {
        case .connectionFailed, .connectionClosed, .shutdown:
            return ServiceError.serviceUnavailable("Database unavailable")
        case .poolTimeout, .poolExhausted:
            return ServiceError.serviceUnavailable("Database busy")
        case .queryCanceled, .queryTimeout:
            return ServiceError.gatewayTimeout("Database timeout")
        default:
            return nil
        }
    }
}
