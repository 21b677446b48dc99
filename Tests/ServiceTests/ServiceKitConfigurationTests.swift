import Testing

@testable import ServiceKit

@Suite(.timeLimit(.minutes(5))) struct ServiceKitConfigurationTests {
    let settings: [Setting] = [
        .host, .port(default: 8002), .loops, .logLevel, .databaseURL(default: "postgres://movie@127.0.0.1/moviedb"),
        .redisURL, .authSecret, .authRequired, Setting("ORIGINS", kind: .list, default: "", help: "A list."), .cacheTTL, .requestTimeout,
    ]

    func parse(_ environment: [String: String], _ arguments: [String]) throws -> ServiceConfiguration {
        guard case .configuration(let configuration) = try ServiceConfiguration.parse(
            settings: settings, environment: environment, arguments: arguments)
        else { throw ServiceConfiguration.Error(message: "help") }
        return configuration
    }

    @Test func defaultsEnvironmentAndFlagsInOrderOfPrecedence() throws {
        let defaults = try parse([:], [])
        #expect(defaults.string("HOST") == "127.0.0.1")
        #expect(defaults.int("PORT") == 8002)
        #expect(defaults.int("LOOPS") == nil)
        #expect(defaults.bool("AUTH_REQUIRED") == false)
        #expect(defaults.int("CACHE_TTL") == 3600)
        #expect(defaults.duration("REQUEST_TIMEOUT") == .seconds(10))
        #expect(defaults.string("AUTH_SECRET") == nil)

        let env = try parse(["PORT": "9000", "AUTH_REQUIRED": "true", "ORIGINS": " a@b.co, ,c@d.io "], [])
        #expect(env.int("PORT") == 9000)
        #expect(env.bool("AUTH_REQUIRED"))
        #expect(env.list("ORIGINS") == ["a@b.co", "c@d.io"])

        let flags = try parse(["PORT": "9000", "LOG_LEVEL": "debug"],
                              ["--port", "8005", "--log-level=warning", "--auth-required", "--request-timeout=500ms"])
        #expect(flags.int("PORT") == 8005)
        #expect(flags.string("LOG_LEVEL") == "warning")
        #expect(flags.bool("AUTH_REQUIRED"))
        #expect(flags.duration("REQUEST_TIMEOUT") == .milliseconds(500))
    }

    @Test(arguments: [
        (["PORT": "eighty"], [String]()), (["PORT": "70000"], []), ([:], ["--port"]), ([:], ["--nope", "1"]),
        ([:], ["stray"]), (["AUTH_REQUIRED": "maybe"], []), (["LOG_LEVEL": "loud"], []),
        (["REDIS_URL": "http://x"], []), ([:], ["--cache-ttl=0"]), ([:], ["--request-timeout", "soon"]),
    ])
    func badValuesAreErrors(_ environment: [String: String], _ arguments: [String]) {
        #expect(throws: ServiceConfiguration.Error.self) { try parse(environment, arguments) }
    }

    @Test func errorsNameTheSettingButNotSecrets() {
        let error = #expect(throws: ServiceConfiguration.Error.self) {
            _ = try parse(["DATABASE_URL": "mysql://user:pw@h/db"], [])
        }
        #expect(error?.message.contains("DATABASE_URL") == true)
        #expect(error?.message.contains("pw") == false)
    }

    @Test func helpListsEverySetting() throws {
        guard case .help = try ServiceConfiguration.parse(settings: settings, environment: [:], arguments: ["--help"])
        else {
            Issue.record("expected help")
            return
        }
        let text = ServiceConfiguration.helpText(service: "movie-service", settings: settings)
        for setting in settings {
            #expect(text.contains(setting.name) && text.contains(setting.flag))
        }
        #expect(text.contains("[default: 8002]"))
        #expect(text.contains("[default: 127.0.0.1]"))
        #expect(!text.contains("movie@127.0.0.1"))  // a secret's default is not shown
    }

    @Test func redactsCredentials() throws {
        let configuration = try parse(
            ["DATABASE_URL": "postgres://movie:hunter2@db/moviedb", "AUTH_SECRET": "k",
             "REDIS_URL": "redis://:redis-pw@cache:6379/0"], [])
        let shown = Dictionary(uniqueKeysWithValues: configuration.redactedDescription)
        #expect(shown["DATABASE_URL"] == "postgres://***@db/moviedb")
        #expect(shown["AUTH_SECRET"] == "***")
        // Redis is not marked secret, but a URL's credentials are masked whatever the setting.
        #expect(shown["REDIS_URL"] == "redis://***@cache:6379/0")
    }
}
