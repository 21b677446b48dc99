import AuthToken
import HTTP
import ServiceKit
import Testing
import WatchlistService

/// Who may read and write which watchlist (API.md, "Authentication").
@Suite(.timeLimit(.minutes(10))) struct WatchlistAuthTests {
    static let secret = "watchlist-test-secret"

    static func bearer(_ userID: Int64) -> HTTPHeaders {
        let token = TokenSigner(secret: secret).sign(userID: userID, email: "u\(userID)@example.com", lifetime: 600)
        return ["Authorization": "Bearer \(token)"]
    }

    /// Found by schemathesis: an add with a token revoked since it was issued (its user
    /// changed their password) was a 502 "User service returned an invalid response".
    @Test func aTokenTheUserServiceRefusesIsA401NotA502() async throws {
        let harness = try await WatchlistHarness.start(
            authenticator: Authenticator(secret: Self.secret, required: false))
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 10)
        let token = Self.bearer(base + 1)
        let authorization = try #require(token["Authorization"])
        harness.users.state.withLock { _ = $0.revoked.insert(authorization) }
        let response = await harness.add(user: base + 1, movie: base + 10, headers: token)
        #expect(response.status.code == 401)
        #expect(response.headers["WWW-Authenticate"] == "Bearer")
        #expect(response.detail == "Invalid authentication credentials")
    }

    @Test func requiredAuthLimitsEveryoneToTheirOwnWatchlist() async throws {
        let harness = try await WatchlistHarness.start(
            authenticator: Authenticator(secret: Self.secret, required: true))
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        let (alice, bob) = (base + 1, base + 2)
        harness.users.addUser(alice)
        harness.users.addUser(bob)
        harness.movies.addMovie(base + 10)

        // No token: 401 for per-user reads and writes.
        #expect(await harness.add(user: alice, movie: base + 10).status.code == 401)
        #expect(await harness.call(.GET, "/api/watchlist/user/\(alice)").status.code == 401)
        #expect(await harness.call(.GET, "/api/watchlist/movie/\(base + 10)").status.code == 401)
        #expect(harness.users.calls("GET /api/users") == 0)

        // Alice's token: her own list, not Bob's. (One token: a second one signed a second
        // later would differ in its `iat`.)
        let aliceToken = Self.bearer(alice)
        let added = await harness.add(user: alice, movie: base + 10, headers: aliceToken)
        #expect(added.status.code == 201)
        // The user service, which guards user records the same way, got her token.
        #expect(harness.users.state.withLock { $0.authorizations } == [aliceToken["Authorization"]])
        #expect(harness.movies.state.withLock { $0.authorizations }.isEmpty)
        let forBob = await harness.add(user: bob, movie: base + 10, headers: Self.bearer(alice))
        #expect(forBob.status.code == 403)
        #expect(
            await harness.call(.GET, "/api/watchlist/user/\(alice)", headers: Self.bearer(alice)).status.code == 200)
        #expect(await harness.call(.GET, "/api/watchlist/user/\(bob)", headers: Self.bearer(alice)).status.code == 403)
        #expect(
            await harness.call(.GET, "/api/watchlist/user/\(bob)/export", headers: Self.bearer(alice)).status.code
                == 403)
        #expect(
            await harness.call(.GET, "/api/watchlist/user/\(bob)/movie/\(base + 10)", headers: Self.bearer(alice))
                .status.code == 403)
        // Who added a movie is every user's data: admins only (SecurityTests covers an admin).
        #expect(
            await harness.call(.GET, "/api/watchlist/movie/\(base + 10)", headers: Self.bearer(bob)).status.code == 403)

        // Deleting Alice's entry: 401 without a token, 403 for Bob, 204 for Alice.
        let entryID = try #require(added.jsonBody?["id"]?.intValue)
        #expect(await harness.call(.DELETE, "/api/watchlist/\(entryID)").status.code == 401)
        let byBob = await harness.call(.DELETE, "/api/watchlist/\(entryID)", headers: Self.bearer(bob))
        #expect(byBob.status.code == 403)
        #expect(
            await harness.call(.DELETE, "/api/watchlist/\(entryID)", headers: Self.bearer(alice)).status.code == 204)
        #expect(
            await harness.call(.DELETE, "/api/watchlist/\(entryID)", headers: Self.bearer(alice)).status.code == 404)
        #expect(
            await harness.call(.DELETE, "/api/watchlist/user/\(alice)/movie/\(base + 10)", headers: Self.bearer(bob))
                .status.code == 403)

        // A forged token is a 401.
        let forged = TokenSigner(secret: "another-secret").sign(userID: alice, email: "a@example.com", lifetime: 600)
        let withForged = await harness.call(
            .GET, "/api/watchlist/user/\(alice)", headers: ["Authorization": "Bearer \(forged)"])
        #expect(withForged.status.code == 401)

        // The relay's internal endpoint carries no token.
        #expect(await harness.call(.DELETE, "/internal/users/\(alice)/watchlist").status.code == 204)
    }

    @Test func optionalAuthStillLimitsACallerWhoSendsAToken() async throws {
        let harness = try await WatchlistHarness.start(
            authenticator: Authenticator(secret: Self.secret, required: false))
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        let (alice, bob) = (base + 1, base + 2)
        harness.users.addUser(alice)
        harness.users.addUser(bob)
        harness.movies.addMovie(base + 10)

        // The seed's curl workflow: no token at all.
        let added = await harness.add(user: bob, movie: base + 10)
        #expect(added.status.code == 201)
        #expect(await harness.call(.GET, "/api/watchlist/user/\(bob)").status.code == 200)
        // A token that is sent still counts.
        #expect(await harness.call(.GET, "/api/watchlist/user/\(bob)", headers: Self.bearer(alice)).status.code == 403)
        #expect(await harness.add(user: bob, movie: base + 10, headers: Self.bearer(alice)).status.code == 403)
        let entryID = try #require(added.jsonBody?["id"]?.intValue)
        #expect(
            await harness.call(.DELETE, "/api/watchlist/\(entryID)", headers: Self.bearer(alice)).status.code == 403)
        #expect(await harness.call(.DELETE, "/api/watchlist/\(entryID)").status.code == 204)
    }
}
