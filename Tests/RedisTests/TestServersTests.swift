import MarqueeTesting
import Testing

/// The test Redis servers themselves: the shared one answers, and a private one survives
/// stop/start and restart (losing its data: there is no persistence).
@Suite(.serialized, .timeLimit(.minutes(10)))
struct TestServersRedisTests {
    @Test func sharedServerAnswersPing() throws {
        let redis = try TestServers.redis()
        #expect(redis.url == "redis://127.0.0.1:\(redis.port)")
        #expect(try redis.cli("ping") == "PONG")
        #expect(try TestServers.redis().port == redis.port)
    }

    @Test func privateServerSurvivesRestartAndStopStart() throws {
        let redis = try TestServers.privateRedis()
        defer { redis.shutdown() }
        #expect(try TestServers.redis().port != redis.port)
        #expect(try redis.cli("set", "k", "v") == "OK")

        try redis.restart()
        #expect(try redis.cli("ping") == "PONG")
        #expect(try redis.cli("exists", "k") == "0")

        try redis.stop()
        #expect(throws: TestServerError.self) { try redis.cli("ping") }
        try redis.start()
        #expect(try redis.cli("ping") == "PONG")
    }
}
