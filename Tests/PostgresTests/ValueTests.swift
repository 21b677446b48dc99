import Testing

@testable import Postgres

/// URLs, timestamps and parameter text, without a server.
@Suite(.timeLimit(.minutes(5))) struct ValueTests {
    @Test func urlWithEverything() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://us%40er:p%3Ass@127.0.0.1:6543/userdb?sslmode=disable")
        #expect(configuration.user == "us@er")
        #expect(configuration.password == "p:ss")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 6543)
        #expect(configuration.database == "userdb")
    }

    @Test func urlDefaults() throws {
        let configuration = try PostgresConfiguration(url: "postgres://movie@localhost")
        #expect(configuration.port == 5432 && configuration.database == "movie" && configuration.password == nil)
        let ipv6 = try PostgresConfiguration(url: "postgresql://u@[::1]:5433/db?statement_timeout=250")
        #expect(ipv6.host == "::1" && ipv6.port == 5433 && ipv6.statementTimeout == .milliseconds(250))
    }

    @Test(arguments: [
        "mysql://u@h/db", "postgresql://h/db", "postgresql://u@h:99999/db", "postgresql://u@:5432/db",
        "postgresql://u:secret@h/db?sslmode=require", "postgresql://u@h/db?bogus=1", "postgresql://u%zz@h/db",
    ])
    func badURLsAreRefusedWithoutShowingThePassword(url: String) {
        do {
            _ = try PostgresConfiguration(url: url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.code == .invalidURL)
            #expect(!error.description.contains("secret"))
        }
    }

    @Test func timestampsFormatAsRFC3339() throws {
        let stamp = try #require(PostgresTimestamp(parsing: "2026-11-25T16:22:47.123456Z"))
        #expect(stamp.rfc3339 == "2026-11-25T16:22:47.123456Z")
        #expect(PostgresTimestamp(secondsSinceEpoch: 0).rfc3339 == "1970-01-01T00:00:00Z")
        #expect(PostgresTimestamp(microsecondsSinceEpoch: -1).rfc3339 == "1969-12-31T23:59:59.999999Z")
        #expect(PostgresTimestamp(parsing: "2026-11-25 16:22:47.123456+00") == stamp)
        #expect(PostgresTimestamp(parsing: "2026-11-25t16:22:47.123456z") == stamp)
        #expect(PostgresTimestamp(parsing: "2026-11-25x16:22:47Z") == nil)
        #expect(PostgresTimestamp(parsing: "2026-11-25T16-22:47Z") == nil)
        #expect(PostgresTimestamp(parsing: "2026-11-25T18:22:47.123456+02:00") == stamp)
        #expect(PostgresTimestamp(parsing: "2000-02-29T00:00:00Z")?.secondsSinceEpoch == 951_782_400)
        #expect(PostgresTimestamp(parsing: "infinity") == nil)
        #expect(PostgresTimestamp(parsing: "2026-11-25T16:22:47") == nil)  // no zone
    }

    @Test func parameterText() {
        #expect(PostgresValue.double(0.1).textForm == "0.1")
        #expect(PostgresValue.double(-.infinity).textForm == "-Infinity")
        #expect(PostgresValue.intArray([1, -2, 3]).textForm == "{1,-2,3}")
        #expect(PostgresValue.null.textForm == nil)
        #expect(PostgresValue.bool(false).textForm == "f")
        #expect(throws: PostgresError.self) { try EncodedParameters([.text("a\u{0}b")]) }
    }

    @Test func integersParseWithoutStrings() {
        for value: Int64 in [0, 7, -7, .max, .min, 1_234_567_890_123] {
            let text = Array(String(value).utf8)
            #expect(text.withUnsafeBytes { parseInteger($0) } == value)
        }
        #expect(Array("9223372036854775808".utf8).withUnsafeBytes { parseInteger($0) } == nil)
        #expect(Array("12a".utf8).withUnsafeBytes { parseInteger($0) } == nil)
    }
}
