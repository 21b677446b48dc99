import MarqueeTesting
import ServiceKit
import Testing
import WatchlistService

/// The watchlist's own database going away and coming back (a private PostgreSQL that
/// this suite stops and starts).
@Suite(.serialized, .timeLimit(.minutes(10))) struct WatchlistDatabaseOutageTests {
    @Test func aLostDatabaseIsA503AndTheServiceHealsWhenItReturns() async throws {
        let postgres = try TestServers.privatePostgres()
        defer { postgres.shutdown() }
        let url = try postgres.createDatabase(named: "watchlist_outage")
        let harness = try await WatchlistHarness.start(databaseURL: url)
        defer { Task { await harness.stop() } }
        let path = "/api/watchlist/user/1/movie/2"
        #expect(await harness.call(.GET, path).status.code == 200)

        try postgres.stop()
        let down = await harness.call(.GET, path)
        #expect(down.status.code == 503)
        #expect(down.detail == "Database unavailable")
        let health = await harness.call(.GET, "/health")
        #expect(health.status.code == 503)
        #expect(health.jsonBody?["status"]?.stringValue == "unhealthy")
        #expect(health.jsonBody?["checks"]?["database"]?.stringValue == "down")

        try postgres.start()
        // The pool retries in the background (50 ms growing to 1 s): back within a few seconds.
        var status = 0
        for _ in 0..<50 where status != 200 {
            status = await harness.call(.GET, path).status.code
            if status != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(status == 200)
        #expect(await harness.call(.GET, "/health").status.code == 200)
    }
}
