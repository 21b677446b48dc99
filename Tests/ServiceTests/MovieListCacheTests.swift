import HTTP
import MarqueeTesting
import Redis
import Testing

@testable import MovieService
@testable import ServiceKit

/// The list cache (``MovieListCache``) against real PostgreSQL and Redis: pages served from
/// Redis until a movie write replaces the catalogue token, never a page from before a write
/// that has answered (sequentially, racing fills, concurrent readers and writers), totals
/// exact, and a Redis that lost or kept stale state never serving an old page.
///
/// Serialized, on a Redis database of its own (12): its `X-Cache` expectations need no
/// other test writing movies (which replaces the token) between two of its reads.
@Suite("MovieService list cache", .serialized, .timeLimit(.minutes(10)))
struct MovieListCacheTests {
    static let servers: Result<(database: String, redis: String), any Error> = Result {
        let database = try TestServers.postgres().createDatabase(named: "movie_list_cache_tests")
        let redis = try TestServers.redis()
        try redis.cli("-n", "12", "FLUSHDB")
        return (database, redis.url + "/12")
    }

    func harness() async throws -> MovieServiceHarness {
        let (database, redis) = try Self.servers.get()
        return try await MovieServiceHarness.start(databaseURL: database, redisURL: redis)
    }

    @discardableResult
    func redisCLI(_ arguments: String...) throws -> String {
        try TestServers.redis().cli(arguments: ["-n", "12"] + arguments)
    }

    /// A genre no other test uses.
    static func freshGenre() -> String { "ListGenre\(UInt32.random(in: 0...UInt32.max))" }

    /// The titles of a list response, in order.
    static func titles(_ response: HTTPServerResponse) -> [String] {
        response.jsonBody?.arrayValue?.compactMap { $0["title"]?.stringValue } ?? []
    }

    /// Lists until the page is cached (the first read after a write misses and fills).
    func cachedList(_ app: MovieServiceHarness, _ target: String, loop: Int = 0) async -> HTTPServerResponse {
        _ = await app.call(.GET, target, loop: loop)
        return await app.call(.GET, target, loop: loop)
    }

    @Test func pagesAreServedFromRedisUntilAWriteReplacesTheToken() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let genre = Self.freshGenre()
        var ids: [Int64] = []
        for index in 0..<3 { ids.append(try await app.create(title: "Film \(index)", genre: genre)) }
        let target = "/api/movies?genre=\(genre)"

        let first = await app.call(.GET, target)
        #expect(first.status == .ok)
        #expect(first.headers["X-Cache"] == "MISS")
        #expect(first.headers["X-Total-Count"] == "3")
        #expect(Self.titles(first) == ["Film 0", "Film 1", "Film 2"])
        for loop in 0..<2 {
            let hit = await app.call(.GET, target, loop: loop)
            #expect(hit.headers["X-Cache"] == "HIT")
            #expect(hit.headers["X-Total-Count"] == "3")
            #expect(hit.bodyBytes == first.bodyBytes)
        }
        // The page is stored as `<token>|<total>|<JSON>` under the current token.
        let token = try redisCLI("GET", MovieListCache.tokenKey)
        #expect(token.utf8.count == 16)
        #expect(try redisCLI("GET", "movies:page:100:0:genre:\(genre)") == token + "|3|" + first.text)

        // Each kind of write shows in the very next list, on either loop.
        let added = try await app.create(title: "Film 3", genre: genre)
        let afterCreate = await app.call(.GET, target, loop: 1)
        #expect(afterCreate.headers["X-Cache"] == "MISS")
        #expect(afterCreate.headers["X-Total-Count"] == "4")
        #expect(Self.titles(afterCreate) == ["Film 0", "Film 1", "Film 2", "Film 3"])
        #expect(try redisCLI("GET", MovieListCache.tokenKey) != token)

        #expect(await cachedList(app, target).headers["X-Cache"] == "HIT")
        #expect(await app.call(.PATCH, "/api/movies/\(ids[1])", json: #"{"title": "Renamed"}"#).status == .ok)
        let afterUpdate = await app.call(.GET, target)
        #expect(Self.titles(afterUpdate) == ["Film 0", "Renamed", "Film 2", "Film 3"])

        #expect(await cachedList(app, target).headers["X-Cache"] == "HIT")
        #expect(await app.call(.PATCH, "/api/movies/\(ids[0])", json: #"{"genre": "Elsewhere"}"#).status == .ok)
        let afterMove = await app.call(.GET, target, loop: 1)
        #expect(afterMove.headers["X-Total-Count"] == "3")
        #expect(Self.titles(afterMove) == ["Renamed", "Film 2", "Film 3"])

        #expect(await cachedList(app, target).headers["X-Cache"] == "HIT")
        #expect(await app.call(.DELETE, "/api/movies/\(added)").status == .noContent)
        let afterDelete = await app.call(.GET, target)
        #expect(afterDelete.headers["X-Total-Count"] == "2")
        #expect(Self.titles(afterDelete) == ["Renamed", "Film 2"])
        #expect(await app.metric("marquee_cache_hits_total") >= 5)
    }

    @Test func pagesTotalsAndCaseVariantsAreExact() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let genre = Self.freshGenre()
        for index in 0..<5 {
            _ = try await app.create(title: "Page \(index)", genre: index % 2 == 0 ? genre : genre.uppercased())
        }
        // Every page twice (a miss, then a hit): both equal, and equal to PostgreSQL's answer.
        for target in [
            "/api/movies?genre=\(genre.lowercased())", "/api/movies?genre=\(genre)&limit=2&offset=1",
            "/api/movies?genre=\(genre)&limit=2&offset=4", "/api/movies?genre=\(genre)&offset=10",
        ] {
            let miss = await app.call(.GET, target)
            let hit = await app.call(.GET, target)
            #expect(miss.headers["X-Cache"] == "MISS")
            #expect(hit.headers["X-Cache"] == "HIT")
            #expect(hit.bodyBytes == miss.bodyBytes)
            #expect(hit.headers["X-Total-Count"] == "5")
        }
        #expect(Self.titles(await app.call(.GET, "/api/movies?genre=\(genre)&limit=2&offset=1")) == ["Page 1", "Page 2"])
        #expect(await app.call(.GET, "/api/movies?genre=\(genre)&offset=10").text == "[]")

        // Past the cached rows a page is read each time, with the total from the cache.
        let deep = "/api/movies?genre=\(genre)&limit=10&offset=995"
        let loads = await app.metric("marquee_cache_database_loads_total")
        #expect(await app.call(.GET, deep).headers["X-Cache"] == "MISS")
        let again = await app.call(.GET, deep)
        #expect(again.headers["X-Cache"] == "MISS")
        #expect(again.headers["X-Total-Count"] == "5")
        #expect(await app.metric("marquee_cache_database_loads_total") - loads == 2)
        #expect(try redisCLI("EXISTS", "movies:page:10:995:genre:\(genre)") == "0")
        #expect(try redisCLI("GET", "movies:total:genre:\(genre)").hasSuffix("|5"))
        let ttl = Int(try redisCLI("TTL", "movies:total:genre:\(genre)")) ?? 0
        #expect(ttl > 0 && ttl <= 60)

        // The unfiltered list too.
        let all = await cachedList(app, "/api/movies?limit=3")
        #expect(all.headers["X-Cache"] == "HIT")
        #expect((Int(all.headers["X-Total-Count"] ?? "") ?? 0) >= 5)
        #expect(all.jsonBody?.arrayValue?.count == 3)
    }

    /// The race the token closes: a miss reads the token, queries, and stores its page only
    /// after a write has committed and answered. The store must be refused.
    @Test func aFillThatQueriedBeforeAWriteIsRefused() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let genre = Self.freshGenre()
        let id = try await app.create(title: "Before", genre: genre)
        let query = MovieListQuery(genre: genre, limit: 100, offset: 0)
        let lists = app.service.catalog.lists
        // The slow miss: it saw this token and read the list...
        guard case .miss(let token, _) = await lists.lookup(query) else {
            Issue.record("expected a miss")
            return
        }
        let stale = try await app.service.catalog.repository.listWithTotal(genre: genre, limit: 100, offset: 0)
        // ...a write commits and answers meanwhile...
        #expect(await app.call(.PATCH, "/api/movies/\(id)", json: #"{"title": "After"}"#).status == .ok)
        // ...and then the miss stores what it read: refused.
        var page = ListCacheValue.page(token: token, total: stale.total, capacity: 0)
        page.append(contentsOf: Array(#"[{"title":"Before"}]"#.utf8))
        #expect(await lists.fill(query, token: token, total: stale.total, page: page) == false)
        #expect(try redisCLI("EXISTS", "movies:page:100:0:genre:\(genre)") == "0")
        let read = await app.call(.GET, "/api/movies?genre=\(genre)")
        #expect(Self.titles(read) == ["After"])
        #expect(Self.titles(await app.call(.GET, "/api/movies?genre=\(genre)")) == ["After"])
    }

    /// Readers on both loops list without pause while a writer renames movies: every list
    /// that starts after a rename has answered shows it (never a page stored before it).
    @Test func noStalePageAfterConcurrentWrites() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let genre = Self.freshGenre()
        let id = try await app.create(title: "Round 0", genre: genre)
        let target = "/api/movies?genre=\(genre)"
        for round in 1...30 {
            let readers = (0..<8).map { index in
                Task { await app.call(.GET, target, loop: index % 2).status }
            }
            let rename = await app.call(.PATCH, "/api/movies/\(id)", json: #"{"title": "Round \#(round)"}"#)
            #expect(rename.status == .ok)
            // Started after the rename answered, while the readers above may still be filling.
            let after = await withTaskGroup(of: [String].self) { group in
                for loop in 0..<4 { group.addTask { Self.titles(await app.call(.GET, target, loop: loop % 2)) } }
                var all: [[String]] = []
                for await titles in group { all.append(titles) }
                return all
            }
            #expect(after.allSatisfy { $0 == ["Round \(round)"] }, "round \(round): \(after)")
            for reader in readers { #expect(await reader.value == .ok) }
        }
        #expect(Self.titles(await cachedList(app, target)) == ["Round 30"])
    }

    /// Redis without a token (flushed, evicted, restarted): nothing stored is trusted, a
    /// token is created, and pages are cached again.
    @Test func aLostTokenInvalidatesEveryPage() async throws {
        let app = try await harness()
        defer { Task { await app.shutdown() } }
        let genre = Self.freshGenre()
        let id = try await app.create(title: "Kept", genre: genre)
        let target = "/api/movies?genre=\(genre)"
        #expect(await cachedList(app, target).headers["X-Cache"] == "HIT")
        let stalePage = try redisCLI("GET", "movies:page:100:0:genre:\(genre)")
        // The token is evicted (pages survive), then the movie changes with the token gone too.
        try redisCLI("DEL", MovieListCache.tokenKey)
        #expect(await app.call(.GET, target).headers["X-Cache"] == "MISS")
        #expect(try redisCLI("GET", MovieListCache.tokenKey).utf8.count == 16)
        #expect(await app.call(.PATCH, "/api/movies/\(id)", json: #"{"title": "Changed"}"#).status == .ok)
        try redisCLI("SET", "movies:page:100:0:genre:\(genre)", stalePage, "EX", "60")
        let read = await app.call(.GET, target)
        #expect(Self.titles(read) == ["Changed"])
        #expect(await cachedList(app, target).headers["X-Cache"] == "HIT")
    }

    /// A write whose token replacement failed (Redis down) keeps lists off the cache until a
    /// replacement succeeds, even if Redis comes back with the old token and page (as a
    /// restart from a snapshot would bring them).
    @Test func aFailedTokenReplacementIsMadeGoodBeforeTheCacheIsTrusted() async throws {
        let database = try TestServers.postgres().createDatabase(named: "movie_list_cache_outage")
        let redis = try TestServers.privateRedis()
        let app = try await MovieServiceHarness.start(databaseURL: database, redisURL: redis.url)
        defer { Task { await app.shutdown() } }
        let genre = Self.freshGenre()
        let id = try await app.create(title: "Old", genre: genre)
        let target = "/api/movies?genre=\(genre)"
        #expect(await cachedList(app, target).headers["X-Cache"] == "HIT")
        let oldToken = try redis.cli("GET", MovieListCache.tokenKey)
        let oldPage = try redis.cli("GET", "movies:page:100:0:genre:\(genre)")

        try redis.stop()
        #expect(await app.call(.PATCH, "/api/movies/\(id)", json: #"{"title": "New"}"#).status == .ok)
        let offline = await app.call(.GET, target)
        #expect(offline.status == .ok)
        #expect(offline.headers["X-Cache"] == "MISS")
        #expect(Self.titles(offline) == ["New"])

        try redis.start()
        try redis.cli("SET", MovieListCache.tokenKey, oldToken)
        try redis.cli("SET", "movies:page:100:0:genre:\(genre)", oldPage, "EX", "60")
        var hit = false
        for _ in 0..<200 {
            let read = await app.call(.GET, target)
            #expect(Self.titles(read) == ["New"])
            if read.headers["X-Cache"] == "HIT" {
                hit = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(hit)
        #expect(try redis.cli("GET", MovieListCache.tokenKey) != oldToken)
    }
}

@Suite("MovieService list cache units", .timeLimit(.minutes(5)))
struct MovieListCacheUnitTests {
    @Test func valuesRoundTripUnderTheirTokenOnly() {
        let token = ListCacheValue.newToken()
        #expect(token.count == 16)
        #expect(token.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        #expect(ListCacheValue.newToken() != token)

        let total = ListCacheValue.total(token: token, total: 145_000)
        #expect(ListCacheValue.parse(total, token: token)?.total == 145_000)
        #expect(ListCacheValue.parse(total, token: token)?.bodyStart == nil)

        var page = ListCacheValue.page(token: token, total: 2, capacity: 8)
        let start = page.count
        page.append(contentsOf: Array("[1,2]".utf8))
        let parsed = ListCacheValue.parse(page, token: token)
        #expect(parsed?.total == 2)
        #expect(parsed?.bodyStart == start)

        let other = ListCacheValue.newToken()
        #expect(ListCacheValue.parse(page, token: other) == nil)
        #expect(ListCacheValue.parse(Array(token), token: token) == nil)
        #expect(ListCacheValue.parse(token + [UInt8(ascii: "|")], token: token) == nil)
        #expect(ListCacheValue.parse(token + Array("|x".utf8), token: token) == nil)
        #expect(ListCacheValue.parse(token + Array("|3|".utf8), token: token) == nil)
        #expect(ListCacheValue.parse(token + Array("|3;[]".utf8), token: token) == nil)
    }

    @Test func keysAndWhatIsCached() {
        let drama = MovieListQuery(genre: "Drama", limit: 100, offset: 0)
        #expect(drama.pageKey == "movies:page:100:0:genre:Drama")
        #expect(drama.totalKey == "movies:total:genre:Drama")
        #expect(drama.cachesPage)
        let all = MovieListQuery(genre: nil, limit: 50, offset: 950)
        #expect(all.pageKey == "movies:page:50:950:all")
        #expect(all.totalKey == "movies:total:all")
        #expect(all.cachesPage)
        #expect(!MovieListQuery(genre: nil, limit: 50, offset: 951).cachesPage)
        #expect(MovieListQuery(genre: nil, limit: 50, offset: 951).isCacheable)
        let long = MovieListQuery(genre: String(repeating: "g", count: 201), limit: 10, offset: 0)
        #expect(!long.isCacheable)
        #expect(!long.cachesPage)
    }

    @Test func fillScriptDigestIsSHA1() {
        #expect(ListFillScript.sha.count == 40)
        #expect(ListFillScript.sha == SHA1.hexDigest(Array(ListFillScript.source.utf8)))
    }
}
