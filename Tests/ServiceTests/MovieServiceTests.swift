import AuthToken
import HTTP
import MarqueeTesting
import Testing

@testable import MovieService
@testable import ServiceKit

/// The movie service against real PostgreSQL and Redis: CRUD, validation, lists, batches,
/// and every promise of the cache-aside (DESIGN.md), each test on a service of its own.
@Suite("MovieService", .timeLimit(.minutes(10)))
struct MovieServiceTests {
    /// One database for the suite (tests create their own movies); Redis database 11 of the
    /// shared server, emptied once, so that no other suite's `movie:{id}` keys meet ours.
    static let servers: Result<(database: String, redis: String), any Error> = Result {
        let database = try TestServers.postgres().createDatabase(named: "movie_service_tests")
        let redis = try TestServers.redis()
        try redis.cli("-n", "11", "FLUSHDB")
        return (database, redis.url + "/11")
    }

    func harness(
        authenticator: Authenticator = Authenticator(secret: nil, required: false)
    ) async throws -> MovieServiceHarness {
        let (database, redis) = try Self.servers.get()
        return try await MovieServiceHarness.start(databaseURL: database, redisURL: redis, authenticator: authenticator)
    }

    // MARK: CRUD and validation

    @Test func createReadUpdateDelete() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let created = await app.call(
            .POST, "/api/movies",
            json: #"{"title": "The Dark Knight", "director": "Christopher Nolan", "year": 2008, "genre": "Action", "rating": 9.0}"#)
        #expect(created.status == .created)
        let body = try #require(created.jsonBody)
        guard case .int(let id)? = body["id"] else { throw TestServerError("no id") }
        #expect(created.headers["Location"] == "/api/movies/\(id)")
        #expect(created.headers["ETag"] == "\"\(id)-1\"")
        #expect(created.text.contains(#""rating":9.0"#))
        #expect(body["title"] == .string("The Dark Knight"))
        #expect(body["created_at"]?.stringValue?.hasSuffix("Z") == true)
        #expect(created.headers["X-Request-ID"] != nil)

        let read = await app.call(.GET, "/api/movies/\(id)")
        #expect(read.status == .ok)
        #expect(read.bodyBytes == created.bodyBytes)

        let updated = await app.call(.PUT, "/api/movies/\(id)", json: #"{"rating": 9.1, "director": null}"#)
        #expect(updated.status == .ok)
        #expect(updated.jsonBody?["rating"] == .double(9.1))
        #expect(updated.jsonBody?["director"] == .null)
        #expect(updated.jsonBody?["title"] == .string("The Dark Knight"))
        #expect(updated.headers["ETag"] == "\"\(id)-2\"")

        let patched = await app.call(.PATCH, "/api/movies/\(id)", json: #"{"genre": "Crime"}"#)
        #expect(patched.jsonBody?["genre"] == .string("Crime"))
        #expect(patched.jsonBody?["rating"] == .double(9.1))

        let deleted = await app.call(.DELETE, "/api/movies/\(id)")
        #expect(deleted.status == .noContent)
        let gone = await app.call(.GET, "/api/movies/\(id)")
        #expect(gone.status == .notFound)
        #expect(gone.text == #"{"detail":"Movie not found"}"#)
        #expect(await app.call(.DELETE, "/api/movies/\(id)").status == .notFound)
        #expect(await app.call(.PUT, "/api/movies/\(id)", json: #"{"rating": 1}"#).status == .notFound)
    }

    @Test func validationErrorsHaveFastAPIShape() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let bad = await app.call(.POST, "/api/movies", json: #"{"title": "Bad", "year": 1700, "genre": "X", "rating": 11}"#)
        #expect(bad.status == .unprocessableEntity)
        let issues = try #require(bad.jsonBody?["detail"]?.arrayValue)
        #expect(issues.count == 2)
        #expect(issues[0]["loc"] == .array([.string("body"), .string("year")]))
        #expect(issues[0]["type"] == .string("greater_than_equal"))
        #expect(issues[1]["loc"] == .array([.string("body"), .string("rating")]))
        #expect(issues[1]["type"] == .string("less_than_equal"))

        let long = String(repeating: "x", count: 201)
        let tooLong = await app.call(.POST, "/api/movies", json: #"{"title": "\#(long)", "year": 2000, "genre": "\#(long)"}"#)
        #expect(tooLong.jsonBody?["detail"]?.arrayValue?.compactMap { $0["type"]?.stringValue }
            == ["string_too_long", "string_too_long"])
        #expect(await app.call(.POST, "/api/movies", json: #"{"title": "T", "year": "2000", "genre": "G"}"#).jsonBody?[
            "detail"]?.arrayValue?.first?["type"] == .string("int_type"))
        #expect(await app.call(.POST, "/api/movies", json: "[1]").status == .badRequest)
        #expect(await app.call(.POST, "/api/movies", json: "{").status == .badRequest)
        let form = await app.call(.POST, "/api/movies", headers: ["Content-Type": "application/x-www-form-urlencoded"])
        #expect(form.status == .unsupportedMediaType)
        let path = await app.call(.GET, "/api/movies/abc")
        #expect(path.status == .unprocessableEntity)
        #expect(path.jsonBody?["detail"]?.arrayValue?.first?["loc"] == .array([.string("path"), .string("movie_id")]))
        #expect(await app.call(.GET, "/api/movies?limit=0").status == .unprocessableEntity)
        #expect(await app.call(.GET, "/api/movies?limit=1001").status == .unprocessableEntity)
        #expect(await app.call(.GET, "/api/movies?offset=-1").status == .unprocessableEntity)
        let patch = await app.call(.PATCH, "/api/movies/1", json: #"{"year": 3000, "title": null}"#)
        #expect(patch.status == .unprocessableEntity)
        #expect(patch.jsonBody?["detail"]?.arrayValue?.count == 2)
    }

    @Test func genreFilterAndPagination() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let genre = "Genre\(UInt32.random(in: 0...UInt32.max))"
        var ids: [Int64] = []
        for index in 0..<5 {
            ids.append(try await app.create(title: "Film \(index)", genre: index % 2 == 0 ? genre : genre.uppercased()))
        }
        let all = await app.call(.GET, "/api/movies?genre=\(genre.lowercased())")
        #expect(all.status == .ok)
        #expect(all.headers["X-Total-Count"] == "5")
        #expect(all.jsonBody?.arrayValue?.compactMap { $0["id"]?.intValue } == ids)

        let page = await app.call(.GET, "/api/movies?genre=\(genre)&limit=2&offset=1")
        #expect(page.headers["X-Total-Count"] == "5")
        #expect(page.jsonBody?.arrayValue?.compactMap { $0["id"]?.intValue } == Array(ids[1...2]))
        let beyond = await app.call(.GET, "/api/movies?genre=\(genre)&offset=10")
        #expect(beyond.text == "[]")
        #expect(beyond.headers["X-Total-Count"] == "5")

        let everything = await app.call(.GET, "/api/movies?limit=1000")
        let listed = everything.jsonBody?.arrayValue?.compactMap { $0["id"]?.intValue } ?? []
        #expect(listed == listed.sorted())
        #expect(Set(ids).isSubset(of: Set(listed)))
        #expect(Int(everything.headers["X-Total-Count"] ?? "") ?? 0 >= 5)
    }

    // MARK: Batch

    @Test func batchOrderDuplicatesUnknownInOneRoundTripEach() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let a = try await app.create(title: "A")
        let b = try await app.create(title: "B")
        let c = try await app.create(title: "C")
        // Cold: a, b, c are cached by their creation; clear two so the batch mixes hits and misses.
        try TestServers.redis().cli("-n", "11", "DEL", "movie:\(a)", "movie:\(c)")
        let before = (
            mget: await app.metric("marquee_cache_redis_reads_total"),
            loads: await app.metric("marquee_cache_database_loads_total"),
            pipelines: await app.metric("marquee_cache_write_pipelines_total"))
        let unknown = Int64(9_000_000_000)
        let response = await app.call(
            .POST, "/api/movies/batch", json: #"{"movie_ids": [\#(c), \#(unknown), \#(a), \#(c), \#(b), \#(a)]}"#)
        #expect(response.status == .ok)
        #expect(response.jsonBody?.arrayValue?.compactMap { $0["id"]?.intValue } == [c, a, b])
        #expect(await app.metric("marquee_cache_redis_reads_total") - before.mget == 1)
        #expect(await app.metric("marquee_cache_database_loads_total") - before.loads == 1)
        #expect(await app.metric("marquee_cache_write_pipelines_total") - before.pipelines == 1)

        // Written back: now every known id is a hit (no SQL). A batch's unknown ids are not
        // cached (anyone may send 1000 of them), so asking again for one costs a query.
        let again = await app.call(.POST, "/api/movies/batch", json: #"{"movie_ids": [\#(a), \#(b), \#(c)]}"#)
        #expect(again.jsonBody?.arrayValue?.compactMap { $0["id"]?.intValue } == [a, b, c])
        #expect(await app.metric("marquee_cache_database_loads_total") - before.loads == 1)
        _ = await app.call(.POST, "/api/movies/batch", json: #"{"movie_ids": [\#(unknown)]}"#)
        #expect(await app.metric("marquee_cache_database_loads_total") - before.loads == 2)
        // The batch's bodies are the single reads' bytes.
        let single = await app.call(.GET, "/api/movies/\(a)")
        #expect(again.text.hasPrefix("[" + single.text + ","))
        // Ids are positive: 0 or -1 is a 422 naming its place in the list, not an unknown id.
        let negative = await app.call(.POST, "/api/movies/batch", json: #"{"movie_ids": [\#(a), -1]}"#)
        #expect(negative.status == .unprocessableEntity)
        #expect(negative.jsonBody?["detail"]?.arrayValue?.first?["loc"] == .array([.string("body"), .string("movie_ids"), .int(1)]))
    }

    @Test func batchSizeLimits() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let empty = await app.call(.POST, "/api/movies/batch", json: #"{"movie_ids": []}"#)
        #expect(empty.status == .unprocessableEntity)
        #expect(empty.jsonBody?["detail"]?.arrayValue?.first?["type"] == .string("too_short"))
        let ids = (1...1001).map(String.init).joined(separator: ",")
        let tooMany = await app.call(.POST, "/api/movies/batch", json: #"{"movie_ids": [\#(ids)]}"#)
        #expect(tooMany.status == .unprocessableEntity)
        #expect(tooMany.jsonBody?["detail"]?.arrayValue?.first?["type"] == .string("too_long"))
        let thousand = (1...1000).map { String(8_000_000_000 + $0) }.joined(separator: ",")
        let ok = await app.call(.POST, "/api/movies/batch", json: #"{"movie_ids": [\#(thousand)]}"#)
        #expect(ok.status == .ok)
        #expect(ok.text == "[]")
        #expect(await app.call(.POST, "/api/movies/batch", json: #"{"movie_ids": ["1"]}"#).status == .unprocessableEntity)
        #expect(await app.call(.POST, "/api/movies/batch", json: #"{}"#).status == .unprocessableEntity)
    }

    // MARK: The cache-aside

    @Test func missThenHitWithETagAnd304() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let id = try await app.create(title: "Heat", year: 1995, genre: "Crime", rating: 8.3)
        try TestServers.redis().cli("-n", "11", "DEL", "movie:\(id)")
        let first = await app.call(.GET, "/api/movies/\(id)")
        #expect(first.status == .ok)
        #expect(first.headers["X-Cache"] == "MISS")
        let second = await app.call(.GET, "/api/movies/\(id)")
        #expect(second.headers["X-Cache"] == "HIT")
        #expect(second.bodyBytes == first.bodyBytes)
        let etag = try #require(second.headers["ETag"])
        #expect(etag == "\"\(id)-1\"")
        #expect(first.headers["ETag"] == etag)

        let notModified = await app.call(.GET, "/api/movies/\(id)", headers: ["If-None-Match": etag])
        #expect(notModified.status == .notModified)
        #expect(notModified.bodyBytes.isEmpty)
        #expect(notModified.headers["ETag"] == etag)
        let weak = await app.call(.GET, "/api/movies/\(id)", headers: ["If-None-Match": "W/\(etag)"])
        #expect(weak.status == .notModified)
        let stale = await app.call(.GET, "/api/movies/\(id)", headers: ["If-None-Match": "\"\(id)-0\""])
        #expect(stale.status == .ok)

        let value = try TestServers.redis().cli("-n", "11", "GET", "movie:\(id)")
        #expect(value == "1|" + second.text)
        let ttl = Int(try TestServers.redis().cli("-n", "11", "TTL", "movie:\(id)")) ?? 0
        #expect(ttl > 3500 && ttl <= 3600)
        #expect(await app.metric("marquee_cache_hits_total") >= 3)
        #expect(await app.metric("marquee_cache_misses_total") == 1)
        #expect(await app.metric("marquee_cache_fills_total") == 1)
    }

    @Test func readAfterUpdateNeverSeesTheOldMovie() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let id = try await app.create(rating: 8.0)
        let cached = await app.call(.GET, "/api/movies/\(id)")
        #expect(cached.headers["X-Cache"] == "HIT")
        for round in 1...5 {
            let rating = 8.0 + Double(round) / 10
            let update = await app.call(.PUT, "/api/movies/\(id)", json: #"{"rating": \#(rating)}"#)
            #expect(update.status == .ok)
            for loop in 0..<2 {
                let read = await app.call(.GET, "/api/movies/\(id)", loop: loop)
                #expect(read.jsonBody?["rating"] == .double(rating))
                #expect(read.headers["X-Cache"] == "HIT")
                #expect(read.headers["ETag"] == "\"\(id)-\(round + 1)\"")
            }
        }
        // The old ETag no longer matches.
        let old = await app.call(.GET, "/api/movies/\(id)", headers: ["If-None-Match": "\"\(id)-1\""])
        #expect(old.status == .ok)
    }

    @Test func versionGuardRefusesAnOlderWrite() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let id = try await app.create(rating: 7.0)
        let old = try #require(try await app.service.catalog.repository.find(id))
        #expect(await app.call(.PUT, "/api/movies/\(id)", json: #"{"rating": 7.5}"#).status == .ok)
        // A slow fill that read version 1 before the update now tries to write it.
        #expect(await app.service.catalog.cache.write(.put(CachedMovie(old))) == .refused)
        let read = await app.call(.GET, "/api/movies/\(id)")
        #expect(read.headers["X-Cache"] == "HIT")
        #expect(read.jsonBody?["rating"] == .double(7.5))
        // The same version again changes nothing either; a newer one wins.
        var newer = old
        newer.version = 10
        newer.rating = 1.0
        #expect(await app.service.catalog.cache.write(.put(CachedMovie(newer))) == .written)
        #expect(await app.call(.GET, "/api/movies/\(id)").jsonBody?["rating"] == .double(1.0))
    }

    @Test func deleteTombstoneStopsARacingFill() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let id = try await app.create(title: "Doomed")
        // A fill starts: it has read the row...
        let row = try #require(try await app.service.catalog.repository.find(id))
        // ...the movie is deleted meanwhile...
        #expect(await app.call(.DELETE, "/api/movies/\(id)").status == .noContent)
        #expect(try TestServers.redis().cli("-n", "11", "GET", "movie:\(id)") == "~")
        let ttl = Int(try TestServers.redis().cli("-n", "11", "TTL", "movie:\(id)")) ?? 0
        #expect(ttl > 0 && ttl <= 60)
        // ...and then the fill writes what it read: the tombstone refuses it.
        #expect(await app.service.catalog.cache.write(.put(CachedMovie(row))) == .refused)
        #expect(await app.service.catalog.cache.write(.absent(id: id)) == .refused)
        let read = await app.call(.GET, "/api/movies/\(id)")
        #expect(read.status == .notFound)
        #expect(read.headers["X-Cache"] == "HIT")
        let batch = await app.call(.POST, "/api/movies/batch", json: #"{"movie_ids": [\#(id)]}"#)
        #expect(batch.text == "[]")
    }

    @Test func negativeCacheRemembersUnknownIds() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let unknown = Int64(7_000_000_000) + Int64.random(in: 0..<1_000_000)
        let first = await app.call(.GET, "/api/movies/\(unknown)")
        #expect(first.status == .notFound)
        #expect(first.headers["X-Cache"] == "MISS")
        let second = await app.call(.GET, "/api/movies/\(unknown)")
        #expect(second.status == .notFound)
        #expect(second.headers["X-Cache"] == "HIT")
        #expect(await app.metric("marquee_cache_database_loads_total") == 1)
        let ttl = Int(try TestServers.redis().cli("-n", "11", "TTL", "movie:\(unknown)")) ?? 0
        #expect(ttl > 0 && ttl <= 30)
        // A movie written for that id (a create: ids are new) replaces the negative entry.
        var movie = try #require(try await app.service.catalog.repository.find(try await app.create()))
        movie.id = unknown
        #expect(await app.service.catalog.cache.write(.put(CachedMovie(movie))) == .written)
        #expect(await app.call(.GET, "/api/movies/\(unknown)").status == .ok)
        try TestServers.redis().cli("-n", "11", "DEL", "movie:\(unknown)")
        // Ids are positive: 0 and -5 are refused before any lookup (FastAPI's `gt=0`).
        let zero = await app.call(.GET, "/api/movies/0")
        #expect(zero.status == .unprocessableEntity)
        #expect(zero.jsonBody?["detail"]?.arrayValue?.first?["type"] == .string("greater_than"))
        #expect(await app.call(.GET, "/api/movies/-5").status == .unprocessableEntity)
    }

    @Test func singleFlightSharesOneQueryAmongFiftyMisses() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let id = try await app.create(title: "Popular")
        try TestServers.redis().cli("-n", "11", "DEL", "movie:\(id)")
        // The leader's query waits a little, so every miss surely arrives while it runs.
        app.service.catalog._testOnly_setLoadDelay(milliseconds: 100)
        let statuses = await withTaskGroup(of: (Int, String?).self) { group in
            for _ in 0..<50 {
                group.addTask {
                    let response = await app.call(.GET, "/api/movies/\(id)", loop: 0)
                    return (response.status.code, response.headers["X-Cache"])
                }
            }
            var all: [(Int, String?)] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(statuses.count == 50)
        #expect(statuses.allSatisfy { $0.0 == 200 && $0.1 == "MISS" })
        #expect(await app.metric("marquee_cache_database_loads_total") == 1)
        #expect(await app.metric("marquee_cache_coalesced_total") == 49)
        #expect(await app.metric("marquee_cache_fills_total") == 1)
        app.service.catalog._testOnly_setLoadDelay(milliseconds: 0)
        #expect(await app.call(.GET, "/api/movies/\(id)").headers["X-Cache"] == "HIT")
    }

    @Test func healthAndMetrics() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let health = await app.call(.GET, "/health")
        #expect(health.status == .ok)
        #expect(health.text == #"{"status":"healthy","service":"movie-service","checks":{"database":"ok","cache":"ok"}}"#)
        let metrics = String(decoding: await app.call(.GET, "/metrics").bodyBytes, as: UTF8.self)
        for name in [
            "marquee_cache_hits_total", "marquee_cache_misses_total", "marquee_cache_fills_total",
            "marquee_cache_coalesced_total", "marquee_cache_failed_lookups_total",
        ] {
            #expect(metrics.contains("# TYPE \(name) counter"), "\(name)")
        }
    }

    @Test func movieWritesNeedAnAdminWhenAuthIsRequired() async throws {
        let secret = "movie-test-secret"
        let app = try await harness(
            authenticator: Authenticator(secret: secret, required: true))
        defer { Task { await app.shutdown() } }
        let signer = TokenSigner(secret: secret)
        let admin = signer.sign(
            TokenClaims(subject: "1", email: "admin@example.com", role: "admin", issuedAt: 100, expiresAt: 99_999_999_999))
        let user = signer.sign(TokenClaims(subject: "2", email: "user@example.com", issuedAt: 100, expiresAt: 99_999_999_999))
        let body = #"{"title": "Locked", "year": 2000, "genre": "Drama"}"#
        #expect(await app.call(.POST, "/api/movies", json: body).status == .unauthorized)
        #expect(await app.call(.POST, "/api/movies", json: body, headers: ["Authorization": "Bearer \(user)"]).status
            == .forbidden)
        let created = await app.call(.POST, "/api/movies", json: body, headers: ["Authorization": "Bearer \(admin)"])
        #expect(created.status == .created)
        let id = created.jsonBody?["id"]?.intValue ?? 0
        // Reads stay open.
        #expect(await app.call(.GET, "/api/movies/\(id)").status == .ok)
        #expect(await app.call(.DELETE, "/api/movies/\(id)").status == .unauthorized)
        #expect(await app.call(.DELETE, "/api/movies/\(id)", headers: ["Authorization": "Bearer \(admin)"]).status
            == .noContent)
    }
}
