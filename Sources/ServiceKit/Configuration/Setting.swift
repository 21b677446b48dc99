/// One configuration setting: an environment variable with a matching flag
/// (`PORT` ↔ `--port`, `DATABASE_URL` ↔ `--database-url`), a default and a help line.
public struct Setting: Sendable {
    public enum Kind: Sendable, Equatable {
        case string
        /// An integer within the range.
        case int(ClosedRange<Int>)
        /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
        case bool
        /// Seconds, fractions allowed (`2.5`), or with a unit: `500ms`, `2s`, `1m`.
        case duration
        /// Comma-separated, trimmed, empty elements dropped.
        case list
        /// One of the given words (case-insensitive), e.g. log levels.
        case choice([String])
        /// A URL with one of the given schemes (`postgres`, `postgresql`; `redis`; `http`, `https`).
        case url(schemes: [String])
    }

    /// The environment variable's name, also the key for lookups: `"PORT"`.
    public let name: String
    /// The flag: `--port`.
    public let flag: String
    public let kind: Kind
    /// The default as text, or nil when the setting has none (then it is optional, or
    /// required when `isRequired`).
    public let defaultValue: String?
    public let isRequired: Bool
    public let help: String
    /// Hide the value in logs and `--help` (secrets).
    public let isSecret: Bool

    public init(
        _ name: String, kind: Kind = .string, default defaultValue: String? = nil, required: Bool = false,
        secret: Bool = false, help: String
    ) {
        self.name = name
        self.flag = "--" + String(name.lowercased().map { $0 == "_" ? "-" : $0 })
        self.kind = kind
        self.defaultValue = defaultValue
        self.isRequired = required
        self.isSecret = secret
        self.help = help
    }

    // MARK: The settings services share (API.md, Ports and configuration)

    public static let host = Setting("HOST", default: "127.0.0.1", help: "Address to listen on.")
    public static func port(default port: Int) -> Setting {
        Setting("PORT", kind: .int(0...65535), default: String(port), help: "TCP port to listen on.")
    }
    public static let loops = Setting(
        "LOOPS", kind: .int(1...1024), default: nil,
        help: "Event-loop threads (default: the number of cores).")
    public static let loopAffinity = Setting(
        "LOOP_AFFINITY", kind: .choice(["auto", "off"]), default: "auto",
        help: "auto: with one loop per core, pin each loop to its core and accept each connection on the loop of the core that receives it; off: never pin.")
    public static let logLevel = Setting(
        "LOG_LEVEL", kind: .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]), default: "info",
        help: "Least severe log level written (access logs are info).")
    public static func databaseURL(default url: String) -> Setting {
        Setting("DATABASE_URL", kind: .url(schemes: ["postgres", "postgresql"]), default: url, secret: true,
                help: "PostgreSQL connection URL.")
    }
    public static let redisURL = Setting(
        "REDIS_URL", kind: .url(schemes: ["redis"]), default: "redis://127.0.0.1:6379/0",
        help: "Redis URL for the movie cache.")
    public static let authSecret = Setting(
        "AUTH_SECRET", default: nil, secret: true,
        help: "HS256 secret for access tokens (required when AUTH_REQUIRED=true): at least 32 bytes, never a shipped example.")
    public static let authRequired = Setting(
        "AUTH_REQUIRED", kind: .bool, default: "false",
        help: "Require tokens for writes and per-user reads (see API.md).")
    public static let userServiceURL = Setting(
        "USER_SERVICE_URL", kind: .url(schemes: ["http", "https"]), default: "http://127.0.0.1:8001",
        help: "Base URL of the user service (which also confirms admin tokens).")
    public static let movieServiceURL = Setting(
        "MOVIE_SERVICE_URL", kind: .url(schemes: ["http", "https"]), default: "http://127.0.0.1:8002",
        help: "Base URL of the movie service.")
    public static let watchlistServiceURL = Setting(
        "WATCHLIST_SERVICE_URL", kind: .url(schemes: ["http", "https"]), default: "http://127.0.0.1:8003",
        help: "Base URL of the watchlist service.")
    public static let cacheTTL = Setting(
        "CACHE_TTL", kind: .int(1...31_536_000), default: "3600", help: "Movie cache entry lifetime, seconds.")
    public static let dbPoolMin = Setting(
        "DB_POOL_MIN", kind: .int(0...1000), default: "1", help: "Database connections kept open per loop.")
    public static let dbPoolMax = Setting(
        "DB_POOL_MAX", kind: .int(1...1000), default: "8", help: "Database connections at most per loop.")
    public static let requestTimeout = Setting(
        "REQUEST_TIMEOUT", kind: .duration, default: "10s",
        help: "Time allowed for a call to a database or another service.")
}
