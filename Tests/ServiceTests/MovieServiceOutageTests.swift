import HTTP
import MarqueeTesting
import Testing

@testable import MovieService
@testable import ServiceKit

/// Redis goes away and comes back: the service keeps answering from PostgreSQL, says
/// `"cache": "down"` while staying healthy, and uses the cache again by itself. On a Redis
/// server of its own, since it stops it.
@Suite("MovieService Redis outage", .timeLimit(.minutes(10)))
struct MovieServiceOutageTests {
    @Test func servesFromPostgresWhileRedisIsDownAndRecovers() async throws {
        let database = try TestServers.postgres().createDatabase(named: "movie_service_outage")
        let redis = try TestServers.privateRedis()
        // A long command timeout: a lookup that waited for it could not pass the bound below.
        let app = try await MovieServiceHarness.start(
            databaseURL: database, redisURL: redis.url, redisCommandTimeout: .seconds(10))
        defer { Task { await app.shutdown() } }

        let id = try await app.create(title: "Resilient", rating: 7.0)
        let other = try await app.create(title: "Edited offline", rating: 5.0)
        #expect(await app.call(.GET, "/api/movies/\(id)").headers["X-Cache"] == "HIT")
        let staleValue = try redis.cli("GET", "movie:\(other)")
        #expect(staleValue.hasPrefix("1|"))

        try redis.stop()
        let started = ContinuousClock.now
        for loop in 0..<2 {
            let read = await app.call(.GET, "/api/movies/\(id)", loop: loop)
            #expect(read.status == .ok)
            #expect(read.headers["X-Cache"] == "MISS")
            #expect(read.jsonBody?["title"] == .string("Resilient"))
        }
        // The client fails fast while disconnected: no command timeout per lookup. Two lookups
        // that each waited for the 10 s command timeout would take 20 s.
        #expect(ContinuousClock.now - started < .seconds(8))
        let batch = await app.call(.POST, "/api/movies/batch", json: #"{"movie_ids": [\#(other), \#(id)]}"#)
        #expect(batch.jsonBody?.arrayValue?.compactMap { $0["id"]?.intValue } == [other, id])

        let health = await app.call(.GET, "/health")
        #expect(health.status == .ok)
        #expect(health.jsonBody?["status"] == .string("healthy"))
        #expect(health.jsonBody?["checks"]?["cache"] == .string("down"))
        #expect(health.jsonBody?["checks"]?["database"] == .string("ok"))
        #expect(await app.metric("marquee_cache_failed_lookups_total") >= 3)

        // Writes still work; their cache rewrite waits as a repair.
        let update = await app.call(.PUT, "/api/movies/\(other)", json: #"{"rating": 6.5}"#)
        #expect(update.status == .ok)
        #expect(app.service.catalog.pendingRepairs == 1)

        // Redis comes back holding the old copy (as a restart from a snapshot would):
        // the repair must win before that copy is ever served.
        try redis.start()
        try redis.cli("SET", "movie:\(other)", staleValue, "EX", "3600")
        var recovered = false
        for _ in 0..<100 {
            let health = await app.call(.GET, "/health")
            if health.jsonBody?["checks"]?["cache"] == .string("ok") {
                recovered = true
                break
            }
            let read = await app.call(.GET, "/api/movies/\(other)")
            #expect(read.jsonBody?["rating"] == .double(6.5))
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(recovered)
        let edited = await app.call(.GET, "/api/movies/\(other)")
        #expect(edited.jsonBody?["rating"] == .double(6.5))
        #expect(app.service.catalog.pendingRepairs == 0)
        #expect(try redis.cli("GET", "movie:\(other)").hasPrefix("2|"))

        // A Redis that lost its scripts (restart, SCRIPT FLUSH): EVALSHA falls back to EVAL.
        try redis.cli("SCRIPT", "FLUSH")
        #expect(await app.call(.PATCH, "/api/movies/\(other)", json: #"{"rating": 6.6}"#).status == .ok)
        #expect(try redis.cli("GET", "movie:\(other)").hasPrefix("3|"))
        #expect(app.service.catalog.pendingRepairs == 0)

        // And the cache is used again: a miss fills, the next read hits, on both loops.
        for loop in 0..<2 {
            _ = await app.call(.GET, "/api/movies/\(id)", loop: loop)
            let again = await app.call(.GET, "/api/movies/\(id)", loop: loop)
            #expect(again.status == .ok)
            #expect(again.headers["X-Cache"] == "HIT")
        }
    }
}
