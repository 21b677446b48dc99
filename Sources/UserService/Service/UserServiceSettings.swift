import AuthToken
import Reactor
import ServiceKit

extension UserService {
    /// Everything the user service needs to start, independent of where it came from
    /// (settings for the executable, literals in tests).
    public struct Configuration: Sendable {
        public var databaseURL: String
        /// `AUTH_SECRET`. nil or empty: refused when `authRequired`, else a random secret is
        /// generated for this process (tokens then die with it, and the gateway cannot verify
        /// them — fine for local development, logged as a warning).
        public var authSecret: String?
        public var authRequired: Bool
        /// The first admin, created at start when there is none (`ADMIN_BOOTSTRAP_EMAIL`,
        /// `ADMIN_BOOTSTRAP_PASSWORD`); nil: none.
        public var adminBootstrap: AdminBootstrap?
        /// Token lifetime, seconds (`TOKEN_TTL`).
        public var tokenTTL: Int64
        public var watchlistServiceURL: String
        /// scrypt parameters for new hashes; stored hashes keep theirs and are upgraded at
        /// the next successful login when these are stronger.
        public var hasher: PasswordHasher
        public var throttle: LoginThrottlePolicy
        /// Password hash computations running or queued at most (`HASH_MAX_PENDING`); nil:
        /// four per blocking-pool thread. Beyond it sign-ups and logins get 503 + `Retry-After`.
        public var hashingMaxPending: Int?
        /// The threads that run scrypt: the process's shared blocking pool unless a test
        /// gives the service its own.
        public var hashingPool: BlockingPool = .shared
        /// Sign-ups and logins per second per client address (`AUTH_RATE_LIMIT`, `AUTH_RATE_BURST`).
        public var authRate: ClientRateLimiter.Policy = .standard
        /// Peers whose `X-Real-IP`/`X-Forwarded-For` are believed (the gateway).
        public var trustedProxies: [String]
        public var dbPoolMin: Int
        public var dbPoolMax: Int
        /// `DB_QUERY_TIMEOUT`, `DB_STATEMENT_TIMEOUT`.
        public var databaseTimeouts = DatabaseTimeouts()
        /// How long start-up keeps retrying an unreachable database before giving up.
        public var startupTimeout: Duration
        public var relay: DeletionRelay.Configuration

        public init(
            databaseURL: String, authSecret: String? = nil, authRequired: Bool = false,
            adminBootstrap: AdminBootstrap? = nil,
            tokenTTL: Int64 = 3600, watchlistServiceURL: String = "http://127.0.0.1:8003",
            hasher: PasswordHasher = PasswordHasher(), throttle: LoginThrottlePolicy = .standard,
            trustedProxies: [String] = ["127.0.0.1", "::1"], dbPoolMin: Int = 1, dbPoolMax: Int = 8,
            startupTimeout: Duration = .seconds(30), hashingMaxPending: Int? = nil
        ) {
            self.hashingMaxPending = hashingMaxPending
            self.databaseURL = databaseURL
            self.authSecret = authSecret
            self.authRequired = authRequired
            self.adminBootstrap = adminBootstrap
            self.tokenTTL = tokenTTL
            self.watchlistServiceURL = watchlistServiceURL
            self.hasher = hasher
            self.throttle = throttle
            self.trustedProxies = trustedProxies
            self.dbPoolMin = dbPoolMin
            self.dbPoolMax = dbPoolMax
            self.startupTimeout = startupTimeout
            self.relay = DeletionRelay.Configuration(watchlistServiceURL: watchlistServiceURL)
        }
    }

    /// The executable's settings (environment variables with matching flags; `--help`).
    public static let settings: [Setting] = [
        .host, .port(default: 8001), .loops, .loopAffinity, .logLevel,
        .databaseURL(default: "postgresql://user:user@127.0.0.1:5432/userdb"),
        .authSecret, .authRequired,
        Setting(
            "ADMIN_BOOTSTRAP_EMAIL", default: nil,
            help: "Creates this admin at start when the database has none (with ADMIN_BOOTSTRAP_PASSWORD); never promotes an existing account."),
        Setting(
            "ADMIN_BOOTSTRAP_PASSWORD", default: nil, secret: true,
            help: "The bootstrap admin's password, 12 to 128 characters."),
        Setting("TOKEN_TTL", kind: .int(60...2_592_000), default: "3600", help: "Access token lifetime, seconds."),
        .watchlistServiceURL,
        Setting(
            "SCRYPT_LOG_N", kind: .int(15...20), default: "15",
            help: "scrypt cost for new password hashes: N = 2^value (r = 8, p = 1); raise it at any time."),
        Setting(
            "HASH_MAX_PENDING", kind: .int(1...10_000), default: nil,
            help: "Password hash computations running or queued at most (default: 4 per blocking thread; new hashes take half at most, one client's checks half at most); more get 503 with Retry-After."),
        Setting(
            "AUTH_RATE_LIMIT", kind: .int(0...100_000), default: "20",
            help: "Sign-ups and logins per second per client address (0: off); 429 with Retry-After past it."),
        Setting("AUTH_RATE_BURST", kind: .int(1...100_000), default: "40", help: "Burst of AUTH_RATE_LIMIT."),
        Setting(
            "LOGIN_MAX_FAILURES", kind: .int(1...1000), default: "5",
            help: "Failed logins per email from one client address before that address waits (429, growing delays)."),
        Setting(
            "LOGIN_MAX_FAILURES_PER_CLIENT", kind: .int(1...100_000), default: "20",
            help: "Failed logins per client address before it is locked for a while (429)."),
        Setting(
            "LOGIN_TRUSTED_PROXIES", kind: .list, default: "127.0.0.1,::1",
            help: "Peers (addresses or IPv4 CIDRs) whose X-Real-IP/X-Forwarded-For name the client: the gateway."),
        .dbPoolMin, .dbPoolMax, .dbQueryTimeout, .dbStatementTimeout,
    ]

    /// Reads ``settings``.
    /// - Throws: ``UserServiceError`` `.configuration` for a half-given or invalid bootstrap admin.
    public static func configuration(from settings: ServiceConfiguration) throws -> Configuration {
        let logN = settings.int("SCRYPT_LOG_N") ?? 15
        var throttle = LoginThrottlePolicy.standard
        throttle.perEmail.maxFailures = settings.int("LOGIN_MAX_FAILURES") ?? 5
        throttle.perClient.maxFailures = settings.int("LOGIN_MAX_FAILURES_PER_CLIENT") ?? 20
        var bootstrap: AdminBootstrap?
        switch (settings.string("ADMIN_BOOTSTRAP_EMAIL") ?? "", settings.string("ADMIN_BOOTSTRAP_PASSWORD") ?? "") {
        case ("", ""): bootstrap = nil
        case ("", _), (_, ""):
            throw UserServiceError(.configuration, "ADMIN_BOOTSTRAP_EMAIL and ADMIN_BOOTSTRAP_PASSWORD go together")
        case (let email, let password): bootstrap = try AdminBootstrap(email: email, password: password)
        }
        var configuration = Configuration(
            databaseURL: settings.string("DATABASE_URL") ?? "", authSecret: settings.string("AUTH_SECRET"),
            authRequired: settings.bool("AUTH_REQUIRED"), adminBootstrap: bootstrap,
            tokenTTL: Int64(settings.int("TOKEN_TTL") ?? 3600),
            watchlistServiceURL: settings.string("WATCHLIST_SERVICE_URL") ?? "http://127.0.0.1:8003",
            hasher: PasswordHasher(parameters: PasswordHasher.Parameters(n: 1 << UInt64(logN), r: 8, p: 1)),
            throttle: throttle, trustedProxies: settings.list("LOGIN_TRUSTED_PROXIES"),
            dbPoolMin: settings.int("DB_POOL_MIN") ?? 1, dbPoolMax: settings.int("DB_POOL_MAX") ?? 8,
            hashingMaxPending: settings.int("HASH_MAX_PENDING"))
        configuration.databaseTimeouts = DatabaseTimeouts(configuration: settings)
        configuration.authRate = ClientRateLimiter.Policy(
            rate: Double(settings.int("AUTH_RATE_LIMIT") ?? 20), burst: Double(settings.int("AUTH_RATE_BURST") ?? 40))
        return configuration
    }
}
