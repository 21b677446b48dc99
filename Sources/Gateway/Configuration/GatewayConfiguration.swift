import AuthToken
import Logging
import Reactor
import Telemetry

#if canImport(Glibc)
import Glibc
#endif

/// Everything the gateway can be told, from environment variables and matching flags
/// (`MOVIE_SERVICE_URL` / `--movie-service-url`); `gateway --help` lists them.
public struct GatewayConfiguration: Sendable {
    /// What plain HTTP (`PORT`) does when TLS is also served.
    public enum HTTPMode: String, Sendable {
        /// Serve everything (the default).
        case serve
        /// 308 to `https://host:TLS_PORT/path`, except `/health`.
        case redirect
        /// Answer only `/health`; everything else 404.
        case healthOnly = "health-only"
    }

    /// How a request picks one of an upstream's instances.
    public enum Balancing: String, Sendable {
        case roundRobin = "round-robin"
        case leastLoaded = "least-loaded"
    }

    public var host = "127.0.0.1"
    public var port = 8080
    public var tlsPort = 8443
    public var loops = 1
    /// `LOOP_AFFINITY`: pin one loop per CPU and accept each connection on the CPU that
    /// receives it (`auto`), or leave the threads to the scheduler (`off`).
    public var loopAffinity = LoopAffinity.automatic
    public var upstreams: [UpstreamService: [UpstreamURL]] = [:]
    public var balancing = Balancing.roundRobin

    public var connectTimeout: Duration = .seconds(2)
    public var responseTimeout: Duration = .seconds(30)
    public var upstreamIdleTimeout: Duration = .seconds(30)
    /// Pooled connections per upstream instance on each loop.
    public var upstreamMaxConnections = 256
    /// Requests that may wait for one of those connections, per instance on each loop;
    /// past it a request is answered 503 with `Retry-After` at once. As many as the
    /// gateway takes client connections: a burst of clients queues rather than fails.
    public var upstreamQueueSize = 10_000
    /// How long a request waits in that queue before it is answered 503 with `Retry-After`.
    public var upstreamQueueTimeout: Duration = .seconds(5)
    /// Whether an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS) whose upstream
    /// connection failed before any response byte is sent again to another instance.
    public var retryIdempotent = true

    /// Consecutive failures (connect errors, timeouts, 502/503/504 from it) that eject an instance.
    public var ejectAfterFailures = 3
    /// First ejection; doubles on each ejection without a recovery in between, up to 16×.
    public var ejectionTime: Duration = .seconds(10)
    /// How often every instance's `/health` is probed; zero turns probing off.
    public var healthCheckInterval: Duration = .seconds(5)

    public var maxBodySize = 1 << 20
    public var maxHeaderBytes = 32 << 10
    public var headerReadTimeout: Duration = .seconds(10)
    public var keepAliveTimeout: Duration = .seconds(60)
    public var maxConnections = 10_000
    public var shutdownTimeout: Duration = .seconds(10)
    /// `METRICS_PORT`: the port of the `/metrics` listener, or nil for none (the default). The
    /// public ports never serve `/metrics`.
    public var metricsPort: Int?
    /// `METRICS_HOST`: the address of the `/metrics` listener (loopback unless set).
    public var metricsHost = "127.0.0.1"

    /// Tokens per second per client address (0 turns rate limiting off) and bucket size.
    public var rateLimitRPS = 1000.0
    public var rateLimitBurst = 2000.0
    /// `RATE_LIMIT_EXEMPT`: client networks the rate limit never counts (a development stack
    /// exempts loopback, so that its developer's own load test is not throttled).
    public var rateLimitExempt: [CIDR] = []
    public var trustedProxies: [CIDR] = []

    /// `AUTH_SECRET`: verifies bearer tokens. Unset: a bearer token cannot be verified and is refused.
    public var authSecret: String?

    public var tlsCertificate: String?
    public var tlsKey: String?
    public var httpMode = HTTPMode.serve
    /// `Strict-Transport-Security: max-age=…` on HTTPS responses when > 0.
    public var hstsMaxAge = 0
    public var accessLog = true
    /// `LOG_LEVEL`: the least severe level the gateway's own lines are written at (the
    /// access log is `info`).
    public var logLevel = Logger.Level.info
    /// `HTTP2`: serve HTTP/2 too: `h2` by ALPN on HTTPS, h2c with prior knowledge on HTTP.
    public var http2 = true
    /// `HTTP2_MAX_STREAMS`: SETTINGS_MAX_CONCURRENT_STREAMS per HTTP/2 connection.
    public var http2MaxConcurrentStreams = 128
    /// `DOCS_ASSETS_DIR`: where Swagger UI's files are (``APIDocs``); the container image's path.
    public var docsAssetsDirectory = GatewayConfiguration.defaultDocsAssetsDirectory
    public static let defaultDocsAssetsDirectory = "/usr/local/share/marquee/swagger-ui"

    public init() {}

    /// Whether HTTPS is served (both `TLS_CERT` and `TLS_KEY` set).
    public var servesTLS: Bool { tlsCertificate != nil && tlsKey != nil }

    /// Every setting: name, default shown in `--help`, description.
    static let settings: [(name: String, defaultValue: String, help: String)] = [
        ("HOST", "127.0.0.1", "address to listen on"),
        ("PORT", "8080", "plain HTTP port"),
        ("TLS_PORT", "8443", "HTTPS port (when TLS_CERT and TLS_KEY are set)"),
        ("LOOPS", "cores", "event-loop threads"),
        ("LOOP_AFFINITY", "auto", "auto: with one loop per core, pin each to its core and accept connections by CPU; off: never"),
        ("USER_SERVICE_URL", "http://127.0.0.1:8001", "user service instances, comma-separated"),
        ("MOVIE_SERVICE_URL", "http://127.0.0.1:8002", "movie service instances, comma-separated"),
        ("WATCHLIST_SERVICE_URL", "http://127.0.0.1:8003", "watchlist service instances, comma-separated"),
        ("UPSTREAMS_FILE", "", "file of 'NAME URL [URL...]' lines (users, movies, watchlist); overrides the URLs"),
        ("BALANCE", "round-robin", "round-robin or least-loaded"),
        ("UPSTREAM_CONNECT_TIMEOUT", "2s", "time to connect to an upstream (then 502/504)"),
        ("UPSTREAM_RESPONSE_TIMEOUT", "30s", "time for an upstream's response head (then 504)"),
        ("UPSTREAM_IDLE_TIMEOUT", "30s", "how long a pooled upstream connection may stay idle"),
        ("UPSTREAM_MAX_CONNECTIONS", "256", "pooled connections per instance per loop"),
        ("UPSTREAM_QUEUE_SIZE", "10000", "requests that may wait for a pooled connection, per instance per loop (then 503)"),
        ("UPSTREAM_QUEUE_TIMEOUT", "5s", "how long a request waits for a pooled connection (then 503 + Retry-After)"),
        ("UPSTREAM_RETRY", "true", "send an idempotent request that failed before any response byte to another instance"),
        ("EJECT_AFTER_FAILURES", "3", "consecutive failures that eject an instance"),
        ("EJECTION_TIME", "10s", "first ejection time (doubles while failures go on)"),
        ("HEALTH_CHECK_INTERVAL", "5s", "active /health probe of every instance (0: off)"),
        ("MAX_BODY_SIZE", "1048576", "largest request body in bytes (413 above)"),
        ("MAX_HEADER_SIZE", "32768", "largest request header section in bytes (431 above)"),
        ("HEADER_TIMEOUT", "10s", "time to receive a request head (408 after)"),
        ("KEEPALIVE_TIMEOUT", "60s", "idle time before a client connection is closed"),
        ("MAX_CONNECTIONS", "10000", "client connections over all loops"),
        ("SHUTDOWN_TIMEOUT", "10s", "graceful drain on SIGTERM/SIGINT (a second signal stops at once)"),
        ("METRICS_PORT", "", "port of a listener serving only Prometheus /metrics (unset: none; never PORT or TLS_PORT)"),
        ("METRICS_HOST", "127.0.0.1", "address of the /metrics listener"),
        ("RATE_LIMIT_RPS", "1000", "requests per second per client address (0: off)"),
        ("RATE_LIMIT_BURST", "2000", "bucket size of the rate limit"),
        ("RATE_LIMIT_EXEMPT", "", "client networks never rate-limited (CIDRs, comma-separated)"),
        ("TRUSTED_PROXIES", "", "CIDRs whose X-Forwarded-* headers are kept, comma-separated"),
        ("AUTH_SECRET", "", "HS256 secret that bearer tokens are verified with"),
        ("TLS_CERT", "", "PEM certificate chain; with TLS_KEY enables HTTPS (SIGHUP reloads)"),
        ("TLS_KEY", "", "PEM private key"),
        ("HTTP_MODE", "serve", "plain HTTP: serve, redirect (308 to HTTPS but /health) or health-only"),
        ("HSTS", "0", "Strict-Transport-Security max-age in seconds on HTTPS (0: none)"),
        ("ACCESS_LOG", "true", "one JSON line per request on stdout"),
        ("LOG_LEVEL", "info", "least severe log level written: trace, debug, info, notice, warning, error, critical"),
        ("HTTP2", "true", "serve HTTP/2 as well: h2 by ALPN on HTTPS, h2c with prior knowledge on HTTP"),
        ("HTTP2_MAX_STREAMS", "128", "concurrent streams per HTTP/2 connection"),
        ("DOCS_ASSETS_DIR", defaultDocsAssetsDirectory, "Swagger UI's files for /docs (read at start)"),
    ]

    /// `gateway --help`.
    public static var helpText: String {
        var text = "Usage: gateway [--flag VALUE]...\n"
        text += "The Marquee API gateway. Every setting is an environment variable or its flag (the flag wins).\n\n"
        for setting in settings {
            let flag = SettingsSource.flag(settingName: setting.name)
            let left = "  \(flag) (\(setting.name))"
            let pad = String(repeating: " ", count: max(1, 52 - left.count))
            let shown = setting.defaultValue.isEmpty ? "" : " [\(setting.defaultValue)]"
            text += left + pad + setting.help + shown + "\n"
        }
        return text
    }

    /// Parses settings from `environment` overlaid by `arguments` (without the program name).
    ///
    /// - Parameter readFile: reads `UPSTREAMS_FILE` (tests pass their own).
    /// - Throws: ``GatewayError`` (`.helpRequested` for `--help`).
    public static func parse(
        environment: [String: String], arguments: [String],
        readFile: (String) -> String? = GatewayConfiguration.readTextFile
    ) throws(GatewayError) -> GatewayConfiguration {
        let source = try SettingsSource(
            environment: environment, arguments: arguments, known: Set(settings.map(\.name)),
            booleans: ["ACCESS_LOG", "UPSTREAM_RETRY"])
        var config = GatewayConfiguration()
        config.host = source.string("HOST") ?? config.host
        config.port = try source.int("PORT", default: config.port, range: 0...65535)
        config.tlsPort = try source.int("TLS_PORT", default: config.tlsPort, range: 0...65535)
        config.loops = try source.int("LOOPS", default: EventLoopGroup.coreCount, range: 1...1024)
        if let text = source.string("LOOP_AFFINITY") {
            guard let affinity = LoopAffinity(setting: text) else {
                throw GatewayError(.invalidSetting, "LOOP_AFFINITY must be auto or off")
            }
            config.loopAffinity = affinity
        }
        for service in UpstreamService.allCases {
            let text = source.string(service.urlSetting) ?? service.defaultURL
            var urls: [UpstreamURL] = []
            for part in text.split(separator: ",") where !part.trimmedSpaces.isEmpty {
                guard let url = UpstreamURL(String(part)) else {
                    throw GatewayError(.invalidSetting, "\(service.urlSetting): '\(part)' is not an http:// URL")
                }
                urls.append(url)
            }
            guard !urls.isEmpty else { throw GatewayError(.invalidSetting, "\(service.urlSetting) is empty") }
            config.upstreams[service] = urls
        }
        if let path = source.string("UPSTREAMS_FILE") {
            guard let text = readFile(path) else {
                throw GatewayError(.invalidUpstreamsFile, "cannot read UPSTREAMS_FILE \(path)")
            }
            for (service, urls) in try UpstreamsFile.parse(text) { config.upstreams[service] = urls }
        }
        if let text = source.string("BALANCE") {
            guard let balancing = Balancing(rawValue: text.lowercased()) else {
                throw GatewayError(.invalidSetting, "BALANCE must be round-robin or least-loaded")
            }
            config.balancing = balancing
        }
        config.connectTimeout = try source.duration("UPSTREAM_CONNECT_TIMEOUT", default: config.connectTimeout)
        config.responseTimeout = try source.duration("UPSTREAM_RESPONSE_TIMEOUT", default: config.responseTimeout)
        config.upstreamIdleTimeout = try source.duration("UPSTREAM_IDLE_TIMEOUT", default: config.upstreamIdleTimeout)
        config.upstreamMaxConnections = try source.int(
            "UPSTREAM_MAX_CONNECTIONS", default: config.upstreamMaxConnections, range: 1...100_000)
        config.upstreamQueueSize = try source.int(
            "UPSTREAM_QUEUE_SIZE", default: config.upstreamQueueSize, range: 0...10_000_000)
        config.upstreamQueueTimeout = try source.duration("UPSTREAM_QUEUE_TIMEOUT", default: config.upstreamQueueTimeout)
        config.retryIdempotent = try source.bool("UPSTREAM_RETRY", default: config.retryIdempotent)
        config.ejectAfterFailures = try source.int("EJECT_AFTER_FAILURES", default: config.ejectAfterFailures, range: 1...1000)
        config.ejectionTime = try source.duration("EJECTION_TIME", default: config.ejectionTime)
        config.healthCheckInterval = try source.duration("HEALTH_CHECK_INTERVAL", default: config.healthCheckInterval)
        config.maxBodySize = try source.int("MAX_BODY_SIZE", default: config.maxBodySize)
        config.maxHeaderBytes = try source.int("MAX_HEADER_SIZE", default: config.maxHeaderBytes, range: 1024...(1 << 24))
        config.headerReadTimeout = try source.duration("HEADER_TIMEOUT", default: config.headerReadTimeout)
        config.keepAliveTimeout = try source.duration("KEEPALIVE_TIMEOUT", default: config.keepAliveTimeout)
        config.maxConnections = try source.int("MAX_CONNECTIONS", default: config.maxConnections, range: 1...10_000_000)
        config.shutdownTimeout = try source.duration("SHUTDOWN_TIMEOUT", default: config.shutdownTimeout)
        if source.string("METRICS_PORT") != nil {
            let port = try source.int("METRICS_PORT", default: 0, range: 0...65535)
            if port != 0 && (port == config.port || port == config.tlsPort) {
                throw GatewayError(.invalidSetting, "METRICS_PORT must differ from PORT and TLS_PORT: the public ports never serve /metrics")
            }
            config.metricsPort = port
        }
        config.metricsHost = source.string("METRICS_HOST") ?? config.metricsHost
        config.rateLimitRPS = try source.double("RATE_LIMIT_RPS", default: config.rateLimitRPS)
        config.rateLimitBurst = try source.double("RATE_LIMIT_BURST", default: max(config.rateLimitRPS * 2, 1))
        if let text = source.string("RATE_LIMIT_EXEMPT") {
            config.rateLimitExempt = try CIDR.parseList(text, setting: "RATE_LIMIT_EXEMPT")
        }
        if let text = source.string("TRUSTED_PROXIES") {
            config.trustedProxies = try CIDR.parseList(text, setting: "TRUSTED_PROXIES")
        }
        config.authSecret = source.string("AUTH_SECRET")
        if let secret = config.authSecret, !secret.isEmpty, let problem = AuthSecretPolicy.problem(with: secret) {
            throw GatewayError(.invalidSetting, problem)
        }
        config.tlsCertificate = source.string("TLS_CERT")
        config.tlsKey = source.string("TLS_KEY")
        if (config.tlsCertificate == nil) != (config.tlsKey == nil) {
            throw GatewayError(.invalidSetting, "TLS_CERT and TLS_KEY must be set together")
        }
        if let text = source.string("HTTP_MODE") {
            guard let mode = HTTPMode(rawValue: text.lowercased()) else {
                throw GatewayError(.invalidSetting, "HTTP_MODE must be serve, redirect or health-only")
            }
            config.httpMode = mode
        }
        config.hstsMaxAge = try source.int("HSTS", default: config.hstsMaxAge)
        config.accessLog = try source.bool("ACCESS_LOG", default: config.accessLog)
        if let text = source.string("LOG_LEVEL") {
            guard let level = Logger.Level(setting: text) else {
                throw GatewayError(
                    .invalidSetting, "LOG_LEVEL must be trace, debug, info, notice, warning, error or critical")
            }
            config.logLevel = level
        }
        config.http2 = try source.bool("HTTP2", default: config.http2)
        config.http2MaxConcurrentStreams = try source.int(
            "HTTP2_MAX_STREAMS", default: config.http2MaxConcurrentStreams, range: 1...10_000)
        config.docsAssetsDirectory = source.string("DOCS_ASSETS_DIR") ?? config.docsAssetsDirectory
        return config
    }

    /// The process environment as a dictionary.
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// Reads a whole (small) text file; nil when it cannot be read.
    public static func readTextFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > 1 << 20 { return nil }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
