import AuthToken
import HTTP
import MarqueeTesting
import Postgres
import Testing

@testable import MovieService
@testable import ServiceKit
@testable import UserService
@testable import WatchlistService

/// `Idempotency-Key` on the three POSTs that create, against real PostgreSQL: a replay is
/// answered with the first request's resource (one row), another body or caller is refused
/// (422), a concurrent pair creates once and both get the same answer, keys expire.
@Suite("Idempotency keys", .timeLimit(.minutes(5)))
struct IdempotencyKeyTests {
    static let movieServers: Result<(database: String, redis: String), any Error> = Result {
        let database = try TestServers.postgres().createDatabase(named: "idempotency_movie_tests")
        let redis = try TestServers.redis()
        try redis.cli("-n", "12", "FLUSHDB")
        return (database, redis.url + "/12")
    }

    func movieService(authenticator: Authenticator = Authenticator(secret: nil, required: false)) async throws
        -> MovieServiceHarness
    {
        let (database, redis) = try Self.movieServers.get()
        return try await MovieServiceHarness.start(databaseURL: database, redisURL: redis, authenticator: authenticator)
    }

    static func movieJSON(_ title: String, year: Int = 2001) -> String {
        #"{"title": "\#(title)", "year": \#(year), "genre": "Drama"}"#
    }

    func movieRows(_ app: MovieServiceHarness, title: String) async throws -> Int {
        let rows = try await app.service.database.query("SELECT count(*) FROM movies WHERE title = $1", [.text(title)])
        return try rows[0].decode(Int.self, column: 0)
    }

    @Test func theFingerprintTellsRequestsApartWherePartsRunTogether() {
        let base = IdempotentRequest.fingerprint(method: "POST", path: "/api/movies", caller: 1, body: Array("{}".utf8))
        #expect(base == IdempotentRequest.fingerprint(method: "POST", path: "/api/movies", caller: 1, body: Array("{}".utf8)))
        #expect(base.utf8.count == 43)
        let others = [
            IdempotentRequest.fingerprint(method: "POST", path: "/api/movies", caller: 2, body: Array("{}".utf8)),
            IdempotentRequest.fingerprint(method: "POST", path: "/api/movies", caller: nil, body: Array("{}".utf8)),
            IdempotentRequest.fingerprint(method: "POST", path: "/api/movies", caller: 1, body: Array("{ }".utf8)),
            IdempotentRequest.fingerprint(method: "POST", path: "/api/watchlist", caller: 1, body: Array("{}".utf8)),
            // The same bytes split differently between path and body.
            IdempotentRequest.fingerprint(method: "POST", path: "/api/movies{", caller: 1, body: Array("}".utf8)),
        ]
        #expect(Set(others + [base]).count == others.count + 1)
    }

    // MARK: Movies

    @Test func aReplayedMovieKeyAnswersTheFirstMovieOnce() async throws {
        let app = try await movieService()
        defer { Task { await app.shutdown() } }
        let title = "Replay \(UInt64.random(in: 0...UInt64.max))"
        let key: HTTPHeaders = ["Idempotency-Key": "movie-\(title)"]
        let first = await app.call(.POST, "/api/movies", json: Self.movieJSON(title), headers: key)
        #expect(first.status == .created, "\(first.text)")
        #expect(first.headers[IdempotencyKeyStore.replayedHeader] == nil)
        let again = await app.call(.POST, "/api/movies", json: Self.movieJSON(title), headers: key)
        #expect(again.status == .created, "\(again.text)")
        #expect(again.bodyBytes == first.bodyBytes)
        #expect(again.headers["Location"] == first.headers["Location"])
        #expect(again.headers[IdempotencyKeyStore.replayedHeader] == "true")
        #expect(try await movieRows(app, title: title) == 1)

        // Another body under the same key: refused, nothing created.
        let other = await app.call(.POST, "/api/movies", json: Self.movieJSON(title, year: 2002), headers: key)
        #expect(other.status.code == 422)
        #expect(other.text.contains(#""loc":["header","idempotency-key"]"#), "\(other.text)")
        #expect(try await movieRows(app, title: title) == 1)

        // Without a key, the same body creates again (keys are opt-in).
        #expect(await app.call(.POST, "/api/movies", json: Self.movieJSON(title)).status == .created)
        #expect(try await movieRows(app, title: title) == 2)
    }

    @Test func aMovieKeyReplayedByAnotherCallerIsRefused() async throws {
        let secret = "idempotency-test-secret"
        let app = try await movieService(authenticator: Authenticator(secret: secret, required: false))
        defer { Task { await app.shutdown() } }
        let signer = TokenSigner(secret: secret)
        func token(_ subject: String) -> HTTPHeaders {
            let token = signer.sign(
                TokenClaims(subject: subject, email: "\(subject)@example.com", role: "admin", issuedAt: 100,
                            expiresAt: 99_999_999_999))
            return ["Authorization": "Bearer \(token)"]
        }
        let title = "Caller \(UInt64.random(in: 0...UInt64.max))"
        var first = token("1")
        first.add(name: "Idempotency-Key", value: "shared-\(title)")
        var second = token("2")
        second.add(name: "Idempotency-Key", value: "shared-\(title)")
        #expect(await app.call(.POST, "/api/movies", json: Self.movieJSON(title), headers: first).status == .created)
        let stranger = await app.call(.POST, "/api/movies", json: Self.movieJSON(title), headers: second)
        #expect(stranger.status.code == 422, "\(stranger.text)")
        #expect(!stranger.text.contains(title), "nothing of the first caller's movie")
        #expect(try await movieRows(app, title: title) == 1)
    }

    @Test func aConcurrentPairWithOneKeyCreatesOneMovieAndBothGetIt() async throws {
        let app = try await movieService()
        defer { Task { await app.shutdown() } }
        for round in 0..<5 {
            let title = "Pair \(round) \(UInt64.random(in: 0...UInt64.max))"
            let key: HTTPHeaders = ["Idempotency-Key": "pair-\(title)"]
            // On two loops, so that the two run on two connections at once.
            async let one = app.call(.POST, "/api/movies", json: Self.movieJSON(title), headers: key, loop: 0)
            async let two = app.call(
                .POST, "/api/movies", json: Self.movieJSON(title), headers: key, loop: 1 % app.group.loops.count)
            let (a, b) = await (one, two)
            #expect(a.status == .created, "\(a.text)")
            #expect(b.status == .created, "\(b.text)")
            #expect(a.jsonBody?["id"] == b.jsonBody?["id"])
            #expect(try await movieRows(app, title: title) == 1)
        }
    }

    @Test func badKeysAre422InFastAPIShape() async throws {
        let app = try await movieService()
        defer { Task { await app.shutdown() } }
        let cases: [(String, String)] = [
            ("", "string_too_short"),
            (String(repeating: "k", count: IdempotentRequest.maxLength + 1), "string_too_long"),
            ("tab\there", "value_error"),
        ]
        for (key, type) in cases {
            let response = await app.call(
                .POST, "/api/movies", json: Self.movieJSON("Bad key"), headers: ["Idempotency-Key": key])
            #expect(response.status.code == 422, "\(key): \(response.text)")
            #expect(response.text.contains(#""type":"\#(type)","loc":["header","idempotency-key"]"#), "\(response.text)")
        }
        var twice: HTTPHeaders = ["Idempotency-Key": "a"]
        twice.add(name: "Idempotency-Key", value: "b")
        #expect(await app.call(.POST, "/api/movies", json: Self.movieJSON("Bad key"), headers: twice).status.code == 422)
        #expect(try await movieRows(app, title: "Bad key") == 0)
        let longest = String(repeating: "k", count: IdempotentRequest.maxLength) + "\(UInt64.random(in: 0...UInt64.max))"
        #expect(
            await app.call(
                .POST, "/api/movies", json: Self.movieJSON("Longest key"),
                headers: ["Idempotency-Key": String(longest.suffix(IdempotentRequest.maxLength))]
            ).status == .created)
    }

    @Test func expiredKeysAreDeletedInBoundedBatchesAndThenCreateAgain() async throws {
        let app = try await movieService()
        defer { Task { await app.shutdown() } }
        let keys = app.service.catalog.repository.keys
        let title = "Expiry \(UInt64.random(in: 0...UInt64.max))"
        let key: HTTPHeaders = ["Idempotency-Key": "expiry-\(title)"]
        #expect(await app.call(.POST, "/api/movies", json: Self.movieJSON(title), headers: key).status == .created)
        // Aged past the lifetime (other tests' keys stay young).
        _ = try await app.service.database.query(
            "UPDATE \(keys.table) SET created_at = now() - interval '25 hours' WHERE key = $1", [.text("expiry-\(title)")])
        #expect(try await keys.deleteExpired(limit: 1) == 1)
        #expect(try await keys.record(of: "expiry-\(title)") == nil)
        let again = await app.call(.POST, "/api/movies", json: Self.movieJSON(title), headers: key)
        #expect(again.status == .created)
        #expect(again.headers[IdempotencyKeyStore.replayedHeader] == nil, "an expired key starts afresh")
        #expect(try await movieRows(app, title: title) == 2)
    }

    // MARK: Watchlist

    @Test func aReplayedWatchlistAddAnswersTheEntryNot409() async throws {
        let app = try await WatchlistHarness.start()
        defer { Task { await app.stop() } }
        let user = WatchlistHarness.uniqueIDBase() + 1
        app.users.addUser(user)
        for movie in [7, 8, 9] as [Int64] { app.movies.addMovie(movie) }
        let key: HTTPHeaders = ["Idempotency-Key": "watch-\(user)"]
        let first = await app.add(user: user, movie: 7, headers: key)
        #expect(first.status == .created, "\(first.text)")
        let again = await app.add(user: user, movie: 7, headers: key)
        #expect(again.status == .created, "\(again.text)")
        #expect(again.bodyBytes == first.bodyBytes)
        #expect(again.headers[IdempotencyKeyStore.replayedHeader] == "true")
        // Another movie under the key: 422, nothing added.
        #expect(await app.add(user: user, movie: 8, headers: key).status.code == 422)
        // The same add without the key is the duplicate it is.
        #expect(await app.add(user: user, movie: 7).status == .conflict)
        let list = await app.call(.GET, "/api/watchlist/user/\(user)")
        #expect(list.headers["X-Total-Count"] == "1", "\(list.text)")

        // A concurrent pair: one entry, both answered with it.
        let pairKey: HTTPHeaders = ["Idempotency-Key": "watch-pair-\(user)"]
        async let one = app.add(user: user, movie: 9, headers: pairKey, loop: 0)
        async let two = app.add(user: user, movie: 9, headers: pairKey, loop: 1)
        let (a, b) = await (one, two)
        #expect(a.status == .created, "\(a.text)")
        #expect(b.status == .created, "\(b.text)")
        #expect(a.bodyBytes == b.bodyBytes)
        #expect(await app.call(.GET, "/api/watchlist/user/\(user)").headers["X-Total-Count"] == "2")
    }

    // MARK: Users

    @Test func aReplayedSignUpAnswersTheUserNot409() async throws {
        let service = try await UserServiceTestSupport.start(database: "idempotency_user_tests")
        defer { Task { await service.shutdown() } }
        let client = UserServiceClient(service)
        let email = "replay-\(UInt64.random(in: 0...UInt64.max))@example.com"
        let body = #"{"name":"Ann","email":"\#(email)","password":"secret123"}"#
        let key: HTTPHeaders = ["Idempotency-Key": "signup-\(email)"]
        let first = await client.send(.POST, "/api/users", json: body, headers: key)
        #expect(first.status.code == 201, "\(first.bodyText)")
        let again = await client.send(.POST, "/api/users", json: body, headers: key)
        #expect(again.status.code == 201, "\(again.bodyText)")
        #expect(again.bodyBytes == first.bodyBytes)
        #expect(again.headers[IdempotencyKeyStore.replayedHeader] == "true")
        // Another body under the key: 422; the same body without it: 409 as before.
        let other = String(body.replacing("Ann", with: "Bob"))
        #expect(await client.send(.POST, "/api/users", json: other, headers: key).status.code == 422)
        #expect(await client.send(.POST, "/api/users", json: body).status.code == 409)

        // A concurrent pair of a new sign-up: one user, both answered with it.
        let pairEmail = "pair-\(email)"
        let pairBody = #"{"name":"Ann","email":"\#(pairEmail)","password":"secret123"}"#
        let pairKey: HTTPHeaders = ["Idempotency-Key": "signup-\(pairEmail)"]
        async let one = client.send(.POST, "/api/users", json: pairBody, headers: pairKey)
        async let two = UserServiceClient(service, loop: 1).send(.POST, "/api/users", json: pairBody, headers: pairKey)
        let (a, b) = await (one, two)
        #expect(a.status.code == 201, "\(a.bodyText)")
        #expect(b.status.code == 201, "\(b.bodyText)")
        #expect(a.bodyBytes == b.bodyBytes)
        let rows = try await service.store.client.query(
            "SELECT count(*) FROM users WHERE email = ANY($1::text[])", [.text("{\(email),\(pairEmail)}")])
        #expect(try rows[0].decode(Int.self, column: 0) == 2)
    }
}
