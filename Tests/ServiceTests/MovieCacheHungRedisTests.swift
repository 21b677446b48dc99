import HTTP
import MarqueeTesting
import MovieService
import Testing

/// A Redis that hangs (SIGSTOP: the socket stays open, nothing answers): the movie service
/// stops asking it, serves from PostgreSQL, says `"cache": "down"`, and goes back to the
/// cache by itself once Redis answers again.
@Suite(.serialized, .timeLimit(.minutes(3))) struct MovieCacheHungRedisTests {
    @Test func aHungRedisOpensTheBreakerAndTheServiceRecoversByItself() async throws {
        let redis = try TestServers.privateRedis()
        defer { redis.shutdown() }
        let databaseURL = try TestServers.postgres().createDatabase(named: "movie_hung_redis")
        let harness = try await MovieServiceHarness.start(databaseURL: databaseURL, redisURL: redis.url)
        defer { Task { await harness.shutdown() } }
        let id = try await harness.create(title: "Before")
        _ = await harness.call(.GET, "/api/movies/\(id)")
        #expect(await harness.call(.GET, "/api/movies/\(id)").headers["X-Cache"] == "HIT")

        try redis.pause()
        defer { try? redis.resume() }
        // The first lookup waits for the command timeout, then answers from PostgreSQL.
        let first = await harness.call(.GET, "/api/movies/\(id)")
        #expect(first.status == .ok && first.headers["X-Cache"] == "MISS")
        #expect(harness.service.catalog.cache.breaker.isOpen, "one timeout opens the breaker")

        // From now on Redis is not asked: 40 lookups take far less than 40 command timeouts
        // (500 ms each; probes wait one each, one per half-second at most).
        let start = ContinuousClock.now
        for _ in 0..<40 {
            let response = await harness.call(.GET, "/api/movies/\(id)")
            #expect(response.status == .ok && response.headers["X-Cache"] == "MISS")
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .seconds(8), "40 lookups took \(elapsed): each waited for Redis")

        let health = await harness.call(.GET, "/health")
        #expect(health.status == .ok)
        #expect(health.text.contains(#""cache":"down""#) && health.text.contains(#""status":"healthy""#), "\(health.text)")

        // A write while the breaker is open goes to PostgreSQL and is not lost from reads later.
        let update = await harness.call(.PUT, "/api/movies/\(id)", json: #"{"title": "After"}"#)
        #expect(update.status == .ok)

        try redis.resume()
        var recovered = false
        let until = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < until {
            _ = await harness.call(.GET, "/api/movies/\(id)")
            let health = await harness.call(.GET, "/health")
            if health.text.contains(#""cache":"ok""#), await harness.call(.GET, "/api/movies/\(id)").headers["X-Cache"] == "HIT" {
                recovered = true
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(recovered, "the cache did not come back by itself")
        let after = await harness.call(.GET, "/api/movies/\(id)")
        #expect(after.text.contains(#""title":"After""#), "the cache served the movie as it was before the write: \(after.text)")
    }
}
