import Reactor
import Testing

@testable import Gateway

@Suite(.timeLimit(.minutes(5))) struct ConfigurationTests {
    @Test func defaults() throws {
        let config = try GatewayConfiguration.parse(environment: [:], arguments: [])
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8080)
        #expect(config.tlsPort == 8443)
        #expect(config.upstreams[.movies] == [UpstreamURL(host: "127.0.0.1", port: 8002)])
        #expect(config.maxBodySize == 1 << 20)
        #expect(config.rateLimitRPS == 1000)
        #expect(config.rateLimitBurst == 2000)
        #expect(config.rateLimitExempt.isEmpty)
        #expect(config.httpMode == .serve)
        #expect(!config.servesTLS)
        #expect(config.loops == EventLoopGroup.coreCount)
        #expect(config.loopAffinity == .automatic)
    }

    @Test func loopAffinity() throws {
        #expect(try GatewayConfiguration.parse(environment: ["LOOP_AFFINITY": "off"], arguments: []).loopAffinity == .none)
        #expect(try GatewayConfiguration.parse(environment: [:], arguments: ["--loop-affinity", "auto"]).loopAffinity == .automatic)
        #expect(throws: GatewayError.self) {
            try GatewayConfiguration.parse(environment: ["LOOP_AFFINITY": "sometimes"], arguments: [])
        }
    }

    @Test func environmentAndFlagsFlagWins() throws {
        let config = try GatewayConfiguration.parse(
            environment: [
                "PORT": "9000", "MOVIE_SERVICE_URL": "http://10.0.0.1:1,http://10.0.0.2:2/",
                "TRUSTED_PROXIES": "10.0.0.0/8", "HTTP_MODE": "redirect", "UNRELATED": "x",
                "UPSTREAM_RESPONSE_TIMEOUT": "250ms", "RATE_LIMIT_EXEMPT": "127.0.0.0/8,::1",
            ],
            arguments: ["--port", "9001", "--rate-limit-rps=5", "--access-log", "--balance", "least-loaded"])
        #expect(config.port == 9001)
        #expect(config.upstreams[.movies] == [UpstreamURL(host: "10.0.0.1", port: 1), UpstreamURL(host: "10.0.0.2", port: 2)])
        #expect(config.trustedProxies.count == 1)
        #expect(config.httpMode == .redirect)
        #expect(config.rateLimitRPS == 5)
        #expect(config.rateLimitBurst == 10)
        #expect(config.rateLimitExempt.count == 2)
        #expect(CIDR.anyContains(config.rateLimitExempt, "127.0.0.1"))
        #expect(!CIDR.anyContains(config.rateLimitExempt, "10.1.2.3"))
        #expect(config.accessLog)
        #expect(config.balancing == .leastLoaded)
        #expect(config.responseTimeout == .milliseconds(250))
    }

    @Test func errors() {
        #expect(throws: GatewayError.self) { try GatewayConfiguration.parse(environment: ["PORT": "x"], arguments: []) }
        #expect(throws: GatewayError.self) { try GatewayConfiguration.parse(environment: [:], arguments: ["--nope", "1"]) }
        #expect(throws: GatewayError.self) {
            try GatewayConfiguration.parse(environment: ["MOVIE_SERVICE_URL": "ftp://x"], arguments: [])
        }
        #expect(throws: GatewayError.self) { try GatewayConfiguration.parse(environment: ["TLS_CERT": "a"], arguments: []) }
        #expect(throws: GatewayError.self) {
            try GatewayConfiguration.parse(environment: ["RATE_LIMIT_EXEMPT": "loopback"], arguments: [])
        }
        do {
            _ = try GatewayConfiguration.parse(environment: [:], arguments: ["--help"])
            Issue.record("no help")
        } catch {
            #expect(error.code == .helpRequested)
        }
        #expect(GatewayConfiguration.helpText.contains("--movie-service-url (MOVIE_SERVICE_URL)"))
    }

    @Test func metricsListenerIsOffUnlessSetAndNeverAPublicPort() throws {
        let plain = try GatewayConfiguration.parse(environment: [:], arguments: [])
        #expect(plain.metricsPort == nil && plain.metricsHost == "127.0.0.1")
        let on = try GatewayConfiguration.parse(environment: ["METRICS_PORT": "9090"], arguments: [])
        #expect(on.metricsPort == 9090)
        for taken in ["8080", "8443"] {
            #expect(throws: GatewayError.self) {
                try GatewayConfiguration.parse(environment: ["METRICS_PORT": taken], arguments: [])
            }
        }
        #expect(throws: GatewayError.self) {
            try GatewayConfiguration.parse(environment: ["METRICS_PORT": "70000"], arguments: [])
        }
    }

    @Test func durations() {
        #expect(SettingsSource.parseDuration("30") == .seconds(30))
        #expect(SettingsSource.parseDuration("1.5s") == .milliseconds(1500))
        #expect(SettingsSource.parseDuration("250ms") == .milliseconds(250))
        #expect(SettingsSource.parseDuration("2m") == .seconds(120))
        #expect(SettingsSource.parseDuration("x") == nil)
    }

    @Test func upstreamsFile() throws {
        let text = """
            # name      instances
            users       http://127.0.0.1:8001
            movies      http://127.0.0.1:8002 http://127.0.0.1:8012, http://[::1]:8022
            movie       http://10.0.0.7:8002   # several lines add up

            """
        let parsed = try UpstreamsFile.parse(text)
        #expect(parsed[.users]?.count == 1)
        #expect(parsed[.movies] == [
            UpstreamURL(host: "127.0.0.1", port: 8002), UpstreamURL(host: "127.0.0.1", port: 8012),
            UpstreamURL(host: "::1", port: 8022), UpstreamURL(host: "10.0.0.7", port: 8002),
        ])
        #expect(parsed[.watchlist] == nil)
        #expect(throws: GatewayError.self) { try UpstreamsFile.parse("films http://x:1") }
        #expect(throws: GatewayError.self) { try UpstreamsFile.parse("movies") }
        #expect(throws: GatewayError.self) { try UpstreamsFile.parse("movies https://x:1") }

        let config = try GatewayConfiguration.parse(
            environment: ["UPSTREAMS_FILE": "/f", "USER_SERVICE_URL": "http://127.0.0.1:9"], arguments: [],
            readFile: { $0 == "/f" ? "movies http://127.0.0.1:1 http://127.0.0.1:2" : nil })
        #expect(config.upstreams[.movies]?.count == 2)
        #expect(config.upstreams[.users] == [UpstreamURL(host: "127.0.0.1", port: 9)])
        #expect(throws: GatewayError.self) {
            try GatewayConfiguration.parse(environment: ["UPSTREAMS_FILE": "/missing"], arguments: [], readFile: { _ in nil })
        }
    }
}
