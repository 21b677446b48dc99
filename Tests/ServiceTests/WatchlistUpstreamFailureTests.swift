import HTTP
import Reactor
import ServiceKit
import Testing
import WatchlistService

/// A dead or slow upstream: a bounded wait and a 503/504 whose `detail` names it.
@Suite struct WatchlistUpstreamFailureTests {
    @Test func movieServiceDownIsAQuick503NamingIt() async throws {
        let port = try await watchlistClosedPort(group: WatchlistHarness.group)
        let harness = try await WatchlistHarness.start(movieServiceURL: "http://127.0.0.1:\(port)")
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)

        let start = monotonicNanoseconds()
        let response = await harness.add(user: base + 1, movie: base + 2)
        let elapsed = watchlistSeconds(since: start)
        #expect(response.status.code == 503)
        #expect(response.detail == "Movie service unavailable")
        #expect(elapsed < 1.5, "took \(elapsed) s")

        // The list needs the movie service too; the check does not.
        let list = await harness.call(.GET, "/api/watchlist/user/\(base + 1)")
        #expect(list.status.code == 200)  // empty list: nothing to enrich, no call
        let check = await harness.call(.GET, "/api/watchlist/user/\(base + 1)/movie/\(base + 2)")
        #expect(check.status.code == 200)
        let text = String(decoding: (await harness.call(.GET, "/metrics")).bodyBytes, as: UTF8.self)
        #expect(text.contains(#"watchlist_upstream_requests_total{upstream="movie-service",outcome="unavailable"} 1"#))
    }

    @Test func aMissingUserWinsOverAMovieServiceOutage() async throws {
        let port = try await watchlistClosedPort(group: WatchlistHarness.group)
        let harness = try await WatchlistHarness.start(movieServiceURL: "http://127.0.0.1:\(port)")
        defer { Task { await harness.stop() } }
        let response = await harness.add(user: WatchlistHarness.uniqueIDBase() + 1, movie: 2)
        #expect(response.status.code == 404)
        #expect(response.detail == "User not found")
    }

    @Test func movieServiceStallingIsA504NamingItWithinTheTimeout() async throws {
        let harness = try await WatchlistHarness.start(upstreamTimeout: .milliseconds(300))
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        harness.movies.setDelay(.seconds(5))

        let start = monotonicNanoseconds()
        let response = await harness.add(user: base + 1, movie: base + 2)
        let elapsed = watchlistSeconds(since: start)
        #expect(response.status.code == 504)
        #expect(response.detail == "Movie service timed out")
        #expect(elapsed >= 0.3)
        #expect(elapsed < 0.8, "took \(elapsed) s for a 0.3 s timeout")
    }

    @Test func aStalledBatchIsA504ForTheList() async throws {
        let harness = try await WatchlistHarness.start(upstreamTimeout: .milliseconds(300))
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.users.addUser(base + 1)
        harness.movies.addMovie(base + 2)
        #expect(await harness.add(user: base + 1, movie: base + 2).status.code == 201)
        harness.movies.setDelay(.seconds(5))

        let start = monotonicNanoseconds()
        let list = await harness.call(.GET, "/api/watchlist/user/\(base + 1)")
        #expect(list.status.code == 504)
        #expect(list.detail == "Movie service timed out")
        let export = await harness.call(.GET, "/api/watchlist/user/\(base + 1)/export")
        #expect(export.status.code == 504)
        #expect(watchlistSeconds(since: start) < 1.6)
    }

    @Test func userServiceDownIsA503NamingIt() async throws {
        let harness = try await WatchlistHarness.start()
        defer { Task { await harness.stop() } }
        let base = WatchlistHarness.uniqueIDBase()
        harness.movies.addMovie(base + 2)
        harness.users.stop()
        try await Task.sleep(for: .milliseconds(50))
        let response = await harness.add(user: base + 1, movie: base + 2)
        #expect(response.status.code == 503)
        #expect(response.detail == "User service unavailable")
    }
}
